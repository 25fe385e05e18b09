/* The device lifecycle of a vhost-user session: the one place that decides
 * when the device's ops run. Below the message handlers (vu_message.c,
 * vu_memory.c, vu_vring.c, vu_log.c call in here; nothing here calls them):
 * dev_conf once every enabled ring is ready, dev_close on GET_VRING_BASE /
 * reset / disconnect / memory change / status reset, set_vring_state on a
 * ring's readiness change, set_features on negotiation and log replacement,
 * migration_done on SEND_RARP.
 *
 * Order against the reply (as DPDK's vhost library does): what stops the
 * device runs inside the handler, before the reply, so that the reply
 * describes a stopped device (GET_VRING_BASE); what starts it runs after the
 * reply is on the wire (vu_lifecycle_start_changes), so a device that talks
 * to the frontend while starting (host notifiers) never waits on a frontend
 * that is itself waiting for our reply. */
#include <errno.h>
#include <string.h>

#include "uvdpa/log.h"
#include "vu_internal.h"

#define VIRTIO_CONFIG_S_DRIVER_OK 4

static enum vdpa_dev_type dev_type(struct vu_dev *dev)
{
	enum vdpa_dev_type t = dev->vdpa->type;

	if (dev->vdpa->ops->get_dev_type)
		dev->vdpa->ops->get_dev_type(dev->vdpa, &t);
	return t;
}

void vu_device_close(struct vu_dev *dev, const char *why)
{
	uint16_t i;

	if (!dev->configured)
		return;
	LOG_INFO(VU_TAG, "%s: dev_close (%s)", dev->vdpa->name, why);
	if (dev->vdpa->ops->dev_close)
		dev->vdpa->ops->dev_close(dev->vdpa);
	dev->configured = false;
	for (i = 0; i < VU_MAX_VRINGS; i++)
		dev->vrings[i].ready = false;
}

/* The frontend is done configuring: features and memory are set, the rings a
 * device minimally needs are ready, and every enabled ring is ready. */
static bool device_ready(struct vu_dev *dev)
{
	uint16_t i, min_rings = dev_type(dev) == VDPA_TYPE_BLK ? 1 : 2;

	if (!dev->features_set || !dev->nregions || dev->nr_vring < min_rings)
		return false;
	if (vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_STATUS) &&
	    !(dev->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return false;
	for (i = 0; i < min_rings; i++)
		if (!vu_vring_is_ready(dev, i))
			return false;
	for (i = min_rings; i < dev->nr_vring; i++)
		if (dev->vrings[i].enabled && !vu_vring_is_ready(dev, i))
			return false;
	return true;
}

static void report_ring(struct vu_dev *dev, uint16_t i, bool ready)
{
	dev->vrings[i].ready = ready;
	LOG_DEBUG(VU_TAG, "%s: vring %u %s", dev->vdpa->name, i, ready ? "ready" : "stopped");
	if (dev->vdpa->ops->set_vring_state)
		dev->vdpa->ops->set_vring_state(dev->vdpa, i, ready);
}

void vu_lifecycle_vring_changed(struct vu_dev *dev, uint16_t idx)
{
	if (dev->vrings[idx].ready && dev->configured)
		report_ring(dev, idx, false);
	dev->vrings[idx].ready = false;
}

void vu_lifecycle_stop_changes(struct vu_dev *dev)
{
	if (!dev->configured)
		return;
	for (uint16_t i = 0; i < dev->nr_vring; i++)
		if (dev->vrings[i].ready && !vu_vring_is_ready(dev, i))
			report_ring(dev, i, false);
}

void vu_lifecycle_start_changes(struct vu_dev *dev)
{
	const struct vdpa_device_ops *ops = dev->vdpa->ops;
	uint16_t i;

	if (!dev->configured) {
		int ret;

		if (!device_ready(dev))
			return;
		for (i = 0; i < dev->nr_vring; i++)
			dev->vrings[i].ready = vu_vring_is_ready(dev, i);
		ret = ops->dev_conf ? ops->dev_conf(dev->vdpa, &dev->session) : 0;
		if (ret < 0) {
			LOG_ERR(VU_TAG, "%s: dev_conf failed: %s", dev->vdpa->name, strerror(-ret));
			for (i = 0; i < dev->nr_vring; i++)
				dev->vrings[i].ready = false;
			return;
		}
		dev->configured = true;
		LOG_INFO(VU_TAG, "%s: dev_conf done, %u vrings", dev->vdpa->name, dev->nr_vring);
		return;
	}
	for (i = 0; i < dev->nr_vring; i++)
		if (!dev->vrings[i].ready && vu_vring_is_ready(dev, i))
			report_ring(dev, i, true);
}

int vu_lifecycle_features(struct vu_dev *dev)
{
	return dev->vdpa->ops->set_features ? dev->vdpa->ops->set_features(dev->vdpa, dev->features)
					    : 0;
}

void vu_lifecycle_migration_done(struct vu_dev *dev)
{
	LOG_INFO(VU_TAG, "%s: SEND_RARP: migration done", dev->vdpa->name);
	if (dev->vdpa->ops->migration_done)
		dev->vdpa->ops->migration_done(dev->vdpa);
}
