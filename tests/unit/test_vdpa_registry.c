/* Unit tests for the vDPA core registries: devices, drivers and PCI id
 * matching, mgmtdevs and the dev add rules, bus drivers and binding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/registry.h"
#include "uvdpa/vdpa.h"

#define assert_contains(haystack, needle)                                                  \
	do {                                                                               \
		if (!strstr((haystack), (needle)))                                         \
			fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle)); \
	} while (0)

#define F_MTU (1ull << 3)
#define F_MAC (1ull << 5)
#define F_MQ (1ull << 22)
#define F_VERSION_1 (1ull << 32)

static int reset(void **state)
{
	(void)state;
	vdpa_registry_reset();
	return 0;
}

static void dev_init(struct uvdpa_device *dev, const char *name)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
}

/* ---- devices ---- */

static void test_device_register_find_order(void **state)
{
	struct uvdpa_device a, b, c, *d;
	const char *order[3];
	int n = 0;

	(void)state;
	dev_init(&a, "net0");
	dev_init(&b, "blk.1:x-y_Z");
	dev_init(&c, "net2");
	assert_null(uvdpa_device_first());
	assert_int_equal(uvdpa_device_register(&a), 0);
	assert_int_equal(uvdpa_device_register(&b), 0);
	assert_int_equal(uvdpa_device_register(&c), 0);
	assert_ptr_equal(uvdpa_device_find("net0"), &a);
	assert_ptr_equal(uvdpa_device_find("blk.1:x-y_Z"), &b);
	assert_null(uvdpa_device_find("net"));
	assert_null(uvdpa_device_find("net00"));
	assert_null(uvdpa_device_find(NULL));

	uvdpa_device_foreach(d) {
		assert_true(n < 3);
		order[n++] = d->name;
	}
	assert_int_equal(n, 3);
	assert_string_equal(order[0], "net0");
	assert_string_equal(order[1], "blk.1:x-y_Z");
	assert_string_equal(order[2], "net2");

	/* Remove the middle one, then the head. */
	uvdpa_device_unregister(&b);
	assert_null(uvdpa_device_find("blk.1:x-y_Z"));
	assert_ptr_equal(uvdpa_device_first(), &a);
	assert_ptr_equal(a.next, &c);
	uvdpa_device_unregister(&a);
	assert_ptr_equal(uvdpa_device_first(), &c);
	assert_null(c.next);
	/* Unregistering twice, or NULL, is harmless. */
	uvdpa_device_unregister(&a);
	uvdpa_device_unregister(NULL);
	assert_ptr_equal(uvdpa_device_first(), &c);
	/* A name is free again once its device is gone. */
	dev_init(&a, "blk.1:x-y_Z");
	assert_int_equal(uvdpa_device_register(&a), 0);
}

static void test_device_register_invalid_names(void **state)
{
	static const char *const bad[] = { "", "net 0", "net/0", "net0\t", "n\xc3\xa9t", "a,b",
					   "a=b", "a*" };
	struct uvdpa_device dev;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dev_init(&dev, bad[i]);
		assert_int_equal(uvdpa_device_register(&dev), -EINVAL);
	}
	assert_int_equal(uvdpa_device_register(NULL), -EINVAL);

	/* UVDPA_NAME_MAX - 1 characters fit, UVDPA_NAME_MAX (no terminator) do not. */
	memset(&dev, 0, sizeof(dev));
	memset(dev.name, 'a', UVDPA_NAME_MAX - 1);
	assert_int_equal(uvdpa_device_register(&dev), 0);
	uvdpa_device_unregister(&dev);
	memset(dev.name, 'a', UVDPA_NAME_MAX);
	assert_int_equal(uvdpa_device_register(&dev), -EINVAL);
	assert_null(uvdpa_device_first());
}

static void test_device_register_duplicate(void **state)
{
	struct uvdpa_device a, b;

	(void)state;
	dev_init(&a, "net0");
	dev_init(&b, "net0");
	assert_int_equal(uvdpa_device_register(&a), 0);
	assert_int_equal(uvdpa_device_register(&b), -EEXIST);
	assert_int_equal(uvdpa_device_register(&a), -EEXIST);
	assert_ptr_equal(uvdpa_device_first(), &a);
	assert_null(a.next);
}

/* ---- PCI ids and drivers ---- */

static const struct uvdpa_pci_id ifcvf_ids[] = {
	{ 0x1af4, 0x1041, 0x8086, 0x001a },
	{ 0x1af4, 0x1000, 0x8086, 0x0001 },
	{ 0x1af4, 0x1042, 0x8086, 0x0002 },
	{ 0x1af4, 0x1001, 0x8086, 0x0002 },
	{ 0 },
};

static const struct uvdpa_pci_id virtio_ids[] = {
	{ 0x1af4, 0x1041, UVDPA_PCI_ANY, UVDPA_PCI_ANY },
	{ 0x1af4, 0x1042, UVDPA_PCI_ANY, UVDPA_PCI_ANY },
	{ 0 },
};

static void test_pci_id_match(void **state)
{
	const struct uvdpa_pci_id ifc_net = { 0x1af4, 0x1041, 0x8086, 0x001a };
	const struct uvdpa_pci_id ifc_blk_legacy = { 0x1af4, 0x1001, 0x8086, 0x0002 };
	const struct uvdpa_pci_id qemu_net = { 0x1af4, 0x1041, 0x1af4, 0x1100 };
	const struct uvdpa_pci_id other = { 0x8086, 0x1041, 0x8086, 0x001a };
	const struct uvdpa_pci_id wild_tables[4][2] = {
		{ { UVDPA_PCI_ANY, 0x1041, 0x8086, 0x001a }, { 0 } },
		{ { 0x1af4, UVDPA_PCI_ANY, 0x8086, 0x001a }, { 0 } },
		{ { 0x1af4, 0x1041, UVDPA_PCI_ANY, 0x001a }, { 0 } },
		{ { 0x1af4, 0x1041, 0x8086, UVDPA_PCI_ANY }, { 0 } },
	};
	/* Entries after the terminator are never looked at. */
	const struct uvdpa_pci_id after_end[] = { { 0 }, { 0x1af4, 0x1041, 0x8086, 0x001a } };

	(void)state;
	assert_true(uvdpa_pci_id_match(ifcvf_ids, &ifc_net));
	assert_true(uvdpa_pci_id_match(ifcvf_ids, &ifc_blk_legacy));
	assert_false(uvdpa_pci_id_match(ifcvf_ids, &qemu_net));
	assert_true(uvdpa_pci_id_match(virtio_ids, &qemu_net));
	assert_true(uvdpa_pci_id_match(virtio_ids, &ifc_net));
	assert_false(uvdpa_pci_id_match(virtio_ids, &other));
	assert_false(uvdpa_pci_id_match(after_end, &ifc_net));
	assert_false(uvdpa_pci_id_match(NULL, &ifc_net));
	assert_false(uvdpa_pci_id_match(ifcvf_ids, NULL));

	/* UVDPA_PCI_ANY wildcards exactly its own field. */
	for (int field = 0; field < 4; field++) {
		struct uvdpa_pci_id id = ifc_net;
		uint16_t *f[4] = { &id.vendor, &id.device, &id.subsys_vendor, &id.subsys_device };

		assert_true(uvdpa_pci_id_match(wild_tables[field], &id));
		*f[field] = 0x4242;
		assert_true(uvdpa_pci_id_match(wild_tables[field], &id));
		for (int other_field = 0; other_field < 4; other_field++) {
			struct uvdpa_pci_id id2 = ifc_net;
			uint16_t *g[4] = { &id2.vendor, &id2.device, &id2.subsys_vendor,
					   &id2.subsys_device };

			if (other_field == field)
				continue;
			*g[other_field] = 0x4242;
			assert_false(uvdpa_pci_id_match(wild_tables[field], &id2));
		}
	}
}

static void test_driver_match_first_registered(void **state)
{
	struct uvdpa_driver ifcvf = { .name = "ifcvf", .id_table = ifcvf_ids };
	struct uvdpa_driver virtio = { .name = "virtio-pci", .id_table = virtio_ids };
	struct uvdpa_driver none = { .name = "none", .id_table = NULL };
	const struct uvdpa_pci_id ifc_net = { 0x1af4, 0x1041, 0x8086, 0x001a };
	const struct uvdpa_pci_id qemu_net = { 0x1af4, 0x1041, 0x1af4, 0x1100 };
	const struct uvdpa_pci_id nic = { 0x8086, 0x1572, 0x8086, 0x0000 };

	(void)state;
	assert_null(uvdpa_driver_match(&ifc_net));
	assert_int_equal(uvdpa_driver_register(&none), 0);
	assert_int_equal(uvdpa_driver_register(&ifcvf), 0);
	assert_int_equal(uvdpa_driver_register(&virtio), 0);
	/* Both tables match an IFCVF: the first registered wins. */
	assert_ptr_equal(uvdpa_driver_match(&ifc_net), &ifcvf);
	assert_ptr_equal(uvdpa_driver_match(&qemu_net), &virtio);
	assert_null(uvdpa_driver_match(&nic));

	/* Registration order, not specificity, decides. */
	uvdpa_driver_unregister(&ifcvf);
	assert_ptr_equal(uvdpa_driver_match(&ifc_net), &virtio);
	assert_int_equal(uvdpa_driver_register(&ifcvf), 0);
	assert_ptr_equal(uvdpa_driver_match(&ifc_net), &virtio);

	assert_ptr_equal(uvdpa_driver_find("ifcvf"), &ifcvf);
	assert_ptr_equal(uvdpa_driver_find("virtio-pci"), &virtio);
	assert_null(uvdpa_driver_find("mlx5"));
	assert_null(uvdpa_driver_find(NULL));
}

static void test_driver_register_errors(void **state)
{
	struct uvdpa_driver a = { .name = "ifcvf", .id_table = ifcvf_ids };
	struct uvdpa_driver b = { .name = "ifcvf", .id_table = virtio_ids };
	struct uvdpa_driver noname = { .name = NULL };
	struct uvdpa_driver empty = { .name = "" };

	(void)state;
	assert_int_equal(uvdpa_driver_register(NULL), -EINVAL);
	assert_int_equal(uvdpa_driver_register(&noname), -EINVAL);
	assert_int_equal(uvdpa_driver_register(&empty), -EINVAL);
	assert_int_equal(uvdpa_driver_register(&a), 0);
	assert_int_equal(uvdpa_driver_register(&b), -EEXIST);
	assert_int_equal(uvdpa_driver_register(&a), -EEXIST);
	uvdpa_driver_unregister(&b); /* not registered: harmless */
	assert_ptr_equal(uvdpa_driver_find("ifcvf"), &a);
	uvdpa_driver_unregister(&a);
	assert_null(uvdpa_driver_find("ifcvf"));
	uvdpa_driver_unregister(NULL);
}

/* ---- bus drivers and binding ---- */

struct fake_bus {
	int binds, unbinds;
	int bind_ret;
	const char *last_path;
	bool last_client;
	const struct uvdpa_device *last_dev;
};

static struct fake_bus vu_state, tap_state;

static struct fake_bus *fake_of(const char *bus_name)
{
	return strcmp(bus_name, "tap") == 0 ? &tap_state : &vu_state;
}

static int fake_bind_common(struct fake_bus *fb, struct uvdpa_device *dev,
			    const struct uvdpa_bind_args *args, char *err, size_t errlen)
{
	fb->binds++;
	fb->last_dev = dev;
	fb->last_path = args->path;
	fb->last_client = args->client;
	/* The bus is not set until bind succeeds. */
	assert_null(dev->bus);
	if (fb->bind_ret < 0) {
		snprintf(err, errlen, "cannot listen on %s", args->path ? args->path : "(null)");
		dev->bus_priv = fb; /* must not survive a failed bind */
		return fb->bind_ret;
	}
	dev->bus_priv = fb;
	return 0;
}

static int vu_bind(struct uvdpa_device *dev, const struct uvdpa_bind_args *args, char *err,
		   size_t errlen)
{
	return fake_bind_common(&vu_state, dev, args, err, errlen);
}

static int tap_bind(struct uvdpa_device *dev, const struct uvdpa_bind_args *args, char *err,
		    size_t errlen)
{
	return fake_bind_common(&tap_state, dev, args, err, errlen);
}

static void fake_unbind(struct uvdpa_device *dev)
{
	struct fake_bus *fb = fake_of(dev->bus->name);

	assert_ptr_equal(dev->bus_priv, fb);
	fb->unbinds++;
}

static struct uvdpa_bus_driver vu_bus = { .name = "vhost-user", .bind = vu_bind,
					 .unbind = fake_unbind };
static struct uvdpa_bus_driver tap_bus = { .name = "tap", .bind = tap_bind,
					  .unbind = fake_unbind };

static int bus_setup(void **state)
{
	reset(state);
	memset(&vu_state, 0, sizeof(vu_state));
	memset(&tap_state, 0, sizeof(tap_state));
	assert_int_equal(uvdpa_bus_driver_register(&vu_bus), 0);
	assert_int_equal(uvdpa_bus_driver_register(&tap_bus), 0);
	return 0;
}

static void test_bus_driver_register(void **state)
{
	struct uvdpa_bus_driver dup = { .name = "tap", .bind = tap_bind };
	struct uvdpa_bus_driver nobind = { .name = "x" };
	struct uvdpa_bus_driver noname = { .bind = tap_bind };

	(void)state;
	assert_ptr_equal(uvdpa_bus_driver_find("vhost-user"), &vu_bus);
	assert_ptr_equal(uvdpa_bus_driver_find("tap"), &tap_bus);
	assert_null(uvdpa_bus_driver_find("virtio"));
	assert_null(uvdpa_bus_driver_find(NULL));
	assert_int_equal(uvdpa_bus_driver_register(&dup), -EEXIST);
	assert_int_equal(uvdpa_bus_driver_register(&tap_bus), -EEXIST);
	assert_int_equal(uvdpa_bus_driver_register(&nobind), -EINVAL);
	assert_int_equal(uvdpa_bus_driver_register(&noname), -EINVAL);
	assert_int_equal(uvdpa_bus_driver_register(NULL), -EINVAL);
}

static void test_bind_unbind(void **state)
{
	struct uvdpa_bind_args args = { .path = "/tmp/net0.sock", .client = true };
	struct uvdpa_device dev;
	char err[256];

	(void)state;
	dev_init(&dev, "net0");
	assert_int_equal(uvdpa_device_register(&dev), 0);

	assert_int_equal(uvdpa_device_bind(&dev, "vhost-user", &args, err, sizeof(err)), 0);
	assert_ptr_equal(dev.bus, &vu_bus);
	assert_ptr_equal(dev.bus_priv, &vu_state);
	assert_int_equal(vu_state.binds, 1);
	assert_ptr_equal(vu_state.last_dev, &dev);
	assert_string_equal(vu_state.last_path, "/tmp/net0.sock");
	assert_true(vu_state.last_client);

	/* At most one binding: the message names the current one. */
	assert_int_equal(uvdpa_device_bind(&dev, "tap", &args, err, sizeof(err)), -EBUSY);
	assert_contains(err, "net0");
	assert_contains(err, "already bound to vhost-user");
	assert_int_equal(uvdpa_device_bind(&dev, "vhost-user", &args, err, sizeof(err)), -EBUSY);
	assert_contains(err, "vhost-user");
	assert_int_equal(tap_state.binds, 0);
	assert_int_equal(vu_state.binds, 1);
	assert_ptr_equal(dev.bus, &vu_bus);

	assert_int_equal(uvdpa_device_unbind(&dev), 0);
	assert_int_equal(vu_state.unbinds, 1);
	assert_null(dev.bus);
	assert_null(dev.bus_priv);
	assert_int_equal(uvdpa_device_unbind(&dev), -ENOTCONN);
	assert_int_equal(vu_state.unbinds, 1);
	assert_int_equal(uvdpa_device_unbind(NULL), -EINVAL);

	/* Rebinding to another bus works once unbound; NULL args are allowed. */
	assert_int_equal(uvdpa_device_bind(&dev, "tap", NULL, err, sizeof(err)), 0);
	assert_ptr_equal(dev.bus, &tap_bus);
	assert_null(tap_state.last_path);
	assert_false(tap_state.last_client);
	assert_int_equal(uvdpa_device_unbind(&dev), 0);
	assert_int_equal(tap_state.unbinds, 1);
}

static void test_bind_errors(void **state)
{
	struct uvdpa_bind_args args = { .path = "/nonexistent/x.sock" };
	struct uvdpa_device dev, stray;
	char err[256];

	(void)state;
	dev_init(&dev, "net0");
	dev_init(&stray, "stray");
	assert_int_equal(uvdpa_device_register(&dev), 0);

	assert_int_equal(uvdpa_device_bind(&dev, "virtio", &args, err, sizeof(err)), -ENOENT);
	assert_contains(err, "unknown bus driver \"virtio\"");
	assert_contains(err, "known: vhost-user, tap");
	assert_null(dev.bus);

	assert_int_equal(uvdpa_device_bind(&stray, "tap", &args, err, sizeof(err)), -ENODEV);
	assert_contains(err, "stray");
	assert_int_equal(uvdpa_device_bind(NULL, "tap", &args, err, sizeof(err)), -EINVAL);
	assert_int_equal(uvdpa_device_bind(&dev, NULL, &args, err, sizeof(err)), -EINVAL);

	/* The bus driver's own error and message come back; nothing is bound. */
	vu_state.bind_ret = -EADDRINUSE;
	assert_int_equal(uvdpa_device_bind(&dev, "vhost-user", &args, err, sizeof(err)),
			 -EADDRINUSE);
	assert_string_equal(err, "cannot listen on /nonexistent/x.sock");
	assert_null(dev.bus);
	assert_null(dev.bus_priv);
	assert_int_equal(uvdpa_device_unbind(&dev), -ENOTCONN);
	assert_int_equal(vu_state.unbinds, 0);

	/* No error buffer at all is fine. */
	assert_int_equal(uvdpa_device_bind(&dev, "nope", &args, NULL, 0), -ENOENT);
}

static void test_bind_no_bus_drivers(void **state)
{
	struct uvdpa_device dev;
	char err[256];

	(void)state;
	vdpa_registry_reset();
	dev_init(&dev, "net0");
	assert_int_equal(uvdpa_device_register(&dev), 0);
	assert_int_equal(uvdpa_device_bind(&dev, "tap", NULL, err, sizeof(err)), -ENOENT);
	assert_contains(err, "known: none");
}

static void test_unregister_unbinds(void **state)
{
	struct uvdpa_device dev;
	char err[256];

	(void)state;
	dev_init(&dev, "net0");
	assert_int_equal(uvdpa_device_register(&dev), 0);
	assert_int_equal(uvdpa_device_bind(&dev, "tap", NULL, err, sizeof(err)), 0);
	uvdpa_device_unregister(&dev);
	assert_int_equal(tap_state.unbinds, 1);
	assert_null(dev.bus);
	assert_null(uvdpa_device_find("net0"));
}

/* ---- mgmtdevs ---- */

/* A fake mgmtdev that creates heap devices, like the emulated IFCVF one. */
struct fake_mgmt {
	int adds, dels;
	int add_ret, del_ret;
	bool set_msg;		/* dev_add failure fills err itself */
	bool set_mgmtdev;	/* dev_add sets dev->mgmtdev itself */
	bool del_unregisters;
	struct uvdpa_dev_add_config last_cfg;
};

static struct fake_mgmt fm;

static int fake_dev_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
			size_t errlen)
{
	struct uvdpa_device *dev;
	int ret;

	fm.adds++;
	fm.last_cfg = *cfg;
	if (fm.add_ret < 0) {
		if (fm.set_msg)
			snprintf(err, errlen, "out of emulated VFs");
		return fm.add_ret;
	}
	dev = calloc(1, sizeof(*dev));
	assert_non_null(dev);
	memcpy(dev->name, cfg->name, sizeof(dev->name));
	dev->type = UVDPA_TYPE_NET;
	if (fm.set_mgmtdev)
		dev->mgmtdev = m;
	ret = uvdpa_device_register(dev);
	if (ret < 0)
		free(dev);
	return ret;
}

static int fake_dev_del(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev)
{
	assert_ptr_equal(dev->mgmtdev, m);
	/* The core unbinds before deleting. */
	assert_null(dev->bus);
	fm.dels++;
	if (fm.del_ret < 0)
		return fm.del_ret;
	if (fm.del_unregisters) {
		uvdpa_device_unregister(dev);
		free(dev);
	}
	return 0;
}

static const struct uvdpa_mgmtdev_ops fake_ops = { .dev_add = fake_dev_add,
						  .dev_del = fake_dev_del };
static const struct uvdpa_mgmtdev_ops add_only_ops = { .dev_add = fake_dev_add };

#define NET_ATTRS (UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP | UVDPA_ATTR_FEATURES)

static struct uvdpa_mgmtdev net_mgmt;
static struct uvdpa_mgmtdev blk_mgmt;

static int mgmt_setup(void **state)
{
	bus_setup(state);
	memset(&fm, 0, sizeof(fm));
	fm.del_unregisters = true;
	memset(&net_mgmt, 0, sizeof(net_mgmt));
	snprintf(net_mgmt.name, sizeof(net_mgmt.name), "emu/ifcvf-net");
	net_mgmt.ops = &fake_ops;
	net_mgmt.supported_classes = 1u << UVDPA_TYPE_NET;
	net_mgmt.config_attrs = NET_ATTRS | UVDPA_ATTR_PORT | UVDPA_ATTR_DEVARGS;
	net_mgmt.supported_features = F_MTU | F_MAC | F_MQ | F_VERSION_1;
	net_mgmt.max_supported_vqs = 8;
	memset(&blk_mgmt, 0, sizeof(blk_mgmt));
	snprintf(blk_mgmt.name, sizeof(blk_mgmt.name), "emu/ifcvf-blk");
	blk_mgmt.ops = &fake_ops;
	blk_mgmt.supported_classes = 1u << UVDPA_TYPE_BLK;
	blk_mgmt.config_attrs = UVDPA_ATTR_FILE | UVDPA_ATTR_CAPACITY | UVDPA_ATTR_NUM_QUEUES |
				UVDPA_ATTR_READONLY;
	blk_mgmt.max_supported_vqs = 4;
	assert_int_equal(uvdpa_mgmtdev_register(&net_mgmt), 0);
	assert_int_equal(uvdpa_mgmtdev_register(&blk_mgmt), 0);
	return 0;
}

/* Frees whatever heap devices a test left behind (ASan would flag leaks). */
static int mgmt_teardown(void **state)
{
	(void)state;
	fm.del_ret = 0;
	fm.del_unregisters = true;
	uvdpa_mgmtdev_unregister(&net_mgmt);
	uvdpa_mgmtdev_unregister(&blk_mgmt);
	vdpa_registry_reset();
	return 0;
}

static void cfg_init(struct uvdpa_dev_add_config *cfg, const char *name)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "%s", name);
}

/* dev add must fail with ret and a message containing needle, without
 * reaching the mgmtdev. */
static void expect_add_refused(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg,
			       int ret, const char *needle1, const char *needle2)
{
	char err[256] = "";
	int adds = fm.adds;

	assert_int_equal(uvdpa_mgmtdev_dev_add(m, cfg, err, sizeof(err)), ret);
	assert_contains(err, needle1);
	if (needle2)
		assert_contains(err, needle2);
	assert_int_equal(fm.adds, adds);
}

static void test_mgmtdev_register(void **state)
{
	struct uvdpa_mgmtdev dup, unnamed, noops;

	(void)state;
	assert_ptr_equal(uvdpa_mgmtdev_find("emu/ifcvf-net"), &net_mgmt);
	assert_ptr_equal(uvdpa_mgmtdev_find("emu/ifcvf-blk"), &blk_mgmt);
	assert_null(uvdpa_mgmtdev_find("pci/0000:06:00.3"));
	assert_null(uvdpa_mgmtdev_find(NULL));
	assert_ptr_equal(uvdpa_mgmtdev_first(), &net_mgmt);
	assert_ptr_equal(net_mgmt.next, &blk_mgmt);

	dup = net_mgmt;
	assert_int_equal(uvdpa_mgmtdev_register(&dup), -EEXIST);
	assert_int_equal(uvdpa_mgmtdev_register(&net_mgmt), -EEXIST);
	unnamed = net_mgmt;
	unnamed.name[0] = '\0';
	assert_int_equal(uvdpa_mgmtdev_register(&unnamed), -EINVAL);
	noops = net_mgmt;
	snprintf(noops.name, sizeof(noops.name), "pci/0000:06:00.3");
	noops.ops = NULL;
	assert_int_equal(uvdpa_mgmtdev_register(&noops), -EINVAL);
	assert_int_equal(uvdpa_mgmtdev_register(NULL), -EINVAL);

	uvdpa_mgmtdev_unregister(&net_mgmt);
	assert_null(uvdpa_mgmtdev_find("emu/ifcvf-net"));
	assert_ptr_equal(uvdpa_mgmtdev_first(), &blk_mgmt);
}

static void test_dev_add_happy(void **state)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	struct uvdpa_dev_add_config cfg;
	struct uvdpa_device *dev;
	char err[256] = "stale";

	(void)state;
	cfg_init(&cfg, "net0");
	cfg.attrs = UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP | UVDPA_ATTR_FEATURES |
		    UVDPA_ATTR_PORT;
	memcpy(cfg.mac, mac, sizeof(mac));
	cfg.mtu = 68;
	cfg.max_vqp = 4; /* max_supported_vqs / 2 */
	cfg.device_features = F_MAC | F_MTU | F_MQ | F_VERSION_1;
	snprintf(cfg.port, sizeof(cfg.port), "loopback");
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(fm.adds, 1);
	assert_string_equal(fm.last_cfg.name, "net0");
	assert_memory_equal(fm.last_cfg.mac, mac, sizeof(mac));
	assert_int_equal(fm.last_cfg.max_vqp, 4);
	assert_string_equal(fm.last_cfg.port, "loopback");

	/* The core records which mgmtdev created the device. */
	dev = uvdpa_device_find("net0");
	assert_non_null(dev);
	assert_ptr_equal(dev->mgmtdev, &net_mgmt);

	/* No attributes at all, and attributes without device_features. */
	cfg_init(&cfg, "net1");
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	cfg_init(&cfg, "net2");
	cfg.attrs = UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP | UVDPA_ATTR_DEVARGS;
	cfg.mtu = 9000;
	cfg.max_vqp = 1;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	/* device_features without mac/mtu/max_vqp needs none of those bits. */
	cfg_init(&cfg, "net3");
	cfg.attrs = UVDPA_ATTR_FEATURES;
	cfg.device_features = F_VERSION_1;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	/* A blk device with blk attributes. */
	cfg_init(&cfg, "blk0");
	cfg.attrs = UVDPA_ATTR_FILE | UVDPA_ATTR_CAPACITY | UVDPA_ATTR_READONLY;
	snprintf(cfg.file, sizeof(cfg.file), "/tmp/disk.img");
	cfg.capacity = 1 << 20;
	cfg.readonly = true;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&blk_mgmt, &cfg, err, sizeof(err)), 0);
	assert_ptr_equal(uvdpa_device_find("blk0")->mgmtdev, &blk_mgmt);
	assert_int_equal(fm.adds, 5);
}

static void test_dev_add_unsupported_attrs(void **state)
{
	struct uvdpa_dev_add_config cfg;

	(void)state;
	cfg_init(&cfg, "blk0");
	cfg.attrs = UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_FILE;
	cfg.mtu = 1500;
	snprintf(cfg.file, sizeof(cfg.file), "/tmp/disk.img");
	expect_add_refused(&blk_mgmt, &cfg, -EOPNOTSUPP, "emu/ifcvf-blk does not support: mac, mtu",
			   "supported: file, capacity, num_queues, readonly");

	cfg_init(&cfg, "net0");
	cfg.attrs = UVDPA_ATTR_FILE;
	snprintf(cfg.file, sizeof(cfg.file), "/tmp/disk.img");
	expect_add_refused(&net_mgmt, &cfg, -EOPNOTSUPP, "does not support: file", NULL);

	cfg.attrs = UVDPA_ATTR_READONLY | UVDPA_ATTR_NUM_QUEUES | UVDPA_ATTR_CAPACITY;
	expect_add_refused(&net_mgmt, &cfg, -EOPNOTSUPP,
			   "does not support: capacity, num_queues, readonly", NULL);

	/* A mgmtdev that takes no attributes at all says so. */
	net_mgmt.config_attrs = 0;
	cfg.attrs = UVDPA_ATTR_MTU;
	cfg.mtu = 1500;
	expect_add_refused(&net_mgmt, &cfg, -EOPNOTSUPP, "does not support: mtu (supported: none)",
			   NULL);

	/* Bits that are not attributes at all. */
	cfg.attrs = 1u << 20;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "unknown attribute bits 0x100000", NULL);
	assert_null(uvdpa_device_first());
}

static void test_dev_add_max_vqp(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	cfg.attrs = UVDPA_ATTR_MAX_VQP;
	cfg.max_vqp = 0;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "max_vqp 0 is invalid", NULL);
	cfg.max_vqp = 5; /* max_supported_vqs 8 -> 4 pairs */
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "max_vqp 5 is too large", "at most 4");
	cfg.max_vqp = 0xffff;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "max_vqp 65535", NULL);
	/* Odd vq counts round down. */
	net_mgmt.max_supported_vqs = 7;
	cfg.max_vqp = 4;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "at most 3", NULL);
	cfg.max_vqp = 3;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	assert_int_equal(fm.adds, 1);
}

static void test_dev_add_mtu(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	cfg.attrs = UVDPA_ATTR_MTU;
	cfg.mtu = 67;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "mtu 67 is too small", "minimum 68");
	cfg.mtu = 0;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "mtu 0", NULL);
	cfg.mtu = 68;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	/* mtu not given: its value is ignored. */
	cfg_init(&cfg, "net1");
	cfg.mtu = 1;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
}

static void test_dev_add_features_rules(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	cfg.attrs = UVDPA_ATTR_FEATURES | UVDPA_ATTR_MAC;
	cfg.device_features = F_VERSION_1 | F_MTU | F_MQ;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "mac given with device_features",
			   "VIRTIO_NET_F_MAC (bit 5");

	cfg.attrs = UVDPA_ATTR_FEATURES | UVDPA_ATTR_MTU;
	cfg.mtu = 1500;
	cfg.device_features = F_VERSION_1 | F_MAC | F_MQ;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "mtu given with device_features",
			   "VIRTIO_NET_F_MTU (bit 3");

	cfg.attrs = UVDPA_ATTR_FEATURES | UVDPA_ATTR_MAX_VQP;
	cfg.max_vqp = 2;
	cfg.device_features = F_VERSION_1 | F_MAC | F_MTU;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "max_vqp given with device_features",
			   "VIRTIO_NET_F_MQ (bit 22");

	/* Features the mgmtdev cannot offer. */
	cfg.attrs = UVDPA_ATTR_FEATURES;
	cfg.device_features = F_VERSION_1 | (1ull << 40);
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "does not support: 0x10000000000", NULL);

	/* With the right bits, each is accepted. */
	cfg.attrs = UVDPA_ATTR_FEATURES | UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP;
	cfg.device_features = F_MAC | F_MTU | F_MQ;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	assert_int_equal(fm.adds, 1);
}

static void test_dev_add_name_rules(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	/* Names are unique across mgmtdevs. */
	expect_add_refused(&net_mgmt, &cfg, -EEXIST, "device net0 already exists", NULL);
	expect_add_refused(&blk_mgmt, &cfg, -EEXIST, "net0", NULL);

	cfg_init(&cfg, "");
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "is empty", NULL);
	cfg_init(&cfg, "net 1");
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "\"net 1\"", "[A-Za-z0-9_.:-]");
	memset(cfg.name, 'n', sizeof(cfg.name));
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "too long", NULL);
}

static void test_dev_add_string_attrs(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	cfg.attrs = UVDPA_ATTR_PORT;
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "port must not be empty", NULL);
	memset(cfg.port, 'p', sizeof(cfg.port));
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "port is too long", NULL);
	cfg_init(&cfg, "net0");
	cfg.attrs = UVDPA_ATTR_DEVARGS;
	memset(cfg.devargs, 'd', sizeof(cfg.devargs));
	expect_add_refused(&net_mgmt, &cfg, -EINVAL, "devargs is too long", NULL);
	/* An empty devargs is "nothing given", not an error. */
	cfg.devargs[0] = '\0';
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
}

static void test_dev_add_driver_failure(void **state)
{
	struct uvdpa_dev_add_config cfg;
	struct uvdpa_mgmtdev stray;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	/* The mgmtdev's own message is kept. */
	fm.add_ret = -ENOSPC;
	fm.set_msg = true;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "out of emulated VFs");
	/* Without one, the core writes a generic one. */
	fm.set_msg = false;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), -ENOSPC);
	assert_contains(err, "emu/ifcvf-net");
	assert_contains(err, "net0");
	assert_contains(err, strerror(ENOSPC));
	assert_null(uvdpa_device_first());

	/* Unregistered mgmtdev and NULL arguments. */
	stray = net_mgmt;
	snprintf(stray.name, sizeof(stray.name), "pci/0000:00:01.0");
	fm.add_ret = 0;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&stray, &cfg, err, sizeof(err)), -ENODEV);
	assert_contains(err, "pci/0000:00:01.0");
	assert_int_equal(uvdpa_mgmtdev_dev_add(NULL, &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(fm.adds, 2);
	/* A NULL error buffer is fine. */
	fm.add_ret = -EIO;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, NULL, 0), -EIO);
}

static void test_dev_del(void **state)
{
	struct uvdpa_dev_add_config cfg;
	struct uvdpa_device *dev;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	fm.set_mgmtdev = true;
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	dev = uvdpa_device_find("net0");
	assert_non_null(dev);
	assert_int_equal(uvdpa_device_bind(dev, "vhost-user", NULL, err, sizeof(err)), 0);

	/* Deleting unbinds first (fake_dev_del asserts it), then deletes. */
	assert_int_equal(uvdpa_mgmtdev_dev_del(dev, err, sizeof(err)), 0);
	assert_int_equal(vu_state.unbinds, 1);
	assert_int_equal(fm.dels, 1);
	assert_null(uvdpa_device_find("net0"));
	/* The name can be used again. */
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);

	/* A failing dev_del reports the mgmtdev's error; the device stays. */
	dev = uvdpa_device_find("net0");
	fm.del_ret = -EBUSY;
	assert_int_equal(uvdpa_mgmtdev_dev_del(dev, err, sizeof(err)), -EBUSY);
	assert_contains(err, "cannot delete device net0");
	assert_ptr_equal(uvdpa_device_find("net0"), dev);
}

static void test_dev_del_errors(void **state)
{
	struct uvdpa_device plain, stray;
	struct uvdpa_mgmtdev add_only;
	struct uvdpa_dev_add_config cfg;
	char err[256];

	(void)state;
	/* A device no mgmtdev created cannot be deleted through one. */
	dev_init(&plain, "plain0");
	assert_int_equal(uvdpa_device_register(&plain), 0);
	assert_int_equal(uvdpa_mgmtdev_dev_del(&plain, err, sizeof(err)), -EOPNOTSUPP);
	assert_contains(err, "plain0");
	assert_contains(err, "not created by a mgmtdev");
	assert_ptr_equal(uvdpa_device_find("plain0"), &plain);

	dev_init(&stray, "stray0");
	assert_int_equal(uvdpa_mgmtdev_dev_del(&stray, err, sizeof(err)), -ENODEV);
	assert_contains(err, "stray0");
	assert_int_equal(uvdpa_mgmtdev_dev_del(NULL, err, sizeof(err)), -EINVAL);

	/* A mgmtdev without dev_del. */
	memset(&add_only, 0, sizeof(add_only));
	snprintf(add_only.name, sizeof(add_only.name), "emu/add-only");
	add_only.ops = &add_only_ops;
	assert_int_equal(uvdpa_mgmtdev_register(&add_only), 0);
	cfg_init(&cfg, "net9");
	assert_int_equal(uvdpa_mgmtdev_dev_add(&add_only, &cfg, err, sizeof(err)), 0);
	assert_int_equal(uvdpa_mgmtdev_dev_del(uvdpa_device_find("net9"), err, sizeof(err)),
			 -EOPNOTSUPP);
	assert_contains(err, "emu/add-only cannot delete");
	assert_int_equal(fm.dels, 0);

	/* Unregistering the mgmtdev drops its device from the registry. */
	{
		struct uvdpa_device *dev = uvdpa_device_find("net9");

		uvdpa_mgmtdev_unregister(&add_only);
		assert_null(uvdpa_device_find("net9"));
		assert_null(dev->mgmtdev);
		free(dev);
	}
	assert_ptr_equal(uvdpa_device_find("plain0"), &plain);
}

static void test_mgmtdev_unregister_deletes_devices(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char err[256];

	(void)state;
	cfg_init(&cfg, "net0");
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	cfg_init(&cfg, "blk0");
	assert_int_equal(uvdpa_mgmtdev_dev_add(&blk_mgmt, &cfg, err, sizeof(err)), 0);
	cfg_init(&cfg, "net1");
	assert_int_equal(uvdpa_mgmtdev_dev_add(&net_mgmt, &cfg, err, sizeof(err)), 0);
	assert_int_equal(uvdpa_device_bind(uvdpa_device_find("net1"), "tap", NULL, err, sizeof(err)),
			 0);

	uvdpa_mgmtdev_unregister(&net_mgmt);
	assert_int_equal(fm.dels, 2);
	assert_int_equal(tap_state.unbinds, 1);
	assert_null(uvdpa_device_find("net0"));
	assert_null(uvdpa_device_find("net1"));
	assert_non_null(uvdpa_device_find("blk0"));
	assert_null(uvdpa_mgmtdev_find("emu/ifcvf-net"));
	/* blk0 is freed by the teardown, through blk_mgmt. */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, reset, reset)
#define TB(fn) cmocka_unit_test_setup_teardown(fn, bus_setup, reset)
#define TM(fn) cmocka_unit_test_setup_teardown(fn, mgmt_setup, mgmt_teardown)
	const struct CMUnitTest tests[] = {
		T(test_device_register_find_order),
		T(test_device_register_invalid_names),
		T(test_device_register_duplicate),
		T(test_pci_id_match),
		T(test_driver_match_first_registered),
		T(test_driver_register_errors),
		TB(test_bus_driver_register),
		TB(test_bind_unbind),
		TB(test_bind_errors),
		TB(test_bind_no_bus_drivers),
		TB(test_unregister_unbinds),
		TM(test_mgmtdev_register),
		TM(test_dev_add_happy),
		TM(test_dev_add_unsupported_attrs),
		TM(test_dev_add_max_vqp),
		TM(test_dev_add_mtu),
		TM(test_dev_add_features_rules),
		TM(test_dev_add_name_rules),
		TM(test_dev_add_string_attrs),
		TM(test_dev_add_driver_failure),
		TM(test_dev_del),
		TM(test_dev_del_errors),
		TM(test_mgmtdev_unregister_deletes_devices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
