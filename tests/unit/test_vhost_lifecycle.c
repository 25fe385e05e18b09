/* Unit tests for the device lifecycle the vhost-user library drives: when
 * dev_conf, dev_close, set_vring_state, set_features and migration_done are
 * called and in what order, ring readiness and enable state, ring bases
 * handed back on stop, and the backend channel (CONFIG_CHANGE_MSG,
 * VRING_HOST_NOTIFIER_MSG) over a socketpair. */
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "uvdpa/event_loop.h"
#include "vu_test_util.h"

static void assert_calls(const struct tdev *td, const char *const *want, unsigned int n)
{
	if (td->ncalls != n) {
		for (unsigned int i = 0; i < td->ncalls; i++)
			print_message("  call %u: %s\n", i, td->calls[i]);
		fail_msg("%u ops calls, expected %u", td->ncalls, n);
	}
	for (unsigned int i = 0; i < n; i++)
		assert_string_equal(td->calls[i], want[i]);
}

#define ASSERT_CALLS(td, ...)                                                   \
	do {                                                                    \
		const char *const want_[] = { __VA_ARGS__ };                    \
		assert_calls((td), want_, sizeof(want_) / sizeof(want_[0]));    \
	} while (0)
#define ASSERT_NO_CALLS(td) assert_int_equal((td)->ncalls, 0)

static bool ring_ready(struct tdev *td, uint16_t idx)
{
	struct vu_vring_info info;

	assert_int_equal(vu_get_vring(td->vu, idx, &info), 0);
	return info.ready;
}

static bool ring_enabled(struct tdev *td, uint16_t idx)
{
	struct vu_vring_info info;

	assert_int_equal(vu_get_vring(td->vu, idx, &info), 0);
	return info.enabled;
}

/* ---- dev_conf ---- */

static void test_dev_conf_once_when_ready(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint8_t *mem;
	char sf[TD_CALL_LEN];

	(void)state;
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, PF(MQ));
	snprintf(sf, sizeof(sf), "set_features 0x%" PRIx64, F_VERSION_1 | F_PROTOCOL);
	mem = td_guest_mem(td);
	td_setup_ring(td, 0);
	td_setup_ring(td, 1);
	/* Set up but disabled (PROTOCOL_FEATURES): not yet. */
	assert_false(ring_enabled(td, 0));
	assert_false(ring_ready(td, 0));
	td_enable(td, 0, true);
	assert_true(ring_ready(td, 0));
	assert_int_equal(td_count(td, "dev_conf"), 0);
	/* Ring 1 completes the pair. */
	td_enable(td, 1, true);
	ASSERT_CALLS(td, sf, "dev_conf");

	/* Messages that change nothing do not call the device again. */
	td_enable(td, 1, true);
	assert_int_equal(td_noarg(td, VHOST_USER_SET_OWNER, &r), 0);
	assert_int_equal(td_noarg(td, VHOST_USER_GET_FEATURES, &r), 0);
	assert_int_equal(td_noarg(td, VHOST_USER_GET_QUEUE_NUM, &r), 0);
	ASSERT_CALLS(td, sf, "dev_conf");
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_dev_conf_needs_every_enabled_ring(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	uint8_t *mem;

	(void)state;
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, PF(MQ));
	mem = td_guest_mem(td);
	/* Queue pair 1 enabled but not set up yet. */
	td_enable(td, 2, true);
	td_setup_ring(td, 0);
	td_setup_ring(td, 1);
	td_enable(td, 0, true);
	td_enable(td, 1, true);
	assert_int_equal(td_count(td, "dev_conf"), 0);
	td_setup_ring(td, 2);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	/* Ring 3 is set up but not enabled: not needed, reported when enabled. */
	td_clear_calls(td);
	td_setup_ring(td, 3);
	ASSERT_NO_CALLS(td);
	td_enable(td, 3, true);
	ASSERT_CALLS(td, "set_vring_state 3 1");
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_dev_conf_needs_memory_and_features(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint8_t *mem;

	(void)state;
	/* Rings first, without memory: addresses cannot be translated yet. */
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(MQ), &r), 0);
	for (uint16_t i = 0; i < 2; i++) {
		td_setup_ring(td, i);
		td_enable(td, i, true);
	}
	ASSERT_NO_CALLS(td);
	mem = td_guest_mem(td);
	/* Memory makes the rings ready, but SET_FEATURES has not come. */
	assert_true(ring_ready(td, 0));
	ASSERT_NO_CALLS(td);
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, F_VERSION_1 | F_PROTOCOL, &r), 0);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	assert_int_equal(td->ncalls, 2);
	assert_true(td_find(td, "dev_conf") > td_find(td, "set_features 0x140000000"));
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_enable_before_start_remembered(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint8_t *mem;

	(void)state;
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, 0);
	mem = td_guest_mem(td);
	/* QEMU may enable the rings before starting them. */
	td_enable(td, 0, true);
	td_enable(td, 1, true);
	assert_true(ring_enabled(td, 1));
	td_setup_ring(td, 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 1, RING_SIZE, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_BASE, 1, 0, &r), 0);
	assert_int_equal(td_vring_addr(td, 1, GUEST_UVA + RING_STRIDE, 0, 0, &r), 0);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_KICK, 1, new_eventfd(), &r), 0);
	assert_int_equal(td_count(td, "dev_conf"), 0);
	/* The last piece (the call fd) makes the device ready. */
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_CALL, 1, new_eventfd(), &r), 0);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_no_protocol_features_enabled_on_kick(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint8_t *mem;

	(void)state;
	td_negotiate(td, F_VERSION_1, 0);
	mem = td_guest_mem(td);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, RING_SIZE, &r), 0);
	assert_false(ring_enabled(td, 0));
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_KICK, 0, new_eventfd(), &r), 0);
	assert_true(ring_enabled(td, 0));
	td_setup_ring(td, 0);
	td_setup_ring(td, 1);
	/* No SET_VRING_ENABLE ever came. */
	assert_int_equal(td_count(td, "dev_conf"), 1);
	assert_true(ring_ready(td, 1));
	munmap(mem, GUEST_SIZE);
	td_free(td);

	/* With PROTOCOL_FEATURES the kick does not enable. */
	td = td_new(UVDPA_TYPE_NET);
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, 0);
	mem = td_guest_mem(td);
	td_setup_ring(td, 0);
	td_setup_ring(td, 1);
	assert_false(ring_enabled(td, 0));
	assert_int_equal(td_count(td, "dev_conf"), 0);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_status_waits_for_driver_ok(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint8_t *mem;

	(void)state;
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, PF(STATUS));
	mem = td_guest_mem(td);
	for (uint16_t i = 0; i < 2; i++) {
		td_setup_ring(td, i);
		td_enable(td, i, true);
	}
	assert_true(ring_ready(td, 1));
	assert_int_equal(td_count(td, "dev_conf"), 0);
	/* ACKNOWLEDGE | DRIVER | FEATURES_OK: still not. */
	assert_int_equal(td_u64(td, VHOST_USER_SET_STATUS, 0xb, &r), 0);
	assert_int_equal(td_count(td, "dev_conf"), 0);
	assert_int_equal(td_u64(td, VHOST_USER_SET_STATUS, 0xb | DRIVER_OK, &r), 0);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	assert_int_equal(td_noarg(td, VHOST_USER_GET_STATUS, &r), 0);
	assert_reply_u64(&r, VHOST_USER_GET_STATUS, 0xf);
	assert_int_equal(uvdpa_vhost_status(td->vu), 0xf);
	/* Status 0 is a device reset. */
	td_clear_calls(td);
	assert_int_equal(td_u64(td, VHOST_USER_SET_STATUS, 0, &r), 0);
	ASSERT_CALLS(td, "dev_close");
	/* Not a status byte. */
	assert_true(td_u64(td, VHOST_USER_SET_STATUS, 0x100, &r) < 0);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_blk_needs_one_ring(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_BLK);
	uint8_t *mem;

	(void)state;
	fakedev_set_queues(td->fake, 1);
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, 0);
	mem = td_guest_mem(td);
	td_setup_ring(td, 0);
	assert_int_equal(td_count(td, "dev_conf"), 0);
	td_enable(td, 0, true);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* QEMU enables both rings of a 2-queue disk while SeaBIOS set up only
 * queue 0: DRIVER_OK (STATUS) starts the device with the rings that are
 * ready, and the other starts when it is set up. */
static void test_blk_driver_ok_with_unset_ring(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_BLK);
	struct vhost_user_msg r;
	uint8_t *mem;

	(void)state;
	fakedev_set_queues(td->fake, 2);
	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, PF(MQ) | PF(STATUS));
	mem = td_guest_mem(td);
	td_setup_ring(td, 0);
	td_enable(td, 0, true);
	td_enable(td, 1, true);
	assert_int_equal(td_count(td, "dev_conf"), 0);
	assert_int_equal(td_u64(td, VHOST_USER_SET_STATUS, 0xb | DRIVER_OK, &r), 0);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	assert_false(ring_ready(td, 1));
	td_clear_calls(td);
	td_setup_ring(td, 1);
	ASSERT_CALLS(td, "set_vring_state 1 1");
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* ---- set_vring_state ---- */

static void test_vring_state_after_dev_conf(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	uint8_t *mem = td_start_net(td, PF(MQ));

	(void)state;
	/* The guest turns on queue pair 1 later. */
	td_setup_ring(td, 2);
	td_setup_ring(td, 3);
	ASSERT_NO_CALLS(td);
	td_enable(td, 2, true);
	ASSERT_CALLS(td, "set_vring_state 2 1");
	td_enable(td, 3, true);
	ASSERT_CALLS(td, "set_vring_state 2 1", "set_vring_state 3 1");
	/* And off again. */
	td_clear_calls(td);
	td_enable(td, 3, false);
	td_enable(td, 2, false);
	ASSERT_CALLS(td, "set_vring_state 3 0", "set_vring_state 2 0");
	/* Disabling a required ring is a state change too, not a close. */
	td_clear_calls(td);
	td_enable(td, 1, false);
	td_enable(td, 1, true);
	ASSERT_CALLS(td, "set_vring_state 1 0", "set_vring_state 1 1");
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* ---- set_features and dirty logging ---- */

static void test_set_features_every_time(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	const uint64_t f = F_VERSION_1 | F_PROTOCOL;
	char plain[TD_CALL_LEN], logging[TD_CALL_LEN];
	uint8_t *mem;
	int log_fd;

	(void)state;
	snprintf(plain, sizeof(plain), "set_features 0x%" PRIx64, f);
	snprintf(logging, sizeof(logging), "set_features 0x%" PRIx64, f | F_LOG_ALL);
	mem = td_start_net(td, PF(LOG_SHMFD));
	/* QEMU repeats SET_FEATURES per queue pair. */
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f, &r), 0);
	ASSERT_CALLS(td, plain);

	/* Migration starts: log base, LOG_ALL, then the rings' LOG flag. */
	td_clear_calls(td);
	log_fd = memfd_sized("uvt-log", 4096);
	assert_int_equal(td_log_base(td, 4096, 0, log_fd, &r), 0);
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f | F_LOG_ALL, &r), 0);
	for (uint16_t i = 0; i < 2; i++)
		assert_int_equal(td_vring_addr(td, i, GUEST_UVA + i * RING_STRIDE,
					       1u << VHOST_VRING_F_LOG,
					       GUEST_GPA + i * RING_STRIDE + 0x2000, &r),
				 0);
	/* Logging must not stop the rings. */
	ASSERT_CALLS(td, logging);
	assert_true(ring_ready(td, 0));
	assert_true(ring_ready(td, 1));
	assert_true(vu_log_enabled(td->vu));

	/* Migration cancelled: everything back off, rings still running. */
	td_clear_calls(td);
	for (uint16_t i = 0; i < 2; i++)
		assert_int_equal(td_vring_addr(td, i, GUEST_UVA + i * RING_STRIDE, 0,
					       GUEST_GPA + i * RING_STRIDE + 0x2000, &r),
				 0);
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f, &r), 0);
	ASSERT_CALLS(td, plain);
	assert_false(vu_log_enabled(td->vu));

	/* Moving a ring is a real change: it is stopped and restarted. */
	td_clear_calls(td);
	assert_int_equal(td_vring_addr(td, 1, GUEST_UVA + 8 * RING_STRIDE, 0, 0, &r), 0);
	ASSERT_CALLS(td, "set_vring_state 1 0", "set_vring_state 1 1");
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* A device that cannot start logging must not leave the frontend believing
 * it does (it would migrate without the pages the device writes): with
 * REPLY_ACK the request is refused and the device keeps running as it was;
 * a frontend that asked for no answer is dropped. A new log the device
 * cannot move to drops the connection too. */
static void test_set_features_refused_by_device(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	const uint64_t f = F_VERSION_1 | F_PROTOCOL;
	uint8_t *mem;

	(void)state;
	mem = td_start_net(td, PF(LOG_SHMFD) | PF(REPLY_ACK));
	assert_int_equal(td_log_base(td, 4096, 0, memfd_sized("uvt-log", 4096), &r), 0);
	fakedev_set_features_result(td->fake, -EIO);
	msg_init(&m, VHOST_USER_SET_FEATURES, 8);
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.u64 = f | F_LOG_ALL;
	assert_int_equal(td_send(td, &m, &r), 0);
	assert_reply_u64(&r, VHOST_USER_SET_FEATURES, 1);
	assert_int_equal(uvdpa_vhost_features(td->vu), f);
	assert_false(vu_log_enabled(td->vu));
	assert_int_equal(td_count(td, "dev_close"), 0);
	assert_true(ring_ready(td, 0));

	/* No reply asked for: the refusal would go unheard. */
	assert_true(td_u64(td, VHOST_USER_SET_FEATURES, f | F_LOG_ALL, &r) < 0);
	assert_int_equal(uvdpa_vhost_features(td->vu), f);

	/* Logging on, then a new log the device cannot switch to. */
	fakedev_set_features_result(td->fake, 0);
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f | F_LOG_ALL, &r), 0);
	assert_true(vu_log_enabled(td->vu));
	fakedev_set_features_result(td->fake, -ENOMEM);
	assert_true(td_log_base(td, 8192, 0, memfd_sized("uvt-log2", 8192), &r) < 0);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* ---- dev_close ---- */

static void test_get_vring_base_closes_once(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint16_t avail, used;
	uint8_t *mem;

	(void)state;
	fakedev_set_hand_back(td->fake, 100, 90);
	mem = td_start_net(td, 0);
	assert_int_equal(td_state(td, VHOST_USER_GET_VRING_BASE, 0, 0, &r), 0);
	ASSERT_CALLS(td, "dev_close");
	/* The base the driver handed back in dev_close. */
	assert_int_equal(r.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG);
	assert_int_equal(r.hdr.request, VHOST_USER_GET_VRING_BASE);
	assert_int_equal(r.hdr.size, sizeof(r.payload.state));
	assert_int_equal(r.payload.state.index, 0);
	assert_int_equal(r.payload.state.num, 100);
	assert_false(ring_ready(td, 0));

	assert_int_equal(td_state(td, VHOST_USER_GET_VRING_BASE, 1, 0, &r), 0);
	ASSERT_CALLS(td, "dev_close");
	assert_int_equal(r.payload.state.index, 1);
	assert_int_equal(r.payload.state.num, 101);
	assert_int_equal(vu_get_vring_base(td->vu, 1, &avail, &used), 0);
	assert_int_equal(avail, 101);
	assert_int_equal(used, 91);
	/* Stopped rings gave their fds back. */
	{
		struct vu_vring_info info;

		assert_int_equal(vu_get_vring(td->vu, 1, &info), 0);
		assert_int_equal(info.kickfd, -1);
		assert_int_equal(info.callfd, -1);
	}

	/* Restarted from those bases: configured again. */
	td_clear_calls(td);
	for (uint16_t i = 0; i < 2; i++) {
		td_setup_ring(td, i);
		assert_int_equal(td_state(td, VHOST_USER_SET_VRING_BASE, i, 100 + i, &r), 0);
		td_enable(td, i, true);
	}
	assert_int_equal(td_count(td, "dev_conf"), 1);
	assert_int_equal(td_count(td, "dev_close"), 0);
	assert_int_equal(vu_get_vring_base(td->vu, 0, &avail, &used), 0);
	assert_int_equal(avail, 100);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

static void test_get_vring_base_unconfigured(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;

	(void)state;
	fakedev_set_hand_back(td->fake, 0, 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_BASE, 3, 4242, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_GET_VRING_BASE, 3, 0, &r), 0);
	assert_int_equal(r.payload.state.index, 3);
	assert_int_equal(r.payload.state.num, 4242);
	ASSERT_NO_CALLS(td);
	/* A base beyond a 16-bit index is refused. */
	assert_true(td_state(td, VHOST_USER_SET_VRING_BASE, 3, 0x10000, &r) < 0);
	td_free(td);
}

static void test_reset_device_closes(void **state)
{
	static const uint32_t reqs[] = { VHOST_USER_RESET_DEVICE, VHOST_USER_RESET_OWNER };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg r;
		uint8_t *mem = td_start_net(td, PF(RESET_DEVICE) | PF(MQ));

		assert_int_equal(td_noarg(td, reqs[k], &r), 0);
		ASSERT_CALLS(td, "dev_close");
		assert_int_equal(uvdpa_vhost_features(td->vu), 0);
		assert_int_equal(vu_get_vring_num(td->vu), 0);
		/* Protocol features survive a device reset. */
		assert_int_equal(vu_get_protocol_features(td->vu), PF(RESET_DEVICE) | PF(MQ));
		/* A reset device is not closed twice. */
		assert_int_equal(td_noarg(td, reqs[k], &r), 0);
		ASSERT_CALLS(td, "dev_close");

		/* Configured again from scratch. */
		td_clear_calls(td);
		assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, F_VERSION_1 | F_PROTOCOL, &r), 0);
		munmap(mem, GUEST_SIZE);
		mem = td_guest_mem(td);
		for (uint16_t i = 0; i < 2; i++) {
			td_setup_ring(td, i);
			td_enable(td, i, true);
		}
		assert_int_equal(td_count(td, "dev_conf"), 1);
		munmap(mem, GUEST_SIZE);
		td_free(td);
	}
}

static void test_memory_change_closes(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	struct vhost_user_mem_region regs[2] = {
		mem_region(GUEST_GPA, GUEST_SIZE, GUEST_UVA, 0),
		mem_region(0x40000000, 0x10000, 0x7e0000000000ull, 0),
	};
	struct vhost_user_mem_region extra = mem_region(0x80000000, 0x10000, 0x7d0000000000ull, 0);
	int fds[2];
	uint8_t *mem = td_start_net(td, PF(CONFIGURE_MEM_SLOTS) | PF(REPLY_ACK));
	uint8_t *mem2;

	(void)state;
	/* A different table (hotplugged DIMM): closed, and configured again at
	 * once since the rings are still in guest memory. */
	fds[0] = memfd_sized("uvt-guest", GUEST_SIZE);
	fds[1] = memfd_sized("uvt-guest", 0x10000);
	mem2 = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	assert_true(mem2 != MAP_FAILED);
	assert_int_equal(td_mem_table(td, regs, 2, fds, &r), 0);
	ASSERT_CALLS(td, "dev_close", "dev_conf");
	{
		struct vu_vring_info info;
		uint64_t len = 1;

		/* Ring pointers follow the new mapping. */
		assert_int_equal(vu_get_vring(td->vu, 0, &info), 0);
		assert_ptr_equal(info.desc, vu_gpa_to_hva(td->vu, GUEST_GPA, &len));
	}

	/* ADD_MEM_REG. */
	td_clear_calls(td);
	assert_int_equal(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, extra,
				    memfd_sized("uvt-guest", 0x10000), &r),
			 0);
	ASSERT_CALLS(td, "dev_close", "dev_conf");
	/* REM_MEM_REG of a region no ring uses. */
	td_clear_calls(td);
	assert_int_equal(td_mem_reg(td, VHOST_USER_REM_MEM_REG, extra, -1, &r), 0);
	ASSERT_CALLS(td, "dev_close", "dev_conf");
	/* A failed REM changes nothing. */
	td_clear_calls(td);
	assert_int_equal(td_mem_reg(td, VHOST_USER_REM_MEM_REG, extra, -1, &r), 0);
	ASSERT_NO_CALLS(td);
	/* REM of the rings' region: closed and not ready. */
	assert_int_equal(td_mem_reg(td, VHOST_USER_REM_MEM_REG, regs[0], -1, &r), 0);
	ASSERT_CALLS(td, "dev_close");
	assert_false(ring_ready(td, 0));
	assert_false(ring_ready(td, 1));
	/* Back again: ready and configured. */
	td_clear_calls(td);
	assert_int_equal(td_mem_reg(td, VHOST_USER_ADD_MEM_REG, regs[0],
				    memfd_sized("uvt-guest", GUEST_SIZE), &r),
			 0);
	ASSERT_CALLS(td, "dev_conf");
	assert_true(ring_ready(td, 1));

	/* A table without the rings' memory: closed, and no ring pointer is
	 * left into the unmapped region. */
	td_clear_calls(td);
	fds[0] = memfd_sized("uvt-guest", 0x10000);
	assert_int_equal(td_mem_table(td, &regs[1], 1, fds, &r), 0);
	ASSERT_CALLS(td, "dev_close");
	for (uint16_t i = 0; i < 2; i++) {
		struct vu_vring_info info;

		assert_int_equal(vu_get_vring(td->vu, i, &info), 0);
		assert_null(info.desc);
		assert_null(info.avail);
		assert_null(info.used);
		assert_false(info.ready);
	}
	munmap(mem, GUEST_SIZE);
	munmap(mem2, GUEST_SIZE);
	td_free(td);
}

static void test_disconnect_closes(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	uint8_t *mem = td_start_net(td, 0);
	struct uvdpa_vhost *vu;

	(void)state;
	vu_dev_reset_session(td->vu);
	ASSERT_CALLS(td, "dev_close");
	assert_false(ring_ready(td, 0));
	vu_dev_reset_session(td->vu);
	ASSERT_CALLS(td, "dev_close");
	munmap(mem, GUEST_SIZE);

	/* Freeing a configured session closes the device first. */
	td_clear_calls(td);
	mem = td_start_net(td, 0);
	vu = td->vu;
	uvdpa_vhost_free(vu);
	ASSERT_CALLS(td, "dev_close");
	td->vu = vu_dev_new_detached(td->vdpa);
	assert_non_null(td->vu);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* A server socket replaces a stale socket file, never one that someone
 * listens on: binding a second device to a path in use must fail instead of
 * silently taking the frontends of the first. */
static void test_server_socket_in_use(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct uvdpa_loop *loop = uvdpa_loop_new();
	struct uvdpa_vhost_loop vl;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct uvdpa_vhost *first, *second;
	int fd;

	(void)state;
	assert_non_null(loop);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/uvt-inuse-%d.sock", (int)getpid());
	unlink(sa.sun_path);

	/* A stale file (its listener is gone) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	uvdpa_vhost_loop_ev(&vl, loop);
	first = uvdpa_vhost_new(&vl, sa.sun_path, 0, td->vdpa);
	assert_non_null(first);

	/* A live one is refused, and stays the first device's. */
	errno = 0;
	second = uvdpa_vhost_new(&vl, sa.sun_path, 0, td->vdpa);
	assert_null(second);
	assert_int_equal(errno, EADDRINUSE);
	/* The probe that found it live came and went. */
	for (int i = 0; i < 10; i++) {
		struct uvdpa_vhost_stats st;

		uvdpa_vhost_get_stats(first, &st);
		if (st.disconnects == 1)
			break;
		uvdpa_loop_run_once(loop, 100);
	}
	assert_false(uvdpa_vhost_connected(first));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (int i = 0; i < 10 && !uvdpa_vhost_connected(first); i++)
		uvdpa_loop_run_once(loop, 100);
	assert_true(uvdpa_vhost_connected(first));
	close(fd);

	uvdpa_vhost_free(first);
	assert_true(access(sa.sun_path, F_OK) < 0);
	uvdpa_loop_free(loop);
	td_free(td);
}

static void test_send_rarp_migration_done(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint8_t *mem = td_start_net(td, PF(RARP));

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SEND_RARP, 0x563412005452ull, &r), 0);
	ASSERT_CALLS(td, "migration_done 52:54:00:12:34:56");
	assert_no_reply(&r);
	munmap(mem, GUEST_SIZE);
	td_free(td);

	td = td_new(UVDPA_TYPE_NET);
	mem = td_start_net(td, 0);
	assert_true(td_u64(td, VHOST_USER_SEND_RARP, 0x563412005452ull, &r) < 0);
	ASSERT_NO_CALLS(td);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* ---- backend channel ---- */

static bool nothing_pending(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* Queues the frontend's ack before the request is sent: the stream keeps
 * it until the library reads it. */
static void prewrite_ack(int fd, uint32_t req, uint32_t flags, uint64_t v)
{
	struct {
		struct vhost_user_header hdr;
		uint64_t v;
	} __attribute__((packed)) ack = { { req, flags, 8 }, v };

	assert_int_equal(write(fd, &ack, sizeof(ack)), sizeof(ack));
}

static void *config_change_thread(void *vu)
{
	return (void *)(intptr_t)vu_config_change(vu);
}

/* vu_config_change as a relay thread calls it: off the thread that handles
 * the session's messages, which never waits for the frontend. */
static int config_change_off_loop(struct tdev *td)
{
	pthread_t t;
	void *ret;

	assert_int_equal(pthread_create(&t, NULL, config_change_thread, td->vu), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	return (int)(intptr_t)ret;
}

static int set_backend_fd(struct tdev *td, int *peer)
{
	struct vhost_user_msg m, r;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	msg_init(&m, VHOST_USER_SET_BACKEND_REQ_FD, 0);
	msg_add_fd(&m, sv[0]);
	*peer = sv[1];
	return td_send(td, &m, &r);
}

static void test_config_change(void **state)
{
	const uint32_t reply = VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG;
	struct tdev *td = td_new(UVDPA_TYPE_BLK);
	struct vhost_user_msg m, r;
	int peer;

	(void)state;
	/* No CONFIG, or no channel yet. */
	assert_int_equal(vu_config_change(td->vu), -ENOTSUP);
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES,
				PF(CONFIG) | PF(BACKEND_REQ) | PF(REPLY_ACK), &r),
			 0);
	assert_int_equal(vu_config_change(td->vu), -ENOTCONN);
	assert_int_equal(set_backend_fd(td, &peer), 0);

	/* With REPLY_ACK: NEED_REPLY set, the ack awaited. */
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, reply, 0);
	assert_int_equal(config_change_off_loop(td), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(m.hdr.flags, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_FLAG);
	assert_int_equal(m.hdr.size, 0);
	assert_int_equal(m.nfds, 0);
	assert_true(nothing_pending(peer));

	/* A failure ack, and an ack for something else. */
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, reply, 1);
	assert_int_equal(config_change_off_loop(td), -EIO);
	fe_recv_msg(peer, &m);
	prewrite_ack(peer, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, reply, 0);
	assert_int_equal(config_change_off_loop(td), -EPROTO);
	fe_recv_msg(peer, &m);
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, VHOST_USER_VERSION, 0);
	assert_int_equal(config_change_off_loop(td), -EPROTO);
	fe_recv_msg(peer, &m);
	/* On the message-handling thread: sent, not awaited; its ack is read
	 * before the next request and not taken for that one's. */
	assert_int_equal(vu_config_change(td->vu), 0);
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, reply, 1);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.flags, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_FLAG);
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, reply, 0);
	assert_int_equal(config_change_off_loop(td), 0);
	fe_recv_msg(peer, &m);
	assert_true(nothing_pending(peer));
	close(peer);
	td_free(td);

	/* Without REPLY_ACK: no NEED_REPLY, nothing awaited. */
	td = td_new(UVDPA_TYPE_BLK);
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(CONFIG) | PF(BACKEND_REQ),
				&r),
			 0);
	assert_int_equal(set_backend_fd(td, &peer), 0);
	assert_int_equal(vu_config_change(td->vu), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(m.hdr.flags, VHOST_USER_VERSION);
	/* A frontend that went away. */
	close(peer);
	assert_true(vu_config_change(td->vu) < 0);
	td_free(td);
}

static void test_config_change_ack_timeout(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_BLK);
	struct vhost_user_msg m, r;
	int peer;

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES,
				PF(CONFIG) | PF(BACKEND_REQ) | PF(REPLY_ACK), &r),
			 0);
	assert_int_equal(set_backend_fd(td, &peer), 0);
	/* The frontend never answers: the library gives up, it does not hang. */
	assert_int_equal(config_change_off_loop(td), -ETIMEDOUT);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	/* The ack comes late, a refusal: it is dropped, not taken as the
	 * answer to the next request, which succeeds. */
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
		     VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG, 1);
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
		     VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG, 0);
	assert_int_equal(config_change_off_loop(td), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	assert_true(nothing_pending(peer));
	close(peer);
	td_free(td);
}

/* QEMU answers a blk CONFIG_CHANGE_MSG only after a GET_CONFIG of its own:
 * while a relay thread waits for the ack, the session's messages are still
 * served at once (the wait does not hold the channel lock). */
static void test_config_change_frontend_talks_first(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_BLK);
	struct vhost_user_msg m, r;
	struct timespec t0, t1;
	pthread_t t;
	void *ret;
	long ms;
	int peer;

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES,
				PF(CONFIG) | PF(BACKEND_REQ) | PF(REPLY_ACK), &r),
			 0);
	assert_int_equal(set_backend_fd(td, &peer), 0);
	assert_int_equal(pthread_create(&t, NULL, config_change_thread, td->vu), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(td_noarg(td, VHOST_USER_GET_FEATURES, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 500);
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
		     VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG, 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((int)(intptr_t)ret, 0);
	assert_true(nothing_pending(peer));
	close(peer);
	td_free(td);
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void test_host_notifier(void **state)
{
	const uint64_t proto = PF(BACKEND_REQ) | PF(HOST_NOTIFIER) | PF(BACKEND_SEND_FD);
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m;
	uint8_t *mem;
	int peer;

	(void)state;
	td_set_notify(td, memfd_sized("uvt-notify", 0x10000), 0x1000, 4096);
	mem = td_start_net(td, proto);
	assert_int_equal(set_backend_fd(td, &peer), 0);

	/* One ring on. */
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 1, true), 0);
	ASSERT_CALLS(td, "get_notify_area 1");
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG);
	assert_int_equal(m.hdr.flags, VHOST_USER_VERSION);
	assert_int_equal(m.hdr.size, sizeof(m.payload.area));
	assert_int_equal(m.payload.area.u64, 1);
	assert_int_equal(m.payload.area.size, 4096);
	assert_int_equal(m.payload.area.offset, 0x1000 + 4096);
	assert_int_equal(m.nfds, 1);
	assert_true(same_file(m.fds[0], td->notify_fd));
	close(m.fds[0]);
	/* The driver's fd stays the driver's. */
	assert_false(fd_closed(td->notify_fd));

	/* Off: NOFD, no fd. */
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 1, false), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.payload.area.u64, 1 | VHOST_USER_VRING_NOFD_MASK);
	assert_int_equal(m.nfds, 0);

	/* All rings: one message each. */
	assert_int_equal(vu_host_notifier_ctrl(td->vu, VU_ALL_VRINGS, true), 0);
	for (uint64_t i = 0; i < 2; i++) {
		fe_recv_msg(peer, &m);
		assert_int_equal(m.payload.area.u64, i);
		assert_int_equal(m.nfds, 1);
		close(m.fds[0]);
	}
	assert_true(nothing_pending(peer));

	/* A ring the frontend never set up. */
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 2, true), -EINVAL);
	assert_int_equal(vu_host_notifier_ctrl(td->vu, UVDPA_VHOST_MAX_VRINGS, true), -EINVAL);
	/* A device without a notify area. */
	close(td->notify_fd);
	td_set_notify(td, -1, 0, 0);
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 0, true), -ENOTSUP);
	assert_true(nothing_pending(peer));
	close(peer);
	munmap(mem, GUEST_SIZE);
	td_free(td);

	/* Each of the three protocol features is needed. */
	for (int k = 0; k < 3; k++) {
		const uint64_t bits[3] = { PF(BACKEND_REQ), PF(HOST_NOTIFIER), PF(BACKEND_SEND_FD) };

		td = td_new(UVDPA_TYPE_NET);
		td_set_notify(td, memfd_sized("uvt-notify", 0x10000), 0, 0);
		mem = td_start_net(td, proto & ~bits[k]);
		assert_int_equal(vu_host_notifier_ctrl(td->vu, 0, true), -ENOTSUP);
		ASSERT_NO_CALLS(td);
		close(td->notify_fd);
		munmap(mem, GUEST_SIZE);
		td_free(td);
	}
}

static void test_host_notifier_with_ack(void **state)
{
	const uint64_t proto = PF(BACKEND_REQ) | PF(HOST_NOTIFIER) | PF(BACKEND_SEND_FD) |
			       PF(REPLY_ACK);
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m;
	uint8_t *mem;
	int peer;

	(void)state;
	td_set_notify(td, memfd_sized("uvt-notify", 0x10000), 0, 4096);
	mem = td_start_net(td, proto);
	assert_int_equal(set_backend_fd(td, &peer), 0);
	prewrite_ack(peer, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG,
		     VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG, 0);
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 0, true), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.flags, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_FLAG);
	assert_int_equal(m.payload.area.u64, 0);
	assert_int_equal(m.nfds, 1);
	close(m.fds[0]);
	/* Asynchronous: a refusal is read (and logged) before the next
	 * request, and matched to its own request only. */
	prewrite_ack(peer, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG,
		     VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG, 1);
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 1, true), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.nfds, 1);
	close(m.fds[0]);
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 1, false), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.payload.area.u64, 1 | VHOST_USER_VRING_NOFD_MASK);
	assert_true(nothing_pending(peer));
	close(peer);
	close(td->notify_fd);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* Every ack is matched to the request it answers: a late ack (after its
 * waiter gave up) is not taken for the next request's, nor is the ack of a
 * host-notifier request that nobody waits for. */
static void test_backend_acks_matched(void **state)
{
	const uint32_t reply = VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG;
	const uint64_t proto = PF(BACKEND_REQ) | PF(HOST_NOTIFIER) | PF(BACKEND_SEND_FD) |
			       PF(REPLY_ACK) | PF(CONFIG);
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m;
	uint8_t *mem;
	int peer;

	(void)state;
	td_set_notify(td, memfd_sized("uvt-notify", 0x10000), 0, 4096);
	mem = td_start_net(td, proto);
	assert_int_equal(set_backend_fd(td, &peer), 0);

	/* No answer in time: the waiter gives up. */
	assert_int_equal(config_change_off_loop(td), -ETIMEDOUT);
	fe_recv_msg(peer, &m);
	/* Then the late ack (success) and, for the next request, a refusal:
	 * the next request gets the refusal. */
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, reply, 0);
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, reply, 1);
	assert_int_equal(config_change_off_loop(td), -EIO);
	fe_recv_msg(peer, &m);
	assert_true(nothing_pending(peer));

	/* A host notifier goes out without waiting; its ack (a refusal) is
	 * read before the config change's own. */
	assert_int_equal(vu_host_notifier_ctrl(td->vu, 0, true), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG);
	close(m.fds[0]);
	prewrite_ack(peer, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, reply, 1);
	prewrite_ack(peer, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, reply, 0);
	assert_int_equal(config_change_off_loop(td), 0);
	fe_recv_msg(peer, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);

	assert_true(nothing_pending(peer));
	close(peer);
	close(td->notify_fd);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dev_conf_once_when_ready),
		cmocka_unit_test(test_dev_conf_needs_every_enabled_ring),
		cmocka_unit_test(test_dev_conf_needs_memory_and_features),
		cmocka_unit_test(test_enable_before_start_remembered),
		cmocka_unit_test(test_no_protocol_features_enabled_on_kick),
		cmocka_unit_test(test_status_waits_for_driver_ok),
		cmocka_unit_test(test_blk_needs_one_ring),
		cmocka_unit_test(test_blk_driver_ok_with_unset_ring),
		cmocka_unit_test(test_vring_state_after_dev_conf),
		cmocka_unit_test(test_set_features_every_time),
		cmocka_unit_test(test_set_features_refused_by_device),
		cmocka_unit_test(test_get_vring_base_closes_once),
		cmocka_unit_test(test_get_vring_base_unconfigured),
		cmocka_unit_test(test_reset_device_closes),
		cmocka_unit_test(test_memory_change_closes),
		cmocka_unit_test(test_disconnect_closes),
		cmocka_unit_test(test_server_socket_in_use),
		cmocka_unit_test(test_send_rarp_migration_done),
		cmocka_unit_test(test_config_change),
		cmocka_unit_test(test_config_change_ack_timeout),
		cmocka_unit_test(test_config_change_frontend_talks_first),
		cmocka_unit_test(test_host_notifier),
		cmocka_unit_test(test_host_notifier_with_ack),
		cmocka_unit_test(test_backend_acks_matched),
	};

	uvdpa_log_set_level(UVDPA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
