/* Test-only management devices (uvdpad --test-mgmtdev): test/null creates
 * network devices and test/null-blk block devices, fake devices
 * (src/testing/fakedev.c) with a config space, features, queues and
 * per-queue statistics but no datapath. They let the command interpreter,
 * the control protocol and bindings be exercised with no device model and
 * no hardware. This file only turns mgmtdev requests into fake devices. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "daemon/mgmt.h"
#include "testing/fakedev.h"
#include "core/log.h"
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

static unsigned int null_count;	/* for default MACs */

/* A fake device with no datapath (src/testing/fakedev.c), registered. */
static int null_add(const struct uvdpa_dev_add_config *cfg, enum uvdpa_dev_type type,
		    uint64_t features, uint32_t queues, const void *config, uint32_t config_len,
		    char *err, size_t errlen)
{
	struct fakedev_params p = {
		.name = cfg->name,
		.type = type,
		.features = features,
		.queues = queues,
		.config = config,
		.config_len = config_len,
	};
	struct fakedev *f = fakedev_new(&p);
	struct uvdpa_device *dev;
	int ret;

	if (!f)
		return -errno;
	dev = fakedev_vdpa(f);
	dev->vendor_id = 0;		/* as the kernel's vdpa_sim */
	dev->max_vq_size = NULL_VQ_SIZE;
	ret = uvdpa_device_register(dev);
	if (ret < 0) {
		uvdpa_errf(err, errlen, "cannot register device %s: %s", cfg->name, strerror(-ret));
		fakedev_free(f);
	}
	return ret;
}

static int null_net_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
			size_t errlen)
{
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x00 };
	uint8_t config[FAKEDEV_CONFIG_MAX];
	uint32_t queues = (cfg->attrs & UVDPA_ATTR_MAX_VQP) ? cfg->max_vqp : 1;
	uint32_t len;

	null_count++;
	mac[4] = (uint8_t)(null_count >> 8);
	mac[5] = (uint8_t)null_count;
	len = fakedev_net_config(config, (cfg->attrs & UVDPA_ATTR_MAC) ? cfg->mac : mac,
				 (uint16_t)queues, (cfg->attrs & UVDPA_ATTR_MTU) ? cfg->mtu : 1500);
	return null_add(cfg, UVDPA_TYPE_NET,
			(cfg->attrs & UVDPA_ATTR_FEATURES) ? cfg->device_features : NULL_NET_FEATURES,
			queues, config, len, err, errlen);
}

static int null_blk_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
			size_t errlen)
{
	uint8_t config[FAKEDEV_CONFIG_MAX];
	uint32_t queues = (cfg->attrs & UVDPA_ATTR_NUM_QUEUES) ? cfg->num_queues : 1;
	uint64_t features = (cfg->attrs & UVDPA_ATTR_FEATURES) ? cfg->device_features :
								   NULL_BLK_FEATURES & ~BIT(VIRTIO_BLK_F_RO);
	uint32_t len;

	if (cfg->readonly)
		features |= BIT(VIRTIO_BLK_F_RO);
	len = fakedev_blk_config(config,
				 (cfg->attrs & UVDPA_ATTR_CAPACITY) ? cfg->capacity : 1ull << 30,
				 (uint16_t)queues);
	return null_add(cfg, UVDPA_TYPE_BLK, features, queues, config, len, err, errlen);
}

static int null_del(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev)
{
	uvdpa_device_unregister(dev);
	fakedev_free(fakedev_of(dev));
	return 0;
}

static int null_set(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev,
		    const struct uvdpa_dev_set_config *cfg, char *err, size_t errlen)
{
	uint8_t *config = fakedev_config(fakedev_of(dev), NULL);
	struct virtio_net_config *net = (struct virtio_net_config *)config;
	struct virtio_blk_config *blk = (struct virtio_blk_config *)config;

	if (dev->type == UVDPA_TYPE_NET) {
		if (cfg->attrs & UVDPA_SET_CAPACITY) {
			uvdpa_errf(err, errlen, "device %s is a network device: capacity does not apply",
				 dev->name);
			return -EINVAL;
		}
		if (cfg->attrs & UVDPA_SET_MAC)
			memcpy(net->mac, cfg->mac, 6);
		if (cfg->attrs & UVDPA_SET_LINK)
			net->status = htole16(cfg->link_up ? VIRTIO_NET_S_LINK_UP : 0);
		return 0;
	}
	if (cfg->attrs & (UVDPA_SET_MAC | UVDPA_SET_LINK)) {
		uvdpa_errf(err, errlen, "device %s is a block device: mac and link do not apply",
			 dev->name);
		return -EINVAL;
	}
	blk->capacity = htole64(cfg->capacity / 512);
	return 0;
}

static const struct uvdpa_mgmtdev_ops null_net_ops = {
	.dev_add = null_net_add,
	.dev_del = null_del,
	.dev_set = null_set,
};

static const struct uvdpa_mgmtdev_ops null_blk_ops = {
	.dev_add = null_blk_add,
	.dev_del = null_del,
	.dev_set = null_set,
};

static struct uvdpa_mgmtdev null_net_mgmt = {
	.name = "test/null",
	.ops = &null_net_ops,
	.supported_classes = 1u << UVDPA_TYPE_NET,
	.config_attrs = UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP | UVDPA_ATTR_FEATURES,
	.supported_features = NULL_NET_FEATURES,
	.max_supported_vqs = NULL_MAX_VQS,
};

static struct uvdpa_mgmtdev null_blk_mgmt = {
	.name = "test/null-blk",
	.ops = &null_blk_ops,
	.supported_classes = 1u << UVDPA_TYPE_BLK,
	.config_attrs = UVDPA_ATTR_FEATURES | UVDPA_ATTR_CAPACITY | UVDPA_ATTR_NUM_QUEUES |
			UVDPA_ATTR_READONLY,
	.supported_features = NULL_BLK_FEATURES,
	.max_supported_vqs = NULL_MAX_VQS,
};

int mgmt_test_register(void)
{
	int ret = uvdpa_mgmtdev_register(&null_net_mgmt);

	if (ret == 0) {
		ret = uvdpa_mgmtdev_register(&null_blk_mgmt);
		if (ret < 0)
			uvdpa_mgmtdev_unregister(&null_net_mgmt);
	}
	return ret;
}

void mgmt_test_unregister(void)
{
	uvdpa_mgmtdev_unregister(&null_net_mgmt);
	uvdpa_mgmtdev_unregister(&null_blk_mgmt);
}
