/* Events (src/core/events.c): delivery in order on the attached loop to
 * every subscriber, emission from other threads, the bounded queue (lost
 * events counted, seq gaps), unsubscribing from a callback, and nothing
 * queued while detached. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "uvdpa/event_loop.h"
#include "uvdpa/events.h"

#define MAXREC 8192

struct rec {
	unsigned int n;
	uint64_t seq[MAXREC];
	enum uvdpa_event_type type[MAXREC];
	char first_dev[UVDPA_NAME_MAX], first_detail[UVDPA_EVENT_DETAIL_MAX];
	int self_id;		/* unsubscribe itself after unsub_after events */
	unsigned int unsub_after;
};

static void record(const struct uvdpa_event *ev, void *opaque)
{
	struct rec *r = opaque;

	if (r->n == 0) {
		strcpy(r->first_dev, ev->dev);
		strcpy(r->first_detail, ev->detail);
	}
	if (r->n < MAXREC) {
		r->seq[r->n] = ev->seq;
		r->type[r->n] = ev->type;
	}
	r->n++;
	if (r->unsub_after && r->n == r->unsub_after)
		uvdpa_events_unsubscribe(r->self_id);
}

static struct uvdpa_loop *loop;

static int setup(void **state)
{
	(void)state;
	loop = uvdpa_loop_new();
	return loop && uvdpa_events_attach(loop) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	uvdpa_events_detach();
	uvdpa_loop_free(loop);
	return 0;
}

static void run_until(struct rec *r, unsigned int n)
{
	for (int i = 0; i < 2000 && r->n < n; i++)
		uvdpa_loop_run_once(loop, 10);
}

static void test_order_and_subscribers(void **state)
{
	static struct rec a, b;
	int ida, idb;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ida = uvdpa_events_subscribe(record, &a);
	idb = uvdpa_events_subscribe(record, &b);
	assert_true(ida > 0 && idb > 0 && ida != idb);
	uvdpa_event_emit(UVDPA_EVENT_DEV_ADD, "vf0", "type %s", "net");
	uvdpa_event_emit(UVDPA_EVENT_CONNECT, "vf0", NULL);
	uvdpa_event_emit(UVDPA_EVENT_DEV_DEL, "vf0", NULL);
	assert_int_equal(a.n, 0);	/* delivered on the loop, not inline */
	run_until(&b, 3);
	assert_int_equal(a.n, 3);
	assert_int_equal(b.n, 3);
	assert_int_equal(a.type[0], UVDPA_EVENT_DEV_ADD);
	assert_int_equal(a.type[2], UVDPA_EVENT_DEV_DEL);
	assert_true(a.seq[1] == a.seq[0] + 1 && a.seq[2] == a.seq[1] + 1);
	assert_string_equal(a.first_dev, "vf0");
	assert_string_equal(a.first_detail, "type net");
	assert_string_equal(uvdpa_event_type_name(UVDPA_EVENT_DRIVER_OK), "driver_ok");
	assert_null(uvdpa_event_type_name(UVDPA_EVENT_NUM));
	uvdpa_events_unsubscribe(ida);
	uvdpa_events_unsubscribe(idb);
}

static void *emitter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		uvdpa_event_emit(UVDPA_EVENT_DRIVER_OK, "t", "i %d", i);
	return NULL;
}

static void test_other_threads(void **state)
{
	static struct rec r;
	pthread_t t[2];
	int id;

	(void)state;
	memset(&r, 0, sizeof(r));
	id = uvdpa_events_subscribe(record, &r);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, emitter, NULL), 0);
	for (int i = 0; i < 2; i++) {
		/* Delivery runs meanwhile, as the control thread would. */
		while (pthread_tryjoin_np(t[i], NULL) == EBUSY)
			uvdpa_loop_run_once(loop, 1);
	}
	run_until(&r, 2000);
	assert_int_equal(r.n, 2000);
	for (unsigned int i = 1; i < r.n; i++)
		assert_true(r.seq[i] == r.seq[i - 1] + 1);
	uvdpa_events_unsubscribe(id);
}

static void test_bounded(void **state)
{
	static struct rec r;
	uint64_t lost0 = uvdpa_events_lost();
	unsigned int i;
	int id;

	(void)state;
	memset(&r, 0, sizeof(r));
	id = uvdpa_events_subscribe(record, &r);
	for (i = 0; i < UVDPA_EVENTS_QUEUE_MAX + 10; i++)
		uvdpa_event_emit(UVDPA_EVENT_LOG_START, "x", NULL);
	assert_int_equal(uvdpa_events_lost() - lost0, 10);
	run_until(&r, UVDPA_EVENTS_QUEUE_MAX);
	assert_int_equal(r.n, UVDPA_EVENTS_QUEUE_MAX);
	/* The next event after the drops shows the gap in its seq. */
	uvdpa_event_emit(UVDPA_EVENT_LOG_STOP, "x", NULL);
	run_until(&r, UVDPA_EVENTS_QUEUE_MAX + 1);
	assert_int_equal(r.seq[r.n - 1] - r.seq[r.n - 2], 11);
	uvdpa_events_unsubscribe(id);
}

static void test_unsubscribe_in_callback_and_detached(void **state)
{
	static struct rec r, other;
	int oid;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(&other, 0, sizeof(other));
	r.self_id = uvdpa_events_subscribe(record, &r);
	r.unsub_after = 2;
	oid = uvdpa_events_subscribe(record, &other);
	for (int i = 0; i < 5; i++)
		uvdpa_event_emit(UVDPA_EVENT_DEV_ADD, "y", NULL);
	run_until(&other, 5);
	assert_int_equal(r.n, 2);
	assert_int_equal(other.n, 5);
	/* Detached: nothing is queued, nothing counted as lost. */
	uvdpa_events_detach();
	uint64_t lost = uvdpa_events_lost();

	uvdpa_event_emit(UVDPA_EVENT_DEV_ADD, "z", NULL);
	assert_int_equal(uvdpa_events_lost(), lost);
	assert_int_equal(uvdpa_events_attach(loop), 0);
	assert_int_equal(uvdpa_events_attach(loop), -EBUSY);
	for (int i = 0; i < 20; i++)
		uvdpa_loop_run_once(loop, 5);
	assert_int_equal(other.n, 5);
	uvdpa_events_unsubscribe(oid);
	assert_int_equal(uvdpa_events_subscribe(NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_subscribers),
		cmocka_unit_test(test_other_threads),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_unsubscribe_in_callback_and_detached),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
