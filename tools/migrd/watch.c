/*
 * watch.c: migrd's xenstore watches: the maintenance request node and the guests' acks
 * (both handed to the evacuation service), and new domains (@introduceDomain), each of
 * which gets its notice directory with maintenance-event = NONE, so that a guest that just
 * arrived by migration sees its notice reset on the new host.
 *
 * A domain is introduced in the middle of its restore (libxl's build), which for a migrating
 * guest is inside its blackout; the scan and the writes for its directory would compete
 * with the restore for xenstored and dom0's CPU there. So the scan runs NOTICE_DELAY_MS
 * after the first introduction not yet scanned for, from a timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include "evacd.h"

#define TOK_INTRO "migrd-introduce"
#define NOTICE_DELAY_MS 3000

static int notice_timer = -1;
static bool notice_armed;

/* Gives every guest domain without a notice directory one, with NONE. */
static void notice_dirs(void)
{
	struct migr_xs *xs = migrd_evac.xs;
	char **doms = NULL;
	unsigned n = 0;

	if (xs->ops->directory(xs, "/local/domain", &doms, &n))
		return;
	for (unsigned i = 0; i < n; i++) {
		char path[96], *v = NULL, *end;
		size_t len;
		unsigned long id = strtoul(doms[i], &end, 10);

		if (*end || id == 0 || id > 32751 || doms[i][0] == '0')
			continue;
		snprintf(path, sizeof(path), "/local/domain/%lu/migr/maintenance-event", id);
		if (!xs->ops->read(xs, path, &v, &len)) {
			free(v);
			continue;
		}
		/* Only for a domain whose home exists (libxl made it). */
		snprintf(path, sizeof(path), "/local/domain/%lu", id);
		if (xs->ops->read(xs, path, &v, &len))
			continue;
		free(v);
		if (migr_evac_notice_reset(xs, id))
			xtl_log(migrd_evac.lg, XTL_DEBUG, -1, "migrd",
				"domain %lu: no notice directory yet, ignoring", id);
	}
	free(doms);
}

#define WATCH_BATCH 64

static int on_xenstore(void *arg)
{
	struct migr_xs *xs = migrd_evac.xs;
	char *path, *tok;
	bool intro = false;

	/* A bounded batch per turn: a guest writing its nodes in a loop must not keep the
	 * main loop (the listener, the control socket) waiting; the xenstore fd stays
	 * readable while events are queued, so the next turn takes the next batch. */
	for (unsigned int n = 0; n < WATCH_BATCH && xs->ops->read_watch(xs, &path, &tok) == 0;
	     n++) {
		if (!strcmp(tok, TOK_INTRO))
			intro = true;
		else if (migrd_evac.svc)
			migr_evacd_watch_event(migrd_evac.svc, path, tok);
		free(path);
		free(tok);
	}
	if (intro && !notice_armed) {
		struct itimerspec its = { .it_value = { NOTICE_DELAY_MS / 1000,
							(NOTICE_DELAY_MS % 1000) * 1000000L } };

		if (notice_timer >= 0 && timerfd_settime(notice_timer, 0, &its, NULL) == 0)
			notice_armed = true;
		else
			notice_dirs();   /* no timer: at once */
	}
	return 0;
}

static int on_notice_timer(void *arg)
{
	uint64_t n;

	(void)arg;
	if (read(notice_timer, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return 0;
	notice_armed = false;
	notice_dirs();
	return 0;
}

int migrd_watch_start(void)
{
	struct migr_xs *xs = migrd_evac.xs;
	int rc;

	rc = xs->ops->watch(xs, "@introduceDomain", TOK_INTRO);
	if (rc) {
		fprintf(stderr, "migrd: cannot watch for new domains (%s)\n", migr_strerror(rc));
		return rc;
	}
	notice_dirs();
	notice_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (notice_timer >= 0 && migrd_add_source(notice_timer, on_notice_timer, NULL)) {
		close(notice_timer);
		notice_timer = -1;
	}
	rc = migrd_add_source(xs->ops->fileno(xs), on_xenstore, NULL);
	if (rc)
		fprintf(stderr, "migrd: no room for the xenstore source (%s)\n", migr_strerror(rc));
	return rc;
}
