/* Small text helpers shared by libuvdpa's parsers and messages: bounded
 * unsigned numbers, hex digits, network interface names and "a, b, c"
 * lists. Private to the library: not under include/uvdpa. */
#ifndef UVDPA_CORE_UTIL_H
#define UVDPA_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Numbers ---- */

/* The value of hex digit c (either case), or -1. */
int uvdpa_hex_digit(int c);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t uvdpa_now_ns(void);
struct uvdpa_op_timing;
/* Records one call of us microseconds in t (struct uvdpa_op_timing, vdpa.h). */
void uvdpa_op_timing_add(struct uvdpa_op_timing *t, uint64_t us);
/* At most how long the pct-th percentile call took: the top of the
 * histogram bucket that holds it, and never more than the longest call
 * (0 for no calls). */
uint64_t uvdpa_op_timing_pct_le(const struct uvdpa_op_timing *t, unsigned int pct);

/* The process's open file descriptors (not counting the one this opens to
 * count them), or -1 when /proc/self/fd cannot be read. */
int uvdpa_count_open_fds(void);

/* A whole unsigned number in [min, max]. base 10: decimal digits only;
 * base 16: hex digits with an optional 0x/0X prefix; base 0: hex with the
 * 0x prefix, decimal without (never octal). No sign, blanks or suffix.
 * Returns 0, -EINVAL when s is not such a number (empty, junk, sign, a bare
 * "0x", another base) or -ERANGE when it is one outside [min, max]
 * (including beyond 64 bits). *out is written only on success. */
int uvdpa_parse_u64(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out);
/* The same on the len bytes at s (not NUL-terminated: a slice of a list). */
int uvdpa_parse_u64n(const char *s, size_t len, int base, uint64_t min, uint64_t max,
		     uint64_t *out);

/* A size in bytes: a whole decimal number with an optional suffix k, m, g
 * or t (either case; powers of 1024), e.g. "4k", "1M", "512". Returns 0,
 * -EINVAL when s is no such size, -ERANGE beyond 64 bits. */
int uvdpa_parse_size(const char *s, uint64_t *bytes);

/* ---- Eventfds ---- */

/* Adds 1 to an eventfd (a kick, a call, a wake-up). A full counter (EAGAIN)
 * counts as signalled: a wake-up is pending anyway. 0 or a negative errno. */
int uvdpa_efd_signal(int fd);
/* Reads and resets a non-blocking eventfd; 0 when it was not signalled. */
uint64_t uvdpa_efd_drain(int fd);

/* ---- Names ---- */

/* Whether the len bytes at s can name a Linux network interface: 1..15
 * bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':', blank or control
 * character (the kernel's dev_valid_name, plus ':' that aliases use). */
bool uvdpa_ifname_valid(const char *s, size_t len);

/* ---- "a, b, c" lists ---- */

/* A list built into a caller's buffer, item by item, for messages such as
 * "unknown key (known: a, b, c)". Too long a list is cut quietly: the
 * buffer always holds a string. */
struct uvdpa_join {
	char *buf;
	size_t len;		/* buf's size in bytes, at least 1 */
	size_t used;		/* string length so far */
	size_t count;		/* items added */
	const char *sep;
};

void uvdpa_join_init(struct uvdpa_join *j, char *buf, size_t len, const char *sep);
void uvdpa_join_add(struct uvdpa_join *j, const char *item);
/* The list, or empty (e.g. "none") when no item was added. */
const char *uvdpa_join_str(const struct uvdpa_join *j, const char *empty);

/* The n strings of names joined with sep into buf; returns buf. */
const char *uvdpa_join(char *buf, size_t len, const char *sep, const char *const *names, size_t n);

#endif
