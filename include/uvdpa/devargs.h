/* Strict "key=value,key=value" device-argument parsing: an unknown key, a
 * repeated key or a value out of range is an error that names it. */
#ifndef UVDPA_DEVARGS_H
#define UVDPA_DEVARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum devargs_type { DEVARGS_UINT, DEVARGS_STRING };

struct devargs_spec {
	const char *key;
	enum devargs_type type;
	uint64_t min, max;	/* DEVARGS_UINT: inclusive range */
};

#define DEVARGS_STR_MAX 128

struct devargs_value {
	bool present;
	uint64_t u;
	char s[DEVARGS_STR_MAX];
};

/* out[i] corresponds to spec[i]. Returns 0 or -EINVAL with err filled. An
 * empty or NULL string is valid (nothing present). */
int devargs_parse(const char *str, const struct devargs_spec *spec, size_t nspec,
		  struct devargs_value *out, char *err, size_t errlen);

#endif
