/* IFCVF hardware facts shared by the driver and the emulated device: PCI
 * identity and the live-migration BAR (docs/ifcvf.md). The virtio
 * 1.0 capability and common-config layout comes from <linux/virtio_pci.h>. */
#ifndef UVDPA_IFCVF_REGS_H
#define UVDPA_IFCVF_REGS_H

#define IFCVF_VENDOR_ID 0x1AF4
#define IFCVF_SUBSYS_VENDOR_ID 0x8086
#define IFCVF_NET_MODERN_DEVICE_ID 0x1041
#define IFCVF_NET_TRANSITIONAL_DEVICE_ID 0x1000
#define IFCVF_BLK_MODERN_DEVICE_ID 0x1042
#define IFCVF_BLK_TRANSITIONAL_DEVICE_ID 0x1001
#define IFCVF_NET_SUBSYS_MODERN 0x001A
#define IFCVF_NET_SUBSYS_TRANSITIONAL 0x0001
#define IFCVF_BLK_SUBSYS 0x0002

/* Live-migration BAR. */
#define IFCVF_LM_BAR 4
#define IFCVF_LM_LOGGING_CTRL 0x00
#define IFCVF_LM_LOGGING_DISABLE 0
#define IFCVF_LM_LOGGING_ENABLE_VF 1
#define IFCVF_LM_LOGGING_ENABLE_PF 3
#define IFCVF_LM_BASE_ADDR_LOW 0x10
#define IFCVF_LM_BASE_ADDR_HIGH 0x14
#define IFCVF_LM_END_ADDR_LOW 0x18
#define IFCVF_LM_END_ADDR_HIGH 0x1C
#define IFCVF_LM_RING_STATE_BASE 0x20
#define IFCVF_LM_MQ 0x28
#define IFCVF_LM_CFG_SIZE 0x40
#define IFCVF_LM_BAR_SIZE 0x1000	/* covers 32 pairs of ring-state slots (0x20 + 31*0x40 + 4 < 0x800) */

/* RING_STATE slot of vring q: net pairs share a 0x40 block, blk has one each. */
static inline unsigned int ifcvf_ring_state_off_net(unsigned int q)
{
	return IFCVF_LM_RING_STATE_BASE + (q / 2) * IFCVF_LM_CFG_SIZE + (q % 2) * 4;
}

static inline unsigned int ifcvf_ring_state_off_blk(unsigned int q)
{
	return IFCVF_LM_RING_STATE_BASE + q * IFCVF_LM_CFG_SIZE;
}

/* RING_STATE value: last_avail_idx in the low half, last_used_idx high. */
static inline unsigned int ifcvf_ring_state_encode(unsigned short last_avail, unsigned short last_used)
{
	return (unsigned int)last_avail | ((unsigned int)last_used << 16);
}

/* uvdpa's extension of the emulated function (IFCVF hardware has none):
 * inflight tracking for crash recovery. A vendor-specific PCI capability
 * (struct virtio_pci_cap, cap id 0x09) whose cfg_type is
 * IFCVF_PCI_CAP_INFLIGHT points at these registers. The driver programs
 * the IOVA of the frontend's inflight region (queue q's part at BASE + q *
 * STRIDE, the vhost-user split layout) before DRIVER_OK and sets CTRL; the
 * function then records every chain it holds there and, when a queue
 * starts, first processes again the chains the region says were held when
 * the previous daemon died. */
#define IFCVF_PCI_CAP_INFLIGHT 0xf0
#define IFCVF_INFLIGHT_CTRL 0x00		/* 1: record and resume */
#define IFCVF_INFLIGHT_BASE_LOW 0x08
#define IFCVF_INFLIGHT_BASE_HIGH 0x0c
#define IFCVF_INFLIGHT_STRIDE 0x10		/* bytes per queue */
#define IFCVF_INFLIGHT_QUEUE_SIZE 0x14		/* descriptors per queue in the region */
#define IFCVF_INFLIGHT_NUM_QUEUES 0x18
#define IFCVF_INFLIGHT_REGS_LEN 0x20
#define IFCVF_INFLIGHT_BAR 4
#define IFCVF_INFLIGHT_REGS_OFF 0x800		/* in BAR4, past the ring-state slots */

/* IOVA layout used by the driver. */
#define IFCVF_LOG_IOVA 0x100000000000ull
#define IFCVF_MEDIATED_VRING_IOVA 0x200000000000ull
#define IFCVF_MAX_QUEUE_PAIRS 32
#define IFCVF_MAX_VRINGS 64

#endif
