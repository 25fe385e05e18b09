/* Device side of split virtqueues: notifications to the driver (flags and
 * EVENT_IDX) and kick suppression, and ring-state recovery. */
#include "virtq_harness.h"

/* ---- Notifications to the driver ---- */

static void test_notify_flags_without_event_idx(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	assert_true(virtq_should_notify(&vq));		/* first decision */
	assert_false(virtq_should_notify(&vq));		/* nothing new */
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_true(virtq_should_notify(&vq));
	drv_set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_false(virtq_should_notify(&vq));
	drv_set_avail_flags(0);
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_true(virtq_should_notify(&vq));
	/* used_event is meaningless without the feature. */
	drv_set_used_event(1000);
	assert_int_equal(virtq_push(&vq, 0, 0), 0);
	assert_true(virtq_should_notify(&vq));
	/* set_base starts over with a notification. */
	virtq_set_base(&vq, 0, 0);
	assert_true(virtq_should_notify(&vq));
}

struct event_case {
	uint16_t start;		/* used idx at the previous decision */
	uint16_t pushes;
	uint16_t used_event;
	bool notify;
};

static void test_notify_event_idx_wrap(void **state)
{
	/* Notify iff used_event is in [start, start + pushes) modulo 2^16. */
	static const struct event_case cases[] = {
		{ 65533, 5, 65533, true },
		{ 65533, 5, 65535, true },
		{ 65533, 5, 0, true },
		{ 65533, 5, 1, true },
		{ 65533, 5, 2, false },		/* idx reached 2: event not yet passed */
		{ 65533, 5, 65532, false },	/* already passed before */
		{ 65533, 5, 30000, false },
		{ 65535, 1, 65535, true },
		{ 65535, 1, 0, false },
		{ 65535, 2, 0, true },
		{ 0, 1, 0, true },
		{ 0, 1, 65535, false },
		{ 100, 3, 99, false },
		{ 100, 3, 102, true },
		{ 100, 3, 103, false },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct event_case *c = &cases[i];

		vq_init(8, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
		virtq_set_base(&vq, c->start, c->start);
		assert_true(virtq_should_notify(&vq));
		/* The suppression flag is ignored with EVENT_IDX. */
		drv_set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
		drv_set_used_event(c->used_event);
		for (uint16_t p = 0; p < c->pushes; p++)
			assert_int_equal(virtq_push(&vq, 0, 0), 0);
		if (virtq_should_notify(&vq) != c->notify)
			fail_msg("case %u: start %u pushes %u used_event %u: expected %d", i,
				 c->start, c->pushes, c->used_event, c->notify);
		assert_false(virtq_should_notify(&vq));
	}
}

static void test_notify_event_idx_batched_commit(void **state)
{
	(void)state;
	vq_init(8, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	assert_true(virtq_should_notify(&vq));
	drv_set_used_event(1);		/* after the 2nd entry */
	assert_int_equal(virtq_push_pending(&vq, 0, 0), 0);
	assert_int_equal(virtq_push_pending(&vq, 1, 0), 0);
	assert_int_equal(virtq_push_pending(&vq, 2, 0), 0);
	assert_false(virtq_should_notify(&vq));	/* nothing published yet */
	virtq_push_commit(&vq);
	assert_true(virtq_should_notify(&vq));
	/* The driver moves used_event ahead; the next entries stay quiet. */
	drv_set_used_event(5);
	assert_int_equal(virtq_push(&vq, 3, 0), 0);
	assert_int_equal(virtq_push(&vq, 4, 0), 0);
	assert_false(virtq_should_notify(&vq));
	assert_int_equal(virtq_push(&vq, 5, 0), 0);
	assert_true(virtq_should_notify(&vq));
}

/* ---- Notifications from the driver (kicks) ---- */

static void test_kick_suppression_flags(void **state)
{
	(void)state;
	vq_init(256, F_DEFAULT);
	virtq_disable_notify(&vq);
	assert_int_equal(drv_used_flags(), VRING_USED_F_NO_NOTIFY);
	assert_int_equal(mem.nlog, 1);
	assert_logged(0, USED_GPA, 2);
	virtq_disable_notify(&vq);		/* no change: no write, no log */
	assert_int_equal(mem.nlog, 1);

	reset_records();
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(drv_used_flags(), 0);
	assert_logged(0, USED_GPA, 2);

	virtq_disable_notify(&vq);
	drv_desc(0, R1, 8, 0, 0);
	drv_avail(0);
	/* Buffers arrived while disabled: enabling reports them. */
	assert_true(virtq_enable_notify(&vq));
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_false(virtq_enable_notify(&vq));
}

static void test_kick_suppression_event_idx(void **state)
{
	const uint64_t avail_event = USED_GPA + 4 + 8 * 8;

	(void)state;
	vq_init(8, F_DEFAULT | F(VIRTIO_RING_F_EVENT_IDX));
	virtq_set_base(&vq, 65534, 65534);
	drv_set_avail_idx(65534);
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(drv_avail_event(), 65534);
	assert_logged(0, avail_event, 2);
	assert_int_equal(drv_used_flags(), 0);	/* flags unused with EVENT_IDX */

	/* With notifications on, avail_event follows each pop (wrapping). */
	for (uint16_t i = 0; i < 3; i++) {
		drv_desc(i, R1, 8, 0, 0);
		drv_avail(i);
	}
	reset_records();
	for (uint16_t i = 0; i < 3; i++) {
		assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
		assert_int_equal(drv_avail_event(), (uint16_t)(65534 + i + 1));
	}
	assert_int_equal(mem.nlog, 3);
	assert_logged(2, avail_event, 2);

	/* Disabled: avail_event stays where it was. */
	virtq_disable_notify(&vq);
	drv_avail(0);
	drv_avail(1);
	reset_records();
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_int_equal(drv_avail_event(), 1);
	assert_int_equal(mem.nlog, 0);
	/* Re-enabled with one buffer still waiting. */
	assert_true(virtq_enable_notify(&vq));
	assert_int_equal(drv_avail_event(), 2);
	assert_int_equal(virtq_pop(&vq, &eb->elem), 0);
	assert_false(virtq_enable_notify(&vq));
	assert_int_equal(drv_avail_event(), 3);
}

static void test_set_base_and_used_idx_recovery(void **state)
{
	uint16_t last, used;

	(void)state;
	vq_init(256, F_DEFAULT);
	w16(USED_GPA + 2, 4242);	/* what the previous backend published */
	assert_int_equal(virtq_read_used_idx(&vq), 4242);
	virtq_set_base(&vq, virtq_read_used_idx(&vq), virtq_read_used_idx(&vq));
	virtq_get_base(&vq, &last, &used);
	assert_int_equal(last, 4242);
	assert_int_equal(used, 4242);
	/* Pending entries are dropped by set_base. */
	assert_int_equal(virtq_push_pending(&vq, 1, 1), 0);
	virtq_set_base(&vq, 4242, 4242);
	virtq_push_commit(&vq);
	assert_int_equal(drv_used_idx(), 4242);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_notify_flags_without_event_idx),
		T(test_notify_event_idx_wrap),
		T(test_notify_event_idx_batched_commit),
		T(test_kick_suppression_flags),
		T(test_kick_suppression_event_idx),
		T(test_set_base_and_used_idx_recovery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
