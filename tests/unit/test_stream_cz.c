/*
 * test_stream_cz.c: the stream's compression decision (libmigr/stream_cz.c) on tables of
 * rates, and on sequences of measured windows with made-up clocks: on where compressing
 * moves the stream faster than the link alone, off where the link outruns the compressor
 * or the data does not shrink, the margin between the two, the link measured again while
 * compressing, and how many chunks are compressed to measure while off.
 */
#include "stream_cz.h"
#include "unit.h"

#define MB 1e6

/* min(C, L*R) against L, by gain. */
static void test_pays_table(void)
{
	static const struct {
		double c, r, l, gain;
		bool pays;
	} t[] = {
		/* a 100 Mbit/s link, zstd at 600 MB/s, guest memory at 2.4: 30 MB/s vs 12.5 */
		{ 600 * MB, 2.4, 12.5 * MB, MIGR__CZ_GAIN_ON, true },
		/* 1 Gbit/s: 300 MB/s vs 125 */
		{ 600 * MB, 2.4, 125 * MB, MIGR__CZ_GAIN_ON, true },
		/* 10 Gbit/s: the link outruns the compressor (600 < 1250) */
		{ 600 * MB, 2.4, 1250 * MB, MIGR__CZ_GAIN_ON, false },
		/* a slow CPU (a nested dom0): 100 MB/s against a 1 Gbit/s link */
		{ 100 * MB, 2.4, 125 * MB, MIGR__CZ_GAIN_ON, false },
		/* random pages do not shrink */
		{ 5000 * MB, 1.0, 12.5 * MB, MIGR__CZ_GAIN_ON, false },
		/* 10% better: not enough to turn on, enough to stay on */
		{ 137.5 * MB, 3.0, 125 * MB, MIGR__CZ_GAIN_ON, false },
		{ 137.5 * MB, 3.0, 125 * MB, MIGR__CZ_GAIN_OFF, true },
		/* the ratio limits: L*R = 1.1 L */
		{ 1000 * MB, 1.1, 100 * MB, MIGR__CZ_GAIN_ON, false },
		{ 1000 * MB, 1.1, 100 * MB, MIGR__CZ_GAIN_OFF, true },
		/* anything unknown: no */
		{ 0, 2.0, 100 * MB, MIGR__CZ_GAIN_ON, false },
		{ 600 * MB, 0, 100 * MB, MIGR__CZ_GAIN_ON, false },
		{ 600 * MB, 2.0, 0, MIGR__CZ_GAIN_ON, false },
		{ -1, 2.0, 100 * MB, MIGR__CZ_GAIN_ON, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool got = migr__cz_pays(t[i].c, t[i].r, t[i].l, t[i].gain);

		if (got != t[i].pays)
			fprintf(stderr, "row %zu: C %.0f R %.2f L %.0f gain %.2f: %d\n", i, t[i].c,
				t[i].r, t[i].l, t[i].gain, got);
		CHECK_EQ(got, t[i].pays);
	}
}

/*
 * A window as the pump would measure it over 250 ms: the compressor ran at c_Bps on
 * cz_in bytes and shrank them by ratio; the connection took wire bytes at link_Bps
 * (writing blocked for wire / link of the window, capped at the window).
 */
static struct migr__cz_window win(double c_Bps, double ratio, uint64_t cz_in, double link_Bps,
				  uint64_t wire)
{
	struct migr__cz_window w = { .wall_ns = MIGR__CZ_WINDOW_NS, .cz_in = cz_in };

	if (cz_in) {
		w.cz_out = (uint64_t)(cz_in / ratio);
		w.cz_ns = (uint64_t)(cz_in / c_Bps * 1e9);
	}
	w.wire_bytes = wire;
	w.write_ns = (uint64_t)(wire / link_Bps * 1e9);
	if (w.write_ns > w.wall_ns)
		w.write_ns = w.wall_ns;
	return w;
}

/* The rows of a sequence: what the window measured, and the decision expected after it. */
struct step {
	double c, r;
	uint64_t cz_in;
	double link;
	uint64_t wire;
	bool on_after;          /* the next window compresses */
	bool probing_after;     /* the next window is an uncompressed probe */
};

static void run(const char *name, enum migr__cz_mode mode, const struct step *s, size_t n)
{
	struct migr__cz z;

	migr__cz_init(&z, mode);
	for (size_t i = 0; i < n; i++) {
		struct migr__cz_window w = win(s[i].c, s[i].r, s[i].cz_in, s[i].link, s[i].wire);
		bool next = migr__cz_window(&z, &w);

		if (next != s[i].on_after || z.probing != s[i].probing_after)
			fprintf(stderr, "%s, window %zu: compresses %d probing %d (C %.0f R %.2f "
				"L %.0f)\n", name, i, next, z.probing, z.c_Bps, z.ratio, z.link_Bps);
		CHECK_EQ(next, s[i].on_after);
		CHECK_EQ(z.probing, s[i].probing_after);
	}
}

static void test_sequences(void)
{
	const uint64_t S = 4 << 20;   /* compressor input of a window while sampling */

	/* 100 Mbit/s link, compressible data: on after the first window, and it stays on
	 * while the compressed windows are link-bound (no probe needed). */
	static struct step slow_link[12];
	for (size_t i = 0; i < 12; i++)
		slow_link[i] = (struct step){ 600 * MB, 2.4, i ? 30 << 20 : S, 12.5 * MB,
					      3 << 20, true, false };
	run("100 Mbit/s", MIGR__CZ_AUTO, slow_link, 12);

	/* 10 Gbit/s: the link takes everything faster than zstd: stays off. */
	const struct step fast_link[] = {
		{ 600 * MB, 2.4, S, 1250 * MB, 300 << 20, false, false },
		{ 600 * MB, 2.4, S, 1250 * MB, 300 << 20, false, false },
	};
	run("10 Gbit/s", MIGR__CZ_AUTO, fast_link, 2);

	/* Incompressible pages on a slow link: off. */
	const struct step random_pages[] = {
		{ 5000 * MB, 1.0, S, 12.5 * MB, 3 << 20, false, false },
		{ 5000 * MB, 1.0, S, 12.5 * MB, 3 << 20, false, false },
	};
	run("random", MIGR__CZ_AUTO, random_pages, 2);

	/* The producer is the bottleneck: writes never block (the connection takes 3 MB in
	 * 1 ms), so the link is not what limits the stream: off. */
	const struct step producer_bound[] = {
		{ 600 * MB, 2.4, S, 3000 * MB, 3 << 20, false, false },
	};
	run("producer-bound", MIGR__CZ_AUTO, producer_bound, 1);

	/* Compressor-bound on a 1 Gbit/s link (C 200 MB/s, R 3: 200 vs 125): on; the
	 * compressed windows write 48 MB/s of 125 (not link-bound), so the link is not seen
	 * and after MIGR__CZ_PROBE_EVERY of them one window goes uncompressed. That probe finds
	 * the link at 1.25 GB/s now (another transfer ended): off. */
	struct step probe[MIGR__CZ_PROBE_EVERY + 2];
	probe[0] = (struct step){ 200 * MB, 3.0, S, 125 * MB, 30 << 20, true, false };
	for (size_t i = 1; i <= MIGR__CZ_PROBE_EVERY; i++)
		probe[i] = (struct step){ 200 * MB, 3.0, 36 << 20, 125 * MB, 12 << 20, true,
					  i == MIGR__CZ_PROBE_EVERY };
	probe[MIGR__CZ_PROBE_EVERY].on_after = false;   /* the probe window is uncompressed */
	probe[MIGR__CZ_PROBE_EVERY + 1] = (struct step){ 0, 0, 0, 1250 * MB, 300 << 20,
							 false, false };
	run("probe", MIGR__CZ_AUTO, probe, MIGR__CZ_PROBE_EVERY + 2);

	/* The link slows down under an uncompressed stream (another migration took most of
	 * it): off at 1.25 GB/s, on once it is measured at 50 MB/s. */
	const struct step slows[] = {
		{ 600 * MB, 2.4, S, 1250 * MB, 300 << 20, false, false },
		{ 600 * MB, 2.4, S, 50 * MB, 12 << 20, false, false },   /* EWMA: 650 MB/s */
		{ 600 * MB, 2.4, S, 50 * MB, 12 << 20, true, false },    /* 350 MB/s */
	};
	run("slows", MIGR__CZ_AUTO, slows, 3);

	/* Forced: ON compresses whatever it measures, OFF never. */
	const struct step forced_on[] = {
		{ 600 * MB, 1.0, 30 << 20, 1250 * MB, 300 << 20, true, false },
	};
	run("on", MIGR__CZ_ON, forced_on, 1);
	const struct step forced_off[] = {
		{ 0, 0, 0, 12.5 * MB, 3 << 20, false, false },
	};
	run("off", MIGR__CZ_OFF, forced_off, 1);
}

/* Compressed windows that are not link-bound raise the link estimate only to what they
 * carried: the compressor's limit is not taken for the link's. */
static void test_link_lower_bound(void)
{
	struct migr__cz z;
	struct migr__cz_window w = win(600 * MB, 2.4, 4 << 20, 12.5 * MB, 3 << 20);

	migr__cz_init(&z, MIGR__CZ_AUTO);
	CHECK(migr__cz_window(&z, &w));
	CHECK(z.link_Bps > 12 * MB && z.link_Bps < 13 * MB);
	/* compressed, writes blocked 10% of the window, 5 MB carried: 20 MB/s at least */
	w = (struct migr__cz_window){ .wall_ns = MIGR__CZ_WINDOW_NS, .cz_in = 12 << 20,
				      .cz_out = 5 << 20, .cz_ns = 20000000,
				      .wire_bytes = 5000000, .write_ns = MIGR__CZ_WINDOW_NS / 10 };
	CHECK(migr__cz_window(&z, &w));
	CHECK(z.link_Bps > 19.9 * MB && z.link_Bps < 20.1 * MB);
	CHECK_EQ(z.windows, 2);
	CHECK_EQ(z.on_windows, 1);
	CHECK_EQ(z.switches, 1);
}

/* Which chunks are compressed: all when on or forced, none when forced off, one in
 * MIGR__CZ_SAMPLE_EVERY while off (the first at once), one in MIGR__CZ_SAMPLE_RARE when
 * compression is far from paying, none during a probe. */
static void test_sampling(void)
{
	struct migr__cz z;
	struct migr__cz_window w;
	unsigned int n;

	migr__cz_init(&z, MIGR__CZ_OFF);
	for (n = 0; n < 100 && !migr__cz_sample_due(&z); n++)
		;
	CHECK_EQ(n, 100);
	migr__cz_init(&z, MIGR__CZ_ON);
	for (n = 0; n < 100 && migr__cz_sample_due(&z); n++)
		;
	CHECK_EQ(n, 100);

	migr__cz_init(&z, MIGR__CZ_AUTO);
	CHECK(migr__cz_sample_due(&z));
	for (n = 0; !migr__cz_sample_due(&z); n++)
		;
	CHECK_EQ(n + 1, MIGR__CZ_SAMPLE_EVERY);

	/* random pages on a fast link: far off */
	w = win(5000 * MB, 1.0, 4 << 20, 1250 * MB, 300 << 20);
	CHECK(!migr__cz_window(&z, &w));
	z.chunk = 0;
	for (n = 0; !migr__cz_sample_due(&z); n++)
		;
	CHECK_EQ(n + 1, MIGR__CZ_SAMPLE_RARE);

	z.on = z.probing = true;
	for (n = 0; n < 100 && !migr__cz_sample_due(&z); n++)
		;
	CHECK_EQ(n, 100);
}

int main(void)
{
	test_pays_table();
	test_sequences();
	test_link_lower_bound();
	test_sampling();
	return unit_done("test_stream_cz");
}
