/* Guest memory: the region table, prepared from SET_MEM_TABLE / ADD_MEM_REG /
 * REM_MEM_REG and installed in a second step (the lifecycle stops the device
 * in between), and the translations from guest physical and frontend virtual
 * addresses to our mappings. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "vu_internal.h"

static uint64_t region_key(const struct vu_mem_region *r, enum vu_addr_kind kind)
{
	return kind == VU_ADDR_GPA ? r->gpa : r->uaddr;
}

const struct vu_mem_region *vu_mem_lookup(const struct vu_mem_region *regions, unsigned int n,
					  enum vu_addr_kind kind, uint64_t addr, uint64_t len,
					  uint64_t *contig)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		const struct vu_mem_region *r = &regions[i];
		uint64_t start = region_key(r, kind);
		uint64_t off, avail;

		if (addr < start || addr - start >= r->size)
			continue;
		off = addr - start;
		avail = r->size - off;
		if (contig)
			*contig = len < avail ? len : avail;
		return r;
	}
	return NULL;
}

static void *translate(struct uvdpa_vhost *dev, enum vu_addr_kind kind, uint64_t addr, uint64_t *len)
{
	const struct vu_mem_region *r;
	uint64_t contig;

	r = vu_mem_lookup(dev->regions, dev->nregions, kind, addr, *len, &contig);
	if (!r)
		return NULL;
	*len = contig;
	return (uint8_t *)r->host + (addr - region_key(r, kind));
}

void *vu_gpa_to_hva(struct uvdpa_vhost *dev, uint64_t gpa, uint64_t *len)
{
	return translate(dev, VU_ADDR_GPA, gpa, len);
}

void *vu_uva_to_hva(struct uvdpa_vhost *dev, uint64_t uva, uint64_t *len)
{
	return translate(dev, VU_ADDR_UVA, uva, len);
}

int vu_hva_to_gpa(struct uvdpa_vhost *dev, const void *hva, uint64_t *gpa)
{
	uintptr_t p = (uintptr_t)hva;
	unsigned int i;

	for (i = 0; i < dev->nregions; i++) {
		const struct vu_mem_region *r = &dev->regions[i];
		uintptr_t start = (uintptr_t)r->host;

		if (p >= start && p - start < r->size) {
			*gpa = r->gpa + (p - start);
			return 0;
		}
	}
	return -EFAULT;
}

const struct vu_mem_region *vu_get_mem_table(struct uvdpa_vhost *dev, unsigned int *n)
{
	*n = dev->nregions;
	return dev->regions;
}

static void region_unmap(struct vu_mem_region *r)
{
	if (r->mmap_addr)
		munmap(r->mmap_addr, r->mmap_size);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void vu_mem_release(struct uvdpa_vhost *dev)
{
	unsigned int i;

	for (i = 0; i < dev->nregions; i++)
		region_unmap(&dev->regions[i]);
	dev->nregions = 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Validates a region description on its own: non-empty, no wrap-around. */
static int region_check(const struct vhost_user_mem_region *d)
{
	uint64_t end;

	if (d->memory_size == 0) {
		LOG_ERR(VU_TAG, "memory region at gpa 0x%llx has size 0",
			(unsigned long long)d->guest_phys_addr);
		return -EINVAL;
	}
	if (__builtin_add_overflow(d->guest_phys_addr, d->memory_size, &end) ||
	    __builtin_add_overflow(d->userspace_addr, d->memory_size, &end) ||
	    __builtin_add_overflow(d->mmap_offset, d->memory_size, &end) ||
	    end > (uint64_t)SIZE_MAX / 2) {
		LOG_ERR(VU_TAG, "memory region gpa 0x%llx size 0x%llx offset 0x%llx overflows",
			(unsigned long long)d->guest_phys_addr, (unsigned long long)d->memory_size,
			(unsigned long long)d->mmap_offset);
		return -EINVAL;
	}
	return 0;
}

/* Overlap against the regions in table[0..n): two regions may not share
 * guest-physical or frontend-virtual addresses. */
static int region_check_overlap(const struct vu_mem_region *table, unsigned int n,
				const struct vhost_user_mem_region *d)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (ranges_overlap(table[i].gpa, table[i].size, d->guest_phys_addr, d->memory_size) ||
		    ranges_overlap(table[i].uaddr, table[i].size, d->userspace_addr, d->memory_size)) {
			LOG_ERR(VU_TAG, "memory region gpa 0x%llx size 0x%llx overlaps another",
				(unsigned long long)d->guest_phys_addr,
				(unsigned long long)d->memory_size);
			return -EINVAL;
		}
	}
	return 0;
}

/* Maps one region; takes ownership of fd on success only. */
static int region_map(struct vu_mem_region *r, const struct vhost_user_mem_region *d, int fd)
{
	uint64_t map_size = d->mmap_offset + d->memory_size;
	int err;
	void *addr = vu_map_fd(fd, map_size, "memory region", &err);

	if (!addr)
		return err;
	r->gpa = d->guest_phys_addr;
	r->size = d->memory_size;
	r->uaddr = d->userspace_addr;
	r->mmap_offset = d->mmap_offset;
	r->mmap_addr = addr;
	r->mmap_size = map_size;
	r->host = (uint8_t *)addr + d->mmap_offset;
	r->fd = fd;
	return 0;
}

static bool region_same(const struct vu_mem_region *r, const struct vhost_user_mem_region *d)
{
	return d->guest_phys_addr == r->gpa && d->memory_size == r->size &&
	       d->userspace_addr == r->uaddr && d->mmap_offset == r->mmap_offset;
}

static bool table_equal(const struct uvdpa_vhost *dev, const struct vhost_user_memory *m)
{
	unsigned int i;

	if (m->nregions != dev->nregions)
		return false;
	for (i = 0; i < m->nregions; i++)
		if (!region_same(&dev->regions[i], &m->regions[i]))
			return false;
	return true;
}

static void change_init(struct vu_mem_change *c)
{
	memset(c, 0, sizeof(*c));
	c->remove = -1;
}

/* Maps every region of the message into c->fresh; takes the fds on success. */
static int map_all(struct vhost_user_msg *msg, const struct vhost_user_mem_region *d,
		   unsigned int n, struct vu_mem_change *c)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = region_map(&c->fresh[i], &d[i], msg->fds[i]);
		if (ret) {
			while (i--) {
				c->fresh[i].fd = -1;	/* still owned by msg */
				region_unmap(&c->fresh[i]);
			}
			return ret;
		}
	}
	for (i = 0; i < n; i++)
		vu_msg_take_fd(msg, (int)i);
	c->nfresh = n;
	return 1;
}

static int table_check(const struct vhost_user_msg *msg)
{
	const struct vhost_user_memory *m = &msg->payload.memory;
	uint32_t expect;
	unsigned int i;
	int ret;

	if (m->nregions == 0 || m->nregions > VHOST_USER_MAX_REGIONS) {
		LOG_ERR(VU_TAG, "SET_MEM_TABLE with %u regions (1..%u allowed)", m->nregions,
			VHOST_USER_MAX_REGIONS);
		return -EINVAL;
	}
	expect = 8 + m->nregions * (uint32_t)sizeof(struct vhost_user_mem_region);
	if (msg->hdr.size < expect) {
		LOG_ERR(VU_TAG, "SET_MEM_TABLE: %u regions need %u bytes, got %u", m->nregions,
			expect, msg->hdr.size);
		return -EINVAL;
	}
	if ((unsigned int)msg->nfds != m->nregions) {
		LOG_ERR(VU_TAG, "SET_MEM_TABLE: %u regions but %d fds", m->nregions, msg->nfds);
		return -EINVAL;
	}
	for (i = 0; i < m->nregions; i++) {
		ret = region_check(&m->regions[i]);
		if (ret)
			return ret;
	}
	/* Overlap within the new table: each region against those before it. */
	for (i = 1; i < m->nregions; i++) {
		struct vu_mem_region before[VHOST_USER_MAX_REGIONS];
		unsigned int j;

		for (j = 0; j < i; j++) {
			before[j].gpa = m->regions[j].guest_phys_addr;
			before[j].uaddr = m->regions[j].userspace_addr;
			before[j].size = m->regions[j].memory_size;
		}
		ret = region_check_overlap(before, i, &m->regions[i]);
		if (ret)
			return ret;
	}
	return 0;
}

int vu_mem_prepare_table(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vu_mem_change *c)
{
	const struct vhost_user_memory *m = &msg->payload.memory;
	int ret = table_check(msg);

	if (ret)
		return ret;
	change_init(c);
	/* QEMU repeats the table per queue pair: keep the mappings we have. */
	if (table_equal(dev, m))
		return 0;
	c->replace = true;
	return map_all(msg, m->regions, m->nregions, c);
}

int vu_mem_prepare_add(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vu_mem_change *c)
{
	const struct vhost_user_mem_region *d = &msg->payload.mem_reg.region;
	unsigned int i;
	int ret;

	ret = region_check(d);
	if (ret)
		return ret;
	change_init(c);
	/* An exact repeat of a region we have is harmless. */
	for (i = 0; i < dev->nregions; i++)
		if (region_same(&dev->regions[i], d))
			return 0;
	if (dev->nregions >= VU_MAX_MEM_SLOTS) {
		LOG_ERR(VU_TAG, "ADD_MEM_REG: all %u memory slots are in use", VU_MAX_MEM_SLOTS);
		return -ENOSPC;
	}
	ret = region_check_overlap(dev->regions, dev->nregions, d);
	if (ret)
		return ret;
	return map_all(msg, d, 1, c);
}

int vu_mem_prepare_remove(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vu_mem_change *c)
{
	const struct vhost_user_mem_region *d = &msg->payload.mem_reg.region;
	unsigned int i;

	change_init(c);
	for (i = 0; i < dev->nregions; i++) {
		const struct vu_mem_region *r = &dev->regions[i];

		if (r->gpa == d->guest_phys_addr && r->size == d->memory_size &&
		    r->uaddr == d->userspace_addr) {
			c->remove = (int)i;
			return 1;
		}
	}
	LOG_ERR(VU_TAG, "REM_MEM_REG: no region gpa 0x%llx size 0x%llx uaddr 0x%llx",
		(unsigned long long)d->guest_phys_addr, (unsigned long long)d->memory_size,
		(unsigned long long)d->userspace_addr);
	return -ENOENT;
}

static void remove_region(struct uvdpa_vhost *dev, unsigned int i)
{
	uint64_t gpa = dev->regions[i].gpa;

	region_unmap(&dev->regions[i]);
	dev->regions[i] = dev->regions[dev->nregions - 1];
	memset(&dev->regions[dev->nregions - 1], 0, sizeof(dev->regions[0]));
	dev->regions[dev->nregions - 1].fd = -1;
	dev->nregions--;
	LOG_INFO(VU_TAG, "%s: removed memory region gpa 0x%llx (%u left)", dev->vdpa->name,
		 (unsigned long long)gpa, dev->nregions);
}

void vu_mem_commit(struct uvdpa_vhost *dev, struct vu_mem_change *c)
{
	if (c->remove >= 0) {
		remove_region(dev, (unsigned int)c->remove);
		return;
	}
	if (c->replace)
		vu_mem_release(dev);
	memcpy(&dev->regions[dev->nregions], c->fresh, c->nfresh * sizeof(c->fresh[0]));
	dev->nregions += c->nfresh;
	LOG_INFO(VU_TAG, "%s: memory table %s, %u regions", dev->vdpa->name,
		 c->replace ? "set" : "grown", dev->nregions);
}
