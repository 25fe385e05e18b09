/* Output of the command interpreter in the kernel `vdpa` tool's formats:
 * feature-bit names and the text / JSON rendering of a result document. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cmd_internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The kernel tool's split: bits 28..41 are transport features with one
 * table; the others are named per device type. */
#define TRANSPORT_F_START 28
#define TRANSPORT_F_END 41

static const char *const transport_names[TRANSPORT_F_END - TRANSPORT_F_START + 1] = {
	[28 - TRANSPORT_F_START] = "RING_INDIRECT_DESC",
	[29 - TRANSPORT_F_START] = "RING_EVENT_IDX",
	[32 - TRANSPORT_F_START] = "VERSION_1",
	[33 - TRANSPORT_F_START] = "ACCESS_PLATFORM",
	[34 - TRANSPORT_F_START] = "RING_PACKED",
	[35 - TRANSPORT_F_START] = "IN_ORDER",
	[36 - TRANSPORT_F_START] = "ORDER_PLATFORM",
	[37 - TRANSPORT_F_START] = "SR_IOV",
	[38 - TRANSPORT_F_START] = "NOTIFICATION_DATA",
};

/* As iproute2's vdpa prints them. */
static const char *const net_names[64] = {
	[0] = "CSUM",
	[1] = "GUEST_CSUM",
	[2] = "CTRL_GUEST_OFFLOADS",
	[3] = "MTU",
	[5] = "MAC",
	[7] = "GUEST_TSO4",
	[8] = "GUEST_TSO6",
	[9] = "GUEST_ECN",
	[10] = "GUEST_UFO",
	[11] = "HOST_TSO4",
	[12] = "HOST_TSO6",
	[13] = "HOST_ECN",
	[14] = "HOST_UFO",
	[15] = "MRG_RXBUF",
	[16] = "STATUS",
	[17] = "CTRL_VQ",
	[18] = "CTRL_RX",
	[19] = "CTRL_VLAN",
	[20] = "CTRL_RX_EXTRA",
	[21] = "GUEST_ANNOUNCE",
	[22] = "MQ",
	[23] = "CTRL_MAC_ADDR",
	[24] = "NOTIFY_ON_EMPTY",
	[27] = "ANY_LAYOUT",
	[57] = "HASH_REPORT",
	[60] = "RSS",
	[61] = "RSC_EXT",
	[62] = "STANDBY",
	[63] = "SPEED_DUPLEX",
};

/* The kernel tool has no blk table (it prints bit_N): these are the virtio
 * spec's names, an uvdpa addition. */
static const char *const blk_names[64] = {
	[0] = "BARRIER",
	[1] = "SIZE_MAX",
	[2] = "SEG_MAX",
	[4] = "GEOMETRY",
	[5] = "RO",
	[6] = "BLK_SIZE",
	[7] = "SCSI",
	[9] = "FLUSH",
	[10] = "TOPOLOGY",
	[11] = "CONFIG_WCE",
	[12] = "MQ",
	[13] = "DISCARD",
	[14] = "WRITE_ZEROES",
	[15] = "LIFETIME",
	[16] = "SECURE_ERASE",
	[24] = "NOTIFY_ON_EMPTY",
	[27] = "ANY_LAYOUT",
};

const char *cmd_feature_name(enum uvdpa_dev_type type, unsigned int bit)
{
	if (bit >= 64)
		return NULL;
	if (bit >= TRANSPORT_F_START && bit <= TRANSPORT_F_END)
		return transport_names[bit - TRANSPORT_F_START];
	switch (type) {
	case UVDPA_TYPE_NET:
		return net_names[bit];
	case UVDPA_TYPE_BLK:
		return blk_names[bit];
	default:
		return NULL;
	}
}

json_t *cmd_features_json(enum uvdpa_dev_type type, uint64_t features)
{
	json_t *arr = json_array();
	unsigned int bit;

	if (!arr)
		return NULL;
	for (bit = 0; bit < 64; bit++) {
		const char *name;
		json_t *v;

		if (!(features & (1ull << bit)))
			continue;
		name = cmd_feature_name(type, bit);
		v = name ? json_string(name) : json_integer(bit);
		if (json_array_append_new(arr, v) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- Rendering ---- */

struct strbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->s, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) sb_printf(struct strbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* One scalar as the kernel tool prints it; in a feature array a number is
 * an unnamed bit. */
static void render_scalar(struct strbuf *b, json_t *v, bool in_array)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		sb_str(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		if (in_array)
			sb_printf(b, "bit_%lld", (long long)json_integer_value(v));
		else
			sb_printf(b, "%llu", (unsigned long long)json_integer_value(v));
		break;
	case JSON_TRUE:
		sb_str(b, "true");
		break;
	case JSON_FALSE:
		sb_str(b, "false");
		break;
	default:
		sb_str(b, "?");
		break;
	}
}

static bool is_line_key(const char *key, const char *const *line_keys)
{
	for (; line_keys && *line_keys; line_keys++)
		if (!strcmp(key, *line_keys))
			return true;
	return false;
}

static void render_text(struct strbuf *b, json_t *section, const char *const *line_keys)
{
	const char *handle, *key;
	json_t *obj, *v;

	json_object_foreach(section, handle, obj) {
		sb_str(b, handle);
		sb_str(b, ":");
		json_object_foreach(obj, key, v) {
			sb_str(b, is_line_key(key, line_keys) ? "\n  " : " ");
			sb_str(b, key);
			if (json_is_array(v)) {
				size_t i;
				json_t *e;

				json_array_foreach(v, i, e) {
					sb_str(b, " ");
					render_scalar(b, e, true);
				}
			} else {
				sb_str(b, " ");
				render_scalar(b, v, false);
			}
		}
		sb_str(b, "\n");
	}
}

char *cmd_render(json_t *root, bool json, bool pretty, const char *const *line_keys)
{
	struct strbuf b = { 0 };

	if (json) {
		char *s = json_dumps(root, pretty ? JSON_INDENT(4) : JSON_COMPACT);

		if (!s)
			return NULL;
		sb_str(&b, s);
		sb_str(&b, "\n");
		free(s);
	} else {
		const char *name;
		json_t *section;

		sb_str(&b, "");
		json_object_foreach(root, name, section)
			render_text(&b, section, line_keys);
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
