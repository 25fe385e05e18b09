/* Small text helpers (see util.h): one bounded number parser, one hex
 * digit table, one interface-name rule and one list joiner, so parsers and
 * messages across the library agree on them. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "uvdpa/vdpa.h"

#define IFNAME_MAX 15	/* IFNAMSIZ - 1, without pulling in <net/if.h> */

int uvdpa_count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

uint64_t uvdpa_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void uvdpa_op_timing_add(struct uvdpa_op_timing *t, uint64_t us)
{
	unsigned int b = 0;

	while (b < UVDPA_OP_TIMING_BUCKETS - 1 && us >= 1ull << b)
		b++;
	t->hist[b]++;
	if (!t->count || us < t->min_us)
		t->min_us = us;
	if (us > t->max_us)
		t->max_us = us;
	t->count++;
	t->last_us = us;
	t->sum_us += us;
}

uint64_t uvdpa_op_timing_pct_le(const struct uvdpa_op_timing *t, unsigned int pct)
{
	/* The rank of the percentile, 1-based, rounded up. */
	uint64_t rank = (t->count * (pct > 100 ? 100 : pct) + 99) / 100, seen = 0;
	unsigned int b;

	if (!t->count)
		return 0;
	if (!rank)
		rank = 1;
	for (b = 0; b < UVDPA_OP_TIMING_BUCKETS - 1; b++) {
		seen += t->hist[b];
		if (seen >= rank) {
			uint64_t top = (1ull << b) - 1;

			return top < t->max_us ? top : t->max_us;
		}
	}
	return t->max_us;
}

int uvdpa_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool has_hex_prefix(const char *s, size_t len)
{
	return len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

/* Skips the prefix the base allows and resolves base 0. Returns the digit
 * base, or 0 for a base this parser does not know. */
static unsigned int digits_base(const char **s, size_t *len, int base)
{
	if (base == 0)
		base = has_hex_prefix(*s, *len) ? 16 : 10;
	if (base == 16 && has_hex_prefix(*s, *len)) {
		*s += 2;
		*len -= 2;
	}
	return base == 10 || base == 16 ? (unsigned int)base : 0;
}

int uvdpa_parse_u64n(const char *s, size_t len, int base, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	unsigned int b = digits_base(&s, &len, base);
	uint64_t v = 0;
	size_t i;

	if (!b || len == 0)
		return -EINVAL;
	/* Every character first: junk is -EINVAL even after an overflow. */
	for (i = 0; i < len; i++) {
		int d = uvdpa_hex_digit((unsigned char)s[i]);

		if (d < 0 || (unsigned int)d >= b)
			return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned int d = (unsigned int)uvdpa_hex_digit((unsigned char)s[i]);

		if (v > (UINT64_MAX - d) / b)
			return -ERANGE;
		v = v * b + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int uvdpa_parse_u64(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out)
{
	return uvdpa_parse_u64n(s, strlen(s), base, min, max, out);
}

int uvdpa_parse_size(const char *s, uint64_t *bytes)
{
	static const char suffixes[] = "kmgt";
	size_t digits = strspn(s, "0123456789");
	const char *unit;
	unsigned int shift = 0;
	uint64_t v;
	int r;

	if (digits == 0)
		return -EINVAL;
	if (s[digits] != '\0') {
		unit = s[digits + 1] == '\0' ? strchr(suffixes, tolower((unsigned char)s[digits]))
					       : NULL;
		if (!unit || !*unit)
			return -EINVAL;
		shift = 10u * (unsigned int)(unit - suffixes + 1);
	}
	r = uvdpa_parse_u64n(s, digits, 10, 0, UINT64_MAX >> shift, &v);
	if (r < 0)
		return r;
	*bytes = v << shift;
	return 0;
}

bool uvdpa_ifname_valid(const char *s, size_t len)
{
	if (len == 0 || len > IFNAME_MAX || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

void uvdpa_join_init(struct uvdpa_join *j, char *buf, size_t len, const char *sep)
{
	*j = (struct uvdpa_join){ .buf = buf, .len = len, .sep = sep };
	if (len)
		buf[0] = '\0';
}

void uvdpa_join_add(struct uvdpa_join *j, const char *item)
{
	int n;

	j->count++;
	if (j->used + 1 >= j->len)
		return;		/* full: the rest is cut */
	n = snprintf(j->buf + j->used, j->len - j->used, "%s%s", j->count > 1 ? j->sep : "", item);
	if (n < 0)
		j->buf[j->used] = '\0';
	else if ((size_t)n >= j->len - j->used)
		j->used = j->len - 1;
	else
		j->used += (size_t)n;
}

const char *uvdpa_join_str(const struct uvdpa_join *j, const char *empty)
{
	return j->count ? j->buf : empty;
}

const char *uvdpa_join(char *buf, size_t len, const char *sep, const char *const *names, size_t n)
{
	struct uvdpa_join j;

	uvdpa_join_init(&j, buf, len, sep);
	for (size_t i = 0; i < n; i++)
		uvdpa_join_add(&j, names[i]);
	return buf;
}

int uvdpa_efd_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		return -errno;
	return 0;
}

uint64_t uvdpa_efd_drain(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}
