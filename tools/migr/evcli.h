/*
 * evcli.h: what `migr evacuate`, `migr cancel` and `migr status` share: the client of
 * migrd's control socket and the rendering of the evacuation service's events (the plan,
 * live progress with a line per guest, the final table, the exit status).
 *
 * Control socket protocol (tools/migrd/control.c): the client sends one JSON line, e.g.
 * {"cmd":"evacuate","dry_run":false,"request":"<the request JSON as a string>"},
 * {"cmd":"cancel"}, {"cmd":"status"}; the server answers with JSON lines: events
 * (docs/evacuation.md) ending, for an evacuation, with {"event":"end",...}; a refusal is
 * {"event":"error","reason":...}.
 */
#ifndef MIGR_EVCLI_H
#define MIGR_EVCLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EVCLI_MAX_GUESTS 256

struct evcli_guest {
	char name[64];
	unsigned int domid;
	char target[256];
	char state[16];
	char phase[24];
	unsigned int attempt, round, rounds;
	uint64_t sent, remaining, dirty, bw, pred_ms, elapsed_ms, bytes, total_ms;
	double blackout_ms;
	long long fwd_packets;           /* forwarded by the migration's end; -1: not known */
	bool has_record;
	char reason[200];
	/* not a terminal: what the last progress line of this guest showed, and when */
	uint64_t printed_ms;
	unsigned int printed_round;
	char printed_phase[24];
};

struct evcli {
	bool json, tty, quiet;
	unsigned int n;
	struct evcli_guest g[EVCLI_MAX_GUESTS];
	int drawn;                 /* live lines on screen */
	uint64_t last_draw_ms;
	bool planned, ended, dry_run, host_empty;
	char end_state[16];
	char id[80];
	unsigned int total, moved, failed, unplaceable, pinned, cancelled, undecided, gone;
	long long makespan_ms, bound_ms, stream_bps, bound_bps, bound_streams;
	long long bound_link_ms, link_bps;
	unsigned int window_max;
	char window[160];
	char error[256];
	char report[512], report_index[512];   /* the pictures the end named ("" none) */
};

void evcli_init(struct evcli *e, bool json, bool quiet);
/* Feeds one event (a JSON object); returns 1 once the "end" (or "error") event came. */
int evcli_event(struct evcli *e, const char *line);
/* The final per-guest table and a summary line. */
void evcli_final(struct evcli *e, FILE *f);
/* Exit status (tools/migr/commands.h) for what the events said. */
int evcli_exit_status(const struct evcli *e);

/* Connects to migrd's control socket: fd, or -errno (-ENOENT/-ECONNREFUSED: no migrd). */
int evcli_connect(void);
/* Sends one line (a newline is added). 0 or -errno. */
int evcli_send(int fd, const char *json);
/* Reads one line (without its newline) into buf; 1 read, 0 end of stream, -errno. Lines
 * longer than len are cut. */
struct evcli_reader {
	char buf[65536];
	size_t len;
};
int evcli_read_line(int fd, struct evcli_reader *r, char *line, size_t len);

/* Appends s as a JSON string literal to out (capacity cap). */
void evcli_json_str(char *out, size_t cap, const char *s);

#endif
