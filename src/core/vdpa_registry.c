/* The vDPA core registries: devices, drivers (with PCI id matching),
 * management devices and bus drivers, plus device <-> bus-driver binding and
 * the "dev add" validation rules of the kernel's vdpa tool.
 *
 * Not thread-safe by design: every function here runs on the control thread
 * (the event loop), which owns all registration and binding. The lists are
 * intrusive (the caller owns every object); nothing here allocates or frees. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "core/log.h"
#include "uvdpa/pci.h"
#include "core/registry.h"
#include "uvdpa/events.h"
#include "uvdpa/vdpa.h"

#define TAG "vdpa"

/* Feature bits that the kernel tool requires alongside mac/mtu/max_vqp. */
#define VIRTIO_NET_F_MTU_BIT 3
#define VIRTIO_NET_F_MAC_BIT 5
#define VIRTIO_NET_F_MQ_BIT 22

#define MIN_MTU 68

/* All lists keep registration order: new entries go at the tail, so
 * uvdpa_driver_match() prefers the driver registered first. */
static struct uvdpa_device *devices;
static struct uvdpa_driver *drivers;
static struct uvdpa_mgmtdev *mgmtdevs;
static struct uvdpa_bus_driver *bus_drivers;


static bool name_char_valid(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':' || c == '-';
}

_Static_assert(UVDPA_NAME_MAX == 64, "update the \"too long\" message below");

/* Explains what is wrong with a device name, or returns NULL if it is fine.
 * name points to a char[UVDPA_NAME_MAX] that need not be NUL-terminated. */
static const char *device_name_problem(const char *name)
{
	size_t len = strnlen(name, UVDPA_NAME_MAX);

	if (len == 0)
		return "is empty";
	if (len == UVDPA_NAME_MAX)
		return "is too long (max 63 characters)";
	for (size_t i = 0; i < len; i++) {
		if (!name_char_valid(name[i]))
			return "has a character outside [A-Za-z0-9_.:-]";
	}
	return NULL;
}

/* Generic list helpers: every registry type has a "next" member, so these
 * work on a pointer to the head and a pointer to an entry's next field. */
#define LIST_APPEND(head, entry)                                   \
	do {                                                       \
		__typeof__(head) *link_ = &(head);                 \
		while (*link_)                                     \
			link_ = &(*link_)->next;                   \
		(entry)->next = NULL;                              \
		*link_ = (entry);                                  \
	} while (0)

#define LIST_REMOVE(head, entry)                                   \
	do {                                                       \
		__typeof__(head) *link_ = &(head);                 \
		while (*link_ && *link_ != (entry))                \
			link_ = &(*link_)->next;                   \
		if (*link_) {                                      \
			*link_ = (entry)->next;                    \
			(entry)->next = NULL;                      \
		}                                                  \
	} while (0)

static bool device_registered(const struct uvdpa_device *dev)
{
	for (const struct uvdpa_device *d = devices; d; d = d->next) {
		if (d == dev)
			return true;
	}
	return false;
}

static bool mgmtdev_registered(const struct uvdpa_mgmtdev *m)
{
	for (const struct uvdpa_mgmtdev *x = mgmtdevs; x; x = x->next) {
		if (x == m)
			return true;
	}
	return false;
}

/* ---- devices ---- */

int uvdpa_device_register(struct uvdpa_device *dev)
{
	const char *problem;

	if (!dev)
		return -EINVAL;
	problem = device_name_problem(dev->name);
	if (problem) {
		LOG_DEBUG(TAG, "device name \"%.*s\" %s", UVDPA_NAME_MAX - 1, dev->name, problem);
		return -EINVAL;
	}
	if (device_registered(dev) || uvdpa_device_find(dev->name))
		return -EEXIST;
	LIST_APPEND(devices, dev);
	uvdpa_event_emit(UVDPA_EVENT_DEV_ADD, dev->name, "type %s%s%s",
			 dev->type == UVDPA_TYPE_BLK ? "block" : dev->type == UVDPA_TYPE_NET ?
			 "net" : "none", dev->mgmtdev ? " mgmtdev " : "",
			 dev->mgmtdev ? dev->mgmtdev->name : "");
	return 0;
}

void uvdpa_device_unregister(struct uvdpa_device *dev)
{
	if (!dev || !device_registered(dev))
		return;
	if (dev->bus)
		uvdpa_device_unbind(dev);
	LIST_REMOVE(devices, dev);
	uvdpa_event_emit(UVDPA_EVENT_DEV_DEL, dev->name, NULL);
}

struct uvdpa_device *uvdpa_device_find(const char *name)
{
	if (!name)
		return NULL;
	for (struct uvdpa_device *d = devices; d; d = d->next) {
		if (strncmp(d->name, name, UVDPA_NAME_MAX) == 0)
			return d;
	}
	return NULL;
}

struct uvdpa_device *uvdpa_device_first(void)
{
	return devices;
}

/* ---- drivers and PCI id matching ---- */

static bool pci_field_match(uint16_t want, uint16_t have)
{
	return want == UVDPA_PCI_ANY || want == have;
}

bool uvdpa_pci_id_match(const struct uvdpa_pci_id *table, const struct uvdpa_pci_id *id)
{
	if (!table || !id)
		return false;
	for (const struct uvdpa_pci_id *t = table; t->vendor != 0; t++) {
		if (pci_field_match(t->vendor, id->vendor) && pci_field_match(t->device, id->device) &&
		    pci_field_match(t->subsys_vendor, id->subsys_vendor) &&
		    pci_field_match(t->subsys_device, id->subsys_device))
			return true;
	}
	return false;
}

int uvdpa_driver_register(struct uvdpa_driver *drv)
{
	if (!drv || !drv->name || !drv->name[0])
		return -EINVAL;
	for (struct uvdpa_driver *d = drivers; d; d = d->next) {
		if (d == drv || strcmp(d->name, drv->name) == 0)
			return -EEXIST;
	}
	LIST_APPEND(drivers, drv);
	return 0;
}

void uvdpa_driver_unregister(struct uvdpa_driver *drv)
{
	if (drv)
		LIST_REMOVE(drivers, drv);
}

struct uvdpa_driver *uvdpa_driver_find(const char *name)
{
	if (!name)
		return NULL;
	for (struct uvdpa_driver *d = drivers; d; d = d->next) {
		if (strcmp(d->name, name) == 0)
			return d;
	}
	return NULL;
}

struct uvdpa_driver *uvdpa_driver_match(const struct uvdpa_pci_id *id)
{
	for (struct uvdpa_driver *d = drivers; d; d = d->next) {
		if (uvdpa_pci_id_match(d->id_table, id))
			return d;
	}
	return NULL;
}

/* The core's half of the driver model: a function goes to the first
 * registered driver whose id table matches it (so a specific driver
 * registered before a generic one wins), and that driver's answer is final:
 * its refusal says what is wrong with the function, which another driver
 * would only obscure. */
int uvdpa_pci_probe(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *args,
		   struct uvdpa_device **out, char *err, size_t errlen)
{
	struct uvdpa_driver *d = uvdpa_driver_match(&pdev->id);
	int ret;

	if (!d || !d->probe) {
		uvdpa_errf(err, errlen, "%s: no driver for %04x:%04x (subsystem %04x:%04x)",
			   pdev->addr, pdev->id.vendor, pdev->id.device, pdev->id.subsys_vendor,
			   pdev->id.subsys_device);
		return -ENODEV;
	}
	ret = d->probe(pdev, args, out, err, errlen);
	if (ret == 0 && !(*out)->driver)
		(*out)->driver = d;
	return ret;
}

void uvdpa_device_remove(struct uvdpa_device *dev)
{
	if (dev && dev->driver && dev->driver->remove)
		dev->driver->remove(dev);
}

static const char *const vq_stat_names[UVDPA_VQ_STAT_NUM] = {
	[UVDPA_VQ_STAT_RECEIVED_DESC] = "received_desc",
	[UVDPA_VQ_STAT_COMPLETED_DESC] = "completed_desc",
	[UVDPA_VQ_STAT_KICKS] = "kicks",
	[UVDPA_VQ_STAT_PACKETS] = "packets",
	[UVDPA_VQ_STAT_BYTES] = "bytes",
	[UVDPA_VQ_STAT_ERRORS] = "errors",
	[UVDPA_VQ_STAT_OVERRUNS] = "overruns",
	[UVDPA_VQ_STAT_DROPS] = "drops",
	[UVDPA_VQ_STAT_REQUESTS] = "requests",
	[UVDPA_VQ_STAT_SUCCESSES] = "successes",
	[UVDPA_VQ_STAT_FAULTS] = "faults",
	[UVDPA_VQ_STAT_RELAYED] = "relayed",
	[UVDPA_VQ_STAT_LOGGED_PAGES] = "logged_pages",
	[UVDPA_VQ_STAT_READ_BYTES] = "read_bytes",
	[UVDPA_VQ_STAT_WRITE_BYTES] = "write_bytes",
	[UVDPA_VQ_STAT_IN_FLIGHT] = "in_flight",
};

const char *uvdpa_migration_mode_name(enum uvdpa_migration_mode mode)
{
	static const char *const names[] = {
		[UVDPA_MIGRATION_NONE] = "none",
		[UVDPA_MIGRATION_HW] = "hw",
		[UVDPA_MIGRATION_SW] = "sw",
		[UVDPA_MIGRATION_SHADOW] = "shadow",
	};

	return (unsigned int)mode < sizeof(names) / sizeof(names[0]) ? names[mode] : "none";
}

const char *uvdpa_vq_stat_name(enum uvdpa_vq_stat stat)
{
	return (unsigned int)stat < UVDPA_VQ_STAT_NUM ? vq_stat_names[stat] : NULL;
}

/* ---- management devices ---- */

int uvdpa_mgmtdev_register(struct uvdpa_mgmtdev *m)
{
	size_t len;

	if (!m || !m->ops || !m->ops->dev_add)
		return -EINVAL;
	len = strnlen(m->name, UVDPA_NAME_MAX);
	if (len == 0 || len == UVDPA_NAME_MAX)
		return -EINVAL;
	if (mgmtdev_registered(m) || uvdpa_mgmtdev_find(m->name))
		return -EEXIST;
	LIST_APPEND(mgmtdevs, m);
	return 0;
}

void uvdpa_mgmtdev_unregister(struct uvdpa_mgmtdev *m)
{
	struct uvdpa_device *d;

	if (!m || !mgmtdev_registered(m))
		return;
	/* Its devices cannot outlive it: delete them, one at a time, since
	 * each dev_del changes the list. */
	for (;;) {
		for (d = devices; d && d->mgmtdev != m; d = d->next)
			;
		if (!d)
			break;
		if (uvdpa_mgmtdev_dev_del(d, NULL, 0) < 0 || device_registered(d)) {
			/* dev_del failed or left it registered: drop it from
			 * the registry anyway so nothing points at m. */
			LOG_WARN(TAG, "mgmtdev %s: device %s not deleted cleanly on unregister",
				 m->name, d->name);
			uvdpa_device_unregister(d);
			d->mgmtdev = NULL;
		}
	}
	LIST_REMOVE(mgmtdevs, m);
}

struct uvdpa_mgmtdev *uvdpa_mgmtdev_find(const char *name)
{
	if (!name)
		return NULL;
	for (struct uvdpa_mgmtdev *m = mgmtdevs; m; m = m->next) {
		if (strncmp(m->name, name, UVDPA_NAME_MAX) == 0)
			return m;
	}
	return NULL;
}

struct uvdpa_mgmtdev *uvdpa_mgmtdev_first(void)
{
	return mgmtdevs;
}

static const struct {
	uint32_t bit;
	const char *name;	/* as the uvdpa tool spells it */
} attr_names[] = {
	{ UVDPA_ATTR_MAC, "mac" },
	{ UVDPA_ATTR_MTU, "mtu" },
	{ UVDPA_ATTR_MAX_VQP, "max_vqp" },
	{ UVDPA_ATTR_FEATURES, "device_features" },
	{ UVDPA_ATTR_DEVARGS, "devargs" },
	{ UVDPA_ATTR_PORT, "port" },
	{ UVDPA_ATTR_FILE, "file" },
	{ UVDPA_ATTR_CAPACITY, "capacity" },
	{ UVDPA_ATTR_NUM_QUEUES, "num_queues" },
	{ UVDPA_ATTR_READONLY, "readonly" },
};

#define ATTR_ALL_MASK ((uint32_t)(UVDPA_ATTR_READONLY << 1) - 1)

/* "mac, mtu" for the bits in mask, or "none". */
static void format_attrs(uint32_t mask, char *buf, size_t buflen)
{
	struct uvdpa_join j;

	uvdpa_join_init(&j, buf, buflen, ", ");
	for (size_t i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
		if (mask & attr_names[i].bit)
			uvdpa_join_add(&j, attr_names[i].name);
	if (!j.count)
		snprintf(buf, buflen, "none");
}

/* The string attributes come in fixed arrays from the control protocol:
 * make sure each given one is terminated and, where it must be, non-empty. */
static int check_string_attr(const struct uvdpa_dev_add_config *cfg, uint32_t bit, const char *s,
			     size_t size, bool may_be_empty, const char *what, char *err,
			     size_t errlen)
{
	size_t len;

	if (!(cfg->attrs & bit))
		return 0;
	len = strnlen(s, size);
	if (len == size) {
		uvdpa_errf(err, errlen, "%s is too long (max %zu characters)", what, size - 1);
		return -EINVAL;
	}
	if (len == 0 && !may_be_empty) {
		uvdpa_errf(err, errlen, "%s must not be empty", what);
		return -EINVAL;
	}
	return 0;
}

static int check_features_for(const struct uvdpa_dev_add_config *cfg, uint32_t attr,
			      unsigned int bit, const char *attr_name, const char *feature_name,
			      char *err, size_t errlen)
{
	if (!(cfg->attrs & attr) || (cfg->device_features & (1ull << bit)))
		return 0;
	uvdpa_errf(err, errlen,
		"%s given with device_features 0x%llx, which lacks %s (bit %u, 0x%llx): "
		"add it to device_features or drop %s",
		attr_name, (unsigned long long)cfg->device_features, feature_name, bit,
		1ull << bit, attr_name);
	return -EINVAL;
}

static int validate_dev_add(const struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg,
			    char *err, size_t errlen)
{
	const char *problem = device_name_problem(cfg->name);
	uint32_t unsupported;
	int ret;

	if (problem) {
		uvdpa_errf(err, errlen, "device name \"%.*s\" %s", UVDPA_NAME_MAX - 1, cfg->name,
			problem);
		return -EINVAL;
	}

	if (cfg->attrs & ~ATTR_ALL_MASK) {
		uvdpa_errf(err, errlen, "unknown attribute bits 0x%x",
			(unsigned int)(cfg->attrs & ~ATTR_ALL_MASK));
		return -EINVAL;
	}
	unsupported = cfg->attrs & ~m->config_attrs;
	if (unsupported) {
		char bad[160], ok[160];

		format_attrs(unsupported, bad, sizeof(bad));
		format_attrs(m->config_attrs, ok, sizeof(ok));
		uvdpa_errf(err, errlen, "mgmtdev %s does not support: %s (supported: %s)", m->name, bad,
			ok);
		return -EOPNOTSUPP;
	}

	if (cfg->attrs & UVDPA_ATTR_MAX_VQP) {
		uint32_t max = m->max_supported_vqs / 2;

		if (cfg->max_vqp == 0) {
			uvdpa_errf(err, errlen, "max_vqp 0 is invalid: at least one queue pair is needed");
			return -EINVAL;
		}
		if (cfg->max_vqp > max) {
			uvdpa_errf(err, errlen,
				"max_vqp %u is too large: mgmtdev %s supports at most %u "
				"queue pairs (%u vqs)",
				(unsigned int)cfg->max_vqp, m->name, (unsigned int)max,
				(unsigned int)m->max_supported_vqs);
			return -EINVAL;
		}
	}
	if ((cfg->attrs & UVDPA_ATTR_MTU) && cfg->mtu < MIN_MTU) {
		uvdpa_errf(err, errlen, "mtu %u is too small (minimum %u)", (unsigned int)cfg->mtu,
			MIN_MTU);
		return -EINVAL;
	}
	if (cfg->attrs & UVDPA_ATTR_FEATURES) {
		uint64_t extra = cfg->device_features & ~m->supported_features;

		if (extra) {
			uvdpa_errf(err, errlen,
				"device_features 0x%llx include bits mgmtdev %s does not support: "
				"0x%llx (supported: 0x%llx)",
				(unsigned long long)cfg->device_features, m->name,
				(unsigned long long)extra,
				(unsigned long long)m->supported_features);
			return -EINVAL;
		}
		ret = check_features_for(cfg, UVDPA_ATTR_MAC, VIRTIO_NET_F_MAC_BIT, "mac",
					 "VIRTIO_NET_F_MAC", err, errlen);
		if (!ret)
			ret = check_features_for(cfg, UVDPA_ATTR_MTU, VIRTIO_NET_F_MTU_BIT, "mtu",
						 "VIRTIO_NET_F_MTU", err, errlen);
		if (!ret)
			ret = check_features_for(cfg, UVDPA_ATTR_MAX_VQP, VIRTIO_NET_F_MQ_BIT,
						 "max_vqp", "VIRTIO_NET_F_MQ", err, errlen);
		if (ret)
			return ret;
	}

	ret = check_string_attr(cfg, UVDPA_ATTR_DEVARGS, cfg->devargs, sizeof(cfg->devargs), true,
				"devargs", err, errlen);
	if (!ret)
		ret = check_string_attr(cfg, UVDPA_ATTR_PORT, cfg->port, sizeof(cfg->port), false,
					"port", err, errlen);
	if (!ret)
		ret = check_string_attr(cfg, UVDPA_ATTR_FILE, cfg->file, sizeof(cfg->file), false,
					"file", err, errlen);
	if (ret)
		return ret;

	if (uvdpa_device_find(cfg->name)) {
		uvdpa_errf(err, errlen, "device %s already exists", cfg->name);
		return -EEXIST;
	}
	return 0;
}

int uvdpa_mgmtdev_dev_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
			 size_t errlen)
{
	struct uvdpa_device *dev;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!m || !cfg) {
		uvdpa_errf(err, errlen, "dev add: no mgmtdev or configuration");
		return -EINVAL;
	}
	if (!mgmtdev_registered(m)) {
		uvdpa_errf(err, errlen, "mgmtdev %.*s is not registered", UVDPA_NAME_MAX - 1, m->name);
		return -ENODEV;
	}
	ret = validate_dev_add(m, cfg, err, errlen);
	if (ret < 0)
		return ret;

	ret = m->ops->dev_add(m, cfg, err, errlen);
	if (ret < 0) {
		if (err && errlen && !err[0])
			uvdpa_errf(err, errlen, "mgmtdev %s: cannot add device %s: %s", m->name,
				cfg->name, strerror(-ret));
		return ret;
	}
	/* dev del finds the mgmtdev through the device: make sure it is set. */
	dev = uvdpa_device_find(cfg->name);
	if (dev && !dev->mgmtdev)
		dev->mgmtdev = m;
	return 0;
}

int uvdpa_mgmtdev_dev_del(struct uvdpa_device *dev, char *err, size_t errlen)
{
	char name[UVDPA_NAME_MAX];
	struct uvdpa_mgmtdev *m;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!dev) {
		uvdpa_errf(err, errlen, "dev del: no device");
		return -EINVAL;
	}
	if (!device_registered(dev)) {
		uvdpa_errf(err, errlen, "device %.*s is not registered", UVDPA_NAME_MAX - 1, dev->name);
		return -ENODEV;
	}
	m = dev->mgmtdev;
	if (!m) {
		uvdpa_errf(err, errlen,
			"device %s was not created by a mgmtdev and cannot be deleted", dev->name);
		return -EOPNOTSUPP;
	}
	if (!m->ops->dev_del) {
		uvdpa_errf(err, errlen, "mgmtdev %s cannot delete devices", m->name);
		return -EOPNOTSUPP;
	}
	if (dev->bus)
		uvdpa_device_unbind(dev);
	/* dev_del unregisters and may free dev: keep what the message needs. */
	snprintf(name, sizeof(name), "%s", dev->name);
	ret = m->ops->dev_del(m, dev);
	if (ret < 0 && err && errlen && !err[0])
		uvdpa_errf(err, errlen, "mgmtdev %s: cannot delete device %s: %s", m->name, name,
			strerror(-ret));
	return ret;
}

int uvdpa_mgmtdev_dev_set(struct uvdpa_device *dev, const struct uvdpa_dev_set_config *cfg, char *err,
			 size_t errlen)
{
	struct uvdpa_mgmtdev *m;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!dev || !cfg) {
		uvdpa_errf(err, errlen, "dev set: no device or configuration");
		return -EINVAL;
	}
	if (!device_registered(dev)) {
		uvdpa_errf(err, errlen, "device %.*s is not registered", UVDPA_NAME_MAX - 1, dev->name);
		return -ENODEV;
	}
	if (!cfg->attrs) {
		uvdpa_errf(err, errlen, "dev set %s: nothing to set (give mac, capacity or link)",
			dev->name);
		return -EINVAL;
	}
	m = dev->mgmtdev;
	if (!m) {
		uvdpa_errf(err, errlen, "device %s was not created by a mgmtdev and cannot be changed",
			dev->name);
		return -EOPNOTSUPP;
	}
	if (!m->ops->dev_set) {
		uvdpa_errf(err, errlen, "mgmtdev %s cannot change attributes of its devices", m->name);
		return -EOPNOTSUPP;
	}
	ret = m->ops->dev_set(m, dev, cfg, err, errlen);
	if (ret < 0 && err && errlen && !err[0])
		uvdpa_errf(err, errlen, "mgmtdev %s: cannot change device %s: %s", m->name, dev->name,
			strerror(-ret));
	return ret;
}

/* ---- bus drivers and binding ---- */

int uvdpa_bus_driver_register(struct uvdpa_bus_driver *bd)
{
	if (!bd || !bd->name || !bd->name[0] || !bd->bind)
		return -EINVAL;
	for (struct uvdpa_bus_driver *b = bus_drivers; b; b = b->next) {
		if (b == bd || strcmp(b->name, bd->name) == 0)
			return -EEXIST;
	}
	LIST_APPEND(bus_drivers, bd);
	return 0;
}

struct uvdpa_bus_driver *uvdpa_bus_driver_find(const char *name)
{
	if (!name)
		return NULL;
	for (struct uvdpa_bus_driver *b = bus_drivers; b; b = b->next) {
		if (strcmp(b->name, name) == 0)
			return b;
	}
	return NULL;
}

int uvdpa_device_bind(struct uvdpa_device *dev, const char *bus, const struct uvdpa_bind_args *args,
		     char *err, size_t errlen)
{
	static const struct uvdpa_bind_args no_args;
	struct uvdpa_bus_driver *bd;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!dev || !bus) {
		uvdpa_errf(err, errlen, "bind: no device or bus driver name");
		return -EINVAL;
	}
	if (!device_registered(dev)) {
		uvdpa_errf(err, errlen, "device %.*s is not registered", UVDPA_NAME_MAX - 1, dev->name);
		return -ENODEV;
	}
	if (dev->bus) {
		uvdpa_errf(err, errlen, "device %s is already bound to %s: unbind it first", dev->name,
			dev->bus->name);
		return -EBUSY;
	}
	bd = uvdpa_bus_driver_find(bus);
	if (!bd) {
		char known[160];
		struct uvdpa_join j;

		uvdpa_join_init(&j, known, sizeof(known), ", ");
		for (struct uvdpa_bus_driver *b = bus_drivers; b; b = b->next)
			uvdpa_join_add(&j, b->name);
		uvdpa_errf(err, errlen, "unknown bus driver \"%s\" (known: %s)", bus,
			   uvdpa_join_str(&j, "none"));
		return -ENOENT;
	}

	ret = bd->bind(dev, args ? args : &no_args, err, errlen);
	if (ret < 0) {
		dev->bus = NULL;
		dev->bus_priv = NULL;
		if (err && errlen && !err[0])
			uvdpa_errf(err, errlen, "cannot bind device %s to %s: %s", dev->name, bd->name,
				strerror(-ret));
		return ret;
	}
	dev->bus = bd;
	return 0;
}

int uvdpa_device_unbind(struct uvdpa_device *dev)
{
	if (!dev)
		return -EINVAL;
	if (!dev->bus)
		return -ENOTCONN;
	if (dev->bus->unbind)
		dev->bus->unbind(dev);
	dev->bus = NULL;
	dev->bus_priv = NULL;
	return 0;
}

int uvdpa_device_bind_status(struct uvdpa_device *dev, struct uvdpa_bind_status *st)
{
	if (!dev || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	if (!dev->bus)
		return -ENOTCONN;
	if (!dev->bus->status)
		return -EOPNOTSUPP;
	return dev->bus->status(dev, st);
}

void vdpa_registry_reset(void)
{
	devices = NULL;
	drivers = NULL;
	mgmtdevs = NULL;
	bus_drivers = NULL;
}
