/* Unit tests for the emulated IFCVF's port grammar (ifcvf_net_port_parse),
 * the one parser of `dev add ... port SPEC`: every form, its limits, and
 * the messages the user reads when a port is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "models/ifcvf/ifcvf_net.h"

static char err[256];
static struct ifcvf_net_port_spec ps;

static int parse(const char *spec)
{
	err[0] = '\0';
	return ifcvf_net_port_parse(spec, &ps, err, sizeof(err));
}

static void test_simple_ports(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_int_equal(ps.kind, NET_PORT_LOOPBACK);
	assert_int_equal(parse("loopback"), 0);
	assert_int_equal(ps.kind, NET_PORT_LOOPBACK);
	assert_int_equal(parse("sink"), 0);
	assert_int_equal(ps.kind, NET_PORT_SINK);
	assert_int_equal(parse("source"), 0);
	assert_int_equal(ps.kind, NET_PORT_SOURCE);
	assert_int_equal(ps.source_len, NET_SOURCE_DEFAULT_LEN);

	assert_int_equal(parse("loop"), -EINVAL);
	assert_string_equal(err, "port loop is unknown: use loopback, pair:NAME, "
				 "tap:IFNAME[,vnet_hdr], sink or source[:FRAME_LEN]");
	assert_int_equal(parse("sink:1"), -EINVAL);
	assert_int_equal(parse("sources"), -EINVAL);
	assert_int_equal(parse("Loopback"), -EINVAL);
}

static void test_source_length(void **state)
{
	(void)state;
	assert_int_equal(parse("source:64"), 0);
	assert_int_equal(ps.kind, NET_PORT_SOURCE);
	assert_int_equal(ps.source_len, 64);
	assert_int_equal(parse("source:60"), 0);
	assert_int_equal(ps.source_len, 60);
	assert_int_equal(parse("source:1514"), 0);
	assert_int_equal(ps.source_len, 1514);
	assert_int_equal(parse("source:1518"), 0);
	assert_int_equal(ps.source_len, 1518);
	assert_int_equal(parse("source:9216"), 0);
	assert_int_equal(ps.source_len, 9216);

	assert_int_equal(parse("source:10"), -EINVAL);
	assert_string_equal(err, "port source:10: frame length \"10\" is out of range: use 60..9216 bytes");
	assert_int_equal(parse("source:59"), -EINVAL);
	assert_int_equal(parse("source:9217"), -EINVAL);
	assert_int_equal(parse("source:99999999999999999999"), -EINVAL);
	assert_int_equal(parse("source:"), -EINVAL);
	assert_string_equal(err, "port source:: frame length \"\" is not a number: use 60..9216 bytes");
	assert_int_equal(parse("source:64x"), -EINVAL);
	assert_int_equal(parse("source:-64"), -EINVAL);
	assert_int_equal(parse("source:0x40"), -EINVAL);
}

static void test_pair(void **state)
{
	char spec[5 + NET_PORT_NAME_MAX + 1];

	(void)state;
	assert_int_equal(parse("pair:wire1"), 0);
	assert_int_equal(ps.kind, NET_PORT_PAIR);
	assert_string_equal(ps.name, "wire1");

	assert_int_equal(parse("pair:"), -EINVAL);
	assert_string_equal(err, "port pair:: pair:NAME needs a wire name of 1..63 characters "
				 "(the two functions to connect give the same NAME)");
	memcpy(spec, "pair:", 5);
	memset(spec + 5, 'w', NET_PORT_NAME_MAX - 1);
	spec[5 + NET_PORT_NAME_MAX - 1] = '\0';
	assert_int_equal(parse(spec), 0);
	assert_int_equal(strlen(ps.name), NET_PORT_NAME_MAX - 1);
	spec[5 + NET_PORT_NAME_MAX - 1] = 'w';
	spec[5 + NET_PORT_NAME_MAX] = '\0';
	assert_int_equal(parse(spec), -EINVAL);
}

static void test_tap(void **state)
{
	(void)state;
	assert_int_equal(parse("tap:tap0"), 0);
	assert_int_equal(ps.kind, NET_PORT_TAP);
	assert_string_equal(ps.name, "tap0");
	assert_false(ps.tap_vnet_hdr);
	assert_int_equal(parse("tap:abcdefghijklmno,vnet_hdr"), 0);
	assert_string_equal(ps.name, "abcdefghijklmno");
	assert_true(ps.tap_vnet_hdr);

	assert_int_equal(parse("tap:"), -EINVAL);
	assert_string_equal(err, "port tap:: tap:IFNAME needs an interface name of 1..15 "
				 "characters without '/', ':' or blanks");
	assert_int_equal(parse("tap:abcdefghijklmnop"), -EINVAL);
	assert_int_equal(parse("tap:a/b"), -EINVAL);
	assert_int_equal(parse("tap:a:b"), -EINVAL);
	assert_int_equal(parse("tap:a b"), -EINVAL);
	assert_int_equal(parse("tap:.."), -EINVAL);
	assert_int_equal(parse("tap:,vnet_hdr"), -EINVAL);
	assert_int_equal(parse("tap:tap0,gso"), -EINVAL);
	assert_string_equal(err, "port tap:tap0,gso: tap option \"gso\" is unknown: the only one "
				 "is vnet_hdr");
	assert_int_equal(parse("tap:tap0,"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_ports),
		cmocka_unit_test(test_source_length),
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_tap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
