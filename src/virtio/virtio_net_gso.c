/* Software checksum and TCP segmentation offloads (see virtio_net_gso.h). */
#include <errno.h>
#include <string.h>

#include "virtio/virtio_net_gso.h"

/* ETH_HLEN, ETH_P_IPV6 come with <linux/if_ether.h> (through virtio_net.h). */
#define ETH_P_IPV4 0x0800u
#define ETH_P_VLAN 0x8100u
#define IPPROTO_TCP_ 6u
#define TCP_FIN 0x01u
#define TCP_PSH 0x08u
#define TCP_CWR 0x80u

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ones' complement sum of len bytes (big-endian words) added to sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	uint64_t s = sum;

	for (; len >= 2; p += 2, len -= 2)
		s += get16(p);
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int virtio_net_csum_complete(uint8_t *frame, uint32_t len, uint16_t csum_start,
			     uint16_t csum_offset)
{
	uint32_t at = (uint32_t)csum_start + csum_offset;

	if (csum_start >= len || at + 2 > len)
		return -EINVAL;
	/* The field holds the driver's partial sum (the pseudo-header): it is
	 * part of what is summed. */
	put16(frame + at, csum_fold(csum_add(0, frame + csum_start, len - csum_start)));
	return 0;
}

int virtio_net_gso_prepare(const uint8_t *frame, uint32_t len,
			   const struct virtio_net_hdr_info *info, struct virtio_net_gso *g)
{
	uint32_t l3 = ETH_HLEN, l4, doff, nsegs;
	uint16_t type;

	memset(g, 0, sizeof(*g));
	if (len < ETH_HLEN + 4)
		return -EINVAL;
	type = get16(frame + 12);
	if (type == ETH_P_VLAN) {
		type = get16(frame + 16);
		l3 += 4;
	}
	if (info->gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && type == ETH_P_IPV4) {
		uint32_t ihl;

		if (len < l3 + 20 || frame[l3] >> 4 != 4)
			return -EINVAL;
		ihl = (frame[l3] & 0xfu) * 4u;
		if (ihl < 20 || frame[l3 + 9] != IPPROTO_TCP_)
			return -EINVAL;
		l4 = l3 + ihl;
	} else if (info->gso_type == VIRTIO_NET_HDR_GSO_TCPV6 && type == ETH_P_IPV6) {
		if (len < l3 + 40 || frame[l3] >> 4 != 6 || frame[l3 + 6] != IPPROTO_TCP_)
			return -EINVAL;
		g->ipv6 = 1;
		l4 = l3 + 40;
	} else {
		return -EINVAL;
	}
	if (len < l4 + 20)
		return -EINVAL;
	doff = (frame[l4 + 12] >> 4) * 4u;
	if (doff < 20 || len <= l4 + doff || info->gso_size == 0)
		return -EINVAL;
	g->l3_off = l3;
	g->l4_off = l4;
	g->hdr_len = l4 + doff;
	g->payload = len - g->hdr_len;
	g->mss = info->gso_size;
	nsegs = (g->payload + g->mss - 1) / g->mss;
	if (nsegs > 0xffff || g->hdr_len + g->mss > 0xffff)
		return -EINVAL;
	g->nsegs = (uint16_t)nsegs;
	return 0;
}

uint32_t virtio_net_gso_segment(const struct virtio_net_gso *g, const uint8_t *frame,
				unsigned int i, uint8_t *out)
{
	uint32_t off = i * (uint32_t)g->mss;
	uint32_t seg = g->payload - off < g->mss ? g->payload - off : g->mss;
	uint32_t tcp_len = g->hdr_len - g->l4_off + seg;
	uint8_t *ip = out + g->l3_off, *tcp = out + g->l4_off;
	uint32_t seq, sum;
	uint8_t pseudo[4];

	memcpy(out, frame, g->hdr_len);
	memcpy(out + g->hdr_len, frame + g->hdr_len + off, seg);
	if (g->ipv6) {
		put16(ip + 4, (uint16_t)tcp_len);
		sum = csum_add(0, ip + 8, 32);		/* source and destination */
	} else {
		uint32_t ihl = g->l4_off - g->l3_off;

		put16(ip + 2, (uint16_t)(ihl + tcp_len));
		put16(ip + 4, (uint16_t)(get16(frame + g->l3_off + 4) + i));
		put16(ip + 10, 0);
		put16(ip + 10, csum_fold(csum_add(0, ip, ihl)));
		sum = csum_add(0, ip + 12, 8);
	}
	seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	seq += off;
	tcp[4] = (uint8_t)(seq >> 24);
	tcp[5] = (uint8_t)(seq >> 16);
	tcp[6] = (uint8_t)(seq >> 8);
	tcp[7] = (uint8_t)seq;
	if (i + 1u < g->nsegs)
		tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i > 0)
		tcp[13] &= (uint8_t)~TCP_CWR;
	put16(tcp + 16, 0);
	put16(pseudo, IPPROTO_TCP_);
	put16(pseudo + 2, (uint16_t)tcp_len);
	sum = csum_add(sum, pseudo, 4);
	put16(tcp + 16, csum_fold(csum_add(sum, tcp, tcp_len)));
	return g->hdr_len + seg;
}
