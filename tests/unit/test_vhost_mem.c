/* Unit tests for guest memory: region lookup at boundaries and overflow
 * edges (vu_mem_lookup), translation on a session (gpa, uva, hva back to
 * gpa, mmap_offset), ADD/REM_MEM_REG slots, and every mapping and fd given
 * back on reset. */
#include "vu_test_util.h"

/* ---- pure lookup ---- */

static const struct vu_mem_region lookup_table[] = {
	{ .gpa = 0x1000, .size = 0x1000, .uaddr = 0x7000 },
	{ .gpa = 0x2000, .size = 0x2000, .uaddr = 0x9000 },	/* adjacent to [0] in gpa */
	{ .gpa = 0x10000, .size = 0x1000, .uaddr = 0x8000 },	/* adjacent to [0] in uva */
	{ .gpa = UINT64_MAX - 0xfff, .size = 0x1000, .uaddr = UINT64_MAX - 0x1fff },
};
#define LOOKUP_N (sizeof(lookup_table) / sizeof(lookup_table[0]))

static const struct vu_mem_region *lookup(enum vu_addr_kind kind, uint64_t addr, uint64_t len,
					  uint64_t *contig)
{
	*contig = 0xdeadbeef;
	return vu_mem_lookup(lookup_table, LOOKUP_N, kind, addr, len, contig);
}

static void test_lookup_boundaries(void **state)
{
	const struct vu_mem_region *t = lookup_table;
	uint64_t c;

	(void)state;
	/* First and last byte of a region. */
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x1000, 1, &c), &t[0]);
	assert_int_equal(c, 1);
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x1fff, 1, &c), &t[0]);
	assert_int_equal(c, 1);
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x1000, 0x1000, &c), &t[0]);
	assert_int_equal(c, 0x1000);
	/* One before the first, one past the last. */
	assert_null(lookup(VU_ADDR_GPA, 0xfff, 1, &c));
	assert_null(lookup(VU_ADDR_GPA, 0x4000, 1, &c));
	assert_null(lookup(VU_ADDR_GPA, 0x11000, 1, &c));
	assert_null(lookup(VU_ADDR_GPA, 0, 0x100000, &c));
	/* A range over two adjacent regions: only the contiguous part. */
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x1ff0, 0x20, &c), &t[0]);
	assert_int_equal(c, 0x10);
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x1000, 0x3000, &c), &t[0]);
	assert_int_equal(c, 0x1000);
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x2000, 0x3000, &c), &t[1]);
	assert_int_equal(c, 0x2000);
	/* Zero length inside a region. */
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x2000, 0, &c), &t[1]);
	assert_int_equal(c, 0);
	/* The same by frontend virtual address (keys differ from the gpa ones). */
	assert_ptr_equal(lookup(VU_ADDR_UVA, 0x7fff, 0x10, &c), &t[0]);
	assert_int_equal(c, 1);
	assert_ptr_equal(lookup(VU_ADDR_UVA, 0x8000, 0x10, &c), &t[2]);
	assert_int_equal(c, 0x10);
	assert_null(lookup(VU_ADDR_UVA, 0x1000, 1, &c));
	assert_null(lookup(VU_ADDR_UVA, 0xb000, 1, &c));
	assert_ptr_equal(lookup(VU_ADDR_UVA, 0xafff, 1, &c), &t[1]);
	/* Empty table. */
	assert_null(vu_mem_lookup(lookup_table, 0, VU_ADDR_GPA, 0x1000, 1, &c));
	/* contig may be NULL. */
	assert_ptr_equal(vu_mem_lookup(lookup_table, LOOKUP_N, VU_ADDR_GPA, 0x1000, 1, NULL), &t[0]);
}

static void test_lookup_overflow_edges(void **state)
{
	const struct vu_mem_region *t = lookup_table;
	uint64_t c;

	(void)state;
	/* The region ending at UINT64_MAX. */
	assert_ptr_equal(lookup(VU_ADDR_GPA, UINT64_MAX, 1, &c), &t[3]);
	assert_int_equal(c, 1);
	assert_ptr_equal(lookup(VU_ADDR_GPA, UINT64_MAX, 2, &c), &t[3]);
	assert_int_equal(c, 1);
	assert_ptr_equal(lookup(VU_ADDR_GPA, UINT64_MAX, UINT64_MAX, &c), &t[3]);
	assert_int_equal(c, 1);
	assert_ptr_equal(lookup(VU_ADDR_GPA, UINT64_MAX - 0xfff, UINT64_MAX, &c), &t[3]);
	assert_int_equal(c, 0x1000);
	assert_null(lookup(VU_ADDR_GPA, UINT64_MAX - 0x1000, 2, &c));
	/* addr + len wraps: never more than the region holds. */
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x1800, UINT64_MAX, &c), &t[0]);
	assert_int_equal(c, 0x800);
	assert_ptr_equal(lookup(VU_ADDR_GPA, 0x1800, UINT64_MAX - 0x7ff, &c), &t[0]);
	assert_int_equal(c, 0x800);
	assert_ptr_equal(lookup(VU_ADDR_UVA, UINT64_MAX - 0x1000, UINT64_MAX, &c), &t[3]);
	assert_int_equal(c, 1);
	assert_null(lookup(VU_ADDR_UVA, UINT64_MAX - 0xfff, 1, &c));
	assert_null(lookup(VU_ADDR_UVA, UINT64_MAX, 1, &c));
}

/* ---- translation on a session ---- */

struct three_regions {
	int fd[3];
	uint8_t *mine[3];	/* the test's mappings of the whole memfds */
	uint64_t fd_size[3];
};

/* R0 gpa 0x0 64K, R1 gpa 0x10000 32K (adjacent in gpa, mmap_offset 0x3000),
 * R2 gpa 4G 16K; uvas far apart. */
static const struct vhost_user_mem_region three[3] = {
	{ 0x0, 0x10000, 0x10000000, 0 },
	{ 0x10000, 0x8000, 0x20000000, 0x3000 },
	{ 0x100000000ull, 0x4000, 0x30000000, 0 },
};

static void setup_three(struct tdev *td, struct three_regions *tr)
{
	struct vhost_user_msg r;
	int fds[3];

	for (int i = 0; i < 3; i++) {
		tr->fd_size[i] = three[i].mmap_offset + three[i].memory_size;
		fds[i] = memfd_sized("uvt-mem", tr->fd_size[i]);
		tr->mine[i] = mmap(NULL, tr->fd_size[i], PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		assert_true(tr->mine[i] != MAP_FAILED);
		tr->fd[i] = fds[i];
	}
	assert_int_equal(td_mem_table(td, three, 3, fds, &r), 0);
}

static void teardown_three(struct three_regions *tr)
{
	for (int i = 0; i < 3; i++)
		munmap(tr->mine[i], tr->fd_size[i]);
}

static void *gpa(struct tdev *td, uint64_t addr, uint64_t want, uint64_t *got)
{
	*got = want;
	return vu_gpa_to_hva(td->vu, addr, got);
}

static void test_translate_boundaries(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct three_regions tr;
	const struct vu_mem_region *t;
	unsigned int n;
	uint64_t len;
	uint8_t *p;

	(void)state;
	setup_three(td, &tr);
	t = vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, 3);

	/* First and last byte of each region. */
	for (int i = 0; i < 3; i++) {
		p = gpa(td, three[i].guest_phys_addr, 1, &len);
		assert_non_null(p);
		assert_int_equal(len, 1);
		p = gpa(td, three[i].guest_phys_addr + three[i].memory_size - 1, 1, &len);
		assert_non_null(p);
		assert_int_equal(len, 1);
		p = gpa(td, three[i].guest_phys_addr, three[i].memory_size, &len);
		assert_non_null(p);
		assert_int_equal(len, three[i].memory_size);
	}
	/* One past the end of R1 and R2, and a hole. */
	assert_null(gpa(td, 0x18000, 1, &len));
	assert_null(gpa(td, 0x100004000ull, 1, &len));
	assert_null(gpa(td, 0x80000, 1, &len));
	/* R0 and R1 are adjacent in gpa but separate mappings: a range over both
	 * yields only R0's part. */
	p = gpa(td, 0xfff0, 0x20, &len);
	assert_non_null(p);
	assert_int_equal(len, 0x10);
	p = gpa(td, 0x0, 0x18000, &len);
	assert_int_equal(len, 0x10000);
	/* Lengths that wrap. */
	p = gpa(td, 0x100003fffull, UINT64_MAX, &len);
	assert_non_null(p);
	assert_int_equal(len, 1);
	p = gpa(td, 0x17fff, UINT64_MAX - 0x17ffe, &len);
	assert_non_null(p);
	assert_int_equal(len, 1);
	assert_null(gpa(td, UINT64_MAX, 1, &len));
	assert_null(gpa(td, UINT64_MAX - 1, UINT64_MAX, &len));

	/* Frontend virtual addresses give the same host pointers. */
	for (int i = 0; i < 3; i++) {
		uint64_t l1 = 8, l2 = 8;
		void *a = vu_gpa_to_hva(td->vu, three[i].guest_phys_addr + 0x123, &l1);
		void *b = vu_uva_to_hva(td->vu, three[i].userspace_addr + 0x123, &l2);

		assert_non_null(a);
		assert_ptr_equal(a, b);
		assert_int_equal(l1, l2);
		l2 = 2;
		assert_non_null(vu_uva_to_hva(td->vu, three[i].userspace_addr + three[i].memory_size - 1,
					      &l2));
		assert_int_equal(l2, 1);
		l2 = 1;
		assert_null(vu_uva_to_hva(td->vu, three[i].userspace_addr + three[i].memory_size, &l2));
		l2 = 1;
		assert_null(vu_uva_to_hva(td->vu, three[i].userspace_addr - 1, &l2));
	}
	/* gpa keys are not uva keys. */
	len = 1;
	assert_null(vu_uva_to_hva(td->vu, 0x10000, &len));
	len = 1;
	assert_null(vu_gpa_to_hva(td->vu, 0x10000000, &len));

	/* Back from host pointers. */
	for (int i = 0; i < 3; i++) {
		uint64_t g = 0;
		const uint8_t *h = t[i].host;
		int ret;

		assert_int_equal(vu_hva_to_gpa(td->vu, h, &g), 0);
		assert_int_equal(g, t[i].gpa);
		assert_int_equal(vu_hva_to_gpa(td->vu, h + t[i].size - 1, &g), 0);
		assert_int_equal(g, t[i].gpa + t[i].size - 1);
		/* One past: either unmapped, or another region's first byte. */
		ret = vu_hva_to_gpa(td->vu, h + t[i].size, &g);
		if (ret == 0) {
			len = 1;
			assert_ptr_equal(vu_gpa_to_hva(td->vu, g, &len), h + t[i].size);
			assert_true(g < t[i].gpa || g >= t[i].gpa + t[i].size);
		} else {
			assert_int_equal(ret, -EFAULT);
		}
	}
	{
		uint64_t g = 0;
		int local;

		assert_int_equal(vu_hva_to_gpa(td->vu, &local, &g), -EFAULT);
		assert_int_equal(vu_hva_to_gpa(td->vu, NULL, &g), -EFAULT);
	}
	teardown_three(&tr);
	td_free(td);
}

static void test_translate_mmap_offset(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct three_regions tr;
	const struct vu_mem_region *t;
	static const char msg[] = "written through the memfd";
	unsigned int n;
	uint64_t len;
	uint8_t *p;

	(void)state;
	setup_three(td, &tr);
	t = vu_get_mem_table(td->vu, &n);
	/* R1 is the one with an offset. */
	for (unsigned int i = 0; i < n; i++) {
		if (t[i].gpa != three[1].guest_phys_addr)
			continue;
		assert_int_equal(t[i].mmap_offset, 0x3000);
		assert_ptr_equal(t[i].host, (uint8_t *)t[i].mmap_addr + 0x3000);
		assert_int_equal(t[i].mmap_size, 0x3000 + 0x8000);
	}
	/* Data at file offset mmap_offset + x is guest-physical gpa + x. */
	memcpy(tr.mine[1] + 0x3000 + 0x40, msg, sizeof(msg));
	p = gpa(td, 0x10040, sizeof(msg), &len);
	assert_non_null(p);
	assert_int_equal(len, sizeof(msg));
	assert_memory_equal(p, msg, sizeof(msg));
	/* The bytes before the offset are not guest memory. */
	memset(tr.mine[1], 0xee, 0x3000);
	p = gpa(td, 0x10000, 1, &len);
	assert_int_equal(*p, 0);
	/* And writes through the translation land in the file. */
	p = gpa(td, 0x17ffe, 2, &len);
	p[0] = 0x11;
	p[1] = 0x22;
	assert_int_equal(tr.mine[1][0x3000 + 0x7ffe], 0x11);
	assert_int_equal(tr.mine[1][0x3000 + 0x7fff], 0x22);
	p = gpa(td, 0x100000000ull + 0x10, 1, &len);
	*p = 0x33;
	assert_int_equal(tr.mine[2][0x10], 0x33);
	teardown_three(&tr);
	td_free(td);
}

/* ---- memory slots ---- */

static struct vhost_user_mem_region slot_region(unsigned int i)
{
	return mem_region(i * 0x10000ull, 0x1000, 0x40000000ull + i * 0x10000ull, 0);
}

static void test_add_mem_reg_slots(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	int maps0 = count_maps("uvt-slot"), fds0 = count_fds(), fd;
	unsigned int n;
	uint64_t len;

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES,
				PF(CONFIGURE_MEM_SLOTS) | PF(REPLY_ACK), &r),
			 0);
	for (unsigned int i = 0; i < VU_MAX_MEM_SLOTS; i++) {
		fd = memfd_sized("uvt-slot", 0x1000);
		assert_int_equal(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, slot_region(i), fd, &r), 0);
		assert_false(fd_closed(fd));
	}
	vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, VU_MAX_MEM_SLOTS);
	assert_int_equal(count_maps("uvt-slot"), maps0 + VU_MAX_MEM_SLOTS);
	assert_int_equal(count_fds(), fds0 + VU_MAX_MEM_SLOTS);
	for (unsigned int i = 0; i < VU_MAX_MEM_SLOTS; i++) {
		uint8_t *p = gpa(td, i * 0x10000ull + 0xfff, 1, &len);

		assert_non_null(p);
		*p = (uint8_t)i;
	}
	/* The 33rd is refused and its fd closed. */
	fd = memfd_sized("uvt-slot", 0x1000);
	assert_true(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, slot_region(VU_MAX_MEM_SLOTS), fd, &r) < 0);
	assert_true(fd_closed(fd));
	vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, VU_MAX_MEM_SLOTS);
	assert_int_equal(count_maps("uvt-slot"), maps0 + VU_MAX_MEM_SLOTS);
	td_free(td);
	assert_int_equal(count_maps("uvt-slot"), maps0);
	assert_int_equal(count_fds(), fds0);
}

static void test_add_rem_mem_reg(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	const struct vu_mem_region *t;
	int maps0 = count_maps("uvt-slot"), fd, fd1 = -1;
	unsigned int n;
	uint64_t len;

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES,
				PF(CONFIGURE_MEM_SLOTS) | PF(REPLY_ACK), &r),
			 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, slot_region(i),
					    memfd_sized("uvt-slot", 0x1000), &r),
				 0);
	t = vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, 3);
	for (unsigned int i = 0; i < n; i++)
		if (t[i].gpa == slot_region(1).guest_phys_addr)
			fd1 = t[i].fd;
	assert_true(fd1 >= 0);

	/* An exact repeat: accepted, nothing new mapped, its fd closed. */
	fd = memfd_sized("uvt-slot", 0x1000);
	assert_int_equal(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, slot_region(0), fd, &r), 0);
	assert_true(fd_closed(fd));
	vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, 3);
	assert_int_equal(count_maps("uvt-slot"), maps0 + 3);

	/* Unknown regions: nacked, the session stays, nothing removed. */
	msg_init(&m, VHOST_USER_REM_MEM_REG, sizeof(m.payload.mem_reg));
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.mem_reg.region = slot_region(7);
	assert_int_equal(td_send(td, &m, &r), 0);
	assert_reply_u64(&r, VHOST_USER_REM_MEM_REG, 1);
	msg_init(&m, VHOST_USER_REM_MEM_REG, sizeof(m.payload.mem_reg));
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.mem_reg.region = slot_region(1);
	m.payload.mem_reg.region.memory_size = 0x2000;	/* right gpa, wrong size */
	assert_int_equal(td_send(td, &m, &r), 0);
	assert_reply_u64(&r, VHOST_USER_REM_MEM_REG, 1);
	vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, 3);

	/* REM with an fd (old frontends send one): the fd is closed, the region
	 * and its own fd go. */
	fd = memfd_sized("uvt-slot", 0x1000);
	msg_init(&m, VHOST_USER_REM_MEM_REG, sizeof(m.payload.mem_reg));
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.mem_reg.region = slot_region(1);
	msg_add_fd(&m, fd);
	assert_int_equal(td_send(td, &m, &r), 0);
	assert_reply_u64(&r, VHOST_USER_REM_MEM_REG, 0);
	assert_true(fd_closed(fd));
	assert_true(fd_closed(fd1));
	vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, 2);
	assert_int_equal(count_maps("uvt-slot"), maps0 + 2);
	assert_null(gpa(td, slot_region(1).guest_phys_addr, 1, &len));
	assert_non_null(gpa(td, slot_region(0).guest_phys_addr, 1, &len));
	assert_non_null(gpa(td, slot_region(2).guest_phys_addr, 1, &len));

	/* A region overlapping one we have is refused. */
	fd = memfd_sized("uvt-slot", 0x2000);
	{
		struct vhost_user_mem_region d = slot_region(2);

		d.guest_phys_addr += 0x800;
		d.userspace_addr = 0x50000000;
		assert_true(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, d, fd, &r) < 0);
	}
	assert_true(fd_closed(fd));
	assert_int_equal(count_maps("uvt-slot"), maps0 + 2);
	td_free(td);
	assert_int_equal(count_maps("uvt-slot"), maps0);
}

/* ---- rings must lie wholly inside one region ---- */

static int ring_addr3(struct tdev *td, uint32_t idx, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vhost_user_msg m, r;

	msg_init(&m, VHOST_USER_SET_VRING_ADDR, sizeof(m.payload.addr));
	m.payload.addr.index = idx;
	m.payload.addr.desc_user_addr = desc;
	m.payload.addr.avail_user_addr = avail;
	m.payload.addr.used_user_addr = used;
	return td_send(td, &m, &r);
}

static bool ring_mapped(struct tdev *td, uint16_t idx)
{
	struct vu_vring_info info;

	assert_int_equal(vu_get_vring(td->vu, idx, &info), 0);
	if (!info.desc)
		assert_true(!info.avail && !info.used);
	return info.desc != NULL;
}

static void test_ring_across_regions_refused(void **state)
{
	/* Two regions adjacent in gpa and uva, separate mappings. */
	const struct vhost_user_mem_region regs[2] = {
		mem_region(0x0, 0x2000, 0x10000000, 0),
		mem_region(0x2000, 0x2000, 0x10002000, 0),
	};
	const uint64_t used_bytes = 4 + 8 * 256, b_end = 0x10004000;
	struct tdev *td;
	struct vhost_user_msg r;
	int fds[2];

	(void)state;
	/* Each part in one region (parts in different regions are fine). */
	td = td_new(UVDPA_TYPE_NET);
	td_negotiate(td, F_VERSION_1, 0);
	fds[0] = memfd_sized("uvt-mem", 0x2000);
	fds[1] = memfd_sized("uvt-mem", 0x2000);
	assert_int_equal(td_mem_table(td, regs, 2, fds, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, 256, &r), 0);
	assert_int_equal(ring_addr3(td, 0, 0x10001000, 0x10002000, b_end - used_bytes), 0);
	assert_true(ring_mapped(td, 0));
	/* EVENT_IDX adds 2 bytes to the used ring, which then passes the region's
	 * end: the ring is no longer mapped. */
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, F_VERSION_1 | F_EVENT_IDX, &r), 0);
	assert_false(ring_mapped(td, 0));
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, F_VERSION_1, &r), 0);
	assert_true(ring_mapped(td, 0));
	td_free(td);

	/* A descriptor table over the boundary. */
	td = td_new(UVDPA_TYPE_NET);
	td_negotiate(td, F_VERSION_1, 0);
	fds[0] = memfd_sized("uvt-mem", 0x2000);
	fds[1] = memfd_sized("uvt-mem", 0x2000);
	assert_int_equal(td_mem_table(td, regs, 2, fds, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, 256, &r), 0);
	assert_true(ring_addr3(td, 0, 0x10001800, 0x10002000, 0x10002800) < 0);
	assert_false(ring_mapped(td, 0));
	td_free(td);

	/* A used ring running past the last region. */
	td = td_new(UVDPA_TYPE_NET);
	td_negotiate(td, F_VERSION_1, 0);
	fds[0] = memfd_sized("uvt-mem", 0x2000);
	fds[1] = memfd_sized("uvt-mem", 0x2000);
	assert_int_equal(td_mem_table(td, regs, 2, fds, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, 256, &r), 0);
	assert_true(ring_addr3(td, 0, 0x10000000, 0x10001000, b_end - used_bytes + 4) < 0);
	assert_false(ring_mapped(td, 0));
	td_free(td);

	/* Misaligned parts. */
	td = td_new(UVDPA_TYPE_NET);
	td_negotiate(td, F_VERSION_1, 0);
	fds[0] = memfd_sized("uvt-mem", 0x2000);
	fds[1] = memfd_sized("uvt-mem", 0x2000);
	assert_int_equal(td_mem_table(td, regs, 2, fds, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, 16, &r), 0);
	assert_true(ring_addr3(td, 0, 0x10000008, 0x10001000, 0x10001800) < 0);
	td_free(td);

	/* Addresses first, memory later: the spanning ring is simply not mapped,
	 * and never becomes ready. */
	td = td_new(UVDPA_TYPE_NET);
	td_negotiate(td, F_VERSION_1, 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, 256, &r), 0);
	assert_int_equal(ring_addr3(td, 0, 0x10001800, 0x10002000, 0x10002800), 0);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_KICK, 0, new_eventfd(), &r), 0);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_CALL, 0, new_eventfd(), &r), 0);
	fds[0] = memfd_sized("uvt-mem", 0x2000);
	fds[1] = memfd_sized("uvt-mem", 0x2000);
	assert_int_equal(td_mem_table(td, regs, 2, fds, &r), 0);
	assert_false(ring_mapped(td, 0));
	{
		struct vu_vring_info info;

		assert_int_equal(vu_get_vring(td->vu, 0, &info), 0);
		assert_true(info.enabled);
		assert_false(info.ready);
	}
	td_free(td);
}

/* ---- reset gives everything back ---- */

static void test_reset_releases_mappings(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	int maps0 = count_maps("memfd:uvt-"), imaps0 = count_maps("uvdpa-inflight");
	int fds0 = count_fds();

	(void)state;
	for (int round = 0; round < 2; round++) {
		struct three_regions tr;
		int sv[2];
		unsigned int n;
		uint64_t len;

		td_negotiate(td, F_VERSION_1 | F_PROTOCOL,
			     PF(CONFIGURE_MEM_SLOTS) | PF(LOG_SHMFD) | PF(INFLIGHT_SHMFD) |
				     PF(BACKEND_REQ));
		setup_three(td, &tr);
		teardown_three(&tr);
		assert_int_equal(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, slot_region(100),
					    memfd_sized("uvt-slot", 0x1000), &r),
				 0);
		assert_int_equal(td_log_base(td, 4096, 0, memfd_sized("uvt-log", 4096), &r), 0);
		msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, sizeof(m.payload.inflight));
		m.payload.inflight.num_queues = 2;
		m.payload.inflight.queue_size = 256;
		assert_int_equal(td_send(td, &m, &r), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		msg_init(&m, VHOST_USER_SET_BACKEND_REQ_FD, 0);
		msg_add_fd(&m, sv[0]);
		assert_int_equal(td_send(td, &m, &r), 0);
		close(sv[1]);
		assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_KICK, 0, new_eventfd(), &r), 0);
		assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_CALL, 0, new_eventfd(), &r), 0);
		assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_ERR, 5, new_eventfd(), &r), 0);

		assert_int_equal(count_maps("memfd:uvt-"), maps0 + 5);
		assert_int_equal(count_maps("uvdpa-inflight"), imaps0 + 1);
		assert_int_equal(count_fds(), fds0 + 4 + 1 + 1 + 1 + 3);

		vu_dev_reset_session(td->vu);
		assert_int_equal(count_maps("memfd:uvt-"), maps0);
		assert_int_equal(count_maps("uvdpa-inflight"), imaps0);
		assert_int_equal(count_fds(), fds0);
		vu_get_mem_table(td->vu, &n);
		assert_int_equal(n, 0);
		len = 1;
		assert_null(vu_gpa_to_hva(td->vu, 0, &len));
		assert_int_equal(uvdpa_vhost_features(td->vu), 0);
		assert_int_equal(vu_get_protocol_features(td->vu), 0);
		assert_int_equal(vu_get_vring_num(td->vu), 0);
	}
	td_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_boundaries),
		cmocka_unit_test(test_lookup_overflow_edges),
		cmocka_unit_test(test_translate_boundaries),
		cmocka_unit_test(test_translate_mmap_offset),
		cmocka_unit_test(test_add_mem_reg_slots),
		cmocka_unit_test(test_add_rem_mem_reg),
		cmocka_unit_test(test_ring_across_regions_refused),
		cmocka_unit_test(test_reset_releases_mappings),
	};

	uvdpa_log_set_level(UVDPA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
