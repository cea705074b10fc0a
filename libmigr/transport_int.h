/*
 * transport_int.h: what transport.c, transport_tls.c and transport_stream.c share about a
 * connection. Not installed; callers see only migr/transport.h.
 */
#ifndef MIGR_TRANSPORT_INT_H
#define MIGR_TRANSPORT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <gnutls/gnutls.h>

#include "migr/transport.h"
#include "migr/proto.h"
#include "stream_cz.h"
#include "util.h"

enum migr__mode {
	MIGR__MODE_TLS,
	MIGR__MODE_TCP,
	MIGR__MODE_PIPE,
};

enum migr__cred_kind {
	MIGR__CRED_X509,
	MIGR__CRED_PSK,
};

/* One line of a pre-shared key file. */
struct migr__psk_entry {
	char identity[128];
	uint8_t key[64];
	size_t key_len;
};

/* Loaded credentials, shared by a listener and the connections it accepts. */
struct migr__creds {
	atomic_int refs;
	enum migr__cred_kind kind;
	bool is_server;
	gnutls_certificate_credentials_t x509;
	gnutls_psk_client_credentials_t psk_client;
	gnutls_psk_server_credentials_t psk_server;
	char psk_identity[128];    /* client: the one presented, with psk_key */
	uint8_t psk_key[64];
	size_t psk_key_len;
	struct migr__psk_entry *psks;   /* every line of the file (server: looked up) */
	size_t n_psks;
	char **allow;              /* server: allowed peer names (NULL: any) */
	size_t n_allow;
	char what[600];            /* names the files, for error texts */
};

struct migr_conn {
	enum migr__mode mode;
	int rfd, wfd;              /* the same socket, or a pipe's two fds */
	bool is_socket;            /* wfd is a socket: send with MSG_NOSIGNAL */

	struct migr__creds *creds;
	gnutls_session_t sess;
	bool in_handshake;
	unsigned int handshake_timeout_ms;
	uint64_t handshake_deadline_ns;
	unsigned int io_timeout_ms;
	_Atomic uint64_t phase_deadline_ns;   /* migr_conn_set_deadline(); 0: none */
	/* Set by the TLS callbacks: what the handshake found. */
	unsigned int verify_status;
	bool verify_failed;
	bool psk_unknown_identity;
	bool peer_not_allowed;     /* authenticated, but its name is not on the allow-list */
	char presented[256];       /* the names the peer's credential carries, for the log */
	char peer_name[128];       /* migr_conn_peer_name() */
	const char *verify_name;   /* name the peer's certificate must carry, or NULL/"" */
	int io_errno;              /* errno behind the last GnuTLS push/pull failure */
	bool pull_eof;             /* the socket reached end of file under GnuTLS */
	char psk_peer_identity[128];

	uint8_t *rbuf;             /* read-ahead (TLS pull, plain TCP) */
	size_t rpos, rlen;
	uint8_t *wbuf;             /* write buffer */
	size_t wlen;
	uint8_t *tbuf;             /* TLS records waiting for one big write (batching) */
	size_t tlen;
	bool tls_batching;         /* inside migr__tls_send: push appends to tbuf */

	_Atomic uint64_t bandwidth;
	double tb_tokens;          /* token bucket, bytes of credit */
	uint64_t tb_last_ns;

	_Atomic uint64_t bytes_out, bytes_in, wire_out, wire_in;
	_Atomic uint64_t stream_out, stream_in, throttled_ns;
	_Atomic uint64_t cpu_paced_ns;
	_Atomic unsigned int cpu_share_pct;   /* the sender's CPU share (0: none): the transport
	                                         opts', or migr_conn_set_cpu_share()'s */
	uint64_t pace_wall0_ns, pace_cpu0_ns;   /* the pacing window's start (the pump's) */
	_Atomic uint64_t stream_zero_out, stream_zero_in;
	_Atomic uint64_t stream_cz_out, stream_cz_wire_out;   /* CDATA: raw, compressed */
	_Atomic uint64_t stream_cz_in, stream_cz_wire_in;
	_Atomic uint64_t stream_start_ns, stream_end_ns;
	uint64_t start_ns, handshake_ns;

	int broken;                /* a failed read/write left the connection unusable */
	int rx_broken;             /* reading is out of step (a stream stopped midway) */
	char err[MIGR_ERR_MAX];
	bool err_fresh;            /* err was just set by a lower layer with better words */
	char peer_id[256];

	bool peer_aborted;
	uint32_t abort_code;
	char abort_reason[MIGR_TEXT_MAX];

	/* Stream pump (transport_stream.c). */
	pthread_t pump;
	bool pump_running;
	bool pump_out;             /* direction */
	bool pump_raw;
	bool pump_zero;           /* stream_out: MIGR_STREAM_ZERO */
	/* stream_out: compression (MIGR_STREAM_COMPRESS*), transport_stream.c */
	struct migr__cz cz;
	void *cz_cctx;            /* ZSTD_CCtx, made at the first compressed chunk */
	uint8_t *cz_buf;          /* frame header, raw length, compressed bytes */
	bool cz_chunk;            /* the chunk being sent is compressed */
	struct migr__cz_window cz_win;   /* the window being measured */
	uint64_t cz_win_start_ns;
	_Atomic uint64_t cz_c_Bps, cz_link_Bps, cz_ratio_milli;   /* estimates, for stats */
	_Atomic uint32_t cz_windows, cz_on_windows, cz_switches;
	atomic_bool pump_done;
	atomic_int pump_rc;
	int user_fd;               /* the fd handed to the caller */
	int pump_fd;               /* the pump's end of the pipe */
	int pump_done_fd;          /* eventfd the pump signals when it stops */
	uint64_t pump_bytes;
	char pump_err[MIGR_ERR_MAX];
	bool gate_held;            /* this stream's guest is in its blackout (the gate) */
	uint64_t gate_held_us;     /* its pump waited that long for others' blackouts, in
	                              all (under gate_mu) */
};


/* An accepted connection not yet authenticated (migr_accept_pending()). */
struct migr_pending {
	int fd;
	struct migr_transport_opts opts;   /* opts.timeout_ms bounds its handshake */
	struct migr__creds *creds;
	char *peer_name;
	char peer[64];                     /* "ADDR:PORT" */
};

void migr__set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
ssize_t migr__fd_read_some(struct migr_conn *c, void *buf, size_t len);
int migr__fd_writev_all(struct migr_conn *c, struct iovec *iov, int iovcnt);

/* transport_tls.c */
int migr__creds_load(const struct migr_transport_opts *opts, bool is_server,
                     struct migr__creds **creds_r, char *err, size_t errlen);
struct migr__creds *migr__creds_get(struct migr__creds *creds);
void migr__creds_put(struct migr__creds *creds);
int migr__tls_handshake(struct migr_conn *c, bool is_server, const char *peer_name);
int migr__tls_send(struct migr_conn *c, const uint8_t *buf, size_t len);
ssize_t migr__tls_recv(struct migr_conn *c, uint8_t *buf, size_t len);
void migr__tls_close(struct migr_conn *c);

/* transport_stream.c: stops a pump the caller left running (close without _end). */
void migr__stream_abandon(struct migr_conn *c);
/* ... and frees what the pumps kept on the connection (the compressor). */
void migr__stream_free(struct migr_conn *c);

#endif /* MIGR_TRANSPORT_INT_H */
