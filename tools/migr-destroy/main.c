/*
 * migr-destroy: destroys one domain through libxl, in a process of its own. Not meant to
 * be run by hand: migr and migrd run it (libmigr/xen_hv.c, xen_destroy()).
 *
 * Why a process: libxl_domain_destroy() forks a child that calls into libxenctrl without
 * exec'ing. In a program with other threads making hypercalls at that moment (migrd runs
 * several migrations at once), the child can inherit a libxencall lock held by one of
 * them and wait for it for ever; it also holds every pipe the parent had open, so another
 * migration's stream never sees its end. Spawned (vfork and exec) from a thread, this
 * program is single-threaded, and the fork inside libxl is safe again.
 *
 * Exit status: 0 destroyed, 1 libxl failed (its message on stderr), 2 bad usage, 3 no
 * such domain.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenctrl.h>
#include <libxl.h>
#include <xentoollog.h>

int main(int argc, char **argv)
{
	xentoollog_logger_stdiostream *lg;
	libxl_ctx *ctx = NULL;
	unsigned long domid;
	char *end;
	int rc;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: migr-destroy DOMID\n"
		       "Destroys domain DOMID through libxl (as `xl destroy` does), in a process of\n"
		       "its own: migr and migrd run it instead of destroying from one of their\n"
		       "threads. Exit status 0 destroyed, 1 failed, 2 bad usage, 3 no such domain.\n");
		return 0;
	}
	errno = 0;
	domid = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
	if (argc != 2 || errno || end == argv[1] || *end || domid == 0 ||
	    domid >= DOMID_FIRST_RESERVED) {
		fprintf(stderr, "usage: migr-destroy DOMID (a guest's domain id, 1-%u)\n",
			DOMID_FIRST_RESERVED - 1);
		return 2;
	}
	lg = xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
	if (!lg || libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, (xentoollog_logger *)lg)) {
		fprintf(stderr, "migr-destroy: cannot open libxl\n");
		return 1;
	}
	rc = libxl_domain_destroy(ctx, (uint32_t)domid, NULL);
	if (rc)
		fprintf(stderr, "migr-destroy: destroying domain %lu failed (libxl error %d)\n",
			domid, rc);
	libxl_ctx_free(ctx);
	xtl_logger_destroy((xentoollog_logger *)lg);
	return rc == ERROR_DOMAIN_NOTFOUND ? 3 : rc ? 1 : 0;
}
