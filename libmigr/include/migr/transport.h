/*
 * migr/transport.h: the connection between a migration's source and target.
 *
 * A struct migr_conn carries bytes between the two dom0s in one of three faces:
 *   - TCP with TLS 1.3 (GnuTLS), mutual authentication by X.509 certificates (a CA and our
 *     own certificate and key; the peer's certificate must chain to that CA) or by a
 *     pre-shared key file. This is the default: a connection with no credential configured
 *     fails with -MIGR_E_AUTH.
 *   - plain TCP, only when the caller sets opts.insecure (the CLI's --insecure).
 *   - a byte pipe over two fds (stdin/stdout under ssh, as `xl migrate` does), no TLS:
 *     the pipe's own transport (ssh) is trusted to authenticate and encrypt.
 * Every face applies the same bandwidth cap on what this end sends and keeps the same
 * statistics. docs/protocol.md describes the wire format.
 *
 * Entry points:
 *   migr_connect()            source: TCP connect to HOST[:PORT] and TLS handshake
 *   migr_listen() / migr_accept()   target: listening socket; accept + TLS handshake
 *   migr_hostport_check() / migr_transport_check()   an address / credentials checked as
 *                             the calls above would, without a socket
 *   migr_conn_from_socket()   either role over an already-connected socket (socketpair,
 *                             socket activation); does the handshake opts ask for
 *   migr_conn_from_fds()      byte-pipe mode over a read fd and a write fd
 *   migr_conn_write()/read()  exact-length I/O of bytes; the protocol layer (migr/proto.h)
 *                             sends and receives its framed messages through these
 *   migr_conn_stream_out()    sender's "fd face": an fd for xc_domain_save() to write; a pump
 *                             thread carries its bytes as DATA frames, then DATA_END
 *   migr_conn_stream_in()     receiver's "fd face": an fd for libxl to read; a pump thread
 *                             unwraps DATA frames into it and stops exactly at DATA_END, so
 *                             control messages can follow on the same connection
 *   migr_conn_stats()         bytes and time, at either end, from any thread
 *   migr_conn_error()         human-readable detail of the last failure
 *   migr_conn_close()         accepts NULL
 *
 * Errors: 0 or a negative errno, or -MIGR_E_AUTH for anything about credentials and
 * -MIGR_E_PROTO for a peer that breaks the framing. Functions that fail before a
 * connection exists write the detail into the caller's err buffer (may be NULL); later
 * failures leave it in migr_conn_error(). Library code never prints.
 *
 * Threads: one thread at a time may use a connection, except migr_conn_stats() (any
 * thread, any time) and the stream pumps, which own the connection between
 * migr_conn_stream_*() and the matching migr_conn_stream_*_end().
 *
 * SIGPIPE: sockets are written with MSG_NOSIGNAL and the pumps block SIGPIPE, but in
 * byte-pipe mode the caller's own write fd (e.g. stdout) is written with write(2): a
 * program using migr_conn_from_fds() should ignore SIGPIPE.
 */
#ifndef MIGR_TRANSPORT_H
#define MIGR_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* TCP port of migr's receiver when HOST has no :PORT (xend's old relocation port). */
#define MIGR_DEFAULT_PORT 8002

/* Suggested credential locations (the library reads only the paths it is given). */
#define MIGR_TLS_DIR      "/etc/migr/tls"   /* ca.pem, cert.pem, key.pem */
#define MIGR_PSK_FILE     "/etc/migr/psk.key"

/* Size of the buffers the transport and the pumps move data with. */
#define MIGR_IO_BUF (1024 * 1024)

/* A reasonable size for the err buffers below. */
#define MIGR_ERR_MAX 512

struct migr_transport_opts {
	/*
	 * Credentials. Certificates: ca_file (PEM, the CA(s) the peer's certificate must chain
	 * to), cert_file and key_file (PEM, ours). Pre-shared keys: psk_file, lines
	 * "IDENTITY:HEXKEY" (the format of GnuTLS's `psktool`), at least 16 key bytes each;
	 * empty lines and lines starting with '#' are skipped. A client presents the identity
	 * psk_identity (default: the host name) with the key on that identity's line; when
	 * psk_identity is not given and the file holds a single line, that line's identity
	 * and key (one key shared by every host). A server looks the client's identity up in
	 * its file: one key per peer. Exactly one kind must be configured unless insecure is
	 * set. key_file and psk_file must not be readable or writable by group or others
	 * (-MIGR_E_AUTH, as ssh refuses such a private key).
	 */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	const char *crl_file;      /* optional PEM CRL */
	const char *psk_file;
	const char *psk_identity;  /* client: the identity to present; NULL: see above */
	/*
	 * Server: the peers accepted, comma-separated names: a certificate's subject CN or one
	 * of its subjectAltName DNS names, or a PSK identity, must be one of them (compared
	 * without regard to case). NULL or "": any peer that authenticates.
	 */
	const char *allow_peers;
	/*
	 * Name the peer's certificate must carry (DNS name or IP in subjectAltName, or CN).
	 * Source side: defaults to the HOST given to migr_connect(); "" accepts any
	 * certificate that chains to the CA. Target side: NULL or "" accepts any client
	 * certificate that chains to the CA (see allow_peers). Either side: a certificate
	 * with an extended key usage must list TLS server authentication (the target's) or
	 * client authentication (the source's); one without the extension is accepted.
	 */
	const char *peer_name;
	bool insecure;             /* plain TCP, no authentication, no encryption */
	uint64_t bandwidth;        /* cap on bytes/s this end sends; 0 = none */
	/* The most of one CPU this process may use while it sends a stream (1-99, 0 = no
	 * limit): the sending pump waits when the process has used more, measured over each
	 * second, and the producer with it once the pipe is full. A dom0 shares its CPUs
	 * with the guests: what the sender does not use, they get. */
	unsigned int cpu_share_pct;
	unsigned int timeout_ms;   /* connect + handshake; 0 = 30 s */
	unsigned int io_timeout_ms;/* a read or write making no progress this long fails
	                              with -ETIMEDOUT; 0 = wait for ever */
};

/* Zeroes opts: secure by default (which then needs a credential), no cap. */
void migr_transport_opts_init(struct migr_transport_opts *opts);

struct migr_conn;
struct migr_listener;

/*
 * migr_connect: resolves HOST[:PORT] ("host", "host:port", "1.2.3.4:8002", "[::1]:8002",
 * "::1"), connects to the first address that answers (IPv6 and IPv4), then authenticates
 * as a TLS client per opts.
 */
int migr_connect(const char *hostport, const struct migr_transport_opts *opts,
                 struct migr_conn **conn_r, char *err, size_t errlen);

/*
 * migr_listen: binds HOST[:PORT] ("" or NULL host = every address, IPv6 and IPv4; port 0
 * picks a free one, see migr_listener_port()). The credentials are loaded now, so a
 * missing or bad file is reported here, not at the first connection.
 */
int migr_listen(const char *hostport, const struct migr_transport_opts *opts,
                struct migr_listener **l_r, char *err, size_t errlen);
/*
 * Checks that need no socket, for a program's configuration check before it starts:
 * migr_hostport_check: HOST[:PORT] as migr_connect() and migr_listen() split it (0 or
 * -EINVAL, reason in err; the host is not resolved). migr_transport_check: loads and drops
 * the credentials of opts as a server (migr_listen()) or a client (migr_connect()) would:
 * the files are read, the key and pre-shared key files' modes checked, a client's
 * pre-shared key chosen, a server's allow list parsed. 0 (also for opts.insecure), or the
 * error those calls would return, with the reason in err.
 */
int migr_hostport_check(const char *hostport, char *err, size_t errlen);
int migr_transport_check(const struct migr_transport_opts *opts, bool is_server,
                         char *err, size_t errlen);
int migr_listener_fd(const struct migr_listener *l);     /* for poll(): readable = pending */
int migr_listener_port(const struct migr_listener *l);   /* the bound port */
void migr_listener_close(struct migr_listener *l);

/*
 * migr_accept: accepts one connection and authenticates it as a TLS server (bounded by
 * opts.timeout_ms). A failed handshake closes that connection and returns its error with
 * the detail in err; the listener stays usable. peer_r (may be NULL, size >= 64) gets the
 * peer's address as text.
 */
int migr_accept(struct migr_listener *l, struct migr_conn **conn_r, char *peer_r,
                char *err, size_t errlen);

/*
 * migr_accept in two halves, for a server that authenticates in another thread, so that a
 * peer stalling its handshake holds up only that thread (a daemon's main loop calls the
 * first half when the listener is readable). migr_accept_pending: accepts one connection
 * and keeps what its handshake needs (its own reference to the credentials, a copy of the
 * options: their strings must outlive it), so the listener may be closed meanwhile.
 * migr_pending_handshake: authenticates it (bounded by opts.timeout_ms), as migr_accept
 * does; frees p whatever the outcome. migr_pending_free: drops one never handshaken.
 */
struct migr_pending;
int migr_accept_pending(struct migr_listener *l, struct migr_pending **p_r, char *peer_r,
                        char *err, size_t errlen);
int migr_pending_handshake(struct migr_pending *p, struct migr_conn **conn_r, char *err,
                           size_t errlen);
void migr_pending_free(struct migr_pending *p);

/*
 * migr_conn_from_socket: takes ownership of a connected stream socket and authenticates
 * over it as client (is_server false) or server per opts. The socket is closed on failure.
 */
int migr_conn_from_socket(int fd, bool is_server, const struct migr_transport_opts *opts,
                          struct migr_conn **conn_r, char *err, size_t errlen);

/*
 * migr_conn_from_fds: byte-pipe mode. Takes ownership of rfd and wfd (they may be the same
 * fd, e.g. one end of a socketpair; each is closed once). Only opts->bandwidth and
 * opts->io_timeout_ms are used (opts may be NULL). In this mode reads never read ahead,
 * so after any migr_conn_read() the read fd can be handed to another reader, e.g.
 * libxl_domain_create_restore() for a stream from stock `xl migrate`
 * (see migr_conn_raw_fds()).
 */
int migr_conn_from_fds(int rfd, int wfd, const struct migr_transport_opts *opts,
                       struct migr_conn **conn_r);

/* Closes the connection (TLS close_notify when possible); accepts NULL. */
void migr_conn_close(struct migr_conn *c);

/* Writes all len bytes (applying the bandwidth cap); 0 or -errno. */
int migr_conn_write(struct migr_conn *c, const void *buf, size_t len);

/* Reads exactly len bytes. End of stream before that: -ECONNRESET (the detail says how
 * many bytes were missing). */
int migr_conn_read(struct migr_conn *c, void *buf, size_t len);

/* Sends what migr_conn_write() buffered. Writes are flushed before any read, whenever a
 * stream pump finds its pipe empty, and by close; call this before waiting on something
 * else. */
int migr_conn_flush(struct migr_conn *c);

/*
 * migr_conn_raw_fds: byte-pipe mode only (else -EINVAL): the underlying fds, still owned by
 * the connection, for handing the stream to code that reads or writes an fd itself when
 * no framing is wanted (interoperation with stock xl). Flushes first.
 */
int migr_conn_raw_fds(struct migr_conn *c, int *rfd_r, int *wfd_r);

/* Stream faces. ------------------------------------------------------------------------ */

#define MIGR_STREAM_RAW 0x1u  /* stream_out: copy bytes as they are, no frames, no end
                                 marker (toward stock xl over a byte pipe) */
#define MIGR_STREAM_ZERO 0x2u /* stream_out: runs of zero bytes (zero pages) cross as ZERO
                                 frames, their length only (peers of version 3 on) */
#define MIGR_STREAM_COMPRESS 0x4u /* stream_out: DATA may cross compressed (zstd) as CDATA
                                 frames, when measurements say it makes the stream faster
                                 (peers of version 4 on; docs/protocol.md "Compression") */
#define MIGR_STREAM_COMPRESS_ALWAYS 0x8u /* stream_out: compress every chunk (sent
                                 compressed when it shrinks), whatever the measurements */

/*
 * migr_conn_stream_out: returns in *fd_r the write end of a pipe (1 MiB) whose bytes a
 * pump thread sends as DATA frames of up to 1 MiB. The fd belongs to the connection:
 * write the stream into it (xc_domain_save()), do not close it, then call
 * migr_conn_stream_out_end(). The connection is the pump's until then.
 */
int migr_conn_stream_out(struct migr_conn *c, unsigned int flags, int *fd_r);

/*
 * migr_conn_stream_out_end: closes the fd, waits for the pump to send what was written,
 * then ends the stream: with ok, a DATA_END frame carrying the byte count; without ok
 * (the producer failed), an ABORT frame with abort_code and reason (reason may be NULL;
 * abort_code is a MIGR_ABORT_* from migr/proto.h). A raw stream sends neither. Returns 0 or the pump's error (e.g.
 * the connection broke), and *bytes_r (may be NULL) gets the payload bytes sent.
 */
int migr_conn_stream_out_end(struct migr_conn *c, bool ok, uint32_t abort_code,
                             const char *reason, uint64_t *bytes_r);

/*
 * migr_conn_blackout: on, this connection's guest is stopped or not yet reachable (from
 * the suspend request until its network is back on the target, or it runs here again);
 * off, it is back. While a connection of
 * the process holds this, the stream pumps of the others (an evacuation's streams side by
 * side) hold their sends, so that the stopped guest's final send has the link and the
 * CPUs to itself; each hold lasts at most MIGR_BLACKOUT_GATE_MS. Closing the connection
 * turns it off. Any thread.
 */
#define MIGR_BLACKOUT_GATE_MS 10000
void migr_conn_blackout(struct migr_conn *c, bool on);

/* How many times, and for how long in all, this process's streams held their sends for
 * another's blackout (since the start). */
void migr_conn_gate_stats(uint64_t *holds_r, uint64_t *held_us_r);

/* How long, in all, this connection's outgoing streams held their sends for another
 * connection's blackout (since it was opened; 0 for a connection never held). Its own
 * blackout never holds it. Any thread, also while its pump runs. */
uint64_t migr_conn_gate_held_us(const struct migr_conn *c);

/* The most of one CPU this process may use while the connection sends (1-99; 0 or 100
 * and more: no limit), as the transport opts' cpu_share_pct, from now on. Any thread,
 * also while its pump runs (the sender's CPU guard, libmigr/cpu_guard.h). */
void migr_conn_set_cpu_share(struct migr_conn *c, unsigned int pct);

/*
 * migr_conn_stream_error: 0 while the running stream's pump is well, else its error (the
 * connection broke; the pump then discards what the producer writes until _end). Any
 * thread, e.g. a pre-copy policy deciding whether to go on.
 */
int migr_conn_stream_error(const struct migr_conn *c);

/*
 * migr_conn_stream_in: returns in *fd_r the read end of a pipe that a pump thread fills
 * with the payload of the DATA frames it receives, until DATA_END; then the pump closes
 * its write end (the reader sees EOF) and leaves the connection exactly after DATA_END.
 * The fd belongs to the connection; do not close it.
 */
int migr_conn_stream_in(struct migr_conn *c, int *fd_r);
/*
 * migr_conn_stream_in_started: after migr_conn_stream_in(), waits until the stream's
 * first bytes have arrived (0), or the pump ended without any (its error: the peer
 * aborted, the connection broke; -EPIPE for a stream that ended empty), at most
 * timeout_ms (-ETIMEDOUT). So that a consumer (libxl's restore) is started only on a
 * stream that has begun.
 */
int migr_conn_stream_in_started(struct migr_conn *c, unsigned int timeout_ms);

/*
 * migr_conn_stream_in_end: closes the fd (a reader that stopped early unblocks the pump),
 * waits for the pump and returns: 0 when DATA_END arrived, its byte count matched, and
 * the reader took every byte; -MIGR_E_ABORTED when the peer sent ABORT instead (reason
 * in migr_conn_error() and migr_conn_peer_abort()); -EPIPE when the reader stopped
 * before the end (the connection is then out of step: send ABORT and close it);
 * -MIGR_E_PROTO or -errno for a broken stream or connection. *bytes_r (may be NULL)
 * gets the payload bytes received.
 */
int migr_conn_stream_in_end(struct migr_conn *c, uint64_t *bytes_r);

/*
 * migr_conn_stream_in_done_fd: an fd that polls readable once the incoming stream's pump
 * has stopped (at DATA_END, an ABORT or an error), for a caller that waits on other
 * things too; -1 without an incoming stream. It belongs to the connection.
 * migr_conn_stream_in_complete: true once the pump stopped at a DATA_END whose byte count
 * matched. The whole stream is then in the pipe or already read, and the connection
 * carries control messages again while the reader may still be reading; _end() is still
 * needed, after the reader is done.
 */
int migr_conn_stream_in_done_fd(const struct migr_conn *c);
bool migr_conn_stream_in_complete(const struct migr_conn *c);

/* Statistics and errors. ------------------------------------------------------------- */

struct migr_conn_stats {
	uint64_t bytes_out;      /* bytes the caller and pumps wrote (payload + frames) */
	uint64_t bytes_in;       /* bytes read */
	uint64_t wire_out;       /* bytes on the socket, with TLS overhead */
	uint64_t wire_in;
	uint64_t stream_out;     /* stream payload bytes (stream_out) */
	uint64_t stream_in;      /* stream payload bytes (stream_in) */
	uint64_t stream_zero_out;/* of them, zero bytes that crossed as ZERO frames */
	uint64_t stream_zero_in;
	uint64_t stream_cz_out;  /* of stream_out, bytes that crossed compressed (CDATA) */
	uint64_t stream_cz_wire_out;  /* what they took: their compressed bytes */
	uint64_t stream_cz_in;   /* the same, received */
	uint64_t stream_cz_wire_in;
	/* The outgoing stream's compression decision (its last estimates, 0: unknown):
	 * compressor input rate, link rate (wire bytes), ratio x 1000; windows measured,
	 * of them compressed, and the times the decision changed. */
	uint64_t cz_c_Bps, cz_link_Bps, cz_ratio_milli;
	uint32_t cz_windows, cz_on_windows, cz_switches;
	uint64_t elapsed_ns;     /* since the connection was set up */
	uint64_t handshake_ns;   /* time the TLS handshake took (0 without TLS) */
	uint64_t throttled_ns;   /* time spent waiting on the bandwidth cap */
	uint64_t cpu_paced_ns;   /* time the sending pump waited to keep to its CPU share */
	uint64_t stream_ns;      /* from the first stream byte to the end marker (so far) */
	uint64_t stream_end_ns;  /* when the end marker came (CLOCK_MONOTONIC); 0 before */
};

/* Any thread, any time. */
void migr_conn_stats(const struct migr_conn *c, struct migr_conn_stats *s_r);

/* Changes the bandwidth cap (bytes/s, 0 = none) from any thread; applies from the next
 * chunk sent. */
void migr_conn_set_bandwidth(struct migr_conn *c, uint64_t bytes_per_s);

/*
 * Sets a deadline ms from now (0: none) by which every read and write on c must be done,
 * whatever progress it makes; after it they fail with -ETIMEDOUT. It bounds one protocol
 * phase against a peer that trickles bytes or optional messages, which the I/O timeout
 * (no progress for so long) does not. The driver's thread, between phases.
 */
void migr_conn_set_deadline(struct migr_conn *c, unsigned int ms);

/* Lowers the I/O timeout to ms (never raises it; 0 does nothing). The driver's thread. */
void migr_conn_cap_io_timeout(struct migr_conn *c, unsigned int ms);
/* Sets the I/O timeout (0 = none); returns the one it replaces. */
unsigned int migr_conn_set_io_timeout(struct migr_conn *c, unsigned int ms);
/* Closes the connection under its user's feet (fault injection: `cut`): the peer sees it
 * end, and every later read here fails. migr_conn_close() is still needed. */
void migr_conn_cut(struct migr_conn *c);

/* Text of the last failure on this connection ("" if none); valid until the next call. */
const char *migr_conn_error(const struct migr_conn *c);

/* What is authenticating this connection: "TLS1.3 X.509", "TLS1.3 PSK", "insecure TCP",
 * "pipe". */
const char *migr_conn_security(const struct migr_conn *c);

/* Peer's certificate subject or PSK identity ("" if none). */
const char *migr_conn_peer_identity(const struct migr_conn *c);

/* The peer's authenticated name ("" if none): its PSK identity, or the allowed name its
 * certificate matched (without an allow-list: its subject CN). For records and logs. */
const char *migr_conn_peer_name(const struct migr_conn *c);
/* The connection's local and peer socket addresses (forwarding's tunnel ends).
 * -ENOTSOCK when it is not over a socket (a pipe in tests). */
struct sockaddr_storage;
int migr_conn_addrs(const struct migr_conn *c, struct sockaddr_storage *local_r,
		    struct sockaddr_storage *peer_r);

/*
 * The last ABORT the peer sent (seen by migr_msg_recv() or by the stream_in pump):
 * returns true and fills code_r/reason_r (either may be NULL; reason is valid until the
 * connection is closed), or false if none arrived.
 */
bool migr_conn_peer_abort(const struct migr_conn *c, uint32_t *code_r, const char **reason_r);

/* Cross-file internals of libmigr (proto.c, transport_stream.c); not for callers. */
int migr__conn_fail(struct migr_conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void migr__conn_set_peer_abort(struct migr_conn *c, uint32_t code, const char *reason);

#endif /* MIGR_TRANSPORT_H */
