/* Device side of split virtqueues (src/virtio), well-formed rings: setup,
 * taking and returning chains, data helpers, indirect tables, and
 * descriptors read once. The test plays the driver in a fake guest memory
 * (virtq_harness.c) and checks what the device took, wrote and logged. */
#include "virtq_harness.h"

/* ---- Setup ---- */

static void test_setup_rejects_bad_size(void **state)
{
	static const uint16_t bad[] = { 0, 3, 100, 0xffff };
	struct virtq_config cfg;

	(void)state;
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = make_cfg(bad[i], F_DEFAULT);
		assert_int_equal(virtq_setup(&vq, &cfg), -EINVAL);
	}
	cfg = make_cfg(256, F_DEFAULT);
	cfg.translate = NULL;
	assert_int_equal(virtq_setup(&vq, &cfg), -EINVAL);
	/* A failed setup leaves a queue that does nothing. */
	assert_int_equal(virtq_pop(&vq, &eb->elem), -EIO);
	assert_int_equal(virtq_read_chain(&vq, 0, &eb->elem), -EIO);
	assert_int_equal(virtq_push(&vq, 0, 0), -EIO);
	virtq_push_commit(&vq);
	assert_int_equal(virtq_avail_count(&vq), 0);
	assert_false(virtq_should_notify(&vq));
	assert_false(virtq_enable_notify(&vq));
	virtq_disable_notify(&vq);
	assert_int_equal(virtq_read_used_idx(&vq), 0);
}

static void test_setup_rejects_misaligned_rings(void **state)
{
	struct virtq_config cfg;

	(void)state;
	cfg = make_cfg(256, F_DEFAULT);
	cfg.desc_addr += 8;
	assert_int_equal(virtq_setup(&vq, &cfg), -EINVAL);
	cfg = make_cfg(256, F_DEFAULT);
	cfg.avail_addr += 1;
	assert_int_equal(virtq_setup(&vq, &cfg), -EINVAL);
	cfg = make_cfg(256, F_DEFAULT);
	cfg.used_addr += 2;
	assert_int_equal(virtq_setup(&vq, &cfg), -EINVAL);
}

static void test_setup_rejects_unmapped_or_split_rings(void **state)
{
	struct virtq_config cfg;

	(void)state;
	cfg = make_cfg(256, F_DEFAULT);
	cfg.desc_addr = HOLE;
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);
	/* The used ring is written: a read-only mapping will not do. */
	cfg = make_cfg(256, F_DEFAULT);
	cfg.used_addr = R3;
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);
	/* Mapped, but split over two host mappings. */
	cfg = make_cfg(256, F_DEFAULT);
	cfg.used_addr = R2 - 0x100;
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);
	cfg = make_cfg(256, F_DEFAULT);
	cfg.desc_addr = R2 - 0x800;
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);
	/* Runs off the end of guest memory. */
	cfg = make_cfg(256, F_DEFAULT);
	cfg.avail_addr = R0 + R0_SIZE - 0x100;
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);
	/* Wraps the address space. */
	cfg = make_cfg(256, F_DEFAULT);
	cfg.desc_addr = 0xfffffffffffff000ull;
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);
}

static void test_setup_event_idx_ring_lengths(void **state)
{
	struct virtq_config cfg;

	(void)state;
	/* Without EVENT_IDX the used ring is 4 + 8 * size bytes: it fits right
	 * at the end of R0. With EVENT_IDX the trailing avail_event does not. */
	cfg = make_cfg(256, F_DEFAULT);
	cfg.used_addr = R0 + R0_SIZE - (4 + 8 * 256);
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	assert_true(was_translated(cfg.used_addr, 4 + 8 * 256));
	cfg.features |= F(VIRTIO_RING_F_EVENT_IDX);
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);
	cfg = make_cfg(256, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	mem.ntr = 0;
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	assert_true(was_translated(DESC_GPA, 16 * 256));
	assert_true(was_translated(AVAIL_GPA, 4 + 2 * 256 + 2));
	assert_true(was_translated(USED_GPA, 4 + 8 * 256 + 2));
}

static void test_setup_writes_nothing(void **state)
{
	struct virtq_config cfg = make_cfg(256, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	uint8_t *snap;

	(void)state;
	qsize = 256;
	w16(USED_GPA, 1);	/* stale flags from an earlier session */
	snap = snapshot();
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	assert_unchanged(snap);
	assert_int_equal(mem.nlog, 0);
	assert_false(virtq_is_broken(&vq));
	assert_int_equal(virtq_error(&vq), 0);
	assert_int_equal(virtq_error_reason(&vq), VIRTQ_OK);
}

/* Rings given in another address space (vhost-user frontend VAs), used ring
 * logged at its guest-physical address. */
static void test_ring_translate_and_used_log_addr(void **state)
{
	struct virtq_config cfg = make_cfg(8, F_DEFAULT);

	(void)state;
	cfg.desc_addr += UVA_OFFSET;
	cfg.avail_addr += UVA_OFFSET;
	cfg.used_addr += UVA_OFFSET;
	assert_int_equal(virtq_setup(&vq, &cfg), -EFAULT);	/* not GPAs */
	cfg.ring_translate = fake_ring_translate;
	cfg.has_used_log_addr = true;
	cfg.used_log_addr = USED_GPA;
	qsize = 8;
	drv_set_avail_idx(0);
	assert_int_equal(virtq_setup(&vq, &cfg), 0);

	drv_desc(0, R1, 64, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_ptr_equal(eb->elem.iov[0].iov_base, host_of(R1));
	reset_records();
	assert_int_equal(virtq_push(&vq, 0, 64), 0);
	assert_int_equal(mem.nlog, 2);
	assert_logged(0, USED_GPA + 4, 8);
	assert_logged(1, USED_GPA + 2, 2);
	assert_int_equal(drv_used_idx(), 1);
}

/* ---- Taking chains ---- */

static void test_pop_empty(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	assert_int_equal(virtq_avail_count(&vq), 0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), -EAGAIN);
	assert_false(virtq_is_broken(&vq));
}

static void test_pop_rejects_elem_without_storage(void **state)
{
	struct virtq_elem elem;

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R1, 10, 0, 0);
	drv_avail(0);
	virtq_elem_init(&elem, NULL, NULL, 0);
	assert_int_equal(virtq_pop(&vq, &elem), -EINVAL);
	assert_false(virtq_is_broken(&vq));
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
}

static void test_pop_chain_readable_then_writable(void **state)
{
	struct virtq_elem *e = &eb->elem;
	uint16_t last, used;

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(7, R1 + 0x100, 100, VRING_DESC_F_NEXT, 3);
	drv_desc(3, R1 + 0x1000, 200, VRING_DESC_F_NEXT, 200);
	drv_desc(200, R2 + 0x40, 300, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 9);
	drv_desc(9, R2 + 0x2000, 400, VRING_DESC_F_WRITE, 0);
	drv_avail(7);
	assert_int_equal(virtq_avail_count(&vq), 1);
	assert_int_equal(virtq_pop(&vq, e), 0);

	assert_int_equal(e->head, 7);
	assert_int_equal(e->ndesc, 4);
	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 2);
	assert_int_equal(e->out_len, 300);
	assert_int_equal(e->in_len, 700);
	assert_ptr_equal(e->iov[0].iov_base, host_of(R1 + 0x100));
	assert_int_equal(e->iov[0].iov_len, 100);
	assert_ptr_equal(e->iov[1].iov_base, host_of(R1 + 0x1000));
	assert_int_equal(e->iov[1].iov_len, 200);
	assert_ptr_equal(e->iov[2].iov_base, host_of(R2 + 0x40));
	assert_int_equal(e->iov[2].iov_len, 300);
	assert_ptr_equal(e->iov[3].iov_base, host_of(R2 + 0x2000));
	assert_int_equal(e->iov[3].iov_len, 400);
	assert_int_equal(e->addr[0], R1 + 0x100);
	assert_int_equal(e->addr[1], R1 + 0x1000);
	assert_int_equal(e->addr[2], R2 + 0x40);
	assert_int_equal(e->addr[3], R2 + 0x2000);
	assert_ptr_equal(virtq_elem_in_iov(e), &e->iov[2]);
	assert_int_equal(virtq_elem_in_addr(e)[1], R2 + 0x2000);

	/* Buffers were translated with the right direction. */
	assert_true(was_translated(R1 + 0x100, 100));
	assert_false(mem.tr[0].write);
	assert_true(mem.tr[mem.ntr - 1].write);

	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, 1);
	assert_int_equal(used, 0);
	assert_int_equal(virtq_pop(&vq, e), -EAGAIN);
	assert_int_equal(mem.nlog, 0);	/* no EVENT_IDX: pop writes nothing */
}

static void test_pop_skips_zero_length_descriptors(void **state)
{
	struct virtq_elem *e = &eb->elem;

	(void)state;
	vq_init(256, F_DEFAULT);
	/* Zero-length buffers are never translated, even at unmapped addresses. */
	drv_desc(0, HOLE, 0, VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1, 10, VRING_DESC_F_NEXT, 2);
	drv_desc(2, HOLE, 0, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->ndesc, 3);
	assert_int_equal(e->out_num, 1);
	assert_int_equal(e->in_num, 0);
	assert_int_equal(e->out_len, 10);
	assert_int_equal(e->in_len, 0);
}

static void test_pop_full_length_chain(void **state)
{
	struct virtq_elem *e = &eb->elem;

	(void)state;
	/* A chain may use every descriptor of the table, and no more. */
	vq_init(8, F_DEFAULT);
	for (uint16_t i = 0; i < 8; i++)
		drv_desc(i, R1 + 0x100ull * i, 16, i < 7 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->ndesc, 8);
	assert_int_equal(e->out_len, 8 * 16);
}

static void test_pop_readonly_region_readable(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R3, 64, 0, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_ptr_equal(eb->elem.iov[0].iov_base, host_of(R3));
}

/* Many chains across the 16-bit wrap of the indices on a small ring. */
static void test_pop_push_across_index_wrap(void **state)
{
	struct virtq_elem *e = &eb->elem;
	uint16_t last, used;

	(void)state;
	vq_init(8, F_DEFAULT);
	virtq_set_base(&vq, 65530, 65530);
	drv_set_avail_idx(65530);
	w16(USED_GPA + 2, 65530);
	for (unsigned int round = 0; round < 5; round++) {
		for (uint16_t i = 0; i < 3; i++) {
			uint16_t head = (uint16_t)((round * 3 + i) % 8);

			drv_desc(head, R1 + 0x100ull * head, 32 + head, VRING_DESC_F_WRITE, 0);
			drv_avail(head);
		}
		assert_int_equal(virtq_avail_count(&vq), 3);
		for (uint16_t i = 0; i < 3; i++) {
			uint16_t head = (uint16_t)((round * 3 + i) % 8);
			uint16_t slot;
			uint32_t id, len;

			assert_int_equal(virtq_pop(&vq, e), 0);
			assert_int_equal(e->head, head);
			assert_int_equal(e->in_len, 32 + head);
			assert_int_equal(virtq_push(&vq, e->head, (uint32_t)e->in_len), 0);
			slot = (uint16_t)(drv_used_idx() - 1) % 8;
			drv_used_elem(slot, &id, &len);
			assert_int_equal(id, head);
			assert_int_equal(len, 32 + head);
		}
		assert_int_equal(virtq_pop(&vq, e), -EAGAIN);
	}
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, (uint16_t)(65530 + 15));
	assert_int_equal(used, (uint16_t)(65530 + 15));
	assert_int_equal(drv_used_idx(), (uint16_t)(65530 + 15));
	assert_int_equal(virtq_read_used_idx(&vq), (uint16_t)(65530 + 15));
}

static void test_avail_count_full_ring(void **state)
{
	(void)state;
	vq_init(8, F_DEFAULT);
	virtq_set_base(&vq, 65533, 65533);
	for (uint16_t i = 0; i < 8; i++)
		drv_desc(i, R1, 1, 0, 0);
	drv_set_avail_idx(65533);
	for (uint16_t i = 0; i < 8; i++)
		drv_avail(i);
	assert_int_equal(virtq_avail_count(&vq), 8);	/* exactly size: valid */
	for (uint16_t i = 0; i < 8; i++)
		assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(virtq_pop(&vq, &eb->elem), -EAGAIN);
}

/* A buffer crossing from R1 into R2 (adjacent guest addresses, separate host
 * mappings) becomes two iovecs; writes through it land in both mappings and
 * are logged as one guest range. */
static void test_buffer_split_at_region_boundary(void **state)
{
	struct virtq_elem *e = &eb->elem;
	uint8_t data[300], back[300];

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R2 - 40, 100, VRING_DESC_F_NEXT, 1);	/* readable, split 40 + 60 */
	drv_desc(1, R2 - 100, 300, VRING_DESC_F_WRITE, 0);	/* writable, split 100 + 200 */
	for (int i = 0; i < 100; i++)
		data[i] = (uint8_t)(i * 7);
	guest_write(R2 - 40, data, 100);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);

	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 2);
	assert_ptr_equal(e->iov[0].iov_base, host_of(R2 - 40));
	assert_int_equal(e->iov[0].iov_len, 40);
	assert_ptr_equal(e->iov[1].iov_base, mem.r[2].host);
	assert_int_equal(e->iov[1].iov_len, 60);
	assert_int_equal(e->addr[1], R2);
	assert_ptr_equal(e->iov[2].iov_base, host_of(R2 - 100));
	assert_int_equal(e->iov[2].iov_len, 100);
	assert_ptr_equal(e->iov[3].iov_base, mem.r[2].host);
	assert_int_equal(e->iov[3].iov_len, 200);
	assert_int_equal(e->addr[3], R2);
	assert_int_equal(e->out_len, 100);
	assert_int_equal(e->in_len, 300);

	assert_int_equal(virtq_elem_read(e, 0, back, 100), 100);
	assert_memory_equal(back, data, 100);
	assert_int_equal(virtq_elem_read(e, 30, back, 100), 70);
	assert_memory_equal(back, data + 30, 70);

	for (int i = 0; i < 300; i++)
		data[i] = (uint8_t)(0x80 + i);
	reset_records();
	assert_int_equal(virtq_elem_write(&vq, e, 0, data, 300), 300);
	guest_read(R2 - 100, back, 300);
	assert_memory_equal(back, data, 300);
	assert_int_equal(mem.nlog, 1);
	assert_logged(0, R2 - 100, 300);
	assert_guards_intact();
}

/* A translate callback that reports more than asked is clamped. */
static void test_translate_overreport_is_clamped(void **state)
{
	struct virtq_elem *e = &eb->elem;

	(void)state;
	vq_init(256, F_DEFAULT);
	mem.overreport = true;
	drv_desc(0, R1 + 0x10, 50, 0, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->out_num, 1);
	assert_int_equal(e->iov[0].iov_len, 50);
	assert_int_equal(e->out_len, 50);
}

/* ---- Data helpers ---- */

static void test_elem_write_offsets_and_logging(void **state)
{
	struct virtq_elem *e = &eb->elem;
	uint8_t data[64], back[16];

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R1 + 0x10, 8, VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1 + 0x100, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	drv_desc(2, R1 + 0x800, 16, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	memset(data, 0x5a, sizeof(data));

	/* Offsets count from the start of the writable part. */
	reset_records();
	assert_int_equal(virtq_elem_write(&vq, e, 10, data, 20), 20);
	assert_int_equal(mem.nlog, 2);
	assert_logged(0, R1 + 0x100 + 10, 6);
	assert_logged(1, R1 + 0x800, 14);
	guest_read(R1 + 0x100, back, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(back[i], i >= 10 ? 0x5a : 0);
	guest_read(R1 + 0x800, back, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(back[i], i < 14 ? 0x5a : 0);
	/* The readable buffer is untouched. */
	guest_read(R1 + 0x10, back, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(back[i], 0);

	/* Short write at the end, nothing beyond. */
	reset_records();
	assert_int_equal(virtq_elem_write(&vq, e, 24, data, 64), 8);
	assert_int_equal(mem.nlog, 1);
	assert_logged(0, R1 + 0x808, 8);
	reset_records();
	assert_int_equal(virtq_elem_write(&vq, e, 32, data, 4), 0);
	assert_int_equal(mem.nlog, 0);

	/* Logging only, for writes made directly through the iovecs. */
	reset_records();
	virtq_elem_log_write(&vq, e, 0, 1000);
	assert_int_equal(mem.nlog, 2);
	assert_logged(0, R1 + 0x100, 16);
	assert_logged(1, R1 + 0x800, 16);

	/* Without a log callback nothing is reported. */
	virtq_set_log(&vq, NULL, false, 0);
	reset_records();
	assert_int_equal(virtq_elem_write(&vq, e, 0, data, 8), 8);
	assert_int_equal(virtq_push(&vq, e->head, 8), 0);
	assert_int_equal(mem.nlog, 0);
	/* ... and turning it back on (LOG_ALL) reports again. */
	virtq_set_log(&vq, fake_log, true, 0x900000);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	reset_records();
	assert_int_equal(virtq_push(&vq, e->head, 0), 0);
	assert_logged(0, 0x900000 + 4 + 8, 8);
	assert_logged(1, 0x900000 + 2, 2);
}

static void test_iov_copy_helpers(void **state)
{
	uint8_t a[5], b[3], c[7], out[20];
	struct iovec iov[4] = {
		{ a, sizeof(a) }, { NULL, 0 }, { b, sizeof(b) }, { c, sizeof(c) },
	};
	const uint8_t src[15] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(c, 0, sizeof(c));
	assert_int_equal(virtq_buf_to_iov(iov, 4, 0, src, 15), 15);
	assert_int_equal(a[4], 5);
	assert_int_equal(b[0], 6);
	assert_int_equal(c[6], 15);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 0, out, sizeof(out)), 15);
	assert_memory_equal(out, src, 15);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 4, out, 5), 5);
	assert_memory_equal(out, src + 4, 5);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 8, out, 20), 7);
	assert_memory_equal(out, src + 8, 7);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 15, out, 20), 0);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 100, out, 20), 0);
	assert_int_equal(virtq_buf_to_iov(iov, 4, 14, src, 15), 1);
	assert_int_equal(c[6], 1);
	assert_int_equal(virtq_buf_to_iov(iov, 0, 0, src, 15), 0);
}

/* ---- Returning chains ---- */

/* Inflight tracking across a crash: chains 0..5 taken, 1 and 4 returned out
 * of order and 3 published but its flag not yet cleared (the region's
 * used_idx lags): a new queue resumed from the region hands out 0, 2 and 5
 * again, in the order they were first taken, then new chains; last_avail is
 * used + 3. A region claiming more than the driver made available is
 * refused. */
static void test_inflight_resume(void **state)
{
	const size_t rsize = virtq_inflight_queue_bytes(8);
	struct virtq_inflight_region *r = calloc(1, rsize);
	struct virtq_elem *e = &eb->elem;
	uint16_t la, lu;

	(void)state;
	r->version = 1;
	r->desc_num = 8;
	vq_init(8, F_DEFAULT);
	virtq_set_base(&vq, 0, 0);
	assert_int_equal(virtq_set_inflight(&vq, r), 0);
	for (uint16_t h = 0; h < 7; h++) {
		drv_desc(h, R1 + 0x100ull * h, 64, VRING_DESC_F_WRITE, 0);
		drv_avail(h);
	}
	for (uint16_t h = 0; h < 6; h++) {
		assert_int_equal(virtq_pop(&vq, e), 0);
		assert_int_equal(e->head, h);
		assert_int_equal(r->desc[h].inflight, 1);
	}
	assert_int_equal(virtq_push(&vq, 4, 1), 0);
	assert_int_equal(virtq_push(&vq, 1, 1), 0);
	assert_int_equal(r->desc[4].inflight, 0);
	assert_int_equal(r->desc[1].inflight, 0);
	assert_int_equal(r->used_idx, 2);
	/* 3 is published, then the device dies before clearing its flag. */
	assert_int_equal(virtq_push_pending(&vq, 3, 1), 0);
	{
		struct virtq_inflight_region *save = vq.inflight;

		vq.inflight = NULL;
		virtq_push_commit(&vq);
		vq.inflight = save;
	}
	assert_int_equal(r->desc[3].inflight, 1);
	assert_int_equal(drv_used_idx(), 3);

	/* The restarted device: the frontend's base is the used idx. */
	vq_init(8, F_DEFAULT);
	drv_set_avail_idx(7);		/* the guest's ring is as it was */
	virtq_set_base(&vq, 3, 3);
	assert_int_equal(virtq_set_inflight(&vq, r), 3);
	assert_int_equal(r->desc[3].inflight, 0);
	assert_int_equal(r->used_idx, 3);
	virtq_get_base(&vq, &la, &lu);
	assert_int_equal(la, 6);
	assert_int_equal(lu, 3);
	assert_true(virtq_enable_notify(&vq));
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->head, 0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->head, 2);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->head, 5);
	assert_int_equal(virtq_pop(&vq, e), 0);	/* then the chain never taken */
	assert_int_equal(e->head, 6);
	assert_int_equal(virtq_pop(&vq, e), -EAGAIN);
	for (uint16_t h = 0; h < 7; h++)
		if (h == 0 || h == 2 || h == 5 || h == 6) {
			assert_int_equal(r->desc[h].inflight, 1);
			assert_int_equal(virtq_push(&vq, h, 1), 0);
		}
	for (uint16_t h = 0; h < 8; h++)
		assert_int_equal(r->desc[h].inflight, 0);
	assert_int_equal(r->used_idx, 7);

	/* A region that claims more in flight than was made available. */
	vq_init(8, F_DEFAULT);
	drv_set_avail_idx(7);
	virtq_set_base(&vq, 7, 7);
	r->desc[1].inflight = 1;
	r->desc[1].counter = 99;
	assert_int_equal(virtq_set_inflight(&vq, r), -EINVAL);
	assert_null(vq.inflight);
	r->desc_num = 4;
	assert_int_equal(virtq_set_inflight(&vq, r), -EINVAL);
	free(r);
	assert_guards_intact();
}

static void test_push_writes_used_and_logs(void **state)
{
	uint32_t id, len;

	(void)state;
	vq_init(256, F_DEFAULT);
	virtq_set_base(&vq, 300, 300);		/* slot 300 % 256 = 44 */
	reset_records();
	assert_int_equal(virtq_push(&vq, 5, 77), 0);
	drv_used_elem(44, &id, &len);
	assert_int_equal(id, 5);
	assert_int_equal(len, 77);
	assert_int_equal(drv_used_idx(), 301);
	assert_int_equal(mem.nlog, 2);
	assert_logged(0, USED_GPA + 4 + 8 * 44, 8);
	assert_logged(1, USED_GPA + 2, 2);
	assert_guards_intact();
}

static void test_push_batch_commit(void **state)
{
	uint32_t id, len;

	(void)state;
	vq_init(8, F_DEFAULT);
	assert_int_equal(virtq_push_pending(&vq, 1, 10), 0);
	assert_int_equal(virtq_push_pending(&vq, 2, 20), 0);
	assert_int_equal(virtq_push_pending(&vq, 3, 30), 0);
	assert_int_equal(drv_used_idx(), 0);	/* invisible until commit */
	drv_used_elem(2, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 30);
	virtq_push_commit(&vq);
	assert_int_equal(drv_used_idx(), 3);
	virtq_push_commit(&vq);			/* nothing pending: no-op */
	assert_int_equal(drv_used_idx(), 3);

	/* Caller mistakes are refused without breaking the queue. */
	assert_int_equal(virtq_push(&vq, 8, 0), -EINVAL);
	for (int i = 0; i < 8; i++)
		assert_int_equal(virtq_push_pending(&vq, 0, 0), 0);
	assert_int_equal(virtq_push_pending(&vq, 0, 0), -ENOSPC);
	assert_false(virtq_is_broken(&vq));
	virtq_push_commit(&vq);
	assert_int_equal(drv_used_idx(), 11);
}

/* commit_n publishes the oldest pending entries only (a merged frame that
 * is not complete stays pending behind whole ones). */
static void test_push_commit_n(void **state)
{
	uint32_t id, len;

	(void)state;
	vq_init(8, F_DEFAULT);
	assert_int_equal(virtq_push_pending(&vq, 1, 10), 0);
	assert_int_equal(virtq_push_pending(&vq, 2, 20), 0);
	assert_int_equal(virtq_push_pending(&vq, 3, 30), 0);
	virtq_push_commit_n(&vq, 0);
	assert_int_equal(drv_used_idx(), 0);
	virtq_push_commit_n(&vq, 2);
	assert_int_equal(drv_used_idx(), 2);
	drv_used_elem(1, &id, &len);
	assert_int_equal(id, 2);
	assert_int_equal(len, 20);
	/* More than pending: what is pending, once. */
	virtq_push_commit_n(&vq, 5);
	assert_int_equal(drv_used_idx(), 3);
	virtq_push_commit(&vq);
	assert_int_equal(drv_used_idx(), 3);
	/* The next entry lands after the published ones. */
	assert_int_equal(virtq_push(&vq, 4, 40), 0);
	assert_int_equal(drv_used_idx(), 4);
	drv_used_elem(3, &id, &len);
	assert_int_equal(id, 4);
	assert_int_equal(len, 40);
}

/* The prefetch hint: asked for chains already made available (the buffer of
 * the chain PREFETCH_BUF_AHEAD after the one taken), never for an entry the
 * driver has not published, never for an indirect table's target, and it
 * changes nothing the walk returns. */
#define PF_MAX 64
static uint64_t pf_addr[PF_MAX];
static bool pf_write[PF_MAX];
static unsigned int pf_n;

static void record_prefetch(void *opaque, uint64_t addr, bool write)
{
	(void)opaque;
	if (pf_n < PF_MAX) {
		pf_addr[pf_n] = addr;
		pf_write[pf_n] = write;
	}
	pf_n++;
}

static void test_prefetch_hint(void **state)
{
	struct virtq_config cfg = make_cfg(16, F_DEFAULT);
	unsigned int i;

	(void)state;
	vq_init(16, F_DEFAULT);			/* the harness's driver side */
	cfg.prefetch = record_prefetch;
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	pf_n = 0;
	/* 6 one-descriptor chains: even ones device-writable. */
	for (i = 0; i < 6; i++) {
		drv_desc((uint16_t)i, R1 + i * 0x100, 64, (i & 1) ? 0 : VRING_DESC_F_WRITE, 0);
		drv_avail((uint16_t)i);
	}
	/* Taking chain 0 and 1: the chains 4 and 5 ahead are available. */
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(eb->elem.head, 0);
	assert_int_equal(pf_n, 1);
	assert_int_equal(pf_addr[0], R1 + 5 * 0x100);	/* last_avail 1 + 4 */
	assert_false(pf_write[0]);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(pf_n, 1);			/* 2 + 4 = 6: not available */
	for (i = 2; i < 6; i++) {
		assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
		assert_int_equal(eb->elem.head, i);
		assert_ptr_equal(eb->elem.iov[0].iov_base, host_of(R1 + i * 0x100));
	}
	assert_int_equal(pf_n, 1);
	assert_int_equal(virtq_pop(&vq, &eb->elem), -EAGAIN);

	/* An entry naming a descriptor out of range is not followed; the pop
	 * that reaches it breaks the queue as before. */
	for (i = 0; i < 6; i++)
		drv_avail(i == 5 ? 99 : (uint16_t)i);	/* entries 6..11; 11 is bad */
	pf_n = 0;
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(pf_n, 0);
	assert_false(virtq_is_broken(&vq));
}

/* A small element gets -ENOBUFS for a chain it cannot hold, the queue stays
 * whole and the chain next; virtq_unpop gives back the newest chains. */
static void test_small_elem_and_unpop(void **state)
{
	struct virtq_elem small;
	struct iovec iov[4];
	uint64_t addr[4];
	uint16_t last, used;

	(void)state;
	vq_init(16, F_DEFAULT);
	drv_desc(0, R1, 64, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	for (uint16_t i = 1; i <= 5; i++)
		drv_desc(i, R1 + i * 0x100, 64, VRING_DESC_F_WRITE | (i < 5 ? VRING_DESC_F_NEXT : 0),
			 (uint16_t)(i + 1));
	drv_avail(1);
	drv_desc(6, R1 + 0x800, 64, VRING_DESC_F_WRITE, 0);
	drv_avail(6);

	virtq_elem_init(&small, iov, addr, 4);
	assert_int_equal(virtq_pop(&vq, &small), 0);
	assert_int_equal(small.head, 0);
	assert_int_equal(virtq_pop(&vq, &small), -ENOBUFS);	/* 5 buffers */
	assert_false(virtq_is_broken(&vq));
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, 1);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);		/* a full element takes it */
	assert_int_equal(eb->elem.head, 1);
	assert_int_equal(eb->elem.in_num, 5);
	assert_int_equal(virtq_pop(&vq, &small), 0);
	assert_int_equal(small.head, 6);

	/* Give back the newest two, take them again in order. */
	assert_int_equal(virtq_unpop(&vq, 2), 0);
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, 1);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(eb->elem.head, 1);
	assert_int_equal(virtq_pop(&vq, &small), 0);
	assert_int_equal(small.head, 6);
	/* No more than were taken; none after set_base. */
	assert_int_equal(virtq_unpop(&vq, 4), -EINVAL);
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, 3);
	virtq_set_base(&vq, 3, 0);
	assert_int_equal(virtq_unpop(&vq, 1), -EINVAL);
	/* A full element over VIRTQ_MAX_IOV still breaks the queue (E2BIG): not
	 * this test; the small-element rule changes nothing for it. */
	assert_false(virtq_is_broken(&vq));
}

/* ---- Indirect descriptors ---- */

static void test_indirect_basic(void **state)
{
	struct virtq_elem *e = &eb->elem;
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1 + 0x100, 12, VRING_DESC_F_NEXT, 2);
	desc_at(table, 2, R1 + 0x200, 100, VRING_DESC_F_NEXT, 1);
	desc_at(table, 1, R2 + 0x300, 1, VRING_DESC_F_WRITE, 0);
	desc_at(table, 3, HOLE, 99, 0, 0);	/* unused entry, never read */
	drv_desc(4, table, 4 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_avail(4);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->head, 4);
	assert_int_equal(e->ndesc, 4);
	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 1);
	assert_int_equal(e->out_len, 112);
	assert_int_equal(e->in_len, 1);
	assert_int_equal(e->addr[0], R1 + 0x100);
	assert_int_equal(e->addr[1], R1 + 0x200);
	assert_int_equal(e->addr[2], R2 + 0x300);
	/* The table was checked over its whole length. */
	assert_true(was_translated(table, 64));
}

/* Spec: zero or more direct descriptors followed by one indirect one. */
static void test_indirect_after_direct_chain(void **state)
{
	struct virtq_elem *e = &eb->elem;
	const uint64_t table = R1 + 0x4000;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1 + 0x300, 20, VRING_DESC_F_NEXT, 1);
	desc_at(table, 1, R1 + 0x400, 30, VRING_DESC_F_WRITE, 0);
	drv_desc(0, R1 + 0x100, 10, VRING_DESC_F_NEXT, 1);
	/* The WRITE flag on the pointer descriptor is ignored. */
	drv_desc(1, table, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 1);
	assert_int_equal(e->out_len, 30);
	assert_int_equal(e->in_len, 30);
	assert_int_equal(e->ndesc, 4);
}

/* A table crossing from R1 into R2, with one descriptor straddling the
 * boundary, is read piecewise. */
static void test_indirect_table_spans_regions(void **state)
{
	struct virtq_elem *e = &eb->elem;
	const uint64_t table = R2 - 24;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1 + 0x100, 11, VRING_DESC_F_NEXT, 1);
	desc_at(table, 1, R1 + 0x200, 22, VRING_DESC_F_NEXT, 2);	/* straddles */
	desc_at(table, 2, R2 + 0x300, 33, VRING_DESC_F_WRITE, 0);
	drv_desc(0, table, 48, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	assert_int_equal(virtq_pop(&vq, e), 0);
	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 1);
	assert_int_equal(e->out_len, 33);
	assert_int_equal(e->in_len, 33);
	assert_int_equal(e->addr[1], R1 + 0x200);
	assert_int_equal(e->addr[2], R2 + 0x300);
	assert_true(was_translated(table, 48));
	assert_guards_intact();
}

/* CVE class: only the first descriptor's worth of the table was checked.
 * Here the chain uses entry 0 only, but the table's tail is unmapped. */
static void test_indirect_table_checked_over_whole_length(void **state)
{
	const uint64_t table = R2 + R2_SIZE - 48;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(table, 0, R1, 8, 0, 0);
	drv_desc(0, table, 64, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	expect_pop_breaks(-EFAULT, VIRTQ_ERR_INDIRECT_FAULT);
}

/* ---- Descriptors are read once (TOCTOU) ---- */

static unsigned int hook_calls;

/* After descriptor 0 was read, the "guest" rewrites it into a loop with a
 * huge length; the device must keep using what it validated. */
static void rewrite_direct_desc0(uint64_t addr, uint64_t len)
{
	(void)len;
	if (addr == R1 + 0x100) {
		hook_calls++;
		drv_desc(0, HOLE, 0xffffffffu, VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT, 0);
	}
}

static void test_direct_desc_read_once(void **state)
{
	struct virtq_elem *e = &eb->elem;

	(void)state;
	vq_init(256, F_DEFAULT);
	drv_desc(0, R1 + 0x100, 10, VRING_DESC_F_NEXT, 1);
	drv_desc(1, R1 + 0x200, 20, VRING_DESC_F_WRITE, 0);
	drv_avail(0);
	hook_calls = 0;
	mem.hook = rewrite_direct_desc0;
	assert_int_equal(virtq_pop(&vq, e), 0);
	mem.hook = NULL;
	assert_int_equal(hook_calls, 1);
	assert_int_equal(e->out_len, 10);
	assert_int_equal(e->in_len, 20);
	assert_int_equal(e->addr[0], R1 + 0x100);
}

#define TOCTOU_TABLE (R1 + 0x4000)

static void rewrite_indirect_entry0(uint64_t addr, uint64_t len)
{
	(void)len;
	if (addr == R1 + 0x100) {
		hook_calls++;
		desc_at(TOCTOU_TABLE, 0, HOLE, 0xffffffffu, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 7);
	}
}

static void test_indirect_desc_read_once(void **state)
{
	struct virtq_elem *e = &eb->elem;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(TOCTOU_TABLE, 0, R1 + 0x100, 10, VRING_DESC_F_NEXT, 1);
	desc_at(TOCTOU_TABLE, 1, R1 + 0x200, 20, VRING_DESC_F_WRITE, 0);
	drv_desc(0, TOCTOU_TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	hook_calls = 0;
	mem.hook = rewrite_indirect_entry0;
	assert_int_equal(virtq_pop(&vq, e), 0);
	mem.hook = NULL;
	assert_int_equal(hook_calls, 1);
	assert_int_equal(e->out_num, 1);
	assert_int_equal(e->out_len, 10);
	assert_int_equal(e->in_len, 20);
}

/* The pointer to an indirect table is rewritten while the table is being
 * mapped: the walk keeps the validated length and address. */
static void rewrite_indirect_pointer(uint64_t addr, uint64_t len)
{
	(void)len;
	if (addr == TOCTOU_TABLE) {
		hook_calls++;
		drv_desc(0, HOLE, 0xfffffff0u, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	}
}

static void test_indirect_pointer_read_once(void **state)
{
	struct virtq_elem *e = &eb->elem;

	(void)state;
	vq_init(256, F_DEFAULT);
	desc_at(TOCTOU_TABLE, 0, R1 + 0x100, 10, VRING_DESC_F_NEXT, 1);
	desc_at(TOCTOU_TABLE, 1, R1 + 0x200, 20, VRING_DESC_F_WRITE, 0);
	drv_desc(0, TOCTOU_TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	drv_avail(0);
	hook_calls = 0;
	mem.hook = rewrite_indirect_pointer;
	assert_int_equal(virtq_pop(&vq, e), 0);
	mem.hook = NULL;
	assert_int_equal(hook_calls, 1);
	assert_int_equal(e->ndesc, 3);
	assert_int_equal(e->out_len, 10);
	assert_int_equal(e->in_len, 20);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_setup_rejects_bad_size),
		T(test_setup_rejects_misaligned_rings),
		T(test_setup_rejects_unmapped_or_split_rings),
		T(test_setup_event_idx_ring_lengths),
		T(test_setup_writes_nothing),
		T(test_ring_translate_and_used_log_addr),
		T(test_pop_empty),
		T(test_pop_rejects_elem_without_storage),
		T(test_pop_chain_readable_then_writable),
		T(test_pop_skips_zero_length_descriptors),
		T(test_pop_full_length_chain),
		T(test_pop_readonly_region_readable),
		T(test_pop_push_across_index_wrap),
		T(test_avail_count_full_ring),
		T(test_buffer_split_at_region_boundary),
		T(test_translate_overreport_is_clamped),
		T(test_elem_write_offsets_and_logging),
		T(test_iov_copy_helpers),
		T(test_push_writes_used_and_logs),
		T(test_inflight_resume),
		T(test_push_batch_commit),
		T(test_push_commit_n),
		T(test_prefetch_hint),
		T(test_small_elem_and_unpop),
		T(test_indirect_basic),
		T(test_indirect_after_direct_chain),
		T(test_indirect_table_spans_regions),
		T(test_indirect_table_checked_over_whole_length),
		T(test_direct_desc_read_once),
		T(test_indirect_desc_read_once),
		T(test_indirect_pointer_read_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
