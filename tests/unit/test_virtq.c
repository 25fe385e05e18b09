/* Unit tests for the device side of split virtqueues (src/virtio): the test
 * plays the driver in a fake guest memory made of discontiguous regions
 * reached through the translate callback, then checks what the device took,
 * what it wrote back, what it logged, and that every malformed chain breaks
 * the queue with the exact error without touching guest memory. Also the
 * virtio-net header helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_config.h>

#include "virtio/virtio_net_hdr.h"
#include "virtio/virtq.h"

/* ---- Fake guest memory ---- */

#define GUARD 256		/* canary bytes on both sides of every region */
#define GUARD_BYTE 0xA5
#define NREGIONS 4

/* Guest layout: rings in R0; R1 and R2 adjacent in guest space but separate
 * host allocations (a buffer can cross from one to the other); R3 read-only;
 * everything else is a hole. */
#define R0 0x10000ull
#define R0_SIZE 0x10000ull
#define R1 0x100000ull
#define R1_SIZE 0x10000ull
#define R2 (R1 + R1_SIZE)
#define R2_SIZE 0x10000ull
#define R3 0x200000ull
#define R3_SIZE 0x1000ull
#define HOLE 0x150000ull

#define DESC_GPA R0
#define AVAIL_GPA (R0 + 0x8000)
#define USED_GPA (R0 + 0xa000)

/* Ring addresses seen through ring_translate in the "frontend VA" test. */
#define UVA_OFFSET 0x7f0000000000ull

struct region {
	uint64_t gpa, size;
	bool writable;
	uint8_t *alloc;		/* GUARD + size + GUARD */
	uint8_t *host;
};

struct range {
	uint64_t addr, len;
	bool write;
};

#define MAX_RECORDS 8192

struct fake_mem {
	struct region r[NREGIONS];
	/* translate calls made by the library */
	unsigned int ntr;
	struct range tr[MAX_RECORDS];
	/* log calls */
	unsigned int nlog;
	struct range log[MAX_RECORDS];
	bool overreport;	/* report contig beyond len (clamping test) */
	/* Called inside translate, to change guest memory mid-walk. */
	void (*hook)(uint64_t addr, uint64_t len);
};

static struct fake_mem mem;
static struct virtq vq;
static struct virtq_elem_buf *eb;
static uint16_t drv_avail_idx;		/* driver's shadow of avail->idx */
static uint16_t qsize;

static struct region *find_region(uint64_t addr)
{
	for (int i = 0; i < NREGIONS; i++) {
		struct region *r = &mem.r[i];

		if (addr >= r->gpa && addr - r->gpa < r->size)
			return r;
	}
	return NULL;
}

static void *fake_translate(void *opaque, uint64_t addr, uint64_t len, bool write, uint64_t *contig)
{
	struct fake_mem *m = opaque;
	struct region *r = find_region(addr);
	uint64_t avail;

	if (m->ntr < MAX_RECORDS)
		m->tr[m->ntr] = (struct range){ addr, len, write };
	m->ntr++;
	if (m->hook)
		m->hook(addr, len);
	if (!r || (write && !r->writable))
		return NULL;
	avail = r->size - (addr - r->gpa);
	*contig = (m->overreport || avail < len) ? avail : len;
	return r->host + (addr - r->gpa);
}

static void *fake_ring_translate(void *opaque, uint64_t uva, uint64_t len, bool write,
				 uint64_t *contig)
{
	if (uva < UVA_OFFSET)
		return NULL;
	return fake_translate(opaque, uva - UVA_OFFSET, len, write, contig);
}

static void fake_log(void *opaque, uint64_t addr, uint64_t len)
{
	struct fake_mem *m = opaque;

	if (m->nlog < MAX_RECORDS)
		m->log[m->nlog] = (struct range){ addr, len, true };
	m->nlog++;
}

static void region_init(struct region *r, uint64_t gpa, uint64_t size, bool writable)
{
	r->gpa = gpa;
	r->size = size;
	r->writable = writable;
	r->alloc = malloc(size + 2 * GUARD);
	assert_non_null(r->alloc);
	memset(r->alloc, GUARD_BYTE, GUARD);
	memset(r->alloc + GUARD + size, GUARD_BYTE, GUARD);
	r->host = r->alloc + GUARD;
	memset(r->host, 0, size);
}

static void assert_guards_intact(void)
{
	for (int i = 0; i < NREGIONS; i++) {
		const struct region *r = &mem.r[i];

		for (unsigned int j = 0; j < GUARD; j++) {
			if (r->alloc[j] != GUARD_BYTE || r->alloc[GUARD + r->size + j] != GUARD_BYTE)
				fail_msg("region %d guard byte %u overwritten", i, j);
		}
	}
}

/* Test-side access to guest memory, piecewise across regions. */
static void guest_write(uint64_t gpa, const void *src, size_t len)
{
	const uint8_t *s = src;

	while (len) {
		struct region *r = find_region(gpa);
		uint64_t n;

		assert_non_null(r);
		n = r->size - (gpa - r->gpa);
		if (n > len)
			n = len;
		memcpy(r->host + (gpa - r->gpa), s, n);
		s += n;
		gpa += n;
		len -= n;
	}
}

static void guest_read(uint64_t gpa, void *dst, size_t len)
{
	uint8_t *d = dst;

	while (len) {
		struct region *r = find_region(gpa);
		uint64_t n;

		assert_non_null(r);
		n = r->size - (gpa - r->gpa);
		if (n > len)
			n = len;
		memcpy(d, r->host + (gpa - r->gpa), n);
		d += n;
		gpa += n;
		len -= n;
	}
}

static void *host_of(uint64_t gpa)
{
	struct region *r = find_region(gpa);

	assert_non_null(r);
	return r->host + (gpa - r->gpa);
}

static void w16(uint64_t gpa, uint16_t v)
{
	guest_write(gpa, &v, 2);
}

static uint16_t r16(uint64_t gpa)
{
	uint16_t v;

	guest_read(gpa, &v, 2);
	return v;
}

static uint32_t r32(uint64_t gpa)
{
	uint32_t v;

	guest_read(gpa, &v, 4);
	return v;
}

/* ---- Driver side ---- */

static void desc_at(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	guest_write(table + 16ull * i, &d, sizeof(d));
}

static void drv_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(DESC_GPA, i, addr, len, flags, next);
}

static void drv_set_avail_idx(uint16_t idx)
{
	drv_avail_idx = idx;
	w16(AVAIL_GPA + 2, idx);
}

static void drv_avail(uint16_t head)
{
	w16(AVAIL_GPA + 4 + 2ull * (drv_avail_idx % qsize), head);
	drv_set_avail_idx((uint16_t)(drv_avail_idx + 1));
}

static void drv_set_avail_flags(uint16_t flags)
{
	w16(AVAIL_GPA, flags);
}

static void drv_set_used_event(uint16_t v)
{
	w16(AVAIL_GPA + 4 + 2ull * qsize, v);
}

static uint16_t drv_used_idx(void)
{
	return r16(USED_GPA + 2);
}

static uint16_t drv_used_flags(void)
{
	return r16(USED_GPA);
}

static uint16_t drv_avail_event(void)
{
	return r16(USED_GPA + 4 + 8ull * qsize);
}

static void drv_used_elem(uint16_t slot, uint32_t *id, uint32_t *len)
{
	*id = r32(USED_GPA + 4 + 8ull * slot);
	*len = r32(USED_GPA + 4 + 8ull * slot + 4);
}

/* ---- Queue helpers ---- */

#define F(bit) (1ull << (bit))
#define F_DEFAULT (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC))

static struct virtq_config make_cfg(uint16_t size, uint64_t features)
{
	struct virtq_config cfg = {
		.size = size,
		.features = features,
		.desc_addr = DESC_GPA,
		.avail_addr = AVAIL_GPA,
		.used_addr = USED_GPA,
		.translate = fake_translate,
		.log = fake_log,
		.opaque = &mem,
	};
	return cfg;
}

static void vq_init(uint16_t size, uint64_t features)
{
	struct virtq_config cfg = make_cfg(size, features);

	qsize = size;
	drv_set_avail_idx(0);
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	mem.ntr = 0;
	mem.nlog = 0;
}

static void reset_records(void)
{
	mem.ntr = 0;
	mem.nlog = 0;
}

static void assert_logged(unsigned int i, uint64_t addr, uint64_t len)
{
	assert_true(i < mem.nlog);
	if (mem.log[i].addr != addr || mem.log[i].len != len)
		fail_msg("log[%u] = (0x%llx, %llu), expected (0x%llx, %llu)", i,
			 (unsigned long long)mem.log[i].addr, (unsigned long long)mem.log[i].len,
			 (unsigned long long)addr, (unsigned long long)len);
}

static bool was_translated(uint64_t addr, uint64_t len)
{
	for (unsigned int i = 0; i < mem.ntr && i < MAX_RECORDS; i++) {
		if (mem.tr[i].addr == addr && mem.tr[i].len == len)
			return true;
	}
	return false;
}

/* Whole-memory snapshot, to prove a failed pop wrote nothing. */
static uint8_t *snapshot(void)
{
	size_t total = 0, off = 0;
	uint8_t *s;

	for (int i = 0; i < NREGIONS; i++)
		total += mem.r[i].size + 2 * GUARD;
	s = malloc(total);
	assert_non_null(s);
	for (int i = 0; i < NREGIONS; i++) {
		memcpy(s + off, mem.r[i].alloc, mem.r[i].size + 2 * GUARD);
		off += mem.r[i].size + 2 * GUARD;
	}
	return s;
}

static void assert_unchanged(uint8_t *snap)
{
	size_t off = 0;

	for (int i = 0; i < NREGIONS; i++) {
		if (memcmp(snap + off, mem.r[i].alloc, mem.r[i].size + 2 * GUARD))
			fail_msg("guest memory of region %d changed", i);
		off += mem.r[i].size + 2 * GUARD;
	}
	free(snap);
}

/* Pops and expects the queue to break with err/reason, having written and
 * logged nothing; then checks that the queue stays stopped. */
static void expect_pop_breaks(int err, enum virtq_error reason)
{
	uint16_t last_before, used_before, last, used;
	uint8_t *snap = snapshot();
	char msg[128];

	virtq_get_base(&vq, &last_before, &used_before);
	reset_records();
	assert_int_equal(virtq_pop(&vq, &eb->elem), err);
	assert_true(virtq_is_broken(&vq));
	assert_int_equal(virtq_error(&vq), err);
	assert_int_equal(virtq_error_reason(&vq), reason);
	virtq_format_error(&vq, msg, sizeof(msg));
	assert_non_null(strstr(msg, virtq_strerror(reason)));
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, last_before);
	assert_int_equal(used, used_before);
	assert_int_equal(mem.nlog, 0);
	assert_unchanged(snap);
	assert_guards_intact();

	/* Stopped: nothing more is taken or returned. */
	assert_int_equal(virtq_pop(&vq, &eb->elem), -EIO);
	assert_int_equal(virtq_push(&vq, 0, 0), -EIO);
	assert_int_equal(virtq_avail_count(&vq), 0);
	assert_false(virtq_enable_notify(&vq));
}

static int setup(void **state)
{
	(void)state;
	memset(&mem, 0, sizeof(mem));
	region_init(&mem.r[0], R0, R0_SIZE, true);
	region_init(&mem.r[1], R1, R1_SIZE, true);
	region_init(&mem.r[2], R2, R2_SIZE, true);
	region_init(&mem.r[3], R3, R3_SIZE, false);
	eb = malloc(sizeof(*eb));
	assert_non_null(eb);
	virtq_elem_buf_init(eb);
	memset(&vq, 0, sizeof(vq));
	drv_avail_idx = 0;
	qsize = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_guards_intact();
	for (int i = 0; i < NREGIONS; i++)
		free(mem.r[i].alloc);
	free(eb);
	return 0;
}

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

		assert_int_equal(virtq_pop(&vq, &elem), -E2BIG);
		assert_unchanged(snap);
	}
	assert_int_equal(virtq_error_reason(&vq), VIRTQ_ERR_TOO_MANY_IOV);
	assert_true(virtq_is_broken(&vq));
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

/* ---- Notifications to the driver ---- */

static void test_notify_flags_without_event_idx(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	assert_true(virtq_should_notify(&vq));		/* first decision */
	assert_false(virtq_should_notify(&vq));		/* nothing new */
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_true(virtq_should_notify(&vq));
	drv_set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_false(virtq_should_notify(&vq));
	drv_set_avail_flags(0);
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_true(virtq_should_notify(&vq));
	/* used_event is meaningless without the feature. */
	drv_set_used_event(1000);
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_true(virtq_should_notify(&vq));
	/* set_base starts over with a notification. */
	virtq_set_base(&vq, 0, 0);
	assert_true(virtq_should_notify(&vq));
}

struct event_case {
	uint16_t start;		/* used idx at the previous decision */
	uint16_t pushes;
	uint16_t used_event;
	bool notify;
};

static void test_notify_event_idx_wrap(void **state)
{
	/* Notify iff used_event is in [start, start + pushes) modulo 2^16. */
	static const struct event_case cases[] = {
		{ 65533, 5, 65533, true },
		{ 65533, 5, 65535, true },
		{ 65533, 5, 0, true },
		{ 65533, 5, 1, true },
		{ 65533, 5, 2, false },		/* idx reached 2: event not yet passed */
		{ 65533, 5, 65532, false },	/* already passed before */
		{ 65533, 5, 30000, false },
		{ 65535, 1, 65535, true },
		{ 65535, 1, 0, false },
		{ 65535, 2, 0, true },
		{ 0, 1, 0, true },
		{ 0, 1, 65535, false },
		{ 100, 3, 99, false },
		{ 100, 3, 102, true },
		{ 100, 3, 103, false },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct event_case *c = &cases[i];

		vq_init(8, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
		virtq_set_base(&vq, c->start, c->start);
		assert_true(virtq_should_notify(&vq));
		/* The suppression flag is ignored with EVENT_IDX. */
		drv_set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
		drv_set_used_event(c->used_event);
		for (uint16_t p = 0; p < c->pushes; p++)
			assert_int_equal(virtq_push(&vq, 0, 0), 0);
		if (virtq_should_notify(&vq) != c->notify)
			fail_msg("case %u: start %u pushes %u used_event %u: expected %d", i,
				 c->start, c->pushes, c->used_event, c->notify);
		assert_false(virtq_should_notify(&vq));
	}
}

static void test_notify_event_idx_batched_commit(void **state)
{
	(void)state;
	vq_init(8, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	assert_true(virtq_should_notify(&vq));
	drv_set_used_event(1);		/* after the 2nd entry */
	assert_int_equal(virtq_push_pending(&vq, 0, 0), 0);
	assert_int_equal(virtq_push_pending(&vq, 1, 0), 0);
	assert_int_equal(virtq_push_pending(&vq, 2, 0), 0);
	assert_false(virtq_should_notify(&vq));	/* nothing published yet */
	virtq_push_commit(&vq);
	assert_true(virtq_should_notify(&vq));
	/* The driver moves used_event ahead; the next entries stay quiet. */
	drv_set_used_event(5);
	assert_int_equal(virtq_push(&vq, 3, 0), 0);
	assert_int_equal(virtq_push(&vq, 4, 0), 0);
	assert_false(virtq_should_notify(&vq));
	assert_int_equal(virtq_push(&vq, 5, 0), 0);
	assert_true(virtq_should_notify(&vq));
}

/* ---- Notifications from the driver (kicks) ---- */

static void test_kick_suppression_flags(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	virtq_disable_notify(&vq);
	assert_int_equal(drv_used_flags(), VRING_USED_F_NO_NOTIFY);
	assert_int_equal(mem.nlog, 1);
	assert_logged(0, USED_GPA, 2);
	virtq_disable_notify(&vq);		/* no change: no write, no log */
	assert_int_equal(mem.nlog, 1);

	reset_records();
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(drv_used_flags(), 0);
	assert_logged(0, USED_GPA, 2);

	virtq_disable_notify(&vq);
	drv_desc(0, R1, 8, 0, 0);
	drv_avail(0);
	/* Buffers arrived while disabled: enabling reports them. */
	assert_true(virtq_enable_notify(&vq));
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_false(virtq_enable_notify(&vq));
}

static void test_kick_suppression_event_idx(void **state)
{
	const uint64_t avail_event = USED_GPA + 4 + 8 * 8;

	(void)state;
	vq_init(8, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	virtq_set_base(&vq, 65534, 65534);
	drv_set_avail_idx(65534);
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(drv_avail_event(), 65534);
	assert_logged(0, avail_event, 2);
	assert_int_equal(drv_used_flags(), 0);	/* flags unused with EVENT_IDX */

	/* With notifications on, avail_event follows each pop (wrapping). */
	for (uint16_t i = 0; i < 3; i++) {
		drv_desc(i, R1, 8, 0, 0);
		drv_avail(i);
	}
	reset_records();
	for (uint16_t i = 0; i < 3; i++) {
		assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
		assert_int_equal(drv_avail_event(), (uint16_t)(65534 + i + 1));
	}
	assert_int_equal(mem.nlog, 3);
	assert_logged(2, avail_event, 2);

	/* Disabled: avail_event stays where it was. */
	virtq_disable_notify(&vq);
	drv_avail(0);
	drv_avail(1);
	reset_records();
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(drv_avail_event(), 1);
	assert_int_equal(mem.nlog, 0);
	/* Re-enabled with one buffer still waiting. */
	assert_true(virtq_enable_notify(&vq));
	assert_int_equal(drv_avail_event(), 2);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(drv_avail_event(), 3);
}

static void test_set_base_and_used_idx_recovery(void **state)
{
	uint16_t last, used;

	(void)state;
	vq_init(256, F_DEFAULT);
	w16(USED_GPA + 2, 4242);	/* what the previous backend published */
	assert_int_equal(virtq_read_used_idx(&vq), 4242);
	virtq_set_base(&vq, virtq_read_used_idx(&vq), virtq_read_used_idx(&vq));
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, 4242);
	assert_int_equal(used, 4242);
	/* Pending entries are dropped by set_base. */
	assert_int_equal(virtq_push_pending(&vq, 1, 1), 0);
	virtq_set_base(&vq, 4242, 4242);
	virtq_push_commit(&vq);
	assert_int_equal(drv_used_idx(), 4242);
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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

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
		T(test_push_batch_commit),
		T(test_indirect_basic),
		T(test_indirect_after_direct_chain),
		T(test_indirect_table_spans_regions),
		T(test_indirect_table_checked_over_whole_length),
		T(test_direct_desc_read_once),
		T(test_indirect_desc_read_once),
		T(test_indirect_pointer_read_once),
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
		T(test_notify_flags_without_event_idx),
		T(test_notify_event_idx_wrap),
		T(test_notify_event_idx_batched_commit),
		T(test_kick_suppression_flags),
		T(test_kick_suppression_event_idx),
		T(test_set_base_and_used_idx_recovery),
		T(test_random_rings),
		T(test_net_hdr_len),
		T(test_net_tx_parse_ok),
		T(test_net_tx_parse_short_chain),
		T(test_net_tx_parse_csum_checks),
		T(test_net_tx_parse_gso_checks),
		T(test_net_hdr_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
