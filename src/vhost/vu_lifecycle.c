/* Every device-lifecycle decision of a vhost-user session, in one place:
 * when the device is configured (dev_conf), stopped (dev_close), when a ring
 * is reported started or stopped (set_vring_state), when the device hears
 * of features (set_features) and of a finished migration (migration_done);
 * and the session's creation, reset and release.
 *
 * Stops run inside message handling, before the reply, because the reply
 * depends on them (GET_VRING_BASE answers with the state dev_close handed
 * back; a ring's fds are replaced only after it is reported stopped).
 * The device starts (dev_conf) before the reply too (vu_lc_start), unlike
 * DPDK, which replies first: a frontend waiting for the reply to DRIVER_OK
 * then finds the device running, and, woken only then, does not take the
 * CPU the start needs (replying first, 1 % of the starts waited a
 * scheduler tick, 4 ms). What a starting device asks of the frontend
 * (host notifiers) is queued and sent after the reply, and a config change
 * asked for on this thread is not waited for. Rings of a running device
 * start after the reply (vu_lc_after_reply). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "vu_internal.h"
#include "uvdpa/events.h"

#define VIRTIO_CONFIG_S_DRIVER_OK 4
#define VIRTIO_RING_F_EVENT_IDX_BIT 29

/* What the library implements; the device narrows it. */
#define VU_LIB_PROTOCOL_FEATURES                                                                 \
	((1ull << UVDPA_VHOST_USER_PROTOCOL_F_MQ) | (1ull << UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD) |        \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_RARP) | (1ull << UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK) |      \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_NET_MTU) | (1ull << UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_REQ) | \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_CONFIG) |                                                \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) |                                       \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) |                                         \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                                        \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                                          \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                                   \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_STATUS))

/* ---- Creation and release ---- */

struct uvdpa_vhost *vu_lc_alloc(struct uvdpa_device *vdpa)
{
	struct uvdpa_vhost *dev = calloc(1, sizeof(*dev));
	uint16_t i;

	if (!dev)
		return NULL;
	dev->vdpa = vdpa;
	dev->listen_fd = dev->conn_fd = -1;
	for (i = 0; i < UVDPA_VHOST_MAX_VRINGS; i++)
		vu_vring_init(&dev->vrings[i]);
	for (i = 0; i < VU_MAX_MEM_SLOTS; i++)
		dev->regions[i].fd = -1;
	vu_log_init(&dev->log);
	vu_backend_init(&dev->backend);
	dev->session.ops = &vu_session_ops;
	dev->inflight.fd = -1;
	dev->close_us = -1;
	return dev;
}

void vu_lc_free(struct uvdpa_vhost *dev)
{
	vu_dev_reset_session(dev);
	vu_log_destroy(&dev->log);
	vu_backend_destroy(&dev->backend);
	free(dev);
}

/* ---- Stopping ---- */

void vu_lc_stop(struct uvdpa_vhost *dev, const char *why)
{
	uint16_t i;

	if (!dev->configured)
		return;
	uint64_t t0 = uvdpa_now_ns();

	if (dev->vdpa->ops->dev_close)
		dev->vdpa->ops->dev_close(dev->vdpa);
	dev->close_us = (int64_t)((uvdpa_now_ns() - t0) / 1000);
	uvdpa_op_timing_add(&dev->close_timing, (uint64_t)dev->close_us);
	LOG_INFO(VU_TAG, "%s: dev_close (%s) in %" PRId64 " us", dev->vdpa->name, why, dev->close_us);
	dev->configured = false;
	for (i = 0; i < UVDPA_VHOST_MAX_VRINGS; i++)
		dev->vrings[i].ready = false;
}

void vu_lc_vring_quiesce(struct uvdpa_vhost *dev, uint16_t idx)
{
	struct vu_vring *vq = &dev->vrings[idx];

	if (!vq->ready)
		return;
	vq->ready = false;
	if (dev->configured && dev->vdpa->ops->set_vring_state)
		dev->vdpa->ops->set_vring_state(dev->vdpa, idx, false);
}

void vu_lc_reset_device(struct uvdpa_vhost *dev, const char *why)
{
	vu_lc_stop(dev, why);
	vu_vrings_release(dev);
	vu_mem_release(dev);
	vu_log_release(&dev->log);
	vu_inflight_release(&dev->inflight);
	dev->features = 0;
	dev->features_set = false;
	dev->status = 0;
	dev->rarp_pending = false;
}

void vu_dev_reset_session(struct uvdpa_vhost *dev)
{
	vu_lc_reset_device(dev, "disconnect");
	vu_backend_release(dev);
	dev->protocol_features = 0;
	dev->owner = false;
	dev->mtu = 0;
}

void vu_lc_change_memory(struct uvdpa_vhost *dev, struct vu_mem_change *c, const char *why)
{
	/* The device may use the old mappings until dev_close returns. */
	vu_lc_stop(dev, why);
	vu_mem_commit(dev, c);
	/* Ring pointers pointed into the old mappings. */
	vu_vrings_translate(dev);
}

/* ---- Negotiation ---- */

uint64_t vu_lc_offered_features(struct uvdpa_vhost *dev)
{
	uint64_t f = 0;

	if (dev->vdpa->ops->get_features)
		dev->vdpa->ops->get_features(dev->vdpa, &f);
	return f | (1ull << UVDPA_VHOST_USER_F_PROTOCOL_FEATURES);
}

uint64_t vu_lc_offered_protocol_features(struct uvdpa_vhost *dev)
{
	uint64_t f = VU_LIB_PROTOCOL_FEATURES;

	if (dev->vdpa->ops->get_protocol_features)
		dev->vdpa->ops->get_protocol_features(dev->vdpa, &f);
	return f & VU_LIB_PROTOCOL_FEATURES;
}

int vu_lc_set_features(struct uvdpa_vhost *dev, uint64_t f)
{
	uint64_t old = dev->features;

	dev->features = f;
	if (dev->vdpa->ops->set_features) {
		int ret = dev->vdpa->ops->set_features(dev->vdpa, f);

		if (ret < 0) {
			/* Typically dirty logging the device could not start:
			 * the device keeps running as it was. */
			LOG_ERR(VU_TAG, "%s: the device refused features 0x%" PRIx64 ": %s",
				dev->vdpa->name, f, strerror(-ret));
			dev->features = old;
			return ret;
		}
	}
	dev->features_set = true;
	if ((old ^ f) & (1ull << VIRTIO_RING_F_EVENT_IDX_BIT))	/* ring sizes change */
		vu_vrings_translate(dev);
	if ((old ^ f) & (1ull << UVDPA_VHOST_F_LOG_ALL)) {
		bool on = (f >> UVDPA_VHOST_F_LOG_ALL) & 1;

		LOG_INFO(VU_TAG, "%s: dirty logging %s", dev->vdpa->name, on ? "on" : "off");
		uvdpa_event_emit(on ? UVDPA_EVENT_LOG_START : UVDPA_EVENT_LOG_STOP, dev->vdpa->name,
				 NULL);
	}
	return 0;
}

int vu_lc_log_replaced(struct uvdpa_vhost *dev)
{
	int ret;

	/* QEMU replaces the log while logging when guest memory grows: a
	 * driver that handed the old log to hardware must switch to this one. */
	if (!vu_has_feature(dev, UVDPA_VHOST_F_LOG_ALL) || !dev->vdpa->ops->set_features)
		return 0;
	ret = dev->vdpa->ops->set_features(dev->vdpa, dev->features);
	if (ret < 0)
		LOG_ERR(VU_TAG, "%s: the device cannot log into the new dirty log: %s",
			dev->vdpa->name, strerror(-ret));
	return ret;
}

void vu_lc_set_status(struct uvdpa_vhost *dev, uint8_t status)
{
	dev->status = status;
	/* The device runs only while DRIVER_OK is set (device_ready() waits for
	 * it): a reset (0) or any status without it stops the device. */
	if (!(status & VIRTIO_CONFIG_S_DRIVER_OK))
		vu_lc_stop(dev, status ? "DRIVER_OK cleared" : "status reset");
}

/* ---- Starting (before the reply) ---- */

static enum uvdpa_dev_type dev_type(struct uvdpa_vhost *dev)
{
	enum uvdpa_dev_type t = dev->vdpa->type;

	if (dev->vdpa->ops->get_dev_type)
		dev->vdpa->ops->get_dev_type(dev->vdpa, &t);
	return t;
}

/* The frontend is done configuring: features and memory are set, the rings a
 * device minimally needs are ready, and every enabled ring is ready. With
 * STATUS, DRIVER_OK says so itself: QEMU enables every blk ring but sets up
 * only those the guest driver initialised (SeaBIOS uses queue 0 of a
 * 2-queue disk), so an enabled ring that was never set up must not hold the
 * device back; it starts when it becomes ready. */
static bool device_ready(struct uvdpa_vhost *dev)
{
	uint16_t i, min_rings = dev_type(dev) == UVDPA_TYPE_BLK ? 1 : 2;

	if (!dev->features_set || !dev->nregions || dev->nr_vring < min_rings)
		return false;
	if (vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_STATUS) &&
	    !(dev->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return false;
	for (i = 0; i < min_rings; i++)
		if (!vu_vring_is_ready(dev, i))
			return false;
	if (vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_STATUS))
		return true;
	for (i = min_rings; i < dev->nr_vring; i++)
		if (dev->vrings[i].enabled && !vu_vring_is_ready(dev, i))
			return false;
	return true;
}

static void device_start(struct uvdpa_vhost *dev)
{
	const struct uvdpa_device_ops *ops = dev->vdpa->ops;
	uint64_t conf_us;
	uint16_t i;
	int ret;

	if (!device_ready(dev))
		return;
	for (i = 0; i < dev->nr_vring; i++)
		dev->vrings[i].ready = vu_vring_is_ready(dev, i);
	ret = ops->dev_conf ? ops->dev_conf(dev->vdpa, &dev->session) : 0;
	if (ret < 0) {
		LOG_ERR(VU_TAG, "%s: dev_conf failed: %s", dev->vdpa->name, strerror(-ret));
		return;
	}
	dev->configured = true;
	/* From the arrival of the message that made the device startable (its
	 * reply goes out next) to the device running. */
	conf_us = (uvdpa_now_ns() - dev->msg_ns) / 1000;
	uvdpa_op_timing_add(&dev->conf_timing, conf_us);
	LOG_INFO(VU_TAG, "%s: dev_conf done, %u vrings, %" PRIu64 " us", dev->vdpa->name, dev->nr_vring,
		 conf_us);
	uvdpa_event_emit(UVDPA_EVENT_DRIVER_OK, dev->vdpa->name,
			 "bus vhost-user vrings %u features 0x%" PRIx64 " conf_us %" PRIu64, dev->nr_vring,
			 dev->features, conf_us);
}

static void rings_update(struct uvdpa_vhost *dev)
{
	const struct uvdpa_device_ops *ops = dev->vdpa->ops;
	uint16_t i;

	for (i = 0; i < dev->nr_vring; i++) {
		struct vu_vring *vq = &dev->vrings[i];
		bool ready = vu_vring_is_ready(dev, i);

		if (ready == vq->ready)
			continue;
		vq->ready = ready;
		LOG_DEBUG(VU_TAG, "%s: vring %u %s", dev->vdpa->name, i, ready ? "ready" : "stopped");
		if (ops->set_vring_state)
			ops->set_vring_state(dev->vdpa, i, ready);
	}
}

void vu_lc_after_reply(struct uvdpa_vhost *dev)
{
	if (dev->rarp_pending) {
		dev->rarp_pending = false;
		LOG_INFO(VU_TAG, "%s: SEND_RARP for %02x:%02x:%02x:%02x:%02x:%02x: migration done",
			 dev->vdpa->name, dev->rarp_mac[0], dev->rarp_mac[1], dev->rarp_mac[2],
			 dev->rarp_mac[3], dev->rarp_mac[4], dev->rarp_mac[5]);
		if (dev->vdpa->ops->migration_done)
			dev->vdpa->ops->migration_done(dev->vdpa, dev->rarp_mac);
	}
	if (dev->configured)
		rings_update(dev);
}

void vu_lc_start(struct uvdpa_vhost *dev)
{
	if (!dev->configured)
		device_start(dev);
}

/* ---- Accessors ---- */

uint64_t uvdpa_vhost_features(const struct uvdpa_vhost *dev)
{
	return dev->features;
}

uint8_t uvdpa_vhost_status(const struct uvdpa_vhost *dev)
{
	return dev->status;
}

uint64_t vu_get_protocol_features(struct uvdpa_vhost *dev)
{
	return dev->protocol_features;
}
