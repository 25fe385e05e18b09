/* The tap bus driver against the fake device: what its relay-pool watches do
 * while a binding comes and goes. Needs /dev/net/tun and CAP_NET_ADMIN (CI
 * and tests/run-all.sh run as root); skipped without them.
 *
 * The test is linked with relay_watch_add and relay_watch_del wrapped: each
 * returns 2 ms late, so the relay thread runs between any two of the
 * driver's adds or deletes, as it may when the control thread is
 * preempted. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_config.h>

#include "core/relay.h"
#include "testing/fakedev.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/vdpa.h"

#define BINDS 5
#define RELAY_DELAY_US 2000

struct relay_watch *__real_relay_watch_add(int fd, relay_cb cb, void *opaque);
void __real_relay_watch_del(struct relay_watch *w);
struct relay_watch *__wrap_relay_watch_add(int fd, relay_cb cb, void *opaque);
void __wrap_relay_watch_del(struct relay_watch *w);

struct relay_watch *__wrap_relay_watch_add(int fd, relay_cb cb, void *opaque)
{
	struct relay_watch *w = __real_relay_watch_add(fd, cb, opaque);

	usleep(RELAY_DELAY_US);
	return w;
}

void __wrap_relay_watch_del(struct relay_watch *w)
{
	__real_relay_watch_del(w);
	usleep(RELAY_DELAY_US);
}

/* A device that signals its RX and TX interrupts without pause from dev_conf
 * on, as a busy device (or one sending spurious interrupts) may. */
struct hammer {
	struct fakedev *fake;
	pthread_t tid;
	bool started;
	atomic_bool stop;
	int fd[2];	/* our duplicates of the RX and TX vrings' callfds */
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t one = 1;

	for (unsigned int i = 0; !atomic_load(&h->stop); i++) {
		if (write(h->fd[i & 1], &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
		usleep(10);
	}
	return NULL;
}

static void on_record(void *opaque, const char *line)
{
	struct hammer *h = opaque;
	struct uvdpa_session *s;
	struct uvdpa_vring r;

	if (strcmp(line, "dev_conf") != 0)
		return;
	s = fakedev_session(h->fake);
	assert_non_null(s);
	for (uint16_t i = 0; i < 2; i++) {
		assert_int_equal(uvdpa_session_vring_get(s, i, &r), 0);
		assert_true(r.callfd >= 0);
		h->fd[i] = dup(r.callfd);
		assert_true(h->fd[i] >= 0);
	}
	atomic_store(&h->stop, false);
	assert_int_equal(pthread_create(&h->tid, NULL, hammer_main, h), 0);
	h->started = true;
}

static void hammer_stop(struct hammer *h)
{
	if (!h->started)
		return;
	atomic_store(&h->stop, true);
	pthread_join(h->tid, NULL);
	close(h->fd[0]);
	close(h->fd[1]);
	h->started = false;
}

static bool can_tap(void)
{
	return access("/dev/net/tun", R_OK | W_OK) == 0 && geteuid() == 0;
}

/* Bind and unbind while the interrupts fire all the time. The TX
 * interrupt's watch resumes the TAP's watch: it must neither run before
 * the TAP's watch exists (a NULL watch) nor after the TAP's watch was
 * deleted and freed (ASan: heap-use-after-free in relay_watch_pause). */
static void test_bind_unbind_under_interrupts(void **state)
{
	struct hammer h = { .fd = { -1, -1 } };
	struct fakedev_params p = {
		.name = "tapt0",
		.type = UVDPA_TYPE_NET,
		.features = 1ull << VIRTIO_F_VERSION_1,
		.queues = 1,
		.record = on_record,
		.record_opaque = &h,
	};
	struct uvdpa_bind_args args = { 0 };
	char ifname[16], err[256];
	struct uvdpa_device *dev;
	struct uvdpa_loop *loop;

	(void)state;
	if (!can_tap())
		skip();
	snprintf(ifname, sizeof(ifname), "uvtb%u", (unsigned int)getpid() % 100000u);
	loop = uvdpa_loop_new();
	assert_non_null(loop);
	assert_int_equal(uvdpa_bus_tap_register(), 0);
	h.fake = fakedev_new(&p);
	assert_non_null(h.fake);
	dev = fakedev_vdpa(h.fake);
	assert_int_equal(uvdpa_device_register(dev), 0);
	args.path = ifname;
	args.loop = loop;
	for (unsigned int i = 0; i < BINDS; i++) {
		if (uvdpa_device_bind(dev, "tap", &args, err, sizeof(err)) < 0)
			fail_msg("bind %u: %s", i, err);
		usleep(RELAY_DELAY_US);
		assert_int_equal(uvdpa_device_unbind(dev), 0);
		hammer_stop(&h);
	}
	uvdpa_device_unregister(dev);
	fakedev_free(h.fake);
	relay_pool_fini();
	uvdpa_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_unbind_under_interrupts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
