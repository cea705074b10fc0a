/*
 * memcorrupt: flips one byte of one guest frame from dom0, so that the lab can prove its
 * memory check fails when it must (tests/nested/guest/README.md).
 *
 *   memcorrupt [--raw] [--peek] DOMID GFN [OFFSET]
 *
 * GFN is the guest's own frame number, as memwork reports it (data/memwork/pfn-of-page-N).
 * PVH/HVM guests are mapped by that number. A PV guest's frames are mapped by machine frame:
 * memcorrupt looks the frame up in the guest's P2M first, unless --raw says GFN already is
 * one. OFFSET (default 2048) is the byte within the page; the byte is XORed with 0xff.
 * --peek prints the byte and changes nothing. Exit: 0 done, 1 failed, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xenctrl.h>
#include <xenforeignmemory.h>
#include <xenguest.h>

#define GUEST_PAGE 4096u

static int parse_num(const char *s, uint64_t max, uint64_t *v_r)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*v_r = v;
	return 0;
}

/* PV guests: the machine frame behind guest frame pfn, from the guest's own P2M. */
static int pv_pfn_to_mfn(xc_interface *xch, uint32_t domid, uint64_t pfn, uint64_t *mfn_r)
{
	struct xc_domain_meminfo mi;
	uint64_t mfn;
	int rc = 0;

	memset(&mi, 0, sizeof(mi));
	if (xc_map_domain_meminfo(xch, domid, &mi)) {
		rc = -errno;
		fprintf(stderr, "memcorrupt: cannot map the P2M of dom %u: %s\n", domid,
			strerror(errno));
		return rc ? rc : -EIO;
	}
	if (pfn >= mi.p2m_size) {
		fprintf(stderr, "memcorrupt: pfn %" PRIu64 " beyond dom %u's P2M (%lu frames)\n", pfn,
			domid, mi.p2m_size);
		rc = -ERANGE;
		goto out;
	}
	if (mi.guest_width == 8)
		mfn = ((const uint64_t *)mi.p2m_table)[pfn];
	else
		mfn = ((const uint32_t *)mi.p2m_table)[pfn];
	if (mfn == (mi.guest_width == 8 ? ~0ull : 0xffffffffull)) {
		fprintf(stderr, "memcorrupt: pfn %" PRIu64 " of dom %u has no frame\n", pfn, domid);
		rc = -ENOENT;
		goto out;
	}
	*mfn_r = mfn;
out:
	xc_unmap_domain_meminfo(xch, &mi);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: memcorrupt [--raw] [--peek] DOMID GFN [OFFSET]\n"
		   "  flips (XOR 0xff) the byte at OFFSET (default 2048) of guest frame GFN\n"
		   "  --raw   GFN of a PV guest is a machine frame already (no P2M look-up)\n"
		   "  --peek  print the byte, change nothing\n");
}

int main(int argc, char **argv)
{
	xenforeignmemory_handle *fmem = NULL;
	xc_interface *xch = NULL;
	xc_dominfo_t info;
	uint64_t domid, gfn, off = GUEST_PAGE / 2, frame;
	bool raw = false, peek = false, pv;
	volatile uint8_t *page = NULL;
	xen_pfn_t fr;
	int i, err = 0, rc = 1;
	uint8_t old, now, want;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--raw"))
			raw = true;
		else if (!strcmp(argv[i], "--peek"))
			peek = true;
		else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - i < 2 || argc - i > 3 || parse_num(argv[i], DOMID_FIRST_RESERVED - 1, &domid) ||
	    parse_num(argv[i + 1], UINT64_MAX >> 12, &gfn) ||
	    (argc - i == 3 && parse_num(argv[i + 2], GUEST_PAGE - 1, &off))) {
		usage(stderr);
		return 2;
	}

	xch = xc_interface_open(NULL, NULL, 0);
	if (!xch) {
		fprintf(stderr, "memcorrupt: cannot open the hypervisor interface: %s (dom0, root, "
			"xen-privcmd loaded?)\n", strerror(errno));
		goto out;
	}
	if (xc_domain_getinfo(xch, (uint32_t)domid, 1, &info) != 1 || info.domid != domid) {
		fprintf(stderr, "memcorrupt: no domain %" PRIu64 "\n", domid);
		goto out;
	}
	pv = !info.hvm;
	frame = gfn;
	if (pv && !raw && pv_pfn_to_mfn(xch, (uint32_t)domid, gfn, &frame))
		goto out;

	fmem = xenforeignmemory_open(NULL, 0);
	if (!fmem) {
		fprintf(stderr, "memcorrupt: cannot open foreign memory: %s\n", strerror(errno));
		goto out;
	}
	fr = (xen_pfn_t)frame;
	page = xenforeignmemory_map(fmem, (uint32_t)domid, PROT_READ | (peek ? 0 : PROT_WRITE), 1,
				    &fr, &err);
	if (!page || err) {
		fprintf(stderr, "memcorrupt: cannot map frame 0x%" PRIx64 " of dom %" PRIu64 ": %s\n",
			frame, domid, strerror(page ? -err : errno));
		goto out;
	}
	old = page[off];
	want = peek ? old : (uint8_t)(old ^ 0xff);
	if (!peek)
		page[off] = want;
	now = page[off];
	printf("memcorrupt: dom=%" PRIu64 " gfn=%" PRIu64 " frame=0x%" PRIx64 "%s offset=%" PRIu64
	       " old=0x%02x new=0x%02x%s\n", domid, gfn, frame, pv && !raw ? " (pv p2m)" : "", off,
	       old, now, peek ? " peek" : "");
	if (now != want) {
		fprintf(stderr, "memcorrupt: the byte did not change\n");
		goto out;
	}
	rc = 0;
out:
	if (page)
		xenforeignmemory_unmap(fmem, (void *)page, 1);
	if (fmem)
		xenforeignmemory_close(fmem);
	if (xch)
		xc_interface_close(xch);
	return rc;
}
