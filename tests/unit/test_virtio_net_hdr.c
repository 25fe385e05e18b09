/* The virtio-net header helpers: lengths, TX header parsing with its checksum
 * and GSO checks, and building RX headers. */
#include "virtq_harness.h"

/* ---- virtio-net header ---- */

static void test_net_hdr_len(void **state)
{
	(void)state;
	assert_int_equal(virtio_net_hdr_len(0), 10);
	assert_int_equal(virtio_net_hdr_len(F(VIRTIO_NET_F_MRG_RXBUF)), 12);
	assert_int_equal(virtio_net_hdr_len(F(VIRTIO_F_VERSION_1)), 12);
	assert_int_equal(virtio_net_hdr_len(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF)), 12);
	assert_int_equal(virtio_net_hdr_len(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_HASH_REPORT)), 20);
}

/* Builds a TX chain: header (split after split_at bytes into two
 * descriptors when non-zero) followed by pkt_len packet bytes. */
static void tx_chain(const uint8_t *hdr, size_t hdr_len, size_t split_at, uint32_t pkt_len)
{
	vq_init(256, F_DEFAULT);
	guest_write(R1, hdr, hdr_len);
	if (split_at) {
		drv_desc(0, R1, (uint32_t)split_at, VRING_DESC_F_NEXT, 1);
		drv_desc(1, R1 + split_at, (uint32_t)(hdr_len - split_at + pkt_len), 0, 0);
	} else {
		drv_desc(0, R1, (uint32_t)(hdr_len + pkt_len), 0, 0);
	}
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
}

static void make_hdr(uint8_t *h, uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
		     uint16_t csum_start, uint16_t csum_offset)
{
	memset(h, 0, VIRTIO_NET_HDR_MAX_LEN);
	h[0] = flags;
	h[1] = gso;
	memcpy(h + 2, &hdr_len, 2);
	memcpy(h + 4, &gso_size, 2);
	memcpy(h + 6, &csum_start, 2);
	memcpy(h + 8, &csum_offset, 2);
}

#define NET_F_BASE (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_CSUM))

static void expect_tx(uint64_t features, int rc, enum virtio_net_hdr_error why)
{
	struct virtio_net_hdr_info info;
	enum virtio_net_hdr_error reason = VNET_HDR_ERR_GSO_SIZE;

	assert_int_equal(virtio_net_tx_hdr_parse(&eb->elem, features, &info, &reason), rc);
	if (reason != why)
		fail_msg("reason %s, expected %s", virtio_net_hdr_strerror(reason),
			 virtio_net_hdr_strerror(why));
}

static void test_net_tx_parse_ok(void **state)
{
	struct virtio_net_hdr_info info;
	uint8_t h[VIRTIO_NET_HDR_MAX_LEN];

	(void)state;
	/* Header split across descriptors, checksum offload, TSO. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID,
		 VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	tx_chain(h, 12, 5, 3000);
	assert_int_equal(virtio_net_tx_hdr_parse(&eb->elem, NET_F_BASE | F(VIRTIO_NET_F_HOST_TSO4),
						 &info, NULL), 0);
	assert_int_equal(info.vnet_hdr_len, 12);
	assert_int_equal(info.pkt_len, 3000);
	assert_int_equal(info.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);	/* DATA_VALID ignored */
	assert_int_equal(info.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_false(info.gso_ecn);
	assert_int_equal(info.gso_size, 1448);
	assert_int_equal(info.csum_start, 34);
	assert_int_equal(info.csum_offset, 16);
	assert_int_equal(info.hdr_len, 54);
	assert_false(info.hdr_len_exact);

	/* Checksum field ending exactly at the end of the packet. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 40, 18);
	tx_chain(h, 12, 0, 60);
	expect_tx(NET_F_BASE, 0, VNET_HDR_OK);

	/* Legacy 10-byte header, no offloads; csum fields without NEEDS_CSUM
	 * are ignored and cleared. */
	make_hdr(h, 0, 0, 0, 0, 0xffff, 0xffff);
	tx_chain(h, 10, 0, 60);
	assert_int_equal(virtio_net_tx_hdr_parse(&eb->elem, 0, &info, NULL), 0);
	assert_int_equal(info.vnet_hdr_len, 10);
	assert_int_equal(info.pkt_len, 60);
	assert_int_equal(info.csum_start, 0);
	assert_int_equal(info.csum_offset, 0);

	/* Exact hdr_len with GUEST_HDRLEN; ECN with HOST_ECN; USO. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN,
		 74, 1440, 54, 16);
	tx_chain(h, 12, 0, 5000);
	assert_int_equal(virtio_net_tx_hdr_parse(&eb->elem,
						 NET_F_BASE | F(VIRTIO_NET_F_HOST_TSO6) |
							 F(VIRTIO_NET_F_HOST_ECN) |
							 F(VIRTIO_NET_F_GUEST_HDRLEN),
						 &info, NULL), 0);
	assert_true(info.gso_ecn);
	assert_true(info.hdr_len_exact);
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, 42, 1400, 34, 6);
	tx_chain(h, 12, 0, 5000);
	expect_tx(NET_F_BASE | F(VIRTIO_NET_F_HOST_USO), 0, VNET_HDR_OK);
	/* Legacy VIRTIO_NET_F_GSO allows any type. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 42, 1400, 34, 6);
	tx_chain(h, 10, 0, 5000);
	expect_tx(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GSO), 0, VNET_HDR_OK);
}

static void test_net_tx_parse_short_chain(void **state)
{
	uint8_t h[VIRTIO_NET_HDR_MAX_LEN];

	(void)state;
	make_hdr(h, 0, 0, 0, 0, 0, 0);
	/* 11 bytes where the header needs 12 (split over two descriptors). */
	vq_init(256, F_DEFAULT);
	guest_write(R1, h, 12);
	drv_desc(0, R1, 6, VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1 + 6, 5, 0, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	expect_tx(NET_F_BASE, -EINVAL, VNET_HDR_ERR_SHORT);
	/* Writable bytes do not count towards the header. */
	vq_init(256, F_DEFAULT);
	drv_desc(0, R1, 6, VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1 + 6, 100, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	expect_tx(NET_F_BASE, -EINVAL, VNET_HDR_ERR_SHORT);
	/* Exactly the header and no packet is a valid (empty) parse. */
	tx_chain(h, 12, 0, 0);
	expect_tx(NET_F_BASE, 0, VNET_HDR_OK);
	/* 12 bytes is short for a 20-byte HASH_REPORT header. */
	tx_chain(h, 12, 0, 0);
	expect_tx(NET_F_BASE | F(VIRTIO_NET_F_HASH_REPORT), -EINVAL, VNET_HDR_ERR_SHORT);
}

static void test_net_tx_parse_csum_checks(void **state)
{
	uint8_t h[VIRTIO_NET_HDR_MAX_LEN];

	(void)state;
	/* One byte past the packet. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 40, 19);
	tx_chain(h, 12, 0, 60);
	expect_tx(NET_F_BASE, -EINVAL, VNET_HDR_ERR_CSUM_RANGE);
	/* Largest values: no 16-bit overflow in the check. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0xffff, 0xffff);
	tx_chain(h, 12, 0, 0xffff);
	expect_tx(NET_F_BASE, -EINVAL, VNET_HDR_ERR_CSUM_RANGE);
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0xffff, 0xfffe);
	tx_chain(h, 12, 0, 0x1ff00);
	expect_tx(NET_F_BASE, -EINVAL, VNET_HDR_ERR_CSUM_RANGE);
	/* NEEDS_CSUM without VIRTIO_NET_F_CSUM. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
	tx_chain(h, 12, 0, 100);
	expect_tx(F(VIRTIO_F_VERSION_1), -EINVAL, VNET_HDR_ERR_CSUM_FEATURE);
}

static void test_net_tx_parse_gso_checks(void **state)
{
	uint8_t h[VIRTIO_NET_HDR_MAX_LEN];
	const uint64_t tso4 = NET_F_BASE | F(VIRTIO_NET_F_HOST_TSO4);

	(void)state;
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	tx_chain(h, 12, 0, 3000);
	expect_tx(NET_F_BASE, -EINVAL, VNET_HDR_ERR_GSO_FEATURE);
	expect_tx(NET_F_BASE | F(VIRTIO_NET_F_HOST_TSO6), -EINVAL, VNET_HDR_ERR_GSO_FEATURE);
	expect_tx(tso4, 0, VNET_HDR_OK);

	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 2, 54, 1448, 34, 16);	/* unknown type */
	tx_chain(h, 12, 0, 3000);
	expect_tx(tso4 | F(VIRTIO_NET_F_GSO), -EINVAL, VNET_HDR_ERR_GSO_TYPE);
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0x7f, 54, 1448, 34, 16);
	tx_chain(h, 12, 0, 3000);
	expect_tx(tso4, -EINVAL, VNET_HDR_ERR_GSO_TYPE);
	make_hdr(h, 0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0);	/* ECN on a non-GSO packet */
	tx_chain(h, 12, 0, 100);
	expect_tx(tso4 | F(VIRTIO_NET_F_HOST_ECN), -EINVAL, VNET_HDR_ERR_GSO_TYPE);

	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
		 54, 1448, 34, 16);
	tx_chain(h, 12, 0, 3000);
	expect_tx(tso4, -EINVAL, VNET_HDR_ERR_GSO_FEATURE);
	expect_tx(tso4 | F(VIRTIO_NET_F_HOST_ECN), 0, VNET_HDR_OK);

	make_hdr(h, 0, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
	tx_chain(h, 12, 0, 3000);
	expect_tx(tso4, -EINVAL, VNET_HDR_ERR_GSO_CSUM);

	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 0, 34, 16);
	tx_chain(h, 12, 0, 3000);
	expect_tx(tso4, -EINVAL, VNET_HDR_ERR_GSO_SIZE);

	/* Exact hdr_len beyond the packet, or ending before the checksum. */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 3001, 1448, 34, 16);
	tx_chain(h, 12, 0, 3000);
	expect_tx(tso4 | F(VIRTIO_NET_F_GUEST_HDRLEN), -EINVAL, VNET_HDR_ERR_HDR_LEN);
	expect_tx(tso4, 0, VNET_HDR_OK);	/* only a hint without the feature */
	make_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 40, 1448, 34, 16);
	tx_chain(h, 12, 0, 3000);
	expect_tx(tso4 | F(VIRTIO_NET_F_GUEST_HDRLEN), -EINVAL, VNET_HDR_ERR_HDR_LEN);
	assert_string_equal(virtio_net_hdr_strerror(VNET_HDR_ERR_HDR_LEN),
			    "hdr_len inconsistent with the packet");
}

static void test_net_hdr_build(void **state)
{
	uint8_t buf[VIRTIO_NET_HDR_MAX_LEN + 4];
	struct virtio_net_hdr_info info = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.gso_ecn = true,
		.hdr_len = 54,
		.gso_size = 1448,
		.csum_start = 34,
		.csum_offset = 16,
	};
	const uint8_t v1[12] = { 1, 0x81, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 3, 0 };
	const uint8_t legacy[10] = { 0 };

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(virtio_net_hdr_build(buf, sizeof(buf), F(VIRTIO_F_VERSION_1), &info, 3), 12);
	assert_memory_equal(buf, v1, 12);
	assert_int_equal(buf[12], 0xee);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(virtio_net_hdr_build(buf, sizeof(buf), 0, NULL, 1), 10);
	assert_memory_equal(buf, legacy, 10);
	assert_int_equal(buf[10], 0xee);
	assert_int_equal(virtio_net_hdr_build(buf, 11, F(VIRTIO_F_VERSION_1), NULL, 1), 0);
	assert_int_equal(virtio_net_hdr_build(buf, sizeof(buf),
					      F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_HASH_REPORT),
					      NULL, 1), 20);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_net_hdr_len),
		T(test_net_tx_parse_ok),
		T(test_net_tx_parse_short_chain),
		T(test_net_tx_parse_csum_checks),
		T(test_net_tx_parse_gso_checks),
		T(test_net_hdr_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
