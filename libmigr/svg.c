/*
 * svg.c: the small SVG writer of the reports (svg.h).
 *
 * Numbers are written with one decimal and clamped to +-1e7, NaN and infinities as 0: no
 * input can make an attribute that is not a number. Texts go through migr__buf_xml().
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

#define SVG_MAX_BYTES (64u << 20)

static const char style[] =
	"text{font-family:DejaVu Sans,Verdana,Arial,sans-serif;font-size:12px;fill:#222}"
	".title{font-size:16px;font-weight:bold}.sub{fill:#555}.small{font-size:10px;fill:#444}"
	".axis{stroke:#444;stroke-width:1}.grid{stroke:#ddd;stroke-width:1}"
	".bg{fill:#fff}.panel{fill:#fafafa;stroke:#ccc}"
	".pages{fill:#4c78a8}.dirty{fill:#f58518}.bw{fill:#54a24b}.pred{fill:#b279a2}"
	".real{stroke:#e45756;stroke-width:2;stroke-dasharray:6 3;fill:none}"
	".preflight{fill:#bab0ac}.precopy{fill:#4c78a8}.blackout{fill:#e45756}"
	".notice{fill:#eeca3b}.wait{fill:#e6e6e6}.failed{fill:#9d755d}"
	".suspend{fill:#ff9da6}.final{fill:#e45756}.restore{fill:#b279a2}"
	".devices{fill:#d6a5c9}.handshake{fill:#9d755d}.unpause{fill:#72b7b2}"
	".net{fill:#54a24b}.frame{fill:#222}.fwd{fill:#72b7b2}"
	".tick{stroke:#fff;stroke-width:1}a text{fill:#1a5fb4;text-decoration:underline}";

static double num(double v)
{
	if (!isfinite(v))
		return 0;
	if (v > 1e7)
		return 1e7;
	if (v < -1e7)
		return -1e7;
	return v;
}

void migr__svg_begin(struct migr__svg *s, double w, double h, const char *title)
{
	memset(s, 0, sizeof(*s));
	s->b.max = SVG_MAX_BYTES;
	w = num(w);
	h = num(h);
	migr__buf_printf(&s->b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			 "<svg xmlns=\"http://www.w3.org/2000/svg\" "
			 "xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"1.1\" "
			 "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n", w, h, w, h);
	migr__buf_str(&s->b, "<title>");
	migr__buf_xml(&s->b, title, 0);
	migr__buf_str(&s->b, "</title>\n<style type=\"text/css\">");
	migr__buf_str(&s->b, style);
	migr__buf_str(&s->b, "</style>\n");
	migr__buf_printf(&s->b, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"%.0f\" "
			 "height=\"%.0f\"/>\n", w, h);
}

static void tip(struct migr__svg *s, const char *t)
{
	migr__buf_str(&s->b, "<title>");
	migr__buf_xml(&s->b, t, 0);
	migr__buf_str(&s->b, "</title>");
}

void migr__svg_rect(struct migr__svg *s, double x, double y, double w, double h,
		    const char *cls, const char *t)
{
	if (num(w) < 0) {
		x += w;
		w = -w;
	}
	if (num(h) < 0) {
		y += h;
		h = -h;
	}
	migr__buf_printf(&s->b, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			 "height=\"%.1f\"", cls, num(x), num(y), num(w), num(h));
	if (t) {
		migr__buf_str(&s->b, ">");
		tip(s, t);
		migr__buf_str(&s->b, "</rect>\n");
	} else {
		migr__buf_str(&s->b, "/>\n");
	}
}

void migr__svg_line(struct migr__svg *s, double x1, double y1, double x2, double y2,
		    const char *cls)
{
	migr__buf_printf(&s->b, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			 "y2=\"%.1f\"/>\n", cls, num(x1), num(y1), num(x2), num(y2));
}

void migr__svg_polyline(struct migr__svg *s, const double *xs, const double *ys, size_t n,
			const char *cls)
{
	if (!n)
		return;
	migr__buf_printf(&s->b, "<polyline class=\"%s\" points=\"", cls);
	for (size_t i = 0; i < n; i++)
		migr__buf_printf(&s->b, "%s%.1f,%.1f", i ? " " : "", num(xs[i]), num(ys[i]));
	migr__buf_str(&s->b, "\"/>\n");
}

void migr__svg_circle(struct migr__svg *s, double x, double y, double r, const char *cls,
		      const char *t)
{
	migr__buf_printf(&s->b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", cls,
			 num(x), num(y), fabs(num(r)));
	if (t) {
		migr__buf_str(&s->b, ">");
		tip(s, t);
		migr__buf_str(&s->b, "</circle>\n");
	} else {
		migr__buf_str(&s->b, "/>\n");
	}
}

void migr__svg_text(struct migr__svg *s, double x, double y, const char *anchor,
		    const char *cls, size_t max_chars, const char *fmt, ...)
{
	char *t = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&t, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!s->b.err)
			s->b.err = -ENOMEM;
		return;
	}
	migr__buf_printf(&s->b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s%s>", num(x),
			 num(y), anchor, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
	migr__buf_xml(&s->b, t, max_chars);
	migr__buf_str(&s->b, "</text>\n");
	free(t);
}

void migr__svg_link_begin(struct migr__svg *s, const char *file)
{
	migr__buf_str(&s->b, "<a xlink:href=\"./");
	migr__buf_url(&s->b, file);
	migr__buf_str(&s->b, "\">\n");
	s->links++;
}

void migr__svg_link_end(struct migr__svg *s)
{
	if (!s->links)
		return;
	migr__buf_str(&s->b, "</a>\n");
	s->links--;
}

int migr__svg_end(struct migr__svg *s, char **svg_r, size_t *len_r)
{
	int rc;

	while (s->links)
		migr__svg_link_end(s);
	migr__buf_str(&s->b, "</svg>\n");
	rc = migr__buf_error(&s->b);
	if (rc) {
		migr__buf_free(&s->b);
		return rc;
	}
	*svg_r = s->b.p;
	*len_r = s->b.len;
	memset(&s->b, 0, sizeof(s->b));
	return 0;
}

double migr__svg_tick_step(double span, unsigned int n)
{
	double raw, p;

	if (!isfinite(span) || span <= 0 || !n)
		return 1;
	raw = span / n;
	p = pow(10, floor(log10(raw)));
	if (raw / p >= 5)
		return 5 * p;
	if (raw / p >= 2)
		return 2 * p;
	return p;
}
