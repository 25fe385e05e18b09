/* Emulated PCI functions: struct uvdpa_pci_dev ops that dispatch configuration and
 * BAR accesses to a device model, an IOMMU table per function through which
 * every device DMA is translated (an unmapped IOVA is a counted fault, as on
 * hardware behind VFIO), and MSI-X vectors wired to eventfds. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci/emu.h"
#include "core/log.h"

#define TAG "emu"

/* One IOMMU mapping: device accesses to [iova, iova + size) reach vaddr. */
struct emu_mapping {
	uint64_t iova;
	uint64_t size;
	uint8_t *vaddr;
};

struct emu_fn {
	struct uvdpa_pci_dev pdev;
	const struct emu_model_ops *ops;
	void *model;

	/* Protects maps and nmaps/cap: written by dma_map/unmap (control
	 * thread), read by a translation that misses its thread's TLB (below).
	 * Writer-preferring so that readers cannot starve a map change. */
	pthread_rwlock_t iommu_lock;
	struct emu_mapping *maps;	/* sorted by iova, never overlapping */
	size_t nmaps, cap;
	/* Generation of the table: a new value from iommu_gen_next on every
	 * change, stored under the write lock (release). A thread's TLB entry
	 * is valid while it names this function and this generation. */
	uint64_t iommu_gen;

	/* Protects msix_fds and msix_nvec: replaced by msix_set, read by
	 * emu_msix_notify from any thread. */
	pthread_rwlock_t msix_lock;
	int *msix_fds;			/* our own dups; -1 = vector unwired */
	unsigned int msix_nvec;		/* 0: MSI-X disabled */

	uint64_t dma_faults;		/* atomic */
};

static struct emu_fn *to_fn(struct uvdpa_pci_dev *pdev)
{
	return pdev->priv;
}

/* ---- Configuration space and BARs: straight to the model ---- */

static int emu_cfg_read(struct uvdpa_pci_dev *pdev, uint32_t off, void *buf, uint32_t len)
{
	struct emu_fn *fn = to_fn(pdev);

	if (!buf || (uint64_t)off + len > 4096)
		return -EINVAL;
	if (len == 0)
		return 0;
	return fn->ops->cfg_read(fn->model, off, buf, len);
}

static int emu_cfg_write(struct uvdpa_pci_dev *pdev, uint32_t off, const void *buf, uint32_t len)
{
	struct emu_fn *fn = to_fn(pdev);

	if (!buf || (uint64_t)off + len > 4096)
		return -EINVAL;
	if (len == 0)
		return 0;
	return fn->ops->cfg_write(fn->model, off, buf, len);
}

static uint64_t emu_bar_size(struct uvdpa_pci_dev *pdev, unsigned int bar)
{
	struct emu_fn *fn = to_fn(pdev);

	if (bar >= UVDPA_PCI_NUM_BARS)
		return 0;
	return fn->ops->bar_size(fn->model, bar);
}

/* Sized accesses only, inside the BAR. */
static int check_bar_access(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, uint32_t len)
{
	uint64_t size;

	if (bar >= UVDPA_PCI_NUM_BARS || (len != 1 && len != 2 && len != 4 && len != 8))
		return -EINVAL;
	size = emu_bar_size(pdev, bar);
	if (size == 0)
		return -ENODEV;
	if (off >= size || len > size - off)
		return -EINVAL;
	return 0;
}

static int emu_bar_read(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, void *buf,
			uint32_t len)
{
	int rc = check_bar_access(pdev, bar, off, len);

	if (rc < 0)
		return rc;
	return to_fn(pdev)->ops->bar_read(to_fn(pdev)->model, bar, off, buf, len);
}

static int emu_bar_write(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, const void *buf,
			 uint32_t len)
{
	int rc = check_bar_access(pdev, bar, off, len);

	if (rc < 0)
		return rc;
	return to_fn(pdev)->ops->bar_write(to_fn(pdev)->model, bar, off, buf, len);
}

/* ---- MSI-X ---- */

static unsigned int emu_msix_count(struct uvdpa_pci_dev *pdev)
{
	struct emu_fn *fn = to_fn(pdev);

	return fn->ops->msix_count ? fn->ops->msix_count(fn->model) : 0;
}

static void close_fds(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; fds && i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
}

static int emu_msix_set(struct uvdpa_pci_dev *pdev, const int *efds, unsigned int nvec)
{
	struct emu_fn *fn = to_fn(pdev);
	int *fds = NULL, *old;
	unsigned int i, old_n;

	if (nvec > emu_msix_count(pdev) || (nvec && !efds))
		return -EINVAL;
	if (nvec) {
		fds = malloc(nvec * sizeof(*fds));
		if (!fds)
			return -ENOMEM;
		/* Keep our own reference, as the kernel does for VFIO_DEVICE_SET_IRQS:
		 * the caller may close its fds. */
		for (i = 0; i < nvec; i++) {
			fds[i] = -1;
			if (efds[i] < 0)
				continue;
			fds[i] = fcntl(efds[i], F_DUPFD_CLOEXEC, 0);
			if (fds[i] < 0) {
				int err = -errno;

				close_fds(fds, i);
				return err;
			}
		}
	}
	pthread_rwlock_wrlock(&fn->msix_lock);
	old = fn->msix_fds;
	old_n = fn->msix_nvec;
	fn->msix_fds = fds;
	fn->msix_nvec = nvec;
	pthread_rwlock_unlock(&fn->msix_lock);
	close_fds(old, old_n);
	return 0;
}

int emu_msix_notify(struct uvdpa_pci_dev *pdev, unsigned int vector)
{
	struct emu_fn *fn = to_fn(pdev);
	uint64_t one = 1;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&fn->msix_lock);
	if (vector < fn->msix_nvec && fn->msix_fds[vector] >= 0) {
		/* EAGAIN (counter saturated) still leaves the eventfd readable. */
		if (write(fn->msix_fds[vector], &one, sizeof(one)) == (ssize_t)sizeof(one) ||
		    errno == EAGAIN)
			rc = 0;
		else
			rc = -errno;
	}
	pthread_rwlock_unlock(&fn->msix_lock);
	return rc;
}

/* ---- IOMMU ---- */

/* Index of the first mapping whose end is above iova (nmaps if none).
 * Caller holds iommu_lock. */
static size_t find_mapping(const struct emu_fn *fn, uint64_t iova)
{
	size_t lo = 0, hi = fn->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct emu_mapping *m = &fn->maps[mid];

		if (m->iova + (m->size - 1) < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Process-wide source of table generations: a (function, generation) pair
 * is never reused, even by a function allocated where a freed one was. */
static uint64_t iommu_gen_next = 1;

/* Caller holds iommu_lock for writing: the table just changed. */
static void iommu_changed(struct emu_fn *fn)
{
	__atomic_store_n(&fn->iommu_gen, __atomic_fetch_add(&iommu_gen_next, 1, __ATOMIC_RELAXED),
			 __ATOMIC_RELEASE);
}

/* Each thread keeps the last mappings it translated through (a small TLB):
 * a hit costs one load of the function's generation, no lock and no shared
 * write, so engines translating every descriptor do not bounce a lock's
 * cache line. A translation racing with dma_unmap may still return the old
 * mapping, as one that took the lock just before the unmap would; after
 * dma_unmap returns, the generation has moved and no thread hits it. */
#define TLB_WAYS 4u
struct tlb_entry {
	const struct emu_fn *fn;
	uint64_t gen;
	struct emu_mapping m;
};
static __thread struct tlb_entry tlb[TLB_WAYS] __attribute__((tls_model("initial-exec")));
static __thread unsigned int tlb_victim __attribute__((tls_model("initial-exec")));

static const struct emu_mapping *tlb_lookup(const struct emu_fn *fn, uint64_t gen, uint64_t iova)
{
	for (unsigned int i = 0; i < TLB_WAYS; i++) {
		const struct tlb_entry *e = &tlb[i];

		if (e->fn == fn && e->gen == gen && iova - e->m.iova < e->m.size)
			return &e->m;
	}
	return NULL;
}

/* The mapping holding iova, from the table (NULL: a fault); caches it. */
static const struct emu_mapping *tlb_fill(struct emu_fn *fn, uint64_t iova)
{
	const struct emu_mapping *hit = NULL;
	struct tlb_entry *e;
	size_t i;

	pthread_rwlock_rdlock(&fn->iommu_lock);
	i = find_mapping(fn, iova);
	if (i < fn->nmaps && fn->maps[i].iova <= iova) {
		e = &tlb[tlb_victim++ % TLB_WAYS];
		e->fn = fn;
		e->gen = __atomic_load_n(&fn->iommu_gen, __ATOMIC_RELAXED);
		e->m = fn->maps[i];
		hit = &e->m;
	}
	pthread_rwlock_unlock(&fn->iommu_lock);
	return hit;
}

static int emu_dma_map(struct uvdpa_pci_dev *pdev, uint64_t iova, void *vaddr, uint64_t size)
{
	struct emu_fn *fn = to_fn(pdev);
	uint64_t last;
	size_t i;
	int rc = 0;

	if (!vaddr || size == 0 || iova > UINT64_MAX - (size - 1))
		return -EINVAL;
	last = iova + (size - 1);

	pthread_rwlock_wrlock(&fn->iommu_lock);
	i = find_mapping(fn, iova);
	/* maps[i] is the first mapping ending at or after iova: it overlaps
	 * when it starts at or before our last byte. */
	if (i < fn->nmaps && fn->maps[i].iova <= last) {
		rc = -EEXIST;
		goto out;
	}
	if (fn->nmaps == fn->cap) {
		size_t ncap = fn->cap ? fn->cap * 2 : 16;
		struct emu_mapping *n = realloc(fn->maps, ncap * sizeof(*n));

		if (!n) {
			rc = -ENOMEM;
			goto out;
		}
		fn->maps = n;
		fn->cap = ncap;
	}
	memmove(&fn->maps[i + 1], &fn->maps[i], (fn->nmaps - i) * sizeof(fn->maps[0]));
	fn->maps[i] = (struct emu_mapping){ .iova = iova, .size = size, .vaddr = vaddr };
	fn->nmaps++;
	iommu_changed(fn);
out:
	pthread_rwlock_unlock(&fn->iommu_lock);
	if (rc < 0)
		LOG_DEBUG(TAG, "%s: dma_map iova 0x%llx size 0x%llx refused: %s", pdev->addr,
			  (unsigned long long)iova, (unsigned long long)size, strerror(-rc));
	return rc;
}

/* Removes the mappings inside [iova, iova + size). A range that cuts a
 * mapping, or that holds none, is refused with -ENOENT and changes nothing
 * (VFIO type1 semantics, without its partial-unmap corner cases). After
 * return no new translation reaches the range; an access the model started
 * before may still complete, so, as with hardware, the driver stops the
 * queues before it frees the memory. */
static int emu_dma_unmap(struct uvdpa_pci_dev *pdev, uint64_t iova, uint64_t size)
{
	struct emu_fn *fn = to_fn(pdev);
	uint64_t last;
	size_t first, end;
	int rc = 0;

	if (size == 0 || iova > UINT64_MAX - (size - 1))
		return -EINVAL;
	last = iova + (size - 1);

	pthread_rwlock_wrlock(&fn->iommu_lock);
	first = find_mapping(fn, iova);
	for (end = first; end < fn->nmaps && fn->maps[end].iova <= last; end++) {
		const struct emu_mapping *m = &fn->maps[end];

		if (m->iova < iova || m->iova + (m->size - 1) > last) {
			rc = -ENOENT;
			goto out;
		}
	}
	if (end == first) {
		rc = -ENOENT;
		goto out;
	}
	memmove(&fn->maps[first], &fn->maps[end], (fn->nmaps - end) * sizeof(fn->maps[0]));
	fn->nmaps -= end - first;
	iommu_changed(fn);
out:
	pthread_rwlock_unlock(&fn->iommu_lock);
	return rc;
}

void *emu_dma_translate(struct uvdpa_pci_dev *pdev, uint64_t iova, uint64_t len, bool write,
			uint64_t *contig)
{
	struct emu_fn *fn = to_fn(pdev);
	const struct emu_mapping *m;
	uint64_t left;

	(void)write;	/* every mapping is read-write, as dma_map has no flags */
	if (contig)
		*contig = 0;
	if (len == 0)
		return NULL;

	m = tlb_lookup(fn, __atomic_load_n(&fn->iommu_gen, __ATOMIC_ACQUIRE), iova);
	if (!m)
		m = tlb_fill(fn, iova);
	if (!m) {
		__atomic_fetch_add(&fn->dma_faults, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	left = m->size - (iova - m->iova);
	if (contig)
		*contig = len < left ? len : left;
	return m->vaddr + (iova - m->iova);
}

/* Asks for the line in a writable state: a later store then finds it owned
 * instead of waiting for the other core to give it up while the stores
 * behind it queue. (GCC emits PREFETCHW for __builtin_prefetch(p, 1) only
 * when the target has PRFCHW, which baseline x86-64 does not claim; every
 * x86-64 CPU decodes the instruction, older ones as a no-op.) */
static inline void prefetch_for_write(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const volatile char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

void emu_dma_prefetch(struct uvdpa_pci_dev *pdev, uint64_t iova, bool write)
{
	struct emu_fn *fn = to_fn(pdev);
	const struct emu_mapping *m;
	const uint8_t *p;

	m = tlb_lookup(fn, __atomic_load_n(&fn->iommu_gen, __ATOMIC_ACQUIRE), iova);
	if (!m)
		m = tlb_fill(fn, iova);
	if (!m)
		return;
	p = m->vaddr + (iova - m->iova);
	if (write)
		prefetch_for_write(p);
	else
		__builtin_prefetch(p, 0);
	/* The next line too: a net header ends a line as often as not, and a
	 * small frame then starts the next one. */
	if (iova - m->iova + 64 < m->size) {
		if (write)
			prefetch_for_write(p + 64);
		else
			__builtin_prefetch(p + 64, 0);
	}
}

uint64_t emu_dma_faults(struct uvdpa_pci_dev *pdev)
{
	return __atomic_load_n(&to_fn(pdev)->dma_faults, __ATOMIC_RELAXED);
}

/* ---- Lifecycle ---- */

static int emu_notify_area(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, int *fd,
			   uint64_t *fd_offset, uint64_t *size)
{
	/* The doorbell is a model register, not memory: nothing to mmap. */
	return -ENOTSUP;
}

static void emu_release(struct uvdpa_pci_dev *pdev)
{
	struct emu_fn *fn = to_fn(pdev);

	/* The model first: its engines may still translate and notify until
	 * destroy returns. */
	if (fn->ops->destroy)
		fn->ops->destroy(fn->model);
	close_fds(fn->msix_fds, fn->msix_nvec);
	free(fn->maps);
	pthread_rwlock_destroy(&fn->iommu_lock);
	pthread_rwlock_destroy(&fn->msix_lock);
	free(fn);
}

static int emu_queue_stats(struct uvdpa_pci_dev *pdev, uint16_t queue, struct uvdpa_vq_stats *st)
{
	struct emu_fn *fn = to_fn(pdev);

	return fn->ops->queue_stats ? fn->ops->queue_stats(fn->model, queue, st) : -ENOTSUP;
}

static int emu_queue_stats_reset(struct uvdpa_pci_dev *pdev, uint16_t queue)
{
	struct emu_fn *fn = to_fn(pdev);

	return fn->ops->queue_stats_reset ? fn->ops->queue_stats_reset(fn->model, queue) :
					    -ENOTSUP;
}

static int emu_announce(struct uvdpa_pci_dev *pdev, const uint8_t mac[6])
{
	struct emu_fn *fn = to_fn(pdev);

	return fn->ops->announce ? fn->ops->announce(fn->model, mac) : -ENOTSUP;
}

static const struct uvdpa_pci_dev_ops emu_pci_ops = {
	.announce = emu_announce,
	.queue_stats = emu_queue_stats,
	.queue_stats_reset = emu_queue_stats_reset,
	.cfg_read = emu_cfg_read,
	.cfg_write = emu_cfg_write,
	.bar_read = emu_bar_read,
	.bar_write = emu_bar_write,
	.bar_size = emu_bar_size,
	.msix_set = emu_msix_set,
	.msix_count = emu_msix_count,
	.dma_map = emu_dma_map,
	.dma_unmap = emu_dma_unmap,
	.notify_area = emu_notify_area,
	.release = emu_release,
};

struct uvdpa_pci_dev *emu_pci_create(const char *addr, const struct uvdpa_pci_id *id,
			       const struct emu_model_ops *ops, void *model)
{
	pthread_rwlockattr_t attr;
	struct emu_fn *fn;

	if (!addr || !id || !ops || !ops->cfg_read || !ops->cfg_write || !ops->bar_read ||
	    !ops->bar_write || !ops->bar_size)
		return NULL;
	fn = calloc(1, sizeof(*fn));
	if (!fn)
		return NULL;
	snprintf(fn->pdev.addr, sizeof(fn->pdev.addr), "%s", addr);
	fn->pdev.id = *id;
	fn->pdev.ops = &emu_pci_ops;
	fn->pdev.priv = fn;
	fn->ops = ops;
	fn->model = model;
	fn->iommu_gen = __atomic_fetch_add(&iommu_gen_next, 1, __ATOMIC_RELAXED);

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fn->iommu_lock, &attr);
	pthread_rwlock_init(&fn->msix_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return &fn->pdev;
}
