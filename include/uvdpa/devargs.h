/* Strict "key=value,key=value" device-argument parsing: an unknown key, a
 * repeated key or a value out of range is an error that names it. */
#ifndef UVDPA_DEVARGS_H
#define UVDPA_DEVARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum uvdpa_devargs_type { UVDPA_DEVARGS_UINT, UVDPA_DEVARGS_STRING };

struct uvdpa_devargs_spec {
	const char *key;
	enum uvdpa_devargs_type type;
	uint64_t min, max;	/* UVDPA_DEVARGS_UINT: inclusive range */
};

#define UVDPA_DEVARGS_STR_MAX 128

struct uvdpa_devargs_value {
	bool present;
	uint64_t u;
	char s[UVDPA_DEVARGS_STR_MAX];
};

/* out[i] corresponds to spec[i]. Returns 0 or -EINVAL with err filled. An
 * empty or NULL string is valid (nothing present). */
int uvdpa_devargs_parse(const char *str, const struct uvdpa_devargs_spec *spec, size_t nspec,
		  struct uvdpa_devargs_value *out, char *err, size_t errlen);

#endif
