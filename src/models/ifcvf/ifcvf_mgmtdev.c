/* The emu/ifcvf-net and emu/ifcvf-blk management devices, the model's own
 * (as the kernel's vdpa_sim_net owns its mgmtdev): each `dev add` creates a
 * new emulated IFCVF function and hands it to the core, which probes it with
 * the driver that matches its ids, exactly as it would a real VF. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "models/ifcvf/ifcvf_mgmtdev.h"
#include "models/ifcvf/ifcvf_model.h"
#include "uvdpa/devargs.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "core/log.h"
#include "uvdpa/vdpa.h"

#define TAG "mgmt-emu"
#define IFCVF_VQ_SIZE 256	/* the queue size IFCVF functions report */

struct emu_mgmtdev {
	struct uvdpa_mgmtdev m;
	enum uvdpa_dev_type type;
	bool plain_virtio;	/* emu/virtio-net: no live-migration BAR */
};

/* The functions this file created, to reach a device's model for dev set.
 * Control thread only. */
struct emu_function {
	struct uvdpa_device *dev;
	struct uvdpa_pci_dev *pdev;		/* owned by dev's driver */
	struct emu_function *next;
};
static struct emu_function *functions;

static struct emu_function **function_slot(const struct uvdpa_device *dev)
{
	struct emu_function **f;

	for (f = &functions; *f && (*f)->dev != dev; f = &(*f)->next)
		;
	return f;
}

/* emu devargs: options of the emulated function (transitional ids, net
 * offloads, the
 * drop-dirty-log and reorder-completions faults, a blk file on shared
 * storage) and the driver's sw-live-migration and shadow-vq, passed on. */
enum {
	EMU_ARG_TRANSITIONAL,
	EMU_ARG_SW_LM,
	EMU_ARG_DROP_LOG,
	EMU_ARG_SHADOW,
	EMU_ARG_REORDER,
	EMU_ARG_SHARED_STORAGE,
	EMU_ARG_OFFLOADS,
	EMU_ARG_NUM
};
static const struct uvdpa_devargs_spec emu_devargs[EMU_ARG_NUM] = {
	[EMU_ARG_TRANSITIONAL] = { "transitional", UVDPA_DEVARGS_UINT, 0, 1 },
	[EMU_ARG_SW_LM] = { "sw-live-migration", UVDPA_DEVARGS_UINT, 0, 1 },
	[EMU_ARG_DROP_LOG] = { "drop-dirty-log", UVDPA_DEVARGS_UINT, 0, 1 },
	[EMU_ARG_SHADOW] = { "shadow-vq", UVDPA_DEVARGS_UINT, 0, 1 },
	[EMU_ARG_REORDER] = { "reorder-completions", UVDPA_DEVARGS_UINT, 0, 1 },
	[EMU_ARG_SHARED_STORAGE] = { "shared-storage", UVDPA_DEVARGS_UINT, 0, 1 },
	[EMU_ARG_OFFLOADS] = { "offloads", UVDPA_DEVARGS_UINT, 0, 1 },
};

struct emu_args {
	bool transitional, sw_lm, drop_dirty_log, shadow, reorder, shared_storage, offloads;
};

static int parse_emu_devargs(const struct uvdpa_dev_add_config *cfg, struct emu_args *a,
			     char *err, size_t errlen)
{
	struct uvdpa_devargs_value v[EMU_ARG_NUM];
	int ret;

	memset(a, 0, sizeof(*a));
	if (!(cfg->attrs & UVDPA_ATTR_DEVARGS))
		return 0;
	ret = uvdpa_devargs_parse(cfg->devargs, emu_devargs, EMU_ARG_NUM, v, err, errlen);
	if (ret < 0)
		return ret;
	a->transitional = v[EMU_ARG_TRANSITIONAL].present && v[EMU_ARG_TRANSITIONAL].u;
	a->sw_lm = v[EMU_ARG_SW_LM].present && v[EMU_ARG_SW_LM].u;
	a->drop_dirty_log = v[EMU_ARG_DROP_LOG].present && v[EMU_ARG_DROP_LOG].u;
	a->shadow = v[EMU_ARG_SHADOW].present && v[EMU_ARG_SHADOW].u;
	a->reorder = v[EMU_ARG_REORDER].present && v[EMU_ARG_REORDER].u;
	a->shared_storage = v[EMU_ARG_SHARED_STORAGE].present && v[EMU_ARG_SHARED_STORAGE].u;
	a->offloads = v[EMU_ARG_OFFLOADS].present && v[EMU_ARG_OFFLOADS].u;
	return 0;
}

static int emu_dev_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
		       size_t errlen)
{
	struct emu_mgmtdev *em = (struct emu_mgmtdev *)m;
	struct ifcvf_model_config mc;
	struct uvdpa_device *dev = NULL;
	struct emu_function *fn;
	struct uvdpa_pci_dev *pdev;
	char drv_args[64];
	struct emu_args a;
	int ret;

	ret = parse_emu_devargs(cfg, &a, err, errlen);
	if (ret < 0)
		return ret;
	memset(&mc, 0, sizeof(mc));
	mc.type = em->type;
	mc.transitional = a.transitional;
	mc.plain_virtio = em->plain_virtio;
	if (em->plain_virtio && (a.transitional || a.sw_lm)) {
		uvdpa_errf(err, errlen, "%s: %s is a modern virtio function without ring-state "
			   "registers: transitional ids and sw-live-migration do not apply", cfg->name,
			   m->name);
		return -EINVAL;
	}
	mc.drop_dirty_log = a.drop_dirty_log;
	mc.reorder_completions = a.reorder;
	if (a.shared_storage && em->type != UVDPA_TYPE_BLK) {
		uvdpa_errf(err, errlen, "%s: shared-storage applies to a blk device's file, not to %s",
			   cfg->name, m->name);
		return -EINVAL;
	}
	mc.shared_storage = a.shared_storage;
	mc.offloads = a.offloads;
	if (cfg->attrs & UVDPA_ATTR_FEATURES)
		mc.device_features = cfg->device_features;
	if (cfg->attrs & UVDPA_ATTR_MAC)
		memcpy(mc.mac, cfg->mac, sizeof(mc.mac));
	if (cfg->attrs & UVDPA_ATTR_MTU)
		mc.mtu = cfg->mtu;
	if (cfg->attrs & UVDPA_ATTR_MAX_VQP)
		mc.max_vqp = cfg->max_vqp;
	if (cfg->attrs & UVDPA_ATTR_PORT)
		snprintf(mc.port, sizeof(mc.port), "%s", cfg->port);
	if (cfg->attrs & UVDPA_ATTR_FILE)
		snprintf(mc.file, sizeof(mc.file), "%s", cfg->file);
	if (cfg->attrs & UVDPA_ATTR_CAPACITY)
		mc.capacity = cfg->capacity;
	if (cfg->attrs & UVDPA_ATTR_NUM_QUEUES)
		mc.num_queues = cfg->num_queues;
	mc.readonly = cfg->readonly;

	fn = calloc(1, sizeof(*fn));
	if (!fn) {
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	errno = 0;
	pdev = ifcvf_model_create(&mc, err, errlen);
	if (!pdev) {
		free(fn);
		return errno ? -errno : -EINVAL;
	}
	snprintf(drv_args, sizeof(drv_args), "vdpa=1%s%s", a.sw_lm ? ",sw-live-migration=1" : "",
		 a.shadow ? ",shadow-vq=1" : "");
	ret = uvdpa_pci_probe(pdev, &(struct uvdpa_probe_args){
				.name = cfg->name,
				.devargs = drv_args,
				.mgmtdev = m }, &dev, err, errlen);
	if (ret < 0) {
		uvdpa_pci_dev_release(pdev);
		free(fn);
		return ret;
	}
	if (!dev->vendor_id)
		dev->vendor_id = pdev->id.vendor;
	if (!dev->max_vq_size)
		dev->max_vq_size = IFCVF_VQ_SIZE;
	fn->dev = dev;
	fn->pdev = pdev;
	fn->next = functions;
	functions = fn;
	LOG_INFO(TAG, "%s: emulated function %s", cfg->name, pdev->addr);
	return 0;
}

static int emu_dev_del(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev)
{
	struct emu_function **slot = function_slot(dev), *fn = *slot;

	if (fn) {
		*slot = fn->next;
		free(fn);
	}
	uvdpa_device_remove(dev);
	return 0;
}

static int emu_dev_set(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev,
		       const struct uvdpa_dev_set_config *cfg, char *err, size_t errlen)
{
	struct emu_function *fn = *function_slot(dev);
	struct uvdpa_pci_dev *pdev = fn ? fn->pdev : NULL;
	int ret = 0;

	if (!pdev) {
		uvdpa_errf(err, errlen, "%s: not an emulated function", dev->name);
		return -ENODEV;
	}
	if (cfg->attrs & UVDPA_SET_CAPACITY) {
		char why[256] = "";

		ret = ifcvf_model_set_capacity(pdev, cfg->capacity, why, sizeof(why));
		if (ret < 0) {
			uvdpa_errf(err, errlen, "%s: cannot set capacity: %s", dev->name,
				   why[0] ? why : strerror(-ret));
			return ret;
		}
	}
	if (cfg->attrs & UVDPA_SET_MAC) {
		ret = ifcvf_model_set_mac(pdev, cfg->mac);
		if (ret < 0) {
			uvdpa_errf(err, errlen, "%s: cannot set mac: %s", dev->name, strerror(-ret));
			return ret;
		}
	}
	if (cfg->attrs & UVDPA_SET_LINK) {
		ret = ifcvf_model_set_link(pdev, cfg->link_up);
		if (ret < 0)
			uvdpa_errf(err, errlen, "%s: cannot set link %s: %s", dev->name,
				   cfg->link_up ? "up" : "down", strerror(-ret));
	}
	return ret;
}

static const struct uvdpa_mgmtdev_ops emu_ops = {
	.dev_add = emu_dev_add,
	.dev_del = emu_dev_del,
	.dev_set = emu_dev_set,
};

/* The net mgmtdevs differ only in name and in the function they make. */
#define EMU_NET_MGMTDEV(mname)                                                                 \
	{                                                                                      \
		.name = (mname), .ops = &emu_ops, .supported_classes = 1u << UVDPA_TYPE_NET,   \
		.config_attrs = UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP |         \
				UVDPA_ATTR_FEATURES | UVDPA_ATTR_DEVARGS | UVDPA_ATTR_PORT,    \
		.max_supported_vqs = IFCVF_MAX_VRINGS,                                         \
	}

static struct emu_mgmtdev emu_net = {
	.m = EMU_NET_MGMTDEV("emu/ifcvf-net"),
	.type = UVDPA_TYPE_NET,
};

/* The same function without the IFCVF's live-migration BAR and ids: what
 * the generic virtio-pci driver serves, on shadow virtqueues when it must
 * migrate or resume. */
static struct emu_mgmtdev emu_virtio_net = {
	.m = EMU_NET_MGMTDEV("emu/virtio-net"),
	.type = UVDPA_TYPE_NET,
	.plain_virtio = true,
};

static struct emu_mgmtdev emu_blk = {
	.m = {
		.name = "emu/ifcvf-blk",
		.ops = &emu_ops,
		.supported_classes = 1u << UVDPA_TYPE_BLK,
		.config_attrs = UVDPA_ATTR_FEATURES | UVDPA_ATTR_DEVARGS | UVDPA_ATTR_FILE |
				UVDPA_ATTR_CAPACITY | UVDPA_ATTR_NUM_QUEUES | UVDPA_ATTR_READONLY,
		.max_supported_vqs = IFCVF_MAX_VRINGS,
	},
	.type = UVDPA_TYPE_BLK,
};

int ifcvf_mgmtdevs_register(unsigned int engines, bool poll, char *err, size_t errlen)
{
	int ret = ifcvf_engine_pool_init(engines, poll);

	if (ret < 0 && ret != -EALREADY) {
		uvdpa_errf(err, errlen, "cannot start %u engine thread(s): %s", engines ? engines : 1,
			   strerror(-ret));
		return ret;
	}
	emu_net.m.supported_features = ifcvf_model_supported_features(UVDPA_TYPE_NET);
	emu_virtio_net.m.supported_features = emu_net.m.supported_features;
	emu_blk.m.supported_features = ifcvf_model_supported_features(UVDPA_TYPE_BLK);
	ret = uvdpa_mgmtdev_register(&emu_net.m);
	if (ret == 0) {
		ret = uvdpa_mgmtdev_register(&emu_virtio_net.m);
		if (ret < 0)
			uvdpa_mgmtdev_unregister(&emu_net.m);
	}
	if (ret == 0) {
		ret = uvdpa_mgmtdev_register(&emu_blk.m);
		if (ret < 0) {
			uvdpa_mgmtdev_unregister(&emu_virtio_net.m);
			uvdpa_mgmtdev_unregister(&emu_net.m);
		}
	}
	if (ret < 0) {
		uvdpa_errf(err, errlen, "cannot register the emu mgmtdevs: %s", strerror(-ret));
		ifcvf_engine_pool_fini();
	}
	return ret;
}

void ifcvf_mgmtdevs_unregister(void)
{
	uvdpa_mgmtdev_unregister(&emu_net.m);
	uvdpa_mgmtdev_unregister(&emu_virtio_net.m);
	uvdpa_mgmtdev_unregister(&emu_blk.m);
	ifcvf_engine_pool_fini();
}
