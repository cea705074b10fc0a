/*
 * fwd_announce.c: the frames the target sends to announce a migrated guest to the fabric,
 * as QEMU's announce-self does: a RARP per MAC (op 3, sender and target hardware address
 * = the guest's MAC, like QEMU and VMware), a gratuitous ARP (a broadcast reply) per IPv4
 * address and an unsolicited neighbour advertisement (override flag) per IPv6 address, all
 * with the guest's MAC as the Ethernet source, so that switches relearn where it is.
 *
 * Entry points: migr__fwd_frame_rarp(), migr__fwd_frame_garp(), migr__fwd_frame_una()
 * (pure), migr__fwd_send_frame() (one frame on an AF_PACKET socket), and
 * migr__fwd_announce_gap() (the back-off schedule).
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include "fwd_int.h"

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t allnodes_mac[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

static uint8_t *put_eth(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = (uint8_t)(type >> 8);
	p[13] = (uint8_t)type;
	return p + 14;
}

/* ARP-format body for IPv4 over Ethernet. */
static uint8_t *put_arp(uint8_t *p, uint16_t op, const uint8_t sha[6], const void *spa,
			const uint8_t tha[6], const void *tpa)
{
	static const uint8_t hdr[6] = { 0x00, 0x01, 0x08, 0x00, 6, 4 };

	memcpy(p, hdr, 6);
	p[6] = (uint8_t)(op >> 8);
	p[7] = (uint8_t)op;
	memcpy(p + 8, sha, 6);
	memcpy(p + 14, spa, 4);
	memcpy(p + 18, tha, 6);
	memcpy(p + 24, tpa, 4);
	return p + 28;
}

/* Pads to the Ethernet minimum (60 bytes without the FCS). */
static size_t pad_frame(uint8_t *buf, uint8_t *end)
{
	size_t len = (size_t)(end - buf);

	if (len < 60) {
		memset(end, 0, 60 - len);
		len = 60;
	}
	return len;
}

size_t migr__fwd_frame_rarp(uint8_t *buf, const uint8_t mac[6])
{
	static const uint8_t zero[4];
	uint8_t *p = put_eth(buf, bcast, mac, ETH_P_RARP);

	p = put_arp(p, 3 /* reverse request */, mac, zero, mac, zero);
	return pad_frame(buf, p);
}

size_t migr__fwd_frame_garp(uint8_t *buf, const uint8_t mac[6], struct in_addr ip)
{
	uint8_t *p = put_eth(buf, bcast, mac, ETH_P_ARP);

	/* A broadcast reply (sender = target = the address): caches update from either
	 * form, and the source's filters, which take only requests, leave it alone. */
	p = put_arp(p, 2 /* reply */, mac, &ip, mac, &ip);
	return pad_frame(buf, p);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

size_t migr__fwd_frame_una(uint8_t *buf, const uint8_t mac[6], const struct in6_addr *ip)
{
	static const uint8_t allnodes[16] = { 0xff, 0x02, [15] = 0x01 };
	const uint16_t icmp_len = 32;          /* NA (24) + target link-layer option (8) */
	uint8_t *ip6 = put_eth(buf, allnodes_mac, mac, ETH_P_IPV6);
	uint8_t *icmp = ip6 + 40;
	uint32_t sum;
	uint16_t ck;

	memset(ip6, 0, 40 + icmp_len);
	ip6[0] = 0x60;
	ip6[4] = 0;
	ip6[5] = (uint8_t)icmp_len;
	ip6[6] = 58;                           /* ICMPv6 */
	ip6[7] = 255;                          /* hop limit required by RFC 4861 */
	memcpy(ip6 + 8, ip->s6_addr, 16);
	memcpy(ip6 + 24, allnodes, 16);
	icmp[0] = 136;                         /* neighbour advertisement */
	icmp[4] = 0x20;                        /* override */
	memcpy(icmp + 8, ip->s6_addr, 16);
	icmp[24] = 2;                          /* target link-layer address */
	icmp[25] = 1;                          /* 8 bytes */
	memcpy(icmp + 26, mac, 6);

	/* Pseudo-header: source, destination, upper-layer length, next header. */
	sum = csum_add(0, ip6 + 8, 32);
	sum += icmp_len;
	sum += 58;
	sum = csum_add(sum, icmp, icmp_len);
	ck = csum_fold(sum);
	icmp[2] = (uint8_t)(ck >> 8);
	icmp[3] = (uint8_t)ck;
	return pad_frame(buf, icmp + icmp_len);
}

int migr__fwd_send_frame(int fd, uint32_t ifindex, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)ifindex;
	sll.sll_protocol = htons((uint16_t)(frame[12] << 8 | frame[13]));
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, frame, 6);
	if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

uint32_t migr__fwd_announce_gap(uint32_t initial_ms, uint32_t step_ms, uint32_t r)
{
	uint64_t gap = (uint64_t)initial_ms + (uint64_t)step_ms * r;

	return gap > UINT32_MAX ? UINT32_MAX : (uint32_t)gap;
}
