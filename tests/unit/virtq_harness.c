/* The device-side virtqueue tests' harness (see virtq_harness.h). */
#include "virtq_harness.h"

/* ---- Fake guest memory ---- */

struct fake_mem mem;
struct virtq vq;
struct virtq_elem_buf *eb;
uint16_t drv_avail_idx;		/* driver's shadow of avail->idx */
uint16_t qsize;

struct region *find_region(uint64_t addr)
{
	for (int i = 0; i < NREGIONS; i++) {
		struct region *r = &mem.r[i];

		if (addr >= r->gpa && addr - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *fake_translate(void *opaque, uint64_t addr, uint64_t len, bool write, uint64_t *contig)
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

void *fake_ring_translate(void *opaque, uint64_t uva, uint64_t len, bool write,
				 uint64_t *contig)
{
	if (uva < UVA_OFFSET)
		return NULL;
	return fake_translate(opaque, uva - UVA_OFFSET, len, write, contig);
}

void fake_log(void *opaque, uint64_t addr, uint64_t len)
{
	struct fake_mem *m = opaque;

	if (m->nlog < MAX_RECORDS)
		m->log[m->nlog] = (struct range){ addr, len, true };
	m->nlog++;
}

void region_init(struct region *r, uint64_t gpa, uint64_t size, bool writable)
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

void assert_guards_intact(void)
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
void guest_write(uint64_t gpa, const void *src, size_t len)
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

void guest_read(uint64_t gpa, void *dst, size_t len)
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

void *host_of(uint64_t gpa)
{
	struct region *r = find_region(gpa);

	assert_non_null(r);
	return r->host + (gpa - r->gpa);
}

void w16(uint64_t gpa, uint16_t v)
{
	guest_write(gpa, &v, 2);
}

uint16_t r16(uint64_t gpa)
{
	uint16_t v;

	guest_read(gpa, &v, 2);
	return v;
}

uint32_t r32(uint64_t gpa)
{
	uint32_t v;

	guest_read(gpa, &v, 4);
	return v;
}

/* ---- Driver side ---- */

void desc_at(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	guest_write(table + 16ull * i, &d, sizeof(d));
}

void drv_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(DESC_GPA, i, addr, len, flags, next);
}

void drv_set_avail_idx(uint16_t idx)
{
	drv_avail_idx = idx;
	w16(AVAIL_GPA + 2, idx);
}

void drv_avail(uint16_t head)
{
	w16(AVAIL_GPA + 4 + 2ull * (drv_avail_idx % qsize), head);
	drv_set_avail_idx((uint16_t)(drv_avail_idx + 1));
}

void drv_set_avail_flags(uint16_t flags)
{
	w16(AVAIL_GPA, flags);
}

void drv_set_used_event(uint16_t v)
{
	w16(AVAIL_GPA + 4 + 2ull * qsize, v);
}

uint16_t drv_used_idx(void)
{
	return r16(USED_GPA + 2);
}

uint16_t drv_used_flags(void)
{
	return r16(USED_GPA);
}

uint16_t drv_avail_event(void)
{
	return r16(USED_GPA + 4 + 8ull * qsize);
}

void drv_used_elem(uint16_t slot, uint32_t *id, uint32_t *len)
{
	*id = r32(USED_GPA + 4 + 8ull * slot);
	*len = r32(USED_GPA + 4 + 8ull * slot + 4);
}

/* ---- Queue helpers ---- */

struct virtq_config make_cfg(uint16_t size, uint64_t features)
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

void vq_init(uint16_t size, uint64_t features)
{
	struct virtq_config cfg = make_cfg(size, features);

	qsize = size;
	drv_set_avail_idx(0);
	assert_int_equal(virtq_setup(&vq, &cfg), 0);
	mem.ntr = 0;
	mem.nlog = 0;
}

void reset_records(void)
{
	mem.ntr = 0;
	mem.nlog = 0;
}

void assert_logged(unsigned int i, uint64_t addr, uint64_t len)
{
	assert_true(i < mem.nlog);
	if (mem.log[i].addr != addr || mem.log[i].len != len)
		fail_msg("log[%u] = (0x%llx, %llu), expected (0x%llx, %llu)", i,
			 (unsigned long long)mem.log[i].addr, (unsigned long long)mem.log[i].len,
			 (unsigned long long)addr, (unsigned long long)len);
}

bool was_translated(uint64_t addr, uint64_t len)
{
	for (unsigned int i = 0; i < mem.ntr && i < MAX_RECORDS; i++) {
		if (mem.tr[i].addr == addr && mem.tr[i].len == len)
			return true;
	}
	return false;
}

/* Whole-memory snapshot, to prove a failed pop wrote nothing. */
uint8_t *snapshot(void)
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

void assert_unchanged(uint8_t *snap)
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
void expect_pop_breaks(int err, enum virtq_error reason)
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

int setup(void **state)
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

int teardown(void **state)
{
	(void)state;
	assert_guards_intact();
	for (int i = 0; i < NREGIONS; i++)
		free(mem.r[i].alloc);
	free(eb);
	return 0;
}

