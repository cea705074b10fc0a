/*
 * stream_cz.c: the outgoing stream's compression decision (stream_cz.h). Pure: the pump
 * brings the measurements, the unit tests bring tables of them.
 */
#include "stream_cz.h"

void migr__cz_init(struct migr__cz *z, enum migr__cz_mode mode)
{
	*z = (struct migr__cz){ .mode = mode, .on = mode == MIGR__CZ_ON };
	/* the first chunk of an AUTO stream is a sample: the decision needs one */
	z->chunk = MIGR__CZ_SAMPLE_EVERY - 1;
}

bool migr__cz_pays(double c_Bps, double ratio, double link_Bps, double gain)
{
	double eff;

	if (!(c_Bps > 0) || !(ratio > 0) || !(link_Bps > 0))
		return false;
	eff = link_Bps * ratio < c_Bps ? link_Bps * ratio : c_Bps;
	return eff >= link_Bps * gain;
}

/* Far from paying (no gain at all): sample rarely, so that a fast link or data that does
 * not shrink carries little of the sampling's cost. */
static bool far_off(const struct migr__cz *z)
{
	return z->c_Bps > 0 && z->link_Bps > 0 &&
	       !migr__cz_pays(z->c_Bps, z->ratio, z->link_Bps, MIGR__CZ_GAIN_FAR);
}

bool migr__cz_sample_due(struct migr__cz *z)
{
	unsigned int every;

	switch (z->mode) {
	case MIGR__CZ_OFF:
		return false;
	case MIGR__CZ_ON:
		return true;
	case MIGR__CZ_AUTO:
		break;
	}
	if (z->probing)
		return false;
	if (z->on)
		return true;
	every = far_off(z) ? MIGR__CZ_SAMPLE_RARE : MIGR__CZ_SAMPLE_EVERY;
	if (++z->chunk < every)
		return false;
	z->chunk = 0;
	return true;
}

static double ewma(double old, double sample)
{
	return old > 0 ? (old + sample) / 2 : sample;
}

bool migr__cz_window(struct migr__cz *z, const struct migr__cz_window *w)
{
	bool compressed = z->on && !z->probing, link_bound, pays;

	z->windows++;
	if (compressed)
		z->on_windows++;
	if (w->cz_in >= MIGR__CZ_MIN_BYTES && w->cz_ns && w->cz_out) {
		z->c_Bps = ewma(z->c_Bps, (double)w->cz_in * 1e9 / (double)w->cz_ns);
		z->ratio = ewma(z->ratio, (double)w->cz_in / (double)w->cz_out);
	}
	link_bound = w->wall_ns && (double)w->write_ns >= MIGR__CZ_LINK_BOUND * (double)w->wall_ns;
	if (w->wire_bytes && w->write_ns) {
		double rate = (double)w->wire_bytes * 1e9 / (double)w->write_ns;

		if (!compressed || link_bound) {
			/* Uncompressed, the rate the connection took bytes at is the link's when
			 * writing blocked, and a rate above what the pump could feed when it did
			 * not: either way what compression has to beat. */
			z->link_Bps = ewma(z->link_Bps, rate);
		} else if (w->wall_ns) {
			/* Compressed and not link-bound (the compressor or the producer held the
			 * pump): the link carried at least this much; its rate is not seen. */
			double carried = (double)w->wire_bytes * 1e9 / (double)w->wall_ns;

			if (z->link_Bps < carried)
				z->link_Bps = carried;
		}
	}
	if (z->mode != MIGR__CZ_AUTO)
		return z->on;

	if (z->probing) {
		z->probing = false;
		z->since_probe = 0;
	} else if (compressed && !link_bound) {
		z->since_probe++;
	}
	pays = migr__cz_pays(z->c_Bps, z->ratio, z->link_Bps,
	                     z->on ? MIGR__CZ_GAIN_OFF : MIGR__CZ_GAIN_ON);
	if (pays != z->on)
		z->switches++;
	z->on = pays;
	if (!z->on)
		z->since_probe = 0;
	if (z->on && z->since_probe >= MIGR__CZ_PROBE_EVERY)
		z->probing = true;
	return z->on && !z->probing;
}
