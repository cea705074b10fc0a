/*
 * stream_cz.h: when the outgoing stream pump compresses its DATA (transport_stream.c,
 * docs/protocol.md "Compression"). Not installed.
 *
 * A pure estimator and decision, no clock, no I/O: the pump measures windows of its own
 * work (how fast the compressor ran on the chunks it compressed and how much they shrank,
 * how fast the connection took the bytes written) and hands each window to
 * migr__cz_window(), which updates the estimates and decides whether the next window
 * compresses. migr__cz_sample_due() says, per chunk, whether to compress it. The same code
 * runs in the pump and in the unit tests' tables.
 *
 * The model: the pump compresses a chunk, then writes it; the kernel's socket buffer (or
 * the bandwidth cap's bucket) lets the link drain one chunk while the next is compressed,
 * so compressing moves the stream at min(C, L * R) (C the compressor's input rate, L the
 * link's rate in wire bytes, R the ratio input/output) against L without. Compression is
 * on when that wins by a margin (CZ_GAIN_ON, less to stay on: CZ_GAIN_OFF), so it is off
 * whenever the link outruns the compressor (C < L) or the data does not shrink.
 */
#ifndef MIGR_STREAM_CZ_H
#define MIGR_STREAM_CZ_H

#include <stdbool.h>
#include <stdint.h>

enum migr__cz_mode {
	MIGR__CZ_OFF = 0,     /* never compress */
	MIGR__CZ_AUTO,        /* decided from measurements */
	MIGR__CZ_ON,          /* every chunk (sent compressed when it shrinks) */
};

/* Window length the pump measures over, and the decision's constants. */
#define MIGR__CZ_WINDOW_NS      (250ull * 1000 * 1000)
#define MIGR__CZ_GAIN_ON        1.15   /* min(C, L*R) / L to turn on */
#define MIGR__CZ_GAIN_OFF       1.05   /* ... below which it turns off again */
#define MIGR__CZ_GAIN_FAR       1.02   /* below it, off samples rarely */
#define MIGR__CZ_SAMPLE_EVERY   8      /* off: one chunk in so many is compressed to measure */
#define MIGR__CZ_SAMPLE_RARE    64     /* ... when compression is far from paying */
#define MIGR__CZ_PROBE_EVERY    8      /* on: every so many windows one goes uncompressed, to
                                          measure the link afresh */
#define MIGR__CZ_MIN_BYTES      (64 * 1024)   /* compressor input a window needs to count */
#define MIGR__CZ_LINK_BOUND     0.5    /* share of a window spent writing that makes it
                                          link-bound (its write rate is the link's) */

/* One window of the pump's work. */
struct migr__cz_window {
	uint64_t wall_ns;      /* the window's length */
	uint64_t cz_in;        /* bytes given to the compressor */
	uint64_t cz_out;       /* what it made of them */
	uint64_t cz_ns;        /* time spent in it */
	uint64_t wire_bytes;   /* bytes written to the connection */
	uint64_t write_ns;     /* time spent writing them (blocked on the link or the cap) */
};

struct migr__cz {
	enum migr__cz_mode mode;
	bool on;               /* the current window compresses every chunk */
	bool probing;          /* the current window is an uncompressed probe of the link */
	double c_Bps;          /* compressor: input bytes per second of its time; 0 unknown */
	double ratio;          /* input / output; 0 unknown */
	double link_Bps;       /* link: wire bytes per second of writing; 0 unknown */
	unsigned int windows;  /* windows seen */
	unsigned int on_windows;   /* of them, compressed ones */
	unsigned int switches; /* off -> on and on -> off */
	unsigned int since_probe;  /* compressed windows since the link was last measured */
	unsigned int chunk;    /* chunks since the last sample (off) */
};

/* Starts an estimator in mode: ON and AUTO start compressing only once they know it
 * pays (AUTO) or at once (ON). */
void migr__cz_init(struct migr__cz *z, enum migr__cz_mode mode);

/* Per chunk the pump sends: whether to compress it (on, forced, or a sample). */
bool migr__cz_sample_due(struct migr__cz *z);

/* A window's measurements in; estimates updated and the next window decided. Returns
 * whether the next window compresses. */
bool migr__cz_window(struct migr__cz *z, const struct migr__cz_window *w);

/* The decision alone, on estimates: does min(c, link * ratio) beat link by gain? */
bool migr__cz_pays(double c_Bps, double ratio, double link_Bps, double gain);

#endif /* MIGR_STREAM_CZ_H */
