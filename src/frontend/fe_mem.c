/* Test frontend guest memory: one memfd split into regions with distinct,
 * non-adjacent guest-physical ranges, a bump allocator and translation. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "core/log.h"

#define TAG "fe-mem"
#define FE_PAGE 4096ull
#define FE_GPA_STRIDE_ALIGN (1ull << 30)	/* regions start on 1 GiB steps */
#define FE_REGION_MIN (64ull * 1024)

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int fe_mem_init(struct fe_mem *mem, uint64_t size, unsigned int nregions)
{
	uint64_t rsize, stride, offset = 0;
	unsigned int i;
	void *base;
	int fd;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (nregions == 0 || nregions > FE_MAX_REGIONS)
		return -EINVAL;
	size = align_up(size, FE_PAGE);
	rsize = (size / nregions) & ~(FE_PAGE - 1);
	if (rsize < FE_REGION_MIN)
		return -EINVAL;

	fd = memfd_create("uvdpa-frontend-guest", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return err;
	}
	mem->fd = fd;
	mem->base = base;
	mem->size = size;
	mem->nregions = nregions;

	/* A hole after every region, so a backend that assumes guest memory is
	 * one contiguous range translates into the wrong place and fails. */
	stride = align_up(rsize + FE_PAGE, FE_GPA_STRIDE_ALIGN);
	for (i = 0; i < nregions; i++) {
		struct fe_mem_region *r = &mem->regions[i];

		r->size = (i == nregions - 1) ? size - offset : rsize;
		r->mmap_offset = offset;
		r->uaddr = (uint64_t)(uintptr_t)(mem->base + offset);
		r->gpa = (uint64_t)i * stride;
		offset += r->size;
		LOG_DEBUG(TAG, "region %u: gpa 0x%llx size 0x%llx uaddr 0x%llx offset 0x%llx", i,
			  (unsigned long long)r->gpa, (unsigned long long)r->size,
			  (unsigned long long)r->uaddr, (unsigned long long)r->mmap_offset);
	}
	/* Guest page 0 holds no ring or buffer, as in a VM: QEMU's virtio
	 * devices take a ring address of 0 for "not set up" (no notify, no
	 * ring caches), so a real virtio-pci function driven with IOVA = GPA
	 * would ignore a ring placed there. */
	mem->regions[0].used = FE_PAGE;
	return 0;
}

void fe_mem_fini(struct fe_mem *mem)
{
	if (mem->base)
		munmap(mem->base, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
}

static void *alloc_in(struct fe_mem_region *r, uint64_t size, uint64_t align, uint64_t *gpa)
{
	uint64_t off = align_up(r->used, align);

	if (off > r->size || size > r->size - off)
		return NULL;
	r->used = off + size;
	*gpa = r->gpa + off;
	return (void *)(uintptr_t)(r->uaddr + off);
}

void *fe_mem_alloc(struct fe_mem *mem, unsigned int region, uint64_t size, uint64_t align,
		   uint64_t *gpa)
{
	unsigned int i;

	if (mem->nregions == 0 || align == 0 || (align & (align - 1)))
		return NULL;
	for (i = 0; i < mem->nregions; i++) {
		struct fe_mem_region *r = &mem->regions[(region + i) % mem->nregions];
		void *p = alloc_in(r, size, align, gpa);

		if (p)
			return p;
	}
	return NULL;
}

void *fe_mem_gpa_to_va(const struct fe_mem *mem, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < mem->nregions; i++) {
		const struct fe_mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return (void *)(uintptr_t)(r->uaddr + (gpa - r->gpa));
	}
	return NULL;
}

void fe_mem_region_describe(const struct fe_mem *mem, unsigned int idx,
			    struct vhost_user_mem_region *out)
{
	const struct fe_mem_region *r = &mem->regions[idx];

	out->guest_phys_addr = r->gpa;
	out->memory_size = r->size;
	out->userspace_addr = r->uaddr;
	out->mmap_offset = r->mmap_offset;
}
