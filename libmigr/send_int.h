/*
 * send_int.h: the source side's shared core (send.c), used by both source drivers
 * (migrate.c toward migr, migrate_xl.c toward stock xl). Internal to libmigr.
 */
#ifndef MIGR_SEND_INT_H
#define MIGR_SEND_INT_H

#include <pthread.h>
#include <xentoollog.h>
#include "libmigr.h"

#define MIGR__MAX_SAMPLES 256

struct migr__send {
	/* set by the driver */
	struct migr_hv *hv;
	uint32_t domid;
	struct migr_conn *c;
	struct migr_send_params p;
	struct migr_result *res;
	enum migr_phase phase;          /* only the driver (and its save callbacks) set it */

	/* clock marks, monotonic us */
	uint64_t t_start, t_precopy0, t_suspend_req, t_suspended, t_stream_end;

	/* pre-copy state */
	struct migr_policy_state pol;
	bool started;
	bool policy_aborted;
	int stream_failed;              /* the connection broke under the stream */
	uint64_t guest_pages;
	uint64_t round_start_us, round_n, round_bytes0;
	int last_action;

	/* PEEK sampler */
	pthread_t sampler;
	bool sampler_running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop_sampler, in_round;
	struct migr_policy_sample samples[MIGR__MAX_SAMPLES];
	size_t n_samples;
};

uint64_t migr__now_us(void);

/* Announces a guest restored here on its bridges (recv.c): round 0 only, or with `more`
 * the remaining rounds, spaced as QEMU's announce-self. Returns the frames sent. */
unsigned int migr__announce(struct migr_hv *hv, uint32_t domid, bool more);
/* hv->ops->settle() for a restored guest that runs (after DONE and the announcements,
 * off the blackout): network back into res; a failure is logged, never fatal. */
void migr__settle(struct migr_hv *hv, uint32_t domid, struct xentoollog_logger *lg,
                  struct migr_recv_result *res);

/* Sets up s (fills params defaults when p is NULL). */
void migr__send_init(struct migr__send *s, struct migr_hv *hv, uint32_t domid,
		     struct migr_conn *c, const struct migr_send_params *p,
		     struct migr_result *res);

/* Report progress in the current phase (no round data). */
void migr__send_report(struct migr__send *s);

/*
 * Streams the guest: opens the connection's stream face (flags MIGR_STREAM_*), writes
 * the libxl framing around a live xc_domain_save() with migr's policy and suspend, and
 * closes the face (DATA_END, or ABORT on failure). Moves s->phase through PRECOPY,
 * SUSPEND and FINAL_SEND. On failure the guest may be suspended: the driver resumes it.
 */
int migr__send_stream(struct migr__send *s, unsigned int stream_flags);

/* Back-out on the source before the point of no return: if the guest is suspended
 * (by us), resume it. Returns 0 when the guest runs (or was never touched). */
int migr__send_backout(struct migr__send *s);

void migr__send_fini(struct migr__send *s);
/* The target's restore hint (PREFLIGHT_REPLY): added to the policy's fixed blackout cost,
 * at most 10 s of it. Before the stream only. */
void migr__send_target_fixed(struct migr__send *s, uint64_t target_us);

/* snprintf() into a fixed buffer where truncation is acceptable (texts for people). */
void migr__text(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Logging through the caller's logger (nothing when NULL). */
void migr__log(struct xentoollog_logger *lg, xentoollog_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
