/* Inside the command interpreter: argument parsing (cmd_parse.c) and output
 * formatting (cmd_format.c), exposed for commands.c and the unit tests. */
#ifndef UVDPA_DAEMON_CMD_INTERNAL_H
#define UVDPA_DAEMON_CMD_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvdpa/vdpa.h"

/* ---- Keywords ---- */

/* Like iproute2: a keyword may be abbreviated unless it is exact-only; the
 * first entry in table order that matches wins, an exact match first. */
struct cmd_keyword {
	const char *word;
	bool exact;
};

/* The index of the keyword word stands for, or -1. */
int cmd_keyword_match(const char *word, const struct cmd_keyword *table, size_t n);

/* ---- Values (each error says what to change) ---- */

/* Decimal, digits only, in [min, max]; what names the value ("mtu"). */
int cmd_parse_uint(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		   char *err, size_t errlen);
/* Hex, optional 0x, up to 64 bits. */
int cmd_parse_hex64(const char *what, const char *s, uint64_t *out, char *err, size_t errlen);
/* Six hex bytes separated by ':'; multicast addresses are refused. */
int cmd_parse_mac(const char *s, uint8_t mac[6], char *err, size_t errlen);
/* Bytes: decimal with an optional K, M, G or T suffix (powers of 1024). */
int cmd_parse_size(const char *what, const char *s, uint64_t *bytes, char *err, size_t errlen);
/* A blk capacity: a SIZE, non-zero and a multiple of 512. */
int cmd_parse_capacity(const char *s, uint64_t *bytes, char *err, size_t errlen);
/* A device name that fits (the registry checks its characters). */
int cmd_parse_name(const char *what, const char *s, char *out, char *err, size_t errlen);

/* ---- Commands' arguments ---- */

/* dev add name NAME mgmtdev MGMTDEV [attributes...] (argv after "add"). */
int cmd_parse_dev_add(int argc, char *const argv[], struct uvdpa_dev_add_config *cfg,
		      char mgmtdev[UVDPA_NAME_MAX], char *err, size_t errlen);
/* dev set name NAME [mac MAC] [capacity SIZE] [link up|down] (after "set"). */
int cmd_parse_dev_set(int argc, char *const argv[], char name[UVDPA_NAME_MAX],
		      struct uvdpa_dev_set_config *cfg, char *err, size_t errlen);

#define CMD_BIND_PATH_MAX 108	/* sun_path */

struct cmd_bind_args {
	char name[UVDPA_NAME_MAX];
	const char *bus;	/* "vhost-user" or "tap" */
	char path[CMD_BIND_PATH_MAX];	/* socket path or interface name */
	bool client;
};

/* dev bind NAME vhost-user PATH [client] | tap IFNAME (after "bind"). */
int cmd_parse_dev_bind(int argc, char *const argv[], struct cmd_bind_args *args, char *err,
		       size_t errlen);

/* ---- Output ---- */

/* The kernel tool's name for a feature bit of a device of that type (net:
 * the kernel's table; blk: the virtio spec's names), NULL when unnamed. */
const char *cmd_feature_name(enum uvdpa_dev_type type, unsigned int bit);
/* A JSON array of feature names; unnamed bits as their number (the kernel
 * tool prints those as "bit_N" in text). NULL on ENOMEM. */
json_t *cmd_features_json(enum uvdpa_dev_type type, uint64_t features);

/* Renders {"section": {"handle": {...}, ...}} as the kernel tool does: as
 * JSON (compact, or pretty with 4-space indent), or as text, one
 * "handle: key value key value" per object, keys in line_keys (NULL-ended)
 * on their own indented lines, arrays as space-separated values. Returns a
 * malloc'd string ending in a newline (empty for an empty section). */
char *cmd_render(json_t *root, bool json, bool pretty, const char *const *line_keys);

#endif
