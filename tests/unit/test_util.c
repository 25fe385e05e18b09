/* Unit tests for src/core/util.c: the bounded number parser (bases, edges,
 * junk, overflow), sizes with k/m/g/t suffixes, hex digits, interface names and the list joiner
 * (separators, empty lists, cutting at the buffer's end). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "uvdpa/vdpa.h"

/* Sentinel: a failed parse must leave *out alone. */
#define UNTOUCHED 0x5a5a5a5a5a5a5a5aull

static int parse(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out)
{
	*out = UNTOUCHED;
	return uvdpa_parse_u64(s, base, min, max, out);
}

static void test_hex_digit(void **state)
{
	(void)state;
	assert_int_equal(uvdpa_hex_digit('0'), 0);
	assert_int_equal(uvdpa_hex_digit('9'), 9);
	assert_int_equal(uvdpa_hex_digit('a'), 10);
	assert_int_equal(uvdpa_hex_digit('F'), 15);
	assert_int_equal(uvdpa_hex_digit('g'), -1);
	assert_int_equal(uvdpa_hex_digit('G'), -1);
	assert_int_equal(uvdpa_hex_digit('/'), -1);
	assert_int_equal(uvdpa_hex_digit(':'), -1);
	assert_int_equal(uvdpa_hex_digit('\0'), -1);
	assert_int_equal(uvdpa_hex_digit(0xff), -1);
}

static void test_parse_decimal(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse("1500", 10, 0, UINT64_MAX, &v), 0);
	assert_true(v == 1500);
	assert_int_equal(parse("0", 10, 0, 10, &v), 0);
	assert_true(v == 0);
	assert_int_equal(parse("007", 10, 0, 10, &v), 0);	/* decimal, not octal */
	assert_true(v == 7);
	assert_int_equal(parse("18446744073709551615", 10, 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);

	/* Not whole numbers. */
	assert_int_equal(parse("", 10, 0, 10, &v), -EINVAL);
	assert_int_equal(parse("15a", 10, 0, 100, &v), -EINVAL);
	assert_int_equal(parse("-1", 10, 0, 10, &v), -EINVAL);
	assert_int_equal(parse("+1", 10, 0, 10, &v), -EINVAL);
	assert_int_equal(parse(" 1", 10, 0, 10, &v), -EINVAL);
	assert_int_equal(parse("1 ", 10, 0, 10, &v), -EINVAL);
	assert_int_equal(parse("1.5", 10, 0, 10, &v), -EINVAL);
	assert_int_equal(parse("0x10", 10, 0, 100, &v), -EINVAL);
	assert_int_equal(parse("ff", 10, 0, 1000, &v), -EINVAL);
	/* Junk wins over overflow: the message should say "not a number". */
	assert_int_equal(parse("99999999999999999999z", 10, 0, UINT64_MAX, &v), -EINVAL);
	assert_true(v == UNTOUCHED);

	/* Overflow past 64 bits. */
	assert_int_equal(parse("18446744073709551616", 10, 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse("99999999999999999999999", 10, 0, UINT64_MAX, &v), -ERANGE);
	assert_true(v == UNTOUCHED);
}

static void test_parse_range_edges(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse("68", 10, 68, 65535, &v), 0);
	assert_true(v == 68);
	assert_int_equal(parse("65535", 10, 68, 65535, &v), 0);
	assert_true(v == 65535);
	assert_int_equal(parse("67", 10, 68, 65535, &v), -ERANGE);
	assert_true(v == UNTOUCHED);
	assert_int_equal(parse("65536", 10, 68, 65535, &v), -ERANGE);
	assert_int_equal(parse("0", 10, 1, 1, &v), -ERANGE);
	assert_int_equal(parse("1", 10, 1, 1, &v), 0);
	assert_int_equal(parse("2", 10, 1, 1, &v), -ERANGE);
	assert_int_equal(parse("0x3e9", 0, 0, 1000, &v), -ERANGE);
	assert_int_equal(parse("0x3e8", 0, 0, 1000, &v), 0);
	assert_true(v == 1000);
}

static void test_parse_hex_and_auto(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse("0x100000020", 16, 0, UINT64_MAX, &v), 0);
	assert_true(v == 0x100000020ull);
	assert_int_equal(parse("FfFf", 16, 0, UINT64_MAX, &v), 0);
	assert_true(v == 0xffff);
	assert_int_equal(parse("0XA", 16, 0, UINT64_MAX, &v), 0);
	assert_true(v == 10);
	assert_int_equal(parse("ffffffffffffffff", 16, 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse("0000000000000000001", 16, 0, UINT64_MAX, &v), 0);
	assert_true(v == 1);
	assert_int_equal(parse("1ffffffffffffffff", 16, 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse("0x", 16, 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse("0xg", 16, 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse("x10", 16, 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse("", 16, 0, UINT64_MAX, &v), -EINVAL);

	/* Base 0: 0x means hex, anything else decimal (never octal). */
	assert_int_equal(parse("0x1f", 0, 0, UINT64_MAX, &v), 0);
	assert_true(v == 31);
	assert_int_equal(parse("010", 0, 0, UINT64_MAX, &v), 0);
	assert_true(v == 10);
	assert_int_equal(parse("1f", 0, 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse("0x10000000000000000", 0, 0, UINT64_MAX, &v), -ERANGE);

	/* Bases the parser does not know. */
	assert_int_equal(parse("10", 8, 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse("10", 2, 0, UINT64_MAX, &v), -EINVAL);
	assert_true(v == UNTOUCHED);
}

static void test_parse_slice(void **state)
{
	const char *list = "12,0x20,x";
	uint64_t v = UNTOUCHED;

	(void)state;
	assert_int_equal(uvdpa_parse_u64n(list, 2, 10, 0, 100, &v), 0);
	assert_true(v == 12);
	assert_int_equal(uvdpa_parse_u64n(list + 3, 4, 0, 0, 100, &v), 0);
	assert_true(v == 32);
	assert_int_equal(uvdpa_parse_u64n(list, 3, 10, 0, 100, &v), -EINVAL);	/* "12," */
	assert_int_equal(uvdpa_parse_u64n(list, 0, 10, 0, 100, &v), -EINVAL);
}

static void test_ifname(void **state)
{
	(void)state;
	assert_true(uvdpa_ifname_valid("tap0", 4));
	assert_true(uvdpa_ifname_valid("a", 1));
	assert_true(uvdpa_ifname_valid("abcdefghijklmno", 15));
	assert_true(uvdpa_ifname_valid("tap0,vnet_hdr", 4));	/* a slice */
	assert_false(uvdpa_ifname_valid("abcdefghijklmnop", 16));
	assert_false(uvdpa_ifname_valid("", 0));
	assert_false(uvdpa_ifname_valid(".", 1));
	assert_false(uvdpa_ifname_valid("..", 2));
	assert_true(uvdpa_ifname_valid("...", 3));
	assert_false(uvdpa_ifname_valid("a/b", 3));
	assert_false(uvdpa_ifname_valid("eth0:1", 6));
	assert_false(uvdpa_ifname_valid("a b", 3));
	assert_false(uvdpa_ifname_valid("a\tb", 3));
	assert_false(uvdpa_ifname_valid("a\x7f", 2));
}

static void test_join(void **state)
{
	const char *const names[] = { "name", "mgmtdev", "mac" };
	struct uvdpa_join j;
	char buf[64];

	(void)state;
	assert_string_equal(uvdpa_join(buf, sizeof(buf), ", ", names, 3), "name, mgmtdev, mac");
	assert_string_equal(uvdpa_join(buf, sizeof(buf), " ", names, 2), "name mgmtdev");
	assert_string_equal(uvdpa_join(buf, sizeof(buf), ", ", names, 1), "name");
	assert_string_equal(uvdpa_join(buf, sizeof(buf), ", ", names, 0), "");

	uvdpa_join_init(&j, buf, sizeof(buf), ", ");
	assert_string_equal(uvdpa_join_str(&j, "none"), "none");
	uvdpa_join_add(&j, "");	/* an empty first item still counts */
	uvdpa_join_add(&j, "b");
	assert_string_equal(uvdpa_join_str(&j, "none"), ", b");
}

static void test_join_cut(void **state)
{
	const char *const names[] = { "alpha", "beta", "gamma" };
	struct uvdpa_join j;
	char buf[9];

	(void)state;
	/* Cut at the buffer's end, always a string, nothing after the cut. */
	assert_string_equal(uvdpa_join(buf, sizeof(buf), ", ", names, 3), "alpha, b");
	uvdpa_join_init(&j, buf, sizeof(buf), ", ");
	for (int i = 0; i < 3; i++)
		uvdpa_join_add(&j, names[i]);
	assert_int_equal(j.count, 3);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	/* Exactly full. */
	assert_string_equal(uvdpa_join(buf, 6, ", ", names, 1), "alpha");
	assert_string_equal(uvdpa_join(buf, 1, ", ", names, 3), "");
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	v = UNTOUCHED;
	assert_int_equal(uvdpa_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(uvdpa_parse_size("4k", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(uvdpa_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(uvdpa_parse_size("1m", &v), 0);
	assert_int_equal(v, 1u << 20);
	assert_int_equal(uvdpa_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(uvdpa_parse_size("3t", &v), 0);
	assert_int_equal(v, 3ull << 40);
	assert_int_equal(uvdpa_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(uvdpa_parse_size("16777215t", &v), 0);
	assert_int_equal(v, 16777215ull << 40);
	/* Junk leaves *bytes alone. */
	v = UNTOUCHED;
	assert_int_equal(uvdpa_parse_size("", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size("k", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size("4kb", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size("4x", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size("-4k", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size(" 4k", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size("4 k", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size("0x10", &v), -EINVAL);
	assert_int_equal(uvdpa_parse_size("16777216t", &v), -ERANGE);
	assert_int_equal(uvdpa_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(v, UNTOUCHED);
}

/* The op timing histogram: bucket i holds the calls of under 2^i us; the
 * percentiles are the top of their bucket, never above the longest call. */
static void test_op_timing(void **state)
{
	struct uvdpa_op_timing t;
	unsigned int i;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(uvdpa_op_timing_pct_le(&t, 99), 0);
	uvdpa_op_timing_add(&t, 0);
	assert_int_equal(t.hist[0], 1);
	assert_int_equal(uvdpa_op_timing_pct_le(&t, 50), 0);
	for (i = 0; i < 98; i++)
		uvdpa_op_timing_add(&t, 40);	/* 32..63: bucket 6 */
	uvdpa_op_timing_add(&t, 1000);		/* 512..1023: bucket 10 */
	uvdpa_op_timing_add(&t, 1ull << 40);	/* beyond the last bound */
	assert_int_equal(t.count, 101);
	assert_int_equal(t.hist[6], 98);
	assert_int_equal(t.hist[10], 1);
	assert_int_equal(t.hist[UVDPA_OP_TIMING_BUCKETS - 1], 1);
	assert_int_equal(t.min_us, 0);
	assert_int_equal(t.max_us, 1ull << 40);
	assert_int_equal(t.last_us, 1ull << 40);
	assert_int_equal(t.sum_us, 98 * 40 + 1000 + (1ull << 40));
	assert_int_equal(uvdpa_op_timing_pct_le(&t, 0), 0);
	assert_int_equal(uvdpa_op_timing_pct_le(&t, 50), 63);
	assert_int_equal(uvdpa_op_timing_pct_le(&t, 99), 1023);	/* rank 100 of 101: 1000 us */
	assert_int_equal(uvdpa_op_timing_pct_le(&t, 100), 1ull << 40);
	memset(&t, 0, sizeof(t));
	uvdpa_op_timing_add(&t, 40);
	assert_int_equal(uvdpa_op_timing_pct_le(&t, 99), 40);	/* capped at max */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_digit),
		cmocka_unit_test(test_parse_decimal),
		cmocka_unit_test(test_parse_range_edges),
		cmocka_unit_test(test_parse_hex_and_auto),
		cmocka_unit_test(test_parse_slice),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_ifname),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_join_cut),
		cmocka_unit_test(test_op_timing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
