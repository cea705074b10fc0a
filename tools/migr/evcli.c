/*
 * evcli.c: migrd's control socket client and the rendering of evacuation events for
 * `migr evacuate` and `migr status` (see evcli.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "commands.h"
#include "evcli.h"
#include "libmigr.h"

void evcli_init(struct evcli *e, bool json, bool quiet)
{
	memset(e, 0, sizeof(*e));
	e->json = json;
	e->quiet = quiet;
	e->tty = !json && !quiet && isatty(STDOUT_FILENO);
}

static const char *jstr(yajl_val o, const char *k)
{
	const char *path[] = { k, NULL };
	yajl_val v = yajl_tree_get(o, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : "";
}

static long long jint(yajl_val o, const char *k)
{
	const char *path[] = { k, NULL };
	yajl_val v = yajl_tree_get(o, path, yajl_t_number);

	return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

static double jdbl(yajl_val o, const char *k)
{
	const char *path[] = { k, NULL };
	yajl_val v = yajl_tree_get(o, path, yajl_t_number);

	return v ? YAJL_GET_DOUBLE(v) : 0;
}

static bool jbool(yajl_val o, const char *k)
{
	const char *path[] = { k, NULL };
	yajl_val v = yajl_tree_get(o, path, yajl_t_true);

	return v != NULL;
}

static void cpy(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

static struct evcli_guest *guest(struct evcli *e, unsigned domid, const char *name)
{
	for (unsigned i = 0; i < e->n; i++)
		if (e->g[i].domid == domid)
			return &e->g[i];
	if (e->n == EVCLI_MAX_GUESTS)
		return NULL;
	memset(&e->g[e->n], 0, sizeof(e->g[e->n]));
	e->g[e->n].domid = domid;
	cpy(e->g[e->n].name, sizeof(e->g[e->n].name), name);
	return &e->g[e->n++];
}

static double mib(uint64_t b)
{
	return b / 1048576.0;
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void line_of(const struct evcli_guest *g, char *buf, size_t n)
{
	if (!strcmp(g->state, "migrating"))
		snprintf(buf, n, "%-16.16s -> %-22.22s %-10s %-10.10s round %-3u sent %8.1f MiB  "
			 "left %7.1f MiB  dirty %6llu p/s  bw %6.1f MiB/s  blackout~%4llu ms",
			 g->name, g->target, g->state, g->phase, g->round, mib(g->sent),
			 mib(g->remaining), (unsigned long long)g->dirty, mib(g->bw),
			 (unsigned long long)g->pred_ms);
	else if (!strcmp(g->state, "moved"))
		snprintf(buf, n, "%-16.16s -> %-22.22s moved      in %.1f s, blackout %.0f ms",
			 g->name, g->target, g->total_ms / 1000.0, g->blackout_ms);
	else
		snprintf(buf, n, "%-16.16s -> %-22.22s %-10s %.100s", g->name,
			 g->target[0] ? g->target : "-", g->state, g->reason);
}

static bool progress_due(const struct evcli_guest *g)
{
	if (strcmp(g->state, "migrating"))
		return false;
	if (strcmp(g->phase, g->printed_phase))
		return true;
	return g->round != g->printed_round && now_ms() - g->printed_ms >= 5000;
}

static void draw(struct evcli *e, bool force)
{
	char buf[400];
	uint64_t t = now_ms();

	if (!e->tty || (!force && t - e->last_draw_ms < 100))
		return;
	e->last_draw_ms = t;
	if (e->drawn)
		printf("\033[%dA", e->drawn);
	for (unsigned i = 0; i < e->n; i++) {
		line_of(&e->g[i], buf, sizeof(buf));
		printf("\r\033[K  %s\n", buf);
	}
	e->drawn = e->n;
	fflush(stdout);
}

static void print_plan(struct evcli *e, yajl_val o, bool out)
{
	const char *gp[] = { "guests", NULL }, *tp[] = { "targets", NULL };
	yajl_val gs = yajl_tree_get(o, gp, yajl_t_array);
	yajl_val ts = yajl_tree_get(o, tp, yajl_t_array);

	if (out) {
		printf("Plan for %s (evacuation %s)%s: up to %lld stream(s) at once, notice %lld s\n",
		       jstr(o, "host"), jstr(o, "id"), e->dry_run ? ", dry run" : "",
		       jint(o, "parallel"), jint(o, "notice_s"));
		printf("  order: %s\n", jstr(o, "order"));
		printf("  bound: %.1f s to send the guests' memory once at %.2f Gbit/s (the "
		       "configured link speed; the evacuation measures the real one)\n",
		       jint(o, "bound_estimate_ms") / 1000.0, jint(o, "link_bps_hint") / 1e9);
	}
	for (size_t i = 0; out && ts && i < ts->u.array.len; i++) {
		yajl_val t = ts->u.array.values[i];

		if (jbool(t, "reachable"))
			printf("  target %-24s free %6lld MiB, planned %6lld MiB\n", jstr(t, "name"),
			       jint(t, "free_mib"), jint(t, "assigned_mib"));
		else
			printf("  target %-24s unreachable: %s\n", jstr(t, "name"),
			       jstr(t, "why_unreachable"));
	}
	if (out)
		printf("  %-16s %6s %8s %4s %-10s %-22s %s\n", "GUEST", "DOMID", "MEM(MiB)",
		       "VCPU", "GROUP", "TARGET", "NOTE");
	for (size_t i = 0; gs && i < gs->u.array.len; i++) {
		yajl_val g = gs->u.array.values[i];
		const char *verdict = jstr(g, "verdict");
		struct evcli_guest *eg = guest(e, jint(g, "domid"), jstr(g, "name"));

		if (eg) {
			cpy(eg->target, sizeof(eg->target), jstr(g, "target"));
			cpy(eg->state, sizeof(eg->state),
			    !strcmp(verdict, "placed") ? "queued" : verdict);
			cpy(eg->reason, sizeof(eg->reason), jstr(g, "reason"));
		}
		if (out)
			printf("  %-16.16s %6lld %8lld %4lld %-10.10s %-22.22s %s\n", jstr(g, "name"),
		       jint(g, "domid"), jint(g, "mem_mib"), jint(g, "vcpus"),
		       jstr(g, "group")[0] ? jstr(g, "group") : "-",
		       jstr(g, "target")[0] ? jstr(g, "target") : "-",
		       !strcmp(verdict, "placed") ? "" : jstr(g, "reason"));
	}
	fflush(stdout);
}

int evcli_event(struct evcli *e, const char *line)
{
	char err[128];
	yajl_val o;
	const char *ev;
	int done = 0;

	if (e->json) {
		printf("%s\n", line);
		fflush(stdout);
	}
	o = yajl_tree_parse(line, err, sizeof(err));
	if (!o || !YAJL_IS_OBJECT(o)) {
		yajl_tree_free(o);
		return 0;
	}
	ev = jstr(o, "event");
	if (!strcmp(ev, "start")) {
		e->dry_run = jbool(o, "dry_run");
		cpy(e->id, sizeof(e->id), jstr(o, "id"));
	} else if (!strcmp(ev, "plan")) {
		e->planned = true;
		print_plan(e, o, !e->json && !e->quiet);
	} else if (!strcmp(ev, "guest")) {
		struct evcli_guest *g = guest(e, jint(o, "domid"), jstr(o, "name"));
		char old[16];

		if (g) {
			cpy(old, sizeof(old), g->state);
			cpy(g->state, sizeof(g->state), jstr(o, "state"));
			cpy(g->target, sizeof(g->target), jstr(o, "target"));
			cpy(g->reason, sizeof(g->reason), jstr(o, "reason"));
			g->attempt = jint(o, "attempt");
			if (!strcmp(g->state, "migrating")) {
				cpy(g->phase, sizeof(g->phase), jstr(o, "phase"));
				g->round = jint(o, "round");
				g->sent = jint(o, "sent_bytes");
				g->remaining = jint(o, "remaining_bytes");
				g->dirty = jint(o, "dirty_rate_pps");
				g->bw = jint(o, "bandwidth_Bps");
				g->pred_ms = jint(o, "predicted_blackout_ms");
			}
			if (e->tty) {
				draw(e, strcmp(old, g->state) != 0);
			} else if (!e->json && !e->quiet && strcmp(g->state, "moved") &&
				   (strcmp(old, g->state) || progress_due(g))) {
				/* A log, not a screen: a line when the state changes, and while
				 * migrating one per new round or phase, at most every 5 s. */
				char buf[400];

				line_of(g, buf, sizeof(buf));
				printf("  %s\n", buf);
				fflush(stdout);
				g->printed_ms = now_ms();
				g->printed_round = g->round;
				cpy(g->printed_phase, sizeof(g->printed_phase), g->phase);
			}
		}
	} else if (!strcmp(ev, "migration")) {
		/* handled below: the record of a guest's end */
	} else if (!strcmp(ev, "end")) {
		cpy(e->end_state, sizeof(e->end_state), jstr(o, "state"));
		cpy(e->report, sizeof(e->report), jstr(o, "report"));
		cpy(e->report_index, sizeof(e->report_index), jstr(o, "report_index"));
		e->host_empty = jbool(o, "host_empty");
		e->dry_run = jbool(o, "dry_run");
		e->total = jint(o, "total");
		e->moved = jint(o, "moved");
		e->failed = jint(o, "failed");
		e->unplaceable = jint(o, "unplaceable");
		e->pinned = jint(o, "pinned");
		e->cancelled = jint(o, "cancelled");
		e->undecided = jint(o, "undecided");
		e->gone = jint(o, "gone");
		e->makespan_ms = jint(o, "makespan_ms");
		e->bound_ms = jint(o, "bound_ms");
		e->stream_bps = jint(o, "stream_bps");
		e->bound_bps = jint(o, "bound_bps");
		e->bound_streams = jint(o, "bound_streams");
		e->bound_link_ms = jint(o, "bound_link_ms");
		e->link_bps = jint(o, "link_bps");
		e->window_max = jint(o, "window_max");
		cpy(e->window, sizeof(e->window), jstr(o, "window"));
		e->ended = true;
		draw(e, true);
		done = 1;
	} else if (!strcmp(ev, "error")) {
		cpy(e->error, sizeof(e->error), jstr(o, "reason"));
		e->ended = true;
		done = 1;
	}
	if (!strcmp(jstr(o, "record"), "migration")) {
		const char *name = jstr(o, "guest");

		for (unsigned i = 0; i < e->n; i++) {
			struct evcli_guest *g = &e->g[i];

			if (strcmp(g->name, name) || g->domid != (unsigned)jint(o, "source_domid"))
				continue;
			g->has_record = true;
			g->rounds = jint(o, "rounds");
			g->bytes = jint(o, "bytes");
			g->total_ms = jint(o, "total_ms");
			g->blackout_ms = jdbl(o, "blackout_ms");
			{
				const char *path[] = { "forwarded_packets", NULL };
				yajl_val v = yajl_tree_get(o, path, yajl_t_number);
				g->fwd_packets = v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : -1;
			}
			cpy(g->state, sizeof(g->state), jstr(o, "outcome"));
			cpy(g->reason, sizeof(g->reason), jstr(o, "reason"));
			if (!e->tty && !e->json && !e->quiet) {
				char buf[400];

				line_of(g, buf, sizeof(buf));
				printf("  %s\n", buf);
				fflush(stdout);
			}
			draw(e, true);
		}
	}
	yajl_tree_free(o);
	return done;
}

void evcli_final(struct evcli *e, FILE *f)
{
	if (e->json || e->quiet)
		return;
	if (e->error[0]) {
		fprintf(stderr, "migr: evacuation refused: %s\n", e->error);
		return;
	}
	if (e->dry_run) {
		fprintf(f, "Dry run: nothing moved. %u guest(s): %u would move, %u unplaceable, "
			"%u pinned.\n", e->total, e->total - e->unplaceable - e->pinned,
			e->unplaceable, e->pinned);
		return;
	}
	fprintf(f, "\n%-16s %-22s %-11s %3s %6s %10s %9s %11s %9s  %s\n", "GUEST", "TARGET",
		"RESULT", "TRY", "ROUNDS", "MiB", "TIME(s)", "BLACKOUT(ms)", "FORWARDED", "REASON");
	for (unsigned i = 0; i < e->n; i++) {
		const struct evcli_guest *g = &e->g[i];
		char fwd[24] = "-";

		/* frames forwarded by the migration's end (forwarding goes on after it) */
		if (g->has_record && g->fwd_packets >= 0)
			snprintf(fwd, sizeof(fwd), "%lld", g->fwd_packets);
		if (!strcmp(g->state, "moved"))
			fprintf(f, "%-16.16s %-22.22s %-11s %3u %6u %10.1f %9.1f %11.1f %9s\n", g->name,
				g->target, g->state, g->attempt, g->rounds, mib(g->bytes),
				g->total_ms / 1000.0, g->blackout_ms, fwd);
		else
			fprintf(f, "%-16.16s %-22.22s %-11s %3u %6s %10s %9s %11s %9s  %s\n", g->name,
				g->target[0] ? g->target : "-", g->state, g->attempt, "-", "-", "-",
				"-", "-", g->reason);
	}
	fprintf(f, "\nevacuation %s: %s. %u guest(s): %u moved, %u failed, %u unplaceable, %u "
		"pinned, %u cancelled%s%s. The host is %s.\n", e->id, e->end_state, e->total,
		e->moved, e->failed, e->unplaceable, e->pinned, e->cancelled,
		e->undecided ? ", outcome unknown for some: run `migr resolve`" : "",
		e->gone ? ", some shut down meanwhile" : "",
		e->host_empty ? "empty" : "NOT empty");
	if (e->makespan_ms && e->bound_ms)
		fprintf(f, "makespan %.1f s, bound %.1f s (the bytes sent over one stream's "
			"%.1f Mbit/s, measured over the %lld stream(s) that ran alone), ratio %.2f; "
			"up to %u stream(s) at once: %s\n",
			e->makespan_ms / 1000.0, e->bound_ms / 1000.0, e->bound_bps / 1e6,
			e->bound_streams, (double)e->makespan_ms / (double)e->bound_ms,
			e->window_max, e->window);
	if (e->makespan_ms && e->bound_link_ms && e->bound_link_ms < e->bound_ms)
		fprintf(f, "over the most the link carried (%.1f Mbit/s, streams together): bound "
			"%.1f s, ratio %.2f\n", e->link_bps / 1e6, e->bound_link_ms / 1000.0,
			(double)e->makespan_ms / (double)e->bound_link_ms);
	if (e->report[0])
		fprintf(f, "Report: %s\n", e->report);
	if (e->report_index[0])
		fprintf(f, "All reports: %s\n", e->report_index);
}

int evcli_exit_status(const struct evcli *e)
{
	if (e->error[0] || !e->ended)
		return EXIT_FAILED;
	if (e->dry_run)
		return e->unplaceable || e->pinned ? EXIT_FAILED : EXIT_OK;
	if (e->undecided)
		return EXIT_UNDECIDED;
	if (e->host_empty)
		return EXIT_OK;
	if (!strcmp(e->end_state, "cancelled"))
		return EXIT_ABORTED;
	return EXIT_FAILED;
}

int evcli_connect(void)
{
	const char *path = getenv("MIGR_CONTROL_SOCKET");
	struct sockaddr_un a;
	int fd;

	if (!path || !path[0])
		path = MIGR_CONTROL_SOCKET;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= w;
	}
	return 0;
}

int evcli_send(int fd, const char *json)
{
	int rc = write_all(fd, json, strlen(json));

	return rc ? rc : write_all(fd, "\n", 1);
}

int evcli_read_line(int fd, struct evcli_reader *r, char *line, size_t len)
{
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		ssize_t k;

		if (nl) {
			size_t n = nl - r->buf;

			snprintf(line, len, "%.*s", (int)n, r->buf);
			memmove(r->buf, nl + 1, r->len - n - 1);
			r->len -= n + 1;
			return 1;
		}
		if (r->len == sizeof(r->buf))
			r->len = 0;        /* an over-long line: drop it */
		k = read(fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (k < 0 && errno == EINTR)
			return -EINTR;
		if (k < 0)
			return -errno;
		if (k == 0)
			return 0;
		r->len += k;
	}
}

void evcli_json_str(char *out, size_t cap, const char *s)
{
	size_t o = strlen(out);

	if (o + 2 >= cap)
		return;
	out[o++] = '"';
	for (; *s && o + 8 < cap; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = c;
		} else if (c < 0x20 || c > 0x7e) {
			o += snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = c;
		}
	}
	out[o++] = '"';
	out[o] = 0;
}
