/* PCI access ops: how a driver reaches a PCI function, whether it is a real
 * function through VFIO (src/pci/vfio.c) or an emulated one (src/pci/emu.c).
 * The ifcvf driver only ever talks to a function through these. */
#ifndef UVDPA_PCI_H
#define UVDPA_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "uvdpa/vdpa.h"

#define UVDPA_PCI_NUM_BARS 6

struct uvdpa_pci_dev;

struct uvdpa_pci_dev_ops {
	/* Configuration space, any length. */
	int (*cfg_read)(struct uvdpa_pci_dev *pdev, uint32_t off, void *buf, uint32_t len);
	int (*cfg_write)(struct uvdpa_pci_dev *pdev, uint32_t off, const void *buf, uint32_t len);
	/* Sized (1, 2, 4 or 8 bytes) little-endian accesses to a memory BAR. */
	int (*bar_read)(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, void *buf, uint32_t len);
	int (*bar_write)(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, const void *buf,
			 uint32_t len);
	uint64_t (*bar_size)(struct uvdpa_pci_dev *pdev, unsigned int bar);	/* 0: no such BAR */
	/* Wires MSI-X vector i to eventfd efds[i] (-1: leave vector i unwired).
	 * nvec == 0 disables MSI-X. */
	int (*msix_set)(struct uvdpa_pci_dev *pdev, const int *efds, unsigned int nvec);
	unsigned int (*msix_count)(struct uvdpa_pci_dev *pdev);
	/* IOMMU: the function's DMA to [iova, iova+size) reaches vaddr. */
	int (*dma_map)(struct uvdpa_pci_dev *pdev, uint64_t iova, void *vaddr, uint64_t size);
	int (*dma_unmap)(struct uvdpa_pci_dev *pdev, uint64_t iova, uint64_t size);
	/* The page holding BAR offset off as an fd another process can mmap (a
	 * vhost-user host notifier). -ENOTSUP when the function can't. */
	int (*notify_area)(struct uvdpa_pci_dev *pdev, unsigned int bar, uint64_t off, int *fd,
			   uint64_t *fd_offset, uint64_t *size);
	/* Optional: per-queue counters the function itself keeps (an emulated
	 * function's model does; a real one through VFIO has none: NULL). */
	int (*queue_stats)(struct uvdpa_pci_dev *pdev, uint16_t queue, struct uvdpa_vq_stats *st);
	int (*queue_stats_reset)(struct uvdpa_pci_dev *pdev, uint16_t queue);
	/* Optional: the highest window of IOVAs the function's IOMMU can map
	 * ([*first, *last]); -ENOTSUP (or no op) when it does not say, which
	 * means all 64 bits. */
	int (*iova_range)(struct uvdpa_pci_dev *pdev, uint64_t *first, uint64_t *last);
	/* Optional: a net function that can put a frame on its own wire sends
	 * a RARP for mac (after a migration, for a guest that cannot announce
	 * itself). An emulated function can; an IFCVF cannot: NULL. */
	int (*announce)(struct uvdpa_pci_dev *pdev, const uint8_t mac[6]);
	void (*release)(struct uvdpa_pci_dev *pdev);
};

struct uvdpa_pci_dev {
	char addr[32];		/* "0000:06:00.3", or "emu:N" for emulated functions */
	struct uvdpa_pci_id id;
	const struct uvdpa_pci_dev_ops *ops;
	void *priv;		/* the access layer's */
};

static inline int uvdpa_pci_cfg_read(struct uvdpa_pci_dev *p, uint32_t off, void *buf, uint32_t len)
{
	return p->ops->cfg_read(p, off, buf, len);
}

static inline int uvdpa_pci_cfg_write(struct uvdpa_pci_dev *p, uint32_t off, const void *buf, uint32_t len)
{
	return p->ops->cfg_write(p, off, buf, len);
}

#define PCI_BAR_ACCESSORS(bits)                                                                   \
	static inline uint##bits##_t uvdpa_pci_bar_read##bits(struct uvdpa_pci_dev *p, unsigned int bar,     \
							uint64_t off)                             \
	{                                                                                         \
		uint##bits##_t v = (uint##bits##_t)~0ull;                                         \
		p->ops->bar_read(p, bar, off, &v, sizeof(v));                                     \
		return v;                                                                         \
	}                                                                                         \
	static inline void uvdpa_pci_bar_write##bits(struct uvdpa_pci_dev *p, unsigned int bar, uint64_t off, \
					       uint##bits##_t v)                                  \
	{                                                                                         \
		p->ops->bar_write(p, bar, off, &v, sizeof(v));                                    \
	}
PCI_BAR_ACCESSORS(8)
PCI_BAR_ACCESSORS(16)
PCI_BAR_ACCESSORS(32)
#undef PCI_BAR_ACCESSORS

/* The virtio device type (1 net, 2 blk, ...) that virtio PCI ids name, or 0
 * for ids that are not virtio's. */
int uvdpa_pci_virtio_device_id(const struct uvdpa_pci_id *id);

/* Opens a function bound to vfio-pci ("0000:06:00.3") with its own VFIO
 * container. err gets a message that says what to fix. */
struct uvdpa_pci_dev *uvdpa_pci_vfio_open(const char *addr, char *err, size_t errlen);
void uvdpa_pci_dev_release(struct uvdpa_pci_dev *pdev);

/* The pci/DDDD:BB:DD.F management devices: registers one for each function
 * bound to vfio-pci (under sysfs_root, normally "/sys") that a registered
 * driver matches; `dev add` on it probes the function through the core.
 * Returns how many were added, or a negative errno with err set. */
int uvdpa_pci_mgmtdev_scan(const char *sysfs_root, char *err, size_t errlen);
/* Deletes their devices and unregisters them all. */
void uvdpa_pci_mgmtdev_fini(void);

#endif
