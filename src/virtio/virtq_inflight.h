/* The inflight region of a split virtqueue (the vhost-user spec's
 * INFLIGHT_SHMFD layout): one record per descriptor head, set while the
 * device holds that chain, so that a device restarted after a crash knows
 * which chains to process again. Shared by the device side of src/virtio
 * (which keeps it) and the vhost-user library (which allocates it for the
 * frontend). Header only. */
#ifndef UVDPA_VIRTIO_VIRTQ_INFLIGHT_H
#define UVDPA_VIRTIO_VIRTQ_INFLIGHT_H

#include <stdint.h>

struct virtq_inflight_desc {
	uint8_t inflight;		/* 1 while the device holds the chain */
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;		/* order in which chains were taken */
} __attribute__((packed));

struct virtq_inflight_region {
	uint64_t features;
	uint16_t version;		/* 1 */
	uint16_t desc_num;		/* queue size */
	uint16_t last_batch_head;
	uint16_t used_idx;		/* used idx when the flags were last cleared */
	struct virtq_inflight_desc desc[];
} __attribute__((packed));

#define VIRTQ_INFLIGHT_ALIGN 64u

/* Bytes of one queue's region, rounded up as QEMU and DPDK do. */
static inline uint64_t virtq_inflight_queue_bytes(uint16_t queue_size)
{
	uint64_t n = sizeof(struct virtq_inflight_region) +
		     (uint64_t)queue_size * sizeof(struct virtq_inflight_desc);

	return (n + VIRTQ_INFLIGHT_ALIGN - 1) & ~(uint64_t)(VIRTQ_INFLIGHT_ALIGN - 1);
}

#endif
