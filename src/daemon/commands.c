/* The command interpreter: dispatches `uvdpa` argv (objects and commands
 * abbreviate as in iproute2), runs it against the vDPA registries and
 * renders the result the way the kernel's `vdpa` tool does. */
#include <errno.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>

#include "core/util.h"
#include "daemon/cmd_internal.h"
#include "daemon/commands.h"
#include "core/log.h"
#include "uvdpa/vdpa.h"

#define TAG "cmd"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_STATS 64

struct cmd_ctx {
	const struct cmd_env *env;
	bool json, pretty;
	struct cmd_result *res;
};

typedef int (*cmd_fn)(struct cmd_ctx *c, int argc, char *const argv[]);

struct cmd_entry {
	struct cmd_keyword kw;
	cmd_fn fn;
};

static const char usage_text[] =
	"Usage: uvdpa [-j] [-p] [-s SOCK] OBJECT COMMAND\n"
	"       uvdpa [-j] [-p] [-s SOCK] -b FILE\n"
	"where  OBJECT := { mgmtdev | dev }\n"
	"\n"
	"uvdpa mgmtdev show [MGMTDEV]\n"
	"uvdpa dev show [NAME]\n"
	"uvdpa dev add name NAME mgmtdev MGMTDEV [mac MAC] [mtu N] [max_vqp N]\n"
	"      [device_features HEX] [devargs KEY=VALUE,...]\n"
	"      [port loopback|pair:NAME|tap:IFNAME|sink|source]\n"
	"      [file PATH] [capacity SIZE] [num_queues N] [readonly]\n"
	"uvdpa dev del NAME\n"
	"uvdpa dev config show [NAME]\n"
	"uvdpa dev vstats show NAME qidx N\n"
	"uvdpa dev set name NAME [mac MAC] [capacity SIZE] [link up|down]\n"
	"uvdpa dev bind NAME vhost-user PATH [client]\n"
	"uvdpa dev bind NAME tap IFNAME\n"
	"uvdpa dev unbind NAME\n"
	"uvdpa [-j] monitor\n"
	"\n"
	"SIZE is bytes with an optional K, M, G or T suffix (powers of 1024).\n"
	"Keywords may be abbreviated (dev sh = dev show), except mac, mtu,\n"
	"device_features and qidx.\n";

const char *cmd_usage(void)
{
	return usage_text;
}

/* Explains the failure in the result (uvdpa_errf, as everywhere) and
 * evaluates to ret: return fail(c, -EINVAL, "...", ...). */
#define fail(c, ret, ...) \
	(uvdpa_errf((c)->res->error, sizeof((c)->res->error), __VA_ARGS__), (ret))

static int set_output(struct cmd_ctx *c, const char *text)
{
	free(c->res->output);
	c->res->output = strdup(text);
	return c->res->output ? 0 : fail(c, -ENOMEM, "out of memory");
}

/* Renders root into the result and drops it. */
static int emit(struct cmd_ctx *c, json_t *root, const char *const *line_keys)
{
	char *out;

	if (!root)
		return fail(c, -ENOMEM, "out of memory");
	out = cmd_render(root, c->json, c->pretty, line_keys);
	json_decref(root);
	if (!out)
		return fail(c, -ENOMEM, "out of memory");
	free(c->res->output);
	c->res->output = out;
	return 0;
}

/* {"section": {}} with the inner object returned through *inner. */
static json_t *new_section(const char *section, json_t **inner)
{
	json_t *root = json_object();

	*inner = json_object();
	if (!root || !*inner || json_object_set_new(root, section, *inner) < 0) {
		json_decref(root);
		*inner = NULL;
		return NULL;
	}
	return root;
}

/* ---- Registered objects by name ---- */

/* What the commands look up and list by name: devices and mgmtdevs, so
 * "not found (devices: a, b)" and "show [NAME]" are written once. */
struct obj_kind {
	const char *what, *plural;	/* "device", "devices" */
	void *(*find)(const char *name);
	void *(*first)(void);
	void *(*next)(void *obj);
	const char *(*name)(void *obj);
};

static void *device_find(const char *name)
{
	return uvdpa_device_find(name);
}

static void *device_first(void)
{
	return uvdpa_device_first();
}

static void *device_next(void *obj)
{
	return ((struct uvdpa_device *)obj)->next;
}

static const char *device_name(void *obj)
{
	return ((struct uvdpa_device *)obj)->name;
}

static void *mgmtdev_find(const char *name)
{
	return uvdpa_mgmtdev_find(name);
}

static void *mgmtdev_first(void)
{
	return uvdpa_mgmtdev_first();
}

static void *mgmtdev_next(void *obj)
{
	return ((struct uvdpa_mgmtdev *)obj)->next;
}

static const char *mgmtdev_name(void *obj)
{
	return ((struct uvdpa_mgmtdev *)obj)->name;
}

static const struct obj_kind devices = {
	"device", "devices", device_find, device_first, device_next, device_name,
};

static const struct obj_kind mgmtdevs = {
	"mgmtdev", "mgmtdevs", mgmtdev_find, mgmtdev_first, mgmtdev_next, mgmtdev_name,
};

/* The object called name, or NULL with "not found (devices: a, b)" set. */
static void *find_obj(struct cmd_ctx *c, const struct obj_kind *k, const char *name)
{
	void *obj = k->find(name);
	char known[512];
	struct uvdpa_join j;

	if (obj)
		return obj;
	uvdpa_join_init(&j, known, sizeof(known), ", ");
	for (void *o = k->first(); o; o = k->next(o))
		uvdpa_join_add(&j, k->name(o));
	uvdpa_errf(c->res->error, sizeof(c->res->error), "%s %s not found (%s: %s)", k->what, name,
		   k->plural, uvdpa_join_str(&j, "none"));
	return NULL;
}

static int find_device(struct cmd_ctx *c, const char *name, struct uvdpa_device **out)
{
	*out = find_obj(c, &devices, name);
	return *out ? 0 : -ENODEV;
}

static int no_more_args(struct cmd_ctx *c, const char *cmd, int argc, char *const argv[], int max)
{
	if (argc <= max)
		return 0;
	return fail(c, -EINVAL, "%s: unexpected \"%s\": see uvdpa help", cmd, argv[max]);
}

/* The kernel tool's "show [NAME]": {section: {name: to_json(obj)}} for
 * the one object named in argv, or for all of them without a name. */
static int show_one_or_all(struct cmd_ctx *c, const struct obj_kind *k, const char *cmd,
			   const char *section, json_t *(*to_json)(void *obj),
			   const char *const *line_keys, int argc, char *const argv[])
{
	void *one = NULL;
	json_t *root, *sect;

	if (no_more_args(c, cmd, argc, argv, 1))
		return -EINVAL;
	if (argc == 1 && !(one = find_obj(c, k, argv[0])))
		return -ENODEV;
	root = new_section(section, &sect);
	if (!root)
		return fail(c, -ENOMEM, "out of memory");
	for (void *o = one ? one : k->first(); o; o = one ? NULL : k->next(o)) {
		if (json_object_set_new(sect, k->name(o), to_json(o)) < 0) {
			json_decref(root);
			return fail(c, -ENOMEM, "out of memory");
		}
	}
	return emit(c, root, line_keys);
}

/* ---- Device queries ---- */

static enum uvdpa_dev_type device_type(struct uvdpa_device *dev)
{
	enum uvdpa_dev_type t = dev->type;

	if (dev->ops && dev->ops->get_dev_type)
		dev->ops->get_dev_type(dev, &t);
	return t;
}

static uint64_t device_features(struct uvdpa_device *dev)
{
	uint64_t f = 0;

	if (dev->ops && dev->ops->get_features && dev->ops->get_features(dev, &f) < 0)
		f = 0;
	return f;
}

/* Virtqueues, as the kernel counts them: net 2 per pair plus the control
 * queue; 0 when the device cannot tell. */
static uint32_t device_max_vqs(struct uvdpa_device *dev)
{
	uint32_t n = 0;

	if (!dev->ops || !dev->ops->get_queue_num || dev->ops->get_queue_num(dev, &n) < 0)
		return 0;
	if (device_type(dev) == UVDPA_TYPE_NET)
		return 2 * n + ((device_features(dev) >> VIRTIO_NET_F_CTRL_VQ) & 1);
	return n;
}

static const char *type_name(enum uvdpa_dev_type t)
{
	switch (t) {
	case UVDPA_TYPE_NET:
		return "network";
	case UVDPA_TYPE_BLK:
		return "block";
	default:
		return "<unknown type>";
	}
}

/* For the metrics endpoint: what `dev show` says of a device. */
uint32_t cmd_device_max_vqs(struct uvdpa_device *dev)
{
	return device_max_vqs(dev);
}

const char *cmd_device_type_name(struct uvdpa_device *dev)
{
	return type_name(device_type(dev));
}

static int set_int(json_t *obj, const char *key, uint64_t v)
{
	return json_object_set_new(obj, key, json_integer((json_int_t)v));
}

static int set_str(json_t *obj, const char *key, const char *v)
{
	return json_object_set_new(obj, key, json_string(v));
}

/* ---- mgmtdev show ---- */

static json_t *mgmtdev_json(void *mgmtdev)
{
	const struct uvdpa_mgmtdev *m = mgmtdev;
	json_t *obj = json_object(), *classes = json_array();
	enum uvdpa_dev_type ftype = UVDPA_TYPE_NONE;

	if (!obj || !classes)
		goto fail;
	if (m->supported_classes & (1u << UVDPA_TYPE_NET))
		json_array_append_new(classes, json_string("net"));
	if (m->supported_classes & (1u << UVDPA_TYPE_BLK))
		json_array_append_new(classes, json_string("block"));
	if (json_object_set_new(obj, "supported_classes", classes) < 0) {
		classes = NULL;
		goto fail;
	}
	classes = NULL;
	/* The kernel tool names net bits only for a net-capable mgmtdev. */
	if (m->supported_classes & (1u << UVDPA_TYPE_NET))
		ftype = UVDPA_TYPE_NET;
	else if (m->supported_classes & (1u << UVDPA_TYPE_BLK))
		ftype = UVDPA_TYPE_BLK;
	if (set_int(obj, "max_supported_vqs", m->max_supported_vqs) < 0 ||
	    json_object_set_new(obj, "dev_features",
				cmd_features_json(ftype, m->supported_features)) < 0)
		goto fail;
	return obj;
fail:
	json_decref(classes);
	json_decref(obj);
	return NULL;
}

static int cmd_mgmtdev_show(struct cmd_ctx *c, int argc, char *const argv[])
{
	static const char *const line_keys[] = { "supported_classes", "max_supported_vqs",
						 "dev_features", NULL };

	return show_one_or_all(c, &mgmtdevs, "mgmtdev show", "mgmtdev", mgmtdev_json, line_keys,
			       argc, argv);
}

static int cmd_mgmtdev_help(struct cmd_ctx *c, int argc, char *const argv[])
{
	return set_output(c, "Usage: uvdpa mgmtdev show [MGMTDEV]\n");
}

static const struct cmd_entry mgmtdev_cmds[] = {
	{ { "show", false }, cmd_mgmtdev_show },
	{ { "list", false }, cmd_mgmtdev_show },
	{ { "help", false }, cmd_mgmtdev_help },
};

/* ---- dev show ---- */

/* How long the bus driver's calls of dev_conf / dev_close took, when it
 * times them and they ran: PREFIX_count, _last_us, _min_us, _max_us, and
 * _p50_le_us / _p99_le_us, at most how long the median / 99th percentile
 * call took (the top of its power-of-two histogram bucket). */
static int op_timing_json(json_t *obj, const char *prefix, const struct uvdpa_op_timing *t)
{
	const struct {
		const char *suffix;
		uint64_t v;
	} fields[] = {
		{ "count", t->count },
		{ "last_us", t->last_us },
		{ "min_us", t->min_us },
		{ "max_us", t->max_us },
		{ "p50_le_us", uvdpa_op_timing_pct_le(t, 50) },
		{ "p99_le_us", uvdpa_op_timing_pct_le(t, 99) },
	};
	char key[64];
	size_t i;
	int ret = 0;

	if (!t->count)
		return 0;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(key, sizeof(key), "%s_%s", prefix, fields[i].suffix);
		ret |= set_int(obj, key, fields[i].v);
	}
	return ret;
}

static json_t *dev_json(void *device)
{
	struct uvdpa_device *dev = device;
	struct uvdpa_bind_status st;
	json_t *obj = json_object();
	uint32_t max_vqs = device_max_vqs(dev);
	int ret = 0;

	if (!obj)
		return NULL;
	ret |= set_str(obj, "type", type_name(device_type(dev)));
	if (dev->mgmtdev)
		ret |= set_str(obj, "mgmtdev", dev->mgmtdev->name);
	ret |= set_int(obj, "vendor_id", dev->vendor_id);
	if (max_vqs)
		ret |= set_int(obj, "max_vqs", max_vqs);
	if (dev->max_vq_size)
		ret |= set_int(obj, "max_vq_size", dev->max_vq_size);
	/* uvdpa's additions: a device that faulted and waits for a reset... */
	if (dev->ops && dev->ops->get_status) {
		uint8_t status;

		if (dev->ops->get_status(dev, &status) == 0 &&
		    (status & VIRTIO_CONFIG_S_NEEDS_RESET))
			ret |= json_object_set_new(obj, "needs_reset", json_true());
	}
	/* ...how it migrates and whether it logs dirty pages now... */
	if (dev->ops && dev->ops->get_migration) {
		struct uvdpa_migration_state ms;

		if (dev->ops->get_migration(dev, &ms) == 0) {
			ret |= set_str(obj, "migration", uvdpa_migration_mode_name(ms.mode));
			ret |= json_object_set_new(obj, "logging", json_boolean(ms.logging));
		}
	}
	/* ...and the bus driver the device is exposed through. */
	if (dev->bus) {
		int sret = uvdpa_device_bind_status(dev, &st);

		ret |= set_str(obj, "bound", dev->bus->name);
		if (sret == 0) {
			ret |= set_str(obj, "path", st.path);
			ret |= json_object_set_new(obj, "connected", json_boolean(st.connected));
			ret |= op_timing_json(obj, "dev_conf", &st.dev_conf);
			ret |= op_timing_json(obj, "dev_close", &st.dev_close);
		}
	}
	if (ret) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static int cmd_dev_show(struct cmd_ctx *c, int argc, char *const argv[])
{
	static const char *const line_keys[] = { "dev_conf_count", "dev_close_count", NULL };

	return show_one_or_all(c, &devices, "dev show", "dev", dev_json, line_keys, argc, argv);
}

/* ---- dev config show ---- */

static int read_config(struct uvdpa_device *dev, void *buf, uint32_t len)
{
	if (!dev->ops || !dev->ops->get_config)
		return -EOPNOTSUPP;
	return dev->ops->get_config(dev, buf, 0, len);
}

static int net_config_json(struct uvdpa_device *dev, json_t *obj)
{
	struct virtio_net_config cfg;
	uint64_t f = device_features(dev);
	int ret = 0;

	memset(&cfg, 0, sizeof(cfg));
	if (read_config(dev, &cfg, offsetof(struct virtio_net_config, mtu) + sizeof(cfg.mtu)) < 0)
		return 0;	/* no config space: the handle alone, as the kernel */
	if (f & (1ull << VIRTIO_NET_F_MAC)) {
		char mac[18];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", cfg.mac[0], cfg.mac[1],
			 cfg.mac[2], cfg.mac[3], cfg.mac[4], cfg.mac[5]);
		ret |= set_str(obj, "mac", mac);
	}
	if (f & (1ull << VIRTIO_NET_F_STATUS)) {
		uint16_t status = le16toh(cfg.status);

		ret |= set_str(obj, "link", (status & VIRTIO_NET_S_LINK_UP) ? "up" : "down");
		ret |= json_object_set_new(obj, "link_announce",
					   json_boolean(status & VIRTIO_NET_S_ANNOUNCE));
	}
	ret |= set_int(obj, "max_vq_pairs",
		       (f & (1ull << VIRTIO_NET_F_MQ)) ? le16toh(cfg.max_virtqueue_pairs) : 1);
	if (f & (1ull << VIRTIO_NET_F_MTU))
		ret |= set_int(obj, "mtu", le16toh(cfg.mtu));
	return ret ? -ENOMEM : 0;
}

/* The kernel tool prints nothing for blk; uvdpa shows the virtio-blk config
 * fields the device offers (capacity in bytes, like `dev add capacity`). */
static int blk_config_json(struct uvdpa_device *dev, json_t *obj)
{
	struct virtio_blk_config cfg;
	uint64_t f = device_features(dev);
	int ret = 0;

	memset(&cfg, 0, sizeof(cfg));
	/* Up to the write-zeroes fields; a device with a shorter config space
	 * reads what it has. */
	if (read_config(dev, &cfg, offsetof(struct virtio_blk_config, write_zeroes_may_unmap) + 1) < 0 &&
	    read_config(dev, &cfg,
			offsetof(struct virtio_blk_config, num_queues) + sizeof(cfg.num_queues)) < 0)
		return 0;
	ret |= set_int(obj, "capacity", le64toh(cfg.capacity) * 512);
	if (f & (1ull << VIRTIO_BLK_F_SIZE_MAX))
		ret |= set_int(obj, "size_max", le32toh(cfg.size_max));
	if (f & (1ull << VIRTIO_BLK_F_SEG_MAX))
		ret |= set_int(obj, "seg_max", le32toh(cfg.seg_max));
	if (f & (1ull << VIRTIO_BLK_F_BLK_SIZE))
		ret |= set_int(obj, "blk_size", le32toh(cfg.blk_size));
	if (f & (1ull << VIRTIO_BLK_F_TOPOLOGY)) {
		ret |= set_int(obj, "physical_block_exp", cfg.physical_block_exp);
		ret |= set_int(obj, "alignment_offset", cfg.alignment_offset);
		ret |= set_int(obj, "min_io_size", le16toh(cfg.min_io_size));
		ret |= set_int(obj, "opt_io_size", le32toh(cfg.opt_io_size));
	}
	ret |= set_int(obj, "num_queues",
		       (f & (1ull << VIRTIO_BLK_F_MQ)) ? le16toh(cfg.num_queues) : 1);
	if (f & (1ull << VIRTIO_BLK_F_DISCARD)) {
		ret |= set_int(obj, "max_discard_sectors", le32toh(cfg.max_discard_sectors));
		ret |= set_int(obj, "max_discard_seg", le32toh(cfg.max_discard_seg));
		ret |= set_int(obj, "discard_sector_alignment",
			       le32toh(cfg.discard_sector_alignment));
	}
	if (f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES)) {
		ret |= set_int(obj, "max_write_zeroes_sectors",
			       le32toh(cfg.max_write_zeroes_sectors));
		ret |= set_int(obj, "max_write_zeroes_seg", le32toh(cfg.max_write_zeroes_seg));
	}
	ret |= json_object_set_new(obj, "read_only", json_boolean(f & (1ull << VIRTIO_BLK_F_RO)));
	ret |= json_object_set_new(obj, "flush", json_boolean(f & (1ull << VIRTIO_BLK_F_FLUSH)));
	if (f & (1ull << VIRTIO_BLK_F_CONFIG_WCE))
		ret |= set_str(obj, "write_cache", cfg.wce ? "writeback" : "writethrough");
	return ret ? -ENOMEM : 0;
}

static json_t *config_json(void *device)
{
	struct uvdpa_device *dev = device;
	enum uvdpa_dev_type t = device_type(dev);
	struct uvdpa_bind_status st;
	json_t *obj = json_object();
	int ret = 0;

	if (!obj)
		return NULL;
	if (t == UVDPA_TYPE_NET)
		ret = net_config_json(dev, obj);
	else if (t == UVDPA_TYPE_BLK)
		ret = blk_config_json(dev, obj);
	/* As the kernel: only once the driver side has accepted features. */
	if (!ret && uvdpa_device_bind_status(dev, &st) == 0 && st.features_ok)
		ret = json_object_set_new(obj, "negotiated_features",
					  cmd_features_json(t, st.negotiated_features));
	if (ret) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static int cmd_dev_config_show(struct cmd_ctx *c, int argc, char *const argv[])
{
	static const char *const line_keys[] = { "negotiated_features", NULL };

	return show_one_or_all(c, &devices, "dev config show", "config", config_json, line_keys,
			       argc, argv);
}

static int cmd_dev_config_help(struct cmd_ctx *c, int argc, char *const argv[])
{
	return set_output(c, "Usage: uvdpa dev config show [NAME]\n");
}

static const struct cmd_entry dev_config_cmds[] = {
	{ { "show", false }, cmd_dev_config_show },
	{ { "help", false }, cmd_dev_config_help },
};

/* ---- dev vstats show ---- */

static const char *queue_type(struct uvdpa_device *dev, uint32_t qidx)
{
	uint64_t f = device_features(dev);
	uint32_t pairs = 0;

	if (device_type(dev) != UVDPA_TYPE_NET)
		return NULL;
	if (dev->ops->get_queue_num)
		dev->ops->get_queue_num(dev, &pairs);
	if ((f & (1ull << VIRTIO_NET_F_CTRL_VQ)) && qidx == 2 * pairs)
		return "control_vq";
	return (qidx & 1) ? "tx" : "rx";
}

/* For the metrics endpoint: the queue_type of `dev vstats show` (NULL but
 * for net devices). */
const char *cmd_queue_type_name(struct uvdpa_device *dev, uint32_t qidx)
{
	return queue_type(dev, qidx);
}

static int cmd_dev_vstats_show(struct cmd_ctx *c, int argc, char *const argv[])
{
	static const struct cmd_keyword qidx_kw[] = { { "qidx", true } };
	struct uvdpa_vq_stats st;
	struct uvdpa_device *dev;
	json_t *root, *sect, *obj;
	uint32_t max_vqs;
	uint64_t qidx;
	const char *qt;
	int i, ret;

	if (argc < 1)
		return fail(c, -EINVAL, "dev vstats show: the device is missing: "
			    "dev vstats show NAME qidx N");
	if (argc < 2 || cmd_keyword_match(argv[1], qidx_kw, 1) < 0)
		return fail(c, -EINVAL, "dev vstats show %s: the queue index is missing: "
			    "add qidx N", argv[0]);
	if (argc < 3)
		return fail(c, -EINVAL, "dev vstats show %s: qidx needs a value: qidx N", argv[0]);
	if (no_more_args(c, "dev vstats show", argc, argv, 3))
		return -EINVAL;
	if (find_device(c, argv[0], &dev) < 0)
		return -ENODEV;
	max_vqs = device_max_vqs(dev);
	ret = cmd_parse_uint("qidx", argv[2], 0, max_vqs ? max_vqs - 1 : 65535, &qidx,
			     c->res->error, sizeof(c->res->error));
	if (ret < 0) {
		if (max_vqs && ret == -ERANGE)
			return fail(c, -EINVAL, "qidx %s is out of range: device %s has %u "
				    "virtqueues, use 0..%u", argv[2], dev->name, max_vqs,
				    max_vqs - 1);
		return ret;
	}
	if (!dev->ops || !dev->ops->get_vq_stats)
		return fail(c, -EOPNOTSUPP, "device %s has no queue statistics", dev->name);
	memset(&st, 0, sizeof(st));
	ret = dev->ops->get_vq_stats(dev, (uint16_t)qidx, &st);
	if (ret < 0)
		return fail(c, ret, "device %s: cannot read statistics of queue %llu: %s",
			    dev->name, (unsigned long long)qidx, strerror(-ret));

	root = new_section("vstats", &sect);
	obj = json_object();
	if (!root || !obj || json_object_set_new(sect, dev->name, obj) < 0)
		goto oom;
	qt = queue_type(dev, (uint32_t)qidx);
	ret = 0;
	if (qt)
		ret |= set_str(obj, "queue_type", qt);
	ret |= set_int(obj, "queue_index", qidx);
	for (i = 0; i < UVDPA_VQ_STAT_NUM; i++)
		if (st.valid & (1ull << i))
			ret |= set_int(obj, uvdpa_vq_stat_name((enum uvdpa_vq_stat)i), st.value[i]);
	if (ret)
		goto oom;
	return emit(c, root, NULL);
oom:
	json_decref(root);
	return fail(c, -ENOMEM, "out of memory");
}

static int cmd_dev_vstats_help(struct cmd_ctx *c, int argc, char *const argv[])
{
	return set_output(c, "Usage: uvdpa dev vstats show NAME qidx N\n");
}

static const struct cmd_entry dev_vstats_cmds[] = {
	{ { "show", false }, cmd_dev_vstats_show },
	{ { "help", false }, cmd_dev_vstats_help },
};

/* ---- dev add / del / set ---- */

static int cmd_dev_add(struct cmd_ctx *c, int argc, char *const argv[])
{
	struct uvdpa_dev_add_config cfg;
	char mname[UVDPA_NAME_MAX];
	struct uvdpa_mgmtdev *m;
	int ret;

	ret = cmd_parse_dev_add(argc, argv, &cfg, mname, c->res->error, sizeof(c->res->error));
	if (ret < 0)
		return ret;
	m = find_obj(c, &mgmtdevs, mname);
	if (!m)
		return -ENODEV;
	if ((cfg.attrs & UVDPA_ATTR_NUM_QUEUES) && m->max_supported_vqs &&
	    cfg.num_queues > m->max_supported_vqs)
		return fail(c, -EINVAL, "num_queues %u is too large: mgmtdev %s supports at most %u "
			    "queues", cfg.num_queues, m->name, m->max_supported_vqs);
	ret = uvdpa_mgmtdev_dev_add(m, &cfg, c->res->error, sizeof(c->res->error));
	if (ret == 0)
		LOG_INFO(TAG, "device %s added on %s", cfg.name, m->name);
	return ret;
}

static int cmd_dev_del(struct cmd_ctx *c, int argc, char *const argv[])
{
	struct uvdpa_device *dev;
	char name[UVDPA_NAME_MAX];
	int ret;

	if (argc < 1)
		return fail(c, -EINVAL, "dev del: the device is missing: dev del NAME");
	if (no_more_args(c, "dev del", argc, argv, 1))
		return -EINVAL;
	if (find_device(c, argv[0], &dev) < 0)
		return -ENODEV;
	snprintf(name, sizeof(name), "%s", dev->name);
	ret = uvdpa_mgmtdev_dev_del(dev, c->res->error, sizeof(c->res->error));
	if (ret == 0)
		LOG_INFO(TAG, "device %s deleted", name);
	return ret;
}

static int cmd_dev_set(struct cmd_ctx *c, int argc, char *const argv[])
{
	struct uvdpa_dev_set_config cfg;
	struct uvdpa_device *dev;
	char name[UVDPA_NAME_MAX];
	int ret;

	ret = cmd_parse_dev_set(argc, argv, name, &cfg, c->res->error, sizeof(c->res->error));
	if (ret < 0)
		return ret;
	if (find_device(c, name, &dev) < 0)
		return -ENODEV;
	if ((cfg.attrs & UVDPA_SET_MAC) && device_type(dev) != UVDPA_TYPE_NET)
		return fail(c, -EINVAL, "dev set: device %s is not a network device: mac does not "
			    "apply", name);
	if ((cfg.attrs & UVDPA_SET_LINK) && device_type(dev) != UVDPA_TYPE_NET)
		return fail(c, -EINVAL, "dev set: device %s is not a network device: link does "
			    "not apply", name);
	if ((cfg.attrs & UVDPA_SET_CAPACITY) && device_type(dev) != UVDPA_TYPE_BLK)
		return fail(c, -EINVAL, "dev set: device %s is not a block device: capacity does "
			    "not apply", name);
	return uvdpa_mgmtdev_dev_set(dev, &cfg, c->res->error, sizeof(c->res->error));
}

/* ---- dev bind / unbind ---- */

static int cmd_dev_bind(struct cmd_ctx *c, int argc, char *const argv[])
{
	struct cmd_bind_args a;
	struct uvdpa_bind_args args;
	struct uvdpa_device *dev;
	int ret;

	ret = cmd_parse_dev_bind(argc, argv, &a, c->res->error, sizeof(c->res->error));
	if (ret < 0)
		return ret;
	if (find_device(c, a.name, &dev) < 0)
		return -ENODEV;
	args = (struct uvdpa_bind_args){ .path = a.path, .client = a.client, .loop = c->env->loop };
	ret = uvdpa_device_bind(dev, a.bus, &args, c->res->error, sizeof(c->res->error));
	if (ret == 0)
		LOG_INFO(TAG, "device %s bound to %s %s%s", dev->name, a.bus, a.path,
			 a.client ? " (client)" : "");
	return ret;
}

static int cmd_dev_unbind(struct cmd_ctx *c, int argc, char *const argv[])
{
	struct uvdpa_device *dev;

	if (argc < 1)
		return fail(c, -EINVAL, "dev unbind: the device is missing: dev unbind NAME");
	if (no_more_args(c, "dev unbind", argc, argv, 1))
		return -EINVAL;
	if (find_device(c, argv[0], &dev) < 0)
		return -ENODEV;
	if (!dev->bus)
		return fail(c, -ENOTCONN, "device %s is not bound: nothing to unbind", dev->name);
	uvdpa_device_unbind(dev);
	LOG_INFO(TAG, "device %s unbound", dev->name);
	return 0;
}

/* ---- Dispatch ---- */

static int dispatch(struct cmd_ctx *c, const char *what, const struct cmd_entry *table, size_t n,
		    int argc, char *const argv[])
{
	struct cmd_keyword kw[16];
	struct uvdpa_join j;
	char known[256];
	int i;

	if (n > ARRAY_SIZE(kw))
		return fail(c, -E2BIG, "internal error: %s table too large", what);
	for (i = 0; i < (int)n; i++)
		kw[i] = table[i].kw;
	i = cmd_keyword_match(argv[0], kw, n);
	if (i >= 0)
		return table[i].fn(c, argc - 1, argv + 1);
	uvdpa_join_init(&j, known, sizeof(known), ", ");
	for (size_t k = 0; k < n; k++)
		uvdpa_join_add(&j, table[k].kw.word);
	return fail(c, -EINVAL, "%s \"%s\" is unknown: use %s", what, argv[0], known);
}

static int cmd_dev_config(struct cmd_ctx *c, int argc, char *const argv[])
{
	if (argc == 0)
		return cmd_dev_config_show(c, 0, argv);
	return dispatch(c, "dev config command", dev_config_cmds, ARRAY_SIZE(dev_config_cmds), argc,
			argv);
}

static int cmd_dev_vstats(struct cmd_ctx *c, int argc, char *const argv[])
{
	if (argc == 0)
		return fail(c, -EINVAL, "dev vstats: use dev vstats show NAME qidx N");
	return dispatch(c, "dev vstats command", dev_vstats_cmds, ARRAY_SIZE(dev_vstats_cmds), argc,
			argv);
}

static int cmd_dev_help(struct cmd_ctx *c, int argc, char *const argv[])
{
	return set_output(c, usage_text);
}

/* Order matters for abbreviations, as in iproute2: "s" is show. */
static const struct cmd_entry dev_cmds[] = {
	{ { "show", false }, cmd_dev_show },
	{ { "list", false }, cmd_dev_show },
	{ { "add", false }, cmd_dev_add },
	{ { "del", false }, cmd_dev_del },
	{ { "config", false }, cmd_dev_config },
	{ { "vstats", false }, cmd_dev_vstats },
	{ { "set", false }, cmd_dev_set },
	{ { "bind", false }, cmd_dev_bind },
	{ { "unbind", false }, cmd_dev_unbind },
	{ { "help", false }, cmd_dev_help },
};

static int cmd_mgmtdev(struct cmd_ctx *c, int argc, char *const argv[])
{
	if (argc == 0)
		return cmd_mgmtdev_help(c, 0, argv);
	return dispatch(c, "mgmtdev command", mgmtdev_cmds, ARRAY_SIZE(mgmtdev_cmds), argc, argv);
}

static int cmd_dev(struct cmd_ctx *c, int argc, char *const argv[])
{
	if (argc == 0)
		return cmd_dev_show(c, 0, argv);
	return dispatch(c, "dev command", dev_cmds, ARRAY_SIZE(dev_cmds), argc, argv);
}

static int cmd_help(struct cmd_ctx *c, int argc, char *const argv[])
{
	return set_output(c, usage_text);
}

/* The connection becomes a stream of event lines (uvdpad sends them). */
static int cmd_monitor(struct cmd_ctx *c, int argc, char *const argv[])
{
	int ret = no_more_args(c, "monitor", argc, argv, 0);

	if (ret < 0)
		return ret;
	c->res->stream = true;
	return 0;
}

static const struct cmd_entry objects[] = {
	{ { "mgmtdev", false }, cmd_mgmtdev },
	{ { "dev", false }, cmd_dev },
	{ { "monitor", false }, cmd_monitor },
	{ { "help", false }, cmd_help },
};

int cmd_execute(const struct cmd_env *env, int argc, char *const argv[], bool json, bool pretty,
		struct cmd_result *res)
{
	struct cmd_ctx c = { .env = env, .json = json, .pretty = pretty, .res = res };
	int ret;

	res->output = NULL;
	res->error[0] = '\0';
	res->stream = false;
	if (argc < 1)
		return fail(&c, -EINVAL, "no command: use mgmtdev, dev or monitor (uvdpa help)");
	ret = dispatch(&c, "object", objects, ARRAY_SIZE(objects), argc, argv);
	if (ret < 0 && !res->error[0])
		uvdpa_errf(res->error, sizeof(res->error), "%s", strerror(-ret));
	if (ret < 0) {
		/* Nothing half-printed on failure. */
		free(res->output);
		res->output = NULL;
	}
	return ret;
}

void cmd_result_free(struct cmd_result *res)
{
	if (!res)
		return;
	free(res->output);
	res->output = NULL;
}
