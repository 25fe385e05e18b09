/* The virtio 1.0 modern PCI interface of an IFCVF (or any virtio-pci)
 * function, reached only through struct uvdpa_pci_dev ops: capability discovery,
 * feature negotiation, the start/stop sequences, per-queue enable/disable,
 * doorbells, device config and the IFCVF live-migration BAR. No threads and
 * no vhost-user here; ifcvf_vdpa.c drives it. */
#ifndef UVDPA_IFCVF_HW_H
#define UVDPA_IFCVF_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/ifcvf/ifcvf_regs.h"
#include "uvdpa/pci.h"
#include "uvdpa/vdpa.h"

/* Where one virtio structure lives. */
struct ifcvf_region {
	bool present;
	uint8_t bar;
	uint32_t off, len;
	uint8_t cap_pos;	/* config-space offset of its capability */
};

struct ifcvf_caps {
	struct ifcvf_region common, notify, isr, device;
	struct ifcvf_region inflight;	/* optional: uvdpa's extension (ifcvf_regs.h) */
	uint32_t notify_off_multiplier;
};

/* One vring as the device sees it. */
struct ifcvf_vring {
	uint64_t desc, avail, used;	/* IOVAs (the guest physical addresses) */
	uint16_t size;
	uint16_t last_avail_idx, last_used_idx;
	bool enabled;
};

struct ifcvf_hw {
	struct uvdpa_pci_dev *pdev;
	struct ifcvf_caps caps;
	int virtio_id;			/* 1 net, 2 blk */
	bool has_lm;			/* an IFCVF live-migration BAR is usable */
	uint64_t device_features;
	uint16_t num_queues;		/* vrings, capped at IFCVF_MAX_VRINGS */
	uint16_t queue_size_max[IFCVF_MAX_VRINGS];
	/* BAR offset of each queue's doorbell: fixed after init, so the relay
	 * threads may ring doorbells while the control thread programs the
	 * common config. */
	uint64_t notify_addr[IFCVF_MAX_VRINGS];
};

#define IFCVF_VIRTIO_ID_NET 1
#define IFCVF_VIRTIO_ID_BLK 2

/* Walks the capability list (loop-protected) and keeps the first usable
 * COMMON, NOTIFY, ISR and DEVICE capabilities. A capability with a BAR above
 * 5 or a range outside its BAR is skipped; all four types are required.
 * -ENODEV with err saying which is missing and why. */
int ifcvf_caps_parse(struct uvdpa_pci_dev *pdev, struct ifcvf_caps *caps, char *err, size_t errlen);


/* LM BAR offset of vring q's RING_STATE slot for a device type. */
unsigned int ifcvf_ring_state_off(int virtio_id, unsigned int q);

/* Reads capabilities, device type, features and queues. lm_capable: the
 * function is an IFCVF whose BAR4 is the live-migration BAR (a generic
 * virtio-pci BAR4 is something else); has_lm is set when that BAR exists and
 * covers every queue's slot. -ENODEV / -EIO with err filled. */
int ifcvf_hw_init(struct ifcvf_hw *hw, struct uvdpa_pci_dev *pdev, bool lm_capable, char *err,
		  size_t errlen);

uint64_t ifcvf_hw_read_features(struct ifcvf_hw *hw);
/* The inflight extension (caps.inflight present): where the function
 * records the chains it holds, programmed before the start; off clears it.
 * -ENOTSUP without the extension. */
int ifcvf_hw_inflight_set(struct ifcvf_hw *hw, uint64_t iova, uint32_t stride, uint16_t queue_size,
			  uint16_t num_queues);
void ifcvf_hw_inflight_off(struct ifcvf_hw *hw);
uint8_t ifcvf_hw_get_status(struct ifcvf_hw *hw);
/* status = 0, then waits (bounded) until the device reads back 0. */
int ifcvf_hw_reset(struct ifcvf_hw *hw);

/* The start sequence for the enabled rings of rings[0..nrings): reset, ACK,
 * DRIVER, features, FEATURES_OK (checked), msix_config = 0, each enabled
 * queue programmed (addresses, size, ring state when has_lm, vector q + 1,
 * enable), the MQ register, DRIVER_OK. Any failure resets the device.
 * -EIO when the device refuses features or a vector, -EINVAL for a ring the
 * device cannot take, -ETIMEDOUT when it does not reset. */
int ifcvf_hw_start(struct ifcvf_hw *hw, uint64_t features, const struct ifcvf_vring *rings,
		   unsigned int nrings);
/* The stop sequence. With has_lm, the enabled rings' last_avail_idx and
 * last_used_idx are read back from RING_STATE before the reset. */
void ifcvf_hw_stop(struct ifcvf_hw *hw, struct ifcvf_vring *rings, unsigned int nrings);

/* One queue of a running device (IFCVF only: virtio 1.0 has no way to stop
 * or start a single queue after DRIVER_OK). Disable saves the ring state in
 * r (has_lm). */
int ifcvf_hw_queue_enable(struct ifcvf_hw *hw, unsigned int q, const struct ifcvf_vring *r);
int ifcvf_hw_queue_disable(struct ifcvf_hw *hw, unsigned int q, struct ifcvf_vring *r);
/* RING_STATE of queue q as the device reports it, also while it runs:
 * last_avail_idx what it fetched, last_used_idx what it completed. */
void ifcvf_hw_ring_state_raw(struct ifcvf_hw *hw, unsigned int q, struct ifcvf_vring *r);
/* LM MQ register from the number of enabled vrings (has_lm only). */
void ifcvf_hw_set_mq(struct ifcvf_hw *hw, unsigned int enabled_vrings);

/* Doorbell: a 16-bit write of q at its notify address. Any thread. */
void ifcvf_hw_notify(struct ifcvf_hw *hw, unsigned int q);

/* Device-specific config, retried until config_generation is stable.
 * -EINVAL outside the DEVICE structure, -EAGAIN when it never settles. */
int ifcvf_hw_config_read(struct ifcvf_hw *hw, uint32_t off, void *buf, uint32_t len);
int ifcvf_hw_config_write(struct ifcvf_hw *hw, uint32_t off, const void *buf, uint32_t len);

/* Hardware dirty logging (has_lm): the device sets bits in the bitmap at
 * [base_iova, base_iova + size), already mapped in its IOMMU. */
void ifcvf_hw_log_start(struct ifcvf_hw *hw, uint64_t base_iova, uint64_t size);
/* Points the running log at a new bitmap without stopping it. old_base
 * and base_iova must share their high 32 bits, as must both ends. */
void ifcvf_hw_log_move(struct ifcvf_hw *hw, uint64_t old_base, uint64_t base_iova, uint64_t size);
void ifcvf_hw_log_stop(struct ifcvf_hw *hw);

#endif
