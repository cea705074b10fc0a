/*
 * migr/report.h: what a migration and an evacuation did, kept and drawn.
 *
 * The round log: per pre-copy round the pages sent, the dirty rate, the bandwidth and the
 * predicted blackout; then the real blackout and its phases, and the network coming
 * back. `migr migrate` and the evacuation engine keep one per migration as DIR/ID.json
 * (MIGR_REPORT_DIR by default; docs/reports.md gives the format), at most
 * MIGR_ROUNDLOG_KEEP of them (the oldest go first). Reading one back treats it as hostile
 * input: bounded size, every field checked.
 *
 * The pictures: self-contained SVG documents written as text here (no library, no
 * script, no external reference), every name escaped. A migration's is drawn from its
 * round log; an evacuation's has one lane per guest (notice, pre-copy, blackout,
 * forwarding when reported), drawn from the executor's results when it ends or from the
 * event log afterwards; index.html beside them links every SVG of their directory.
 *
 * Entry points:
 *   migr_roundlog_init(), migr_roundlog_progress(), migr_roundlog_result()   collecting
 *   migr_roundlog_write(), migr_roundlog_read(), migr_roundlog_parse(),
 *   migr_roundlog_list()                                                      keeping
 *   migr_report_migration_svg(), migr_report_evacuation_svg()                 drawing
 *   migr_report_evac_from_log(), migr_report_evac_line()                      the event log
 *   migr_report_index(), migr_report_write_file(), migr_report_name_ok()      files
 */
#ifndef MIGR_REPORT_H
#define MIGR_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "migr/hv.h"
#include "migr/migrate.h"
#include "migr/plan.h"
#include "migr/proto.h"

#define MIGR_REPORT_DIR "/var/lib/migr/reports"
#define MIGR_ROUNDLOG_ROUNDS 64             /* rounds kept per migration (then counted) */
#define MIGR_ROUNDLOG_KEEP 256              /* round logs kept in a directory */
#define MIGR_ROUNDLOG_MAX_BYTES (128 * 1024) /* a longer file is refused */

enum migr_report_outcome {
	MIGR_REPORT_DONE = 0,                /* the guest runs on the target */
	MIGR_REPORT_ABORTED,                 /* backed out: it runs on the source */
	MIGR_REPORT_FAILED,
	MIGR_REPORT_UNDECIDED,               /* after GO, outcome unknown */
	MIGR_REPORT_OUTCOME_COUNT
};
const char *migr_report_outcome_name(enum migr_report_outcome o);
/* A driver's return code as an outcome (as migr migrate's exit status sorts them). */
enum migr_report_outcome migr_report_outcome_of(int rc);

struct migr_roundlog_round {
	unsigned int round;                  /* 0, 1, ... */
	uint64_t end_us;                     /* since the migration started */
	uint64_t us;                         /* the round's duration */
	uint64_t pages, bytes;               /* sent in it */
	uint64_t remaining_pages;            /* dirty at its end */
	uint64_t dirty_rate_pps, bandwidth_Bps;
	uint64_t predicted_blackout_us;      /* if the policy stopped there */
	int decision;                        /* MIGR_POLICY_{ABORT,CONTINUE,STOP} */
	int reason;                          /* enum migr_policy_reason */
};

struct migr_roundlog {
	char id[MIGR_ID_HEX];
	char name[MIGR_DOMNAME_MAX];
	char target[MIGR_PLAN_HOST_MAX];     /* HOST[:PORT], "" for a pipe */
	enum migr_guest_type type;
	int64_t started;                     /* Unix time */
	enum migr_report_outcome outcome;
	uint64_t total_us;
	uint64_t precopy_start_us;           /* since the start: log-dirty on (0: unknown) */
	uint64_t suspend_at_us;              /* since the start: suspend asked (0: never) */
	uint64_t precopy_us;
	uint64_t guest_pages, pages_live, stream_bytes, wire_bytes;
	uint64_t zero_bytes, compressed_bytes, compress_saved_bytes;   /* as migr_result */
	uint64_t predicted_blackout_us, restore_hint_us;
	/* the blackout and its phases, as struct migr_result has them */
	uint64_t blackout_us, suspend_us, final_send_us, restore_tail_us, devices_us;
	uint64_t handshake_us, unpause_us;
	unsigned int vifs, vifs_connected;
	uint64_t net_back_us, first_frame_us;
	unsigned int n_rounds;
	unsigned int rounds_dropped;         /* past MIGR_ROUNDLOG_ROUNDS */
	struct migr_roundlog_round rounds[MIGR_ROUNDLOG_ROUNDS];
};

void migr_roundlog_init(struct migr_roundlog *l);
/* Feeds one progress report (call it from the migration's progress callback). */
void migr_roundlog_progress(struct migr_roundlog *l, const struct migr_progress *p);
/* The driver's result and return code, after it returned; target as it was asked. */
void migr_roundlog_result(struct migr_roundlog *l, const struct migr_result *r, int rc,
			  const char *target);

/* DIR/ID.json (mode 0600, DIR made 0755), then the oldest past MIGR_ROUNDLOG_KEEP go
 * (with their ID.svg). -EINVAL without an id. */
int migr_roundlog_write(const char *dir, const struct migr_roundlog *l);
/* The text of a round log (the file's content; malloc'd). */
int migr_roundlog_format(const struct migr_roundlog *l, char **json_r, size_t *len_r);
/* Parses a round log's text: -EBADMSG for anything that is not one (why says what). */
int migr_roundlog_parse(const char *text, size_t len, struct migr_roundlog *l_r,
			char *why, size_t whylen);
/* DIR/ID.json for id (32 hex digits); -ENOENT, -EFBIG (too long), -EBADMSG. */
int migr_roundlog_read(const char *dir, const char *id, struct migr_roundlog *l_r,
		       char *why, size_t whylen);
/* Calls fn for every readable round log of dir (unreadable ones are skipped); stops at
 * fn's first non-zero return, which it returns. */
int migr_roundlog_list(const char *dir, int (*fn)(const struct migr_roundlog *l, void *arg),
		       void *arg);

/* The SVG of one migration (malloc'd, NUL-terminated). */
int migr_report_migration_svg(const struct migr_roundlog *l, char **svg_r, size_t *len_r);

/* ---- an evacuation ------------------------------------------------------------------ */

#define MIGR_REPORT_LANES 1024               /* lanes drawn; more are counted */

struct migr_evac_report_lane {
	char guest[MIGR_DOMNAME_MAX];
	char target[MIGR_PLAN_HOST_MAX];
	char state[16];                      /* migr_evac_state_name() */
	char migration_id[MIGR_ID_HEX];      /* "" none */
	char reason[MIGR_PLAN_REASON_MAX];
	unsigned int attempts;
	bool timeline;                       /* the offsets below are known */
	/* since the evacuation started */
	uint64_t start_us;                   /* the guest's turn came */
	uint64_t notice_end_us;              /* its notice period ended (0: none) */
	uint64_t attempt_us;                 /* its last attempt started */
	uint64_t end_us;                     /* it reached its final state */
	/* of the last attempt */
	uint64_t preflight_us, precopy_us, blackout_us, total_us;
	bool net_back_known;
	uint64_t net_back_us;                /* after the unpause */
	bool fwd_known;
	uint64_t fwd_packets;
	char link[80];                       /* "" none: a file beside the SVG to link to */
};

struct migr_evac_report {
	char id[65];
	char host[MIGR_PLAN_HOST_MAX];
	char state[16];                      /* done, incomplete, cancelled, failed; "" unknown */
	int64_t started;                     /* Unix time (0: unknown) */
	uint64_t elapsed_us;
	unsigned int n, more;                /* lanes, and guests past MIGR_REPORT_LANES */
	struct migr_evac_report_lane lanes[MIGR_REPORT_LANES];
};

/* The SVG of one evacuation (malloc'd). */
int migr_report_evacuation_svg(const struct migr_evac_report *r, char **svg_r, size_t *len_r);

/*
 * Collects evacuation evid from an event log (MIGR_EVENT_LOG's JSON lines): its
 * migration records and its evacuation record. Hostile input: a line longer than 64 KiB,
 * or one that does not parse, is skipped; fields are checked. -ENOENT when the log has no
 * record of evid. *r is large: the caller allocates it.
 */
int migr_report_evac_from_log(const char *log, const char *evid, struct migr_evac_report *r);
/* One line of the log into r when it belongs to evid: 1 taken, 0 not ours, -EBADMSG. */
int migr_report_evac_line(struct migr_evac_report *r, const char *evid, const char *line,
			  size_t len);

/* An evacuation or migration id fit for a file name: 1..64 of [A-Za-z0-9._:@+-], not
 * "." or "..". */
bool migr_report_name_ok(const char *id);

/*
 * DIR/index.html: a page linking every evacuation-*.svg and migration-*.svg of dir
 * (newest first, at most 1000). 0 or -errno.
 */
int migr_report_index(const char *dir);

/* Writes data as path, atomically (a temporary file renamed), with mode. */
int migr_report_write_file(const char *path, const char *data, size_t len, unsigned int mode);

#endif /* MIGR_REPORT_H */
