/* Test frontend split virtqueue, driver side: free list, avail publication with
 * the spec's barriers, kick suppression, validated used-ring consumption. */
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "uvdpa/log.h"

#define TAG "fe-vring"

/* Ring sizes as the split-ring layout defines them (with the event words). */
static uint64_t desc_bytes(uint16_t n)
{
	return 16ull * n;
}

static uint64_t avail_bytes(uint16_t n)
{
	return 6ull + 2ull * n;
}

static uint64_t used_bytes(uint16_t n)
{
	return 6ull + 8ull * n;
}

/* used_event lives after the avail ring, avail_event after the used ring. */
static uint16_t *used_event_word(struct fe_vring *vr)
{
	return &vr->avail->ring[vr->size];
}

static uint16_t *avail_event_word(struct fe_vring *vr)
{
	return (uint16_t *)&vr->used->ring[vr->size];
}

int fe_vring_alloc(struct fe_vring *vr, struct fe_mem *mem, unsigned int index, uint16_t size)
{
	unsigned int region = mem->nregions ? index % mem->nregions : 0;

	memset(vr, 0, sizeof(*vr));
	vr->kick_fd = vr->call_fd = -1;
	if (size == 0 || (size & (size - 1)) || size > FE_MAX_QUEUE_SIZE)
		return -EINVAL;
	vr->index = index;
	vr->size = size;
	/* Page-aligned pieces, each placed separately: backends must not
	 * assume the legacy contiguous layout. */
	vr->desc = fe_mem_alloc(mem, region, desc_bytes(size), 4096, &vr->desc_gpa);
	vr->avail = fe_mem_alloc(mem, region, avail_bytes(size), 4096, &vr->avail_gpa);
	vr->used = fe_mem_alloc(mem, region, used_bytes(size), 4096, &vr->used_gpa);
	if (!vr->desc || !vr->avail || !vr->used) {
		LOG_ERR(TAG, "guest memory too small for vring %u of size %u", index, size);
		return -ENOMEM;
	}
	vr->next = calloc(size, sizeof(*vr->next));
	vr->chain_len = calloc(size, sizeof(*vr->chain_len));
	vr->owner = calloc(size, sizeof(*vr->owner));
	if (!vr->next || !vr->chain_len || !vr->owner) {
		fe_vring_free(vr);
		return -ENOMEM;
	}
	return 0;
}

void fe_vring_close_fds(struct fe_vring *vr)
{
	if (vr->kick_fd >= 0)
		close(vr->kick_fd);
	if (vr->call_fd >= 0)
		close(vr->call_fd);
	vr->kick_fd = vr->call_fd = -1;
}

void fe_vring_free(struct fe_vring *vr)
{
	fe_vring_close_fds(vr);
	free(vr->next);
	free(vr->chain_len);
	free(vr->owner);
	vr->next = vr->chain_len = NULL;
	vr->owner = NULL;
}

int fe_vring_reset(struct fe_vring *vr, bool event_idx, bool irq)
{
	uint16_t i;

	fe_vring_close_fds(vr);
	memset(vr->desc, 0, desc_bytes(vr->size));
	memset(vr->avail, 0, avail_bytes(vr->size));
	memset(vr->used, 0, used_bytes(vr->size));
	for (i = 0; i < vr->size; i++) {
		vr->next[i] = (uint16_t)(i + 1);
		vr->chain_len[i] = 0;
		vr->owner[i] = FE_DESC_FREE;
	}
	vr->free_head = 0;
	vr->num_free = vr->size;
	vr->avail_idx = vr->kicked_idx = vr->last_used_idx = 0;
	vr->event_idx = event_idx;
	vr->irq = irq;
	if (!irq && !event_idx)
		vr->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	/* Polling with EVENT_IDX: park used_event half the index space away,
	 * so the device calls at most once per 64K completions. */
	*used_event_word(vr) = irq ? 0 : (uint16_t)0x8000;

	vr->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vr->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vr->kick_fd < 0 || vr->call_fd < 0) {
		int err = -errno;

		fe_vring_close_fds(vr);
		return err;
	}
	return 0;
}

int fe_vring_desc_take(struct fe_vring *vr, unsigned int n, uint16_t *ids)
{
	unsigned int i;

	if (n == 0 || n > vr->num_free)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		ids[i] = vr->free_head;
		vr->free_head = vr->next[vr->free_head];
	}
	vr->num_free = (uint16_t)(vr->num_free - n);
	for (i = 0; i + 1 < n; i++)
		vr->next[ids[i]] = ids[i + 1];
	vr->chain_len[ids[0]] = (uint16_t)n;
	vr->owner[ids[0]] = FE_DESC_DEVICE;
	for (i = 0; i < n; i++) {
		struct vring_desc *d = &vr->desc[ids[i]];

		d->flags = (i + 1 < n) ? VRING_DESC_F_NEXT : 0;
		d->next = (i + 1 < n) ? ids[i + 1] : 0;
	}
	return 0;
}

void fe_vring_desc_set(struct fe_vring *vr, uint16_t id, uint64_t gpa, uint32_t len,
		       bool device_writes)
{
	struct vring_desc *d = &vr->desc[id];

	d->addr = gpa;
	d->len = len;
	d->flags = (uint16_t)((d->flags & VRING_DESC_F_NEXT) |
			      (device_writes ? VRING_DESC_F_WRITE : 0));
}

void fe_vring_avail_push(struct fe_vring *vr, uint16_t head)
{
	vr->avail->ring[vr->avail_idx & (vr->size - 1)] = head;
	vr->avail_idx++;
}

/* The virtio "need event" test: did new_idx step over event since old? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void fe_vring_avail_publish(struct fe_vring *vr)
{
	uint16_t old = vr->kicked_idx;
	bool kick;

	if (vr->avail_idx == old)
		return;
	/* Descriptors and ring entries before the index that exposes them. */
	__atomic_store_n(&vr->avail->idx, vr->avail_idx, __ATOMIC_RELEASE);
	/* The index store must be visible before we read the device's wish,
	 * or a device going to sleep and we skipping the kick lose a wakeup. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vr->event_idx)
		kick = need_event(__atomic_load_n(avail_event_word(vr), __ATOMIC_RELAXED),
				  vr->avail_idx, old);
	else
		kick = !(__atomic_load_n(&vr->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	vr->kicked_idx = vr->avail_idx;
	if (kick) {
		uint64_t one = 1;

		if (write(vr->kick_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			vr->kicks++;
	}
}

uint16_t fe_vring_used_pending(const struct fe_vring *vr)
{
	uint16_t idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);

	return (uint16_t)(idx - vr->last_used_idx);
}

int fe_vring_used_pop(struct fe_vring *vr, uint16_t *head, uint32_t *len)
{
	uint16_t idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	uint16_t in_flight = (uint16_t)(vr->avail_idx - vr->last_used_idx);
	struct vring_used_elem e;

	if (idx == vr->last_used_idx)
		return 0;
	if ((uint16_t)(idx - vr->last_used_idx) > in_flight) {
		LOG_ERR(TAG, "vring %u: device used idx %u runs %u past our %u in flight",
			vr->index, idx, (uint16_t)(idx - vr->last_used_idx), in_flight);
		return -EIO;
	}
	/* The acquire on idx orders this read after the device's write. */
	e = vr->used->ring[vr->last_used_idx & (vr->size - 1)];
	if (e.id >= vr->size || vr->owner[e.id] != FE_DESC_DEVICE) {
		LOG_ERR(TAG, "vring %u: device used id %u that is not in flight", vr->index,
			e.id);
		return -EIO;
	}
	vr->last_used_idx++;
	vr->owner[e.id] = FE_DESC_DRIVER;
	*head = (uint16_t)e.id;
	*len = e.len;
	return 1;
}

void fe_vring_chain_release(struct fe_vring *vr, uint16_t head)
{
	uint16_t n = vr->chain_len[head], last = head, i;

	for (i = 1; i < n; i++)
		last = vr->next[last];
	vr->next[last] = vr->free_head;
	vr->free_head = head;
	vr->num_free = (uint16_t)(vr->num_free + n);
	vr->chain_len[head] = 0;
	vr->owner[head] = FE_DESC_FREE;
}

void fe_vring_irq_rearm(struct fe_vring *vr)
{
	if (!vr->irq)
		return;
	if (vr->event_idx)
		__atomic_store_n(used_event_word(vr), vr->last_used_idx, __ATOMIC_RELAXED);
	else
		vr->avail->flags = 0;
	/* Our re-arm before the device's next check of it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint64_t fe_vring_call_drain(struct fe_vring *vr)
{
	uint64_t v = 0;

	if (vr->call_fd >= 0 && read(vr->call_fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		vr->calls += v;
		return v;
	}
	return 0;
}
