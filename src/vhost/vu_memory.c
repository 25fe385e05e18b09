/* Guest memory: SET_MEM_TABLE, ADD/REM_MEM_REG, and the translations from
 * guest physical and frontend virtual addresses to our mappings. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uvdpa/log.h"
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

static void *translate(struct vu_dev *dev, enum vu_addr_kind kind, uint64_t addr, uint64_t *len)
{
	const struct vu_mem_region *r;
	uint64_t contig;

	r = vu_mem_lookup(dev->regions, dev->nregions, kind, addr, *len, &contig);
	if (!r)
		return NULL;
	*len = contig;
	return (uint8_t *)r->host + (addr - region_key(r, kind));
}

void *vu_gpa_to_hva(struct vu_dev *dev, uint64_t gpa, uint64_t *len)
{
	return translate(dev, VU_ADDR_GPA, gpa, len);
}

void *vu_uva_to_hva(struct vu_dev *dev, uint64_t uva, uint64_t *len)
{
	return translate(dev, VU_ADDR_UVA, uva, len);
}

int vu_hva_to_gpa(struct vu_dev *dev, const void *hva, uint64_t *gpa)
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

const struct vu_mem_region *vu_get_mem_table(struct vu_dev *dev, unsigned int *n)
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

void vu_mem_release(struct vu_dev *dev)
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

void *vu_map_fd(int fd, uint64_t size, const char *what, int *err)
{
	struct stat st;
	void *addr;

	/* Touching pages past the end of the file would raise SIGBUS in the
	 * daemon: refuse a mapping larger than its backing file. */
	if (fstat(fd, &st) < 0) {
		*err = -errno;
		return NULL;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < size) {
		LOG_ERR(VU_TAG, "%s needs %llu bytes of its fd, which has %lld", what,
			(unsigned long long)size, (long long)st.st_size);
		*err = -EINVAL;
		return NULL;
	}
	/* And keep it from shrinking later where the fd allows sealing (QEMU's
	 * memfd backend seals it already); elsewhere that risk remains. */
	if (S_ISREG(st.st_mode))
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (addr == MAP_FAILED) {
		*err = -errno;
		LOG_ERR(VU_TAG, "mmap of %s (%llu bytes) failed: %s", what, (unsigned long long)size,
			strerror(-*err));
		return NULL;
	}
	return addr;
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

static bool table_equal(const struct vu_dev *dev, const struct vhost_user_memory *m)
{
	unsigned int i;

	if (m->nregions != dev->nregions)
		return false;
	for (i = 0; i < m->nregions; i++) {
		const struct vhost_user_mem_region *d = &m->regions[i];
		const struct vu_mem_region *r = &dev->regions[i];

		if (d->guest_phys_addr != r->gpa || d->memory_size != r->size ||
		    d->userspace_addr != r->uaddr || d->mmap_offset != r->mmap_offset)
			return false;
	}
	return true;
}

/* Ring pointers point into the old mappings: recompute after any change. */
static void memory_changed(struct vu_dev *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vring; i++)
		vu_vring_translate(dev, &dev->vrings[i], i);
}

int vu_mem_set_table(struct vu_dev *dev, struct vhost_user_msg *msg)
{
	const struct vhost_user_memory *m = &msg->payload.memory;
	struct vu_mem_region fresh[VHOST_USER_MAX_REGIONS];
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
	/* Overlap within the new table. */
	for (i = 1; i < m->nregions; i++) {
		unsigned int j;

		for (j = 0; j < i; j++) {
			const struct vhost_user_mem_region *a = &m->regions[i], *b = &m->regions[j];

			if (ranges_overlap(a->guest_phys_addr, a->memory_size, b->guest_phys_addr,
					   b->memory_size) ||
			    ranges_overlap(a->userspace_addr, a->memory_size, b->userspace_addr,
					   b->memory_size)) {
				LOG_ERR(VU_TAG, "SET_MEM_TABLE: regions %u and %u overlap", j, i);
				return -EINVAL;
			}
		}
	}
	/* QEMU repeats the table per queue pair: keep the mappings we have. */
	if (table_equal(dev, m)) {
		vu_msg_close_fds(msg);
		return 0;
	}
	memset(fresh, 0, sizeof(fresh));
	for (i = 0; i < m->nregions; i++) {
		ret = region_map(&fresh[i], &m->regions[i], msg->fds[i]);
		if (ret) {
			while (i--) {
				fresh[i].fd = -1;	/* still owned by msg */
				region_unmap(&fresh[i]);
			}
			return ret;
		}
	}
	for (i = 0; i < m->nregions; i++)
		vu_msg_take_fd(msg, (int)i);

	if (dev->configured)
		vu_device_close(dev, "memory table changed");
	vu_mem_release(dev);
	memcpy(dev->regions, fresh, m->nregions * sizeof(fresh[0]));
	dev->nregions = m->nregions;
	memory_changed(dev);
	LOG_INFO(VU_TAG, "%s: memory table set, %u regions", dev->vdpa->name, dev->nregions);
	return 0;
}

int vu_mem_add_region(struct vu_dev *dev, struct vhost_user_msg *msg)
{
	const struct vhost_user_mem_region *d = &msg->payload.mem_reg.region;
	struct vu_mem_region *r;
	unsigned int i;
	int ret;

	ret = region_check(d);
	if (ret)
		return ret;
	/* An exact repeat of a region we have is harmless. */
	for (i = 0; i < dev->nregions; i++) {
		r = &dev->regions[i];
		if (r->gpa == d->guest_phys_addr && r->size == d->memory_size &&
		    r->uaddr == d->userspace_addr && r->mmap_offset == d->mmap_offset) {
			vu_msg_close_fds(msg);
			return 0;
		}
	}
	if (dev->nregions >= VU_MAX_MEM_SLOTS) {
		LOG_ERR(VU_TAG, "ADD_MEM_REG: all %u memory slots are in use", VU_MAX_MEM_SLOTS);
		return -ENOSPC;
	}
	ret = region_check_overlap(dev->regions, dev->nregions, d);
	if (ret)
		return ret;
	if (dev->configured)
		vu_device_close(dev, "memory region added");
	r = &dev->regions[dev->nregions];
	ret = region_map(r, d, msg->fds[0]);
	if (ret)
		return ret;
	vu_msg_take_fd(msg, 0);
	dev->nregions++;
	memory_changed(dev);
	LOG_INFO(VU_TAG, "%s: added memory region gpa 0x%llx size 0x%llx (%u regions)",
		 dev->vdpa->name, (unsigned long long)d->guest_phys_addr,
		 (unsigned long long)d->memory_size, dev->nregions);
	return 0;
}

int vu_mem_rem_region(struct vu_dev *dev, struct vhost_user_msg *msg)
{
	const struct vhost_user_mem_region *d = &msg->payload.mem_reg.region;
	unsigned int i;

	/* The spec allows an fd here for old frontends; it is never used. */
	vu_msg_close_fds(msg);
	for (i = 0; i < dev->nregions; i++) {
		struct vu_mem_region *r = &dev->regions[i];

		if (r->gpa != d->guest_phys_addr || r->size != d->memory_size ||
		    r->uaddr != d->userspace_addr)
			continue;
		if (dev->configured)
			vu_device_close(dev, "memory region removed");
		region_unmap(r);
		dev->regions[i] = dev->regions[dev->nregions - 1];
		memset(&dev->regions[dev->nregions - 1], 0, sizeof(*r));
		dev->regions[dev->nregions - 1].fd = -1;
		dev->nregions--;
		memory_changed(dev);
		LOG_INFO(VU_TAG, "%s: removed memory region gpa 0x%llx (%u left)", dev->vdpa->name,
			 (unsigned long long)d->guest_phys_addr, dev->nregions);
		return 0;
	}
	LOG_ERR(VU_TAG, "REM_MEM_REG: no region gpa 0x%llx size 0x%llx uaddr 0x%llx",
		(unsigned long long)d->guest_phys_addr, (unsigned long long)d->memory_size,
		(unsigned long long)d->userspace_addr);
	return -ENOENT;
}
