/* PCI access to a real function through VFIO: one container (IOMMU domain)
 * per function, so each device's IOVAs are its own guest's physical
 * addresses. BARs are mmapped where VFIO allows (sparse areas included) and
 * reached with pread/pwrite elsewhere; MSI-X vectors are wired to eventfds
 * with VFIO_DEVICE_SET_IRQS; DMA goes through type1 IOMMU maps. Every
 * failure to open says what the operator has to change. */
#include <ctype.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "pci/vfio.h"
#include "core/log.h"

#define TAG "vfio"
#define VFIO_MAX_AREAS 8

static const struct pci_vfio_paths default_paths = { "/sys", "/dev/vfio" };

/* An mmapped part of a region. */
struct vfio_area {
	uint64_t off, size;	/* within the region */
	uint8_t *addr;
};

struct vfio_region {
	bool present;
	uint32_t flags;
	uint64_t size, offset;	/* offset: in the device fd */
	struct vfio_area areas[VFIO_MAX_AREAS];
	unsigned int nareas;
};

struct vfio_fn {
	struct uvdpa_pci_dev pdev;
	int container, group, device;
	int group_id;
	struct vfio_region cfg;
	struct vfio_region bars[UVDPA_PCI_NUM_BARS];
	unsigned int msix_count;
	unsigned int msix_nvec;	/* currently enabled, 0 = off */
};

static struct vfio_fn *to_fn(struct uvdpa_pci_dev *pdev)
{
	return pdev->priv;
}


void uvdpa_pci_dev_release(struct uvdpa_pci_dev *pdev)
{
	if (pdev && pdev->ops && pdev->ops->release)
		pdev->ops->release(pdev);
}

/* ---- Addresses and sysfs ---- */

int pci_vfio_addr_normalize(const char *in, char *out, size_t outlen)
{
	unsigned int dom = 0, bus, dev, fn;
	int n = 0;

	if (!in)
		return -EINVAL;
	for (const char *p = in; *p; p++)
		if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
			return -EINVAL;
	if (sscanf(in, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) == 4 &&
	    (size_t)n == strlen(in) && n == 12) {
		/* DDDD:BB:DD.F */
	} else if (n = 0, dom = 0, sscanf(in, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) == 3 &&
		   (size_t)n == strlen(in) && n == 7) {
		/* BB:DD.F */
	} else {
		return -EINVAL;
	}
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	if (snprintf(out, outlen, "%04x:%02x:%02x.%x", dom, bus, dev, fn) >= (int)outlen)
		return -EINVAL;
	return 0;
}

/* The last component of a symlink's target, or -errno. */
static int link_basename(const char *path, char *out, size_t outlen)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *base;

	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= outlen)
		return -ENAMETOOLONG;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

void pci_vfio_group_describe(const struct pci_vfio_paths *paths, int group, char *buf,
			     size_t buflen)
{
	char dir[PATH_MAX];
	size_t used = 0;
	struct dirent *de;
	DIR *d;

	buf[0] = '\0';
	snprintf(dir, sizeof(dir), "%s/kernel/iommu_groups/%d/devices", paths->sysfs, group);
	d = opendir(dir);
	if (!d) {
		snprintf(buf, buflen, "see %s", dir);
		return;
	}
	while ((de = readdir(d)) && used < buflen) {
		char link[PATH_MAX + 300], drv[128];
		int n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s/driver", dir, de->d_name);
		if (link_basename(link, drv, sizeof(drv)) < 0)
			snprintf(drv, sizeof(drv), "no driver");
		n = snprintf(buf + used, buflen - used, "%s%s (%s)", used ? ", " : "", de->d_name,
			     drv);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	closedir(d);
}

/* ---- Region access ---- */

static const struct vfio_area *area_find(const struct vfio_region *r, uint64_t off, uint64_t len)
{
	for (unsigned int i = 0; i < r->nareas; i++) {
		const struct vfio_area *a = &r->areas[i];

		if (off >= a->off && len <= a->size && off - a->off <= a->size - len)
			return a;
	}
	return NULL;
}

static int region_pread(struct vfio_fn *fn, const struct vfio_region *r, uint64_t off, void *buf,
			uint32_t len)
{
	ssize_t n = pread(fn->device, buf, len, (off_t)(r->offset + off));

	if (n == (ssize_t)len)
		return 0;
	return n < 0 ? -errno : -EIO;
}

static int region_pwrite(struct vfio_fn *fn, const struct vfio_region *r, uint64_t off,
			 const void *buf, uint32_t len)
{
	ssize_t n = pwrite(fn->device, buf, len, (off_t)(r->offset + off));

	if (n == (ssize_t)len)
		return 0;
	return n < 0 ? -errno : -EIO;
}

static int vfio_cfg_read(struct uvdpa_pci_dev *pdev, uint32_t off, void *buf, uint32_t len)
{
	struct vfio_fn *fn = to_fn(pdev);

	if ((uint64_t)off + len > fn->cfg.size)
		return -EINVAL;
	return region_pread(fn, &fn->cfg, off, buf, len);
}

static int vfio_cfg_write(struct uvdpa_pci_dev *pdev, uint32_t off, const void *buf, uint32_t len)
{
	struct vfio_fn *fn = to_fn(pdev);

	if ((uint64_t)off + len > fn->cfg.size)
		return -EINVAL;
	return region_pwrite(fn, &fn->cfg, off, buf, len);
}

static const struct vfio_region *bar_check(struct vfio_fn *fn, unsigned int bar, uint64_t off,
					   uint32_t len)
{
	const struct vfio_region *r;

	if (bar >= UVDPA_PCI_NUM_BARS || (len != 1 && len != 2 && len != 4 && len != 8))
		return NULL;
	r = &fn->bars[bar];
	if (!r->present || off >= r->size || len > r->size - off)
		return NULL;
	return r;
}

static int vfio_bar_read(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, void *buf,
			 uint32_t len)
{
	struct vfio_fn *fn = to_fn(pdev);
	const struct vfio_region *r = bar_check(fn, bar, off, len);
	const struct vfio_area *a;

	if (!r)
		return -EINVAL;
	a = area_find(r, off, len);
	if (!a)
		return region_pread(fn, r, off, buf, len);
	/* One access of exactly len bytes: registers care about the width. */
	const volatile void *p = a->addr + (off - a->off);

	switch (len) {
	case 1: {
		uint8_t v = *(const volatile uint8_t *)p;

		memcpy(buf, &v, 1);
		break;
	}
	case 2: {
		uint16_t v = *(const volatile uint16_t *)p;

		memcpy(buf, &v, 2);
		break;
	}
	case 4: {
		uint32_t v = *(const volatile uint32_t *)p;

		memcpy(buf, &v, 4);
		break;
	}
	default: {
		uint64_t v = *(const volatile uint64_t *)p;

		memcpy(buf, &v, 8);
		break;
	}
	}
	return 0;
}

static int vfio_bar_write(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, const void *buf,
			  uint32_t len)
{
	struct vfio_fn *fn = to_fn(pdev);
	const struct vfio_region *r = bar_check(fn, bar, off, len);
	const struct vfio_area *a;

	if (!r)
		return -EINVAL;
	a = area_find(r, off, len);
	if (!a)
		return region_pwrite(fn, r, off, buf, len);
	volatile void *p = a->addr + (off - a->off);

	switch (len) {
	case 1: {
		uint8_t v;

		memcpy(&v, buf, 1);
		*(volatile uint8_t *)p = v;
		break;
	}
	case 2: {
		uint16_t v;

		memcpy(&v, buf, 2);
		*(volatile uint16_t *)p = v;
		break;
	}
	case 4: {
		uint32_t v;

		memcpy(&v, buf, 4);
		*(volatile uint32_t *)p = v;
		break;
	}
	default: {
		uint64_t v;

		memcpy(&v, buf, 8);
		*(volatile uint64_t *)p = v;
		break;
	}
	}
	return 0;
}

static uint64_t vfio_bar_size(struct uvdpa_pci_dev *pdev, unsigned int bar)
{
	struct vfio_fn *fn = to_fn(pdev);

	if (bar >= UVDPA_PCI_NUM_BARS || !fn->bars[bar].present)
		return 0;
	return fn->bars[bar].size;
}

/* ---- MSI-X ---- */

static unsigned int vfio_msix_count(struct uvdpa_pci_dev *pdev)
{
	return to_fn(pdev)->msix_count;
}

static int msix_disable(struct vfio_fn *fn)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX,
		.start = 0,
		.count = 0,
	};

	if (!fn->msix_nvec)
		return 0;
	if (ioctl(fn->device, VFIO_DEVICE_SET_IRQS, &set) < 0)
		return -errno;
	fn->msix_nvec = 0;
	return 0;
}

static int vfio_msix_set(struct uvdpa_pci_dev *pdev, const int *efds, unsigned int nvec)
{
	struct vfio_fn *fn = to_fn(pdev);
	struct vfio_irq_set *set;
	size_t size;
	int ret;

	if (nvec == 0)
		return msix_disable(fn);
	if (!efds || nvec > fn->msix_count)
		return -EINVAL;
	/* VFIO rewires vectors in place only within the count it enabled. */
	if (fn->msix_nvec && fn->msix_nvec != nvec) {
		ret = msix_disable(fn);
		if (ret < 0)
			return ret;
	}
	size = sizeof(*set) + nvec * sizeof(int32_t);
	set = calloc(1, size);
	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)size;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = nvec;
	memcpy(set->data, efds, nvec * sizeof(int32_t));
	ret = ioctl(fn->device, VFIO_DEVICE_SET_IRQS, set) < 0 ? -errno : 0;
	free(set);
	if (ret == 0)
		fn->msix_nvec = nvec;
	return ret;
}

/* ---- DMA ---- */

static int vfio_dma_map(struct uvdpa_pci_dev *pdev, uint64_t iova, void *vaddr, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	if (ioctl(to_fn(pdev)->container, VFIO_IOMMU_MAP_DMA, &map) < 0)
		return -errno;
	return 0;
}

/* The container's IOVA ranges (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, Linux
 * 5.4+): the one that ends highest. */
static int vfio_iova_range(struct uvdpa_pci_dev *pdev, uint64_t *first, uint64_t *last)
{
	struct vfio_iommu_type1_info probe = { .argsz = sizeof(probe) };
	struct vfio_iommu_type1_info *info;
	uint32_t off, hops = 0;
	int container = to_fn(pdev)->container, ret = -ENOTSUP;
	bool found = false;

	if (ioctl(container, VFIO_IOMMU_GET_INFO, &probe) < 0)
		return -errno;
	if (!(probe.flags & VFIO_IOMMU_INFO_CAPS) || probe.argsz <= sizeof(probe) ||
	    probe.argsz > 65536)
		return -ENOTSUP;
	info = calloc(1, probe.argsz);
	if (!info)
		return -ENOMEM;
	info->argsz = probe.argsz;
	if (ioctl(container, VFIO_IOMMU_GET_INFO, info) < 0) {
		ret = -errno;
		goto out;
	}
	for (off = info->cap_offset; off && hops++ < 64;) {
		const struct vfio_info_cap_header *h;

		if (off < sizeof(*info) || off > probe.argsz - sizeof(*h))
			break;
		h = (const void *)((const uint8_t *)info + off);
		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			const struct vfio_iommu_type1_info_cap_iova_range *c = (const void *)h;
			uint64_t room = probe.argsz - off - sizeof(*c);

			for (uint32_t i = 0; i < c->nr_iovas && (i + 1) * sizeof(c->iova_ranges[0]) <= room;
			     i++) {
				if (!found || c->iova_ranges[i].end > *last) {
					*first = c->iova_ranges[i].start;
					*last = c->iova_ranges[i].end;
					found = true;
				}
			}
			break;
		}
		off = h->next;
	}
	ret = found ? 0 : -ENOTSUP;
out:
	free(info);
	return ret;
}

static int vfio_dma_unmap(struct uvdpa_pci_dev *pdev, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	if (ioctl(to_fn(pdev)->container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
		return -errno;
	if (unmap.size != size)
		return -ENOENT;
	return 0;
}

/* ---- Doorbell pages for host notifiers ---- */

static int vfio_notify_area(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, int *fd,
			    uint64_t *fd_offset, uint64_t *size)
{
	struct vfio_fn *fn = to_fn(pdev);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start = off & ~(page - 1);
	const struct vfio_region *r;

	if (bar >= UVDPA_PCI_NUM_BARS || !fn->bars[bar].present)
		return -EINVAL;
	r = &fn->bars[bar];
	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP) || !area_find(r, start, page))
		return -ENOTSUP;
	*fd = fn->device;
	*fd_offset = r->offset + start;
	*size = page;
	return 0;
}

/* ---- Lifecycle ---- */

static void region_unmap(struct vfio_region *r)
{
	for (unsigned int i = 0; i < r->nareas; i++)
		munmap(r->areas[i].addr, r->areas[i].size);
	r->nareas = 0;
}

static void vfio_release(struct uvdpa_pci_dev *pdev)
{
	struct vfio_fn *fn = to_fn(pdev);

	if (fn->device >= 0)
		msix_disable(fn);
	for (unsigned int i = 0; i < UVDPA_PCI_NUM_BARS; i++)
		region_unmap(&fn->bars[i]);
	if (fn->device >= 0)
		close(fn->device);
	if (fn->group >= 0)
		close(fn->group);
	if (fn->container >= 0)
		close(fn->container);
	free(fn);
}

static const struct uvdpa_pci_dev_ops vfio_pci_ops = {
	.cfg_read = vfio_cfg_read,
	.cfg_write = vfio_cfg_write,
	.bar_read = vfio_bar_read,
	.bar_write = vfio_bar_write,
	.bar_size = vfio_bar_size,
	.msix_set = vfio_msix_set,
	.msix_count = vfio_msix_count,
	.dma_map = vfio_dma_map,
	.dma_unmap = vfio_dma_unmap,
	.iova_range = vfio_iova_range,
	.notify_area = vfio_notify_area,
	.release = vfio_release,
};

static int area_add(struct vfio_fn *fn, struct vfio_region *r, uint64_t off, uint64_t size)
{
	void *addr;

	if (r->nareas == VFIO_MAX_AREAS || !size || off > r->size || size > r->size - off)
		return -EINVAL;
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fn->device,
		    (off_t)(r->offset + off));
	if (addr == MAP_FAILED)
		return -errno;
	r->areas[r->nareas++] = (struct vfio_area){ .off = off, .size = size, .addr = addr };
	return 0;
}

/* mmaps what VFIO allows of a BAR: the areas of a sparse-mmap capability
 * (which leave out the MSI-X table), else the whole region. Anything not
 * mapped is reached with pread/pwrite. */
static void bar_map(struct vfio_fn *fn, unsigned int bar, const struct vfio_region_info *info)
{
	struct vfio_region *r = &fn->bars[bar];
	bool sparse = false;

	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return;
	if ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) && info->cap_offset) {
		const uint8_t *base = (const uint8_t *)info;
		uint32_t pos = info->cap_offset, hops = 0;

		while (pos && pos + sizeof(struct vfio_info_cap_header) <= info->argsz &&
		       hops++ < 16) {
			const struct vfio_info_cap_header *h = (const void *)(base + pos);

			if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
			    pos + sizeof(struct vfio_region_info_cap_sparse_mmap) <= info->argsz) {
				const struct vfio_region_info_cap_sparse_mmap *s = (const void *)h;
				uint32_t n = s->nr_areas;

				sparse = true;
				if ((uint64_t)pos + sizeof(*s) + (uint64_t)n * sizeof(s->areas[0]) >
				    info->argsz)
					break;
				for (uint32_t i = 0; i < n; i++)
					if (area_add(fn, r, s->areas[i].offset, s->areas[i].size) < 0)
						LOG_DEBUG(TAG, "%s: BAR%u area %u not mmapped",
							  fn->pdev.addr, bar, i);
				break;
			}
			pos = h->next;
		}
	}
	if (!sparse && area_add(fn, r, 0, r->size) < 0)
		LOG_DEBUG(TAG, "%s: BAR%u not mmappable, using pread/pwrite", fn->pdev.addr, bar);
}

/* GET_REGION_INFO with room for its capability chain; caller frees. */
static struct vfio_region_info *region_info(int device, unsigned int index)
{
	struct vfio_region_info *info = calloc(1, sizeof(*info));

	if (!info)
		return NULL;
	info->argsz = sizeof(*info);
	info->index = index;
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info) < 0) {
		free(info);
		return NULL;
	}
	if (info->argsz > sizeof(*info)) {
		uint32_t argsz = info->argsz;
		struct vfio_region_info *big = realloc(info, argsz);

		if (!big) {
			free(info);
			return NULL;
		}
		info = big;
		memset(info, 0, argsz);
		info->argsz = argsz;
		info->index = index;
		if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info) < 0) {
			free(info);
			return NULL;
		}
	}
	return info;
}

static int device_setup(struct vfio_fn *fn, char *err, size_t errlen)
{
	struct vfio_device_info dinfo = { .argsz = sizeof(dinfo) };
	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct vfio_region_info *info;
	uint16_t ids[2], sub[2], cmd;

	if (ioctl(fn->device, VFIO_DEVICE_GET_INFO, &dinfo) < 0) {
		uvdpa_errf(err, errlen, "%s: VFIO_DEVICE_GET_INFO: %s", fn->pdev.addr, strerror(errno));
		return -errno;
	}
	if (!(dinfo.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    dinfo.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		uvdpa_errf(err, errlen, "%s: VFIO does not present it as a PCI device", fn->pdev.addr);
		return -ENODEV;
	}
	info = region_info(fn->device, VFIO_PCI_CONFIG_REGION_INDEX);
	if (!info) {
		uvdpa_errf(err, errlen, "%s: no VFIO config-space region", fn->pdev.addr);
		return -ENODEV;
	}
	fn->cfg.present = true;
	fn->cfg.flags = info->flags;
	fn->cfg.size = info->size;
	fn->cfg.offset = info->offset;
	free(info);
	for (unsigned int i = 0; i < UVDPA_PCI_NUM_BARS; i++) {
		info = region_info(fn->device, VFIO_PCI_BAR0_REGION_INDEX + i);
		if (!info || !info->size) {
			free(info);
			continue;
		}
		fn->bars[i].present = true;
		fn->bars[i].flags = info->flags;
		fn->bars[i].size = info->size;
		fn->bars[i].offset = info->offset;
		bar_map(fn, i, info);
		free(info);
	}
	if (ioctl(fn->device, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0)
		fn->msix_count = irq.count;

	if (vfio_cfg_read(&fn->pdev, PCI_VENDOR_ID, ids, sizeof(ids)) < 0 ||
	    vfio_cfg_read(&fn->pdev, PCI_SUBSYSTEM_VENDOR_ID, sub, sizeof(sub)) < 0 ||
	    vfio_cfg_read(&fn->pdev, PCI_COMMAND, &cmd, sizeof(cmd)) < 0) {
		uvdpa_errf(err, errlen, "%s: cannot read its config space through VFIO", fn->pdev.addr);
		return -EIO;
	}
	fn->pdev.id.vendor = le16toh(ids[0]);
	fn->pdev.id.device = le16toh(ids[1]);
	fn->pdev.id.subsys_vendor = le16toh(sub[0]);
	fn->pdev.id.subsys_device = le16toh(sub[1]);
	/* The function DMAs to guest memory: it must master the bus. */
	cmd = htole16(le16toh(cmd) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	if (vfio_cfg_write(&fn->pdev, PCI_COMMAND, &cmd, sizeof(cmd)) < 0) {
		uvdpa_errf(err, errlen, "%s: cannot enable bus mastering", fn->pdev.addr);
		return -EIO;
	}
	return 0;
}

static int open_container(struct vfio_fn *fn, const struct pci_vfio_paths *paths, char *err,
			  size_t errlen)
{
	char path[PATH_MAX];
	int ver;

	snprintf(path, sizeof(path), "%s/vfio", paths->dev_vfio);
	fn->container = open(path, O_RDWR | O_CLOEXEC);
	if (fn->container < 0) {
		int e = errno;

		if (e == ENOENT)
			uvdpa_errf(err, errlen, "%s is missing: load VFIO (modprobe vfio-pci)", path);
		else if (e == EACCES || e == EPERM)
			uvdpa_errf(err, errlen, "no permission to open %s: run uvdpad as root", path);
		else
			uvdpa_errf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	ver = ioctl(fn->container, VFIO_GET_API_VERSION);
	if (ver != VFIO_API_VERSION) {
		if (ver < 0)
			uvdpa_errf(err, errlen, "%s is not a VFIO container (%s)", path, strerror(errno));
		else
			uvdpa_errf(err, errlen, "%s speaks VFIO API %d, uvdpa needs %d", path, ver,
				VFIO_API_VERSION);
		return -ENODEV;
	}
	if (ioctl(fn->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
		uvdpa_errf(err, errlen, "the VFIO container has no type1 IOMMU support "
			"(modprobe vfio_iommu_type1)");
		return -ENODEV;
	}
	return 0;
}

static int open_group(struct vfio_fn *fn, const struct pci_vfio_paths *paths, const char *addr,
		      char *err, size_t errlen)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX];
	int type;

	snprintf(path, sizeof(path), "%s/%d", paths->dev_vfio, fn->group_id);
	fn->group = open(path, O_RDWR | O_CLOEXEC);
	if (fn->group < 0) {
		int e = errno;

		if (e == ENOENT)
			uvdpa_errf(err, errlen, "%s is missing although %s is in IOMMU group %d: is it "
				"bound to vfio-pci?", path, addr, fn->group_id);
		else if (e == EACCES || e == EPERM)
			uvdpa_errf(err, errlen, "no permission to open %s: run uvdpad as root or give "
				"its user that file", path);
		else if (e == EBUSY)
			uvdpa_errf(err, errlen, "IOMMU group %d (%s) is in use by another process or "
				"another uvdpa device: each function needs a group of its own",
				fn->group_id, path);
		else
			uvdpa_errf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	if (ioctl(fn->group, VFIO_GROUP_GET_STATUS, &status) < 0) {
		uvdpa_errf(err, errlen, "%s is not a VFIO group (%s)", path, strerror(errno));
		return -ENODEV;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		char members[512];

		pci_vfio_group_describe(paths, fn->group_id, members, sizeof(members));
		uvdpa_errf(err, errlen, "IOMMU group %d is not viable: bind every device in group %d "
			"to vfio-pci (members: %s)", fn->group_id, fn->group_id, members);
		return -EBUSY;
	}
	if (ioctl(fn->group, VFIO_GROUP_SET_CONTAINER, &fn->container) < 0) {
		uvdpa_errf(err, errlen, "cannot attach IOMMU group %d to a VFIO container: %s",
			fn->group_id, strerror(errno));
		return -errno;
	}
	type = ioctl(fn->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ?
		       VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
	if (ioctl(fn->container, VFIO_SET_IOMMU, type) < 0) {
		uvdpa_errf(err, errlen, "cannot set the type1 IOMMU on group %d: %s", fn->group_id,
			strerror(errno));
		return -errno;
	}
	return 0;
}

struct uvdpa_pci_dev *pci_vfio_open_at(const struct pci_vfio_paths *paths, const char *addr, char *err,
				 size_t errlen)
{
	char norm[16], path[PATH_MAX], name[128];
	struct vfio_fn *fn;
	struct stat st;
	int ret;

	if (pci_vfio_addr_normalize(addr, norm, sizeof(norm)) < 0) {
		uvdpa_errf(err, errlen, "\"%s\" is not a PCI address (DDDD:BB:DD.F)", addr ? addr : "");
		errno = EINVAL;
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", paths->sysfs, norm);
	if (stat(path, &st) < 0) {
		uvdpa_errf(err, errlen, "no PCI function %s (%s is missing)", norm, path);
		errno = ENODEV;
		return NULL;
	}
	fn = calloc(1, sizeof(*fn));
	if (!fn) {
		uvdpa_errf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	fn->container = fn->group = fn->device = -1;
	snprintf(fn->pdev.addr, sizeof(fn->pdev.addr), "%s", norm);
	fn->pdev.ops = &vfio_pci_ops;
	fn->pdev.priv = fn;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/iommu_group", paths->sysfs, norm);
	ret = link_basename(path, name, sizeof(name));
	if (ret < 0) {
		uvdpa_errf(err, errlen, "%s has no IOMMU group: is the IOMMU enabled? (intel_iommu=on "
			"or amd_iommu=on on the kernel command line)", norm);
		ret = -ENODEV;
		goto fail;
	}
	fn->group_id = atoi(name);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", paths->sysfs, norm);
	ret = link_basename(path, name, sizeof(name));
	if (ret < 0) {
		uvdpa_errf(err, errlen, "%s is not bound to any driver: bind it to vfio-pci (echo "
			"vfio-pci > %s/bus/pci/devices/%s/driver_override; echo %s > "
			"%s/bus/pci/drivers_probe)", norm, paths->sysfs, norm, norm, paths->sysfs);
		ret = -ENODEV;
		goto fail;
	}
	if (strcmp(name, "vfio-pci") != 0) {
		uvdpa_errf(err, errlen, "%s is bound to %s, not vfio-pci: unbind it (echo %s > "
			"%s/bus/pci/drivers/%s/unbind) and bind it to vfio-pci (echo vfio-pci > "
			"%s/bus/pci/devices/%s/driver_override; echo %s > %s/bus/pci/drivers_probe)",
			norm, name, norm, paths->sysfs, name, paths->sysfs, norm, norm, paths->sysfs);
		ret = -ENODEV;
		goto fail;
	}
	ret = open_container(fn, paths, err, errlen);
	if (ret < 0)
		goto fail;
	ret = open_group(fn, paths, norm, err, errlen);
	if (ret < 0)
		goto fail;
	fn->device = ioctl(fn->group, VFIO_GROUP_GET_DEVICE_FD, norm);
	if (fn->device < 0) {
		ret = -errno;
		uvdpa_errf(err, errlen, "cannot get %s from IOMMU group %d: %s", norm, fn->group_id,
			strerror(-ret));
		goto fail;
	}
	ret = device_setup(fn, err, errlen);
	if (ret < 0)
		goto fail;
	LOG_INFO(TAG, "%s: opened (%04x:%04x, subsystem %04x:%04x), IOMMU group %d, %u MSI-X "
		 "vectors", norm, fn->pdev.id.vendor, fn->pdev.id.device, fn->pdev.id.subsys_vendor,
		 fn->pdev.id.subsys_device, fn->group_id, fn->msix_count);
	return &fn->pdev;
fail:
	vfio_release(&fn->pdev);
	errno = -ret;
	return NULL;
}

struct uvdpa_pci_dev *uvdpa_pci_vfio_open(const char *addr, char *err, size_t errlen)
{
	return pci_vfio_open_at(&default_paths, addr, err, errlen);
}
