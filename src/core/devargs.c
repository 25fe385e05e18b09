/* Strict "key=value,key=value" device-argument parsing. Device arguments come
 * from operators, so every malformed item is refused with a message that
 * names the offending key or value instead of being guessed at. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "uvdpa/devargs.h"
#include "core/log.h"

/* Longest piece of user input echoed back in a message. */
#define DEVARGS_ECHO_MAX 64


static int echo_len(size_t len)
{
	return len > DEVARGS_ECHO_MAX ? DEVARGS_ECHO_MAX : (int)len;
}

static const char *echo_more(size_t len)
{
	return len > DEVARGS_ECHO_MAX ? "..." : "";
}

static const char *join_known_keys(const struct uvdpa_devargs_spec *spec, size_t nspec, char *buf,
				   size_t buflen)
{
	struct uvdpa_join j;

	uvdpa_join_init(&j, buf, buflen, ", ");
	for (size_t i = 0; i < nspec; i++)
		uvdpa_join_add(&j, spec[i].key);
	return uvdpa_join_str(&j, "none");
}

static bool has_space_or_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isspace(c) || iscntrl(c))
			return true;
	}
	return false;
}

/* One "key=value" item, len bytes at item (not NUL-terminated). */
static int parse_item(const char *item, size_t len, const struct uvdpa_devargs_spec *spec, size_t nspec,
		      struct uvdpa_devargs_value *out, char *err, size_t errlen)
{
	const char *eq, *val;
	size_t klen, vlen, idx;
	uint64_t u;
	int ret;

	if (len == 0) {
		uvdpa_errf(err, errlen, "devargs: empty item (stray ',')");
		return -EINVAL;
	}
	if (has_space_or_control(item, len)) {
		uvdpa_errf(err, errlen, "devargs: whitespace is not allowed (in \"%.*s%s\")",
			echo_len(len), item, echo_more(len));
		return -EINVAL;
	}
	eq = memchr(item, '=', len);
	if (!eq) {
		uvdpa_errf(err, errlen, "devargs: missing '=' after key \"%.*s%s\" (expected key=value)",
			echo_len(len), item, echo_more(len));
		return -EINVAL;
	}
	klen = (size_t)(eq - item);
	val = eq + 1;
	vlen = len - klen - 1;
	if (klen == 0) {
		uvdpa_errf(err, errlen, "devargs: empty key in \"%.*s%s\"", echo_len(len), item,
			echo_more(len));
		return -EINVAL;
	}

	for (idx = 0; idx < nspec; idx++) {
		if (strlen(spec[idx].key) == klen && memcmp(spec[idx].key, item, klen) == 0)
			break;
	}
	if (idx == nspec) {
		char known[256];

		uvdpa_errf(err, errlen, "devargs: unknown key \"%.*s%s\" (known: %s)", echo_len(klen),
			item, echo_more(klen), join_known_keys(spec, nspec, known, sizeof(known)));
		return -EINVAL;
	}
	if (out[idx].present) {
		uvdpa_errf(err, errlen, "devargs: key \"%s\" given more than once", spec[idx].key);
		return -EINVAL;
	}
	if (vlen == 0) {
		uvdpa_errf(err, errlen, "devargs: empty value for key \"%s\"", spec[idx].key);
		return -EINVAL;
	}

	switch (spec[idx].type) {
	case UVDPA_DEVARGS_UINT:
		ret = uvdpa_parse_u64n(val, vlen, 0, 0, UINT64_MAX, &u);
		if (ret == -ERANGE) {
			uvdpa_errf(err, errlen,
				"devargs: value \"%.*s%s\" for key \"%s\" is too large (max %llu)",
				echo_len(vlen), val, echo_more(vlen), spec[idx].key,
				(unsigned long long)spec[idx].max);
			return -EINVAL;
		}
		if (ret < 0) {
			uvdpa_errf(err, errlen,
				"devargs: value \"%.*s%s\" for key \"%s\" is not an unsigned number "
				"(decimal or 0x hex)",
				echo_len(vlen), val, echo_more(vlen), spec[idx].key);
			return -EINVAL;
		}
		if (u < spec[idx].min || u > spec[idx].max) {
			uvdpa_errf(err, errlen,
				"devargs: value \"%.*s%s\" for key \"%s\" is out of range (%llu..%llu)",
				echo_len(vlen), val, echo_more(vlen), spec[idx].key,
				(unsigned long long)spec[idx].min, (unsigned long long)spec[idx].max);
			return -EINVAL;
		}
		out[idx].u = u;
		break;
	case UVDPA_DEVARGS_STRING:
		if (vlen >= sizeof(out[idx].s)) {
			uvdpa_errf(err, errlen,
				"devargs: value for key \"%s\" is too long (%zu characters, max %zu)",
				spec[idx].key, vlen, sizeof(out[idx].s) - 1);
			return -EINVAL;
		}
		memcpy(out[idx].s, val, vlen);
		out[idx].s[vlen] = '\0';
		break;
	default:
		uvdpa_errf(err, errlen, "devargs: key \"%s\" has an invalid type in its spec",
			spec[idx].key);
		return -EINVAL;
	}
	out[idx].present = true;
	return 0;
}

int uvdpa_devargs_parse(const char *str, const struct uvdpa_devargs_spec *spec, size_t nspec,
		  struct uvdpa_devargs_value *out, char *err, size_t errlen)
{
	const char *item;

	if (err && errlen)
		err[0] = '\0';
	if (nspec && (!spec || !out)) {
		uvdpa_errf(err, errlen, "devargs: no spec or output array");
		return -EINVAL;
	}
	if (nspec)
		memset(out, 0, nspec * sizeof(*out));
	if (!str || !*str)
		return 0;

	item = str;
	for (;;) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);
		int ret = parse_item(item, len, spec, nspec, out, err, errlen);

		if (ret < 0) {
			/* Never hand back a half-parsed result. */
			if (nspec)
				memset(out, 0, nspec * sizeof(*out));
			return ret;
		}
		if (!comma)
			break;
		item = comma + 1;
	}
	return 0;
}
