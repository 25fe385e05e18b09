/* Test-only management devices (uvdpad --test-mgmtdev): test/null creates
 * network devices and test/null-blk block devices that have a config space,
 * features, queues and per-queue statistics but move no data. They let the
 * command interpreter, the control protocol and bindings be exercised with
 * no device model and no hardware. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "daemon/mgmt.h"
#include "uvdpa/log.h"
#include "uvdpa/vdpa.h"

#define NULL_MAX_VQS 64
#define NULL_VQ_SIZE 256
#define BIT(n) (1ull << (n))

#define NULL_NET_FEATURES                                                                 \
	(BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |    \
	 BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_F_VERSION_1) |      \
	 BIT(VIRTIO_RING_F_EVENT_IDX))
#define NULL_BLK_FEATURES                                                                 \
	(BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) | \
	 BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ) | BIT(VIRTIO_BLK_F_RO) |          \
	 BIT(VIRTIO_F_VERSION_1))

struct null_dev {
	struct vdpa_device vdpa;
	uint64_t features;
	uint16_t queues;	/* pairs (net) or queues (blk) */
	union {
		struct virtio_net_config net;
		struct virtio_blk_config blk;
	} cfg;
	uint64_t stats[NULL_MAX_VQS][2];
};

static unsigned int null_count;	/* for default MACs */

static int null_get_queue_num(struct vdpa_device *dev, uint32_t *n)
{
	struct null_dev *nd = dev->priv;

	*n = nd->queues;
	return 0;
}

static int null_get_features(struct vdpa_device *dev, uint64_t *f)
{
	struct null_dev *nd = dev->priv;

	*f = nd->features;
	return 0;
}

static int null_get_dev_type(struct vdpa_device *dev, enum vdpa_dev_type *t)
{
	*t = dev->type;
	return 0;
}

static int null_get_config(struct vdpa_device *dev, uint8_t *buf, uint32_t off, uint32_t len)
{
	struct null_dev *nd = dev->priv;
	size_t size = dev->type == VDPA_TYPE_NET ? sizeof(nd->cfg.net) : sizeof(nd->cfg.blk);

	if (off > size || len > size - off)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&nd->cfg + off, len);
	return 0;
}

static int null_get_vq_stats(struct vdpa_device *dev, uint16_t vring, struct vdpa_vq_stats *st)
{
	struct null_dev *nd = dev->priv;

	if (vring >= NULL_MAX_VQS)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->value[VDPA_VQ_STAT_RECEIVED_DESC] = nd->stats[vring][0];
	st->value[VDPA_VQ_STAT_COMPLETED_DESC] = nd->stats[vring][1];
	st->valid = (1ull << VDPA_VQ_STAT_RECEIVED_DESC) | (1ull << VDPA_VQ_STAT_COMPLETED_DESC);
	return 0;
}

static int null_reset_vq_stats(struct vdpa_device *dev, uint16_t vring)
{
	struct null_dev *nd = dev->priv;

	if (vring >= NULL_MAX_VQS)
		return -EINVAL;
	memset(nd->stats[vring], 0, sizeof(nd->stats[vring]));
	return 0;
}

static const struct vdpa_device_ops null_ops = {
	.get_queue_num = null_get_queue_num,
	.get_features = null_get_features,
	.get_dev_type = null_get_dev_type,
	.get_config = null_get_config,
	.get_vq_stats = null_get_vq_stats,
	.reset_vq_stats = null_reset_vq_stats,
};

static struct null_dev *null_new(const struct vdpa_dev_add_config *cfg, enum vdpa_dev_type type)
{
	struct null_dev *nd = calloc(1, sizeof(*nd));

	if (!nd)
		return NULL;
	memcpy(nd->vdpa.name, cfg->name, sizeof(nd->vdpa.name));
	nd->vdpa.type = type;
	nd->vdpa.ops = &null_ops;
	nd->vdpa.priv = nd;
	nd->vdpa.vendor_id = 0;		/* as the kernel's vdpa_sim */
	nd->vdpa.max_vq_size = NULL_VQ_SIZE;
	return nd;
}

static int null_register(struct null_dev *nd, char *err, size_t errlen)
{
	int ret = vdpa_device_register(&nd->vdpa);

	if (ret < 0) {
		uvdpa_errf(err, errlen, "cannot register device %s: %s", nd->vdpa.name,
			 strerror(-ret));
		free(nd);
	}
	return ret;
}

static int null_net_add(struct vdpa_mgmtdev *m, const struct vdpa_dev_add_config *cfg, char *err,
			size_t errlen)
{
	struct null_dev *nd = null_new(cfg, VDPA_TYPE_NET);
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x00 };

	if (!nd)
		return -ENOMEM;
	nd->features = (cfg->attrs & VDPA_ATTR_FEATURES) ? cfg->device_features : NULL_NET_FEATURES;
	nd->queues = (cfg->attrs & VDPA_ATTR_MAX_VQP) ? cfg->max_vqp : 1;
	null_count++;
	mac[4] = (uint8_t)(null_count >> 8);
	mac[5] = (uint8_t)null_count;
	memcpy(nd->cfg.net.mac, (cfg->attrs & VDPA_ATTR_MAC) ? cfg->mac : mac, 6);
	nd->cfg.net.status = htole16(VIRTIO_NET_S_LINK_UP);
	nd->cfg.net.max_virtqueue_pairs = htole16(nd->queues);
	nd->cfg.net.mtu = htole16((cfg->attrs & VDPA_ATTR_MTU) ? cfg->mtu : 1500);
	return null_register(nd, err, errlen);
}

static int null_blk_add(struct vdpa_mgmtdev *m, const struct vdpa_dev_add_config *cfg, char *err,
			size_t errlen)
{
	struct null_dev *nd = null_new(cfg, VDPA_TYPE_BLK);

	if (!nd)
		return -ENOMEM;
	nd->features = (cfg->attrs & VDPA_ATTR_FEATURES) ? cfg->device_features :
							    NULL_BLK_FEATURES & ~BIT(VIRTIO_BLK_F_RO);
	if (cfg->readonly)
		nd->features |= BIT(VIRTIO_BLK_F_RO);
	nd->queues = (cfg->attrs & VDPA_ATTR_NUM_QUEUES) ? cfg->num_queues : 1;
	nd->cfg.blk.capacity =
		htole64(((cfg->attrs & VDPA_ATTR_CAPACITY) ? cfg->capacity : 1ull << 30) / 512);
	nd->cfg.blk.size_max = htole32(4096);
	nd->cfg.blk.seg_max = htole32(32);
	nd->cfg.blk.blk_size = htole32(512);
	nd->cfg.blk.num_queues = htole16(nd->queues);
	return null_register(nd, err, errlen);
}

static int null_del(struct vdpa_mgmtdev *m, struct vdpa_device *dev)
{
	vdpa_device_unregister(dev);
	free(dev->priv);
	return 0;
}

static int null_set(struct vdpa_mgmtdev *m, struct vdpa_device *dev,
		    const struct vdpa_dev_set_config *cfg, char *err, size_t errlen)
{
	struct null_dev *nd = dev->priv;

	if (dev->type == VDPA_TYPE_NET) {
		if (cfg->attrs & VDPA_SET_CAPACITY) {
			uvdpa_errf(err, errlen, "device %s is a network device: capacity does not apply",
				 dev->name);
			return -EINVAL;
		}
		if (cfg->attrs & VDPA_SET_MAC)
			memcpy(nd->cfg.net.mac, cfg->mac, 6);
		if (cfg->attrs & VDPA_SET_LINK)
			nd->cfg.net.status = htole16(cfg->link_up ? VIRTIO_NET_S_LINK_UP : 0);
		return 0;
	}
	if (cfg->attrs & (VDPA_SET_MAC | VDPA_SET_LINK)) {
		uvdpa_errf(err, errlen, "device %s is a block device: mac and link do not apply",
			 dev->name);
		return -EINVAL;
	}
	nd->cfg.blk.capacity = htole64(cfg->capacity / 512);
	return 0;
}

static const struct vdpa_mgmtdev_ops null_net_ops = {
	.dev_add = null_net_add,
	.dev_del = null_del,
	.dev_set = null_set,
};

static const struct vdpa_mgmtdev_ops null_blk_ops = {
	.dev_add = null_blk_add,
	.dev_del = null_del,
	.dev_set = null_set,
};

static struct vdpa_mgmtdev null_net_mgmt = {
	.name = "test/null",
	.ops = &null_net_ops,
	.supported_classes = 1u << VDPA_TYPE_NET,
	.config_attrs = VDPA_ATTR_MAC | VDPA_ATTR_MTU | VDPA_ATTR_MAX_VQP | VDPA_ATTR_FEATURES,
	.supported_features = NULL_NET_FEATURES,
	.max_supported_vqs = NULL_MAX_VQS,
};

static struct vdpa_mgmtdev null_blk_mgmt = {
	.name = "test/null-blk",
	.ops = &null_blk_ops,
	.supported_classes = 1u << VDPA_TYPE_BLK,
	.config_attrs = VDPA_ATTR_FEATURES | VDPA_ATTR_CAPACITY | VDPA_ATTR_NUM_QUEUES |
			VDPA_ATTR_READONLY,
	.supported_features = NULL_BLK_FEATURES,
	.max_supported_vqs = NULL_MAX_VQS,
};

int mgmt_test_register(void)
{
	int ret = vdpa_mgmtdev_register(&null_net_mgmt);

	if (ret == 0) {
		ret = vdpa_mgmtdev_register(&null_blk_mgmt);
		if (ret < 0)
			vdpa_mgmtdev_unregister(&null_net_mgmt);
	}
	return ret;
}

void mgmt_test_unregister(void)
{
	vdpa_mgmtdev_unregister(&null_net_mgmt);
	vdpa_mgmtdev_unregister(&null_blk_mgmt);
}
