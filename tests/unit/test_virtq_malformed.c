/* Device side of split virtqueues: every malformed chain breaks the queue
 * with its own error without touching guest memory, and random rings never
 * make the device reach outside it. */
#include "virtq_harness.h"

/* ---- Malformed input: each breaks the queue with its own error ---- */

static void test_bad_avail_idx(void **state)
{
	(void)state;
	vq_init(8, F_DEFAULT);
	drv_set_avail_idx(9);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_AVAIL_IDX);

	/* Also through avail_count, and across the 16-bit wrap. */
	vq_init(8, F_DEFAULT);
	virtq_set_base(&vq, 65530, 65530);
	drv_set_avail_idx((uint16_t)(65530 + 8));
	assert_int_equal(virtq_avail_count(&vq), 8);
	vq_init(8, F_DEFAULT);
	virtq_set_base(&vq, 65530, 65530);
	drv_set_avail_idx((uint16_t)(65530 + 9));
	assert_int_equal(virtq_avail_count(&vq), 0);
	assert_true(virtq_is_broken(&vq));
	assert_int_equal(virtq_error(&vq), -EINVAL);
	assert_int_equal(virtq_error_reason(&vq), VIRTQ_ERR_AVAIL_IDX);

	/* A driver moving idx backwards looks like a huge jump. */
	vq_init(8, F_DEFAULT);
	virtq_set_base(&vq, 100, 100);
	drv_set_avail_idx(99);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_AVAIL_IDX);
}

static void test_bad_head(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_avail(256);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_HEAD_RANGE);
	vq_init(256, F_DEFAULT);
	drv_avail(0xffff);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_HEAD_RANGE);
}

static void test_bad_next(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(3, R1, 8, VRING_DESC_F_NEXT, 256);
	drv_avail(3);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_NEXT_RANGE);
	assert_int_equal(vq.err_head, 3);
	assert_int_equal(vq.err_value, 256);
}

static void test_loop_direct(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R1, 8, VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1, 8, VRING_DESC_F_NEXT, 0);
	drv_avail(0);
	expect_pop_breaks(-ELOOP, VIRTQ_ERR_LOOP);
	/* Self loop of zero-length descriptors (nothing else limits it). */
	vq_init(256, F_DEFAULT);
	drv_desc(5, R1, 0, VRING_DESC_F_NEXT, 5);
	drv_avail(5);
	expect_pop_breaks(-ELOOP, VIRTQ_ERR_LOOP);
	/* With EVENT_IDX a failed pop does not move avail_event either. */
	vq_init(256, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	drv_avail(5);
	expect_pop_breaks(-ELOOP, VIRTQ_ERR_LOOP);
}

static void test_loop_indirect(void **state)
{
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1, 8, VRING_DESC_F_NEXT, 1);
	desc_at(table, 1, R1, 8, VRING_DESC_F_NEXT, 0);
	drv_desc(0, table, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-ELOOP, VIRTQ_ERR_LOOP);
}

static void test_desc_unmapped(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, HOLE, 8, 0, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_DESC_FAULT);
}

/* CVE class: a translation that covers only the start of the buffer. */
static void test_desc_partially_mapped(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R2 + R2_SIZE - 10, 100, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_DESC_FAULT);
}

static void test_desc_address_wraps(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, 0xfffffffffffffff0ull, 0x20, 0, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_DESC_FAULT);
}

static void test_writable_desc_in_readonly_region(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R1, 8, VRING_DESC_F_NEXT, 1);
	drv_desc(1, R3, 8, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_DESC_FAULT);
}

static void test_readable_after_writable(void **state)
{
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R1, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1 + 8, 8, 0, 0);
	drv_avail(0);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_ORDER);
	assert_int_equal(vq.err_value, 1);

	/* Across the direct -> indirect step. */
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1 + 0x100, 8, 0, 0);
	drv_desc(0, R1, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	drv_desc(1, table, 16, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_ORDER);

	/* Inside a table. */
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1 + 0x100, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc_at(table, 1, R1 + 0x200, 8, 0, 0);
	drv_desc(0, table, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_ORDER);
}

static void test_indirect_bad_length(void **state)
{
	static const uint32_t bad[] = { 0, 8, 17, 40, 257 * 16, 0xfffffff0u };
	const uint64_t table = R1 + 0x4000;

	(void)state;
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vq_init(256, F_DEFAULT);
		desc_at(table, 0, R1, 8, 0, 0);
		drv_desc(0, table, bad[i], VRING_DESC_F_INDIRECT, 0);
		drv_avail(0);
		expect_pop_breaks(-EINVAL, VIRTQ_ERR_INDIRECT_LEN);
		assert_int_equal(vq.err_value, bad[i]);
	}
	/* size * 16 is the largest table accepted. */
	vq_init(256, F_DEFAULT);
	drv_desc(0, table, 256 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
}

static void test_indirect_nested(void **state)
{
	const uint64_t table = R1 + 0x4000, inner = R1 + 0x5000;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(inner, 0, R1, 8, 0, 0);
	desc_at(table, 0, R1, 8, VRING_DESC_F_NEXT, 1);
	desc_at(table, 1, inner, 16, VRING_DESC_F_INDIRECT, 0);
	drv_desc(0, table, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_INDIRECT_NESTED);
}

static void test_indirect_with_next(void **state)
{
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1, 8, 0, 0);
	drv_desc(0, table, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1, 8, 0, 0);
	drv_avail(0);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_INDIRECT_NEXT);
}

static void test_indirect_without_feature(void **state)
{
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F(VIRTIO_F_VERSION_1));
	desc_at(table, 0, R1, 8, 0, 0);
	drv_desc(0, table, 16, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_INDIRECT_FEATURE);
}

static void test_indirect_table_unmapped(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, HOLE, 16, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_INDIRECT_FAULT);
	vq_init(256, F_DEFAULT);
	drv_desc(0, 0xfffffffffffffff0ull, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_INDIRECT_FAULT);
}

static void test_indirect_next_beyond_table(void **state)
{
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F_DEFAULT);
	/* next = 2 is a valid ring index but outside this 2-entry table. */
	desc_at(table, 0, R1, 8, VRING_DESC_F_NEXT, 2);
	desc_at(table, 2, R1, 8, 0, 0);
	drv_desc(0, table, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_NEXT_RANGE);
}

static void test_indirect_bad_buffer(void **state)
{
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1, 8, VRING_DESC_F_NEXT, 1);
	desc_at(table, 1, HOLE, 8, VRING_DESC_F_WRITE, 0);
	drv_desc(0, table, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_DESC_FAULT);
}

static void test_too_many_iovecs_small_elem(void **state)
{
	struct virtq_elem elem;
	struct iovec iov[4];
	uint64_t addr[4];

	(void)state;
	vq_init(256, F_DEFAULT);
	for (uint16_t i = 0; i < 5; i++)
		drv_desc(i, R1 + 0x100ull * i, 8, i < 4 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	drv_avail(0);
	/* Four fit exactly. */
	drv_desc(3, R1 + 0x300, 8, 0, 0);
	virtq_elem_init(&elem, iov, addr, 4);
	assert_int_equal(virtq_pop(&vq, &elem), 0);
	assert_int_equal(elem.out_num, 4);

	drv_desc(3, R1 + 0x300, 8, VRING_DESC_F_NEXT, 4);
	drv_avail(0);
	{
		uint8_t *snap = snapshot();

		/* Five do not: not the driver's fault with a small element. */
		assert_int_equal(virtq_pop(&vq, &elem), -ENOBUFS);
		assert_unchanged(snap);
	}
	assert_false(virtq_is_broken(&vq));
	/* The chain is still next, and a full element takes it. */
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(eb->elem.out_num, 5);
}

/* VIRTQ_MAX_IOV is the cap even for the largest element. */
static void test_too_many_iovecs_cap(void **state)
{
	const uint64_t table = R1;
	const uint32_t n = VIRTQ_MAX_IOV + 1;
	struct virtq_config cfg = make_cfg(2048, F_DEFAULT);

	(void)state;
	cfg.avail_addr = R0 + 0x8000;
	cfg.used_addr = R0 + 0xa000;
	qsize = 2048;
	drv_set_avail_idx(0);
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	for (uint32_t i = 0; i < n; i++)
		desc_at(table, i, R2 + i, 1, i + 1 < n ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	drv_desc(0, table, n * 16, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-E2BIG, VIRTQ_ERR_TOO_MANY_IOV);

	/* One less fits. */
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	drv_set_avail_idx(0);
	drv_desc(0, table, (n - 1) * 16, VRING_DESC_F_INDIRECT, 0);
	desc_at(table, n - 2, R2 + n - 2, 1, 0, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(eb->elem.out_num, VIRTQ_MAX_IOV);
	assert_int_equal(eb->elem.out_len, VIRTQ_MAX_IOV);
}

static void test_broken_until_setup(void **state)
{
	struct virtq_config cfg = make_cfg(256, F_DEFAULT);

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_avail(999);
	expect_pop_breaks(-EINVAL, VIRTQ_ERR_HEAD_RANGE);
	/* set_base does not repair it; a new setup does. */
	virtq_set_base(&vq, 1, 0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), -EIO);
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	assert_false(virtq_is_broken(&vq));
	virtq_set_base(&vq, 1, 0);
	drv_desc(0, R1, 8, 0, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
}

static void test_read_chain(void **state)
{
	struct virtq_elem *e = &eb->elem;
	uint16_t last, used;

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(9, R1, 8, VRING_DESC_F_NEXT, 10);
	drv_desc(10, R2, 64, VRING_DESC_F_WRITE, 0);
	assert_int_equal(virtq_read_chain(&vq, 9, e), 0);
	assert_int_equal(e->head, 9);
	assert_int_equal(e->in_len, 64);
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, 0);
	/* The relay logs what the device wrote into the chain. */
	reset_records();
	virtq_elem_log_write(&vq, e, 0, 40);
	assert_int_equal(mem.nlog, 1);
	assert_logged(0, R2, 40);

	assert_int_equal(virtq_read_chain(&vq, 256, e), -EINVAL);
	assert_true(virtq_is_broken(&vq));
	assert_int_equal(virtq_error_reason(&vq), VIRTQ_ERR_HEAD_RANGE);
}

/* ---- Random rings: whatever the guest writes, no out-of-bounds access
 * (ASan), every iovec inside guest memory, errors only as documented. ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t random_addr(void)
{
	switch (rnd() % 8) {
	case 0:
		return R1 + rnd() % R1_SIZE;
	case 1:
		return R2 - 64 + rnd() % 128;
	case 2:
		return R2 + rnd() % R2_SIZE;
	case 3:
		return R3 + rnd() % R3_SIZE;
	case 4:
		return HOLE + rnd() % 0x1000;
	case 5:
		return rnd();
	case 6:
		return R2 + R2_SIZE - rnd() % 64;
	default:
		return R1 + 0x8000 + (rnd() % 8) * 16;
	}
}

static void random_desc(uint64_t table, uint32_t i)
{
	static const uint32_t lens[] = { 0, 1, 16, 48, 100, 4096, 0x10000, 0xffffffffu };
	uint32_t len = (rnd() % 4) ? (uint32_t)(rnd() % 512) : lens[rnd() % 8];

	desc_at(table, i, random_addr(), len, (uint16_t)(rnd() % 8), (uint16_t)(rnd() % 24));
}

static bool iov_inside_region(const struct iovec *iov, uint64_t gaddr, bool writable)
{
	struct region *r = find_region(gaddr);

	if (!r || (writable && !r->writable))
		return false;
	return (uint8_t *)iov->iov_base == r->host + (gaddr - r->gpa) &&
	       iov->iov_len <= r->size - (gaddr - r->gpa);
}

static void test_random_rings(void **state)
{
	static uint8_t pattern[4096];
	unsigned int ok = 0, errors = 0;

	(void)state;
	memset(pattern, 0xc3, sizeof(pattern));
	vq_init(16, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	for (unsigned int iter = 0; iter < 20000; iter++) {
		struct virtq_elem *e = &eb->elem;
		int rc;

		for (uint32_t i = 0; i < 16; i++)
			random_desc(DESC_GPA, i);
		for (uint32_t i = 0; i < 8; i++)	/* indirect tables land here */
			random_desc(R1 + 0x8000, i);
		drv_avail((uint16_t)(rnd() % 18));
		if (rnd() % 64 == 0)
			drv_set_avail_idx((uint16_t)rnd());

		rc = virtq_pop(&vq, e);
		if (rc == 0) {
			ok++;
			assert_int_equal(e->out_num + e->in_num <= VIRTQ_MAX_IOV, 1);
			for (uint32_t i = 0; i < e->out_num + e->in_num; i++) {
				if (!iov_inside_region(&e->iov[i], e->addr[i], i >= e->out_num))
					fail_msg("iter %u: iovec %u outside guest memory", iter, i);
			}
			for (size_t off = 0; off < e->in_len && off < 0x20000; off += sizeof(pattern))
				virtq_elem_write(&vq, e, off, pattern, sizeof(pattern));
			assert_int_equal(virtq_push(&vq, e->head, (uint32_t)e->in_len), 0);
			(void)virtq_should_notify(&vq);
		} else if (rc != -EAGAIN) {
			errors++;
			assert_true(virtq_is_broken(&vq));
			assert_int_equal(rc, virtq_error(&vq));
			assert_true(rc == -EINVAL || rc == -EFAULT || rc == -ELOOP || rc == -E2BIG);
			vq_init(16, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
		}
		assert_guards_intact();
	}
	/* Both outcomes were exercised. */
	assert_true(ok > 100);
	assert_true(errors > 100);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bad_avail_idx),
		T(test_bad_head),
		T(test_bad_next),
		T(test_loop_direct),
		T(test_loop_indirect),
		T(test_desc_unmapped),
		T(test_desc_partially_mapped),
		T(test_desc_address_wraps),
		T(test_writable_desc_in_readonly_region),
		T(test_readable_after_writable),
		T(test_indirect_bad_length),
		T(test_indirect_nested),
		T(test_indirect_with_next),
		T(test_indirect_without_feature),
		T(test_indirect_table_unmapped),
		T(test_indirect_next_beyond_table),
		T(test_indirect_bad_buffer),
		T(test_too_many_iovecs_small_elem),
		T(test_too_many_iovecs_cap),
		T(test_broken_until_setup),
		T(test_read_chain),
		T(test_random_rings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
