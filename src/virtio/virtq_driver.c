/* Split virtqueue, driver side: ring layout helpers, free list and chain
 * building, avail publication with kick suppression, validated used-ring
 * consumption and interrupt suppression. See virtq_driver.h. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "virtio/virtq_driver.h"
#include "virtio/virtq_internal.h"
#include "core/log.h"

#define TAG "virtq-drv"

/* Distance at which a parked used_event stops mattering: the device would
 * have to complete half the index space before it is crossed. */
#define USED_EVENT_PARK 0x8000u

/* ---- Layout ---- */

static bool size_valid(uint16_t size)
{
	return size && !(size & (size - 1)) && size <= VIRTQ_DRV_MAX_SIZE;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

uint64_t virtq_drv_desc_bytes(uint16_t size)
{
	return (uint64_t)sizeof(struct vring_desc) * size;
}

uint64_t virtq_drv_avail_bytes(uint16_t size)
{
	return virtq_avail_ring_len(size, true);
}

uint64_t virtq_drv_used_bytes(uint16_t size)
{
	return virtq_used_ring_len(size, true);
}

static uint64_t area_used_offset(uint16_t size, uint64_t used_align)
{
	return align_up(virtq_drv_desc_bytes(size) + virtq_drv_avail_bytes(size), used_align);
}

uint64_t virtq_drv_area_bytes(uint16_t size, uint64_t used_align)
{
	return area_used_offset(size, used_align) + virtq_drv_used_bytes(size);
}

int virtq_drv_rings_in_area(struct virtq_drv_rings *rings, void *area, uint64_t addr,
			    uint16_t size, uint64_t used_align)
{
	uint64_t avail_off = virtq_drv_desc_bytes(size);
	uint64_t used_off = area_used_offset(size, used_align);

	if (!size_valid(size) || used_align < VIRTQ_DRV_USED_ALIGN ||
	    (used_align & (used_align - 1)) || (addr % VIRTQ_DRV_DESC_ALIGN) ||
	    ((uintptr_t)area % VIRTQ_DRV_DESC_ALIGN))
		return -EINVAL;
	rings->desc = area;
	rings->avail = (uint8_t *)area + avail_off;
	rings->used = (uint8_t *)area + used_off;
	rings->desc_addr = addr;
	rings->avail_addr = addr + avail_off;
	rings->used_addr = addr + used_off;
	return 0;
}

/* Both the host pointer and the device address must honour the part's
 * alignment: the device computes with one, we with the other. */
static bool part_aligned(const void *host, uint64_t addr, uint64_t align)
{
	return host && !((uintptr_t)host % align) && !(addr % align);
}

static bool rings_aligned(const struct virtq_drv_rings *r)
{
	return part_aligned(r->desc, r->desc_addr, VIRTQ_DRV_DESC_ALIGN) &&
	       part_aligned(r->avail, r->avail_addr, VIRTQ_DRV_AVAIL_ALIGN) &&
	       part_aligned(r->used, r->used_addr, VIRTQ_DRV_USED_ALIGN);
}

/* ---- Shared ring words. Each is accessed once, atomically, so the
 * compiler can neither tear nor repeat an access the device races with. ---- */

static uint16_t *used_event_word(const struct virtq_driver *vq)
{
	return (uint16_t *)&vq->avail->ring[vq->size];
}

static uint16_t *avail_event_word(const struct virtq_driver *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

static void store16(uint16_t *p, uint16_t v, int order)
{
	__atomic_store_n(p, htole16(v), order);
}

static uint16_t load16(const uint16_t *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

uint16_t virtq_drv_device_used_idx(const struct virtq_driver *vq)
{
	/* Acquire: used entries are read after the index that exposes them. */
	return load16((const uint16_t *)&vq->used->idx, __ATOMIC_ACQUIRE);
}

/* ---- Setup ---- */

int virtq_drv_init(struct virtq_driver *vq, uint16_t size, const struct virtq_drv_rings *rings)
{
	memset(vq, 0, sizeof(*vq));
	if (!size_valid(size) || !rings_aligned(rings))
		return -EINVAL;
	vq->size = size;
	vq->desc = rings->desc;
	vq->avail = rings->avail;
	vq->used = rings->used;
	vq->desc_addr = rings->desc_addr;
	vq->avail_addr = rings->avail_addr;
	vq->used_addr = rings->used_addr;
	vq->next = calloc(size, sizeof(*vq->next));
	vq->wlen = calloc(size, sizeof(*vq->wlen));
	vq->chain_len = calloc(size, sizeof(*vq->chain_len));
	vq->chain_wlen = calloc(size, sizeof(*vq->chain_wlen));
	vq->state = calloc(size, sizeof(*vq->state));
	if (!vq->next || !vq->wlen || !vq->chain_len || !vq->chain_wlen || !vq->state) {
		virtq_drv_fini(vq);
		return -ENOMEM;
	}
	return 0;
}

void virtq_drv_fini(struct virtq_driver *vq)
{
	free(vq->next);
	free(vq->wlen);
	free(vq->chain_len);
	free(vq->chain_wlen);
	free(vq->state);
	vq->next = vq->chain_len = NULL;
	vq->wlen = NULL;
	vq->chain_wlen = NULL;
	vq->state = NULL;
}

void virtq_drv_reset(struct virtq_driver *vq, uint64_t features)
{
	uint16_t i;

	memset(vq->desc, 0, virtq_drv_desc_bytes(vq->size));
	memset(vq->avail, 0, virtq_drv_avail_bytes(vq->size));
	memset(vq->used, 0, virtq_drv_used_bytes(vq->size));
	for (i = 0; i < vq->size; i++) {
		vq->next[i] = (uint16_t)(i + 1);
		vq->wlen[i] = 0;
		vq->chain_len[i] = 0;
		vq->chain_wlen[i] = 0;
		vq->state[i] = VIRTQ_DRV_FREE;
	}
	vq->free_head = 0;
	vq->num_free = vq->size;
	vq->avail_idx = vq->published_idx = vq->last_used_idx = 0;
	vq->event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	vq->interrupts = true;
	vq->broken = false;
}

/* ---- Building and publishing ---- */

/* Unlinks n free descriptors as one chain (links in our copy and in the
 * table) and returns its head; n is in 1..num_free. */
static uint16_t chain_take(struct virtq_driver *vq, unsigned int n)
{
	uint16_t head = vq->free_head, id = head;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct vring_desc *d = &vq->desc[id];
		uint16_t after = vq->next[id];
		bool more = i + 1 < n;

		d->flags = htole16(more ? VRING_DESC_F_NEXT : 0);
		d->next = htole16(more ? after : 0);
		vq->wlen[id] = 0;
		if (!more)
			vq->next[id] = 0;
		vq->free_head = after;
		id = after;
	}
	vq->num_free = (uint16_t)(vq->num_free - n);
	vq->chain_len[head] = (uint16_t)n;
	vq->state[head] = VIRTQ_DRV_BUILDING;
	return head;
}

static int take_check(const struct virtq_driver *vq, unsigned int n)
{
	if (n == 0)
		return -EINVAL;
	return n > vq->num_free ? -ENOSPC : 0;
}

int virtq_drv_desc_take(struct virtq_driver *vq, unsigned int n, uint16_t *ids)
{
	unsigned int i;
	int r = take_check(vq, n);

	if (r < 0)
		return r;
	ids[0] = chain_take(vq, n);
	for (i = 1; i < n; i++)
		ids[i] = vq->next[ids[i - 1]];
	return 0;
}

void virtq_drv_desc_set(struct virtq_driver *vq, uint16_t id, uint64_t addr, uint32_t len,
			bool device_writes)
{
	struct vring_desc *d = &vq->desc[id];
	uint16_t link = le16toh(d->flags) & VRING_DESC_F_NEXT;

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16((uint16_t)(link | (device_writes ? VRING_DESC_F_WRITE : 0)));
	vq->wlen[id] = device_writes ? len : 0;
}

int virtq_drv_push(struct virtq_driver *vq, uint16_t head)
{
	uint16_t id = head, i;
	uint64_t wbytes = 0;

	if (head >= vq->size || vq->state[head] != VIRTQ_DRV_BUILDING)
		return -EINVAL;
	/* What the device may write, from our copy, to check used lengths. */
	for (i = 0; i < vq->chain_len[head]; i++) {
		wbytes += vq->wlen[id];
		id = vq->next[id];
	}
	vq->chain_wlen[head] = wbytes;
	vq->state[head] = VIRTQ_DRV_IN_FLIGHT;
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = htole16(head);
	vq->avail_idx++;
	return 0;
}

int virtq_drv_add_chain(struct virtq_driver *vq, const struct virtq_drv_buf *bufs,
			unsigned int n, uint16_t *head)
{
	unsigned int i;
	uint16_t id;
	int r = take_check(vq, n);

	if (r < 0)
		return r;
	for (i = 1; i < n; i++)
		if (bufs[i - 1].device_writes && !bufs[i].device_writes)
			return -EINVAL;	/* the device would reject the order */
	*head = id = chain_take(vq, n);
	for (i = 0; i < n; i++) {
		virtq_drv_desc_set(vq, id, bufs[i].addr, bufs[i].len, bufs[i].device_writes);
		id = vq->next[id];
	}
	return virtq_drv_push(vq, *head);
}

bool virtq_drv_publish(struct virtq_driver *vq)
{
	uint16_t old = vq->published_idx;

	if (vq->avail_idx == old)
		return false;
	/* Release: descriptors and ring entries before the index exposing them. */
	store16((uint16_t *)&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	vq->published_idx = vq->avail_idx;
	/* The index store must be visible before we read the device's wish, or
	 * a device going to sleep while we skip the kick loses a wakeup. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		return vring_need_event(load16(avail_event_word(vq), __ATOMIC_RELAXED),
					vq->avail_idx, old);
	return !(load16((const uint16_t *)&vq->used->flags, __ATOMIC_RELAXED) &
		 VRING_USED_F_NO_NOTIFY);
}

/* ---- Used ring ---- */

uint16_t virtq_drv_used_pending(const struct virtq_driver *vq)
{
	return (uint16_t)(virtq_drv_device_used_idx(vq) - vq->last_used_idx);
}

static int device_error(struct virtq_driver *vq)
{
	vq->broken = true;
	return -EIO;
}

int virtq_drv_pop(struct virtq_driver *vq, uint16_t *head, uint32_t *len)
{
	uint16_t idx, in_flight = (uint16_t)(vq->published_idx - vq->last_used_idx);
	struct vring_used_elem e;
	uint32_t id;

	if (vq->broken)
		return -EIO;
	idx = virtq_drv_device_used_idx(vq);
	if (idx == vq->last_used_idx)
		return 0;
	if ((uint16_t)(idx - vq->last_used_idx) > in_flight) {
		LOG_ERR(TAG, "device used idx %u runs %u past our %u in flight", idx,
			(uint16_t)(idx - vq->last_used_idx), in_flight);
		return device_error(vq);
	}
	/* Read once: the device could change the entry under us. */
	e = vq->used->ring[vq->last_used_idx & (vq->size - 1)];
	id = le32toh(e.id);
	if (id >= vq->size || vq->state[id] != VIRTQ_DRV_IN_FLIGHT) {
		LOG_ERR(TAG, "device used id %u that is not in flight", id);
		return device_error(vq);
	}
	vq->last_used_idx++;
	vq->state[id] = VIRTQ_DRV_USED;
	*head = (uint16_t)id;
	*len = le32toh(e.len);
	return *len > vq->chain_wlen[id] ? -EMSGSIZE : 1;
}

int virtq_drv_chain_release(struct virtq_driver *vq, uint16_t head)
{
	uint16_t n, last = head, i;

	if (head >= vq->size || (vq->state[head] != VIRTQ_DRV_USED &&
				 vq->state[head] != VIRTQ_DRV_BUILDING))
		return -EINVAL;
	n = vq->chain_len[head];
	for (i = 1; i < n; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + n);
	vq->chain_len[head] = 0;
	vq->chain_wlen[head] = 0;
	vq->state[head] = VIRTQ_DRV_FREE;
	return 0;
}

/* ---- Interrupt suppression ---- */

bool virtq_drv_enable_interrupts(struct virtq_driver *vq)
{
	vq->interrupts = true;
	if (vq->event_idx)
		store16(used_event_word(vq), vq->last_used_idx, __ATOMIC_RELAXED);
	else
		store16((uint16_t *)&vq->avail->flags, 0, __ATOMIC_RELAXED);
	/* Our re-arm before the read of used idx: a device that published
	 * before seeing it may not interrupt, and we catch that here. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_drv_used_pending(vq) != 0;
}

void virtq_drv_disable_interrupts(struct virtq_driver *vq)
{
	vq->interrupts = false;
	if (vq->event_idx)
		store16(used_event_word(vq), (uint16_t)(vq->last_used_idx + USED_EVENT_PARK),
			__ATOMIC_RELAXED);
	else
		store16((uint16_t *)&vq->avail->flags, VRING_AVAIL_F_NO_INTERRUPT,
			__ATOMIC_RELAXED);
}
