/* Driver side of a virtio split virtqueue (virtio 1.x, section 2.7): builds
 * descriptor chains, makes them available, decides when the device needs a
 * kick, and takes back what the device marked used. The counterpart of the
 * device side in uvdpa/virtq.h. Serves the test frontend (rings in its guest
 * memory), and is meant for the shadow-virtqueue relay and the tap bus driver
 * (rings in daemon memory mapped into a device IOMMU).
 *
 * The caller owns the ring memory: it gives a host pointer to each part and
 * the address the device uses for it (GPA or IOVA), reported to the device by
 * the caller. The caller also owns any kick/call signalling (eventfd,
 * doorbell): the library only says when a kick is needed and when interrupts
 * are wanted. Everything the device writes (used id, used len, used idx) is
 * untrusted: a bad entry returns -EIO and breaks the queue instead of touching
 * the free list. The library keeps its own copy of every chain, so nothing
 * the device scribbles in the descriptor table decides what is freed.
 *
 * One thread at a time per queue; no locks. Rings are little-endian. Fields
 * of struct virtq_driver are the library's: callers may read them (through
 * the accessors below where there is one), never write them. */
#ifndef UVDPA_VIRTIO_VIRTQ_DRIVER_H
#define UVDPA_VIRTIO_VIRTQ_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#define VIRTQ_DRV_MAX_SIZE 32768u

/* Alignment of each ring part as the split layout requires (virtio 1.0,
 * 2.4.2); the legacy contiguous layout puts used on a 4096 boundary. */
#define VIRTQ_DRV_DESC_ALIGN 16u
#define VIRTQ_DRV_AVAIL_ALIGN 2u
#define VIRTQ_DRV_USED_ALIGN 4u
#define VIRTQ_DRV_LEGACY_USED_ALIGN 4096u

/* Where the rings are: host pointers for the library, device addresses for
 * the caller to report (SET_VRING_ADDR, queue_desc registers, ...). */
struct virtq_drv_rings {
	void *desc, *avail, *used;
	uint64_t desc_addr, avail_addr, used_addr;
};

/* Bytes of each part for a queue of size entries, event words included (they
 * cost 2 bytes and let EVENT_IDX be negotiated later without a move). */
uint64_t virtq_drv_desc_bytes(uint16_t size);
uint64_t virtq_drv_avail_bytes(uint16_t size);
uint64_t virtq_drv_used_bytes(uint16_t size);
/* Bytes of one area holding desc, avail and used in that order, used aligned
 * to used_align (a power of two >= 4); the area itself must be 16-aligned. */
uint64_t virtq_drv_area_bytes(uint16_t size, uint64_t used_align);
/* Fills rings for an area of virtq_drv_area_bytes() at host pointer area and
 * device address addr. -EINVAL for a bad size or alignment. */
int virtq_drv_rings_in_area(struct virtq_drv_rings *rings, void *area, uint64_t addr,
			    uint16_t size, uint64_t used_align);

/* What the driver knows about a descriptor chain head. */
enum virtq_drv_head_state {
	VIRTQ_DRV_FREE = 0,	/* on the free list */
	VIRTQ_DRV_BUILDING,	/* taken by the caller, not pushed yet */
	VIRTQ_DRV_IN_FLIGHT,	/* pushed: the device may use it */
	VIRTQ_DRV_USED,		/* popped: the caller's until released */
};

/* One buffer of a chain for virtq_drv_add_chain(). */
struct virtq_drv_buf {
	uint64_t addr;		/* device address */
	uint32_t len;
	bool device_writes;
};

struct virtq_driver {
	uint16_t size;
	bool event_idx;		/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool interrupts;	/* the driver asked for used-buffer notifications */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_addr, avail_addr, used_addr;

	uint16_t avail_idx;	/* next avail slot the driver fills */
	uint16_t published_idx;	/* avail idx the device can see */
	uint16_t last_used_idx;	/* next used entry to pop */
	uint16_t free_head, num_free;

	/* Private copies, indexed by descriptor id. */
	uint16_t *next;		/* next descriptor of a chain */
	uint32_t *wlen;		/* device-writable bytes of this descriptor */
	uint16_t *chain_len;	/* per head: descriptors in the chain */
	uint64_t *chain_wlen;	/* per head: device-writable bytes of the chain */
	uint8_t *state;		/* per head: enum virtq_drv_head_state */

	bool broken;		/* the device returned an impossible used entry */
};

/* ---- Setup ---- */

/* Takes the rings (each aligned as above, else -EINVAL) and allocates the
 * private copies for size entries (a power of two, 1..32768). The rings are
 * not touched until virtq_drv_reset(). */
int virtq_drv_init(struct virtq_driver *vq, uint16_t size, const struct virtq_drv_rings *rings);
void virtq_drv_fini(struct virtq_driver *vq);
/* Starts an empty queue: zeroes the three rings, every descriptor free,
 * indices 0, features as negotiated (VIRTIO_RING_F_EVENT_IDX is the one that
 * matters here). Interrupts start enabled. */
void virtq_drv_reset(struct virtq_driver *vq, uint64_t features);

/* ---- Building and publishing chains ---- */

/* Takes n free descriptors linked as one chain; ids[0] is the head.
 * -ENOSPC when fewer than n are free, -EINVAL for n == 0. */
int virtq_drv_desc_take(struct virtq_driver *vq, unsigned int n, uint16_t *ids);
/* Fills one taken descriptor (the chain link stays as taken). */
void virtq_drv_desc_set(struct virtq_driver *vq, uint16_t id, uint64_t addr, uint32_t len,
			bool device_writes);
/* Queues a built chain; the device sees it at the next publish. -EINVAL when
 * head is not a chain being built. */
int virtq_drv_push(struct virtq_driver *vq, uint16_t head);
/* take + set + push in one: device-readable buffers must come before
 * device-writable ones. Returns the head in *head. */
int virtq_drv_add_chain(struct virtq_driver *vq, const struct virtq_drv_buf *bufs,
			unsigned int n, uint16_t *head);
/* Makes pushed chains visible (release ordering, then avail idx). Returns
 * true when the device asked to be notified of them (avail_event with
 * EVENT_IDX, else the NO_NOTIFY flag): the caller kicks. */
bool virtq_drv_publish(struct virtq_driver *vq);

/* ---- Taking back used chains ---- */

/* Used entries the device published that were not popped yet. */
uint16_t virtq_drv_used_pending(const struct virtq_driver *vq);
/* Next used entry: 1 with *head and *len, 0 when there is none. -EIO when
 * the device published more entries than are in flight, or an id that is
 * out of range or not in flight (a double completion): the queue is broken
 * and every later pop returns -EIO. -EMSGSIZE when len exceeds the chain's
 * device-writable bytes: *head and *len are set, the chain is the caller's
 * to release, the queue goes on (drivers that ignore len, like TX, may treat
 * it as a completion). */
int virtq_drv_pop(struct virtq_driver *vq, uint16_t *head, uint32_t *len);
/* Returns a popped chain (or one taken and never pushed) to the free list.
 * -EINVAL when head is in flight or already free. */
int virtq_drv_chain_release(struct virtq_driver *vq, uint16_t head);

/* ---- Used-buffer notifications (interrupts) ---- */

/* Asks the device for interrupts from the next used entry on (used_event
 * with EVENT_IDX, else clears NO_INTERRUPT). Returns true when used entries
 * are already pending: the device may have decided not to interrupt for
 * them, so the caller must process them now. Contains the full barrier. */
bool virtq_drv_enable_interrupts(struct virtq_driver *vq);
/* A hint to the device: no interrupts wanted (with EVENT_IDX, used_event is
 * parked half the index space ahead, so at most one call per 32K entries). */
void virtq_drv_disable_interrupts(struct virtq_driver *vq);

/* ---- Reading state ---- */

static inline bool virtq_drv_is_broken(const struct virtq_driver *vq)
{
	return vq->broken;
}

/* Descriptors in the chain at head (0 when head is free). */
static inline uint16_t virtq_drv_chain_len(const struct virtq_driver *vq, uint16_t head)
{
	return vq->chain_len[head];
}

/* The descriptor after id in its chain, from the private copy. */
static inline uint16_t virtq_drv_chain_next(const struct virtq_driver *vq, uint16_t id)
{
	return vq->next[id];
}

/* Chains pushed and not yet popped (including used entries pending). */
static inline uint16_t virtq_drv_in_flight(const struct virtq_driver *vq)
{
	return (uint16_t)(vq->avail_idx - vq->last_used_idx);
}

/* The used idx as the device wrote it (diagnostics). */
uint16_t virtq_drv_device_used_idx(const struct virtq_driver *vq);

#endif
