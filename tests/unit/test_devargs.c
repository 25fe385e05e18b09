/* Unit tests for uvdpa_devargs_parse(): the happy paths and every class of
 * malformed input, checking both the return value and what the message says. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "uvdpa/devargs.h"

#define assert_contains(haystack, needle)                                                  \
	do {                                                                               \
		if (!strstr((haystack), (needle)))                                         \
			fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle)); \
	} while (0)

enum { K_VDPA, K_SWLM, NSPEC_IFC };

/* The ifcvf driver's keys. */
static const struct uvdpa_devargs_spec ifc_spec[NSPEC_IFC] = {
	[K_VDPA] = { "vdpa", UVDPA_DEVARGS_UINT, 0, 1 },
	[K_SWLM] = { "sw-live-migration", UVDPA_DEVARGS_UINT, 0, 1 },
};

enum { K_NUM, K_NAME, K_BIG, K_RANGE, NSPEC_MIX };

static const struct uvdpa_devargs_spec mix_spec[NSPEC_MIX] = {
	[K_NUM] = { "num", UVDPA_DEVARGS_UINT, 0, 1000 },
	[K_NAME] = { "name", UVDPA_DEVARGS_STRING, 0, 0 },
	[K_BIG] = { "big", UVDPA_DEVARGS_UINT, 0, UINT64_MAX },
	[K_RANGE] = { "range", UVDPA_DEVARGS_UINT, 10, 20 },
};

/* Parses str with mix_spec; returns the result, err keeps the message. */
static int parse_mix(const char *str, struct uvdpa_devargs_value *out, char *err, size_t errlen)
{
	return uvdpa_devargs_parse(str, mix_spec, NSPEC_MIX, out, err, errlen);
}

static void expect_mix_error(const char *str, const char *needle1, const char *needle2)
{
	struct uvdpa_devargs_value out[NSPEC_MIX];
	char err[256] = "";

	assert_int_equal(parse_mix(str, out, err, sizeof(err)), -EINVAL);
	assert_contains(err, "devargs: ");
	if (needle1)
		assert_contains(err, needle1);
	if (needle2)
		assert_contains(err, needle2);
	/* A failed parse hands back nothing. */
	for (int i = 0; i < NSPEC_MIX; i++)
		assert_false(out[i].present);
}

static void test_null_and_empty(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_IFC];
	char err[128] = "stale";

	(void)state;
	memset(out, 0xa5, sizeof(out));
	assert_int_equal(uvdpa_devargs_parse(NULL, ifc_spec, NSPEC_IFC, out, err, sizeof(err)), 0);
	assert_false(out[K_VDPA].present);
	assert_false(out[K_SWLM].present);
	assert_string_equal(err, "");

	memset(out, 0xa5, sizeof(out));
	assert_int_equal(uvdpa_devargs_parse("", ifc_spec, NSPEC_IFC, out, err, sizeof(err)), 0);
	assert_false(out[K_VDPA].present);
	assert_false(out[K_SWLM].present);
	assert_int_equal(out[K_VDPA].u, 0);
}

static void test_ifc_keys(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_IFC];
	char err[128];

	(void)state;
	assert_int_equal(uvdpa_devargs_parse("vdpa=1", ifc_spec, NSPEC_IFC, out, err, sizeof(err)), 0);
	assert_true(out[K_VDPA].present);
	assert_int_equal(out[K_VDPA].u, 1);
	assert_false(out[K_SWLM].present);

	assert_int_equal(uvdpa_devargs_parse("sw-live-migration=0x1,vdpa=0", ifc_spec, NSPEC_IFC, out,
				       err, sizeof(err)),
			 0);
	assert_true(out[K_VDPA].present);
	assert_int_equal(out[K_VDPA].u, 0);
	assert_true(out[K_SWLM].present);
	assert_int_equal(out[K_SWLM].u, 1);
}

static void test_numbers(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_MIX];
	char err[256];

	(void)state;
	assert_int_equal(parse_mix("num=1000", out, err, sizeof(err)), 0);
	assert_int_equal(out[K_NUM].u, 1000);
	assert_int_equal(parse_mix("num=0", out, err, sizeof(err)), 0);
	assert_true(out[K_NUM].present);
	assert_int_equal(out[K_NUM].u, 0);
	/* Leading zeros are decimal, not octal. */
	assert_int_equal(parse_mix("num=010", out, err, sizeof(err)), 0);
	assert_int_equal(out[K_NUM].u, 10);
	assert_int_equal(parse_mix("num=0x3E8", out, err, sizeof(err)), 0);
	assert_int_equal(out[K_NUM].u, 1000);
	assert_int_equal(parse_mix("num=0X3e8", out, err, sizeof(err)), 0);
	assert_int_equal(out[K_NUM].u, 1000);
	assert_int_equal(parse_mix("big=18446744073709551615", out, err, sizeof(err)), 0);
	assert_true(out[K_BIG].u == UINT64_MAX);
	assert_int_equal(parse_mix("big=0xffffffffffffffff", out, err, sizeof(err)), 0);
	assert_true(out[K_BIG].u == UINT64_MAX);
	assert_int_equal(parse_mix("big=0x00000000000000000001", out, err, sizeof(err)), 0);
	assert_true(out[K_BIG].u == 1);
	/* Inclusive bounds. */
	assert_int_equal(parse_mix("range=10", out, err, sizeof(err)), 0);
	assert_int_equal(out[K_RANGE].u, 10);
	assert_int_equal(parse_mix("range=20", out, err, sizeof(err)), 0);
	assert_int_equal(out[K_RANGE].u, 20);
}

static void test_strings(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_MIX];
	char str[16 + UVDPA_DEVARGS_STR_MAX];
	char err[256];

	(void)state;
	assert_int_equal(parse_mix("name=eth0,num=5", out, err, sizeof(err)), 0);
	assert_true(out[K_NAME].present);
	assert_string_equal(out[K_NAME].s, "eth0");
	assert_int_equal(out[K_NUM].u, 5);
	assert_false(out[K_BIG].present);

	/* '=' inside a value is part of the value. */
	assert_int_equal(parse_mix("name=a=b", out, err, sizeof(err)), 0);
	assert_string_equal(out[K_NAME].s, "a=b");

	/* The longest string that fits: UVDPA_DEVARGS_STR_MAX - 1 characters. */
	strcpy(str, "name=");
	memset(str + 5, 'x', UVDPA_DEVARGS_STR_MAX - 1);
	str[5 + UVDPA_DEVARGS_STR_MAX - 1] = '\0';
	assert_int_equal(parse_mix(str, out, err, sizeof(err)), 0);
	assert_int_equal(strlen(out[K_NAME].s), UVDPA_DEVARGS_STR_MAX - 1);
}

static void test_string_too_long(void **state)
{
	char str[16 + UVDPA_DEVARGS_STR_MAX];

	(void)state;
	strcpy(str, "name=");
	memset(str + 5, 'x', UVDPA_DEVARGS_STR_MAX);
	str[5 + UVDPA_DEVARGS_STR_MAX] = '\0';
	expect_mix_error(str, "\"name\"", "too long");
}

static void test_unknown_key(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_IFC];
	char err[256];

	(void)state;
	assert_int_equal(uvdpa_devargs_parse("vdpa=1,foo=1", ifc_spec, NSPEC_IFC, out, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "devargs: unknown key \"foo\" (known: vdpa, sw-live-migration)");
	assert_false(out[K_VDPA].present);

	/* Keys are case-sensitive and matched whole. */
	expect_mix_error("Num=1", "unknown key \"Num\"", "known: num, name, big, range");
	expect_mix_error("nu=1", "unknown key \"nu\"", NULL);
	expect_mix_error("numb=1", "unknown key \"numb\"", NULL);

	/* No keys at all. */
	assert_int_equal(uvdpa_devargs_parse("a=1", NULL, 0, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "devargs: unknown key \"a\" (known: none)");
	assert_int_equal(uvdpa_devargs_parse("", NULL, 0, NULL, err, sizeof(err)), 0);
}

static void test_repeated_key(void **state)
{
	(void)state;
	expect_mix_error("num=1,num=1", "key \"num\"", "more than once");
	expect_mix_error("name=a,num=2,name=b", "key \"name\"", "more than once");
}

static void test_missing_equals(void **state)
{
	(void)state;
	expect_mix_error("num", "missing '='", "\"num\"");
	expect_mix_error("num=1,name", "missing '='", "\"name\"");
}

static void test_empty_key(void **state)
{
	(void)state;
	expect_mix_error("=1", "empty key", "\"=1\"");
	expect_mix_error("num=1,=", "empty key", NULL);
}

static void test_empty_value(void **state)
{
	(void)state;
	expect_mix_error("num=", "empty value", "\"num\"");
	expect_mix_error("name=", "empty value", "\"name\"");
}

static void test_empty_items(void **state)
{
	(void)state;
	expect_mix_error(",", "empty item", NULL);
	expect_mix_error("num=1,", "empty item", NULL);
	expect_mix_error(",num=1", "empty item", NULL);
	expect_mix_error("num=1,,name=x", "empty item", NULL);
}

static void test_not_a_number(void **state)
{
	static const char *const bad[] = {
		"num=abc", "num=1x", "num=0x", "num=0xg", "num=-1", "num=+1", "num=1.0",
		"num=1e3", "num=0b1", "num=x10", "num=0x-1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *value = strchr(bad[i], '=') + 1;
		char quoted[32];

		snprintf(quoted, sizeof(quoted), "\"%s\"", value);
		expect_mix_error(bad[i], quoted, "not an unsigned number");
	}
	expect_mix_error("num=12,big=ten", "\"big\"", "\"ten\"");
}

static void test_out_of_range(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_IFC];
	char err[256];

	(void)state;
	assert_int_equal(uvdpa_devargs_parse("vdpa=2", ifc_spec, NSPEC_IFC, out, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "devargs: value \"2\" for key \"vdpa\" is out of range (0..1)");

	expect_mix_error("num=1001", "\"num\"", "out of range (0..1000)");
	expect_mix_error("num=0x3e9", "\"0x3e9\"", "out of range");
	expect_mix_error("range=9", "\"range\"", "out of range (10..20)");
	expect_mix_error("range=21", "\"range\"", "out of range (10..20)");
}

static void test_overflow(void **state)
{
	(void)state;
	expect_mix_error("big=18446744073709551616", "\"big\"", "too large");
	expect_mix_error("big=99999999999999999999999", "\"big\"", "too large");
	expect_mix_error("big=0x10000000000000000", "\"big\"", "too large");
	/* Overflow is not mistaken for a small value that fits the range. */
	expect_mix_error("num=18446744073709551617", "\"num\"", "too large");
}

static void test_whitespace(void **state)
{
	static const char *const bad[] = {
		" num=1", "num =1", "num= 1", "num=1 ", "num=1, name=x", "num=1,name=a b",
		"num=\t1", "num=1\n", "name=x\r",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_mix_error(bad[i], "whitespace is not allowed", NULL);
	expect_mix_error("num=1,name=a b", "\"name=a b\"", NULL);
}

static void test_long_input_is_truncated_in_message(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_MIX];
	char str[600];
	char err[512];

	(void)state;
	memset(str, 'k', 500);
	strcpy(str + 500, "=1");
	assert_int_equal(parse_mix(str, out, err, sizeof(err)), -EINVAL);
	assert_contains(err, "unknown key \"kkkk");
	assert_contains(err, "...\"");
	assert_true(strlen(err) < 200);
}

static void test_err_buffer_edge_cases(void **state)
{
	struct uvdpa_devargs_value out[NSPEC_IFC];
	char small[8];

	(void)state;
	/* No buffer: still fails cleanly. */
	assert_int_equal(uvdpa_devargs_parse("foo=1", ifc_spec, NSPEC_IFC, out, NULL, 0), -EINVAL);
	/* Tiny buffer: truncated, terminated, no overflow (ASan checks). */
	memset(small, 'Z', sizeof(small));
	assert_int_equal(uvdpa_devargs_parse("foo=1", ifc_spec, NSPEC_IFC, out, small, sizeof(small)),
			 -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_string_equal(small, "devargs");
	/* errlen 0 must not write. */
	small[0] = 'Q';
	assert_int_equal(uvdpa_devargs_parse("foo=1", ifc_spec, NSPEC_IFC, out, small, 0), -EINVAL);
	assert_int_equal(small[0], 'Q');
}

static void test_spec_without_output(void **state)
{
	char err[128];

	(void)state;
	assert_int_equal(uvdpa_devargs_parse("vdpa=1", ifc_spec, NSPEC_IFC, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(uvdpa_devargs_parse("vdpa=1", NULL, NSPEC_IFC, NULL, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_and_empty),
		cmocka_unit_test(test_ifc_keys),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_string_too_long),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_repeated_key),
		cmocka_unit_test(test_missing_equals),
		cmocka_unit_test(test_empty_key),
		cmocka_unit_test(test_empty_value),
		cmocka_unit_test(test_empty_items),
		cmocka_unit_test(test_not_a_number),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_long_input_is_truncated_in_message),
		cmocka_unit_test(test_err_buffer_edge_cases),
		cmocka_unit_test(test_spec_without_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
