/* Unit tests for the dirty log: the bit math of vu_log_set_bits (page
 * boundaries, empty and wrapping ranges, bits past the log), vu_log_write
 * gated by LOG_ALL, vu_log_used_ring gated by the ring's LOG flag, and
 * SET_LOG_BASE replacing an earlier log. */
#include "vu_test_util.h"

#define PAGE VHOST_LOG_PAGE

static bool bit_set(const uint8_t *log, uint64_t page)
{
	return (log[page / 8] >> (page % 8)) & 1;
}

static unsigned int bits_set(const uint8_t *log, size_t bytes)
{
	unsigned int n = 0;

	for (size_t i = 0; i < bytes; i++)
		n += (unsigned int)__builtin_popcount(log[i]);
	return n;
}

/* ---- bit math ---- */

static void test_set_bits_pages(void **state)
{
	uint8_t log[16];	/* 8 bytes of log (64 pages), 8 guard bytes */

	(void)state;
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, 0x5000, 0), 0);
	assert_int_equal(bits_set(log, sizeof(log)), 0);

	assert_int_equal(vu_log_set_bits(log, 8, 0, 1), 1);
	assert_int_equal(log[0], 0x01);
	/* Last byte of page 0 and first of page 1. */
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, PAGE - 1, 2), 2);
	assert_int_equal(log[0], 0x03);
	/* Exactly one page, aligned. */
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, PAGE, PAGE), 1);
	assert_int_equal(log[0], 0x02);
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, PAGE - 1, PAGE + 1), 2);
	assert_int_equal(log[0], 0x03);
	/* Pages 7 and 8: across a byte. */
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, 7 * PAGE, 2 * PAGE), 2);
	assert_int_equal(log[0], 0x80);
	assert_int_equal(log[1], 0x01);
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, 8 * PAGE - 1, 2), 2);
	assert_int_equal(log[0], 0x80);
	assert_int_equal(log[1], 0x01);
	/* Many bytes: pages 5..20. */
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, 5 * PAGE + 100, 15 * PAGE), 16);
	assert_int_equal(log[0], 0xe0);
	assert_int_equal(log[1], 0xff);
	assert_int_equal(log[2], 0x1f);
	assert_int_equal(bits_set(log, sizeof(log)), 16);
	/* Bits already set stay set; others are untouched (OR, not store). */
	assert_int_equal(vu_log_set_bits(log, 8, 40 * PAGE, 1), 1);
	assert_true(bit_set(log, 40));
	assert_int_equal(log[0], 0xe0);
	assert_int_equal(bits_set(log, sizeof(log)), 17);
}

static void test_set_bits_beyond_log(void **state)
{
	uint8_t log[16];

	(void)state;
	memset(log, 0, sizeof(log));
	/* Pages 60..69 in a 64-page log: only 60..63. */
	assert_int_equal(vu_log_set_bits(log, 8, 60 * PAGE, 10 * PAGE), 4);
	assert_int_equal(log[7], 0xf0);
	for (int i = 8; i < 16; i++)
		assert_int_equal(log[i], 0);
	/* Wholly past the end. */
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, 64 * PAGE, 1), 0);
	assert_int_equal(vu_log_set_bits(log, 8, 1ull << 40, 1ull << 20), 0);
	assert_int_equal(vu_log_set_bits(log, 0, 0, 1), 0);
	assert_int_equal(bits_set(log, sizeof(log)), 0);
	/* A 1-byte log holds 8 pages. */
	assert_int_equal(vu_log_set_bits(log, 1, 0, 100 * PAGE), 8);
	assert_int_equal(log[0], 0xff);
	assert_int_equal(log[1], 0);
}

static void test_set_bits_overflow(void **state)
{
	uint8_t log[16];

	(void)state;
	/* gpa + len wraps: clamped to the end of the address space, so to the
	 * end of the log, never wrapped round to page 0. */
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, 3 * PAGE, UINT64_MAX), 61);
	assert_int_equal(log[0], 0xf8);
	for (int i = 1; i < 8; i++)
		assert_int_equal(log[i], 0xff);
	assert_int_equal(bits_set(log + 8, 8), 0);
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, 8, UINT64_MAX), 64);
	assert_int_equal(bits_set(log + 8, 8), 0);
	/* Near the top of the address space: nothing in a small log, and in
	 * particular not page 0 after a wrap. */
	memset(log, 0, sizeof(log));
	assert_int_equal(vu_log_set_bits(log, 8, UINT64_MAX - 10, 100), 0);
	assert_int_equal(vu_log_set_bits(log, 8, UINT64_MAX, 1), 0);
	assert_int_equal(vu_log_set_bits(log, 8, UINT64_MAX - PAGE, UINT64_MAX), 0);
	assert_int_equal(bits_set(log, sizeof(log)), 0);
	/* Exactly up to UINT64_MAX (no wrap: last byte is UINT64_MAX). */
	assert_int_equal(vu_log_set_bits(log, 8, UINT64_MAX - 10, 11), 0);
	assert_int_equal(bits_set(log, sizeof(log)), 0);
}

/* ---- vu_log_write and LOG_ALL ---- */

struct log_file {
	int fd;
	uint8_t *mine;
	uint64_t file_size;
};

/* A log of size bytes at offset in a fresh memfd, with the test's mapping. */
static void log_file_new(struct log_file *lf, const char *name, uint64_t size, uint64_t offset)
{
	lf->file_size = size + offset;
	lf->fd = memfd_sized(name, lf->file_size);
	lf->mine = mmap(NULL, lf->file_size, PROT_READ | PROT_WRITE, MAP_SHARED, lf->fd, 0);
	assert_true(lf->mine != MAP_FAILED);
}

static void log_file_unmap(struct log_file *lf)
{
	munmap(lf->mine, lf->file_size);
}

static void test_log_write_needs_log_all(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	struct log_file lf;
	const uint64_t f = F_VERSION_1 | F_PROTOCOL;

	(void)state;
	td_negotiate(td, f, PF(LOG_SHMFD));
	/* No log yet: harmless even with LOG_ALL. */
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f | F_LOG_ALL, &r), 0);
	assert_false(vu_log_enabled(td->vu));
	vu_log_write(td->vu, 0, 4096);
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f, &r), 0);

	log_file_new(&lf, "uvt-log", 4096, 4096);
	assert_int_equal(td_log_base(td, 4096, 4096, lf.fd, &r), 0);
	assert_reply_u64(&r, VHOST_USER_SET_LOG_BASE, 0);
	/* A log but no LOG_ALL: nothing is logged. */
	assert_false(vu_log_enabled(td->vu));
	vu_log_write(td->vu, 5 * PAGE, 10);
	assert_int_equal(bits_set(lf.mine, lf.file_size), 0);

	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f | F_LOG_ALL, &r), 0);
	assert_true(vu_log_enabled(td->vu));
	vu_log_write(td->vu, 5 * PAGE, 10);
	vu_log_write(td->vu, 9 * PAGE, 0);
	/* The bitmap starts at the offset. */
	assert_int_equal(lf.mine[4096], 0x20);
	assert_int_equal(bits_set(lf.mine, lf.file_size), 1);
	/* Past the log's 32768 pages: ignored. */
	vu_log_write(td->vu, 4096ull * 8 * PAGE, PAGE);
	vu_log_write(td->vu, UINT64_MAX - 5, 100);
	assert_int_equal(bits_set(lf.mine, lf.file_size), 1);
	vu_log_write(td->vu, 4096ull * 8 * PAGE - 1, PAGE);
	assert_int_equal(lf.mine[8191], 0x80);
	assert_int_equal(bits_set(lf.mine, lf.file_size), 2);

	/* LOG_ALL off again: logging stops. */
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f, &r), 0);
	assert_false(vu_log_enabled(td->vu));
	vu_log_write(td->vu, 0, PAGE);
	assert_int_equal(bits_set(lf.mine, lf.file_size), 2);
	log_file_unmap(&lf);
	td_free(td);
}

static void test_log_used_ring(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	struct vu_vring_info info;
	struct log_file lf;
	const uint64_t f = F_VERSION_1 | F_PROTOCOL | F_LOG_ALL;
	const uint64_t log_gpa = 0x200000 + 0x800;	/* page 0x200, mid-page */
	uint8_t *mem;

	(void)state;
	td_negotiate(td, f, PF(LOG_SHMFD));
	mem = td_guest_mem(td);
	log_file_new(&lf, "uvt-log", 4096, 0);
	assert_int_equal(td_log_base(td, 4096, 0, lf.fd, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, RING_SIZE, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 1, RING_SIZE, &r), 0);
	assert_int_equal(td_vring_addr(td, 0, GUEST_UVA, 1u << VHOST_VRING_F_LOG, log_gpa, &r), 0);
	assert_int_equal(td_vring_addr(td, 1, GUEST_UVA + RING_STRIDE, 0, log_gpa + 0x10000, &r), 0);
	assert_int_equal(vu_get_vring(td->vu, 0, &info), 0);
	assert_true(info.log_enabled);
	assert_int_equal(info.log_guest_addr, log_gpa);
	assert_int_equal(vu_get_vring(td->vu, 1, &info), 0);
	assert_false(info.log_enabled);

	/* At log_guest_addr + offset. */
	vu_log_used_ring(td->vu, 0, 4, 8);
	assert_true(bit_set(lf.mine, 0x200));
	assert_int_equal(bits_set(lf.mine, 4096), 1);
	/* An entry across the page boundary sets both pages. */
	vu_log_used_ring(td->vu, 0, 0x7fe, 4);
	assert_true(bit_set(lf.mine, 0x201));
	assert_int_equal(bits_set(lf.mine, 4096), 2);
	/* Without the ring's LOG flag, or for a ring that does not exist: nothing. */
	vu_log_used_ring(td->vu, 1, 0, 8);
	vu_log_used_ring(td->vu, 5, 0, 8);
	vu_log_used_ring(td->vu, UVDPA_VHOST_MAX_VRINGS, 0, 8);
	vu_log_used_ring(td->vu, UINT16_MAX, 0, 8);
	assert_int_equal(bits_set(lf.mine, 4096), 2);

	/* The flag cleared again stops used-ring logging. */
	assert_int_equal(td_vring_addr(td, 0, GUEST_UVA, 0, log_gpa, &r), 0);
	vu_log_used_ring(td->vu, 0, 0x1000, 8);
	assert_int_equal(bits_set(lf.mine, 4096), 2);
	/* Unknown flag bits are refused. */
	assert_true(td_vring_addr(td, 0, GUEST_UVA, 1u << 1, log_gpa, &r) < 0);

	log_file_unmap(&lf);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_log_used_ring_needs_log_all(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	struct log_file lf;
	uint8_t *mem;

	(void)state;
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, PF(LOG_SHMFD));
	mem = td_guest_mem(td);
	log_file_new(&lf, "uvt-log", 4096, 0);
	assert_int_equal(td_log_base(td, 4096, 0, lf.fd, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, RING_SIZE, &r), 0);
	assert_int_equal(td_vring_addr(td, 0, GUEST_UVA, 1u << VHOST_VRING_F_LOG, 0x3000, &r), 0);
	vu_log_used_ring(td->vu, 0, 0, 8);
	assert_int_equal(bits_set(lf.mine, 4096), 0);
	log_file_unmap(&lf);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_log_base_replaced(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	struct log_file a, b;
	void *base;
	uint64_t size, off;
	int fd, fds_with_a;

	(void)state;
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL | F_LOG_ALL, PF(LOG_SHMFD));
	log_file_new(&a, "uvt-loga", 4096, 0);
	assert_int_equal(count_maps("uvt-loga"), 1);
	assert_int_equal(td_log_base(td, 4096, 0, a.fd, &r), 0);
	assert_int_equal(count_maps("uvt-loga"), 2);
	vu_log_write(td->vu, 0, 1);
	assert_int_equal(a.mine[0], 0x01);
	fds_with_a = count_fds();

	/* Migration restarted: a new log of another size, with an offset. */
	log_file_new(&b, "uvt-logb", 8192, 4096);
	assert_int_equal(td_log_base(td, 8192, 4096, b.fd, &r), 0);
	assert_reply_u64(&r, VHOST_USER_SET_LOG_BASE, 0);
	/* The old log's mapping and fd are gone. */
	assert_true(fd_closed(a.fd));
	assert_int_equal(count_maps("uvt-loga"), 1);
	assert_int_equal(count_maps("uvt-logb"), 2);
	assert_int_equal(count_fds(), fds_with_a);
	assert_int_equal(vu_get_log_base(td->vu, &base, &size, &fd, &off), 0);
	assert_int_equal(size, 8192);
	assert_int_equal(off, 4096);
	assert_int_equal(fd, b.fd);
	assert_ptr_not_equal(base, NULL);

	/* Writes go to the new log only, and reach past the old log's size. */
	vu_log_write(td->vu, 1 * PAGE, 1);
	vu_log_write(td->vu, 40000ull * PAGE, 1);
	assert_int_equal(a.mine[0], 0x01);
	assert_int_equal(bits_set(a.mine, 4096), 1);
	assert_int_equal(b.mine[4096], 0x02);
	assert_true(bit_set(b.mine + 4096, 40000));
	assert_int_equal(bits_set(b.mine, b.file_size), 2);

	/* The same log again, on a new fd (QEMU repeats it per queue pair):
	 * not a new log. The mapping, the fd kept and the base stay; the
	 * repeat's fd is closed. */
	{
		void *base_before = base;
		int dupfd = dup(b.fd);

		assert_int_equal(td_log_base(td, 8192, 4096, dupfd, &r), 0);
		assert_reply_u64(&r, VHOST_USER_SET_LOG_BASE, 0);
		assert_int_equal(count_maps("uvt-logb"), 2);
		assert_true(fd_closed(dupfd));
		assert_false(fd_closed(b.fd));
		assert_int_equal(count_fds(), fds_with_a);
		assert_int_equal(vu_get_log_base(td->vu, &base, &size, &fd, &off), 0);
		assert_ptr_equal(base, base_before);
		assert_int_equal(fd, b.fd);
	}

	vu_dev_reset_session(td->vu);
	assert_int_equal(count_maps("uvt-logb"), 1);
	assert_int_equal(vu_get_log_base(td->vu, &base, &size, &fd, &off), -ENOENT);
	log_file_unmap(&a);
	log_file_unmap(&b);
	td_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_bits_pages),
		cmocka_unit_test(test_set_bits_beyond_log),
		cmocka_unit_test(test_set_bits_overflow),
		cmocka_unit_test(test_log_write_needs_log_all),
		cmocka_unit_test(test_log_used_ring),
		cmocka_unit_test(test_log_used_ring_needs_log_all),
		cmocka_unit_test(test_log_base_replaced),
	};

	uvdpa_log_set_level(UVDPA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
