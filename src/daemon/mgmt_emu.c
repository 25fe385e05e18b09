/* The emu/ifcvf-net and emu/ifcvf-blk management devices: each `dev add`
 * creates a new emulated IFCVF function (src/models/ifcvf) and probes it
 * with the ifcvf driver (src/drivers/ifcvf), exactly as a real VF would be.
 * This file is the only glue between uvdpad and those two components. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/mgmt.h"
#include "drivers/ifcvf/ifcvf_vdpa.h"
#include "models/ifcvf/ifcvf_model.h"
#include "uvdpa/devargs.h"
#include "uvdpa/ifcvf_regs.h"
#include "uvdpa/log.h"
#include "uvdpa/vdpa.h"

#define TAG "mgmt-emu"
#define IFCVF_VQ_SIZE 256	/* the queue size IFCVF functions report */

struct emu_mgmtdev {
	struct vdpa_mgmtdev m;
	enum vdpa_dev_type type;
};

/* emu devargs: options of the emulated function, not the driver's. */
enum { EMU_ARG_TRANSITIONAL, EMU_ARG_SW_LM, EMU_ARG_NUM };
static const struct devargs_spec emu_devargs[EMU_ARG_NUM] = {
	[EMU_ARG_TRANSITIONAL] = { "transitional", DEVARGS_UINT, 0, 1 },
	[EMU_ARG_SW_LM] = { "sw-live-migration", DEVARGS_UINT, 0, 1 },
};

static int parse_emu_devargs(const struct vdpa_dev_add_config *cfg, bool *transitional,
			     bool *sw_lm, char *err, size_t errlen)
{
	struct devargs_value v[EMU_ARG_NUM];
	char why[200];
	int ret;

	*transitional = *sw_lm = false;
	if (!(cfg->attrs & VDPA_ATTR_DEVARGS))
		return 0;
	ret = devargs_parse(cfg->devargs, emu_devargs, EMU_ARG_NUM, v, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "%s", why);
		return ret;
	}
	*transitional = v[EMU_ARG_TRANSITIONAL].present && v[EMU_ARG_TRANSITIONAL].u;
	*sw_lm = v[EMU_ARG_SW_LM].present && v[EMU_ARG_SW_LM].u;
	return 0;
}

/* The model's counters, after the driver's own in `dev vstats`. The model
 * names them per queue kind ("rx packets", "tx packets", "cvq requests");
 * the driver wants one name list for every vring, so the kind is dropped
 * (`dev vstats` prints queue_type) and each vring fills the names it has. */
static const char *const model_stat_names[] = {
	"packets", "bytes", "errors", "overruns", "drops", "requests", "successes", "faults",
};
#define MODEL_NSTATS (sizeof(model_stat_names) / sizeof(model_stat_names[0]))

static int model_stats_names(void *opaque, struct vdpa_stat_name *names, unsigned int n)
{
	unsigned int i;

	if (!names)
		return MODEL_NSTATS;
	for (i = 0; i < n && i < MODEL_NSTATS; i++)
		snprintf(names[i].name, sizeof(names[i].name), "%s", model_stat_names[i]);
	return (int)i;
}

static int model_stats_get(void *opaque, uint16_t vring, uint64_t *values, unsigned int n)
{
	struct ifcvf_model_stat st[IFCVF_MODEL_MAX_STATS];
	int count, i;
	unsigned int k;

	count = ifcvf_model_get_stats(opaque, vring, st, IFCVF_MODEL_MAX_STATS);
	if (count < 0)
		return count;
	if (count > IFCVF_MODEL_MAX_STATS)
		count = IFCVF_MODEL_MAX_STATS;
	for (k = 0; k < n && k < MODEL_NSTATS; k++)
		values[k] = 0;
	for (i = 0; i < count; i++) {
		const char *sp = strchr(st[i].name, ' ');
		const char *bare = sp ? sp + 1 : st[i].name;

		for (k = 0; k < n && k < MODEL_NSTATS; k++)
			if (!strcmp(bare, model_stat_names[k]))
				values[k] = st[i].value;
	}
	return (int)(n < MODEL_NSTATS ? n : MODEL_NSTATS);
}

static int model_stats_reset(void *opaque, uint16_t vring)
{
	return ifcvf_model_reset_stats(opaque, vring);
}

static const struct ifcvf_stats_ops model_stats_ops = {
	.names = model_stats_names,
	.get = model_stats_get,
	.reset = model_stats_reset,
};

static int emu_dev_add(struct vdpa_mgmtdev *m, const struct vdpa_dev_add_config *cfg, char *err,
		       size_t errlen)
{
	struct emu_mgmtdev *em = (struct emu_mgmtdev *)m;
	struct ifcvf_model_config mc;
	struct vdpa_device *dev = NULL;
	struct pci_dev *pdev;
	bool transitional, sw_lm;
	int ret;

	ret = parse_emu_devargs(cfg, &transitional, &sw_lm, err, errlen);
	if (ret < 0)
		return ret;
	memset(&mc, 0, sizeof(mc));
	mc.type = em->type;
	mc.transitional = transitional;
	if (cfg->attrs & VDPA_ATTR_FEATURES)
		mc.device_features = cfg->device_features;
	if (cfg->attrs & VDPA_ATTR_MAC)
		memcpy(mc.mac, cfg->mac, sizeof(mc.mac));
	if (cfg->attrs & VDPA_ATTR_MTU)
		mc.mtu = cfg->mtu;
	if (cfg->attrs & VDPA_ATTR_MAX_VQP)
		mc.max_vqp = cfg->max_vqp;
	if (cfg->attrs & VDPA_ATTR_PORT)
		snprintf(mc.port, sizeof(mc.port), "%s", cfg->port);
	if (cfg->attrs & VDPA_ATTR_FILE)
		snprintf(mc.file, sizeof(mc.file), "%s", cfg->file);
	if (cfg->attrs & VDPA_ATTR_CAPACITY)
		mc.capacity = cfg->capacity;
	if (cfg->attrs & VDPA_ATTR_NUM_QUEUES)
		mc.num_queues = cfg->num_queues;
	mc.readonly = cfg->readonly;

	errno = 0;
	pdev = ifcvf_model_create(&mc, err, errlen);
	if (!pdev)
		return errno ? -errno : -EINVAL;
	ret = ifcvf_probe(pdev, sw_lm ? "vdpa=1,sw-live-migration=1" : "vdpa=1", cfg->name, m, &dev,
			  err, errlen);
	if (ret < 0) {
		pci_dev_release(pdev);
		return ret;
	}
	if (!dev->vendor_id)
		dev->vendor_id = pdev->id.vendor;
	if (!dev->max_vq_size)
		dev->max_vq_size = IFCVF_VQ_SIZE;
	ifcvf_set_stats_provider(dev, &model_stats_ops, pdev);
	LOG_INFO(TAG, "%s: emulated function %s", cfg->name, pdev->addr);
	return 0;
}

static int emu_dev_del(struct vdpa_mgmtdev *m, struct vdpa_device *dev)
{
	ifcvf_remove(dev);
	return 0;
}

static int emu_dev_set(struct vdpa_mgmtdev *m, struct vdpa_device *dev,
		       const struct vdpa_dev_set_config *cfg, char *err, size_t errlen)
{
	struct pci_dev *pdev = ifcvf_pci_dev(dev);
	int ret = 0;

	if (cfg->attrs & VDPA_SET_CAPACITY) {
		snprintf(err, errlen, "%s: the emulated IFCVF cannot resize a disk yet", dev->name);
		return -EOPNOTSUPP;
	}
	if (cfg->attrs & VDPA_SET_MAC) {
		ret = ifcvf_model_set_mac(pdev, cfg->mac);
		if (ret < 0) {
			snprintf(err, errlen, "%s: cannot set mac: %s", dev->name, strerror(-ret));
			return ret;
		}
	}
	if (cfg->attrs & VDPA_SET_LINK) {
		ret = ifcvf_model_set_link(pdev, cfg->link_up);
		if (ret < 0)
			snprintf(err, errlen, "%s: cannot set link %s: %s", dev->name,
				 cfg->link_up ? "up" : "down", strerror(-ret));
	}
	return ret;
}

int mgmt_emu_init(unsigned int engines, bool poll, char *err, size_t errlen)
{
	int ret = ifcvf_engine_pool_init(engines, poll);

	if (ret < 0 && ret != -EALREADY) {
		snprintf(err, errlen, "cannot start %u engine thread(s): %s", engines ? engines : 1,
			 strerror(-ret));
		return ret;
	}
	return 0;
}

static const struct vdpa_mgmtdev_ops emu_ops = {
	.dev_add = emu_dev_add,
	.dev_del = emu_dev_del,
	.dev_set = emu_dev_set,
};

static struct emu_mgmtdev emu_net = {
	.m = {
		.name = "emu/ifcvf-net",
		.ops = &emu_ops,
		.supported_classes = 1u << VDPA_TYPE_NET,
		.config_attrs = VDPA_ATTR_MAC | VDPA_ATTR_MTU | VDPA_ATTR_MAX_VQP |
				VDPA_ATTR_FEATURES | VDPA_ATTR_DEVARGS | VDPA_ATTR_PORT,
		.max_supported_vqs = IFCVF_MAX_VRINGS,
	},
	.type = VDPA_TYPE_NET,
};

static struct emu_mgmtdev emu_blk = {
	.m = {
		.name = "emu/ifcvf-blk",
		.ops = &emu_ops,
		.supported_classes = 1u << VDPA_TYPE_BLK,
		.config_attrs = VDPA_ATTR_FEATURES | VDPA_ATTR_DEVARGS | VDPA_ATTR_FILE |
				VDPA_ATTR_CAPACITY | VDPA_ATTR_NUM_QUEUES | VDPA_ATTR_READONLY,
		.max_supported_vqs = IFCVF_MAX_VRINGS,
	},
	.type = VDPA_TYPE_BLK,
};

int mgmt_emu_register(char *err, size_t errlen)
{
	int ret;

	emu_net.m.supported_features = ifcvf_model_supported_features(VDPA_TYPE_NET);
	emu_blk.m.supported_features = ifcvf_model_supported_features(VDPA_TYPE_BLK);
	ret = vdpa_mgmtdev_register(&emu_net.m);
	if (ret == 0) {
		ret = vdpa_mgmtdev_register(&emu_blk.m);
		if (ret < 0)
			vdpa_mgmtdev_unregister(&emu_net.m);
	}
	if (ret < 0)
		snprintf(err, errlen, "cannot register the emu mgmtdevs: %s", strerror(-ret));
	return ret;
}

void mgmt_emu_fini(void)
{
	vdpa_mgmtdev_unregister(&emu_net.m);
	vdpa_mgmtdev_unregister(&emu_blk.m);
	ifcvf_engine_pool_fini();
}
