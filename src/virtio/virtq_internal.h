/* Split-ring layout arithmetic shared by the virtqueue code and its tests. */
#ifndef UVDPA_VIRTIO_VIRTQ_INTERNAL_H
#define UVDPA_VIRTIO_VIRTQ_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Offset of ring[0] in both the avail ring (2-byte entries) and the used
 * ring (8-byte entries): after le16 flags and le16 idx. */
#define VIRTQ_USED_RING_OFF 4u

/* Bytes of the avail ring: flags, idx, ring[size], used_event (EVENT_IDX). */
static inline uint64_t virtq_avail_ring_len(uint16_t size, bool event_idx)
{
	return 4 + 2 * (uint64_t)size + (event_idx ? 2 : 0);
}

/* Bytes of the used ring: flags, idx, ring[size] of 8 bytes, avail_event. */
static inline uint64_t virtq_used_ring_len(uint16_t size, bool event_idx)
{
	return 4 + 8 * (uint64_t)size + (event_idx ? 2 : 0);
}

#endif
