/*
 * xen_trace_rec.c: xen-trace-rec, records a dirty-page trace (bench/traces/README.md) of a
 * running Xen guest from dom0 with log-dirty, as migration sees it.
 *
 *   xen-trace-rec DOMID OUT.trc [EPOCH_MS [SECONDS [NOTE]]]     (defaults 20 ms, 20 s)
 *
 * Enables log-dirty on the domain, CLEANs once (dropping whatever count an earlier session
 * left), then CLEANs with a bitmap every epoch and records the pages set; log-dirty is
 * turned off at the end. The guest's size in the trace is its page count (tot_pages):
 * pfns below it keep their number, the few above it (a PVH guest's special pages near the
 * top of its p2m) are folded into its last 64 pages. Do not run it on a domain being
 * migrated: log-dirty has one owner.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenctrl.h>
#include "trace.h"

#define BITS_PER_UL (8 * sizeof(unsigned long))

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int main(int argc, char **argv)
{
	xc_interface *xch = NULL;
	xc_dominfo_t info;
	xen_pfn_t max_gpfn = 0;
	xc_shadow_op_stats_t stats;
	struct trace *t = NULL;
	unsigned long p2m_size, nr_pages = 0, words;
	uint64_t n_pages, t0;
	uint32_t domid, epoch_us, epochs, e;
	char note[1024];
	int rc = 1, logdirty = 0;
	DECLARE_HYPERCALL_BUFFER(unsigned long, bitmap);

	if (argc < 3 || argc > 6) {
		fprintf(stderr, "usage: xen-trace-rec DOMID OUT.trc [EPOCH_MS [SECONDS [NOTE]]]\n");
		return 2;
	}
	domid = (uint32_t)strtoul(argv[1], NULL, 0);
	epoch_us = (uint32_t)((argc > 3 ? atof(argv[3]) : 20.0) * 1000);
	epochs = (uint32_t)((argc > 4 ? atof(argv[4]) : 20.0) * 1e6 / (epoch_us ? epoch_us : 1));
	if (epoch_us < 1000 || !epochs) {
		fprintf(stderr, "xen-trace-rec: epoch >= 1 ms and a positive duration, please\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	xch = xc_interface_open(NULL, NULL, 0);
	if (!xch) {
		fprintf(stderr, "xen-trace-rec: cannot open the hypervisor interface: %s\n",
			strerror(errno));
		return 1;
	}
	if (xc_domain_getinfo(xch, domid, 1, &info) != 1 || info.domid != domid) {
		fprintf(stderr, "xen-trace-rec: no domain %u\n", domid);
		goto out;
	}
	if (xc_domain_maximum_gpfn(xch, domid, &max_gpfn) < 0) {
		fprintf(stderr, "xen-trace-rec: domain %u: maximum gpfn: %s\n", domid, strerror(errno));
		goto out;
	}
	p2m_size = max_gpfn + 1;
	n_pages = info.nr_pages ? info.nr_pages : p2m_size;
	if (n_pages > p2m_size)
		n_pages = p2m_size;
	words = (p2m_size + BITS_PER_UL - 1) / BITS_PER_UL;
	nr_pages = (words * sizeof(unsigned long) + XC_PAGE_SIZE - 1) / XC_PAGE_SIZE;
	bitmap = xc_hypercall_buffer_alloc_pages(xch, bitmap, nr_pages);
	if (!bitmap) {
		fprintf(stderr, "xen-trace-rec: no memory for the bitmap\n");
		goto out;
	}
	if (xc_shadow_control(xch, domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) < 0) {
		fprintf(stderr, "xen-trace-rec: domain %u: enabling log-dirty: %s\n", domid,
			strerror(errno));
		goto out;
	}
	logdirty = 1;
	if (xc_logdirty_control(xch, domid, XEN_DOMCTL_SHADOW_OP_CLEAN, HYPERCALL_BUFFER(bitmap),
				p2m_size, 0, &stats) < 0) {
		fprintf(stderr, "xen-trace-rec: domain %u: first CLEAN: %s\n", domid, strerror(errno));
		goto out;
	}
	snprintf(note, sizeof(note), "recorded by xen-trace-rec (log-dirty CLEAN with a bitmap"
		 " every %u us) from Xen domain %u, %lu pages, p2m size %lu%s%s", epoch_us, domid,
		 (unsigned long)n_pages, p2m_size, argc > 5 ? ": " : "", argc > 5 ? argv[5] : "");
	t = trace_new("xen", XC_PAGE_SIZE, epoch_us, n_pages);
	if (!t || trace_set_note(t, note))
		goto out;

	t0 = now_us();
	for (e = 0; e < epochs && !stop; e++) {
		uint64_t next = t0 + (uint64_t)(e + 1) * epoch_us, t1 = now_us();

		if (next > t1) {
			struct timespec ts = { (time_t)((next - t1) / 1000000u),
					       (long)((next - t1) % 1000000u) * 1000 };

			nanosleep(&ts, NULL);
		}
		if (xc_logdirty_control(xch, domid, XEN_DOMCTL_SHADOW_OP_CLEAN,
					HYPERCALL_BUFFER(bitmap), p2m_size, 0, &stats) < 0) {
			fprintf(stderr, "xen-trace-rec: domain %u: CLEAN: %s (stopping)\n", domid,
				strerror(errno));
			break;
		}
		for (unsigned long w = 0; w < words; w++) {
			unsigned long bits = bitmap[w];

			while (bits) {
				unsigned long b = (unsigned long)__builtin_ctzl(bits);
				uint64_t pfn = (uint64_t)w * BITS_PER_UL + b;

				bits &= bits - 1;
				if (pfn >= p2m_size)
					break;
				if (pfn >= n_pages)
					pfn = n_pages - 1 - (p2m_size - 1 - pfn) % (n_pages < 64 ? n_pages : 64);
				if (trace_add_run(t, pfn, 1))
					goto out;
			}
		}
		if (trace_end_epoch(t))
			goto out;
	}
	rc = trace_save(t, argv[2]);
	if (rc) {
		fprintf(stderr, "xen-trace-rec: %s: %s\n", argv[2], strerror(-rc));
		rc = 1;
		goto out;
	}
	fprintf(stderr, "xen-trace-rec: %s: %u epochs, %llu pages, %llu page-epochs\n", argv[2],
		t->n_epochs, (unsigned long long)n_pages,
		(unsigned long long)trace_total_writes(t));
	rc = 0;
out:
	if (logdirty && xc_shadow_control(xch, domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0)
		fprintf(stderr, "xen-trace-rec: domain %u: log-dirty off: %s\n", domid, strerror(errno));
	if (bitmap)
		xc_hypercall_buffer_free_pages(xch, bitmap, nr_pages);
	trace_free(t);
	xc_interface_close(xch);
	return rc;
}
