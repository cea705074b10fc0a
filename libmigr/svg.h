/*
 * svg.h: a small SVG writer (svg.c) for the reports (report.c). Internal to libmigr.
 *
 * Builds a self-contained SVG 1.1 document in memory: every text given is escaped
 * (migr__buf_xml), every number is finite and bounded, so what comes out is well-formed
 * XML whatever a guest called itself. Drawing calls after a failure are no-ops;
 * migr__svg_end() reports the first failure.
 */
#ifndef MIGR_SVG_H
#define MIGR_SVG_H

#include <stddef.h>
#include "buf.h"

struct migr__svg {
	struct migr__buf b;
	int links;                     /* open <a> elements */
};

/* The document's head: size in pixels, a title (escaped) and the style sheet. */
void migr__svg_begin(struct migr__svg *s, double w, double h, const char *title);
/* A rectangle of class cls; tip (may be NULL) becomes its tooltip (<title>). */
void migr__svg_rect(struct migr__svg *s, double x, double y, double w, double h,
		    const char *cls, const char *tip);
void migr__svg_line(struct migr__svg *s, double x1, double y1, double x2, double y2,
		    const char *cls);
/* A polyline through n points. */
void migr__svg_polyline(struct migr__svg *s, const double *xs, const double *ys, size_t n,
			const char *cls);
void migr__svg_circle(struct migr__svg *s, double x, double y, double r, const char *cls,
		      const char *tip);
/* Text at (x, y); anchor "start", "middle" or "end"; the formatted text is escaped and
 * cut to max_chars characters (0: no cut). */
void migr__svg_text(struct migr__svg *s, double x, double y, const char *anchor,
		    const char *cls, size_t max_chars, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* A link around what follows, to a relative file name (percent-encoded here). */
void migr__svg_link_begin(struct migr__svg *s, const char *file);
void migr__svg_link_end(struct migr__svg *s);
/* Closes the document: 0 and the malloc'd text, or the first failure. */
int migr__svg_end(struct migr__svg *s, char **svg_r, size_t *len_r);

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about n ticks over span. */
double migr__svg_tick_step(double span, unsigned int n);

#endif /* MIGR_SVG_H */
