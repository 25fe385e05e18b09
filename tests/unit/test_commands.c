/* Unit tests for uvdpad's command interpreter and control protocol: value
 * and grammar parsing with their error messages, keyword abbreviation,
 * output in the kernel vdpa tool's text and JSON formats for a fake device
 * on a fake mgmtdev, the JSON-lines protocol and its server on an event
 * loop, batch-line splitting, and the pci/ mgmtdev sysfs scan. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/cmd_internal.h"
#include "daemon/commands.h"
#include "daemon/control.h"
#include "daemon/mgmt.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/pci.h"
#include "core/registry.h"
#include "uvdpa/vdpa.h"

#define assert_contains(haystack, needle)                                                  \
	do {                                                                               \
		const char *h_ = (haystack);                                               \
		if (!h_ || !strstr(h_, (needle)))                                          \
			fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)",     \
				 (needle));                                                \
	} while (0)

#define BIT(n) (1ull << (n))
#define ARGV(...) ((char *const[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *const[]){ __VA_ARGS__ }) / sizeof(char *)))
/* Runs a command; res is filled. */
#define RUN(res, json, ...) cmd_execute(&env, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), json, false, res)

static struct cmd_env env;
static char err[1024];

/* ---- keywords and values ---- */

static void test_keyword_match(void **state)
{
	static const struct cmd_keyword kw[] = {
		{ "name", false }, { "mgmtdev", false }, { "mac", true }, { "mtu", true },
		{ "max_vqp", false },
	};

	(void)state;
	assert_int_equal(cmd_keyword_match("name", kw, 5), 0);
	assert_int_equal(cmd_keyword_match("n", kw, 5), 0);
	assert_int_equal(cmd_keyword_match("m", kw, 5), 1);	/* first match wins */
	assert_int_equal(cmd_keyword_match("mac", kw, 5), 2);	/* exact */
	assert_int_equal(cmd_keyword_match("ma", kw, 5), 4);	/* mac is exact-only */
	assert_int_equal(cmd_keyword_match("mt", kw, 5), -1);
	assert_int_equal(cmd_keyword_match("names", kw, 5), -1);
	assert_int_equal(cmd_keyword_match("", kw, 5), -1);
	assert_int_equal(cmd_keyword_match(NULL, kw, 5), -1);
}

static void test_parse_uint(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(cmd_parse_uint("mtu", "1500", 68, 65535, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(cmd_parse_uint("mtu", "68", 68, 65535, &v, err, sizeof(err)), 0);
	assert_int_equal(cmd_parse_uint("mtu", "40", 68, 65535, &v, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "mtu 40 is too small: use 68..65535");
	assert_int_equal(cmd_parse_uint("mtu", "65536", 68, 65535, &v, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "mtu 65536 is too large: use 68..65535");
	assert_int_equal(cmd_parse_uint("mtu", "99999999999999999999999", 68, 65535, &v, err,
					sizeof(err)), -ERANGE);
	assert_int_equal(cmd_parse_uint("mtu", "15a", 68, 65535, &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "mtu 15a is not a number: use 68..65535");
	assert_int_equal(cmd_parse_uint("mtu", "-1", 68, 65535, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_uint("mtu", "+1500", 68, 65535, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_uint("mtu", " 1500", 68, 65535, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_uint("mtu", "", 68, 65535, &v, err, sizeof(err)), -EINVAL);
}

static void test_parse_hex(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(cmd_parse_hex64("device_features", "0x100000020", &v, err, sizeof(err)), 0);
	assert_true(v == 0x100000020ull);
	assert_int_equal(cmd_parse_hex64("device_features", "FfFf", &v, err, sizeof(err)), 0);
	assert_true(v == 0xffff);
	assert_int_equal(cmd_parse_hex64("device_features", "ffffffffffffffff", &v, err,
					 sizeof(err)), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cmd_parse_hex64("device_features", "1ffffffffffffffff", &v, err,
					 sizeof(err)), -ERANGE);
	assert_int_equal(cmd_parse_hex64("device_features", "0x", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_hex64("device_features", "0xg", &v, err, sizeof(err)), -EINVAL);
	assert_contains(err, "device_features 0xg is not a hex number");
}

static void test_parse_mac(void **state)
{
	uint8_t mac[6] = { 0 };
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0x0c, 0x01 };

	(void)state;
	assert_int_equal(cmd_parse_mac("52:54:00:AB:c:01", mac, err, sizeof(err)), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(cmd_parse_mac("00:00:00:00:00:00", mac, err, sizeof(err)), 0);
	assert_int_equal(cmd_parse_mac("52:54:00:12:34", mac, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "mac 52:54:00:12:34 is not a MAC address: use six hex bytes "
				 "separated by colons, e.g. 52:54:00:12:34:56");
	assert_int_equal(cmd_parse_mac("52:54:00:12:34:56:78", mac, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_mac("52:54:00:12:34:5g", mac, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_mac("525:54:00:12:34:56", mac, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_mac("52-54-00-12-34-56", mac, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_mac("52:54:00:12:34:", mac, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_mac("", mac, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_mac("01:00:5e:00:00:01", mac, err, sizeof(err)), -EINVAL);
	assert_contains(err, "is a multicast address: use a unicast one");
}

static void test_parse_size(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(cmd_parse_size("capacity", "512", &v, err, sizeof(err)), 0);
	assert_true(v == 512);
	assert_int_equal(cmd_parse_size("capacity", "4k", &v, err, sizeof(err)), 0);
	assert_true(v == 4096);
	assert_int_equal(cmd_parse_size("capacity", "64M", &v, err, sizeof(err)), 0);
	assert_true(v == 64ull << 20);
	assert_int_equal(cmd_parse_size("capacity", "3G", &v, err, sizeof(err)), 0);
	assert_true(v == 3ull << 30);
	assert_int_equal(cmd_parse_size("capacity", "2T", &v, err, sizeof(err)), 0);
	assert_true(v == 2ull << 40);
	assert_int_equal(cmd_parse_size("capacity", "16777216T", &v, err, sizeof(err)), -ERANGE);
	assert_int_equal(cmd_parse_size("capacity", "99999999999999999999", &v, err, sizeof(err)),
			 -ERANGE);
	assert_int_equal(cmd_parse_size("capacity", "1X", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "capacity 1X is not a size: use a number of bytes with an "
				 "optional K, M, G or T suffix (powers of 1024), e.g. 64M");
	assert_int_equal(cmd_parse_size("capacity", "1KB", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_size("capacity", "K", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_size("capacity", "", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(cmd_parse_size("capacity", "1.5G", &v, err, sizeof(err)), -EINVAL);

	assert_int_equal(cmd_parse_capacity("1G", &v, err, sizeof(err)), 0);
	assert_int_equal(cmd_parse_capacity("0", &v, err, sizeof(err)), -ERANGE);
	assert_contains(err, "capacity 0 is too small");
	assert_int_equal(cmd_parse_capacity("1000", &v, err, sizeof(err)), -EINVAL);
	assert_contains(err, "not a multiple of 512 bytes");
	assert_contains(err, "e.g. 1024");
}

/* The port grammar is the model's (ifcvf_net_port_parse): the CLI hands the
 * word over as it is, even one the model will refuse. */
static void test_parse_port_passes_through(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char m[UVDPA_NAME_MAX];

	(void)state;
	assert_int_equal(cmd_parse_dev_add(6, ARGV("name", "e0", "mgmtdev", "emu/ifcvf-net", "port",
						   "source:64"),
					   &cfg, m, err, sizeof(err)), 0);
	assert_string_equal(cfg.port, "source:64");
	assert_true(cfg.attrs & UVDPA_ATTR_PORT);
	assert_int_equal(cmd_parse_dev_add(6, ARGV("name", "e0", "mgmtdev", "emu/ifcvf-net", "port",
						   "nowhere"),
					   &cfg, m, err, sizeof(err)), 0);
	assert_string_equal(cfg.port, "nowhere");
	/* Only what no port can be is refused here: empty, or too long to carry. */
	assert_int_equal(cmd_parse_dev_add(6, ARGV("name", "e0", "mgmtdev", "emu/ifcvf-net", "port",
						   ""),
					   &cfg, m, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "port must not be empty");
}

/* ---- grammar ---- */

static void test_parse_dev_add(void **state)
{
	struct uvdpa_dev_add_config cfg;
	char m[UVDPA_NAME_MAX];

	(void)state;
	assert_int_equal(cmd_parse_dev_add(7 * 2 + 1,
					   ARGV("name", "v0", "mgmtdev", "emu/ifcvf-net", "mac",
						"52:54:00:12:34:56", "mtu", "9000", "max_vqp", "4",
						"device_features", "0x10000030", "port", "pair:v1",
						"readonly"),
					   &cfg, m, err, sizeof(err)), 0);
	assert_string_equal(cfg.name, "v0");
	assert_string_equal(m, "emu/ifcvf-net");
	assert_int_equal(cfg.attrs, UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP |
					    UVDPA_ATTR_FEATURES | UVDPA_ATTR_PORT | UVDPA_ATTR_READONLY);
	assert_int_equal(cfg.mtu, 9000);
	assert_int_equal(cfg.max_vqp, 4);
	assert_true(cfg.device_features == 0x10000030ull);
	assert_string_equal(cfg.port, "pair:v1");
	assert_true(cfg.readonly);

	/* Abbreviations: name, mgmtdev, max_vqp, file, capacity... */
	assert_int_equal(cmd_parse_dev_add(12, ARGV("na", "b0", "mg", "test/null-blk", "f",
						    "/tmp/disk.img", "cap", "1G", "num", "2",
						    "dev", "a=1"),
					   &cfg, m, err, sizeof(err)), 0);
	assert_int_equal(cfg.attrs, UVDPA_ATTR_FILE | UVDPA_ATTR_CAPACITY | UVDPA_ATTR_NUM_QUEUES |
					    UVDPA_ATTR_DEVARGS);
	assert_string_equal(cfg.file, "/tmp/disk.img");
	assert_true(cfg.capacity == 1ull << 30);
	assert_int_equal(cfg.num_queues, 2);
	assert_string_equal(cfg.devargs, "a=1");

	assert_int_equal(cmd_parse_dev_add(2, ARGV("mgmtdev", "x"), &cfg, m, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "dev add: the device name is missing: add name NAME");
	assert_int_equal(cmd_parse_dev_add(2, ARGV("name", "x"), &cfg, m, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "the management device is missing: add mgmtdev MGMTDEV");
	assert_int_equal(cmd_parse_dev_add(3, ARGV("name", "x", "mtu"), &cfg, m, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "dev add: mtu needs a value: mtu N (68..65535)");
	assert_int_equal(cmd_parse_dev_add(4, ARGV("name", "x", "name", "y"), &cfg, m, err,
					   sizeof(err)), -EINVAL);
	assert_string_equal(err, "dev add: name is given twice: give it once");
	assert_int_equal(cmd_parse_dev_add(4, ARGV("name", "x", "mt", "1500"), &cfg, m, err,
					   sizeof(err)), -EINVAL);
	assert_contains(err, "dev add: unknown attribute \"mt\": use name, mgmtdev, mac, mtu");
	assert_int_equal(cmd_parse_dev_add(4, ARGV("name", "x", "mtu", "40"), &cfg, m, err,
					   sizeof(err)), -ERANGE);
	assert_string_equal(err, "mtu 40 is too small: use 68..65535");
	assert_int_equal(cmd_parse_dev_add(4, ARGV("name", "x", "max_vqp", "0"), &cfg, m, err,
					   sizeof(err)), -ERANGE);
	assert_contains(err, "max_vqp 0 is too small");
	assert_int_equal(cmd_parse_dev_add(4, ARGV("name", "x", "file", "disk.img"), &cfg, m, err,
					   sizeof(err)), -EINVAL);
	assert_contains(err, "relative path");
	assert_int_equal(cmd_parse_dev_add(2,
					   ARGV("name",
						"a-name-that-is-far-too-long-for-a-vdpa-device-and-"
						"keeps-going-on"),
					   &cfg, m, err, sizeof(err)), -EINVAL);
	assert_contains(err, "is too long: use 1..63 characters");
}

static void test_parse_dev_set_and_bind(void **state)
{
	struct uvdpa_dev_set_config cfg;
	struct cmd_bind_args b;
	char name[UVDPA_NAME_MAX];

	(void)state;
	assert_int_equal(cmd_parse_dev_set(6, ARGV("name", "v0", "link", "d", "mac",
						   "52:54:00:00:00:01"),
					   name, &cfg, err, sizeof(err)), 0);
	assert_string_equal(name, "v0");
	assert_int_equal(cfg.attrs, UVDPA_SET_LINK | UVDPA_SET_MAC);
	assert_false(cfg.link_up);
	assert_int_equal(cmd_parse_dev_set(4, ARGV("name", "v0", "link", "up"), name, &cfg, err,
					   sizeof(err)), 0);
	assert_true(cfg.link_up);
	assert_int_equal(cmd_parse_dev_set(4, ARGV("name", "v0", "link", "sideways"), name, &cfg,
					   err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "dev set: link sideways is unknown: use link up or link down");
	assert_int_equal(cmd_parse_dev_set(2, ARGV("name", "v0"), name, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "nothing to change");
	assert_int_equal(cmd_parse_dev_set(2, ARGV("link", "up"), name, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "the device name is missing");
	assert_int_equal(cmd_parse_dev_set(4, ARGV("name", "v0", "capacity", "3"), name, &cfg, err,
					   sizeof(err)), -EINVAL);

	assert_int_equal(cmd_parse_dev_bind(3, ARGV("v0", "vhost-user", "/run/v0.sock"), &b, err,
					    sizeof(err)), 0);
	assert_string_equal(b.bus, "vhost-user");
	assert_string_equal(b.path, "/run/v0.sock");
	assert_false(b.client);
	assert_int_equal(cmd_parse_dev_bind(4, ARGV("v0", "vh", "/run/v0.sock", "client"), &b, err,
					    sizeof(err)), 0);
	assert_true(b.client);
	assert_int_equal(cmd_parse_dev_bind(3, ARGV("v0", "tap", "tap0"), &b, err, sizeof(err)), 0);
	assert_string_equal(b.bus, "tap");
	assert_string_equal(b.path, "tap0");
	assert_int_equal(cmd_parse_dev_bind(3, ARGV("v0", "vhost-user", "v0.sock"), &b, err,
					    sizeof(err)), -EINVAL);
	assert_contains(err, "relative path");
	assert_int_equal(cmd_parse_dev_bind(4, ARGV("v0", "vhost-user", "/a", "server"), &b, err,
					    sizeof(err)), -EINVAL);
	assert_contains(err, "only \"client\" may follow");
	assert_int_equal(cmd_parse_dev_bind(2, ARGV("v0", "vhost-user"), &b, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "needs a socket path");
	assert_int_equal(cmd_parse_dev_bind(3, ARGV("v0", "virtio", "x"), &b, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "dev bind: bus driver \"virtio\" is unknown: use vhost-user or tap");
	assert_int_equal(cmd_parse_dev_bind(3, ARGV("v0", "tap", "way-too-long-ifname"), &b, err,
					    sizeof(err)), -EINVAL);
}

/* ---- a fake mgmtdev and device, and a fake bus driver ---- */

struct fake_dev {
	struct uvdpa_device vdpa;
	struct virtio_cfg {
		uint8_t mac[6];
		uint16_t status, max_vqp, mtu;
	} cfg;
	uint64_t features;
	uint32_t pairs;
	bool deleted;
};

static struct fake_dev fake;
static int fake_adds, fake_sets;
static struct uvdpa_dev_set_config last_set;

static int fake_get_queue_num(struct uvdpa_device *d, uint32_t *n)
{
	*n = ((struct fake_dev *)d->priv)->pairs;
	return 0;
}

static int fake_get_features(struct uvdpa_device *d, uint64_t *f)
{
	*f = ((struct fake_dev *)d->priv)->features;
	return 0;
}

static int fake_get_config(struct uvdpa_device *d, uint8_t *buf, uint32_t off, uint32_t len)
{
	struct fake_dev *fd = d->priv;

	if (off > sizeof(fd->cfg) || len > sizeof(fd->cfg) - off)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&fd->cfg + off, len);
	return 0;
}

static int fake_vq_stats(struct uvdpa_device *d, uint16_t vring, struct uvdpa_vq_stats *st)
{
	/* Two counters kept; the others (zero) are not printed. */
	memset(st, 0, sizeof(*st));
	st->value[UVDPA_VQ_STAT_COMPLETED_DESC] = 1000u + vring;
	st->value[UVDPA_VQ_STAT_RECEIVED_DESC] = 2000u + vring;
	st->value[UVDPA_VQ_STAT_DROPS] = 7;	/* not marked valid: not printed */
	st->valid = (1ull << UVDPA_VQ_STAT_RECEIVED_DESC) | (1ull << UVDPA_VQ_STAT_COMPLETED_DESC);
	return 0;
}

static const struct uvdpa_device_ops fake_ops = {
	.get_queue_num = fake_get_queue_num,
	.get_features = fake_get_features,
	.get_config = fake_get_config,
	.get_vq_stats = fake_vq_stats,
};

static int fake_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *e,
		    size_t elen)
{
	memset(&fake, 0, sizeof(fake));
	memcpy(fake.vdpa.name, cfg->name, sizeof(fake.vdpa.name));
	fake.vdpa.type = UVDPA_TYPE_NET;
	fake.vdpa.ops = &fake_ops;
	fake.vdpa.priv = &fake;
	fake.vdpa.vendor_id = 0x1af4;
	fake.vdpa.max_vq_size = 256;
	fake.features = BIT(5) | BIT(16) | BIT(22) | BIT(3) | BIT(17) | BIT(32) | BIT(50);
	fake.pairs = (cfg->attrs & UVDPA_ATTR_MAX_VQP) ? cfg->max_vqp : 1;
	memcpy(fake.cfg.mac, cfg->mac, 6);
	fake.cfg.status = 1;	/* LINK_UP */
	fake.cfg.max_vqp = (uint16_t)fake.pairs;
	fake.cfg.mtu = (cfg->attrs & UVDPA_ATTR_MTU) ? cfg->mtu : 1500;
	fake_adds++;
	return uvdpa_device_register(&fake.vdpa);
}

static int fake_del(struct uvdpa_mgmtdev *m, struct uvdpa_device *d)
{
	uvdpa_device_unregister(d);
	((struct fake_dev *)d->priv)->deleted = true;
	return 0;
}

static int fake_set(struct uvdpa_mgmtdev *m, struct uvdpa_device *d,
		    const struct uvdpa_dev_set_config *cfg, char *e, size_t elen)
{
	fake_sets++;
	last_set = *cfg;
	if (cfg->attrs & UVDPA_SET_LINK)
		fake.cfg.status = cfg->link_up;
	return 0;
}

static const struct uvdpa_mgmtdev_ops fake_mgmt_ops = {
	.dev_add = fake_add, .dev_del = fake_del, .dev_set = fake_set,
};

static struct uvdpa_mgmtdev fake_mgmt = {
	.name = "fake/net",
	.ops = &fake_mgmt_ops,
	.supported_classes = 1u << UVDPA_TYPE_NET,
	.config_attrs = UVDPA_ATTR_MAC | UVDPA_ATTR_MTU | UVDPA_ATTR_MAX_VQP | UVDPA_ATTR_FEATURES,
	.supported_features = BIT(3) | BIT(5) | BIT(16) | BIT(22) | BIT(32) | BIT(33) | BIT(50),
	.max_supported_vqs = 8,
};

static bool fake_bus_connected, fake_bus_features_ok;
static int fake_bus_binds, fake_bus_unbinds;
static char fake_bus_path[128];

static int fake_bind(struct uvdpa_device *d, const struct uvdpa_bind_args *a, char *e, size_t elen)
{
	fake_bus_binds++;
	snprintf(fake_bus_path, sizeof(fake_bus_path), "%s%s", a->path, a->client ? " client" : "");
	return 0;
}

static void fake_unbind(struct uvdpa_device *d)
{
	fake_bus_unbinds++;
}

static int fake_status(struct uvdpa_device *d, struct uvdpa_bind_status *st)
{
	snprintf(st->path, sizeof(st->path), "%s", fake_bus_path);
	st->connected = fake_bus_connected;
	st->features_ok = fake_bus_features_ok;
	st->negotiated_features = BIT(5) | BIT(32) | BIT(45);
	return 0;
}

static struct uvdpa_bus_driver fake_bus = {
	.name = "vhost-user", .bind = fake_bind, .unbind = fake_unbind, .status = fake_status,
};

static int fake_setup(void **state)
{
	(void)state;
	vdpa_registry_reset();
	memset(&fake, 0, sizeof(fake));
	fake_adds = fake_sets = fake_bus_binds = fake_bus_unbinds = 0;
	fake_bus_connected = fake_bus_features_ok = false;
	fake_bus.next = NULL;
	fake_mgmt.next = NULL;
	assert_int_equal(uvdpa_mgmtdev_register(&fake_mgmt), 0);
	assert_int_equal(uvdpa_bus_driver_register(&fake_bus), 0);
	return 0;
}

static int fake_teardown(void **state)
{
	(void)state;
	vdpa_registry_reset();
	return 0;
}

static void test_mgmtdev_show(void **state)
{
	struct cmd_result r;
	json_t *doc, *m;

	(void)state;
	assert_int_equal(RUN(&r, false, "mgmtdev", "show"), 0);
	assert_string_equal(r.output, "fake/net:\n"
				      "  supported_classes net\n"
				      "  max_supported_vqs 8\n"
				      "  dev_features MTU MAC STATUS MQ VERSION_1 ACCESS_PLATFORM bit_50\n");
	cmd_result_free(&r);

	/* Abbreviated, JSON, one mgmtdev: the kernel tool's keys. */
	assert_int_equal(RUN(&r, true, "m", "sh", "fake/net"), 0);
	doc = json_loads(r.output, 0, NULL);
	assert_non_null(doc);
	m = json_object_get(json_object_get(doc, "mgmtdev"), "fake/net");
	assert_non_null(m);
	assert_string_equal(json_string_value(json_array_get(json_object_get(m, "supported_classes"),
							     0)), "net");
	assert_int_equal(json_integer_value(json_object_get(m, "max_supported_vqs")), 8);
	assert_int_equal(json_array_size(json_object_get(m, "dev_features")), 7);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(m, "dev_features"), 6)),
			 50);
	json_decref(doc);
	assert_string_equal(r.output + strlen(r.output) - 1, "\n");
	assert_null(strchr(r.output, ' '));	/* compact */
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "mgmtdev", "show", "nope"), -ENODEV);
	assert_string_equal(r.error, "mgmtdev nope not found (mgmtdevs: fake/net)");
	assert_null(r.output);
	cmd_result_free(&r);
}

static void test_dev_lifecycle_and_show(void **state)
{
	struct cmd_result r;
	json_t *doc, *d;

	(void)state;
	/* No devices: empty text, an empty JSON section. */
	assert_int_equal(RUN(&r, false, "dev", "show"), 0);
	assert_string_equal(r.output, "");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, true, "dev"), 0);
	assert_string_equal(r.output, "{\"dev\":{}}\n");
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "add", "name", "v0", "mgmtdev", "fake/net", "mac",
			     "52:54:00:12:34:56", "mtu", "9000", "max_vqp", "2"), 0);
	assert_int_equal(fake_adds, 1);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "v0", "mgmtdev", "fake/net"),
			 -EEXIST);
	assert_contains(r.error, "already exists");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "v1", "mgmtdev", "fake/none"),
			 -ENODEV);
	assert_string_equal(r.error, "mgmtdev fake/none not found (mgmtdevs: fake/net)");
	cmd_result_free(&r);
	/* The registry's rules come through with their messages. */
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "v1", "mgmtdev", "fake/net",
			     "port", "loopback"), -EOPNOTSUPP);
	assert_contains(r.error, "does not support: port");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "v1", "mgmtdev", "fake/net",
			     "max_vqp", "5"), -EINVAL);
	assert_contains(r.error, "max_vqp 5 is too large");
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "show"), 0);
	assert_string_equal(r.output,
			    "v0: type network mgmtdev fake/net vendor_id 6900 max_vqs 5 max_vq_size 256\n");
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, true, "dev", "show", "v0"), 0);
	doc = json_loads(r.output, 0, NULL);
	d = json_object_get(json_object_get(doc, "dev"), "v0");
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "network");
	assert_string_equal(json_string_value(json_object_get(d, "mgmtdev")), "fake/net");
	assert_int_equal(json_integer_value(json_object_get(d, "vendor_id")), 0x1af4);
	assert_int_equal(json_integer_value(json_object_get(d, "max_vqs")), 5);
	assert_int_equal(json_integer_value(json_object_get(d, "max_vq_size")), 256);
	assert_null(json_object_get(d, "bound"));
	json_decref(doc);
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "show", "v9"), -ENODEV);
	assert_string_equal(r.error, "device v9 not found (devices: v0)");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "show", "v0", "extra"), -EINVAL);
	assert_contains(r.error, "unexpected \"extra\"");
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "del", "v0"), 0);
	assert_true(fake.deleted);
	assert_null(uvdpa_device_find("v0"));
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "del", "v0"), -ENODEV);
	assert_string_equal(r.error, "device v0 not found (devices: none)");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "del"), -EINVAL);
	assert_string_equal(r.error, "dev del: the device is missing: dev del NAME");
	cmd_result_free(&r);
}

static void test_config_show_and_binding(void **state)
{
	struct cmd_result r;
	json_t *doc, *c, *nf;

	(void)state;
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "v0", "mgmtdev", "fake/net", "mac",
			     "52:54:00:12:34:56", "max_vqp", "2"), 0);
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "config", "show", "v0"), 0);
	assert_string_equal(r.output, "v0: mac 52:54:00:12:34:56 link up link_announce false "
				      "max_vq_pairs 2 mtu 1500\n");
	cmd_result_free(&r);

	/* Bound, a frontend attached, features negotiated. */
	assert_int_equal(RUN(&r, false, "dev", "bind", "v0", "vhost-user", "/tmp/v0.sock",
			     "client"), 0);
	assert_int_equal(fake_bus_binds, 1);
	assert_string_equal(fake_bus_path, "/tmp/v0.sock client");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "bind", "v0", "vhost-user", "/tmp/v0.sock"), -EBUSY);
	assert_contains(r.error, "already bound to vhost-user: unbind it first");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "bind", "v0", "tap", "tap0"), -EBUSY);
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "config", "show"), 0);
	assert_contains(r.output, "mtu 1500\n");
	assert_null(strstr(r.output, "negotiated_features"));	/* not before FEATURES_OK */
	cmd_result_free(&r);
	fake_bus_connected = fake_bus_features_ok = true;
	assert_int_equal(RUN(&r, false, "dev", "config"), 0);
	assert_string_equal(r.output, "v0: mac 52:54:00:12:34:56 link up link_announce false "
				      "max_vq_pairs 2 mtu 1500\n"
				      "  negotiated_features MAC VERSION_1 bit_45\n");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, true, "dev", "config", "show", "v0"), 0);
	doc = json_loads(r.output, 0, NULL);
	c = json_object_get(json_object_get(doc, "config"), "v0");
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "mac")), "52:54:00:12:34:56");
	assert_string_equal(json_string_value(json_object_get(c, "link")), "up");
	assert_true(json_is_false(json_object_get(c, "link_announce")));
	assert_int_equal(json_integer_value(json_object_get(c, "max_vq_pairs")), 2);
	assert_int_equal(json_integer_value(json_object_get(c, "mtu")), 1500);
	nf = json_object_get(c, "negotiated_features");
	assert_int_equal(json_array_size(nf), 3);
	assert_string_equal(json_string_value(json_array_get(nf, 0)), "MAC");
	assert_int_equal(json_integer_value(json_array_get(nf, 2)), 45);
	json_decref(doc);
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "show", "v0"), 0);
	assert_string_equal(r.output, "v0: type network mgmtdev fake/net vendor_id 6900 max_vqs 5 "
				      "max_vq_size 256 bound vhost-user path /tmp/v0.sock client "
				      "connected true\n");
	cmd_result_free(&r);

	/* dev set goes to the mgmtdev. */
	assert_int_equal(RUN(&r, false, "dev", "set", "name", "v0", "link", "down"), 0);
	assert_int_equal(fake_sets, 1);
	assert_int_equal(last_set.attrs, UVDPA_SET_LINK);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "config", "show", "v0"), 0);
	assert_contains(r.output, "link down");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "set", "name", "v0", "capacity", "1G"), -EINVAL);
	assert_contains(r.error, "not a block device: capacity does not apply");
	assert_int_equal(fake_sets, 1);
	cmd_result_free(&r);

	/* Unbind, then nothing to unbind. */
	assert_int_equal(RUN(&r, false, "dev", "unbind", "v0"), 0);
	assert_int_equal(fake_bus_unbinds, 1);
	assert_null(uvdpa_device_find("v0")->bus);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "unbind", "v0"), -ENOTCONN);
	assert_string_equal(r.error, "device v0 is not bound: nothing to unbind");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "bind", "v0", "tap", "tap0"), -ENOENT);
	assert_contains(r.error, "unknown bus driver \"tap\" (known: vhost-user)");
	cmd_result_free(&r);

	/* dev del of a bound device unbinds it first. */
	assert_int_equal(RUN(&r, false, "dev", "bind", "v0", "vhost-user", "/tmp/v0.sock"), 0);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "del", "v0"), 0);
	assert_int_equal(fake_bus_unbinds, 2);
	cmd_result_free(&r);
}

static void test_vstats(void **state)
{
	struct cmd_result r;
	json_t *doc, *v;

	(void)state;
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "v0", "mgmtdev", "fake/net",
			     "max_vqp", "2"), 0);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "vstats", "show", "v0", "qidx", "1"), 0);
	assert_string_equal(r.output, "v0: queue_type tx queue_index 1 received_desc 2001 "
				      "completed_desc 1001\n");
	cmd_result_free(&r);
	/* CTRL_VQ: the last queue is the control queue. */
	assert_int_equal(RUN(&r, true, "dev", "vstats", "show", "v0", "qidx", "4"), 0);
	doc = json_loads(r.output, 0, NULL);
	v = json_object_get(json_object_get(doc, "vstats"), "v0");
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "queue_type")), "control_vq");
	assert_int_equal(json_integer_value(json_object_get(v, "queue_index")), 4);
	assert_int_equal(json_integer_value(json_object_get(v, "received_desc")), 2004);
	assert_int_equal(json_integer_value(json_object_get(v, "completed_desc")), 1004);
	json_decref(doc);
	cmd_result_free(&r);

	assert_int_equal(RUN(&r, false, "dev", "vstats", "show", "v0", "qidx", "5"), -EINVAL);
	assert_string_equal(r.error, "qidx 5 is out of range: device v0 has 5 virtqueues, use 0..4");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "vstats", "show", "v0"), -EINVAL);
	assert_contains(r.error, "the queue index is missing: add qidx N");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "vstats", "show", "v0", "q", "1"), -EINVAL);
	cmd_result_free(&r);	/* qidx does not abbreviate */
	assert_int_equal(RUN(&r, false, "dev", "vstats", "show", "v0", "qidx"), -EINVAL);
	assert_contains(r.error, "qidx needs a value");
	cmd_result_free(&r);
}

static void test_dispatch_errors(void **state)
{
	struct cmd_result r;

	(void)state;
	assert_int_equal(cmd_execute(&env, 0, ARGV("x"), false, false, &r), -EINVAL);
	assert_contains(r.error, "no command");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "device", "show"), -EINVAL);
	assert_string_equal(r.error, "object \"device\" is unknown: use mgmtdev, dev, monitor, help");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "frob"), -EINVAL);
	assert_contains(r.error, "dev command \"frob\" is unknown: use show, list, add, del");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "config", "dump"), -EINVAL);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "help"), 0);
	assert_contains(r.output, "uvdpa dev bind NAME vhost-user PATH [client]");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "mgmtdev"), 0);
	assert_contains(r.output, "Usage: uvdpa mgmtdev show");
	cmd_result_free(&r);
	/* A device no mgmtdev created: no dev set, no dev del; a bus driver
	 * that cannot report its status shows just its name. */
	{
		static struct uvdpa_bus_driver quiet_bus = { .name = "tap", .bind = fake_bind };
		struct uvdpa_device bare = { .name = "bare", .type = UVDPA_TYPE_NET, .ops = &fake_ops,
					    .priv = &fake };
		struct uvdpa_bind_status st;

		fake.pairs = 1;
		assert_int_equal(uvdpa_device_register(&bare), 0);
		assert_int_equal(RUN(&r, false, "dev", "set", "name", "bare", "link", "up"),
				 -EOPNOTSUPP);
		assert_string_equal(r.error,
				    "device bare was not created by a mgmtdev and cannot be changed");
		cmd_result_free(&r);
		assert_int_equal(RUN(&r, false, "dev", "del", "bare"), -EOPNOTSUPP);
		assert_contains(r.error, "was not created by a mgmtdev and cannot be deleted");
		cmd_result_free(&r);
		assert_int_equal(uvdpa_device_bind_status(&bare, &st), -ENOTCONN);
		quiet_bus.next = NULL;
		assert_int_equal(uvdpa_bus_driver_register(&quiet_bus), 0);
		assert_int_equal(RUN(&r, false, "dev", "bind", "bare", "tap", "tap0"), 0);
		cmd_result_free(&r);
		assert_int_equal(uvdpa_device_bind_status(&bare, &st), -EOPNOTSUPP);
		assert_int_equal(RUN(&r, false, "dev", "show", "bare"), 0);
		assert_string_equal(r.output, "bare: type network vendor_id 0 max_vqs 2 bound tap\n");
		cmd_result_free(&r);
		uvdpa_device_unregister(&bare);
	}
	/* A mgmtdev without dev_set. */
	{
		static const struct uvdpa_mgmtdev_ops no_set_ops = { .dev_add = fake_add,
								    .dev_del = fake_del };
		static struct uvdpa_mgmtdev no_set = { .name = "fake/noset", .ops = &no_set_ops,
						      .supported_classes = 1u << UVDPA_TYPE_NET };

		no_set.next = NULL;
		assert_int_equal(uvdpa_mgmtdev_register(&no_set), 0);
		assert_int_equal(RUN(&r, false, "dev", "add", "name", "ns", "mgmtdev", "fake/noset"), 0);
		cmd_result_free(&r);
		assert_int_equal(RUN(&r, false, "dev", "set", "name", "ns", "link", "up"), -EOPNOTSUPP);
		assert_string_equal(r.error, "mgmtdev fake/noset cannot change attributes of its devices");
		cmd_result_free(&r);
		uvdpa_mgmtdev_unregister(&no_set);
		assert_null(uvdpa_device_find("ns"));
	}
	/* "dev s" is show (first in order), "dev se" is set. */
	assert_int_equal(RUN(&r, false, "dev", "s"), 0);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "se", "name", "x", "link", "up"), -ENODEV);
	cmd_result_free(&r);
}

static void test_render_text(void **state)
{
	static const char *const lines[] = { "l", NULL };
	json_t *root = json_pack("{s:{s:{s:s,s:i,s:b,s:[s,i],s:[s]}}}", "sect", "h", "a", "x", "b",
				 7, "c", 0, "d", "FOO", 3, "l", "one");
	char *s;

	(void)state;
	assert_non_null(root);
	s = cmd_render(root, false, false, lines);
	assert_string_equal(s, "h: a x b 7 c false d FOO bit_3\n  l one\n");
	free(s);
	s = cmd_render(root, true, true, NULL);
	assert_contains(s, "{\n    \"sect\": {\n        \"h\": {\n");
	free(s);
	json_decref(root);

	assert_string_equal(cmd_feature_name(UVDPA_TYPE_NET, 22), "MQ");
	assert_string_equal(cmd_feature_name(UVDPA_TYPE_BLK, 5), "RO");
	assert_string_equal(cmd_feature_name(UVDPA_TYPE_BLK, 32), "VERSION_1");
	assert_string_equal(cmd_feature_name(UVDPA_TYPE_NONE, 33), "ACCESS_PLATFORM");
	assert_null(cmd_feature_name(UVDPA_TYPE_NONE, 5));
	assert_null(cmd_feature_name(UVDPA_TYPE_NET, 30));
	assert_null(cmd_feature_name(UVDPA_TYPE_NET, 64));
}

/* ---- control protocol ---- */

static void test_request_codec(void **state)
{
	struct ctl_request req;
	struct ctl_response resp;
	char *line;

	(void)state;
	line = ctl_request_encode(3, ARGV("dev", "show", "quo\"te\nnl"), true, false);
	assert_non_null(line);
	assert_string_equal(line, "{\"argv\":[\"dev\",\"show\",\"quo\\\"te\\nnl\"],\"json\":true,"
				  "\"pretty\":false}\n");
	assert_int_equal(ctl_request_decode(line, strlen(line), &req, err, sizeof(err)), 0);
	assert_int_equal(req.argc, 3);
	assert_string_equal(req.argv[2], "quo\"te\nnl");
	assert_null(req.argv[3]);
	assert_true(req.json);
	assert_false(req.pretty);
	ctl_request_free(&req);
	free(line);

	assert_int_equal(ctl_request_decode("{\"argv\":[]}", 11, &req, err, sizeof(err)), 0);
	assert_int_equal(req.argc, 0);
	ctl_request_free(&req);
	assert_int_equal(ctl_request_decode("{\"argv\":[\"a\"", 12, &req, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "malformed request");
	assert_int_equal(ctl_request_decode("[1]", 3, &req, err, sizeof(err)), -EINVAL);
	assert_int_equal(ctl_request_decode("{\"argv\":[1]}", 12, &req, err, sizeof(err)), -EINVAL);
	assert_contains(err, "argv[0] must be a string");
	assert_int_equal(ctl_request_decode("{\"argv\":\"dev\"}", 14, &req, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(ctl_request_decode("{\"argv\":[],\"json\":1}", 20, &req, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(ctl_request_decode("{\"argv\":[],\"x\":1}", 17, &req, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "unknown field \"x\"");
	assert_int_equal(ctl_request_decode("{\"argv\":[],\"argv\":[]}", 21, &req, err,
					    sizeof(err)), -EINVAL);

	line = ctl_response_encode(22, "", "bad thing");
	assert_string_equal(line, "{\"status\":22,\"output\":\"\",\"error\":\"bad thing\"}\n");
	assert_int_equal(ctl_response_decode(line, strlen(line), &resp, err, sizeof(err)), 0);
	assert_int_equal(resp.status, 22);
	assert_string_equal(resp.error, "bad thing");
	assert_string_equal(resp.output, "");
	ctl_response_free(&resp);
	free(line);
	assert_int_equal(ctl_response_decode("{\"status\":-1}", 13, &resp, err, sizeof(err)),
			 -EINVAL);
}

static void test_split_line(void **state)
{
	char **argv;
	int argc;

	(void)state;
	assert_int_equal(ctl_split_line("  dev add  name x\tmgmtdev 'a b' \"c\\\"d\" e\\ f # c\n",
					&argc, &argv, err, sizeof(err)), 0);
	assert_int_equal(argc, 8);
	assert_string_equal(argv[0], "dev");
	assert_string_equal(argv[4], "mgmtdev");
	assert_string_equal(argv[5], "a b");
	assert_string_equal(argv[6], "c\"d");
	assert_string_equal(argv[7], "e f");
	assert_null(argv[8]);
	ctl_argv_free(argc, argv);
	assert_int_equal(ctl_split_line("a e\\ f", &argc, &argv, err, sizeof(err)), 0);
	assert_int_equal(argc, 2);
	assert_string_equal(argv[1], "e f");
	ctl_argv_free(argc, argv);
	assert_int_equal(ctl_split_line("# just a comment", &argc, &argv, err, sizeof(err)), 0);
	assert_int_equal(argc, 0);
	ctl_argv_free(argc, argv);
	assert_int_equal(ctl_split_line("   \n", &argc, &argv, err, sizeof(err)), 0);
	assert_int_equal(argc, 0);
	ctl_argv_free(argc, argv);
	assert_int_equal(ctl_split_line("a ''", &argc, &argv, err, sizeof(err)), 0);
	assert_int_equal(argc, 2);
	assert_string_equal(argv[1], "");
	ctl_argv_free(argc, argv);
	assert_int_equal(ctl_split_line("a 'b", &argc, &argv, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unterminated ' quote: close it");
	assert_int_equal(ctl_split_line("a b\\", &argc, &argv, err, sizeof(err)), -EINVAL);
}

/* The server on a real loop: partial reads, pipelined requests, malformed
 * and oversized requests, a client leaving mid-request, several clients. */

static char sock_dir[32], sock_path[64];
static int handled;

static void echo_handler(void *opaque, const struct ctl_request *req, struct ctl_response *resp)
{
	handled++;
	resp->status = req->argc && !strcmp(req->argv[0], "fail") ? EINVAL : 0;
	resp->output = strdup(req->argc ? req->argv[0] : "(none)");
	resp->error = resp->status ? strdup("it failed") : NULL;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void spin(struct uvdpa_loop *loop, int rounds)
{
	while (rounds--)
		uvdpa_loop_run_once(loop, 10);
}

/* Reads what is there (non-blocking after the loop ran). */
static size_t read_some(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void test_server(void **state)
{
	struct uvdpa_loop *loop = uvdpa_loop_new();
	struct ctl_server *srv;
	char buf[4096], *big;
	struct stat st;
	int a, b, c;

	(void)state;
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/uvdpa-ctl-XXXXXX");
	assert_non_null(mkdtemp(sock_dir));
	/* Parent directories are created 0700. */
	snprintf(sock_path, sizeof(sock_path), "%s/sub/ctl.sock", sock_dir);
	srv = ctl_server_new(loop, sock_path, echo_handler, NULL, err, sizeof(err));
	assert_non_null(srv);
	assert_int_equal(stat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(buf, sizeof(buf), "%s/sub", sock_dir);
	assert_int_equal(stat(buf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* A live socket is not replaced. */
	assert_null(ctl_server_new(loop, sock_path, echo_handler, NULL, err, sizeof(err)));
	assert_contains(err, "another uvdpad is already listening");

	a = connect_to(sock_path);
	b = connect_to(sock_path);
	spin(loop, 3);
	assert_int_equal(ctl_server_clients(srv), 2);
	/* A request in pieces, then two pipelined in one write. */
	assert_int_equal(write(a, "{\"argv\":[\"o", 11), 11);
	spin(loop, 2);
	assert_int_equal(read_some(a, buf, sizeof(buf)), 0);
	assert_int_equal(write(a, "ne\"]}\n{\"argv\":[\"two\"]}\n{\"argv\":[\"fail\"]}\n", 41), 41);
	spin(loop, 3);
	read_some(a, buf, sizeof(buf));
	assert_string_equal(buf, "{\"status\":0,\"output\":\"one\",\"error\":\"\"}\n"
				 "{\"status\":0,\"output\":\"two\",\"error\":\"\"}\n"
				 "{\"status\":22,\"output\":\"fail\",\"error\":\"it failed\"}\n");
	/* Malformed JSON: an error answer, and the connection stays usable. */
	assert_int_equal(write(b, "not json\n", 9), 9);
	spin(loop, 3);
	read_some(b, buf, sizeof(buf));
	assert_contains(buf, "{\"status\":22,\"output\":\"\",\"error\":\"malformed request");
	assert_int_equal(write(b, "{\"argv\":[]}\n", 12), 12);
	spin(loop, 3);
	read_some(b, buf, sizeof(buf));
	assert_string_equal(buf, "{\"status\":0,\"output\":\"(none)\",\"error\":\"\"}\n");
	/* A client leaving mid-request is dropped quietly, the others stay. */
	c = connect_to(sock_path);
	assert_int_equal(write(c, "{\"argv\":[\"x", 11), 11);
	spin(loop, 2);
	close(c);
	spin(loop, 3);
	assert_int_equal(ctl_server_clients(srv), 2);
	handled = 0;
	/* More than 64 KiB without a newline: one error answer; the rest of
	 * that line is dropped and the next request is served. */
	big = malloc(3 * CTL_MAX_REQUEST);
	memset(big, ' ', 3 * CTL_MAX_REQUEST);
	for (size_t off = 0; off < 3 * CTL_MAX_REQUEST;) {
		ssize_t n = send(b, big + off, 3 * CTL_MAX_REQUEST - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		assert_true(n > 0 || errno == EAGAIN);
		if (n > 0)
			off += (size_t)n;
		spin(loop, 1);
	}
	spin(loop, 3);
	read_some(b, buf, sizeof(buf));
	assert_string_equal(buf, "{\"status\":90,\"output\":\"\",\"error\":\"request too large: "
				 "more than 65535 bytes without a newline\"}\n");
	assert_int_equal(write(b, "  \n{\"argv\":[\"after\"]}\n", 22), 22);
	spin(loop, 3);
	read_some(b, buf, sizeof(buf));
	assert_string_equal(buf, "{\"status\":0,\"output\":\"after\",\"error\":\"\"}\n");
	assert_int_equal(handled, 1);
	assert_int_equal(ctl_server_clients(srv), 2);
	free(big);
	/* Half-closed after a request: answered, then closed. */
	assert_int_equal(write(b, "{\"argv\":[\"last\"]}\n", 18), 18);
	shutdown(b, SHUT_WR);
	spin(loop, 3);
	read_some(b, buf, sizeof(buf));
	assert_string_equal(buf, "{\"status\":0,\"output\":\"last\",\"error\":\"\"}\n");
	assert_int_equal(recv(b, buf, sizeof(buf), MSG_DONTWAIT), 0);	/* EOF */
	assert_int_equal(ctl_server_clients(srv), 1);

	close(a);
	close(b);
	ctl_server_free(srv);
	assert_int_equal(stat(sock_path, &st), -1);	/* removed */

	/* A stale socket file (nobody listening) is replaced. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	srv = ctl_server_new(loop, sock_path, echo_handler, NULL, err, sizeof(err));
	assert_non_null(srv);
	ctl_server_free(srv);
	/* A regular file is left alone. */
	close(open(sock_path, O_CREAT | O_WRONLY, 0600));
	assert_null(ctl_server_new(loop, sock_path, echo_handler, NULL, err, sizeof(err)));
	assert_contains(err, "exists and is not a socket");
	unlink(sock_path);
	snprintf(buf, sizeof(buf), "%s/sub", sock_dir);
	rmdir(buf);
	rmdir(sock_dir);
	uvdpa_loop_free(loop);
}

static void test_client_errors(void **state)
{
	struct ctl_client *c;

	(void)state;
	assert_int_equal(ctl_client_connect("/nonexistent/uvdpa.sock", &c, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "cannot reach uvdpad at /nonexistent/uvdpa.sock: No such file or "
				 "directory \xe2\x80\x94 is uvdpad running? (uvdpad -s PATH)");
	assert_null(c);
}

/* ---- pci/ mgmtdev scan over a fake sysfs ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_function(const char *root, const char *addr, const char *vendor,
			  const char *device, const char *svendor, const char *sdevice)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", root, addr);
	assert_int_equal(mkdir(path, 0755), 0);
	write_file(path, "vendor", vendor);
	write_file(path, "device", device);
	write_file(path, "subsystem_vendor", svendor);
	write_file(path, "subsystem_device", sdevice);
	snprintf(path, sizeof(path), "%s/bus/pci/drivers/vfio-pci/%s", root, addr);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void test_pci_scan(void **state)
{
	static const struct uvdpa_pci_id ids[] = {
		{ 0x1af4, 0x1041, 0x8086, 0x001a },
		{ 0x1af4, 0x1001, 0x8086, 0x0002 },
		{ 0 },
	};
	static struct uvdpa_driver drv = { .name = "fake-ifcvf", .id_table = ids };
	char root[64], path[512];
	struct uvdpa_mgmtdev *m;
	struct cmd_result r;

	(void)state;
	snprintf(root, sizeof(root), "/tmp/uvdpa-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_int_equal(uvdpa_pci_mgmtdev_scan(root, err, sizeof(err)), 0);	/* no vfio-pci: none */
	snprintf(path, sizeof(path), "%s/bus", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/pci", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/pci/devices", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/pci/drivers", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/pci/drivers/vfio-pci", root);
	mkdir(path, 0755);
	write_file(path, "new_id", "");	/* not a function: ignored */
	make_function(root, "0000:06:00.3", "0x1af4\n", "0x1041\n", "0x8086\n", "0x001a\n");
	make_function(root, "0000:06:00.4", "0x1af4\n", "0x1001\n", "0x8086\n", "0x0002\n");
	make_function(root, "0000:07:00.0", "0x8086\n", "0x1572\n", "0x8086\n", "0x0000\n");

	uvdpa_driver_register(&drv);
	assert_int_equal(uvdpa_pci_mgmtdev_scan(root, err, sizeof(err)), 2);
	m = uvdpa_mgmtdev_find("pci/0000:06:00.3");
	assert_non_null(m);
	assert_int_equal(m->supported_classes, 1u << UVDPA_TYPE_NET);
	assert_int_equal(m->config_attrs, UVDPA_ATTR_DEVARGS);
	m = uvdpa_mgmtdev_find("pci/0000:06:00.4");
	assert_non_null(m);
	assert_int_equal(m->supported_classes, 1u << UVDPA_TYPE_BLK);
	assert_null(uvdpa_mgmtdev_find("pci/0000:07:00.0"));
	/* A second scan adds nothing twice. */
	assert_int_equal(uvdpa_pci_mgmtdev_scan(root, err, sizeof(err)), 0);

	assert_int_equal(RUN(&r, false, "mgmtdev", "show", "pci/0000:06:00.4"), 0);
	assert_contains(r.output, "pci/0000:06:00.4:\n  supported_classes block\n");
	cmd_result_free(&r);
	/* Provisioning attributes the driver cannot apply are refused. */
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "p0", "mgmtdev", "pci/0000:06:00.3",
			     "mtu", "1500"), -EOPNOTSUPP);
	assert_contains(r.error, "does not support: mtu (supported: devargs)");
	cmd_result_free(&r);

	uvdpa_pci_mgmtdev_fini();
	assert_null(uvdpa_mgmtdev_find("pci/0000:06:00.3"));
	vdpa_registry_reset();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		assert_int_equal(system(cmd), 0);
	}
}

/* The null test devices behind uvdpad --test-mgmtdev. */
static void test_null_mgmtdev(void **state)
{
	struct cmd_result r;

	(void)state;
	vdpa_registry_reset();
	assert_int_equal(mgmt_test_register(), 0);
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "b0", "mgmtdev", "test/null-blk",
			     "capacity", "2G", "num_queues", "4", "readonly"), 0);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "config", "show", "b0"), 0);
	assert_string_equal(r.output, "b0: capacity 2147483648 size_max 4096 seg_max 32 blk_size "
				      "512 num_queues 4 read_only true flush true\n");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "set", "name", "b0", "capacity", "1M"), 0);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "config", "show", "b0"), 0);
	assert_contains(r.output, "capacity 1048576 ");
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "b1", "mgmtdev", "test/null-blk",
			     "mac", "52:54:00:12:34:56"), -EOPNOTSUPP);
	cmd_result_free(&r);
	assert_int_equal(RUN(&r, false, "dev", "add", "name", "n0", "mgmtdev", "test/null",
			     "num_queues", "100"), -EINVAL);
	assert_contains(r.error, "num_queues 100 is too large: mgmtdev test/null supports at most");
	cmd_result_free(&r);
	mgmt_test_unregister();
	assert_null(uvdpa_device_find("b0"));
	vdpa_registry_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyword_match),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_parse_hex),
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_port_passes_through),
		cmocka_unit_test(test_parse_dev_add),
		cmocka_unit_test(test_parse_dev_set_and_bind),
		cmocka_unit_test_setup_teardown(test_mgmtdev_show, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_dev_lifecycle_and_show, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_config_show_and_binding, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_vstats, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_errors, fake_setup, fake_teardown),
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_request_codec),
		cmocka_unit_test(test_split_line),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_client_errors),
		cmocka_unit_test_setup_teardown(test_pci_scan, fake_teardown, fake_teardown),
		cmocka_unit_test(test_null_mgmtdev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
