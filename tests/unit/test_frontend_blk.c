/* Unit tests for the frontend's block load, the pure parts: request chains
 * (header, data split in segments, status; reads write the data, writes do
 * not; no status on demand; too many descriptors refused), the segment size
 * under size_max and seg_max, the config decoded under the negotiated
 * features (and configs no request can be built for), the sector pattern
 * (every way a sector can be wrong is told apart), the latency percentiles
 * (exact below 128, within 1/64 above, nearest rank, merge) and the names
 * of modes and --blk-bad kinds. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/frontend.h"

#define BIT(n) (1ull << (n))

/* ---- chains ---- */

static void check_buf(const struct virtq_drv_buf *b, uint64_t addr, uint32_t len, bool writes)
{
	assert_int_equal(b->addr, addr);
	assert_int_equal(b->len, len);
	assert_int_equal(b->device_writes, writes);
}

static void test_chain_write_segments(void **state)
{
	struct fe_blk_chain c = {
		.hdr_addr = 0x1000, .data_addr = 0x10000, .data_len = 10 * 512, .seg_size = 4096,
		.data_in = false, .status_addr = 0x1010,
	};
	struct virtq_drv_buf bufs[8];

	(void)state;
	assert_int_equal(fe_blk_chain_bufs(&c, bufs, 8), 4);
	check_buf(&bufs[0], 0x1000, 16, false);
	/* 5120 bytes in 4096 + 1024, device-readable. */
	check_buf(&bufs[1], 0x10000, 4096, false);
	check_buf(&bufs[2], 0x11000, 1024, false);
	check_buf(&bufs[3], 0x1010, 1, true);
}

static void test_chain_read_and_flush(void **state)
{
	struct fe_blk_chain c = {
		.hdr_addr = 0x1000, .data_addr = 0x20000, .data_len = 8192, .data_in = true,
		.status_addr = 0x1010,
	};
	struct virtq_drv_buf bufs[4];

	(void)state;
	/* seg_size 0: one segment; the device writes data and status. */
	assert_int_equal(fe_blk_chain_bufs(&c, bufs, 4), 3);
	check_buf(&bufs[1], 0x20000, 8192, true);
	check_buf(&bufs[2], 0x1010, 1, true);
	/* A flush: header and status only. */
	c.data_len = 0;
	assert_int_equal(fe_blk_chain_bufs(&c, bufs, 4), 2);
	check_buf(&bufs[1], 0x1010, 1, true);
}

static void test_chain_no_status_and_limit(void **state)
{
	struct fe_blk_chain c = {
		.hdr_addr = 0x1000, .data_addr = 0x20000, .data_len = 4 * 512, .seg_size = 512,
		.status_addr = 0x1010, .no_status = true,
	};
	struct virtq_drv_buf bufs[6];
	int n;

	(void)state;
	n = fe_blk_chain_bufs(&c, bufs, 6);
	assert_int_equal(n, 5);
	for (int i = 0; i < n; i++)
		assert_false(bufs[i].device_writes);
	/* Four segments, header and status need six. */
	c.no_status = false;
	assert_int_equal(fe_blk_chain_bufs(&c, bufs, 5), -E2BIG);
	assert_int_equal(fe_blk_chain_bufs(&c, bufs, 6), 6);
	assert_int_equal(fe_blk_chain_bufs(&c, bufs, 0), -E2BIG);
}

static void test_hdr_and_status_names(void **state)
{
	uint8_t h[16];
	struct virtio_blk_outhdr o;
	char buf[8];

	(void)state;
	fe_blk_hdr_put(h, VIRTIO_BLK_T_OUT, 0x123456789aull);
	memcpy(&o, h, sizeof(o));
	assert_int_equal(le32toh(o.type), VIRTIO_BLK_T_OUT);
	assert_int_equal(o.ioprio, 0);
	assert_int_equal(le64toh(o.sector), 0x123456789aull);
	assert_string_equal(fe_blk_status_str(VIRTIO_BLK_S_OK, buf, sizeof(buf)), "OK");
	assert_string_equal(fe_blk_status_str(VIRTIO_BLK_S_IOERR, buf, sizeof(buf)), "IOERR");
	assert_string_equal(fe_blk_status_str(VIRTIO_BLK_S_UNSUPP, buf, sizeof(buf)), "UNSUPP");
	assert_string_equal(fe_blk_status_str(0xff, buf, sizeof(buf)), "0xff");
}

/* ---- segment size ---- */

static void test_seg_size(void **state)
{
	struct fe_blk_geometry g = { .capacity = 1 << 20, .blk_size = 512 };
	uint32_t seg;

	(void)state;
	/* No limits: one segment. */
	assert_int_equal(fe_blk_seg_size(&g, 1 << 20, 0, &seg), 0);
	assert_int_equal(seg, 1 << 20);
	/* size_max caps it, rounded down to a sector. */
	g.size_max = 65536 + 100;
	assert_int_equal(fe_blk_seg_size(&g, 1 << 20, 0, &seg), 0);
	assert_int_equal(seg, 65536);
	/* seg_max: 16 segments of 64 KiB are fine, 15 are not. */
	g.seg_max = 16;
	assert_int_equal(fe_blk_seg_size(&g, 1 << 20, 0, &seg), 0);
	g.seg_max = 15;
	assert_int_equal(fe_blk_seg_size(&g, 1 << 20, 0, &seg), -E2BIG);
	/* A wish smaller than the device's limit wins; larger loses. */
	g.seg_max = 0;
	assert_int_equal(fe_blk_seg_size(&g, 8192, 1024, &seg), 0);
	assert_int_equal(seg, 1024);
	assert_int_equal(fe_blk_seg_size(&g, 8192, 1 << 20, &seg), 0);
	assert_int_equal(seg, 8192);
	g.seg_max = 4;
	assert_int_equal(fe_blk_seg_size(&g, 8192, 1024, &seg), -E2BIG);
	/* Sizes that are no request. */
	assert_int_equal(fe_blk_seg_size(&g, 0, 0, &seg), -EINVAL);
	assert_int_equal(fe_blk_seg_size(&g, 1000, 0, &seg), -EINVAL);
	assert_int_equal(fe_blk_seg_size(&g, 4096, 1000, &seg), -EINVAL);
	/* Without seg_max the tool still stops at FE_BLK_MAX_SEGS. */
	g.seg_max = 0;
	g.size_max = 512;
	assert_int_equal(fe_blk_seg_size(&g, FE_BLK_MAX_SEGS * 512, 0, &seg), 0);
	assert_int_equal(fe_blk_seg_size(&g, (FE_BLK_MAX_SEGS + 1) * 512, 0, &seg), -E2BIG);
}

/* ---- config ---- */

static void put_config(struct virtio_blk_config *c)
{
	memset(c, 0, sizeof(*c));
	c->capacity = htole64(2097152);
	c->size_max = htole32(65536);
	c->seg_max = htole32(126);
	c->blk_size = htole32(4096);
	c->wce = 1;
	c->num_queues = htole16(4);
	c->max_discard_sectors = htole32(32768);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(8);
	c->max_write_zeroes_sectors = htole32(16384);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 1;
}

static void test_geometry_features(void **state)
{
	struct virtio_blk_config c;
	struct fe_blk_geometry g;
	const char *why;
	uint64_t all = BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
		       BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_MQ) | BIT(VIRTIO_BLK_F_RO) |
		       BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_CONFIG_WCE) |
		       BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);

	(void)state;
	assert_true(FE_BLK_CONFIG_LEN <= sizeof(c));
	assert_int_equal(FE_BLK_CONFIG_LEN,
			 offsetof(struct virtio_blk_config, write_zeroes_may_unmap) + 4);
	put_config(&c);
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, all, &why), 0);
	assert_null(why);
	assert_int_equal(g.capacity, 2097152);
	assert_int_equal(g.size_max, 65536);
	assert_int_equal(g.seg_max, 126);
	assert_int_equal(g.blk_size, 4096);
	assert_int_equal(g.num_queues, 4);
	assert_true(g.ro && g.flush && g.has_wce && g.discard && g.write_zeroes);
	assert_int_equal(g.wce, 1);
	assert_int_equal(g.max_discard_sectors, 32768);
	assert_int_equal(g.discard_sector_alignment, 8);
	assert_int_equal(g.max_write_zeroes_sectors, 16384);
	assert_int_equal(g.write_zeroes_may_unmap, 1);
	/* Fields whose feature was not negotiated are not read. */
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, 0, &why), 0);
	assert_int_equal(g.size_max, 0);
	assert_int_equal(g.seg_max, 0);
	assert_int_equal(g.blk_size, 512);
	assert_int_equal(g.num_queues, 1);
	assert_false(g.ro || g.flush || g.has_wce || g.discard || g.write_zeroes);
	assert_int_equal(g.max_discard_sectors, 0);
}

static void test_geometry_unusable(void **state)
{
	struct virtio_blk_config c;
	struct fe_blk_geometry g;
	const char *why;
	uint64_t f = BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_MQ);

	(void)state;
	put_config(&c);
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN - 1, f, &why), -EINVAL);
	assert_non_null(why);
	c.capacity = 0;
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, f, &why), -EINVAL);
	put_config(&c);
	c.capacity = htole64(UINT64_MAX / 256);
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, f, &why), -EINVAL);
	put_config(&c);
	c.blk_size = htole32(3000);
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, f, &why), -EINVAL);
	c.blk_size = htole32(256);
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, f, &why), -EINVAL);
	put_config(&c);
	c.size_max = htole32(100);
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, f, &why), -EINVAL);
	put_config(&c);
	c.num_queues = 0;
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, f, &why), -EINVAL);
	/* size_max 0 with the feature: no limit (what QEMU's daemon says). */
	put_config(&c);
	c.size_max = 0;
	assert_int_equal(fe_blk_geometry_parse(&g, &c, FE_BLK_CONFIG_LEN, f, &why), 0);
	assert_int_equal(g.size_max, 0);
}

/* ---- sector pattern ---- */

static void test_sector_roundtrip(void **state)
{
	uint8_t s[FE_BLK_SECTOR], t[FE_BLK_SECTOR];
	uint64_t found;

	(void)state;
	fe_blk_sector_fill(s, 7, 1000, 0xabcd00000005ull);
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 0xabcd00000005ull, &found),
			 FE_BLK_SECTOR_OK);
	assert_int_equal(found, 0xabcd00000005ull);
	/* Generation 0: any generation of this seed and LBA. */
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 0, &found), FE_BLK_SECTOR_OK);
	/* Deterministic: the same inputs, the same bytes; another LBA, others. */
	fe_blk_sector_fill(t, 7, 1000, 0xabcd00000005ull);
	assert_memory_equal(s, t, sizeof(s));
	fe_blk_sector_fill(t, 7, 1001, 0xabcd00000005ull);
	assert_memory_not_equal(s + 32, t + 32, sizeof(s) - 32);
}

static void test_sector_mismatches(void **state)
{
	uint8_t s[FE_BLK_SECTOR];
	uint64_t found;

	(void)state;
	fe_blk_sector_fill(s, 7, 1000, 5);
	assert_int_equal(fe_blk_sector_check(s, 8, 1000, 5, &found), FE_BLK_SECTOR_WRONG_SEED);
	assert_int_equal(fe_blk_sector_check(s, 7, 1001, 5, &found), FE_BLK_SECTOR_WRONG_LBA);
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 6, &found), FE_BLK_SECTOR_WRONG_GEN);
	assert_int_equal(found, 5);
	/* One payload bit. */
	s[300] ^= 0x10;
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 5, &found), FE_BLK_SECTOR_BAD_DATA);
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 0, &found), FE_BLK_SECTOR_BAD_DATA);
	s[300] ^= 0x10;
	/* A header field changed without its check: torn or corrupt. */
	s[16] ^= 1;
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 0, &found), FE_BLK_SECTOR_BAD_HEADER);
	s[16] ^= 1;
	s[30] = 1;	/* the zero word */
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 0, &found), FE_BLK_SECTOR_BAD_HEADER);
	s[30] = 0;
	/* Zeros and foreign data. */
	memset(s, 0, sizeof(s));
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 0, &found), FE_BLK_SECTOR_ZERO);
	assert_true(fe_blk_is_zero(s, sizeof(s)));
	s[511] = 1;
	assert_false(fe_blk_is_zero(s, sizeof(s)));
	assert_int_equal(fe_blk_sector_check(s, 7, 1000, 0, &found), FE_BLK_SECTOR_NO_MAGIC);
	assert_string_equal(fe_blk_check_str(FE_BLK_SECTOR_WRONG_LBA), "data of another LBA");
}

/* ---- latency percentiles ---- */

static struct fe_lat_hist h1, h2;

static void test_lat_exact_small(void **state)
{
	(void)state;
	fe_lat_reset(&h1);
	assert_int_equal(fe_lat_percentile(&h1, 50), 0);
	for (uint64_t v = 1; v <= 100; v++)
		fe_lat_add(&h1, v);
	assert_int_equal(h1.count, 100);
	assert_int_equal(fe_lat_percentile(&h1, 50), 50);
	assert_int_equal(fe_lat_percentile(&h1, 99), 99);
	assert_int_equal(fe_lat_percentile(&h1, 99.9), 100);
	assert_int_equal(fe_lat_percentile(&h1, 100), 100);
	assert_int_equal(fe_lat_percentile(&h1, 0), 1);
	assert_int_equal(fe_lat_percentile(&h1, 1), 1);
	assert_true(fe_lat_mean(&h1) > 50.49 && fe_lat_mean(&h1) < 50.51);
}

static void test_lat_nearest_rank(void **state)
{
	(void)state;
	/* 999 samples of 10 and one of 100: p99.9 of 1000 is rank 999. */
	fe_lat_reset(&h1);
	for (int i = 0; i < 999; i++)
		fe_lat_add(&h1, 10);
	fe_lat_add(&h1, 100);
	assert_int_equal(fe_lat_percentile(&h1, 99.9), 10);
	assert_int_equal(fe_lat_percentile(&h1, 99.95), 100);
	assert_int_equal(fe_lat_percentile(&h1, 100), 100);
}

static void test_lat_large_values(void **state)
{
	static const uint64_t vals[] = { 128, 129, 1000, 12345, 1000000, 987654321,
					 1ull << 40, (1ull << 62) + 12345, UINT64_MAX };

	(void)state;
	for (unsigned int i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t v = vals[i], got, err;

		fe_lat_reset(&h1);
		fe_lat_add(&h1, v);
		fe_lat_add(&h1, v);
		/* Clamped to [min, max]: one value comes back exactly. */
		assert_int_equal(fe_lat_percentile(&h1, 50), v);
		/* Beside a smaller sample the bucket's middle comes back. */
		fe_lat_add(&h1, v / 2);
		fe_lat_add(&h1, v / 2);
		got = fe_lat_percentile(&h1, 75);
		err = got > v ? got - v : v - got;
		assert_true(err <= v / 64);
	}
}

static void test_lat_merge(void **state)
{
	(void)state;
	fe_lat_reset(&h1);
	fe_lat_reset(&h2);
	for (uint64_t v = 1; v <= 50; v++)
		fe_lat_add(&h1, v);
	for (uint64_t v = 51; v <= 100; v++)
		fe_lat_add(&h2, v);
	fe_lat_merge(&h1, &h2);
	assert_int_equal(h1.count, 100);
	assert_int_equal(h1.min, 1);
	assert_int_equal(h1.max, 100);
	assert_int_equal(fe_lat_percentile(&h1, 50), 50);
	assert_int_equal(fe_lat_percentile(&h1, 90), 90);
	/* Into an empty one: min comes from the source. */
	fe_lat_reset(&h1);
	fe_lat_merge(&h1, &h2);
	assert_int_equal(h1.min, 51);
	fe_lat_reset(&h2);
	fe_lat_merge(&h1, &h2);
	assert_int_equal(h1.count, 50);
}

/* ---- names ---- */

static void test_names(void **state)
{
	static const char *const modes[] = { "read", "write", "randread", "randwrite", "randrw",
					     "rw" };
	enum fe_blk_bad_kind k;
	enum fe_blk_rw rw;

	(void)state;
	for (unsigned int i = 0; i < 6; i++) {
		assert_int_equal(fe_blk_rw_parse(modes[i], &rw), 0);
		assert_string_equal(fe_blk_rw_name(rw), modes[i]);
	}
	assert_int_equal(fe_blk_rw_parse("randwr", &rw), -EINVAL);
	for (unsigned int i = 0; i < FE_BLK_BAD_KINDS; i++) {
		assert_int_equal(fe_blk_bad_parse(fe_blk_bad_name((enum fe_blk_bad_kind)i), &k), 0);
		assert_int_equal(k, i);
	}
	assert_int_equal(fe_blk_bad_parse("no-such", &k), -EINVAL);
	assert_int_equal(fe_blk_bad_parse("past-end", &k), 0);
	assert_int_equal(k, FE_BLK_BAD_PAST_END);
}

static void test_features_str(void **state)
{
	char buf[256];

	(void)state;
	fe_dev_features_str(FE_DEV_BLK, BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_MQ) |
			    BIT(VIRTIO_F_VERSION_1) | BIT(50), buf, sizeof(buf));
	assert_string_equal(buf, "SEG_MAX|MQ|VERSION_1|0x4000000000000");
	/* Bit 12 is blk's MQ; net has no name for it here (its MQ is 22). */
	fe_dev_features_str(FE_DEV_NET, BIT(12), buf, sizeof(buf));
	assert_string_equal(buf, "0x1000");
	/* A short buffer is cut, never overrun. */
	fe_dev_features_str(FE_DEV_BLK, BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_MQ), buf, 5);
	assert_true(strlen(buf) < 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_write_segments),
		cmocka_unit_test(test_chain_read_and_flush),
		cmocka_unit_test(test_chain_no_status_and_limit),
		cmocka_unit_test(test_hdr_and_status_names),
		cmocka_unit_test(test_seg_size),
		cmocka_unit_test(test_geometry_features),
		cmocka_unit_test(test_geometry_unusable),
		cmocka_unit_test(test_sector_roundtrip),
		cmocka_unit_test(test_sector_mismatches),
		cmocka_unit_test(test_lat_exact_small),
		cmocka_unit_test(test_lat_nearest_rank),
		cmocka_unit_test(test_lat_large_values),
		cmocka_unit_test(test_lat_merge),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_features_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
