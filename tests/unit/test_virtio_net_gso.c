/* Software offloads (src/virtio/virtio_net_gso.c): a NEEDS_CSUM frame's
 * checksum filled in, and TCP over IPv4 / IPv6 frames cut into MSS-sized
 * segments whose headers and checksums are checked here with a checksum
 * written independently of the library's; malformed frames are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtio/virtio_net_gso.h"

#define L3 14u

/* Plain RFC 1071 sum of len bytes, not folded. */
static uint32_t sum16(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An Ethernet + IPv4 (or IPv6) + TCP frame with payload bytes i & 0xff. */
static uint32_t build_tcp(uint8_t *f, int ipv6, uint32_t payload, uint8_t flags)
{
	uint32_t l4 = L3 + (ipv6 ? 40u : 20u), i;

	memset(f, 0, l4 + 20 + payload);
	memset(f, 0x02, 12);
	f[12] = ipv6 ? 0x86 : 0x08;
	f[13] = ipv6 ? 0xdd : 0x00;
	if (ipv6) {
		f[L3] = 0x60;
		f[L3 + 6] = 6;		/* next header: TCP */
		f[L3 + 7] = 64;
		for (i = 0; i < 32; i++)
			f[L3 + 8 + i] = (uint8_t)(0x20 + i);
	} else {
		f[L3] = 0x45;
		f[L3 + 4] = 0x12;	/* id 0x1234 */
		f[L3 + 5] = 0x34;
		f[L3 + 8] = 64;
		f[L3 + 9] = 6;
		memcpy(f + L3 + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	}
	f[l4 + 4] = 0xff;	/* seq 0xfffffff0: the segments' sequence numbers wrap */
	f[l4 + 5] = 0xff;
	f[l4 + 6] = 0xff;
	f[l4 + 7] = 0xf0;
	f[l4 + 12] = 5 << 4;
	f[l4 + 13] = flags;
	for (i = 0; i < payload; i++)
		f[l4 + 20 + i] = (uint8_t)i;
	return l4 + 20 + payload;
}

static void check_segments(int ipv6, uint32_t payload, uint16_t mss, unsigned int want_segs)
{
	static uint8_t frame[70000], seg[70000];
	uint32_t l4 = L3 + (ipv6 ? 40u : 20u), len, got = 0;
	struct virtio_net_hdr_info info = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
		.gso_size = mss,
		.csum_start = (uint16_t)l4,
		.csum_offset = 16,
	};
	struct virtio_net_gso g;
	unsigned int i;

	len = build_tcp(frame, ipv6, payload, 0x80 | 0x10 | 0x08 | 0x01);	/* CWR ACK PSH FIN */
	assert_int_equal(virtio_net_gso_prepare(frame, len, &info, &g), 0);
	assert_int_equal(g.nsegs, want_segs);
	assert_int_equal(g.hdr_len, l4 + 20);
	for (i = 0; i < g.nsegs; i++) {
		uint32_t n = virtio_net_gso_segment(&g, frame, i, seg);
		uint32_t data = n - (l4 + 20), tcp_len = n - l4;
		uint8_t pseudo[4] = { 0, 6, (uint8_t)(tcp_len >> 8), (uint8_t)tcp_len };
		uint32_t s;

		assert_true(data > 0 && data <= mss);
		if (i + 1 < g.nsegs)
			assert_int_equal(data, mss);
		/* The payload continues where the last segment stopped. */
		assert_memory_equal(seg + l4 + 20, frame + l4 + 20 + got, data);
		assert_int_equal(be32(seg + l4 + 4), 0xfffffff0u + got);
		got += data;
		if (ipv6) {
			assert_int_equal(seg[L3 + 4] << 8 | seg[L3 + 5], tcp_len);
			s = sum16(seg + L3 + 8, 32);
		} else {
			assert_int_equal(seg[L3 + 2] << 8 | seg[L3 + 3], n - L3);
			assert_int_equal(seg[L3 + 4] << 8 | seg[L3 + 5], 0x1234 + i);
			assert_int_equal(fold(sum16(seg + L3, 20)), 0xffff);	/* IP checksum */
			s = sum16(seg + L3 + 12, 8);
		}
		s += sum16(pseudo, 4) + sum16(seg + l4, tcp_len);
		assert_int_equal(fold(s), 0xffff);				/* TCP checksum */
		assert_int_equal(seg[l4 + 13] & 0x10, 0x10);			/* ACK everywhere */
		assert_int_equal(!!(seg[l4 + 13] & 0x80), i == 0);		/* CWR first */
		assert_int_equal(!!(seg[l4 + 13] & 0x09), i + 1 == g.nsegs);	/* PSH FIN last */
	}
	assert_int_equal(got, payload);
}

static void test_tso_ipv4(void **state)
{
	(void)state;
	check_segments(0, 3500, 1448, 3);
	check_segments(0, 1448, 1448, 1);
	check_segments(0, 64000, 1000, 64);
}

static void test_tso_ipv6(void **state)
{
	(void)state;
	check_segments(1, 2000, 1428, 2);
	check_segments(1, 60001, 8960, 7);
}

static void test_tso_refused(void **state)
{
	static uint8_t f[4000];
	struct virtio_net_hdr_info info = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1000 };
	struct virtio_net_gso g;
	uint32_t len = build_tcp(f, 0, 3000, 0x10);

	(void)state;
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), 0);
	/* The type says IPv6, the frame is IPv4. */
	info.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), -EINVAL);
	info.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), -EINVAL);
	info.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	/* gso_size 0, a truncated frame, no payload, a bad TCP data offset, not TCP. */
	info.gso_size = 0;
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), -EINVAL);
	info.gso_size = 1000;
	assert_int_equal(virtio_net_gso_prepare(f, 40, &info, &g), -EINVAL);
	assert_int_equal(virtio_net_gso_prepare(f, L3 + 40, &info, &g), -EINVAL);
	f[L3 + 20 + 12] = 4 << 4;
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), -EINVAL);
	f[L3 + 20 + 12] = 15 << 4;	/* 60 bytes of TCP header: fits */
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), 0);
	f[L3 + 9] = 17;
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), -EINVAL);
	f[L3 + 9] = 6;
	f[L3] = 0x44;			/* IHL 4 */
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), -EINVAL);
	/* An MSS that would make a segment longer than 64 KiB. */
	f[L3] = 0x45;
	info.gso_size = 65535;
	assert_int_equal(virtio_net_gso_prepare(f, len, &info, &g), -EINVAL);
}

static void test_csum_complete(void **state)
{
	uint8_t f[200];
	uint32_t i, s;

	(void)state;
	for (i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 7);
	/* A partial sum left in the field by the driver counts. */
	f[40] = 0x12;
	f[41] = 0x34;
	assert_int_equal(virtio_net_csum_complete(f, 151, 34, 6), 0);
	/* Verifies with the pseudo-header sum the field held. */
	s = sum16(f + 34, 151 - 34) + 0x1234;
	assert_int_equal(fold(s), 0xffff);
	assert_int_equal(virtio_net_csum_complete(f, 151, 150, 0), -EINVAL);
	assert_int_equal(virtio_net_csum_complete(f, 151, 151, 0), -EINVAL);
	assert_int_equal(virtio_net_csum_complete(f, 151, 100, 50), -EINVAL);
	assert_int_equal(virtio_net_csum_complete(f, 151, 100, 49), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tso_ipv4),
		cmocka_unit_test(test_tso_ipv6),
		cmocka_unit_test(test_tso_refused),
		cmocka_unit_test(test_csum_complete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
