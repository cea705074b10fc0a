/*
 * util.h: the small helpers every part of libmigr shares (util.c). Internal to libmigr.
 */
#ifndef MIGR_UTIL_H
#define MIGR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xentoollog.h>

/* Monotonic clock. */
uint64_t migr__now_us(void);
uint64_t migr__realtime_us(void);    /* CLOCK_REALTIME, for stamps others read */
uint64_t migr__now_ns(void);

/* write() until done (EINTR retried); 0 or -errno. */
int migr__write_all(int fd, const void *buf, size_t len);

/* Big-endian fields of the wire formats. */
uint16_t migr__get_be16(const uint8_t *p);
uint32_t migr__get_be32(const uint8_t *p);
uint64_t migr__get_be64(const uint8_t *p);
void migr__put_be16(uint8_t *p, uint16_t v);
void migr__put_be32(uint8_t *p, uint32_t v);
void migr__put_be64(uint8_t *p, uint64_t v);

/* snprintf() into a fixed buffer where truncation is acceptable (texts for people). */
void migr__text(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Logging through the caller's logger (nothing when NULL). */
void migr__log(struct xentoollog_logger *lg, xentoollog_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A helper program of migr's (NAME): beside the running program, else installed in
 * MIGR_LIBEXECDIR (migr/vif.h). 0 with its path in path[len], or -ENOENT when neither is
 * executable. Thread-safe. */
int migr__helper_path(const char *name, char *path, size_t len);

/* Histories of a host's own figures (us), the last 5 in DIR/NAME, one per line (0600,
 * written through a temporary file and a rename): the median (0: none), and a figure
 * added (figures of 0 or over a minute are not kept). Errors writing are logged at
 * detail level only: a history is a hint. */
uint64_t migr__history_median(const char *dir, const char *name);
void migr__history_add(const char *dir, const char *name, uint64_t us,
		       struct xentoollog_logger *lg);
/* A source's histories beside its records: blackouts less their final sends, suspends,
 * final sends less the pages' part, handshakes (the blackout less its measured parts).
 * A target reads the last three, of its own migrations out, for PREFLIGHT_REPLY. */
#define MIGR__SRC_HISTORY "blackout-history"
#define MIGR__SRC_SUSPEND_HISTORY "suspend-history"
#define MIGR__SRC_FINAL_HISTORY "final-send-history"
#define MIGR__SRC_HANDSHAKE_HISTORY "handshake-history"

/* A received guest's console log, from its temporary name to its own (console_log.c).
 * migr__consoled_args(): what xenconsoled's command line (NUL-separated, as in
 * /proc/PID/cmdline) says of guest logging and the log directory; -EINVAL if it could not
 * have started with it. migr__console_log_follow(): after the rename, carries
 * LOGDIR/guest-OLD.log over to guest-NEW.log (appending to one from an earlier life) and
 * has the daemon reopen it; failures are logged as warnings and returned. */
struct migr_hv;
struct migr_consoled;
int migr__consoled_args(const char *cmdline, size_t len, struct migr_consoled *c_r);
int migr__console_log_follow(struct migr_hv *hv, uint32_t domid, const char *old_name,
			     const char *new_name, struct xentoollog_logger *lg);

/* The suffixes migr reserves for the two copies of a guest in flight (docs/phases.md). */
#define MIGR_SUFFIX_INCOMING "--incoming"
#define MIGR_SUFFIX_AWAY "--migratedaway"
bool migr__ends_with(const char *s, const char *suffix);

#endif /* MIGR_UTIL_H */
