/*
 * sim.h: a trace-driven model of libxenguest's pre-copy loop (xg_sr_save.c,
 * send_memory_live() and suspend_and_send_dirty()), as described in docs/policy.md.
 *
 * Round 0 sends every page; round r >= 1 sends the pages the CLEAN before it found, in
 * batches of up to 1024 pages at the link rate (or the policy's rate limit), plus an
 * optional cost per page and per batch. The policy is consulted at both decision points
 * (call A before a send with its N, call B after it with -1). Inside a send, PEEK samples
 * {time, pages dirtied since the last CLEAN} are taken every sample_us, and one more when
 * call B comes. After the break the guest stops; the final CLEAN's pages go during the
 * blackout at the full link rate, plus a fixed suspend/resume cost.
 *
 * Each CLEAN costs clean_us (the guest runs meanwhile), so even empty rounds take time.
 * The guest replays the trace in guest time, which runs at (100 - throttle)% of wall
 * time; the trace loops when it runs out. Writes of an epoch are spread evenly over it.
 *
 * Entry points: sim_run(), sim_result_free().
 */
#ifndef MIGR_SIM_SIM_H
#define MIGR_SIM_SIM_H

#include <stdint.h>
#include <stddef.h>
#include "migr/policy.h"
#include "trace.h"

#define SIM_BATCH 1024

struct sim_cfg {
	double bw_Bps;          /* link bandwidth, bytes/s */
	double per_page_us;     /* extra cost per page sent (map, copy) */
	double per_batch_us;    /* extra cost per batch of up to SIM_BATCH pages */
	double fixed_us;        /* suspend + vCPU context + resume, part of every blackout */
	double clean_us;        /* a CLEAN and the loop's own work, once per round */
	double sample_us;       /* PEEK period inside a round; 0 = no samples */
	double limit_us;        /* the harness stops and copies (forced) at this time */
};

/* What a policy may change, effective right after its decision. */
struct sim_ctl {
	uint32_t throttle_pct;  /* guest slowed to (100 - throttle_pct)% */
	double rate_Bps;        /* live send rate limit; 0 = the link */
};

struct sim_policy {
	const char *name;
	void *self;
	void (*reset)(void *self, const struct sim_cfg *cfg, const struct trace *t);
	/* MIGR_POLICY_{ABORT,CONTINUE,STOP} */
	int (*decide)(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl);
};

/* A place the loop could have stopped: after the send of round `round`. */
struct sim_point {
	unsigned int round;
	double live_end_us;     /* wall time at call B */
	uint64_t dirty;         /* pages the blackout would carry */
	uint64_t live_pages;    /* pages sent live so far */
};

struct sim_result {
	int aborted;            /* the policy aborted: guest left running */
	int forced;             /* the harness stopped it at limit_us */
	unsigned int rounds;    /* live sends */
	double live_us;         /* until the guest stopped (or the abort) */
	double blackout_us;
	double total_us;        /* live + blackout */
	uint64_t live_pages;
	uint64_t final_pages;   /* sent during the blackout */
	uint32_t max_throttle;
	struct sim_point *points;   /* every call B, if asked for */
	size_t n_points, cap_points;
};

/* 0 or -errno. With record_points, res->points lists every call B (free with
 * sim_result_free). */
int sim_run(const struct trace *t, const struct sim_cfg *cfg, struct sim_policy *p,
	    struct sim_result *res, int record_points);
void sim_result_free(struct sim_result *res);

/* Blackout and total of stopping at a point, at the full link rate. */
double sim_point_blackout(const struct sim_cfg *cfg, const struct trace *t,
			  const struct sim_point *pt);

#endif
