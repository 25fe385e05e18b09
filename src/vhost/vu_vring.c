/* Vring state from the frontend: size, addresses, bases, kick/call/err fds,
 * enable; ring translation and per-ring readiness. Indices come validated
 * (< UVDPA_VHOST_MAX_VRINGS) by the dispatcher; whether a change stops a running ring
 * is the lifecycle's call. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "vu_internal.h"

#define VIRTIO_RING_F_EVENT_IDX_BIT 29

void vu_vring_init(struct vu_vring *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->kickfd = vq->callfd = vq->errfd = -1;
}

static void vring_release(struct vu_vring *vq)
{
	vu_close_fd(&vq->kickfd);
	vu_close_fd(&vq->callfd);
	vu_close_fd(&vq->errfd);
	vu_vring_init(vq);
}

void vu_vrings_release(struct uvdpa_vhost *dev)
{
	uint16_t i;

	for (i = 0; i < UVDPA_VHOST_MAX_VRINGS; i++)
		vring_release(&dev->vrings[i]);
	dev->nr_vring = 0;
}

/* Maps one ring part, which must lie wholly inside one region. */
static void *translate_part(struct uvdpa_vhost *dev, uint64_t uva, uint64_t len, uint64_t align,
			    uint64_t *gpa, const char *what, uint16_t idx)
{
	const struct vu_mem_region *r;
	uint64_t contig = 0;

	if (uva & (align - 1)) {
		LOG_ERR(VU_TAG, "vring %u: %s address 0x%llx is not %llu-byte aligned", idx, what,
			(unsigned long long)uva, (unsigned long long)align);
		return NULL;
	}
	r = vu_mem_lookup(dev->regions, dev->nregions, VU_ADDR_UVA, uva, len, &contig);
	if (!r || contig != len) {
		LOG_ERR(VU_TAG, "vring %u: %s ring at 0x%llx (%llu bytes) is not in guest memory",
			idx, what, (unsigned long long)uva, (unsigned long long)len);
		return NULL;
	}
	*gpa = r->gpa + (uva - r->uaddr);
	return (uint8_t *)r->host + (uva - r->uaddr);
}

static bool vring_translate(struct uvdpa_vhost *dev, struct vu_vring *vq, uint16_t idx)
{
	uint64_t event = vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX_BIT) ? 2 : 0;
	uint64_t n = vq->size;

	vq->desc = vq->avail = vq->used = NULL;
	if (!vq->addr_set || !vq->size || !dev->nregions)
		return false;
	vq->desc = translate_part(dev, vq->addr.desc_user_addr, 16 * n, 16, &vq->desc_gpa, "descriptor",
				  idx);
	vq->avail = translate_part(dev, vq->addr.avail_user_addr, 4 + 2 * n + event, 2,
				   &vq->avail_gpa, "available", idx);
	vq->used = translate_part(dev, vq->addr.used_user_addr, 4 + 8 * n + event, 4, &vq->used_gpa,
				  "used", idx);
	if (!vq->desc || !vq->avail || !vq->used) {
		vq->desc = vq->avail = vq->used = NULL;
		return false;
	}
	return true;
}

bool vu_vring_is_ready(struct uvdpa_vhost *dev, uint16_t idx)
{
	const struct vu_vring *vq = &dev->vrings[idx];

	return vq->size && vq->desc && vq->kick_set && vq->call_set && vq->enabled;
}

void vu_vrings_touch(struct uvdpa_vhost *dev, uint16_t idx)
{
	if (idx >= dev->nr_vring)
		dev->nr_vring = (uint16_t)(idx + 1);
}

void vu_vrings_translate(struct uvdpa_vhost *dev)
{
	uint16_t i;

	for (i = 0; i < dev->nr_vring; i++)
		vring_translate(dev, &dev->vrings[i], i);
}

int vu_vring_num_changes(struct uvdpa_vhost *dev, uint16_t idx, uint32_t num)
{
	if (!vu_is_pow2(num) || num > VU_MAX_QUEUE_SIZE) {
		LOG_ERR(VU_TAG, "SET_VRING_NUM: vring %u size %u is not a power of two <= %u", idx,
			num, VU_MAX_QUEUE_SIZE);
		return -EINVAL;
	}
	return dev->vrings[idx].size != num;
}

int vu_vring_set_num(struct uvdpa_vhost *dev, uint16_t idx, uint32_t num)
{
	struct vu_vring *vq = &dev->vrings[idx];

	vq->size = (uint16_t)num;
	vring_translate(dev, vq, idx);
	return 0;
}

static bool same_rings(const struct vhost_user_vring_addr *x, const struct vhost_user_vring_addr *y)
{
	return x->desc_user_addr == y->desc_user_addr && x->avail_user_addr == y->avail_user_addr &&
	       x->used_user_addr == y->used_user_addr;
}

int vu_vring_addr_changes(struct uvdpa_vhost *dev, uint16_t idx, const struct vhost_user_vring_addr *a)
{
	struct vu_vring *vq = &dev->vrings[idx];

	if (a->flags & ~(1u << VHOST_VRING_F_LOG)) {
		LOG_ERR(VU_TAG, "SET_VRING_ADDR: vring %u unknown flags 0x%x", idx, a->flags);
		return -EINVAL;
	}
	/* Migration toggles only the LOG flag (and log address) on running
	 * rings: that must not stop them. */
	return !(vq->addr_set && vq->desc && same_rings(&vq->addr, a));
}

int vu_vring_set_addr(struct uvdpa_vhost *dev, uint16_t idx, const struct vhost_user_vring_addr *a)
{
	struct vu_vring *vq = &dev->vrings[idx];

	if (vq->addr_set && vq->desc && same_rings(&vq->addr, a)) {
		/* Loggers read flags, then log_guest_addr: address first. */
		vq->addr.log_guest_addr = a->log_guest_addr;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		vq->addr.flags = a->flags;
		return 0;
	}
	vq->addr = *a;
	vq->addr_set = true;
	/* Without memory yet, translation waits for the memory table. */
	if (dev->nregions && vq->size && !vring_translate(dev, vq, idx))
		return -EFAULT;
	return 0;
}

int vu_vring_set_base(struct uvdpa_vhost *dev, uint16_t idx, uint32_t base)
{
	struct vu_vring *vq = &dev->vrings[idx];

	if (base > 0xffff) {
		LOG_ERR(VU_TAG, "SET_VRING_BASE: vring %u base %u is beyond a split ring's index",
			idx, base);
		return -EINVAL;
	}
	vq->last_avail_idx = (uint16_t)base;
	vq->last_used_idx = (uint16_t)base;
	return 0;
}

void vu_vring_stop(struct uvdpa_vhost *dev, uint16_t idx)
{
	struct vu_vring *vq = &dev->vrings[idx];

	/* The ring needs kick, call and addresses again. */
	vu_close_fd(&vq->kickfd);
	vu_close_fd(&vq->callfd);
	vu_close_fd(&vq->errfd);
	vq->kick_set = vq->call_set = false;
	vq->addr_set = false;
	vq->desc = vq->avail = vq->used = NULL;
	vq->enabled = false;
	vq->ready = false;
}

void vu_vring_set_fd(struct uvdpa_vhost *dev, uint16_t idx, uint32_t req, int fd)
{
	struct vu_vring *vq = &dev->vrings[idx];

	switch (req) {
	case VHOST_USER_SET_VRING_KICK:
		vu_close_fd(&vq->kickfd);
		vq->kickfd = fd;
		vq->kick_set = true;
		/* Without PROTOCOL_FEATURES a ring starts enabled. */
		if (!vu_has_feature(dev, UVDPA_VHOST_USER_F_PROTOCOL_FEATURES))
			vq->enabled = true;
		break;
	case VHOST_USER_SET_VRING_CALL:
		vu_close_fd(&vq->callfd);
		vq->callfd = fd;
		vq->call_set = true;
		break;
	default:
		vu_close_fd(&vq->errfd);
		vq->errfd = fd;
		break;
	}
}

void vu_vring_set_enable(struct uvdpa_vhost *dev, uint16_t idx, bool on)
{
	/* May come before the ring is started: remembered, acted on when ready. */
	dev->vrings[idx].enabled = on;
}

/* ---- Accessors ---- */

uint16_t vu_get_vring_num(struct uvdpa_vhost *dev)
{
	return dev->nr_vring;
}

int vu_get_vring(struct uvdpa_vhost *dev, uint16_t idx, struct vu_vring_info *info)
{
	const struct vu_vring *vq;

	if (idx >= UVDPA_VHOST_MAX_VRINGS)
		return -EINVAL;
	vq = &dev->vrings[idx];
	memset(info, 0, sizeof(*info));
	info->size = vq->size;
	info->desc = vq->desc;
	info->avail = vq->avail;
	info->used = vq->used;
	info->desc_gpa = vq->desc_gpa;
	info->avail_gpa = vq->avail_gpa;
	info->used_gpa = vq->used_gpa;
	info->desc_uva = vq->addr.desc_user_addr;
	info->avail_uva = vq->addr.avail_user_addr;
	info->used_uva = vq->addr.used_user_addr;
	info->log_guest_addr = vq->addr.log_guest_addr;
	info->log_enabled = vq->addr.flags & (1u << VHOST_VRING_F_LOG);
	info->last_avail_idx = vq->last_avail_idx;
	info->last_used_idx = vq->last_used_idx;
	info->kickfd = vq->kickfd;
	info->callfd = vq->callfd;
	info->errfd = vq->errfd;
	info->enabled = vq->enabled;
	info->ready = vu_vring_is_ready(dev, idx);
	return 0;
}

int vu_get_vring_base(struct uvdpa_vhost *dev, uint16_t idx, uint16_t *last_avail, uint16_t *last_used)
{
	if (idx >= UVDPA_VHOST_MAX_VRINGS)
		return -EINVAL;
	*last_avail = dev->vrings[idx].last_avail_idx;
	*last_used = dev->vrings[idx].last_used_idx;
	return 0;
}

int vu_set_vring_base(struct uvdpa_vhost *dev, uint16_t idx, uint16_t last_avail, uint16_t last_used)
{
	if (idx >= UVDPA_VHOST_MAX_VRINGS)
		return -EINVAL;
	dev->vrings[idx].last_avail_idx = last_avail;
	dev->vrings[idx].last_used_idx = last_used;
	return 0;
}

int vu_vring_call(struct uvdpa_vhost *dev, uint16_t idx)
{
	int fd;

	if (idx >= UVDPA_VHOST_MAX_VRINGS)
		return -EINVAL;
	fd = dev->vrings[idx].callfd;
	return fd < 0 ? 0 : uvdpa_efd_signal(fd);
}
