/* Argument parsing for the uvdpa grammar: keywords with iproute2-style
 * abbreviation, strict value parsers (numbers, MAC, SIZE), and the
 * attribute lists of dev add / dev set / dev bind. Pure functions: every
 * error says which word is wrong and what to use instead. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "daemon/cmd_internal.h"
#include "core/log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))


int cmd_keyword_match(const char *word, const struct cmd_keyword *table, size_t n)
{
	size_t i, len;

	if (!word || !word[0])
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(word, table[i].word) == 0)
			return (int)i;
	len = strlen(word);
	for (i = 0; i < n; i++)
		if (!table[i].exact && strncmp(word, table[i].word, len) == 0)
			return (int)i;
	return -1;
}

/* ---- Values ---- */

int cmd_parse_uint(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		   char *err, size_t errlen)
{
	uint64_t v = 0;
	/* From 0, so that a number below min gets its own message. */
	int ret = uvdpa_parse_u64(s, 10, 0, max, &v);
	const char *wrong = ret == -EINVAL ? "is not a number" :
			    ret == -ERANGE ? "is too large" :
			    v < min	   ? "is too small" : NULL;

	if (!wrong) {
		*out = v;
		return 0;
	}
	uvdpa_errf(err, errlen, "%s %s %s: use %llu..%llu", what, s, wrong, (unsigned long long)min,
		   (unsigned long long)max);
	return ret ? ret : -ERANGE;
}

int cmd_parse_hex64(const char *what, const char *s, uint64_t *out, char *err, size_t errlen)
{
	int ret = uvdpa_parse_u64(s, 16, 0, UINT64_MAX, out);

	if (ret == -ERANGE)
		uvdpa_errf(err, errlen, "%s %s is too large: use at most 64 bits (16 hex digits)",
			   what, s);
	else if (ret < 0)
		uvdpa_errf(err, errlen, "%s %s is not a hex number: use e.g. 0x10000030 or 10000030",
			   what, s);
	return ret;
}

int cmd_parse_mac(const char *s, uint8_t mac[6], char *err, size_t errlen)
{
	const char *p = s;
	uint8_t m[6];
	int i;

	for (i = 0; i < 6; i++) {
		int hi = uvdpa_hex_digit(p[0]), lo;

		if (hi < 0)
			goto bad;
		lo = uvdpa_hex_digit(p[1]);
		if (lo >= 0) {
			m[i] = (uint8_t)(hi << 4 | lo);
			p += 2;
		} else {
			m[i] = (uint8_t)hi;
			p += 1;
		}
		if (i < 5) {
			if (*p != ':')
				goto bad;
			p++;
		}
	}
	if (*p)
		goto bad;
	if (m[0] & 1) {
		uvdpa_errf(err, errlen,
			"mac %s is a multicast address: use a unicast one (even first byte), "
			"e.g. 52:54:00:12:34:56", s);
		return -EINVAL;
	}
	memcpy(mac, m, sizeof(m));
	return 0;
bad:
	uvdpa_errf(err, errlen,
		"mac %s is not a MAC address: use six hex bytes separated by colons, "
		"e.g. 52:54:00:12:34:56", s);
	return -EINVAL;
}

int cmd_parse_size(const char *what, const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	size_t n = strspn(s, "0123456789");
	unsigned int shift = 0;
	uint64_t v;

	if (n == 0)
		goto bad;
	switch (s[n]) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		goto bad;
	}
	if (shift && s[n + 1] != '\0')
		goto bad;
	if (uvdpa_parse_u64n(s, n, 10, 0, UINT64_MAX >> shift, &v) < 0) {
		uvdpa_errf(err, errlen, "%s %s is too large: use at most 16383T", what, s);
		return -ERANGE;
	}
	*bytes = v << shift;
	return 0;
bad:
	uvdpa_errf(err, errlen,
		"%s %s is not a size: use a number of bytes with an optional K, M, G or T "
		"suffix (powers of 1024), e.g. 64M", what, s);
	return -EINVAL;
}

int cmd_parse_capacity(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	uint64_t v;
	int ret = cmd_parse_size("capacity", s, &v, err, errlen);

	if (ret < 0)
		return ret;
	if (v == 0) {
		uvdpa_errf(err, errlen, "capacity %s is too small: use at least 512 bytes", s);
		return -ERANGE;
	}
	if (v % 512) {
		uvdpa_errf(err, errlen,
			"capacity %s is not a multiple of 512 bytes (the sector size): "
			"round it, e.g. %llu", s, (unsigned long long)((v + 511) / 512 * 512));
		return -EINVAL;
	}
	*bytes = v;
	return 0;
}

int cmd_parse_name(const char *what, const char *s, char *out, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0 || n >= UVDPA_NAME_MAX) {
		uvdpa_errf(err, errlen, "%s \"%s\" %s: use 1..%d characters from [A-Za-z0-9_.:-]", what,
			s, n ? "is too long" : "is empty", UVDPA_NAME_MAX - 1);
		return -EINVAL;
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* ---- dev add ---- */

enum add_kw {
	ADD_NAME, ADD_MGMTDEV, ADD_MAC, ADD_MTU, ADD_MAX_VQP, ADD_FEATURES, ADD_DEVARGS, ADD_PORT,
	ADD_FILE, ADD_CAPACITY, ADD_NUM_QUEUES, ADD_READONLY,
};

/* Order and exactness follow the kernel tool: name, mgmtdev and max_vqp
 * abbreviate, mac, mtu and device_features do not. */
static const struct cmd_keyword add_keywords[] = {
	[ADD_NAME] = { "name", false },
	[ADD_MGMTDEV] = { "mgmtdev", false },
	[ADD_MAC] = { "mac", true },
	[ADD_MTU] = { "mtu", true },
	[ADD_MAX_VQP] = { "max_vqp", false },
	[ADD_FEATURES] = { "device_features", true },
	[ADD_DEVARGS] = { "devargs", false },
	[ADD_PORT] = { "port", false },
	[ADD_FILE] = { "file", false },
	[ADD_CAPACITY] = { "capacity", false },
	[ADD_NUM_QUEUES] = { "num_queues", false },
	[ADD_READONLY] = { "readonly", false },
};

static const char *const add_usage[] = {
	[ADD_NAME] = "name NAME",
	[ADD_MGMTDEV] = "mgmtdev MGMTDEV (see uvdpa mgmtdev show)",
	[ADD_MAC] = "mac MAC, e.g. mac 52:54:00:12:34:56",
	[ADD_MTU] = "mtu N (68..65535)",
	[ADD_MAX_VQP] = "max_vqp N (1..32768)",
	[ADD_FEATURES] = "device_features HEX, e.g. device_features 0x100010020",
	[ADD_DEVARGS] = "devargs KEY=VALUE[,KEY=VALUE...]",
	[ADD_PORT] = "port loopback|pair:NAME|tap:IFNAME|sink|source",
	[ADD_FILE] = "file PATH",
	[ADD_CAPACITY] = "capacity SIZE, e.g. capacity 1G",
	[ADD_NUM_QUEUES] = "num_queues N (1..65535)",
	[ADD_READONLY] = "readonly",
};

static const uint32_t add_attr_bits[] = {
	[ADD_NAME] = 0,
	[ADD_MGMTDEV] = 0,
	[ADD_MAC] = UVDPA_ATTR_MAC,
	[ADD_MTU] = UVDPA_ATTR_MTU,
	[ADD_MAX_VQP] = UVDPA_ATTR_MAX_VQP,
	[ADD_FEATURES] = UVDPA_ATTR_FEATURES,
	[ADD_DEVARGS] = UVDPA_ATTR_DEVARGS,
	[ADD_PORT] = UVDPA_ATTR_PORT,
	[ADD_FILE] = UVDPA_ATTR_FILE,
	[ADD_CAPACITY] = UVDPA_ATTR_CAPACITY,
	[ADD_NUM_QUEUES] = UVDPA_ATTR_NUM_QUEUES,
	[ADD_READONLY] = UVDPA_ATTR_READONLY,
};

static int copy_string(const char *what, const char *s, char *out, size_t size, char *err,
		       size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0) {
		uvdpa_errf(err, errlen, "%s must not be empty", what);
		return -EINVAL;
	}
	if (n >= size) {
		uvdpa_errf(err, errlen, "%s is too long (%zu bytes): use at most %zu", what, n,
			size - 1);
		return -EINVAL;
	}
	memcpy(out, s, n + 1);
	return 0;
}

static const char *list_keywords(const struct cmd_keyword *kw, size_t n, char *buf, size_t len)
{
	struct uvdpa_join j;

	uvdpa_join_init(&j, buf, len, ", ");
	for (size_t i = 0; i < n; i++)
		uvdpa_join_add(&j, kw[i].word);
	return buf;
}

int cmd_parse_dev_add(int argc, char *const argv[], struct uvdpa_dev_add_config *cfg,
		      char mgmtdev[UVDPA_NAME_MAX], char *err, size_t errlen)
{
	uint32_t seen = 0;
	int i, ret;

	memset(cfg, 0, sizeof(*cfg));
	mgmtdev[0] = '\0';
	for (i = 0; i < argc; i++) {
		int kw = cmd_keyword_match(argv[i], add_keywords, ARRAY_SIZE(add_keywords));
		const char *val;
		uint64_t v;

		if (kw < 0) {
			char known[256];

			uvdpa_errf(err, errlen, "dev add: unknown attribute \"%s\": use %s", argv[i],
				   list_keywords(add_keywords, ARRAY_SIZE(add_keywords), known,
						 sizeof(known)));
			return -EINVAL;
		}
		if (seen & (1u << kw)) {
			uvdpa_errf(err, errlen, "dev add: %s is given twice: give it once",
				add_keywords[kw].word);
			return -EINVAL;
		}
		seen |= 1u << kw;
		cfg->attrs |= add_attr_bits[kw];
		if (kw == ADD_READONLY) {
			cfg->readonly = true;
			continue;
		}
		if (i + 1 >= argc) {
			uvdpa_errf(err, errlen, "dev add: %s needs a value: %s", add_keywords[kw].word,
				add_usage[kw]);
			return -EINVAL;
		}
		val = argv[++i];
		switch (kw) {
		case ADD_NAME:
			ret = cmd_parse_name("device name", val, cfg->name, err, errlen);
			break;
		case ADD_MGMTDEV:
			ret = cmd_parse_name("mgmtdev", val, mgmtdev, err, errlen);
			break;
		case ADD_MAC:
			ret = cmd_parse_mac(val, cfg->mac, err, errlen);
			break;
		case ADD_MTU:
			ret = cmd_parse_uint("mtu", val, 68, 65535, &v, err, errlen);
			cfg->mtu = (uint16_t)v;
			break;
		case ADD_MAX_VQP:
			ret = cmd_parse_uint("max_vqp", val, 1, 32768, &v, err, errlen);
			cfg->max_vqp = (uint16_t)v;
			break;
		case ADD_FEATURES:
			ret = cmd_parse_hex64("device_features", val, &cfg->device_features, err,
					      errlen);
			break;
		case ADD_DEVARGS:
			/* An empty devargs is allowed: it means "none". */
			ret = strlen(val) < sizeof(cfg->devargs) ? 0 : -EINVAL;
			if (ret)
				uvdpa_errf(err, errlen, "devargs is too long: use at most %zu bytes",
					sizeof(cfg->devargs) - 1);
			else
				memcpy(cfg->devargs, val, strlen(val) + 1);
			break;
		case ADD_PORT:
			/* One grammar, the model's: it checks the port at dev add. */
			ret = copy_string("port", val, cfg->port, sizeof(cfg->port), err, errlen);
			break;
		case ADD_FILE:
			ret = copy_string("file", val, cfg->file, sizeof(cfg->file), err, errlen);
			if (!ret && val[0] != '/') {
				uvdpa_errf(err, errlen,
					"file %s is a relative path: uvdpad does not share your working "
					"directory, give an absolute path", val);
				ret = -EINVAL;
			}
			break;
		case ADD_CAPACITY:
			ret = cmd_parse_capacity(val, &cfg->capacity, err, errlen);
			break;
		case ADD_NUM_QUEUES:
			ret = cmd_parse_uint("num_queues", val, 1, 65535, &v, err, errlen);
			cfg->num_queues = (uint16_t)v;
			break;
		default:
			ret = -EINVAL;
			break;
		}
		if (ret < 0)
			return ret;
	}
	if (!(seen & (1u << ADD_NAME))) {
		uvdpa_errf(err, errlen, "dev add: the device name is missing: add name NAME");
		return -EINVAL;
	}
	if (!(seen & (1u << ADD_MGMTDEV))) {
		uvdpa_errf(err, errlen,
			"dev add: the management device is missing: add mgmtdev MGMTDEV "
			"(see uvdpa mgmtdev show)");
		return -EINVAL;
	}
	return 0;
}

/* ---- dev set ---- */

enum set_kw { SET_NAME, SET_MAC, SET_CAPACITY, SET_LINK };

static const struct cmd_keyword set_keywords[] = {
	[SET_NAME] = { "name", false },
	[SET_MAC] = { "mac", true },
	[SET_CAPACITY] = { "capacity", false },
	[SET_LINK] = { "link", false },
};

static const char *const set_usage[] = {
	[SET_NAME] = "name NAME",
	[SET_MAC] = "mac MAC, e.g. mac 52:54:00:12:34:56",
	[SET_CAPACITY] = "capacity SIZE, e.g. capacity 1G",
	[SET_LINK] = "link up|down",
};

int cmd_parse_dev_set(int argc, char *const argv[], char name[UVDPA_NAME_MAX],
		      struct uvdpa_dev_set_config *cfg, char *err, size_t errlen)
{
	static const struct cmd_keyword updown[] = { { "up", false }, { "down", false } };
	uint32_t seen = 0;
	int i, ret;

	memset(cfg, 0, sizeof(*cfg));
	name[0] = '\0';
	for (i = 0; i < argc; i++) {
		int kw = cmd_keyword_match(argv[i], set_keywords, ARRAY_SIZE(set_keywords));
		const char *val;

		if (kw < 0) {
			uvdpa_errf(err, errlen,
				"dev set: unknown attribute \"%s\": use name, mac, capacity or link",
				argv[i]);
			return -EINVAL;
		}
		if (seen & (1u << kw)) {
			uvdpa_errf(err, errlen, "dev set: %s is given twice: give it once",
				set_keywords[kw].word);
			return -EINVAL;
		}
		seen |= 1u << kw;
		if (i + 1 >= argc) {
			uvdpa_errf(err, errlen, "dev set: %s needs a value: %s", set_keywords[kw].word,
				set_usage[kw]);
			return -EINVAL;
		}
		val = argv[++i];
		switch (kw) {
		case SET_NAME:
			ret = cmd_parse_name("device name", val, name, err, errlen);
			break;
		case SET_MAC:
			cfg->attrs |= UVDPA_SET_MAC;
			ret = cmd_parse_mac(val, cfg->mac, err, errlen);
			break;
		case SET_CAPACITY:
			cfg->attrs |= UVDPA_SET_CAPACITY;
			ret = cmd_parse_capacity(val, &cfg->capacity, err, errlen);
			break;
		default: {
			int ud = cmd_keyword_match(val, updown, ARRAY_SIZE(updown));

			cfg->attrs |= UVDPA_SET_LINK;
			cfg->link_up = ud == 0;
			ret = 0;
			if (ud < 0) {
				uvdpa_errf(err, errlen, "dev set: link %s is unknown: use link up or link down",
					val);
				ret = -EINVAL;
			}
			break;
		}
		}
		if (ret < 0)
			return ret;
	}
	if (!name[0]) {
		uvdpa_errf(err, errlen, "dev set: the device name is missing: dev set name NAME ...");
		return -EINVAL;
	}
	if (!cfg->attrs) {
		uvdpa_errf(err, errlen,
			"dev set: nothing to change: add mac MAC, capacity SIZE or link up|down");
		return -EINVAL;
	}
	return 0;
}

/* ---- dev bind ---- */

int cmd_parse_dev_bind(int argc, char *const argv[], struct cmd_bind_args *args, char *err,
		       size_t errlen)
{
	static const struct cmd_keyword buses[] = { { "vhost-user", false }, { "tap", false } };
	static const struct cmd_keyword client_kw[] = { { "client", false } };
	int bus, ret;

	memset(args, 0, sizeof(*args));
	if (argc < 1) {
		uvdpa_errf(err, errlen,
			"dev bind: the device is missing: dev bind NAME vhost-user PATH [client] | "
			"tap IFNAME");
		return -EINVAL;
	}
	ret = cmd_parse_name("device name", argv[0], args->name, err, errlen);
	if (ret < 0)
		return ret;
	if (argc < 2) {
		uvdpa_errf(err, errlen,
			"dev bind %s: the bus driver is missing: add vhost-user PATH [client] or "
			"tap IFNAME", argv[0]);
		return -EINVAL;
	}
	bus = cmd_keyword_match(argv[1], buses, ARRAY_SIZE(buses));
	if (bus < 0) {
		uvdpa_errf(err, errlen, "dev bind: bus driver \"%s\" is unknown: use vhost-user or tap",
			argv[1]);
		return -EINVAL;
	}
	args->bus = buses[bus].word;
	if (argc < 3) {
		uvdpa_errf(err, errlen, "dev bind %s %s: needs a %s", argv[0], args->bus,
			bus == 0 ? "socket path: vhost-user PATH [client]" :
				   "interface name: tap IFNAME");
		return -EINVAL;
	}
	if (bus == 0) {
		size_t n = strlen(argv[2]);

		if (argv[2][0] != '/') {
			uvdpa_errf(err, errlen,
				"vhost-user socket %s is a relative path: uvdpad does not share "
				"your working directory, give an absolute path", argv[2]);
			return -EINVAL;
		}
		if (n >= sizeof(args->path)) {
			uvdpa_errf(err, errlen,
				"vhost-user socket path is too long (%zu bytes): use at most %zu", n,
				sizeof(args->path) - 1);
			return -EINVAL;
		}
		memcpy(args->path, argv[2], n + 1);
		if (argc > 3) {
			if (cmd_keyword_match(argv[3], client_kw, 1) < 0) {
				uvdpa_errf(err, errlen,
					"dev bind: unexpected \"%s\" after the socket path: only "
					"\"client\" may follow", argv[3]);
				return -EINVAL;
			}
			args->client = true;
		}
		if (argc > 4) {
			uvdpa_errf(err, errlen, "dev bind: unexpected \"%s\" after client", argv[4]);
			return -EINVAL;
		}
		return 0;
	}
	if (!uvdpa_ifname_valid(argv[2], strlen(argv[2]))) {
		uvdpa_errf(err, errlen,
			"tap interface name %s is invalid: use 1..15 characters without '/', ':' "
			"or blanks", argv[2]);
		return -EINVAL;
	}
	memcpy(args->path, argv[2], strlen(argv[2]) + 1);
	if (argc > 3) {
		uvdpa_errf(err, errlen, "dev bind: unexpected \"%s\" after the interface name",
			argv[3]);
		return -EINVAL;
	}
	return 0;
}
