/*
 * migr/proto.h: the messages between a migration's source and target, their codec, and
 * the target's durable per-migration record.
 *
 * docs/protocol.md is the reference for the wire format, the order of messages, the
 * phases and the points of no return; this header is its C face.
 *
 * On the wire every message is a frame: u32 type, u32 length (big-endian), then length
 * bytes of payload. Control messages carry a list of fields {u16 tag, u16 reserved(0),
 * u32 length, value}; DATA carries stream bytes. Bit 31 of a type (bit 15 of a tag) marks
 * it optional: a receiver skips an optional message or field it does not know and rejects
 * an unknown mandatory one (-MIGR_E_PROTO, naming it).
 *
 * Entry points:
 *   migr_msg_send() / migr_msg_recv() / migr_msg_expect()   over a struct migr_conn
 *   migr_msg_encode() / migr_msg_decode()   the pure codec (the fuzzers' target)
 *   migr_msg_release()                      frees what decode allocated; accepts NULL
 *   migr_id_new() / migr_id_to_hex() / migr_id_from_hex()
 *   migr_record_write() / _read() / _remove() / _list()   the target's durable record
 *
 * Everything decoded from the peer is checked: frame length against a cap per type,
 * field lengths, integer ranges, enum values, strings (printable UTF-8 without NUL),
 * required and duplicate fields.
 */
#ifndef MIGR_PROTO_H
#define MIGR_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "migr/transport.h"

#define MIGR_PROTO_VERSION     4   /* 2: CONFIG goes with PREFLIGHT, before the reply;
                                      3: ZERO frames in the stream;
                                      4: CDATA (compressed DATA) frames in the stream */
#define MIGR_PROTO_MIN_VERSION 1

#define MIGR_FRAME_HDR       8
#define MIGR_MSG_OPTIONAL    0x80000000u    /* bit of a message type */
#define MIGR_FIELD_OPTIONAL  0x8000u        /* bit of a field tag */

#define MIGR_MSG_MAX      (64 * 1024)       /* cap on a control message's payload */
#define MIGR_OPTIONAL_RUN_MAX 64            /* unknown optional messages skipped in a row
                                               (between two messages or DATA frames used)
                                               before the peer is cut, -MIGR_E_PROTO */
#define MIGR_CONFIG_MAX   (4 * 1024 * 1024) /* cap on the CONFIG payload (domain JSON) */
#define MIGR_DATA_MAX     (4 * 1024 * 1024) /* cap on one DATA frame */
#define MIGR_ZERO_MAX     (4 * 1024 * 1024) /* cap on the run one ZERO frame stands for */
#define MIGR_CDATA_RAW_MAX (1024 * 1024)    /* cap on the bytes one CDATA frame stands for */
#define MIGR_CDATA_MAX    (4 + MIGR_CDATA_RAW_MAX) /* cap on a CDATA frame's payload: its
                                               raw size and fewer compressed bytes */

#define MIGR_NAME_MAX     64    /* guest name buffer, with NUL (as MIGR_DOMNAME_MAX) */
#define MIGR_FENCE_NAME_MAX 256 /* a host's name in the fleet's etcd, with NUL */
#define MIGR_TEXT_MAX     256   /* reason texts and versions, with NUL */

enum migr_msg_type {
	MIGR_MSG_HELLO           = 1,   /* both ways, first */
	MIGR_MSG_PREFLIGHT       = 2,   /* source -> target */
	MIGR_MSG_PREFLIGHT_REPLY = 3,   /* target -> source */
	MIGR_MSG_CONFIG          = 4,   /* source -> target: libxl JSON domain config */
	MIGR_MSG_DATA            = 5,   /* source -> target: stream bytes */
	MIGR_MSG_DATA_END        = 6,   /* source -> target: end of stream */
	MIGR_MSG_READY           = 7,   /* target -> source: restored, paused */
	MIGR_MSG_GO              = 8,   /* source -> target: unpause it (source's copy stays
	                                   suspended until DONE) */
	MIGR_MSG_DONE            = 9,   /* target -> source: unpaused, target owns the guest */
	MIGR_MSG_ABORT           = 10,  /* either way, any time before DONE */
	MIGR_MSG_RESOLVE         = 11,  /* source -> target: what happened to migration ID? */
	MIGR_MSG_RESOLVE_REPLY   = 12,  /* target -> source */
	MIGR_MSG_SETTLED         = 13,  /* target -> source, after DONE: the guest's network
	                                   came back (or did not in time); last message */
	MIGR_MSG_ZERO            = 14,  /* source -> target, inside the stream (version 3):
	                                   a run of zero bytes, its length (be32) the body */
	MIGR_MSG_CDATA           = 15,  /* source -> target, inside the stream (version 4):
	                                   stream bytes compressed (zstd), the raw length
	                                   (be32) then one zstd frame */
};

const char *migr_msg_type_name(uint32_t type);   /* "HELLO", ..., "unknown" */

/* A migration id: 128 random bits, shown as 32 lower-case hex digits. */
struct migr_id {
	uint8_t b[16];
};
#define MIGR_ID_HEX 33   /* buffer size for the hex text with its NUL */

int migr_id_new(struct migr_id *id_r);                      /* getrandom(2) */
void migr_id_to_hex(const struct migr_id *id, char hex[MIGR_ID_HEX]);
int migr_id_from_hex(const char *hex, struct migr_id *id_r); /* exactly 32 hex digits */
bool migr_id_equal(const struct migr_id *a, const struct migr_id *b);
bool migr_id_is_zero(const struct migr_id *id);

enum migr_purpose {
	MIGR_PURPOSE_MIGRATE = 1,
	MIGR_PURPOSE_RESOLVE = 2,
};

/* Guest types on the wire (the values of enum migr_guest_type in migr/hv.h). */
#define MIGR_WIRE_GUEST_PV  1
#define MIGR_WIRE_GUEST_PVH 2
#define MIGR_WIRE_GUEST_HVM 3

/* Why the target refused in PREFLIGHT_REPLY. */
enum migr_refuse {
	MIGR_REFUSE_NONE = 0,
	MIGR_REFUSE_NOMEM = 1,        /* not enough free memory */
	MIGR_REFUSE_XEN_VERSION = 2,  /* incompatible hypervisor */
	MIGR_REFUSE_NAME_CLASH = 3,   /* a domain of that name exists */
	MIGR_REFUSE_GUEST_TYPE = 4,   /* cannot host this guest type */
	MIGR_REFUSE_BUSY = 5,         /* too many incoming migrations */
	MIGR_REFUSE_OTHER = 6,
};
const char *migr_refuse_name(uint32_t code);

/* Why a side aborted (ABORT.code); an unknown code from the peer reads as OTHER. */
enum migr_abort_code {
	MIGR_ABORT_OTHER = 0,
	MIGR_ABORT_CANCELLED = 1,     /* operator cancelled */
	MIGR_ABORT_POLICY = 2,        /* pre-copy policy gave up (would not converge) */
	MIGR_ABORT_SAVE = 3,          /* source: save/suspend failed */
	MIGR_ABORT_RESTORE = 4,       /* target: restore failed */
	MIGR_ABORT_REFUSED = 5,       /* target refused in pre-flight */
	MIGR_ABORT_PROTO = 6,         /* the other side broke the protocol */
	MIGR_ABORT_TIMEOUT = 7,
	MIGR_ABORT_CONFIG = 8,        /* target could not use the domain config */
	MIGR_ABORT_UNPAUSE = 9,       /* target failed to unpause: its copy is destroyed */
};
const char *migr_abort_name(uint32_t code);

/* What the target knows of a migration id (RESOLVE_REPLY.state, record state). */
enum migr_outcome {
	MIGR_OUTCOME_UNKNOWN = 0,         /* no record: the target never reported READY */
	MIGR_OUTCOME_RESTORED_PAUSED = 1, /* READY sent, no GO taken: target's copy is paused */
	MIGR_OUTCOME_RUNNING = 2,         /* GO taken: the target owns and runs the guest */
	MIGR_OUTCOME_DESTROYED = 3,       /* the target destroyed its copy: it will not run */
	MIGR_OUTCOME_LOST = 4,            /* RESOLVE_REPLY only: the record says running, but
	                                     the domain is gone (the host was restarted?) */
};
const char *migr_outcome_name(uint32_t outcome);  /* "unknown", "restored-paused", ... */

struct migr_msg_hello {
	uint32_t version;          /* highest protocol version the sender speaks */
	uint32_t min_version;      /* lowest it accepts */
	uint32_t purpose;          /* enum migr_purpose */
	struct migr_id id;         /* chosen by the source; echoed by the target */
	char software[MIGR_TEXT_MAX];   /* e.g. "migr 0.1" (optional) */
};

struct migr_msg_preflight {
	char name[MIGR_NAME_MAX];  /* guest name */
	uint64_t memory_kib;       /* guest's maximum memory */
	uint32_t vcpus;
	uint32_t guest_type;       /* MIGR_WIRE_GUEST_* */
	char xen_version[MIGR_TEXT_MAX];  /* source hypervisor, "4.17.7" */
	char fence_source[MIGR_FENCE_NAME_MAX]; /* the source's name in etcd when it fences
	                              the commit through etcd (docs/etcd.md); "" it does not
	                              (optional field) */
};

/* A restore hint above this (60 s) is refused. */
#define MIGR_RESTORE_HINT_MAX_NS 60000000000ull

struct migr_msg_preflight_reply {
	bool accept;
	uint32_t refuse;           /* enum migr_refuse; NONE when accept */
	uint64_t free_kib;         /* target's free memory */
	char xen_version[MIGR_TEXT_MAX];
	bool name_clash;           /* a domain of the guest's name exists on the target */
	char reason[MIGR_TEXT_MAX];/* human text when refused (optional) */
	uint64_t restore_hint_ns;  /* the target's recent restore tail + unpause (median of its
	                              last receptions); 0 = none known (optional) */
	char fence_host[MIGR_FENCE_NAME_MAX]; /* the target's name in etcd when it checks the
	                              fence before the unpause; "" it does not (optional) */
	uint64_t restore_estimate_ns; /* with no history: the target's estimate of its restore
	                              tail + unpause from the guest's devices (optional field;
	                              0 = none) */
	/* the target's own migrations out, as it measured them as their source: the medians of
	 * its last suspends, final sends beyond their pages and handshakes (optional fields;
	 * 0 = none) */
	uint64_t suspend_hint_ns, final_hint_ns, handshake_hint_ns;
};

struct migr_msg_config {
	char *json;                /* NUL-terminated; decode allocates it (release frees) */
	size_t len;                /* without the NUL */
};

struct migr_msg_data_end {
	uint64_t bytes;            /* payload bytes in the DATA frames before it */
};

struct migr_msg_ready {
	uint32_t domid;            /* target's domid of the paused copy */
	uint64_t bytes_in;         /* stream payload bytes the target received */
	uint64_t stream_ns;        /* target: first DATA to DATA_END */
	uint64_t restore_ns;       /* target: DATA_END to restored (libxl done) */
	uint64_t devices_ns;       /* target: part of restore_ns for device set-up */
	struct migr_id host_id;    /* the target's host id (its record directory's); the
	                              source keeps it to recognise the answer to a RESOLVE */
};

struct migr_msg_done {
	uint32_t domid;
	uint64_t unpause_ns;       /* target: GO received, or the restore's end if GO came
	                              first, to guest unpaused */
	uint64_t restore_ns;       /* target: DATA_END to restored, when READY went before the
	                              restore ended (it then carries none); optional field */
	uint64_t devices_ns;       /* the part of restore_ns for device set-up; optional */
};

struct migr_msg_settled {
	uint32_t domid;
	uint64_t net_back_ns;      /* unpause to every vif connected again; 0 = not all were */
	uint32_t vifs;             /* the guest's vifs */
	uint32_t vifs_connected;   /* of them, connected again within the target's wait */
	uint64_t first_frame_ns;   /* unpause to a frame from the guest on every vif; 0 = not
	                              seen on all (optional field) */
};

struct migr_msg_abort {
	uint32_t code;             /* enum migr_abort_code */
	char reason[MIGR_TEXT_MAX];/* optional */
};

struct migr_msg_resolve {
	struct migr_id id;
};

struct migr_msg_resolve_reply {
	struct migr_id id;
	uint32_t outcome;          /* enum migr_outcome */
	uint32_t domid;            /* when restored-paused or running */
	char name[MIGR_NAME_MAX];  /* optional */
	struct migr_id host_id;    /* the answering host's id, as READY carried it (optional:
	                              an answer without it cannot prove anything) */
};

struct migr_msg {
	uint32_t type;             /* enum migr_msg_type */
	union {
		struct migr_msg_hello hello;
		struct migr_msg_preflight preflight;
		struct migr_msg_preflight_reply preflight_reply;
		struct migr_msg_config config;
		struct migr_msg_data_end data_end;
		struct migr_msg_ready ready;
		struct migr_msg_done done;
		struct migr_msg_abort abort;
		struct migr_msg_resolve resolve;
		struct migr_msg_resolve_reply resolve_reply;
		struct migr_msg_settled settled;
	};                         /* GO has no fields; DATA is not a struct migr_msg */
};

/* Zeroes m and sets its type. */
void migr_msg_init(struct migr_msg *m, uint32_t type);
/* A HELLO of ours: the versions this build speaks, purpose, id, software. */
void migr_msg_hello(struct migr_msg *m, uint32_t purpose, const struct migr_id *id);

/* Frees what decoding allocated (CONFIG's json) and zeroes m; accepts NULL. */
void migr_msg_release(struct migr_msg *m);

/*
 * migr_msg_encode: the whole frame (header + payload) of a control message into a buffer
 * it allocates (*buf_r, free() it). -EINVAL for a message that would not pass
 * migr_msg_decode() (bad enum, string too long, DATA), -ENOMEM.
 */
int migr_msg_encode(const struct migr_msg *m, uint8_t **buf_r, size_t *len_r);

/*
 * migr_frame_check: validates a frame header: known type or optional, length within the
 * type's cap. On success *type_r and *len_r; -MIGR_E_PROTO with text in err otherwise.
 * An unknown optional type is returned as is (the caller skips its payload).
 */
int migr_frame_check(const uint8_t hdr[MIGR_FRAME_HDR], uint32_t *type_r, uint32_t *len_r,
                     char *err, size_t errlen);

/*
 * migr_msg_decode: the payload of a frame of control-message type `type` into *m_r.
 * 0, or -MIGR_E_PROTO with the reason in err (may be NULL), or -ENOMEM.
 */
int migr_msg_decode(uint32_t type, const uint8_t *payload, size_t len, struct migr_msg *m_r,
                    char *err, size_t errlen);

/*
 * migr_msg_send: encodes and sends m (and flushes). 0 or -errno / -MIGR_E_*, detail in
 * migr_conn_error().
 */
int migr_msg_send(struct migr_conn *c, const struct migr_msg *m);

/* Convenience: sends ABORT with code and reason (reason may be NULL). */
int migr_msg_send_abort(struct migr_conn *c, uint32_t code, const char *reason);

/*
 * migr_msg_recv: the next control message. Skips unknown optional messages. A DATA or
 * DATA_END frame here is a protocol error (streams go through migr_conn_stream_in()).
 * An ABORT is returned like any message (and remembered, see migr_conn_peer_abort()).
 */
int migr_msg_recv(struct migr_conn *c, struct migr_msg *m_r);

/*
 * migr_msg_expect: migr_msg_recv() wanting type `type`: an ABORT returns -MIGR_E_ABORTED
 * (its reason in migr_conn_error() and migr_conn_peer_abort()); any other type
 * -MIGR_E_PROTO ("expected READY, got CONFIG").
 */
int migr_msg_expect(struct migr_conn *c, uint32_t type, struct migr_msg *m_r);

/*
 * migr_hello_check: the rules on a peer's HELLO: version ranges overlap (the agreed
 * version goes to *version_r), purpose valid, and, if want_id is non-NULL, the id equals
 * it. -MIGR_E_PROTO with text in err otherwise.
 */
int migr_hello_check(const struct migr_msg_hello *peer, const struct migr_id *want_id,
                     uint32_t *version_r, char *err, size_t errlen);

/* The target's durable record. --------------------------------------------------------- */

#define MIGR_STATE_DIR "/var/lib/migr/migrations"

/*
 * One small text file per migration id, DIR/ID (docs/protocol.md, "The record"). The
 * target writes it restored-paused before sending READY, running before it unpauses on
 * GO (and so before DONE), destroyed when it destroys its copy; RESOLVE answers from it.
 */
struct migr_record {
	struct migr_id id;
	uint32_t outcome;          /* enum migr_outcome */
	uint32_t domid;
	char name[MIGR_NAME_MAX];  /* guest name on the target */
	char source[MIGR_TEXT_MAX];/* peer address or identity of the source (informative) */
	uint64_t updated;          /* seconds since the epoch of the last write */
};

/*
 * migr_record_write: creates DIR if missing (0700), writes DIR/ID.tmp, fsyncs it, renames
 * it over DIR/ID and fsyncs DIR, so after it returns 0 the record survives a crash.
 * Sets r->updated.
 */
int migr_record_write(const char *dir, struct migr_record *r);

/* migr_record_read: -ENOENT when there is none (outcome unknown); -EBADMSG if corrupt. */
int migr_record_read(const char *dir, const struct migr_id *id, struct migr_record *r_r);

/*
 * migr_record_transition: migr_record_write() of r, but only if the record's outcome is
 * `from` now (MIGR_OUTCOME_UNKNOWN: no record yet), decided under an exclusive lock
 * (flock on DIR/ID.lock) held across the read and the write. Two deciders on one id, e.g.
 * the receiver taking GO (restored-paused -> running) and a RESOLVE answer
 * (restored-paused -> destroyed), cannot both win: the loser gets -ESTALE and *now_r (may
 * be NULL) gets the outcome that won.
 */
int migr_record_transition(const char *dir, uint32_t from, struct migr_record *r,
                           uint32_t *now_r);

/* migr_record_remove: 0 also when there was none. */
int migr_record_remove(const char *dir, const struct migr_id *id);

/*
 * migr_record_list: calls fn for every valid record in dir (skips others); fn returning
 * non-zero stops the walk and that value is returned. A missing dir lists nothing.
 */
int migr_record_list(const char *dir, int (*fn)(const struct migr_record *r, void *opaque),
                     void *opaque);

/* The source's durable record. --------------------------------------------------------- */

#define MIGR_SRC_STATE_DIR "/var/lib/migr/sent"

/* How far a migration went on the source (docs/phases.md, "Recovery"). */
enum migr_src_phase {
	MIGR_SRC_STARTED = 0,      /* written before the guest is touched; GO never went, so
	                              the target can never run the guest: resume it here */
	MIGR_SRC_GO = 1,           /* written (fsync'd) before GO goes: only the target's
	                              record can say where the guest runs */
	MIGR_SRC_DONE = 2,         /* the target said DONE: the guest runs there; what is
	                              left here (the suspended copy) is destroyed */
};
const char *migr_src_phase_name(uint32_t phase);   /* "started", "go", "done" */

/*
 * One small text file per migration id, SRCDIR/ID, written by the source driver when it
 * starts and before GO, removed when the migration ended either way. One that stays
 * is a migration not yet decided: migrd's recovery and `migr status` read them.
 */
struct migr_src_record {
	struct migr_id id;
	uint32_t phase;            /* enum migr_src_phase */
	uint32_t domid;            /* the guest's domain here */
	char name[MIGR_NAME_MAX];  /* its name (the copy may be NAME--migratedaway) */
	char target[MIGR_TEXT_MAX];/* HOST[:PORT] as given; "" for a byte pipe */
	char peer[MIGR_TEXT_MAX];  /* the target's authenticated identity, if any */
	struct migr_id target_host;/* the target's host id, from READY (zero before) */
	uint64_t throttled;        /* 1 while the guest runs under the source's throttle cap */
	uint64_t cap_before;       /* the CPU cap it had before, put back on every outcome */
	uint64_t updated;
};

int migr_src_record_write(const char *dir, struct migr_src_record *r);
int migr_src_record_read(const char *dir, const struct migr_id *id, struct migr_src_record *r_r);
int migr_src_record_list(const char *dir,
                         int (*fn)(const struct migr_src_record *r, void *opaque), void *opaque);
/* migr_record_remove() removes either kind. */
/* Takes the record's lock (SRCDIR/ID.lock, flock): the driver holds it while it runs, a
 * resolver while it resolves. Returns the fd to close() to drop it, -EBUSY if held. */
int migr_src_record_lock(const char *dir, const struct migr_id *id);

/*
 * migr_host_id: this host's id, kept in DIR/host-id (made at first use). A target sends it
 * in READY and RESOLVE_REPLY; an answer under another id (another host, another record
 * directory, a lost state directory) proves nothing about the migration.
 */
int migr_host_id(const char *dir, struct migr_id *id_r);

#endif /* MIGR_PROTO_H */
