/* Emulated PCI functions: the access layer between a driver (through
 * struct uvdpa_pci_dev ops) and a device model. It owns the function's IOMMU table
 * (filled by dma_map/unmap) and MSI-X wiring; the model calls back to
 * translate DMA and to raise vectors. A DMA to an unmapped IOVA is a fault:
 * counted, and reported to the model as NULL. */
#ifndef UVDPA_PCI_EMU_H
#define UVDPA_PCI_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvdpa/pci.h"

/* What a device model implements. Called from the driver's threads (control
 * thread, relay threads): the model does its own locking. */
struct emu_model_ops {
	int (*cfg_read)(void *model, uint32_t off, void *buf, uint32_t len);
	int (*cfg_write)(void *model, uint32_t off, const void *buf, uint32_t len);
	int (*bar_read)(void *model, unsigned int bar, uint64_t off, void *buf, uint32_t len);
	int (*bar_write)(void *model, unsigned int bar, uint64_t off, const void *buf, uint32_t len);
	uint64_t (*bar_size)(void *model, unsigned int bar);
	unsigned int (*msix_count)(void *model);
	/* Optional: the model's per-queue counters (uvdpa_pci_dev_ops.queue_stats). */
	int (*queue_stats)(void *model, uint16_t queue, struct uvdpa_vq_stats *st);
	int (*queue_stats_reset)(void *model, uint16_t queue);
	/* Optional: uvdpa_pci_dev_ops.announce. */
	int (*announce)(void *model, const uint8_t mac[6]);
	/* The emu layer is going away: stop using it, free the model. */
	void (*destroy)(void *model);
};

/* Creates an emulated function; addr "emu:N". The model is destroyed with
 * the function (uvdpa_pci_dev_release). */
struct uvdpa_pci_dev *emu_pci_create(const char *addr, const struct uvdpa_pci_id *id,
			       const struct emu_model_ops *ops, void *model);

/* For the model (any thread): translates a device DMA. Returns the host
 * pointer and the contiguous bytes in *contig (<= len), or NULL for a fault
 * (unmapped IOVA), which is counted. */
void *emu_dma_translate(struct uvdpa_pci_dev *pdev, uint64_t iova, uint64_t len, bool write,
			uint64_t *contig);
/* For the model (any thread): a hint that the device will soon access iova;
 * brings it into the cache when mapped. Never a fault. */
void emu_dma_prefetch(struct uvdpa_pci_dev *pdev, uint64_t iova, bool write);
/* Raises MSI-X vector (signals its eventfd, if wired and MSI-X enabled). */
int emu_msix_notify(struct uvdpa_pci_dev *pdev, unsigned int vector);
uint64_t emu_dma_faults(struct uvdpa_pci_dev *pdev);

#endif
