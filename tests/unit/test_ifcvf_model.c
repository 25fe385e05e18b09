/* Unit tests for the emulated IFCVF (src/models/ifcvf) and the emu PCI
 * layer (src/pci/emu.c). The test plays the ifcvf driver: it reaches the
 * function only through struct uvdpa_pci_dev ops (config space, BARs, MSI-X
 * eventfds, DMA map), walks the capability list, drives the status machine
 * and the common config, builds split rings in malloc'd "guest" memory
 * mapped through the function's IOMMU, kicks doorbells and waits for
 * interrupts. One engine thread serves every device. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "models/ifcvf/ifcvf_model.h"
#include "models/ifcvf/ifcvf_model_internal.h"
#include "pci/emu.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "uvdpa/pci.h"

#define BIT(n) (1ull << (n))

/* ---- Guest memory: one region at GUEST_IOVA ---- */

#define GUEST_IOVA 0x40000000ull
#define GUEST_SIZE 0x400000ull			/* 4 MiB */
#define RING_AREA(q) (GUEST_IOVA + (uint64_t)(q) * 0x10000)
#define BUF_AREA (GUEST_IOVA + 0x200000)
#define BUF_IOVA(i) (BUF_AREA + (uint64_t)(i) * 0x1000)
#define QSIZE 256
#define MAX_TEST_VQ 8
#define TIMEOUT_MS 2000

#define BASE_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | \
		       BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_RING_F_EVENT_IDX))

struct cap {
	bool found;
	uint8_t bar;
	uint32_t off, len;
};

/* The driver side of one split ring: one descriptor per buffer, descriptor
 * index = avail slot. */
struct drv_vq {
	uint16_t size;
	uint64_t desc_iova, avail_iova, used_iova;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx, last_used;
};

struct drv {
	struct uvdpa_pci_dev *pdev;
	struct cap common, notify, isr, device;
	uint32_t notify_mult;
	unsigned int msix_cap;
	uint16_t nvrings;
	unsigned int nvec;
	int efd[IFCVF_MAX_VRINGS + 2];
	uint8_t *mem;
	uint64_t features;
	struct drv_vq vq[MAX_TEST_VQ];
};

static void *gpa(struct drv *d, uint64_t iova)
{
	assert_true(iova >= GUEST_IOVA && iova < GUEST_IOVA + GUEST_SIZE);
	return d->mem + (iova - GUEST_IOVA);
}

/* ---- Register access as the driver does it ---- */

static uint8_t cfg8(struct drv *d, uint32_t off)
{
	uint8_t v = 0;

	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, off, &v, 1), 0);
	return v;
}

static uint16_t cfg16(struct drv *d, uint32_t off)
{
	uint16_t v = 0;

	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, off, &v, 2), 0);
	return v;
}

static uint32_t cfg32(struct drv *d, uint32_t off)
{
	uint32_t v = 0;

	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, off, &v, 4), 0);
	return v;
}

static uint8_t common_r8(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read8(d->pdev, d->common.bar, d->common.off + off);
}

static uint16_t common_r16(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read16(d->pdev, d->common.bar, d->common.off + off);
}

static uint32_t common_r32(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read32(d->pdev, d->common.bar, d->common.off + off);
}

static void common_w8(struct drv *d, uint32_t off, uint8_t v)
{
	uvdpa_pci_bar_write8(d->pdev, d->common.bar, d->common.off + off, v);
}

static void common_w16(struct drv *d, uint32_t off, uint16_t v)
{
	uvdpa_pci_bar_write16(d->pdev, d->common.bar, d->common.off + off, v);
}

static void common_w32(struct drv *d, uint32_t off, uint32_t v)
{
	uvdpa_pci_bar_write32(d->pdev, d->common.bar, d->common.off + off, v);
}

static uint32_t lm_r32(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read32(d->pdev, IFCVF_LM_BAR, off);
}

static void lm_w32(struct drv *d, uint32_t off, uint32_t v)
{
	uvdpa_pci_bar_write32(d->pdev, IFCVF_LM_BAR, off, v);
}

static uint64_t device_features(struct drv *d)
{
	common_w32(d, VIRTIO_PCI_COMMON_DFSELECT, 0);
	uint64_t lo = common_r32(d, VIRTIO_PCI_COMMON_DF);

	common_w32(d, VIRTIO_PCI_COMMON_DFSELECT, 1);
	return lo | (uint64_t)common_r32(d, VIRTIO_PCI_COMMON_DF) << 32;
}

static void write_features(struct drv *d, uint64_t f)
{
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
	common_w32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)f);
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 1);
	common_w32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)(f >> 32));
}

static uint8_t status(struct drv *d)
{
	return common_r8(d, VIRTIO_PCI_COMMON_STATUS);
}

/* ---- Capability walk ---- */

static void walk_caps(struct drv *d)
{
	unsigned int pos = cfg8(d, PCI_CAPABILITY_LIST), hops = 0;

	assert_true(cfg16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	for (; pos; pos = cfg8(d, pos + 1)) {
		struct cap c = { .found = true };
		uint64_t bar_size;

		assert_true(pos >= 0x40 && pos < 256 && (pos & 3) == 0);
		assert_true(++hops < 48);
		if (cfg8(d, pos) == PCI_CAP_ID_MSIX) {
			d->msix_cap = pos;
			continue;
		}
		if (cfg8(d, pos) != PCI_CAP_ID_VNDR)
			continue;
		c.bar = cfg8(d, pos + VIRTIO_PCI_CAP_BAR);
		c.off = cfg32(d, pos + VIRTIO_PCI_CAP_OFFSET);
		c.len = cfg32(d, pos + VIRTIO_PCI_CAP_LENGTH);
		switch (cfg8(d, pos + VIRTIO_PCI_CAP_CFG_TYPE)) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			d->common = c;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = c;
			d->notify_mult = cfg32(d, pos + VIRTIO_PCI_NOTIFY_CAP_MULT);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			d->isr = c;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			d->device = c;
			break;
		default:
			continue;	/* PCI_CFG: a window, not a BAR range */
		}
		/* The driver's checks: bar <= 5, the range inside the BAR. */
		bar_size = d->pdev->ops->bar_size(d->pdev, c.bar);
		assert_true(c.bar <= 5);
		assert_true(bar_size > 0);
		assert_true((uint64_t)c.off + c.len <= bar_size);
	}
}

/* ---- Setup ---- */

/* Takes a model's function the way the driver's probe does. */
static struct drv *drv_attach(struct uvdpa_pci_dev *pdev)
{
	struct drv *d = calloc(1, sizeof(*d));
	unsigned int i;

	assert_non_null(d);
	d->pdev = pdev;
	walk_caps(d);
	assert_true(d->common.found && d->notify.found && d->isr.found && d->device.found);
	assert_int_not_equal(d->msix_cap, 0);
	d->nvrings = common_r16(d, VIRTIO_PCI_COMMON_NUMQ);
	d->nvec = d->pdev->ops->msix_count(d->pdev);
	assert_int_equal(d->nvec, d->nvrings + 1u);
	for (i = 0; i < d->nvec; i++) {
		d->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(d->efd[i] >= 0);
	}
	assert_int_equal(d->pdev->ops->msix_set(d->pdev, d->efd, d->nvec), 0);
	d->mem = aligned_alloc(4096, GUEST_SIZE);
	assert_non_null(d->mem);
	memset(d->mem, 0, GUEST_SIZE);
	assert_int_equal(d->pdev->ops->dma_map(d->pdev, GUEST_IOVA, d->mem, GUEST_SIZE), 0);
	return d;
}

static struct drv *drv_open(const struct ifcvf_model_config *cfg)
{
	char err[256] = "";
	struct uvdpa_pci_dev *pdev = ifcvf_model_create(cfg, err, sizeof(err));

	if (!pdev)
		fail_msg("ifcvf_model_create: %s", err);
	return drv_attach(pdev);
}

static void drv_close(struct drv *d)
{
	unsigned int i;

	uvdpa_pci_dev_release(d->pdev);
	for (i = 0; i < d->nvec; i++)
		close(d->efd[i]);
	free(d->mem);
	free(d);
}

static struct ifcvf_model_config net_cfg(const char *port)
{
	struct ifcvf_model_config c;

	memset(&c, 0, sizeof(c));
	c.type = UVDPA_TYPE_NET;
	snprintf(c.port, sizeof(c.port), "%s", port);
	return c;
}

/* Reset, then ACKNOWLEDGE, DRIVER, features, FEATURES_OK; true when the
 * device accepted the features. */
static bool drv_negotiate(struct drv *d, uint64_t features)
{
	int i;

	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	for (i = 0; i < 100 && status(d) != 0; i++)
		usleep(1000);
	assert_int_equal(status(d), 0);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS,
		  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	write_features(d, features);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
			  VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	d->features = features;
	return status(d) & VIRTIO_CONFIG_S_FEATURES_OK;
}

/* Programs vring q (rings in its RING_AREA), vector q + 1, restores the
 * ring state, enables it. */
static void drv_queue_setup(struct drv *d, uint16_t q, uint32_t ring_state)
{
	struct drv_vq *vq = &d->vq[q];
	uint64_t base = RING_AREA(q);

	assert_true(q < MAX_TEST_VQ);
	vq->size = QSIZE;
	vq->desc_iova = base;
	vq->avail_iova = base + 0x2000;
	vq->used_iova = base + 0x4000;
	vq->desc = gpa(d, vq->desc_iova);
	vq->avail = gpa(d, vq->avail_iova);
	vq->used = gpa(d, vq->used_iova);
	vq->avail_idx = (uint16_t)ring_state;
	vq->last_used = (uint16_t)(ring_state >> 16);
	vq->avail->idx = vq->avail_idx;
	vq->used->idx = vq->last_used;

	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, q);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)vq->desc_iova);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCHI, (uint32_t)(vq->desc_iova >> 32));
	common_w32(d, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)vq->avail_iova);
	common_w32(d, VIRTIO_PCI_COMMON_Q_AVAILHI, (uint32_t)(vq->avail_iova >> 32));
	common_w32(d, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)vq->used_iova);
	common_w32(d, VIRTIO_PCI_COMMON_Q_USEDHI, (uint32_t)(vq->used_iova >> 32));
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, QSIZE);
	lm_w32(d, ifcvf_ring_state_off_net(q), ring_state);
	common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, (uint16_t)(q + 1));
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), q + 1);
	common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
}

static void drv_driver_ok(struct drv *d)
{
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), 0);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, status(d) | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(status(d) & VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Full start with queue pairs 0..npairs-1. */
static void drv_start(struct drv *d, uint64_t features, unsigned int nvrings)
{
	unsigned int q;

	assert_true(drv_negotiate(d, features));
	for (q = 0; q < nvrings; q++)
		drv_queue_setup(d, (uint16_t)q, 0);
	drv_driver_ok(d);
}

static void drv_kick(struct drv *d, uint16_t q)
{
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, q);
	uint16_t noff = common_r16(d, VIRTIO_PCI_COMMON_Q_NOFF);

	uvdpa_pci_bar_write16(d->pdev, d->notify.bar, d->notify.off + (uint64_t)noff * d->notify_mult, q);
}

static void drv_add_buf(struct drv *d, uint16_t q, uint64_t iova, uint32_t len, bool writable)
{
	struct drv_vq *vq = &d->vq[q];
	uint16_t slot = vq->avail_idx % vq->size;

	vq->desc[slot].addr = iova;
	vq->desc[slot].len = len;
	vq->desc[slot].flags = writable ? VRING_DESC_F_WRITE : 0;
	vq->desc[slot].next = 0;
	vq->avail->ring[slot] = slot;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/* Waits for the next used entry of q; false on timeout. */
static bool drv_get_used(struct drv *d, uint16_t q, uint32_t *id, uint32_t *len)
{
	struct drv_vq *vq = &d->vq[q];
	int i;

	for (i = 0; i < TIMEOUT_MS * 10; i++) {
		if (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) != vq->last_used) {
			struct vring_used_elem *e = &vq->used->ring[vq->last_used % vq->size];

			if (id)
				*id = e->id;
			if (len)
				*len = e->len;
			vq->last_used++;
			return true;
		}
		usleep(100);
	}
	return false;
}

/* True when the eventfd of vector v fires within timeout_ms (and clears it). */
static bool wait_vector(struct drv *d, unsigned int v, int timeout_ms)
{
	struct pollfd pfd = { .fd = d->efd[v], .events = POLLIN };
	uint64_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	return read(d->efd[v], &n, sizeof(n)) == sizeof(n) && n > 0;
}

static void drain_vector(struct drv *d, unsigned int v)
{
	uint64_t n;

	while (read(d->efd[v], &n, sizeof(n)) == sizeof(n))
		;
}

static uint64_t stat_of(struct drv *d, uint16_t q, enum uvdpa_vq_stat k)
{
	struct uvdpa_vq_stats st = { 0 };

	assert_int_equal(ifcvf_model_get_stats(d->pdev, q, &st), 0);
	if (!(st.valid & (1ull << k)))
		fail_msg("no stat %s on vring %u", uvdpa_vq_stat_name(k), q);
	return st.value[k];
}

/* A frame with a recognizable payload, after a zeroed virtio-net header. */
static void make_tx(struct drv *d, uint64_t iova, size_t hdr_len, size_t frame_len, uint8_t seed)
{
	uint8_t *p = gpa(d, iova);
	size_t i;

	memset(p, 0, hdr_len);
	for (i = 0; i < frame_len; i++)
		p[hdr_len + i] = (uint8_t)(seed + i * 7);
}

static bool check_frame(const uint8_t *p, size_t frame_len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < frame_len; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

static int thread_count(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* ---- Tests: the emu layer ---- */

static void test_emu_iommu(void **state)
{
	struct ifcvf_model_config c = net_cfg("sink");
	struct uvdpa_pci_dev *pdev;
	char err[256];
	uint8_t *a = malloc(0x3000), *b = malloc(0x1000);
	uint64_t contig = 0, faults;
	uint8_t *p;
	int efd = eventfd(0, EFD_NONBLOCK), fd;
	uint64_t fdoff, size;
	int efds[3];

	pdev = ifcvf_model_create(&c, err, sizeof(err));
	assert_non_null(pdev);
	assert_int_equal(strncmp(pdev->addr, "emu:", 4), 0);
	assert_int_equal(pdev->ops->dma_map(pdev, 0x10000, a, 0x3000), 0);
	assert_int_equal(pdev->ops->dma_map(pdev, 0x13000, b, 0x1000), 0);
	/* Overlaps are refused, adjacency is fine. */
	assert_int_equal(pdev->ops->dma_map(pdev, 0x12000, b, 0x2000), -EEXIST);
	assert_int_equal(pdev->ops->dma_map(pdev, 0xf000, b, 0x1001), -EEXIST);
	assert_int_equal(pdev->ops->dma_map(pdev, 0x0, b, 0), -EINVAL);
	assert_int_equal(pdev->ops->dma_map(pdev, UINT64_MAX - 10, b, 0x1000), -EINVAL);

	/* Contiguity stops at the mapping's end, even if the next is adjacent. */
	p = emu_dma_translate(pdev, 0x12ff0, 0x100, false, &contig);
	assert_ptr_equal(p, a + 0x2ff0);
	assert_int_equal(contig, 0x10);
	p = emu_dma_translate(pdev, 0x10010, 0x20, true, &contig);
	assert_ptr_equal(p, a + 0x10);
	assert_int_equal(contig, 0x20);
	faults = emu_dma_faults(pdev);
	assert_null(emu_dma_translate(pdev, 0x14000, 4, false, &contig));
	assert_null(emu_dma_translate(pdev, 0xffff, 4, false, &contig));
	assert_int_equal(emu_dma_faults(pdev), faults + 2);

	/* Unmap: partial or unknown ranges change nothing. */
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x11000, 0x1000), -ENOENT);
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x50000, 0x1000), -ENOENT);
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x10000, 0x3800), -ENOENT);
	assert_non_null(emu_dma_translate(pdev, 0x11000, 1, false, NULL));
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x10000, 0x3000), 0);
	assert_null(emu_dma_translate(pdev, 0x10000, 1, false, NULL));
	assert_non_null(emu_dma_translate(pdev, 0x13000, 1, false, NULL));
	/* A range covering whole mappings removes them all. */
	assert_int_equal(pdev->ops->dma_map(pdev, 0x10000, a, 0x3000), 0);
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x0, 0x100000), 0);
	assert_null(emu_dma_translate(pdev, 0x13000, 1, false, NULL));

	/* MSI-X: too many vectors refused; a wired vector's eventfd fires;
	 * nvec 0 disables. The layer keeps its own fd reference. */
	assert_int_equal(pdev->ops->msix_count(pdev), 3u);
	efds[0] = efd;
	efds[1] = -1;
	efds[2] = efd;
	assert_int_equal(pdev->ops->msix_set(pdev, efds, 4), -EINVAL);
	assert_int_equal(pdev->ops->msix_set(pdev, efds, 3), 0);
	assert_int_equal(emu_msix_notify(pdev, 0), 0);
	assert_int_equal(emu_msix_notify(pdev, 1), -ENOENT);
	assert_int_equal(emu_msix_notify(pdev, 3), -ENOENT);
	{
		uint64_t v = 0;

		assert_int_equal(read(efd, &v, 8), 8);
		assert_int_equal(v, 1);
	}
	assert_int_equal(pdev->ops->msix_set(pdev, NULL, 0), 0);
	assert_int_equal(emu_msix_notify(pdev, 0), -ENOENT);

	assert_int_equal(pdev->ops->notify_area(pdev, 0, 0x3000, &fd, &fdoff, &size), -ENOTSUP);
	/* Sized BAR accesses inside the BAR only. */
	{
		uint32_t v;

		assert_int_equal(pdev->ops->bar_read(pdev, 0, 0, &v, 3), -EINVAL);
		assert_int_equal(pdev->ops->bar_read(pdev, 2, 0, &v, 4), -ENODEV);
		assert_int_equal(pdev->ops->bar_read(pdev, 4, IFCVF_LM_BAR_SIZE - 2, &v, 4),
				 -EINVAL);
		assert_int_equal(pdev->ops->bar_read(pdev, 7, 0, &v, 4), -EINVAL);
	}
	uvdpa_pci_dev_release(pdev);
	close(efd);
	free(a);
	free(b);
}

/* ---- Tests: config space and registers ---- */

static void test_config_space(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d;
	uint32_t v, table;

	c.max_vqp = 2;
	d = drv_open(&c);
	assert_int_equal(cfg16(d, PCI_VENDOR_ID), IFCVF_VENDOR_ID);
	assert_int_equal(cfg16(d, PCI_DEVICE_ID), IFCVF_NET_MODERN_DEVICE_ID);
	assert_int_equal(cfg16(d, PCI_SUBSYSTEM_VENDOR_ID), IFCVF_SUBSYS_VENDOR_ID);
	assert_int_equal(cfg16(d, PCI_SUBSYSTEM_ID), IFCVF_NET_SUBSYS_MODERN);
	assert_int_equal(cfg8(d, PCI_REVISION_ID), 1);
	assert_int_equal(cfg32(d, PCI_CLASS_REVISION) >> 8, 0x020000);
	assert_int_equal(d->pdev->id.vendor, IFCVF_VENDOR_ID);
	assert_int_equal(d->pdev->id.subsys_device, IFCVF_NET_SUBSYS_MODERN);

	/* 64-bit memory BARs 0 and 4; the sizing write is harmless. */
	assert_int_equal(cfg32(d, PCI_BASE_ADDRESS_0) & 0x7, PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(cfg32(d, PCI_BASE_ADDRESS_4) & 0x7, PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(d->pdev->ops->bar_size(d->pdev, IFCVF_LM_BAR), IFCVF_LM_BAR_SIZE);
	assert_int_equal(d->pdev->ops->bar_size(d->pdev, 2), 0);
	v = 0xffffffff;
	assert_int_equal(uvdpa_pci_cfg_write(d->pdev, PCI_BASE_ADDRESS_4, &v, 4), 0);
	assert_int_equal(cfg32(d, PCI_BASE_ADDRESS_4) & ~0xfu, (uint32_t)~(IFCVF_LM_BAR_SIZE - 1));
	v = 0;
	uvdpa_pci_cfg_write(d->pdev, PCI_BASE_ADDRESS_4, &v, 4);
	/* Read-only identity. */
	v = 0x12345678;
	uvdpa_pci_cfg_write(d->pdev, PCI_VENDOR_ID, &v, 4);
	assert_int_equal(cfg16(d, PCI_VENDOR_ID), IFCVF_VENDOR_ID);
	assert_int_not_equal(uvdpa_pci_cfg_read(d->pdev, 250, &v, 8), 0);

	/* Vendor caps found by the walk; notify multiplier; MSI-X table size. */
	assert_int_equal(d->notify_mult, 4);
	assert_true(d->notify.len >= d->nvrings * d->notify_mult);
	assert_int_equal(d->nvrings, 4);
	assert_int_equal((cfg16(d, d->msix_cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1,
			 d->nvrings + 1);
	table = cfg32(d, d->msix_cap + PCI_MSIX_TABLE);
	assert_true((table & PCI_MSIX_TABLE_BIR) <= 5);
	assert_true((uint64_t)(table & PCI_MSIX_TABLE_OFFSET) + (d->nvrings + 1) * 16 <=
		    d->pdev->ops->bar_size(d->pdev, table & PCI_MSIX_TABLE_BIR));
	assert_true(d->device.len >= 12);	/* mac, status, max_virtqueue_pairs, mtu */

	/* Device config: MAC, link up, max pairs, MTU. */
	{
		uint8_t mac[6];
		unsigned int i;

		for (i = 0; i < 6; i++)
			mac[i] = uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + i);
		assert_int_equal(mac[0], 0x02);
		assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6),
				 VIRTIO_NET_S_LINK_UP);
		assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 8), 2);
		assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 10), 1500);
	}
	drv_close(d);

	/* Transitional ids on request. */
	c = net_cfg("");
	c.transitional = true;
	d = drv_open(&c);
	assert_int_equal(cfg16(d, PCI_DEVICE_ID), IFCVF_NET_TRANSITIONAL_DEVICE_ID);
	assert_int_equal(cfg16(d, PCI_SUBSYSTEM_ID), IFCVF_NET_SUBSYS_TRANSITIONAL);
	assert_int_equal(cfg8(d, PCI_REVISION_ID), 0);
	drv_close(d);
}

static void test_create_errors(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	char err[256];

	c.max_vqp = 33;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "max_vqp"));
	assert_int_equal(errno, EINVAL);
	c.max_vqp = 2;
	c.device_features = BIT(VIRTIO_F_VERSION_1);
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "MQ"));
	c = net_cfg("");
	c.device_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_GUEST_TSO4);
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not supported"));
	c = net_cfg("bogus");
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "loopback"));
	c = net_cfg("");
	c.type = UVDPA_TYPE_BLK;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "blk"));
	assert_int_equal(errno, EOPNOTSUPP);
	c = net_cfg("");
	c.mtu = 20;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "mtu"));
}

static void test_status_machine(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d = drv_open(&c);
	uint64_t offered = device_features(d);

	assert_true(offered & BIT(VIRTIO_F_VERSION_1));
	assert_true(offered & BIT(VIRTIO_F_ACCESS_PLATFORM));
	assert_true(offered & BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(offered & BIT(VIRTIO_NET_F_MTU));
	assert_false(offered & BIT(VIRTIO_NET_F_MQ));	/* one pair */
	assert_false(offered & BIT(VIRTIO_NET_F_CTRL_VQ));
	assert_int_equal(offered, ifcvf_model_default_features(UVDPA_TYPE_NET, 1));
	common_w32(d, VIRTIO_PCI_COMMON_DFSELECT, 2);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_DF), 0);

	/* FEATURES_OK refused for a feature the device does not offer. */
	assert_false(drv_negotiate(d, BASE_FEATURES | BIT(VIRTIO_NET_F_GUEST_TSO4)));
	assert_int_equal(status(d), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	/* DRIVER_OK without FEATURES_OK does not stick either. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, status(d) | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_false(status(d) & VIRTIO_CONFIG_S_DRIVER_OK);

	/* Accepted; the features freeze. */
	assert_true(drv_negotiate(d, BASE_FEATURES));
	write_features(d, BASE_FEATURES | BIT(VIRTIO_NET_F_MTU));
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_GF), (uint32_t)BASE_FEATURES);
	/* NEEDS_RESET is the device's bit. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, status(d) | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* Reset reads back 0 and clears the driver's state. */
	drv_queue_setup(d, 0, 0);
	drv_driver_ok(d);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(status(d), 0);
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_GF), 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), VIRTIO_MSI_NO_VECTOR);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE), 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_Q_DESCLO), 0);
	drv_close(d);
}

static void test_queue_registers(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d = drv_open(&c);
	uint16_t max;

	assert_true(drv_negotiate(d, BASE_FEATURES));
	/* Vectors beyond the table are refused: read back NO_VECTOR. */
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, (uint16_t)d->nvec);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), VIRTIO_MSI_NO_VECTOR);
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, (uint16_t)(d->nvec - 1));
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), d->nvec - 1);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, 1);
	common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, 0x7ff);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), VIRTIO_MSI_NO_VECTOR);
	common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, 2);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), 2);

	/* Queue size: lowered to a power of two only. */
	max = common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE);
	assert_true(max >= 256 && !(max & (max - 1)));
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, 100);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), max);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, (uint16_t)(max * 2));
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), max);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, 64);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), 64);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_NOFF), 1);

	/* 64-bit ring addresses in 32-bit halves. */
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCLO, 0x89abc000);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCHI, 0x1234567);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_Q_DESCLO), 0x89abc000);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_Q_DESCHI), 0x1234567);

	/* Out of range queue: size 0, writes ignored. */
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, d->nvrings);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), 0);
	common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE), 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SELECT), d->nvrings);

	/* ISR reads are read-to-clear; LM registers read back. */
	(void)uvdpa_pci_bar_read8(d->pdev, d->isr.bar, d->isr.off);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->isr.bar, d->isr.off), 0);
	lm_w32(d, IFCVF_LM_MQ, 1);
	assert_int_equal(lm_r32(d, IFCVF_LM_MQ), 1);
	lm_w32(d, IFCVF_LM_BASE_ADDR_LOW, 0x1000);
	lm_w32(d, IFCVF_LM_BASE_ADDR_HIGH, 0x1000);
	assert_int_equal(lm_r32(d, IFCVF_LM_BASE_ADDR_LOW), 0x1000);
	assert_int_equal(lm_r32(d, IFCVF_LM_BASE_ADDR_HIGH), 0x1000);
	drv_close(d);
}

/* ---- Tests: datapath ---- */

static void test_loopback(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t hdr = 12, flen = 200;
	uint32_t id = 0, len = 0;
	uint8_t *rx;

	drv_start(d, BASE_FEATURES, 2);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	drv_kick(d, 0);
	make_tx(d, BUF_IOVA(1), hdr, flen, 3);
	drv_add_buf(d, 1, BUF_IOVA(1), (uint32_t)(hdr + flen), false);
	drv_kick(d, 1);

	assert_true(drv_get_used(d, 1, &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	assert_true(drv_get_used(d, 0, &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, hdr + flen);
	assert_true(wait_vector(d, 1, TIMEOUT_MS));	/* RX vring 0 -> vector 1 */
	assert_true(wait_vector(d, 2, TIMEOUT_MS));	/* TX vring 1 -> vector 2 */
	rx = gpa(d, BUF_IOVA(0));
	assert_int_equal(rx[10] | rx[11] << 8, 1);	/* num_buffers */
	assert_int_equal(rx[0], 0);
	assert_true(check_frame(rx + hdr, flen, 3));
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 1);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_BYTES), flen);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 1);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_BYTES), flen);
	assert_int_equal(ifcvf_model_reset_stats(d->pdev, 1), 0);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 0);
	{
		struct uvdpa_vq_stats st;

		assert_int_equal(ifcvf_model_get_stats(d->pdev, 2, &st), -EINVAL);
	}
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);
}

/* Back-pressure: TX waits in the ring until RX has a buffer; then a large
 * frame spreads over several mergeable buffers. */
static void test_loopback_backpressure_mrg(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t hdr = 12, flen = 3000;
	uint32_t id = 0, len = 0, total = 0;
	uint8_t *frame = malloc(flen), *rx0;
	unsigned int i;

	drv_start(d, BASE_FEATURES, 2);
	make_tx(d, BUF_IOVA(10), hdr, flen, 9);
	drv_add_buf(d, 1, BUF_IOVA(10), (uint32_t)(hdr + flen), false);
	drv_kick(d, 1);
	usleep(20000);
	assert_int_equal(d->vq[1].used->idx, 0);	/* held: no RX buffer */

	/* 1000-byte buffers: 12 + 3000 bytes need 4 of them. The first one
	 * releases the TX chain; the frame then waits halfway for the rest. */
	drv_add_buf(d, 0, BUF_IOVA(0), 1000, true);
	drv_kick(d, 0);
	assert_true(drv_get_used(d, 1, &id, &len));
	for (i = 0; i < TIMEOUT_MS && stat_of(d, 0, UVDPA_VQ_STAT_OVERRUNS) == 0; i++)
		usleep(1000);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_OVERRUNS), 1);
	assert_int_equal(d->vq[0].used->idx, 0);	/* nothing published yet */
	for (i = 1; i < 4; i++) {
		drv_add_buf(d, 0, BUF_IOVA(i), 1000, true);
		drv_kick(d, 0);
	}
	for (i = 0; i < 4; i++) {
		assert_true(drv_get_used(d, 0, &id, &len));
		assert_int_equal(id, i);
		memcpy(frame + (total ? total - hdr : 0), (uint8_t *)gpa(d, BUF_IOVA(i)) + (i ? 0 : hdr),
		       len - (i ? 0 : hdr));
		total += len;
	}
	assert_int_equal(total, hdr + flen);
	rx0 = gpa(d, BUF_IOVA(0));
	assert_int_equal(rx0[10] | rx0[11] << 8, 4);	/* num_buffers */
	assert_true(check_frame(frame, flen, 9));
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 1);
	free(frame);
	drv_close(d);
}

/* A 0.95 driver behind vhost-user: no VERSION_1, no MRG_RXBUF: 10-byte header. */
static void test_loopback_legacy_header(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t hdr = 10, flen = 64;
	uint32_t len = 0;

	drv_start(d, BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_F_ANY_LAYOUT), 2);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), hdr, flen, 5);
	drv_add_buf(d, 1, BUF_IOVA(1), (uint32_t)(hdr + flen), false);
	drv_kick(d, 0);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, hdr + flen);
	assert_true(check_frame((uint8_t *)gpa(d, BUF_IOVA(0)) + hdr, flen, 5));
	/* Without MRG_RXBUF a frame must fit one buffer. */
	drv_add_buf(d, 0, BUF_IOVA(2), 32, true);
	make_tx(d, BUF_IOVA(3), hdr, flen, 5);
	drv_add_buf(d, 1, BUF_IOVA(3), (uint32_t)(hdr + flen), false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 0);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_ERRORS), 1);
	drv_close(d);
}

/* RING_STATE restored before enable, updated when the queue is disabled. */
static void test_ring_state(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	uint32_t len = 0;
	int i;

	assert_true(drv_negotiate(d, BASE_FEATURES));
	drv_queue_setup(d, 0, ifcvf_ring_state_encode(40, 40));
	drv_queue_setup(d, 1, ifcvf_ring_state_encode(7, 7));
	drv_driver_ok(d);
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), ifcvf_ring_state_encode(7, 7));
	/* Written while running: ignored. */
	lm_w32(d, ifcvf_ring_state_off_net(1), 0);
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), ifcvf_ring_state_encode(7, 7));

	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(1), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 72);
	assert_true(drv_get_used(d, 1, NULL, NULL));
	assert_int_equal(d->vq[0].used->idx, 41);
	assert_int_equal(d->vq[1].used->idx, 8);

	/* The IFCVF stop sequence: vector off, enable=0, poll, read state. */
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	for (i = 0; i < 2; i++) {
		int tries;

		common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)i);
		common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 0);
		common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
		for (tries = 0; tries < 10 && common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE); tries++)
			usleep(10000);
		assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE), 0);
	}
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(0)), ifcvf_ring_state_encode(41, 41));
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), ifcvf_ring_state_encode(8, 8));
	/* A disabled queue no longer moves. */
	drv_add_buf(d, 0, BUF_IOVA(2), 2048, true);
	drv_kick(d, 0);
	usleep(10000);
	assert_int_equal(d->vq[0].used->idx, 41);
	/* Reset starts the next session from 0. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), 0);
	drv_close(d);
}

/* A buffer outside every IOMMU mapping: the queue stops, NEEDS_RESET, the
 * config vector fires, nothing is written; reset recovers. */
static void test_dma_fault(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	struct ifcvf_model_info info;
	uint32_t len = 0;
	int i;

	drv_start(d, BASE_FEATURES, 2);
	drain_vector(d, 0);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	drv_add_buf(d, 1, 0x7000000000ull, 100, false);	/* not mapped */
	drv_kick(d, 1);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	for (i = 0; i < 100 && !(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(uvdpa_pci_bar_read8(d->pdev, d->isr.bar, d->isr.off) & VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(ifcvf_model_get_info(d->pdev, &info), 0);
	assert_true(info.queue_faults >= 1);
	assert_true(info.dma_faults >= 1);
	assert_true(emu_dma_faults(d->pdev) >= 1);
	assert_int_equal(d->vq[1].used->idx, 0);
	assert_int_equal(d->vq[0].used->idx, 0);

	/* Rings themselves unmapped: refused at start, same signalling. */
	assert_true(drv_negotiate(d, BASE_FEATURES));
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_queue_setup(d, 0, 0);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, 1);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCLO, 0);
	common_w32(d, VIRTIO_PCI_COMMON_Q_AVAILLO, 0x2000);
	common_w32(d, VIRTIO_PCI_COMMON_Q_USEDLO, 0x4000);
	common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	drv_driver_ok(d);
	assert_true(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* After a reset the device works again (rings are rewritten only
	 * once the reset stopped the queue that still ran). */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(status(d), 0);
	memset(d->mem, 0, 0x20000);
	drv_start(d, BASE_FEATURES, 2);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(1), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 72);
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);
}

/* Dirty logging: the RX buffer's pages, not the used ring, not the TX buffer. */
static void test_dirty_log(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t log_size = (GUEST_IOVA + GUEST_SIZE) / 4096 / 8;
	uint8_t *log = calloc(1, log_size);
	uint64_t rx_iova = BUF_IOVA(20) + 4096 - 50;	/* straddles two pages */
	uint64_t page;
	uint32_t len = 0;
	size_t i;

	assert_non_null(log);
	assert_int_equal(d->pdev->ops->dma_map(d->pdev, IFCVF_LOG_IOVA, log, log_size), 0);
	drv_start(d, BASE_FEATURES, 2);
	lm_w32(d, IFCVF_LM_BASE_ADDR_LOW, (uint32_t)IFCVF_LOG_IOVA);
	lm_w32(d, IFCVF_LM_BASE_ADDR_HIGH, (uint32_t)(IFCVF_LOG_IOVA >> 32));
	lm_w32(d, IFCVF_LM_END_ADDR_LOW, (uint32_t)(IFCVF_LOG_IOVA + log_size));
	lm_w32(d, IFCVF_LM_END_ADDR_HIGH, (uint32_t)((IFCVF_LOG_IOVA + log_size) >> 32));
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_ENABLE_VF);
	assert_int_equal(lm_r32(d, IFCVF_LM_LOGGING_CTRL), IFCVF_LM_LOGGING_ENABLE_VF);

	drv_add_buf(d, 0, rx_iova, 1024, true);
	make_tx(d, BUF_IOVA(30), 12, 100, 2);
	drv_add_buf(d, 1, BUF_IOVA(30), 112, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 112);
	assert_true(drv_get_used(d, 1, NULL, NULL));

	/* Exactly the two pages of the RX buffer. */
	for (i = 0; i < log_size * 8; i++) {
		bool dirty = log[i / 8] & (1u << (i % 8));

		page = rx_iova / 4096;
		if (dirty != (i == page || i == page + 1))
			fail_msg("page 0x%zx: dirty %d", i, dirty);
	}

	/* Disabled: nothing more is logged. */
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_DISABLE);
	memset(log, 0, log_size);
	drv_add_buf(d, 0, BUF_IOVA(40), 1024, true);
	drv_add_buf(d, 1, BUF_IOVA(30), 112, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, NULL));
	for (i = 0; i < log_size; i++)
		assert_int_equal(log[i], 0);
	drv_close(d);
	free(log);
}

/* A work whose next round blocks for a while (the engine holds its lock for
 * the whole round, as it does while a queue logs a buffer). */
struct slow_work {
	struct ifcvf_work work;
	int armed, in_round;
};

static unsigned int slow_work_run(struct ifcvf_work *w, bool polling)
{
	struct slow_work *s = w->ctx;

	(void)polling;
	if (__atomic_exchange_n(&s->armed, 0, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&s->in_round, 1, __ATOMIC_SEQ_CST);
		usleep(200 * 1000);
		__atomic_store_n(&s->in_round, 0, __ATOMIC_SEQ_CST);
	}
	return 0;
}

static const struct ifcvf_work_ops slow_work_ops = { .run = slow_work_run };

/* Stopping dirty logging waits for the engine round under way: after the
 * write the driver unmaps and frees the bitmap, which a round that checked
 * LOGGING_CTRL before the write would still set bits in (a DMA fault that
 * breaks the device, or a write to freed memory). */
static void test_dirty_log_stop_is_synchronous(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	struct slow_work s = { .work = { .ops = &slow_work_ops } };
	int i;

	assert_int_equal(ifcvf_engine_pool_threads(), 1);	/* same engine as d's queues */
	s.work.ctx = &s;
	assert_int_equal(ifcvf_work_attach(&s.work), 0);
	drv_start(d, BASE_FEATURES, 2);
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_ENABLE_VF);

	__atomic_store_n(&s.armed, 1, __ATOMIC_SEQ_CST);
	ifcvf_work_kick(&s.work);
	for (i = 0; i < TIMEOUT_MS && !__atomic_load_n(&s.in_round, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&s.in_round, __ATOMIC_SEQ_CST), 1);
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_DISABLE);
	assert_int_equal(__atomic_load_n(&s.in_round, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(lm_r32(d, IFCVF_LM_LOGGING_CTRL), IFCVF_LM_LOGGING_DISABLE);

	ifcvf_work_detach(&s.work);
	drv_close(d);
}

/* Two functions wired together: TX of one is RX of the other. */
static void test_pair(void **state)
{
	struct ifcvf_model_config c = net_cfg("pair:t1");
	struct drv *a = drv_open(&c), *b;
	struct ifcvf_model_config c3 = net_cfg("pair:t1");
	char err[256];
	uint32_t len = 0;

	b = drv_open(&c);
	/* A third end is refused. */
	assert_null(ifcvf_model_create(&c3, err, sizeof(err)));
	assert_non_null(strstr(err, "two"));
	assert_int_equal(errno, EBUSY);

	drv_start(a, BASE_FEATURES, 2);
	drv_start(b, BASE_FEATURES & ~BIT(VIRTIO_NET_F_MRG_RXBUF), 2);
	drv_add_buf(b, 0, BUF_IOVA(0), 2048, true);
	drv_kick(b, 0);
	make_tx(a, BUF_IOVA(1), 12, 300, 4);
	drv_add_buf(a, 1, BUF_IOVA(1), 312, false);
	drv_kick(a, 1);
	assert_true(drv_get_used(b, 0, NULL, &len));
	assert_int_equal(len, 312);
	assert_true(check_frame((uint8_t *)gpa(b, BUF_IOVA(0)) + 12, 300, 4));
	assert_true(drv_get_used(a, 1, NULL, NULL));
	assert_int_equal(a->vq[0].used->idx, 0);	/* nothing came back to a */
	assert_int_equal(stat_of(a, 1, UVDPA_VQ_STAT_PACKETS), 1);
	assert_int_equal(stat_of(b, 0, UVDPA_VQ_STAT_PACKETS), 1);

	/* With b gone, a's TX is dropped, not stuck. */
	drv_close(b);
	make_tx(a, BUF_IOVA(2), 12, 60, 4);
	drv_add_buf(a, 1, BUF_IOVA(2), 72, false);
	drv_kick(a, 1);
	assert_true(drv_get_used(a, 1, NULL, NULL));
	assert_int_equal(stat_of(a, 1, UVDPA_VQ_STAT_DROPS), 1);
	/* And the name is free for a new end. */
	b = drv_open(&c);
	drv_close(b);
	drv_close(a);
}

static void test_sink_source(void **state)
{
	struct ifcvf_model_config c = net_cfg("sink");
	struct drv *d = drv_open(&c);
	uint32_t len;
	unsigned int i;

	drv_start(d, BASE_FEATURES, 2);
	for (i = 0; i < 16; i++) {
		make_tx(d, BUF_IOVA(i), 12, 100 + i, 1);
		drv_add_buf(d, 1, BUF_IOVA(i), 112 + i, false);
	}
	drv_kick(d, 1);
	for (i = 0; i < 16; i++)
		assert_true(drv_get_used(d, 1, NULL, NULL));
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 16);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_BYTES), 16 * 100 + 120);
	drv_close(d);

	c = net_cfg("source:128");
	d = drv_open(&c);
	drv_start(d, BASE_FEATURES, 2);
	for (i = 0; i < 8; i++)
		drv_add_buf(d, 0, BUF_IOVA(i), 2048, true);
	drv_kick(d, 0);
	for (i = 0; i < 8; i++) {
		uint8_t *f = (uint8_t *)gpa(d, BUF_IOVA(i)) + 12;

		assert_true(drv_get_used(d, 0, NULL, &len));
		assert_int_equal(len, 12 + 128);
		assert_int_equal(f[0], 0x02);			/* to our MAC */
		assert_int_equal(f[12] << 8 | f[13], 0x88b5);
		assert_int_equal(f[17], i);			/* sequence */
	}
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 8);
	/* Link down: no frames; up again: more buffers, more frames. */
	assert_int_equal(ifcvf_model_set_link(d->pdev, false), 0);
	drv_add_buf(d, 0, BUF_IOVA(9), 2048, true);
	drv_kick(d, 0);
	usleep(20000);
	assert_int_equal(d->vq[0].used->idx, 8);
	assert_int_equal(ifcvf_model_set_link(d->pdev, true), 0);
	drv_kick(d, 0);
	assert_true(drv_get_used(d, 0, NULL, NULL));
	drv_close(d);

	/* A malformed RX ring (avail idx far beyond the queue size) stops the
	 * generator's queue with NEEDS_RESET instead of stalling silently. */
	c = net_cfg("source");
	d = drv_open(&c);
	drv_start(d, BASE_FEATURES, 2);
	__atomic_store_n(&d->vq[0].avail->idx, (uint16_t)(QSIZE + 10), __ATOMIC_RELEASE);
	drv_kick(d, 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	assert_true(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);

	c = net_cfg("source:10");
	{
		char err[256];

		assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	}
}

static void test_link_and_mac(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d;
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct ifcvf_model_info info;
	uint8_t gen;
	uint32_t len;

	memcpy(c.mac, mac, 6);
	d = drv_open(&c);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 5), 0x56);
	drv_start(d, BASE_FEATURES, 2);
	drain_vector(d, 0);
	gen = common_r8(d, VIRTIO_PCI_COMMON_CFGGENERATION);

	assert_int_equal(ifcvf_model_set_link(d->pdev, false), 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	assert_int_not_equal(common_r8(d, VIRTIO_PCI_COMMON_CFGGENERATION), gen);
	assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6), 0);
	assert_int_equal(ifcvf_model_get_info(d->pdev, &info), 0);
	assert_false(info.link_up);
	assert_string_equal(info.port, "loopback");
	/* Link down: TX is dropped. */
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(1), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 1, NULL, NULL));
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_DROPS), 1);
	/* Same state again: no interrupt. */
	assert_int_equal(ifcvf_model_set_link(d->pdev, false), 0);
	assert_false(wait_vector(d, 0, 20));

	assert_int_equal(ifcvf_model_set_link(d->pdev, true), 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	make_tx(d, BUF_IOVA(2), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(2), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 72);

	assert_int_equal(ifcvf_model_set_mac(d->pdev, (const uint8_t[6]){ 2, 0, 0, 0, 0, 9 }), 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 5), 9);
	/* announce needs GUEST_ANNOUNCE negotiated */
	assert_int_equal(ifcvf_model_announce(d->pdev), -EOPNOTSUPP);
	{
		struct uvdpa_pci_dev not_a_model = { .ops = d->pdev->ops };

		assert_int_equal(ifcvf_model_set_link(&not_a_model, true), -ENODEV);
	}
	drv_close(d);
}

/* Control queue: MQ pairs, MAC, announce ack, a bad command. */
static void cvq_cmd(struct drv *d, uint16_t q, const uint8_t *cmd, size_t len, uint8_t expect)
{
	uint8_t *out = gpa(d, BUF_IOVA(50)), *ack = gpa(d, BUF_IOVA(51));
	struct drv_vq *vq = &d->vq[q];
	uint16_t slot = vq->avail_idx % vq->size, slot2 = (uint16_t)((slot + 1) % vq->size);
	uint32_t len_used;

	memcpy(out, cmd, len);
	*ack = 0xee;
	/* Two-descriptor chain: command, then the ack byte. */
	vq->desc[slot] = (struct vring_desc){ .addr = BUF_IOVA(50), .len = (uint32_t)len,
					       .flags = VRING_DESC_F_NEXT, .next = slot2 };
	vq->desc[slot2] = (struct vring_desc){ .addr = BUF_IOVA(51), .len = 1,
						.flags = VRING_DESC_F_WRITE };
	vq->avail->ring[vq->avail_idx % vq->size] = slot;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	drv_kick(d, q);
	assert_true(drv_get_used(d, q, NULL, &len_used));
	assert_int_equal(len_used, 1);
	assert_int_equal(*ack, expect);
}

static void test_control_queue(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	uint64_t f = BASE_FEATURES | BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ) |
		     BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) | BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) |
		     BIT(VIRTIO_NET_F_CTRL_RX);
	struct drv *d;
	const uint8_t pairs2[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	const uint8_t pairs9[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 9, 0 };
	const uint8_t mac[] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 2, 1, 2, 3, 4, 5 };
	const uint8_t promisc_off[] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };
	const uint8_t ack[] = { VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK };
	const uint8_t bogus[] = { 77, 1 };
	uint32_t len;
	unsigned int q;

	c.max_vqp = 2;
	c.device_features = ifcvf_model_default_features(UVDPA_TYPE_NET, 2) | f;
	d = drv_open(&c);
	assert_int_equal(d->nvrings, 5);
	assert_true(drv_negotiate(d, f));
	for (q = 0; q < 5; q++)
		drv_queue_setup(d, (uint16_t)q, 0);
	drv_driver_ok(d);

	cvq_cmd(d, 4, pairs2, sizeof(pairs2), VIRTIO_NET_OK);
	cvq_cmd(d, 4, pairs9, sizeof(pairs9), VIRTIO_NET_ERR);
	cvq_cmd(d, 4, mac, sizeof(mac), VIRTIO_NET_OK);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 5), 5);
	cvq_cmd(d, 4, bogus, sizeof(bogus), VIRTIO_NET_ERR);
	assert_int_equal(ifcvf_model_announce(d->pdev), 0);
	assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6),
			 VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	cvq_cmd(d, 4, ack, sizeof(ack), VIRTIO_NET_OK);
	assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6),
			 VIRTIO_NET_S_LINK_UP);
	assert_int_equal(stat_of(d, 4, UVDPA_VQ_STAT_REQUESTS), 5);
	assert_int_equal(stat_of(d, 4, UVDPA_VQ_STAT_SUCCESSES), 3);
	assert_int_equal(stat_of(d, 4, UVDPA_VQ_STAT_ERRORS), 2);

	/* RX filter: promiscuous off, a frame to another MAC is dropped, one
	 * to ours (02:01:02:03:04:05 now) passes. Pair 1 this time. */
	cvq_cmd(d, 4, promisc_off, sizeof(promisc_off), VIRTIO_NET_OK);
	drv_add_buf(d, 2, BUF_IOVA(0), 2048, true);
	drv_add_buf(d, 2, BUF_IOVA(1), 2048, true);
	make_tx(d, BUF_IOVA(2), 12, 60, 1);	/* dst 01:08:...: multicast, not ours */
	drv_add_buf(d, 3, BUF_IOVA(2), 72, false);
	drv_kick(d, 3);
	assert_true(drv_get_used(d, 3, NULL, NULL));
	memcpy((uint8_t *)gpa(d, BUF_IOVA(3)) + 12, mac + 2, 6);
	memset((uint8_t *)gpa(d, BUF_IOVA(3)), 0, 12);
	drv_add_buf(d, 3, BUF_IOVA(3), 72, false);
	drv_kick(d, 3);
	assert_true(drv_get_used(d, 2, NULL, &len));
	assert_int_equal(len, 72);
	assert_int_equal(stat_of(d, 2, UVDPA_VQ_STAT_DROPS), 1);
	assert_int_equal(stat_of(d, 2, UVDPA_VQ_STAT_PACKETS), 1);

	/* Reset restores the administrator's MAC. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 1), 0x1a);
	drv_close(d);
}

/* The PCI configuration access capability reaches BAR registers too. */
static void test_pci_cfg_window(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d = drv_open(&c);
	unsigned int pos = cfg8(d, PCI_CAPABILITY_LIST), cfgcap = 0;
	uint32_t v;
	uint8_t b;

	for (; pos; pos = cfg8(d, pos + 1))
		if (cfg8(d, pos) == PCI_CAP_ID_VNDR &&
		    cfg8(d, pos + VIRTIO_PCI_CAP_CFG_TYPE) == VIRTIO_PCI_CAP_PCI_CFG)
			cfgcap = pos;
	assert_int_not_equal(cfgcap, 0);
	b = d->common.bar;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_BAR, &b, 1);
	v = d->common.off + VIRTIO_PCI_COMMON_NUMQ;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_OFFSET, &v, 4);
	v = 2;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_LENGTH, &v, 4);
	v = 0;
	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, cfgcap + 16, &v, 4), 0);
	assert_int_equal(v & 0xffff, d->nvrings);
	/* And writes: device_status through the window. */
	v = d->common.off + VIRTIO_PCI_COMMON_STATUS;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_OFFSET, &v, 4);
	v = 1;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_LENGTH, &v, 4);
	v = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + 16, &v, 1);
	assert_int_equal(status(d), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	drv_close(d);
}

/* Thread count does not grow with devices; many devices run at once. */
static void test_engine_threads_fixed(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d[6];
	int before = thread_count();
	unsigned int i;
	uint32_t len;

	assert_int_equal(ifcvf_engine_pool_threads(), 1);
	assert_int_equal(ifcvf_engine_pool_init(2, false), -EALREADY);
	for (i = 0; i < 6; i++) {
		c.max_vqp = 4;
		c.device_features = ifcvf_model_default_features(UVDPA_TYPE_NET, 4);
		d[i] = drv_open(&c);
		drv_start(d[i], BASE_FEATURES, 2);
	}
	assert_int_equal(thread_count(), before);
	for (i = 0; i < 6; i++) {
		drv_add_buf(d[i], 0, BUF_IOVA(0), 2048, true);
		make_tx(d[i], BUF_IOVA(1), 12, 60, (uint8_t)i);
		drv_add_buf(d[i], 1, BUF_IOVA(1), 72, false);
		drv_kick(d[i], 1);
	}
	for (i = 0; i < 6; i++) {
		assert_true(drv_get_used(d[i], 0, NULL, &len));
		assert_int_equal(len, 72);
		assert_true(check_frame((uint8_t *)gpa(d[i], BUF_IOVA(0)) + 12, 60, (uint8_t)i));
	}
	for (i = 0; i < 6; i++)
		drv_close(d[i]);
	assert_int_equal(thread_count(), before);
}

/* Streams total frames through a loopback function, up to 64 in flight,
 * checking every one. */
static void loopback_stream(unsigned int total)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	unsigned int sent = 0, rxd = 0;
	int spins = 0;

	drv_start(d, BASE_FEATURES | BIT(VIRTIO_RING_F_INDIRECT_DESC), 2);
	while (rxd < total && spins < 200000) {
		while (sent < total && sent - rxd < 64) {
			unsigned int slot = sent % 64;

			drv_add_buf(d, 0, BUF_IOVA(slot), 2048, true);
			make_tx(d, BUF_IOVA(64 + slot), 12, 64 + (sent % 100), (uint8_t)sent);
			drv_add_buf(d, 1, BUF_IOVA(64 + slot), 12 + 64 + (sent % 100), false);
			sent++;
		}
		drv_kick(d, 0);
		drv_kick(d, 1);
		while (__atomic_load_n(&d->vq[0].used->idx, __ATOMIC_ACQUIRE) != d->vq[0].last_used) {
			uint32_t len = d->vq[0].used->ring[d->vq[0].last_used % QSIZE].len;
			unsigned int slot = rxd % 64;

			assert_int_equal(len, 12 + 64 + (rxd % 100));
			assert_true(check_frame((uint8_t *)gpa(d, BUF_IOVA(slot)) + 12, 64 + (rxd % 100),
						(uint8_t)rxd));
			d->vq[0].last_used++;
			rxd++;
		}
		spins++;
		usleep(10);
	}
	assert_int_equal(rxd, total);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), total);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), total);
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);
}

static void test_loopback_stream(void **state)
{
	loopback_stream(5000);
}

/* The other engine modes: event-driven without a poll window (notifications
 * always on), and pure polling on two threads. */
static void test_engine_modes(void **state)
{
	ifcvf_engine_pool_fini();
	assert_int_equal(ifcvf_engine_pool_threads(), 0);

	assert_int_equal(ifcvf_engine_pool_init(1, false), 0);
	ifcvf_engine_pool_set_poll_window(0);
	loopback_stream(2000);
	ifcvf_engine_pool_fini();

	assert_int_equal(ifcvf_engine_pool_init(2, true), 0);
	assert_int_equal(ifcvf_engine_pool_threads(), 2);
	loopback_stream(2000);
	ifcvf_engine_pool_fini();

	ifcvf_engine_pool_set_poll_window(50);
	assert_int_equal(ifcvf_engine_pool_init(1, false), 0);
}

/* tap: guest TX reaches the host interface, host frames reach guest RX.
 * Needs CAP_NET_ADMIN and CAP_NET_RAW; skipped without them. */
#define TAP_NAME "uvdpamodel0"
#define TAP_NAME_VNET "uvdpamodel1"	/* a closed tap disappears asynchronously */
#define TAP_ETHERTYPE_TX 0x88b5
#define TAP_ETHERTYPE_RX 0x88b6

static bool tap_up(const char *name)
{
	char path[128];
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FILE *f;
	bool ok;

	/* No IPv6 autoconfiguration chatter on the test link. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	if (s < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags |= IFF_UP;
	ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
	close(s);
	return ok;
}

static void tap_roundtrip(const char *name, bool vnet_hdr)
{
	struct ifcvf_model_config c = net_cfg("");
	struct sockaddr_ll sll;
	uint8_t buf[2048], *tx, *rx;
	struct drv *d;
	struct uvdpa_pci_dev *pdev;
	char err[256];
	bool seen = false;
	uint32_t len;
	int ps, i;

	snprintf(c.port, sizeof(c.port), "tap:%s%s", name, vnet_hdr ? ",vnet_hdr" : "");
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (ps < 0) {
		printf("skipped: AF_PACKET: %s\n", strerror(errno));
		skip();
	}
	/* A tap of the same name closed by an earlier run may still be on its
	 * way out of the kernel: retry while it is busy. */
	for (i = 0; i < 40; i++) {
		pdev = ifcvf_model_create(&c, err, sizeof(err));
		if (pdev || !strstr(err, "busy"))
			break;
		usleep(50000);
	}
	if (!pdev) {
		printf("skipped: %s\n", err);
		close(ps);
		skip();
	}
	d = drv_attach(pdev);
	assert_true(tap_up(name));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(name);
	assert_int_not_equal(sll.sll_ifindex, 0);
	assert_int_equal(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);
	drv_start(d, BASE_FEATURES, 2);

	/* Guest -> host. */
	tx = gpa(d, BUF_IOVA(1));
	memset(tx, 0, 12 + 100);
	memset(tx + 12, 0xff, 6);
	tx[12 + 6] = 0x02;
	tx[12 + 12] = TAP_ETHERTYPE_TX >> 8;
	tx[12 + 13] = TAP_ETHERTYPE_TX & 0xff;
	memcpy(tx + 12 + 14, "uvdpa-tap-tx", 12);
	drv_add_buf(d, 1, BUF_IOVA(1), 12 + 100, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 1, NULL, NULL));
	for (i = 0; i < 50 && !seen; i++) {
		struct pollfd pfd = { .fd = ps, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = recv(ps, buf, sizeof(buf), 0);
		seen = n == 100 && !memcmp(buf + 14, "uvdpa-tap-tx", 12) &&
		       buf[12] == (TAP_ETHERTYPE_TX >> 8);
	}
	assert_true(seen);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 1);

	/* Host -> guest (skipping anything the kernel sends meanwhile). */
	for (i = 0; i < 8; i++)
		drv_add_buf(d, 0, BUF_IOVA(10 + i), 2048, true);
	drv_kick(d, 0);
	memset(buf, 0, 80);
	buf[0] = 0x02;
	buf[6] = 0x02;
	buf[11] = 0x77;
	buf[12] = TAP_ETHERTYPE_RX >> 8;
	buf[13] = TAP_ETHERTYPE_RX & 0xff;
	memcpy(buf + 14, "uvdpa-tap-rx", 12);
	assert_int_equal(send(ps, buf, 80, 0), 80);
	seen = false;
	for (i = 0; i < 8 && !seen; i++) {
		if (!drv_get_used(d, 0, NULL, &len))
			break;
		rx = (uint8_t *)gpa(d, BUF_IOVA(10 + i)) + 12;
		seen = len == 12 + 80 && !memcmp(rx + 14, "uvdpa-tap-rx", 12);
	}
	assert_true(seen);
	close(ps);
	drv_close(d);
}

static void test_tap(void **state)
{
	tap_roundtrip(TAP_NAME, false);
	tap_roundtrip(TAP_NAME_VNET, true);
}

static int group_setup(void **state)
{
	return ifcvf_engine_pool_init(1, false);
}

static int group_teardown(void **state)
{
	ifcvf_engine_pool_fini();
	return ifcvf_engine_pool_threads() == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emu_iommu),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_status_machine),
		cmocka_unit_test(test_queue_registers),
		cmocka_unit_test(test_pci_cfg_window),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_loopback_backpressure_mrg),
		cmocka_unit_test(test_loopback_legacy_header),
		cmocka_unit_test(test_ring_state),
		cmocka_unit_test(test_dma_fault),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_dirty_log_stop_is_synchronous),
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_sink_source),
		cmocka_unit_test(test_link_and_mac),
		cmocka_unit_test(test_control_queue),
		cmocka_unit_test(test_engine_threads_fixed),
		cmocka_unit_test(test_loopback_stream),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_engine_modes),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
