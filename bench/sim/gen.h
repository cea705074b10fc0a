/*
 * gen.h: synthetic dirty-page traces for the simulator. Deterministic (seeded PRNG).
 * Rates are in pages per second of guest time; the epoch is 10 ms.
 */
#ifndef MIGR_SIM_GEN_H
#define MIGR_SIM_GEN_H
#include "trace.h"

#define GEN_EPOCH_US 10000

/* Writes rate pages/s chosen uniformly at random over the whole guest. */
struct trace *gen_uniform(const char *name, uint64_t n_pages, double rate, double secs,
			  uint64_t seed);
/* A hot set of hot pages (scattered) written at hot_rate, the rest at cold_rate. */
struct trace *gen_hotcold(const char *name, uint64_t n_pages, uint64_t hot, double hot_rate,
			  double cold_rate, double secs, uint64_t seed);
/* A scanner writing region pages in address order at rate pages/s, over and over. */
struct trace *gen_scanner(const char *name, uint64_t n_pages, uint64_t region, double rate,
			  double secs, uint64_t seed);
/* Calm phases (small hot set, low rate) alternating with bursts over a large set. */
struct trace *gen_bursty(const char *name, uint64_t n_pages, double calm_secs,
			 double burst_secs, uint64_t calm_set, double calm_rate,
			 uint64_t burst_set, double burst_rate, double secs, uint64_t seed);
/* Registry used by the bench and by `migr-trace gen NAME`. */
struct gen_spec {
	const char *name;
	const char *what;
	struct trace *(*make)(const char *name);
};
extern const struct gen_spec gen_suite[];
const struct gen_spec *gen_find(const char *name);

#endif
