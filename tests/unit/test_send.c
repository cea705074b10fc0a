/*
 * test_send.c: both migration drivers end to end over a socketpair, on two fake
 * hypervisors (migr/hv.h): success, every back-out, the undecided end and its resolution,
 * xl's pipe protocol in both directions between migr's own ends, and the refusals that
 * must leave the guest untouched.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <string.h>

#include "libmigr.h"
#include "../../libmigr/fwd_mig.h"
#include "../fakes/fakes.h"
#include "unit.h"

static char record_dir[64], src_dir[80];
/* the target host's records of its own migrations out (their histories go to the source in
 * PREFLIGHT_REPLY) */
static char peer_dir[80];
static struct migr_fault_set fs_after_ready, fs_before_done;

struct target {
	struct migr_hv_fake *hv;
	struct migr_conn *c;
	struct migr_recv_params p;
	struct migr_recv_result res;
	bool xl;
	int rc;
};

static void *target_main(void *arg)
{
	struct target *t = arg;

	if (t->xl)
		t->rc = migr_receive_xl(&t->hv->hv, t->c, &t->p, &t->res);
	else
		t->rc = migr_receive(&t->hv->hv, t->c, &t->p, &t->res);
	migr_conn_close(t->c);
	t->c = NULL;
	return NULL;
}

struct run {
	struct migr_hv_fake *src, *dst;
	struct target t;
	struct migr_result res;
	struct migr_send_params sp;
	uint32_t domid;
	int rc;
	unsigned int progress_calls, round_ends;
	unsigned int in_round, in_cb, overlaps;   /* reports inside a round; reports now and
	                                             seen to overlap another */
	uint64_t in_round_bytes;                  /* wire bytes of the last one */
	unsigned int peeks_round0;                /* the source's PEEKs when round 0 ended */
	/* the commit fenced by etcd: the source's etcd, the target's (the same one, or
	 * another to cut the target off), and a lever pulled once the source reaches a phase */
	struct migr_etcd_fake *etcd_src, *etcd_dst;
	enum migr_phase lever_phase;
	void (*lever)(struct run *r);
};

static void on_progress(const struct migr_progress *p, void *arg)
{
	struct run *r = arg;

	if (__atomic_add_fetch(&r->in_cb, 1, __ATOMIC_SEQ_CST) > 1)
		__atomic_add_fetch(&r->overlaps, 1, __ATOMIC_SEQ_CST);
	usleep(200);
	__atomic_sub_fetch(&r->in_cb, 1, __ATOMIC_SEQ_CST);
	r->progress_calls++;
	if (p->round_end && p->round == 1)
		r->peeks_round0 = r->src->peeks;
	if (p->in_round) {
		CHECK_EQ(p->phase, MIGR_PHASE_PRECOPY);
		CHECK(!p->round_end && !p->decision);
		r->in_round++;
		r->in_round_bytes = p->wire_bytes;
	}
	if (getenv("TEST_SEND_DEBUG")) {
		static char log[65536];
		static size_t off;
		if (off < sizeof(log) - 200)
			off += snprintf(log + off, sizeof(log) - off,
					"progress %s round %u end %d bytes %llu us %llu el %llu dec %d %s bw %llu\n",
					migr_phase_name(p->phase), p->round, p->round_end,
					(unsigned long long)p->round_bytes, (unsigned long long)p->round_us,
					(unsigned long long)p->elapsed_us, p->decision,
					migr_policy_reason_name(p->reason), (unsigned long long)p->bandwidth_Bps);
		if (p->phase == MIGR_PHASE_DONE || p->phase == MIGR_PHASE_ABORTED) {
			fputs(log, stderr);
			off = 0;
		}
	}
	r->round_ends += p->round_end;
	if (r->lever && p->phase == r->lever_phase) {
		r->lever(r);
		r->lever = NULL;
	}
}

static void setup(struct run *r, enum migr_guest_type type, uint64_t pages, uint64_t dirty,
		  uint64_t dst_free_kib)
{
	memset(r, 0, sizeof(*r));
	CHECK_EQ(migr_hv_fake_new(1 << 30, &r->src), 0);
	CHECK_EQ(migr_hv_fake_new(dst_free_kib, &r->dst), 0);
	r->domid = migr_hv_fake_add(r->src, "guest1", type, pages, dirty);
	migr_send_params_init(&r->sp);
	r->sp.progress = on_progress;
	r->sp.progress_arg = r;
	r->sp.peek_interval_ms = 1;
	r->sp.record_dir = src_dir;
	r->t.hv = r->dst;
	r->t.p.record_dir = record_dir;
	r->t.p.src_record_dir = peer_dir;
}

/* Runs one migration; the source in this thread, the target in another. */
static void run(struct run *r, bool xl)
{
	struct migr_conn *sc = NULL;
	pthread_t th;
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(migr_conn_from_fds(sv[0], sv[0], NULL, &sc), 0);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], NULL, &r->t.c), 0);
	r->t.xl = xl;
	CHECK_EQ(pthread_create(&th, NULL, target_main, &r->t), 0);
	if (xl)
		r->rc = migr_migrate_xl(&r->src->hv, r->domid, sc, &r->sp, &r->res);
	else
		r->rc = migr_migrate(&r->src->hv, r->domid, sc, &r->sp, &r->res);
	migr_conn_close(sc);
	pthread_join(th, NULL);
}

static void teardown(struct run *r)
{
	migr_hv_close(&r->src->hv);
	migr_hv_close(&r->dst->hv);
}

/* The guest runs on the source, untouched or resumed, under its own name; nothing on the
 * target. */
static void check_on_source(struct run *r, unsigned int resumes)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(r->src, r->domid);

	CHECK(d != NULL);
	if (!d)
		return;
	CHECK_STR(d->info.name, "guest1");
	CHECK(!d->info.shutdown);
	CHECK(!d->info.paused);
	CHECK_EQ(d->resumes, resumes);
	CHECK_EQ(migr_hv_fake_count(r->dst), 0);
}

static void check_on_target(struct run *r)
{
	uint32_t id;

	CHECK_EQ(migr_hv_fake_count(r->src), 0);
	CHECK_EQ(migr_hv_fake_count(r->dst), 1);
	CHECK_EQ(r->dst->hv.ops->domain_find(&r->dst->hv, "guest1", &id), 0);
	struct migr_fake_dom *d = migr_hv_fake_dom(r->dst, id);
	CHECK(d && !d->info.paused && !d->info.shutdown);
}

static void test_success(bool xl, enum migr_guest_type type)
{
	struct run r;

	setup(&r, type, 4096, 64, 1 << 30);
	if (type == MIGR_GUEST_PV)
		r.src->host.cap_shadow = true;
	/* More than the whole restore tail can take: the source caps it to the tail. */
	r.dst->devices_us = 3600ull * 1000000;
	r.dst->net_back_us = 1234567;
	run(&r, xl);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.t.rc, 0);
	CHECK_EQ(r.res.phase, MIGR_PHASE_DONE);
	CHECK_EQ(r.t.res.phase, MIGR_PHASE_DONE);
	check_on_target(&r);
	/* announced on its bridges: once before DONE, four more rounds after it */
	CHECK_EQ(r.dst->announces, 5);
	CHECK_EQ(r.t.res.announced, 4);
	/* the restore's bookkeeping once, after DONE and every announcement */
	CHECK_EQ(r.dst->settles, 1);
	CHECK_EQ(r.dst->announces_at_settle, 5);
	/* network back, from the target's settle: to the source over migr's protocol only */
	CHECK_EQ(r.t.res.net_back_us, 1234567);
	CHECK_EQ(r.t.res.first_frame_us, 1235567);
	CHECK_EQ(r.t.res.vifs_connected, 1);
	if (!xl) {
		CHECK_EQ(r.res.net_back_us, 1234567);
		CHECK_EQ(r.res.first_frame_us, 1235567);
		CHECK_EQ(r.res.vifs, 1);
		CHECK_EQ(r.res.vifs_connected, 1);
	}
	CHECK(r.res.rounds >= 1);
	CHECK_EQ(r.round_ends, r.res.rounds);
	CHECK(r.progress_calls > r.res.rounds);
	/* every byte the source streamed, the target's restore consumed */
	CHECK_EQ(r.res.stream_bytes, r.dst->stream_bytes_read);
	CHECK(r.res.pages_live >= 4096);
	CHECK(r.res.blackout_us > 0);
	CHECK(r.res.blackout_us >= r.res.suspend_us + r.res.final_send_us);
	if (!xl) {
		struct migr_record rec;
		struct migr_id id;

		/* the target's device set-up reaches the source's summary through READY */
		CHECK_EQ(r.t.res.devices_us, 3600ull * 1000000);
		CHECK(r.res.devices_us > 0);
		CHECK_EQ(r.res.devices_us, r.res.restore_tail_us);
		CHECK_EQ(migr_id_from_hex(r.res.id, &id), 0);
		CHECK_EQ(migr_record_read(record_dir, &id, &rec), 0);
		CHECK_EQ(rec.outcome, MIGR_OUTCOME_RUNNING);
		CHECK_STR(r.t.res.id, r.res.id);
	}
	teardown(&r);
}

/* The target's xenconsoled logs guests: the console log it opened under the temporary
 * name during the restore is the guest's own after the migration, appended to the log of
 * an earlier life of the guest here; the guest's console goes on into it. */
static void test_console_log(bool xl)
{
	char cdir[128], path[192], buf[256] = "";
	struct run r;
	uint32_t id;
	FILE *f;

	snprintf(cdir, sizeof(cdir), "%s/console", record_dir);
	mkdir(record_dir, 0700);
	CHECK(mkdir(cdir, 0700) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/guest-guest1.log", cdir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("earlier life\n", f);
		fclose(f);
	}
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.dst->consoled_dir = cdir;
	r.dst->consoled_guest_logs = true;
	run(&r, xl);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.t.rc, 0);
	CHECK_EQ(r.dst->consoled_reopens, 1);
	CHECK_EQ(r.dst->hv.ops->domain_find(&r.dst->hv, "guest1", &id), 0);
	CHECK_EQ(migr_hv_fake_console(r.dst, id, "runs here\n"), 0);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f) {
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = 0;
		fclose(f);
	}
	CHECK_STR(buf, "earlier life\nruns here\n");
	snprintf(path, sizeof(path), "%s/guest-guest1--incoming.log", cdir);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	teardown(&r);
	snprintf(path, sizeof(path), "rm -rf %s", cdir);
	CHECK_EQ(system(path), 0);
}

/* The target's restore history: the median of its valid lines reaches the source in
 * PREFLIGHT_REPLY and becomes part of the policy's fixed cost; the reception appends its
 * own figure and keeps the last five. */
/* Compression asked for: both drivers over protocol version 4, the stream crosses in
 * CDATA frames (the fake's pages are one byte repeated) and the restore reads every byte;
 * the result says how much was sent compressed and saved. */
static void test_compressed(enum migr_compress mode)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.sp.compress = mode;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.t.rc, 0);
	CHECK_EQ(r.res.stream_bytes, r.dst->stream_bytes_read);
	CHECK_EQ(r.res.compress, mode);
	if (mode == MIGR_COMPRESS_ON) {
		CHECK(r.res.compressed_bytes > r.res.stream_bytes / 2);
		CHECK(r.res.compress_saved_bytes > r.res.compressed_bytes / 2);
		CHECK(r.res.wire_bytes < r.res.stream_bytes / 2);
	} else {
		CHECK_EQ(r.res.compressed_bytes, 0);
		CHECK_EQ(r.res.compress_saved_bytes, 0);
		CHECK(r.res.wire_bytes > r.res.stream_bytes);
	}
	CHECK(r.res.compressed_bytes <= r.res.stream_bytes);
	/* the target counts the same from its end */
	CHECK_EQ(r.t.res.compressed_bytes, r.res.compressed_bytes);
	CHECK_EQ(r.t.res.compress_saved_bytes, r.res.compress_saved_bytes);
	CHECK_EQ(r.t.res.zero_bytes, r.res.zero_bytes);
	CHECK(r.t.res.wire_bytes > 0);
	teardown(&r);
}

static void test_restore_hint(void)
{
	char path[128], buf[256];
	struct run r;
	FILE *f;
	size_t n;
	unsigned lines = 0;
	unsigned long long last = 0;

	snprintf(path, sizeof(path), "%s/restore-history", record_dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("5000000\n900000\nbogus\n0\n99999999999999\n1100000\n1000000\n1200000\n"
	      "800000\n", f);
	fclose(f);
	/* valid, the last five: 900000 1100000 1000000 1200000 800000 -> median 1000000 */
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.restore_hint_us, 1000000);
	/* the hint, and the handshake as estimated (this host's own history by now) */
	CHECK(r.res.fixed_handshake_us > 0);
	CHECK(r.res.predicted_blackout_us >= 1000000 + r.res.fixed_handshake_us);
	teardown(&r);
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
			lines++;
			last = strtoull(l, NULL, 10);
		}
	}
	CHECK_EQ(lines, 5);
	CHECK(last > 0 && last == r.t.res.restore_us + r.t.res.unpause_us);
	unlink(path);
}

/*
 * A target with no restore history gives no hint: the source takes the blackout's fixed
 * part from its own last migrations (blackout less final send, in blackout-history beside
 * its records) when that is larger than the policy's default.
 */
static void test_own_hint(void)
{
	char tpath[128], spath[128], fpath[128], hpath[128];
	struct run r;
	uint64_t first, first_suspend, first_handshake;
	bool had_final;

	snprintf(fpath, sizeof(fpath), "%s/final-send-history", src_dir);
	unlink(fpath);
	snprintf(hpath, sizeof(hpath), "%s/handshake-history", src_dir);
	unlink(hpath);
	snprintf(tpath, sizeof(tpath), "%s/restore-history", record_dir);
	snprintf(spath, sizeof(spath), "%s/suspend-history", src_dir);
	unlink(spath);                          /* earlier tests' suspends */
	snprintf(spath, sizeof(spath), "%s/blackout-history", src_dir);
	unlink(tpath);
	unlink(spath);
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.dst->restore_delay_ms = 300;          /* a restore tail the default knows nothing of */
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.restore_hint_us, 0);
	CHECK_EQ(r.res.own_hint_us, 0);
	/* nothing measured on either side: the target's estimate for a guest without devices
	 * (the lab's base), the lab's suspend, final send and handshake */
	CHECK_EQ(r.res.fixed_restore_from, MIGR_FIXED_TARGET_ESTIMATE);
	CHECK_EQ(r.res.fixed_suspend_from, MIGR_FIXED_DEFAULT);
	CHECK_EQ(r.res.fixed_final_from, MIGR_FIXED_DEFAULT);
	CHECK_EQ(r.res.fixed_handshake_from, MIGR_FIXED_DEFAULT);
	CHECK_EQ(r.res.restore_estimate_us, 400000);
	CHECK_EQ(r.res.fixed_us, 900000);
	CHECK(r.res.predicted_blackout_us >= 900000);
	CHECK_EQ(r.res.blackout_error_us,
		 (int64_t)r.res.blackout_us - (int64_t)r.res.predicted_blackout_us);
	CHECK(r.res.blackout_us >= 300000);
	first = r.res.blackout_us - r.res.final_send_us;
	first_suspend = r.res.suspend_us;
	first_handshake = r.res.handshake_us;
	teardown(&r);
	CHECK(access(spath, F_OK) == 0);
	CHECK(!first_handshake || access(hpath, F_OK) == 0);
	/* a final send longer than its pages' part is remembered (the fake's may not be) */
	had_final = access(fpath, F_OK) == 0;
	CHECK(!had_final || r.res.final_send_us > r.res.predicted_blackout_us - r.res.fixed_us);
	unlink(tpath);                          /* the next target knows nothing either */

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.restore_hint_us, 0);
	CHECK_EQ(r.res.own_hint_us, first);
	CHECK_EQ(r.res.fixed_restore_from, MIGR_FIXED_OWN_BLACKOUTS);
	/* the first one's suspend, if the fake's took a measurable time, and its final send */
	CHECK_EQ(r.res.fixed_suspend_from, first_suspend ? MIGR_FIXED_HISTORY : MIGR_FIXED_DEFAULT);
	CHECK_EQ(r.res.fixed_final_from, had_final ? MIGR_FIXED_HISTORY : MIGR_FIXED_DEFAULT);
	/* the first one's handshake (blackout less its parts), as it was measured */
	CHECK_EQ(r.res.fixed_handshake_from, first_handshake ? MIGR_FIXED_HISTORY :
		 MIGR_FIXED_DEFAULT);
	if (first_handshake)
		CHECK_EQ(r.res.fixed_handshake_us, first_handshake);
	CHECK(r.res.predicted_blackout_us >= first);
	fprintf(stderr, "own hint: first blackout less its final send %.1f ms, the next "
		"migration predicted %.1f ms\n", first / 1000.0, r.res.predicted_blackout_us / 1000.0);
	teardown(&r);
	unlink(tpath);
	unlink(spath);

	/* stock xl at the other end says nothing: this host's own estimate from the config */
	snprintf(spath, sizeof(spath), "%s/suspend-history", src_dir);
	unlink(spath);
	snprintf(spath, sizeof(spath), "%s/blackout-history", src_dir);
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	run(&r, true);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.fixed_restore_from, MIGR_FIXED_OWN_ESTIMATE);
	CHECK_EQ(r.res.restore_estimate_us, 400000);
	teardown(&r);
	unlink(spath);
	snprintf(spath, sizeof(spath), "%s/suspend-history", src_dir);
	unlink(spath);
	unlink(tpath);
	unlink(fpath);
	unlink(hpath);
}

/* A source with no figures of its own takes the target's, from the target's own migrations
 * out (PREFLIGHT_REPLY); its own, once it has them, come first. */
static void test_peer_hint(void)
{
	static const char *const names[] = { "suspend-history", "final-send-history",
					     "handshake-history", "blackout-history" };
	char path[160];
	struct run r;

	for (unsigned int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", src_dir, names[i]);
		unlink(path);
	}
	mkdir(record_dir, 0700);
	CHECK(mkdir(peer_dir, 0700) == 0 || errno == EEXIST);
	unit_write_file(peer_dir, "suspend-history", "400000\n700000\n650000\n");
	unit_write_file(peer_dir, "final-send-history", "90000\n");
	unit_write_file(peer_dir, "handshake-history", "250000\n310000\n");
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.fixed_suspend_from, MIGR_FIXED_PEER_HISTORY);
	CHECK_EQ(r.res.fixed_suspend_us, 650000);              /* the median */
	CHECK_EQ(r.res.fixed_final_from, MIGR_FIXED_PEER_HISTORY);
	CHECK_EQ(r.res.fixed_final_us, 90000);
	CHECK_EQ(r.res.fixed_handshake_from, MIGR_FIXED_PEER_HISTORY);
	CHECK_EQ(r.res.fixed_handshake_us, 280000);
	CHECK(r.res.fixed_us >= 650000 + 90000 + 280000);
	teardown(&r);

	/* stock xl at the other end gives none: the lab's figures, or this host's own */
	for (unsigned int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", src_dir, names[i]);
		unlink(path);
	}
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	run(&r, true);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.fixed_suspend_from, MIGR_FIXED_DEFAULT);
	CHECK_EQ(r.res.fixed_handshake_from, MIGR_FIXED_DEFAULT);
	teardown(&r);

	/* this host's own suspends come before the target's */
	for (unsigned int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", src_dir, names[i]);
		unlink(path);
	}
	unit_write_file(src_dir, "suspend-history", "120000\n");
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.fixed_suspend_from, MIGR_FIXED_HISTORY);
	CHECK_EQ(r.res.fixed_suspend_us, 120000);
	CHECK_EQ(r.res.fixed_handshake_from, MIGR_FIXED_PEER_HISTORY);
	teardown(&r);

	for (unsigned int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", src_dir, names[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", peer_dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/restore-history", record_dir);
	unlink(path);
}

/* Concurrent receptions share a claim on free memory: memory another incoming guest has
 * been promised is not free for this one; a finished reception gives its claim back. */
static void test_claims(void)
{
	struct migr_recv_claims claims = MIGR_RECV_CLAIMS_INIT;
	struct run r;

	/* guest1 has 4096 pages = 16 MiB; the target 40 MiB, of which 30 are claimed */
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 40 << 10);
	claims.claimed_kib = 30 << 10;
	r.t.p.claims = &claims;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK(strstr(r.res.state_text, "memory") != NULL);
	CHECK_EQ(claims.claimed_kib, 30 << 10);      /* a refusal claims nothing */
	check_on_source(&r, 0);
	teardown(&r);

	/* the same with 20 MiB claimed: it fits, and the claim is given back */
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 40 << 10);
	claims.claimed_kib = 20 << 10;
	r.t.p.claims = &claims;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(claims.claimed_kib, 20 << 10);
	check_on_target(&r);
	teardown(&r);
}

/* A domain of the guest's name on the target is a clash; its NAME--incoming alone (a
 * reception running, or a backed-out copy being removed) is busy: worth trying again. */
static void test_name_refusals(void)
{
	static const struct { const char *there; uint32_t code; const char *text; } c[] = {
		{ "guest1", MIGR_REFUSE_NAME_CLASH, "name clash" },
		{ "guest1--incoming", MIGR_REFUSE_BUSY, "busy" },
	};
	struct run r;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
		uint32_t there = migr_hv_fake_add(r.dst, c[i].there, MIGR_GUEST_PVH, 64, 0);

		run(&r, false);
		CHECK_EQ(r.rc, -MIGR_E_ABORTED);
		CHECK_EQ(r.res.refused, c[i].code);
		CHECK(strstr(r.res.state_text, c[i].text) != NULL);
		CHECK_EQ(migr_hv_fake_count(r.dst), 1);    /* the target's own, untouched */
		CHECK_EQ(r.dst->hv.ops->destroy(&r.dst->hv, there), 0);
		check_on_source(&r, 0);
		teardown(&r);
	}
}

/*
 * A PVH or HVM guest's p2m spans the holes below 4 GiB: libxenguest's first N is its size
 * (1,044,480 for a 128 MiB PVH guest), far more than the pages the guest has. The guest's
 * size, for the policy and the figures, is its allocation; round 0 counts those pages.
 */
static void test_p2m_holes(void)
{
	struct run r;
	struct migr_fake_dom *d;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	d = migr_hv_fake_dom(r.src, r.domid);
	CHECK(d != NULL);
	if (d)
		d->info.mem_kib = 1024 * 4;      /* 1024 pages populated, a p2m of 4096 */
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.guest_pages, 1024);
	CHECK(r.res.pages_live >= 1024 && r.res.pages_live < 4096);
	fprintf(stderr, "p2m of 4096 entries, 1024 pages: guest_pages %llu, pages live %llu in "
		"%u rounds\n", (unsigned long long)r.res.guest_pages,
		(unsigned long long)r.res.pages_live, r.res.rounds);
	teardown(&r);
}

static void test_target_lacks_memory(void)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1024);   /* guest needs 16 MiB, target has 1 */
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	CHECK(strstr(r.res.state_text, "memory") != NULL);
	CHECK_EQ(r.res.rounds, 0);
	check_on_source(&r, 0);
	teardown(&r);
}

/* A configuration asking for a dom0 disk: refused by the target's rules before anything
 * is created there; the guest stays on the source, untouched. The target names the field
 * in its result; over migr's protocol (version 2: CONFIG goes with PREFLIGHT) the source
 * hears it in PREFLIGHT_REPLY before pre-copy starts. xl's protocol carries no reason. */
static void test_config_refused(bool xl)
{
	struct run r;
	struct migr_fake_dom *d;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	d = migr_hv_fake_dom(r.src, r.domid);
	free(d->config_json);
	d->config_json = strdup("{\"c_info\":{\"type\":\"pvh\",\"name\":\"guest1\"},"
				"\"b_info\":{\"max_memkb\":16384,\"type.pvh\":{}},\"disks\":"
				"[{\"pdev_path\":\"/dev/sda\",\"vdev\":\"xvda\",\"format\":\"raw\"}]}");
	run(&r, xl);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	CHECK(strstr(r.t.res.state_text, "disks[0].pdev_path \"/dev/sda\"") != NULL);
	CHECK_EQ(r.t.res.stream_bytes, 0);
	if (!xl) {
		CHECK(strstr(r.res.state_text, "target refused") != NULL);
		CHECK(strstr(r.res.state_text, "disks[0].pdev_path") != NULL);
		CHECK_EQ(r.res.rounds, 0);
		check_on_source(&r, 0);
	} else {
		check_on_source(&r, d->resumes);   /* resumed if refused after its suspend */
	}
	teardown(&r);
}

static void test_suspend_fails(bool xl)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.src->faults.suspend_fails = 1;
	run(&r, xl);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	CHECK(strstr(r.res.state_text, "suspend") != NULL);
	/* the target is told why, not just an errno */
	if (!xl)
		CHECK(strstr(r.t.res.state_text, "the guest did not suspend") != NULL);
	check_on_source(&r, 0);
	teardown(&r);
}

static void test_save_fails_midstream(void)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 4000, 1 << 30);
	r.src->faults.save_fail_at_round = 0;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	check_on_source(&r, 0);
	teardown(&r);
}

static void test_restore_fails(bool xl)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.dst->faults.restore_fails = 1;
	run(&r, xl);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	check_on_source(&r, 1);   /* it was suspended, then resumed */
	teardown(&r);
}

static void test_unpause_fails(bool xl)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.dst->faults.unpause_fails = 1;
	run(&r, xl);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	check_on_source(&r, 1);
	CHECK_EQ(r.dst->settles, 0);   /* nothing to settle for a copy destroyed */
	teardown(&r);
}

static void test_abort_after_ready(bool xl)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.sp.faults = &fs_after_ready;
	run(&r, xl);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	check_on_source(&r, 1);
	teardown(&r);
}

/* READY goes as soon as the whole stream is in and GO comes back while the target's
 * restore finishes (its tail): the final handshake adds no round trip to the blackout. */
static void test_handshake_during_tail(void)
{
	struct migr_record rec;
	struct migr_id id;
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.dst->restore_delay_ms = 300;
	r.dst->devices_us = 200000;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	check_on_target(&r);
	/* GO went before the tail ended, so the source waited the tail out for DONE (sent
	 * after the restore, GO would be answered within the unpause) */
	CHECK(r.res.done_wait_us >= 250000);
	CHECK(r.t.res.unpause_us < 250000);
	/* READY had no restore figures; DONE brought them */
	CHECK(r.res.restore_tail_us >= 200000);   /* DATA_END comes just after the restore read END */
	CHECK_EQ(r.res.devices_us, 200000);
	if (r.res.blackout_us < r.res.suspend_us + r.res.final_send_us + r.res.restore_tail_us)
		fprintf(stderr, "blackout %llu suspend %llu final %llu tail %llu\n",
			(unsigned long long)r.res.blackout_us, (unsigned long long)r.res.suspend_us,
			(unsigned long long)r.res.final_send_us,
			(unsigned long long)r.res.restore_tail_us);
	CHECK_EQ(migr_id_from_hex(r.res.id, &id), 0);
	CHECK_EQ(migr_record_read(record_dir, &id, &rec), 0);
	CHECK_EQ(rec.outcome, MIGR_OUTCOME_RUNNING);
	teardown(&r);
}

/* The restore fails in its tail, after READY and GO: the target says so (ABORT), so the
 * source knows the guest will not run there and resumes it; the record says destroyed. */
static void test_tail_fails_after_go(void)
{
	struct migr_record rec;
	struct migr_id id;
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.dst->restore_delay_ms = 200;
	r.dst->faults.restore_fails = 1;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	CHECK(strstr(r.res.state_text, "target failed after GO") != NULL);
	check_on_source(&r, 1);
	CHECK_EQ(migr_id_from_hex(r.res.id, &id), 0);
	CHECK_EQ(migr_record_read(record_dir, &id, &rec), 0);
	CHECK_EQ(rec.outcome, MIGR_OUTCOME_DESTROYED);
	teardown(&r);
}

/* The source aborts after READY while the target's restore is still in its tail: the
 * target lets the restore end, then destroys its copy. */
static void test_abort_during_tail(void)
{
	struct migr_record rec;
	struct migr_id id;
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.dst->restore_delay_ms = 200;
	r.sp.faults = &fs_after_ready;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	CHECK(strstr(r.t.res.state_text, "aborted") != NULL);
	check_on_source(&r, 1);
	CHECK_EQ(migr_id_from_hex(r.res.id, &id), 0);
	CHECK_EQ(migr_record_read(record_dir, &id, &rec), 0);
	CHECK_EQ(rec.outcome, MIGR_OUTCOME_DESTROYED);
	teardown(&r);
}

static void test_pv_without_shadow(void)
{
	struct run r;

	setup(&r, MIGR_GUEST_PV, 4096, 64, 1 << 30);
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_UNSUPPORTED);
	CHECK(strstr(r.res.state_text, "shadow") != NULL);
	CHECK_EQ(r.res.rounds, 0);
	check_on_source(&r, 0);
	teardown(&r);
}

/* A round 0 of 2.5 s: progress comes from inside it (once a second, with the bytes moved
 * so far), never two reports at once; rounds under a second have none. */
static void test_progress_in_round(void)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 2048, 64, 1 << 30);
	r.src->payload_bytes_per_page = r.dst->payload_bytes_per_page = 4096;
	r.src->round0_ms = 2500;
	r.sp.peek_interval_ms = 50;   /* the default */
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK(r.in_round >= 2 && r.in_round <= 3);
	CHECK(r.in_round_bytes > 0 && r.in_round_bytes < 2048u * 4096u);
	CHECK_EQ(r.overlaps, 0);
	/* PEEKs: every 50 ms for the round's first 0.8 s, then every 1/16 of its age (some
	 * 35 in 2.5 s, where a steady 50 ms takes 50) */
	CHECK(r.peeks_round0 >= 10 && r.peeks_round0 <= 45);
	check_on_target(&r);
	printf("progress inside a round of 2.5 s: %u reports, the last at %llu wire bytes; "
	       "%u PEEKs in it\n", r.in_round, (unsigned long long)r.in_round_bytes,
	       r.peeks_round0);
	teardown(&r);

	setup(&r, MIGR_GUEST_PVH, 2048, 64, 1 << 30);
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.in_round, 0);
	teardown(&r);
}

/* The CPU guard (libmigr/cpu_guard.c): a guest that ran at 80% of a CPU before and at 5%
 * through a round 0 of 2.5 s gets the sender paced (down to the minimum: the fake sender
 * takes almost no CPU); one that keeps its rate does not; with the guard off (a fixed
 * --cpu-share, or none) the guest's CPU is read and reported, and nothing paced. */
static void test_cpu_guard(void)
{
	struct run r;

	setup(&r, MIGR_GUEST_PVH, 2048, 64, 1 << 30);
	r.src->payload_bytes_per_page = r.dst->payload_bytes_per_page = 4096;
	r.src->round0_ms = 2500;
	r.src->run_pct = 80;
	r.src->precopy_run_pct = 5;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK(r.res.guard_looks >= 10);
	CHECK_EQ(r.res.guard_looks + 2, r.src->vcpu_looks);   /* and the two for the rate before */
	CHECK(r.res.guest_cpu_before_pct >= 75 && r.res.guest_cpu_before_pct <= 80);
	CHECK(r.res.guest_cpu_precopy_pct >= 4 && r.res.guest_cpu_precopy_pct <= 6);
	CHECK(r.res.cpu_share_min_pct >= 10 && r.res.cpu_share_min_pct < 100);
	check_on_target(&r);
	printf("CPU guard, a guest at 80%% of a CPU before and 5%% in pre-copy: %u looks, the "
	       "share down to %u%%, paced %.1f ms\n", r.res.guard_looks, r.res.cpu_share_min_pct,
	       r.res.cpu_paced_us / 1e3);
	teardown(&r);

	setup(&r, MIGR_GUEST_PVH, 2048, 64, 1 << 30);
	r.src->payload_bytes_per_page = r.dst->payload_bytes_per_page = 4096;
	r.src->round0_ms = 2500;
	r.src->run_pct = r.src->precopy_run_pct = 80;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK(r.res.guard_looks >= 10);
	CHECK(r.res.guest_cpu_precopy_pct >= 75 && r.res.guest_cpu_precopy_pct <= 81);
	CHECK_EQ(r.res.cpu_share_min_pct, 0);
	CHECK_EQ(r.res.cpu_paced_us, 0);
	teardown(&r);

	setup(&r, MIGR_GUEST_PVH, 2048, 64, 1 << 30);
	r.src->payload_bytes_per_page = r.dst->payload_bytes_per_page = 4096;
	r.src->round0_ms = 2500;
	r.src->run_pct = 80;
	r.src->precopy_run_pct = 5;
	r.sp.no_cpu_guard = true;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK(r.res.guard_looks >= 10);          /* it still reads, for the report */
	CHECK(r.res.guest_cpu_precopy_pct >= 4 && r.res.guest_cpu_precopy_pct <= 6);
	CHECK_EQ(r.res.cpu_share_min_pct, 0);    /* but never paces */
	CHECK_EQ(r.res.cpu_paced_us, 0);
	teardown(&r);

	/* a hypervisor without the readings: no guard, nothing reported */
	setup(&r, MIGR_GUEST_PVH, 2048, 64, 1 << 30);
	r.src->payload_bytes_per_page = r.dst->payload_bytes_per_page = 4096;
	r.src->round0_ms = 1500;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.res.guard_looks, 0);
	CHECK_EQ(r.res.guest_cpu_before_pct, 0);
	CHECK_EQ(r.res.cpu_share_min_pct, 0);
	teardown(&r);
}

static void test_policy_abort(void)
{
	struct run r;

	/* the guest dirties everything every round and the budget cannot be met */
	setup(&r, MIGR_GUEST_PVH, 2048, 2048, 1 << 30);
	r.src->payload_bytes_per_page = 4096;   /* enough bytes to measure a bandwidth */
	r.sp.policy.downtime_ms = 1;
	r.sp.policy.abort_over_budget = 1;
	r.sp.policy.max_total_ms = 1;
	r.sp.policy.on_timeout = MIGR_POLICY_TIMEOUT_ABORT;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	check_on_source(&r, 0);   /* never suspended */
	teardown(&r);
}

/* A guest that dirties everything every round, a budget no round can meet, throttling
 * allowed: the source caps the guest (the fake dirties in proportion to the CPU it keeps)
 * and the cap comes off on every outcome. */
static void throttle_setup(struct run *r)
{
	setup(r, MIGR_GUEST_PVH, 2048, 2048, 1 << 30);
	r->src->payload_bytes_per_page = r->dst->payload_bytes_per_page = 4096;
	r->sp.policy.downtime_ms = 1;
	/* The guest dirties its whole memory within 1 ms of a CLEAN, and the blackout's
	 * fixed part is below the budget: the pages are what is over budget, and slowing
	 * the guest is what can shrink them (the policy does not slow a guest for a blackout
	 * that its pages are only a small part of). */
	migr_hv_fake_dom(r->src, r->domid)->peek_full_us = 1000;
	r->sp.policy.blackout_fixed_us = 100;
	r->sp.policy.allow_throttle = 1;
	r->sp.policy.max_throttle_pct = 90;
	r->sp.policy.max_total_ms = 20000;
	r->sp.policy.on_timeout = MIGR_POLICY_TIMEOUT_STOP;
}

/* recovery's report of a record: what the throttle test reads */
static char unthrottled_said[256];
static void note_report(const struct migr_recover_report *rep, void *arg)
{
	(void)arg;
	snprintf(unthrottled_said, sizeof(unthrottled_said), "%s", rep->text);
}

static void test_throttle(void)
{
	struct migr_fault_set fs;
	struct migr_resolve_params rsp = { .record_dir = src_dir };
	struct migr_fake_dom *d;
	struct run r;
	uint32_t id;

	/* moves: it was throttled, and the copy on the target runs uncapped */
	throttle_setup(&r);
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK(r.res.throttle_max_pct > 0);
	check_on_target(&r);
	if (r.dst->hv.ops->domain_find(&r.dst->hv, "guest1", &id) == 0)
		CHECK_EQ(migr_hv_fake_dom(r.dst, id)->cap, 0);
	teardown(&r);

	/* backs out (the target's restore fails): back on the source, uncapped */
	throttle_setup(&r);
	r.dst->faults.restore_fails = 1;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	check_on_source(&r, 1);
	d = migr_hv_fake_dom(r.src, r.domid);
	CHECK(d && d->cap_max > 0 && d->cap_max < 100);
	CHECK(d && d->cap == 0);
	teardown(&r);

	/* the source dies throttled (a crash in pre-copy): the record keeps the cap it had,
	 * and recovery puts it back */
	throttle_setup(&r);
	CHECK_EQ(migr_fault_parse("precopy-round:crash=2", &fs, NULL, 0), 0);
	fs.crash_returns = true;
	r.sp.faults = &fs;
	migr_hv_fake_dom(r.src, r.domid)->cap = 150;   /* a cap of its own, kept */
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_CRASHED);
	d = migr_hv_fake_dom(r.src, r.domid);
	CHECK(d && d->cap_max > 0 && d->cap_max < 150);
	CHECK(d && d->cap != 150);
	unthrottled_said[0] = 0;
	migr_recover_source(&r.src->hv, &rsp, NULL, NULL, note_report);
	CHECK(d && d->cap == 150);
	CHECK(strstr(unthrottled_said, "the throttle was taken off (CPU cap 150 back)") != NULL);
	teardown(&r);
}

/* migr_resolve() on the source against a fresh receiver on the target's records. */
static int resolve_once(struct run *r, const char *id_hex, bool force, uint32_t *outcome_r,
			char *state, size_t statelen)
{
	struct migr_resolve_params rsp = { .record_dir = src_dir, .force_resume = force };
	struct migr_conn *sc = NULL;
	struct target t2;
	pthread_t th;
	int sv[2], rc;

	memset(&t2, 0, sizeof(t2));
	t2.hv = r->dst;
	t2.p.record_dir = record_dir;
	t2.p.src_record_dir = peer_dir;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(migr_conn_from_fds(sv[0], sv[0], NULL, &sc), 0);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], NULL, &t2.c), 0);
	CHECK_EQ(pthread_create(&th, NULL, target_main, &t2), 0);
	rc = migr_resolve(&r->src->hv, sc, id_hex, "guest1", &rsp, outcome_r, state, statelen);
	migr_conn_close(sc);
	pthread_join(th, NULL);
	return rc;
}

/* GO sent, then the source loses the connection: undecided; resolve asks the target. */
static void test_undecided_then_resolve(void)
{
	struct run r;
	uint32_t outcome = 99, id;
	char state[256];
	int rc;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.sp.faults = &fs_before_done;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_UNDECIDED);
	CHECK_EQ(r.res.phase, MIGR_PHASE_UNDECIDED);
	/* the source keeps its suspended copy, renamed away; the target runs the guest */
	CHECK_EQ(r.src->hv.ops->domain_find(&r.src->hv, "guest1--migratedaway", &id), 0);
	CHECK(migr_hv_fake_dom(r.src, id)->info.shutdown);
	CHECK_EQ(migr_hv_fake_count(r.dst), 1);

	rc = resolve_once(&r, r.res.id, false, &outcome, state, sizeof(state));
	CHECK_EQ(rc, 0);
	CHECK_EQ(outcome, MIGR_OUTCOME_RUNNING);
	CHECK_EQ(migr_hv_fake_count(r.src), 0);   /* the suspended copy is gone */
	check_on_target(&r);
	teardown(&r);
}

/* A resolve for an id the target never heard of proves nothing: the source keeps its
 * suspended copy (it resumes it only at the operator's word, --force-resume). */
static void test_resolve_unknown(void)
{
	struct run r;
	uint32_t outcome = 99, domid;
	struct migr_id id;
	char hex[MIGR_ID_HEX], state[256];
	int rc;

	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.src->hv.ops->suspend(&r.src->hv, r.domid, 1000);
	r.src->hv.ops->rename(&r.src->hv, r.domid, "guest1", "guest1--migratedaway");
	CHECK_EQ(migr_id_new(&id), 0);
	migr_id_to_hex(&id, hex);
	for (int force = 0; force < 2; force++) {
		rc = resolve_once(&r, hex, force, &outcome, state, sizeof(state));
		CHECK_EQ(outcome, MIGR_OUTCOME_UNKNOWN);
		if (!force) {
			CHECK_EQ(rc, -MIGR_E_UNDECIDED);
			CHECK(strstr(state, "cannot tell") != NULL);
			CHECK_EQ(r.src->hv.ops->domain_find(&r.src->hv, "guest1--migratedaway",
							   &domid), 0);
			CHECK(migr_hv_fake_dom(r.src, r.domid)->info.shutdown);
		} else {
			CHECK_EQ(rc, 0);
		}
	}
	check_on_source(&r, 1);
	teardown(&r);
}

static void test_framing(void)
{
	uint8_t *buf = NULL, hdr[MIGR_XL_HDR_LEN];
	size_t len = 0;
	uint32_t optlen = 0;
	char *json = NULL;
	const char cfg[] = "{\"c_info\":{}}";
	int pfd[2];
	uint8_t b[32];

	/* libxl v2 header: big-endian ident, version 2, options 0; then LIBXC_CONTEXT, END */
	CHECK_EQ(pipe(pfd), 0);
	CHECK_EQ(migr_libxl_stream_begin(pfd[1]), 0);
	CHECK_EQ(migr_libxl_stream_end(pfd[1]), 0);
	CHECK_EQ(read(pfd[0], b, 32), 32);
	CHECK(!memcmp(b, "LibxlFmt\0\0\0\2\0\0\0\0", 16));
	CHECK(!memcmp(b + 16, "\1\0\0\0\0\0\0\0", 8));
	CHECK(!memcmp(b + 24, "\0\0\0\0\0\0\0\0", 8));
	close(pfd[0]);
	close(pfd[1]);

	/* xl's header round trip, and the hostile cases */
	CHECK_EQ(migr_xl_header_encode(cfg, sizeof(cfg), &buf, &len), 0);
	CHECK_EQ(len, MIGR_XL_HDR_LEN + 4 + sizeof(cfg));
	memcpy(hdr, buf, sizeof(hdr));
	CHECK_EQ(migr_xl_header_check(hdr, &optlen), 0);
	CHECK_EQ(optlen, 4 + sizeof(cfg));
	CHECK_EQ(migr_xl_optdata_config(buf + MIGR_XL_HDR_LEN, optlen, &json), 0);
	CHECK_STR(json, cfg);
	free(json);
	json = NULL;
	buf[MIGR_XL_HDR_LEN + 4 + 3] = '\0';   /* NUL inside the config */
	CHECK_EQ(migr_xl_optdata_config(buf + MIGR_XL_HDR_LEN, optlen, &json), -MIGR_E_PROTO);
	buf[MIGR_XL_HDR_LEN] = 0xff;           /* config length beyond the data */
	CHECK_EQ(migr_xl_optdata_config(buf + MIGR_XL_HDR_LEN, optlen, &json), -MIGR_E_PROTO);
	hdr[0] = 'y';
	CHECK_EQ(migr_xl_header_check(hdr, &optlen), -MIGR_E_PROTO);
	hdr[0] = 'X';
	hdr[36] |= 0x80;                       /* unknown mandatory flag */
	CHECK_EQ(migr_xl_header_check(hdr, &optlen), -MIGR_E_PROTO);
	hdr[36] = 1;                           /* JSON but no STREAMv2: legacy stream */
	CHECK_EQ(migr_xl_header_check(hdr, &optlen), -MIGR_E_UNSUPPORTED);
	hdr[36] = 3;
	memset(hdr + 44, 0xff, 4);             /* huge optional data */
	CHECK_EQ(migr_xl_header_check(hdr, &optlen), -MIGR_E_PROTO);
	free(buf);

	CHECK(migr_domname_ok("guest1"));
	CHECK(!migr_domname_ok(""));
	CHECK(!migr_domname_ok("a/b"));
	CHECK(!migr_domname_ok("a b"));
	CHECK(!migr_domname_ok("Domain-0"));
	CHECK(!migr_domname_ok("0123456789012345678901234567890123456789012345678901234"));
}

static void test_host_rules(void)
{
	struct migr_host_info h = { .cap_pv = true, .cap_hvm = true, .cap_hap = true };
	const char *why = NULL;

	CHECK_EQ(migr_hv_can_send(&h, MIGR_GUEST_PVH, &why), 0);
	CHECK_EQ(migr_hv_can_send(&h, MIGR_GUEST_PV, &why), -MIGR_E_UNSUPPORTED);
	CHECK(why && strstr(why, "CONFIG_SHADOW_PAGING"));
	h.cap_shadow = true;
	CHECK_EQ(migr_hv_can_send(&h, MIGR_GUEST_PV, &why), 0);
	CHECK_EQ(migr_hv_can_send(&h, MIGR_GUEST_HVM, &why), -MIGR_E_UNSUPPORTED);
	CHECK_EQ(migr_hv_can_receive(&h, MIGR_GUEST_PV, &why), 0);
	h.cap_pv = false;
	CHECK_EQ(migr_hv_can_receive(&h, MIGR_GUEST_PV, &why), -MIGR_E_UNSUPPORTED);
	CHECK_STR(migr_phase_name(MIGR_PHASE_GO), "go");
	CHECK_STR(migr_phase_name(MIGR_PHASE_RUNNING), "running");
}

/* At a daemon's start: a paused NAME--incoming no record speaks for is destroyed; a
 * running guest and an operator's paused guest are never touched. */
/* ---- forwarding in a migration, through the seam (fwd_mig.h) ---------------------- */

static struct {
	struct run *r;
	int src_starts, tgt_starts, releases, finishes, polls;
	bool src_suspended_at_start;     /* the source's guest was suspended when it started */
	bool tgt_paused_at_start;        /* the target's copy was still paused */
	unsigned int resumes_at_finish;  /* the source's resumes when its end was finished */
	bool released_before_finish;
	int fail_source;                 /* source start returns this */
	int fail_divert;                 /* the source's divert returns this */
	int diverts, starts_at_divert;
	bool suspended_at_divert;
	char src_dev[16], tgt_dev[16];
	unsigned int n_ipv4, n_ipv6;
	struct in_addr ipv4_0;
	int src_flags;
	int neigh_calls, neigh_rc;       /* neighbour-table lookups; what they return */
	bool tgt_copy_at_finish;         /* the target's copy still existed at its finish */
	int tgt_flags, tgt_lives;        /* the target's start flags; its live calls */
	bool tgt_restored_at_start;      /* the restore had ended when the target started */
	bool tgt_paused_at_live;         /* the target's copy was still paused when it went live */
} fw;
static int fw_src_obj, fw_tgt_obj;

static int fw_source_start(const struct migr_fwd_params *p, struct migr_fwd **f_r)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(fw.r->src, fw.r->domid);

	fw.src_starts++;
	fw.src_suspended_at_start = d && d->info.shutdown;
	snprintf(fw.src_dev, sizeof(fw.src_dev), "%s", p->nics[0].dev);
	fw.n_ipv4 = p->nics[0].n_ipv4;
	fw.n_ipv6 = p->nics[0].n_ipv6;
	if (fw.n_ipv4)
		fw.ipv4_0 = p->nics[0].ipv4[0];
	fw.src_flags = (int)p->flags;
	if (fw.fail_source)
		return fw.fail_source;
	*f_r = (struct migr_fwd *)&fw_src_obj;
	return 0;
}

/* The filters, at the suspend request: the guest not yet suspended, its set-up done. */
static int fw_divert(struct migr_fwd *f)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(fw.r->src, fw.r->domid);

	CHECK(f == (struct migr_fwd *)&fw_src_obj);
	fw.diverts++;
	fw.suspended_at_divert = d && d->info.shutdown;
	fw.starts_at_divert = fw.src_starts;
	return fw.fail_divert;
}

/* The target's copy, under its name or its temporary one (before the rename). */
static struct migr_fake_dom *fw_target_copy(void)
{
	uint32_t id;

	if (fw.r->dst->hv.ops->domain_find(&fw.r->dst->hv, "guest1", &id) == 0 ||
	    fw.r->dst->hv.ops->domain_find(&fw.r->dst->hv, "guest1--incoming", &id) == 0)
		return migr_hv_fake_dom(fw.r->dst, id);
	return NULL;
}

static int fw_target_start(const struct migr_fwd_params *p, struct migr_fwd **f_r)
{
	struct migr_fake_dom *d = fw_target_copy();

	fw.tgt_starts++;
	fw.tgt_paused_at_start = d && d->info.paused;
	fw.tgt_restored_at_start = d && d->config_json;
	fw.tgt_flags = (int)p->flags;
	snprintf(fw.tgt_dev, sizeof(fw.tgt_dev), "%s", p->nics[0].dev);
	*f_r = (struct migr_fwd *)&fw_tgt_obj;
	return 0;
}

static int fw_target_live(struct migr_fwd *f)
{
	struct migr_fake_dom *d = fw_target_copy();

	CHECK(f == (struct migr_fwd *)&fw_tgt_obj);
	fw.tgt_lives++;
	fw.tgt_paused_at_live = d && d->info.paused;
	return 0;
}

static int fw_release(struct migr_fwd *f)
{
	if (f == (struct migr_fwd *)&fw_src_obj)
		fw.releases++;
	return 0;
}

static int fw_poll(struct migr_fwd *f, struct migr_fwd_status *st)
{
	memset(st, 0, sizeof(*st));
	fw.polls++;
	st->packets = 7;
	st->end = fw.polls > 4 ? MIGR_FWD_END_QUIET : MIGR_FWD_RUNNING;
	st->next_poll_ms = 5;
	if (f == (struct migr_fwd *)&fw_src_obj)
		st->hold = fw.releases ? MIGR_FWD_HOLD_RELEASED : MIGR_FWD_HOLD_HOLDING;
	return 0;
}

static int fw_finish(struct migr_fwd *f, struct migr_fwd_status *st)
{
	fw.finishes++;
	if (f == (struct migr_fwd *)&fw_src_obj) {
		struct migr_fake_dom *d = migr_hv_fake_dom(fw.r->src, fw.r->domid);
		fw.resumes_at_finish = d ? d->resumes : 99;
		fw.released_before_finish = fw.releases > 0;
	} else {
		fw.tgt_copy_at_finish = fw_target_copy() != NULL;
	}
	if (st)
		fw_poll(f, st);
	return 0;
}

/* The source dom0's neighbour tables: the guest's MAC at 192.0.2.7 and fe80::7. */
static int fw_neigh_find(const uint8_t mac[6], struct migr_fwd_addr *v, unsigned int max,
			 unsigned int *n_r)
{
	(void)mac;
	fw.neigh_calls++;
	if (fw.neigh_rc)
		return fw.neigh_rc;
	CHECK(max >= 2);
	migr_fwd_parse_addr("192.0.2.7", &v[0]);
	migr_fwd_parse_addr("fe80::7", &v[1]);
	*n_r = 2;
	return 0;
}

static const struct migr__fwdm_ops fw_ops = {
	.source_start = fw_source_start, .divert = fw_divert, .target_start = fw_target_start,
	.target_live = fw_target_live, .release = fw_release, .poll = fw_poll, .finish = fw_finish,
	.neigh_find = fw_neigh_find,
};

/* A migration over TCP on the loopback (forwarding's tunnel ends are the connection's
 * addresses), source in this thread, target in another. */
static void run_tcp(struct run *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct migr_conn *sc = NULL;
	pthread_t th;
	int l = socket(AF_INET, SOCK_STREAM, 0), cs, as;

	CHECK(l >= 0);
	CHECK_EQ(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ(listen(l, 1), 0);
	CHECK_EQ(getsockname(l, (struct sockaddr *)&a, &al), 0);
	cs = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(connect(cs, (struct sockaddr *)&a, sizeof(a)), 0);
	as = accept(l, NULL, NULL);
	close(l);
	CHECK_EQ(migr_conn_from_fds(cs, cs, NULL, &sc), 0);
	CHECK_EQ(migr_conn_from_fds(as, as, NULL, &r->t.c), 0);
	CHECK_EQ(pthread_create(&th, NULL, target_main, &r->t), 0);
	r->rc = migr_migrate(&r->src->hv, r->domid, sc, &r->sp, &r->res);
	migr_conn_close(sc);
	pthread_join(th, NULL);
}

static void fw_setup(struct run *r)
{
	setup(r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r->src->with_nics = true;
	r->dst->with_nics = true;
	memset(&fw, 0, sizeof(fw));
	fw.r = r;
	migr__fwdm_ops = &fw_ops;
}

static void test_forwarding(void)
{
	const struct migr__fwdm_ops *saved = migr__fwdm_ops;
	struct migr_fwd_summary fin;
	struct run r;

	/* Success: the source sets up while the guest runs and diverts its frames at the
	 * suspend request (the guest not yet stopped), the target starts before the
	 * unpause, the hold is released (SETTLED), and both go on after the drivers
	 * returned. */
	fw_setup(&r);
	run_tcp(&r);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.t.rc, 0);
	check_on_target(&r);
	CHECK_EQ(fw.src_starts, 1);
	CHECK(!fw.src_suspended_at_start);
	CHECK(fw.src_flags & MIGR_FWD_DIVERT_LATER);
	CHECK_EQ(fw.diverts, 1);
	CHECK_EQ(fw.starts_at_divert, 1);
	CHECK(!fw.suspended_at_divert);
	CHECK_STR(fw.src_dev, "xenbr0");
	CHECK_EQ(fw.n_ipv4, 1);                         /* the vif's ip= */
	CHECK_EQ(fw.n_ipv6, 0);
	CHECK_EQ(fw.neigh_calls, 0);                    /* ip= is enough */
	CHECK(fw.src_flags & MIGR_FWD_HOLD);
	CHECK_EQ(fw.tgt_starts, 1);
	CHECK(fw.tgt_paused_at_start);
	CHECK(!(fw.tgt_flags & MIGR_FWD_LIVE_LATER));   /* no devices early: live at once */
	CHECK_EQ(fw.tgt_lives, 1);
	CHECK(strncmp(fw.tgt_dev, "vif", 3) == 0);
	CHECK_EQ(fw.releases, 1);
	CHECK_EQ(r.res.fwd.state, MIGR_FWDS_RUNNING);
	CHECK_EQ(r.t.res.fwd.state, MIGR_FWDS_RUNNING);
	CHECK_EQ(migr_fwd_wait(r.res.id, false, 5000, &fin), 0);
	CHECK_EQ(fin.state, MIGR_FWDS_ENDED);
	CHECK_EQ(fin.end, MIGR_FWD_END_QUIET);
	CHECK_EQ(fin.packets, 7);
	CHECK_EQ(fin.hold, MIGR_FWD_HOLD_RELEASED);
	CHECK_EQ(migr_fwd_wait(r.res.id, true, 5000, &fin), 0);
	CHECK_EQ(fin.state, MIGR_FWDS_ENDED);
	CHECK_EQ(migr_fwd_wait(r.res.id, true, 5000, &fin), -ENOENT);   /* taken once */
	CHECK_EQ(fw.finishes, 2);
	CHECK(fw.released_before_finish);
	teardown(&r);

	/* The guest's vifs added early (while the stream comes): the target's end is set up
	 * then, out of the blackout, and only goes live at the unpause, the copy still
	 * paused. */
	fw_setup(&r);
	r.dst->early_devices = true;
	run_tcp(&r);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.t.rc, 0);
	check_on_target(&r);
	CHECK_EQ(fw.tgt_starts, 1);
	CHECK(fw.tgt_flags & MIGR_FWD_LIVE_LATER);
	CHECK(!fw.tgt_restored_at_start);
	CHECK(fw.tgt_paused_at_start);
	CHECK_EQ(fw.tgt_lives, 1);
	CHECK(fw.tgt_paused_at_live);
	CHECK_EQ(r.t.res.fwd.state, MIGR_FWDS_RUNNING);
	CHECK_EQ(migr_fwd_wait_all(5000), 0);
	CHECK_EQ(fw.finishes, 2);
	teardown(&r);

	/* Set up early, then the migration backs out (the source fails after READY): the
	 * target's end is finished before its copy goes, never having gone live. */
	fw_setup(&r);
	r.dst->early_devices = true;
	r.sp.faults = &fs_after_ready;
	run_tcp(&r);
	CHECK(r.rc != 0);
	check_on_source(&r, 1);
	CHECK_EQ(fw.tgt_starts, 1);
	CHECK_EQ(fw.tgt_lives, 0);
	CHECK(fw.tgt_copy_at_finish);
	CHECK_EQ(r.t.res.fwd.state, MIGR_FWDS_ENDED);
	CHECK_EQ(migr_fwd_wait_all(5000), 0);
	CHECK_EQ(fw.finishes, 2);
	teardown(&r);

	/* --no-forward: nothing starts, on either side. */
	fw_setup(&r);
	r.sp.no_forward = true;
	r.t.p.no_forward = true;
	run_tcp(&r);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(fw.src_starts + fw.tgt_starts, 0);
	CHECK_EQ(r.res.fwd.state, MIGR_FWDS_OFF);
	CHECK(strstr(r.res.fwd.why, "no-forward") != NULL);
	teardown(&r);

	/* A start that fails does not fail the migration. */
	fw_setup(&r);
	fw.fail_source = -EOPNOTSUPP;
	run_tcp(&r);
	CHECK_EQ(r.rc, 0);
	check_on_target(&r);
	CHECK_EQ(r.res.fwd.state, MIGR_FWDS_FAILED);
	CHECK(r.res.fwd.why[0] != '\0');
	CHECK_EQ(migr_fwd_wait_all(5000), 0);
	teardown(&r);

	/* A divert that fails: the set-up is removed at once, the migration goes on. */
	fw_setup(&r);
	fw.fail_divert = -ENOENT;
	run_tcp(&r);
	CHECK_EQ(r.rc, 0);
	check_on_target(&r);
	CHECK_EQ(fw.diverts, 1);
	CHECK_EQ(fw.releases, 0);
	CHECK_EQ(r.res.fwd.state, MIGR_FWDS_FAILED);
	CHECK(strstr(r.res.fwd.why, "divert") != NULL);
	CHECK_EQ(migr_fwd_wait_all(5000), 0);
	CHECK_EQ(fw.finishes, 2);            /* the source's at once, the target's at its end */
	teardown(&r);

	/* Back-outs: the guest does not suspend (the fault at the suspend request, after the
	 * divert: nothing to resume), or the target fails after READY (resumed once). The
	 * source's end is finished, held frames and all, before the guest runs here again;
	 * the target never got to its unpause. */
	{
		struct migr_fault_set fs_suspend;
		const struct { const struct migr_fault_set *fs; unsigned int resumes; } b[] = {
			{ &fs_suspend, 0 }, { &fs_after_ready, 1 },
		};

		migr_fault_parse("suspend:error", &fs_suspend, NULL, 0);
		for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
			fw_setup(&r);
			r.sp.faults = b[i].fs;
			run_tcp(&r);
			CHECK(r.rc != 0);
			check_on_source(&r, b[i].resumes);
			CHECK_EQ(fw.src_starts, 1);
			CHECK_EQ(fw.diverts, 1);
			CHECK_EQ(fw.finishes, 1);
			CHECK_EQ(fw.resumes_at_finish, 0);
			CHECK_EQ(fw.tgt_starts, 0);
			teardown(&r);
		}
	}

	/* Addresses: a vif without ip= gets those the source's neighbour tables resolve to
	 * its MAC; a lookup that fails leaves frames to its MAC only, and still forwards. */
	{
		static const struct { int neigh_rc; unsigned int v4, v6; } cases[] = {
			{ 0, 1, 1 },
			{ -EPERM, 0, 0 },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			fw_setup(&r);
			r.src->nics_no_ip = true;
			r.dst->nics_no_ip = true;
			fw.neigh_rc = cases[i].neigh_rc;
			run_tcp(&r);
			CHECK_EQ(r.rc, 0);
			check_on_target(&r);
			CHECK_EQ(fw.neigh_calls, 1);
			CHECK_EQ(fw.src_starts, 1);
			CHECK_EQ(fw.n_ipv4, cases[i].v4);
			CHECK_EQ(fw.n_ipv6, cases[i].v6);
			if (cases[i].v4)
				CHECK_EQ(fw.ipv4_0.s_addr, htonl(0xc0000207));
			CHECK_EQ(r.res.fwd.state, MIGR_FWDS_RUNNING);
			CHECK_EQ(migr_fwd_wait_all(5000), 0);
			teardown(&r);
		}
	}

	/* The target fails at its unpause, after its end started: its end is finished
	 * while its copy still exists (before the destroy), the source's before the
	 * guest resumes there. */
	{
		struct migr_fault_set fs_unpause;
		migr_fault_parse("unpause:error", &fs_unpause, NULL, 0);
		fw_setup(&r);
		r.t.p.faults = &fs_unpause;
		run_tcp(&r);
		CHECK(r.rc != 0);
		CHECK(r.t.rc != 0);
		check_on_source(&r, 1);
		CHECK_EQ(fw.tgt_starts, 1);
		CHECK_EQ(fw.src_starts, 1);
		CHECK_EQ(fw.finishes, 2);
		CHECK(fw.tgt_copy_at_finish);
		CHECK_EQ(fw.resumes_at_finish, 0);
		CHECK_EQ(r.t.res.fwd.state, MIGR_FWDS_ENDED);
		CHECK_EQ(migr_fwd_wait_all(5000), 0);
		teardown(&r);
	}

	migr__fwdm_ops = saved;
}

static void test_recover_target_unrecorded(void)
{
	struct migr_hv_fake *f;
	uint32_t a, b, c;

	CHECK_EQ(migr_hv_fake_new(1 << 30, &f), 0);
	a = migr_hv_fake_add(f, "x--incoming", MIGR_GUEST_PVH, 64, 0);
	b = migr_hv_fake_add(f, "y--incoming", MIGR_GUEST_PVH, 64, 0);
	c = migr_hv_fake_add(f, "z", MIGR_GUEST_PVH, 64, 0);
	migr_hv_fake_dom(f, a)->info.paused = true;   /* left by an interrupted receive */
	migr_hv_fake_dom(f, c)->info.paused = true;   /* an operator's paused guest */
	CHECK_EQ(migr_recover_target(&f->hv, record_dir, NULL, NULL, NULL), 0);
	CHECK(migr_hv_fake_dom(f, a) == NULL);
	CHECK(migr_hv_fake_dom(f, b) != NULL);         /* running: never touched */
	CHECK(migr_hv_fake_dom(f, c) != NULL);
	migr_hv_close(&f->hv);
}


/* ---- the commit fenced by etcd --------------------------------------------------- */

static char guest_key[MIGR_ETCD_KEY_MAX];

/* Both hosts on etcd; dst_etcd NULL: the target on the source's etcd; "none": no etcd. */
static void fence_setup(struct run *r, const char *dst_etcd)
{
	struct migr_fake_dom *d;

	setup(r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	CHECK_EQ(migr_etcd_fake_new(&r->etcd_src), 0);
	r->sp.etcd = &r->etcd_src->e;
	r->sp.fence_self = "host-a";
	if (!dst_etcd) {
		r->t.p.etcd = &r->etcd_src->e;
	} else if (!strcmp(dst_etcd, "other")) {
		CHECK_EQ(migr_etcd_fake_new(&r->etcd_dst), 0);
		r->t.p.etcd = &r->etcd_dst->e;
	}
	r->t.p.fence_self = r->t.p.etcd ? "host-b" : NULL;
	r->t.p.go_deadline_ms = 600;
	d = migr_hv_fake_dom(r->src, r->domid);
	CHECK(d && !migr_uuid_is_nil(d->info.uuid));
	CHECK_EQ(migr_etcd_location_key(d->info.uuid, guest_key, sizeof(guest_key)), 0);
}

static void fence_teardown(struct run *r)
{
	if (r->etcd_dst)
		migr_etcd_close(&r->etcd_dst->e);
	migr_etcd_close(&r->etcd_src->e);
	teardown(r);
}

static void put_location(struct migr_etcd_fake *f, const char *host, const char *id)
{
	struct migr_etcd_location l = { 0 };
	char *json = NULL;
	size_t len = 0;

	snprintf(l.host, sizeof(l.host), "%s", host);
	snprintf(l.migration, sizeof(l.migration), "%s", id);
	CHECK_EQ(migr_etcd_location_encode(&l, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(&f->e, guest_key, json, len, 0), 0);
	free(json);
}

/* The key's location: "" when absent or unreadable. */
static void check_location(struct migr_etcd_fake *f, const char *host, const char *id)
{
	struct migr_etcd_location l = { 0 };
	char *v = migr_etcd_fake_value(f, guest_key);

	CHECK(v != NULL);
	if (!v)
		return;
	CHECK_EQ(migr_etcd_location_parse(v, strlen(v), &l), 0);
	CHECK_STR(l.host, host);
	CHECK_STR(l.migration, id);
	free(v);
}

static void lever_other_writer(struct run *r)
{
	put_location(r->etcd_src, "host-a", "");   /* same host, a newer revision */
}

static void lever_down(struct run *r)
{
	migr_etcd_fake_set_down(r->etcd_src, true);
}

static void lever_lost_answer(struct run *r)
{
	pthread_mutex_lock(&r->etcd_src->lock);
	r->etcd_src->lost_answers = 1;
	pthread_mutex_unlock(&r->etcd_src->lock);
}

static void lever_timeout(struct run *r)
{
	pthread_mutex_lock(&r->etcd_src->lock);
	r->etcd_src->timeouts = 1;
	pthread_mutex_unlock(&r->etcd_src->lock);
}

/* Won: the key moves from the source to the target with the migration's id, the
 * target read it before it unpaused; a key that did not exist is created by the swap. */
static void test_fenced(bool key_exists)
{
	struct run r;

	fence_setup(&r, NULL);
	if (key_exists)
		put_location(r.etcd_src, "host-a", "");
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.t.rc, 0);
	check_on_target(&r);
	check_location(r.etcd_src, "host-b", r.res.id);
	CHECK_EQ(r.etcd_src->cas_calls, 1);
	fence_teardown(&r);
}

/* Refused before anything is touched: the key names another host; etcd down; the
 * target does not fence; the source does not fence (the target refuses). */
static void test_fence_refused(int how)
{
	struct run r;

	fence_setup(&r, how == 2 ? "none" : NULL);
	if (how == 0)
		put_location(r.etcd_src, "host-c", "");
	if (how == 1)
		migr_etcd_fake_set_down(r.etcd_src, true);
	if (how == 3) {
		r.sp.etcd = NULL;
		r.sp.fence_self = NULL;
	}
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.res.phase, MIGR_PHASE_ABORTED);
	check_on_source(&r, 0);          /* never suspended */
	CHECK(r.t.rc != 0);
	if (how == 0)
		check_location(r.etcd_src, "host-c", "");
	if (how == 2)   /* the target sees the source fence first */
		CHECK(strstr(r.res.state_text, "this host has none") != NULL);
	if (how == 3)
		CHECK(strstr(r.res.state_text, "fences the commit through etcd") != NULL);
	CHECK_EQ(r.etcd_src->cas_calls, 0);
	fence_teardown(&r);
}

/* The swap at GO does not apply: the key moved meanwhile, etcd went down, or its answer
 * timed out and the swap back fenced it off. The guest resumes on the source, the
 * target never ran it, the key is not the target's. */
static void test_fence_swap_fails(void (*lever)(struct run *))
{
	struct run r;
	char *v;

	fence_setup(&r, NULL);
	put_location(r.etcd_src, "host-a", "");
	r.lever_phase = MIGR_PHASE_WAIT_READY;
	r.lever = lever;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.res.phase, MIGR_PHASE_ABORTED);
	check_on_source(&r, 1);
	CHECK(r.t.rc != 0);
	CHECK(strstr(r.res.state_text, "did not move") != NULL);
	migr_etcd_fake_set_down(r.etcd_src, false);
	v = migr_etcd_fake_value(r.etcd_src, guest_key);
	CHECK(v && !strstr(v, "host-b"));
	free(v);
	fence_teardown(&r);
}

/* The swap applied but its answer was lost: the swap back loses to it, the key names
 * this migration: GO goes, the guest runs on the target. */
static void test_fence_answer_lost(void)
{
	struct run r;

	fence_setup(&r, NULL);
	put_location(r.etcd_src, "host-a", "");
	r.lever_phase = MIGR_PHASE_WAIT_READY;
	r.lever = lever_lost_answer;
	run(&r, false);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.t.rc, 0);
	check_on_target(&r);
	check_location(r.etcd_src, "host-b", r.res.id);
	CHECK_EQ(r.etcd_src->cas_calls, 2);
	fence_teardown(&r);
}

/* GO sent, the target cannot read its etcd (down) or reads another value there: it
 * destroys its copy and says so; the source moves the key back and resumes. When the
 * source cannot move it back (its etcd gone after the swap), the guest stays suspended
 * on the source: undecided. */
static void test_fence_target_refuses(bool target_down, bool source_cut)
{
	struct run r;
	uint32_t id;

	fence_setup(&r, "other");
	if (target_down)
		migr_etcd_fake_set_down(r.etcd_dst, true);
	if (source_cut) {
		r.lever_phase = MIGR_PHASE_GO;
		r.lever = lever_down;
	}
	run(&r, false);
	CHECK(r.t.rc != 0);
	CHECK_EQ(migr_hv_fake_count(r.dst), 0);     /* the target's copy never ran, is gone */
	if (!source_cut) {
		CHECK_EQ(r.rc, -MIGR_E_ABORTED);
		check_on_source(&r, 1);
		check_location(r.etcd_src, "host-a", "");
	} else {
		CHECK_EQ(r.rc, -MIGR_E_UNDECIDED);
		CHECK_EQ(r.res.phase, MIGR_PHASE_UNDECIDED);
		CHECK(strstr(r.res.state_text, "etcd could not be told") != NULL);
		CHECK_EQ(r.src->hv.ops->domain_find(&r.src->hv, "guest1--migratedaway", &id), 0);
		CHECK(migr_hv_fake_dom(r.src, id)->info.shutdown);
		migr_etcd_fake_set_down(r.etcd_src, false);
		check_location(r.etcd_src, "host-b", r.res.id);
	}
	fence_teardown(&r);
}

/* The source backs out after CONFIG, before its first DATA: the target never starts a
 * restore (libxl fed an empty stream crashes its process), destroys nothing, says why. */
static void test_abort_before_stream(void)
{
	struct migr_fault_set fs;
	struct run r;

	memset(&fs, 0, sizeof(fs));
	CHECK_EQ(migr_fault_parse("record-start:error", &fs, NULL, 0), 0);
	setup(&r, MIGR_GUEST_PVH, 4096, 64, 1 << 30);
	r.sp.faults = &fs;
	run(&r, false);
	CHECK_EQ(r.rc, -MIGR_E_ABORTED);
	check_on_source(&r, 0);
	CHECK_EQ(r.t.rc, -MIGR_E_ABORTED);
	CHECK_EQ(r.dst->restores, 0);
	CHECK(strstr(r.t.res.state_text, "before its stream") != NULL);
	teardown(&r);
}

int main(void)
{
	snprintf(record_dir, sizeof(record_dir), "/tmp/migr-test-send.%d", (int)getpid());
	snprintf(src_dir, sizeof(src_dir), "%s/sent", record_dir);
	snprintf(peer_dir, sizeof(peer_dir), "%s/peer-sent", record_dir);
	migr_fault_parse("after-ready:error", &fs_after_ready, NULL, 0);
	migr_fault_parse("before-done", &fs_before_done, NULL, 0);

	test_framing();
	test_host_rules();
	test_success(false, MIGR_GUEST_PVH);
	test_success(false, MIGR_GUEST_PV);
	test_success(true, MIGR_GUEST_PVH);
	test_console_log(false);
	test_console_log(true);
	test_compressed(MIGR_COMPRESS_ON);
	test_compressed(MIGR_COMPRESS_OFF);
	test_p2m_holes();
	test_target_lacks_memory();
	test_config_refused(false);
	test_config_refused(true);
	test_restore_hint();
	test_own_hint();
	test_peer_hint();
	test_claims();
	test_name_refusals();
	test_forwarding();
	test_suspend_fails(false);
	test_suspend_fails(true);
	test_save_fails_midstream();
	test_restore_fails(false);
	test_restore_fails(true);
	test_unpause_fails(false);
	test_unpause_fails(true);
	test_abort_after_ready(false);
	test_abort_after_ready(true);
	test_handshake_during_tail();
	test_tail_fails_after_go();
	test_abort_during_tail();
	test_pv_without_shadow();
	test_policy_abort();
	test_progress_in_round();
	test_cpu_guard();
	test_throttle();
	test_undecided_then_resolve();
	test_resolve_unknown();
	test_recover_target_unrecorded();
	test_abort_before_stream();
	test_fenced(false);
	test_fenced(true);
	for (int how = 0; how < 4; how++)
		test_fence_refused(how);
	test_fence_swap_fails(lever_other_writer);
	test_fence_swap_fails(lever_down);
	test_fence_swap_fails(lever_timeout);
	test_fence_answer_lost();
	test_fence_target_refuses(true, false);
	test_fence_target_refuses(false, false);
	test_fence_target_refuses(false, true);

	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", record_dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", record_dir);
	}
	return unit_done("test_send");
}
