/* Unit tests for vhost-user message validation: header flags, payload sizes
 * and fd counts per request, protocol-feature gating, REPLY_ACK, ring index
 * and size limits, feature negotiation, config space, inflight and log
 * regions, and SET_MEM_TABLE checks. Every refused message must close the
 * fds it came with. */
#include "vu_test_util.h"

#define ALL_PROTO                                                                          \
	(PF(MQ) | PF(LOG_SHMFD) | PF(RARP) | PF(REPLY_ACK) | PF(NET_MTU) | PF(BACKEND_REQ) |  \
	 PF(CONFIG) | PF(BACKEND_SEND_FD) | PF(HOST_NOTIFIER) | PF(INFLIGHT_SHMFD) |          \
	 PF(RESET_DEVICE) | PF(CONFIGURE_MEM_SLOTS) | PF(STATUS))

/* A well-formed message for req on a fresh session; returns how many fds it
 * takes (the caller adds them: a 4 KiB memfd always fits). */
static int valid_msg(struct vhost_user_msg *m, uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
		msg_init(m, req, 0);
		return 0;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SEND_RARP:
	case VHOST_USER_NET_SET_MTU:
	case VHOST_USER_SET_STATUS:
		msg_init(m, req, 8);
		m->payload.u64 = req == VHOST_USER_SET_FEATURES ? F_VERSION_1
				 : req == VHOST_USER_SET_PROTOCOL_FEATURES ? PF(MQ)
				 : req == VHOST_USER_SEND_RARP ? 0x525400123456ull
				 : req == VHOST_USER_NET_SET_MTU ? 1500 : 0xb;
		return 0;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		msg_init(m, req, sizeof(m->payload.state));
		m->payload.state.index = 1;
		m->payload.state.num = req == VHOST_USER_SET_VRING_NUM ? 256 : 1;
		return 0;
	case VHOST_USER_SET_VRING_ADDR:
		msg_init(m, req, sizeof(m->payload.addr));
		m->payload.addr.index = 1;
		m->payload.addr.desc_user_addr = GUEST_UVA;
		m->payload.addr.avail_user_addr = GUEST_UVA + 0x1000;
		m->payload.addr.used_user_addr = GUEST_UVA + 0x2000;
		return 0;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		msg_init(m, req, 8);
		m->payload.u64 = 1;
		return 1;
	case VHOST_USER_SET_MEM_TABLE:
		msg_init(m, req, 8 + sizeof(struct vhost_user_mem_region));
		m->payload.memory.nregions = 1;
		m->payload.memory.regions[0] = mem_region(0, 4096, 0x10000, 0);
		return 1;
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG:
		msg_init(m, req, sizeof(m->payload.mem_reg));
		m->payload.mem_reg.region = mem_region(0, 4096, 0x10000, 0);
		return req == VHOST_USER_ADD_MEM_REG;
	case VHOST_USER_SET_LOG_BASE:
		msg_init(m, req, sizeof(m->payload.log));
		m->payload.log.mmap_size = 4096;
		return 1;
	case VHOST_USER_SET_BACKEND_REQ_FD:
		msg_init(m, req, 0);
		return 1;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		msg_init(m, req, VHOST_USER_CONFIG_HDR_SIZE + 4);
		m->payload.config.offset = 8;
		m->payload.config.size = 4;
		return 0;
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		msg_init(m, req, sizeof(m->payload.inflight));
		m->payload.inflight.num_queues = 1;
		m->payload.inflight.queue_size = 64;
		if (req == VHOST_USER_GET_INFLIGHT_FD)
			return 0;
		m->payload.inflight.mmap_size = virtq_inflight_queue_bytes(64);
		return 1;
	}
	fail_msg("no valid message for request %u", req);
	return -1;
}

static void add_memfds(struct vhost_user_msg *m, int n, int *fds)
{
	for (int k = 0; k < n; k++) {
		fds[k] = memfd_sized("uvt-msg", 4096);
		msg_add_fd(m, fds[k]);
	}
}

static void assert_fds_closed(const int *fds, int n, uint32_t req)
{
	for (int k = 0; k < n; k++)
		if (!fd_closed(fds[k]))
			fail_msg("request %u: fd %d of %d leaked", req, k, n);
}

/* The well-formed message is accepted on a fresh session with every
 * protocol feature: the refusals below are about what they change. */
static void expect_valid_accepted(uint32_t req)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	int fds[VHOST_USER_MAX_FDS];

	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, ALL_PROTO, &r), 0);
	add_memfds(&m, valid_msg(&m, req), fds);
	if (td_send(td, &m, &r) < 0)
		fail_msg("well-formed request %u refused", req);
	td_free(td);
}

/* ---- header ---- */

static void test_bad_version_flags(void **state)
{
	static const uint32_t bad_flags[] = { 0x0, 0x2, 0x3, 0x0 | VHOST_USER_NEED_REPLY_FLAG };

	(void)state;
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg m, r;
		int fd = new_eventfd();

		msg_init(&m, VHOST_USER_SET_VRING_KICK, 8);
		m.hdr.flags = bad_flags[i];
		msg_add_fd(&m, fd);
		assert_int_equal(td_send(td, &m, &r), -EPROTO);
		assert_no_reply(&r);
		assert_true(fd_closed(fd));
		/* Nothing was applied. */
		assert_int_equal(vu_get_vring_num(td->vu), 0);
		td_free(td);
	}
}

static void test_reply_flag_on_request(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	int fd = new_eventfd();
	struct uvdpa_vhost_stats st;

	(void)state;
	msg_init(&m, VHOST_USER_SET_VRING_CALL, 8);
	m.hdr.flags |= VHOST_USER_REPLY_FLAG;
	msg_add_fd(&m, fd);
	assert_int_equal(td_send(td, &m, &r), -EPROTO);
	assert_no_reply(&r);
	assert_true(fd_closed(fd));
	uvdpa_vhost_get_stats(td->vu, &st);
	assert_int_equal(st.bad_msgs, 1);
	assert_int_equal(st.msgs, 1);
	td_free(td);
}

/* ---- payload sizes ---- */

struct size_case {
	uint32_t req;
	uint32_t size;
};

static void test_wrong_payload_sizes(void **state)
{
	const uint32_t mem_max = sizeof(struct vhost_user_memory);
	const struct size_case bad[] = {
		{ VHOST_USER_GET_FEATURES, 8 },
		{ VHOST_USER_SET_FEATURES, 0 },
		{ VHOST_USER_SET_FEATURES, 4 },
		{ VHOST_USER_SET_FEATURES, 16 },
		{ VHOST_USER_SET_OWNER, 8 },
		{ VHOST_USER_SET_PROTOCOL_FEATURES, 7 },
		{ VHOST_USER_GET_PROTOCOL_FEATURES, 1 },
		{ VHOST_USER_SET_VRING_NUM, 4 },
		{ VHOST_USER_SET_VRING_NUM, 12 },
		{ VHOST_USER_SET_VRING_BASE, 0 },
		{ VHOST_USER_GET_VRING_BASE, 4 },
		{ VHOST_USER_SET_VRING_ADDR, sizeof(struct vhost_user_vring_addr) - 1 },
		{ VHOST_USER_SET_VRING_ADDR, sizeof(struct vhost_user_vring_addr) + 1 },
		{ VHOST_USER_SET_VRING_ENABLE, 16 },
		{ VHOST_USER_SET_VRING_KICK, 4 },
		{ VHOST_USER_SET_VRING_CALL, 16 },
		{ VHOST_USER_SET_MEM_TABLE, 8 },
		{ VHOST_USER_SET_MEM_TABLE, 8 + 31 },
		{ VHOST_USER_SET_MEM_TABLE, mem_max + 1 },
		{ VHOST_USER_SET_LOG_BASE, 8 },
		{ VHOST_USER_SET_LOG_BASE, 24 },
		{ VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE - 1 },
		{ VHOST_USER_SET_INFLIGHT_FD, 16 },
		{ VHOST_USER_GET_INFLIGHT_FD, sizeof(struct vhost_user_inflight) - 1 },
		{ VHOST_USER_GET_INFLIGHT_FD, VHOST_USER_INFLIGHT_PADDED_SIZE + 1 },
		{ VHOST_USER_SET_INFLIGHT_FD, VHOST_USER_INFLIGHT_PADDED_SIZE + 1 },
		{ VHOST_USER_ADD_MEM_REG, 32 },
		{ VHOST_USER_REM_MEM_REG, 48 },
		{ VHOST_USER_SET_STATUS, 1 },
		{ VHOST_USER_SET_FEATURES, VHOST_USER_PAYLOAD_MAX + 1 },
		{ VHOST_USER_GET_FEATURES, UINT32_MAX },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg m, r;
		int fds[VHOST_USER_MAX_FDS], n;

		expect_valid_accepted(bad[i].req);
		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, ALL_PROTO, &r), 0);
		n = valid_msg(&m, bad[i].req);
		add_memfds(&m, n, fds);
		m.hdr.size = bad[i].size;
		if (td_send(td, &m, &r) >= 0)
			fail_msg("request %u with a %u-byte payload was accepted", bad[i].req,
				 bad[i].size);
		assert_no_reply(&r);
		assert_fds_closed(fds, n, bad[i].req);
		td_free(td);
	}
}

/* ---- fd counts ---- */

struct fd_case {
	uint32_t req;
	int nfds;
};

static void test_wrong_fd_counts(void **state)
{
	const struct fd_case bad[] = {
		{ VHOST_USER_SET_FEATURES, 1 },
		{ VHOST_USER_GET_FEATURES, 1 },
		{ VHOST_USER_SET_OWNER, 3 },
		{ VHOST_USER_SET_VRING_NUM, 1 },
		{ VHOST_USER_SET_VRING_ADDR, 1 },
		{ VHOST_USER_GET_VRING_BASE, 2 },
		{ VHOST_USER_SET_VRING_ENABLE, 1 },
		{ VHOST_USER_SET_VRING_KICK, 2 },
		{ VHOST_USER_SET_VRING_CALL, 8 },
		{ VHOST_USER_SET_MEM_TABLE, 0 },
		{ VHOST_USER_SET_MEM_TABLE, 2 },
		{ VHOST_USER_SET_LOG_BASE, 0 },
		{ VHOST_USER_SET_LOG_BASE, 2 },
		{ VHOST_USER_SET_BACKEND_REQ_FD, 0 },
		{ VHOST_USER_SET_BACKEND_REQ_FD, 2 },
		{ VHOST_USER_ADD_MEM_REG, 0 },
		{ VHOST_USER_ADD_MEM_REG, 2 },
		{ VHOST_USER_REM_MEM_REG, 2 },
		{ VHOST_USER_SET_INFLIGHT_FD, 0 },
		{ VHOST_USER_GET_INFLIGHT_FD, 1 },
		{ VHOST_USER_GET_CONFIG, 1 },
		{ VHOST_USER_SET_STATUS, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg m, r;
		int fds[VHOST_USER_MAX_FDS];

		expect_valid_accepted(bad[i].req);
		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, ALL_PROTO, &r), 0);
		valid_msg(&m, bad[i].req);
		add_memfds(&m, bad[i].nfds, fds);
		if (td_send(td, &m, &r) >= 0)
			fail_msg("request %u with %d fds was accepted", bad[i].req, bad[i].nfds);
		assert_fds_closed(fds, bad[i].nfds, bad[i].req);
		td_free(td);
	}
}

/* A caller handing over more fds than a message can carry: refused, and
 * exactly the fds in the array are closed. The message sits in front of
 * known memory, and nfds is the number of a live fd, so that reading past
 * fds[] would close it even without a sanitizer. */
static void test_nfds_out_of_range(void **state)
{
	struct {
		struct vhost_user_msg m;
		int after[64];
	} s;
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	int fds[VHOST_USER_MAX_FDS], bystander, tmp = new_eventfd();

	(void)state;
	bystander = fcntl(tmp, F_DUPFD_CLOEXEC, VHOST_USER_MAX_FDS + 1);
	assert_true(bystander > VHOST_USER_MAX_FDS);
	close(tmp);
	for (int k = 0; k < 64; k++)
		s.after[k] = -1;
	msg_init(&s.m, VHOST_USER_SET_VRING_KICK, 8);
	for (int k = 0; k < VHOST_USER_MAX_FDS; k++)
		msg_add_fd(&s.m, fds[k] = new_eventfd());
	s.m.nfds = bystander;
	assert_int_equal(td_send(td, &s.m, &r), -EPROTO);
	for (int k = 0; k < VHOST_USER_MAX_FDS; k++)
		assert_true(fd_closed(fds[k]));
	assert_false(fd_closed(bystander));

	msg_init(&s.m, VHOST_USER_SET_VRING_KICK, 8);
	s.m.nfds = -1;
	assert_int_equal(td_send(td, &s.m, &r), -EPROTO);
	assert_false(fd_closed(bystander));
	close(bystander);
	td_free(td);
}

/* ---- unknown requests ---- */

static void test_unknown_request_nack(void **state)
{
	static const uint32_t unknown[] = { VHOST_USER_NONE, VHOST_USER_SET_LOG_FD,
					    VHOST_USER_IOTLB_MSG, VHOST_USER_POSTCOPY_ADVISE,
					    VHOST_USER_VRING_KICK, VHOST_USER_REQUEST_MAX, 1000,
					    UINT32_MAX };
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	struct uvdpa_vhost_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		int fd = new_eventfd();

		msg_init(&m, unknown[i], 8);
		msg_add_fd(&m, fd);
		assert_int_equal(td_send(td, &m, &r), 0);
		assert_reply_u64(&r, unknown[i], 1);
		assert_int_equal(r.nfds, 0);
		assert_true(fd_closed(fd));
	}
	uvdpa_vhost_get_stats(td->vu, &st);
	assert_int_equal(st.bad_msgs, sizeof(unknown) / sizeof(unknown[0]));
	/* The session still works. */
	assert_int_equal(td_noarg(td, VHOST_USER_GET_FEATURES, &r), 0);
	assert_reply_u64(&r, VHOST_USER_GET_FEATURES, TD_FEATURES | F_PROTOCOL);
	td_negotiate(td, F_VERSION_1, 0);
	td_free(td);
}

/* ---- protocol features ---- */

struct proto_case {
	uint32_t req;
	uint64_t proto;
};

static void test_requests_need_protocol_feature(void **state)
{
	const struct proto_case cases[] = {
		{ VHOST_USER_GET_QUEUE_NUM, PF(MQ) },
		{ VHOST_USER_SEND_RARP, PF(RARP) },
		{ VHOST_USER_NET_SET_MTU, PF(NET_MTU) },
		{ VHOST_USER_SET_BACKEND_REQ_FD, PF(BACKEND_REQ) },
		{ VHOST_USER_GET_CONFIG, PF(CONFIG) },
		{ VHOST_USER_SET_CONFIG, PF(CONFIG) },
		{ VHOST_USER_GET_INFLIGHT_FD, PF(INFLIGHT_SHMFD) },
		{ VHOST_USER_SET_INFLIGHT_FD, PF(INFLIGHT_SHMFD) },
		{ VHOST_USER_RESET_DEVICE, PF(RESET_DEVICE) },
		{ VHOST_USER_GET_MAX_MEM_SLOTS, PF(CONFIGURE_MEM_SLOTS) },
		{ VHOST_USER_ADD_MEM_REG, PF(CONFIGURE_MEM_SLOTS) },
		{ VHOST_USER_REM_MEM_REG, PF(CONFIGURE_MEM_SLOTS) },
		{ VHOST_USER_SET_STATUS, PF(STATUS) },
		{ VHOST_USER_GET_STATUS, PF(STATUS) },
		{ VHOST_USER_SET_LOG_BASE, PF(LOG_SHMFD) },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg m, r;
		int fds[VHOST_USER_MAX_FDS], n;

		expect_valid_accepted(cases[i].req);
		/* Everything but the one needed (REPLY_ACK included). */
		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES,
					ALL_PROTO & ~cases[i].proto, &r),
				 0);
		n = valid_msg(&m, cases[i].req);
		add_memfds(&m, n, fds);
		m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
		if (td_send(td, &m, &r) >= 0)
			fail_msg("request %u accepted without protocol feature 0x%" PRIx64,
				 cases[i].req, cases[i].proto);
		/* The frontend asked for an ack: it hears of the failure. */
		assert_reply_u64(&r, cases[i].req, 1);
		assert_fds_closed(fds, n, cases[i].req);
		td_free(td);
	}
}

static void test_protocol_features_narrowed_by_device(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;

	(void)state;
	/* The device offers MQ, REPLY_ACK and a bit the library does not know. */
	fakedev_set_protocol_features(td->fake, PF(MQ) | PF(REPLY_ACK) | BIT(40));
	assert_int_equal(td_noarg(td, VHOST_USER_GET_PROTOCOL_FEATURES, &r), 0);
	assert_reply_u64(&r, VHOST_USER_GET_PROTOCOL_FEATURES, PF(MQ) | PF(REPLY_ACK));
	assert_true(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(MQ) | PF(STATUS), &r) < 0);
	assert_int_equal(vu_get_protocol_features(td->vu), 0);
	td_free(td);

	td = td_new(UVDPA_TYPE_NET);
	fakedev_set_protocol_features(td->fake, PF(MQ) | PF(REPLY_ACK));
	assert_true(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, BIT(40), &r) < 0);
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(MQ), &r), 0);
	assert_int_equal(vu_get_protocol_features(td->vu), PF(MQ));
	assert_int_equal(td_noarg(td, VHOST_USER_GET_QUEUE_NUM, &r), 0);
	assert_reply_u64(&r, VHOST_USER_GET_QUEUE_NUM, TD_QUEUES);
	td_free(td);
}

/* ---- REPLY_ACK ---- */

static int send_need_reply_state(struct tdev *td, uint32_t req, uint32_t idx, uint32_t num,
				 struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(m.payload.state));
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.state.index = idx;
	m.payload.state.num = num;
	return td_send(td, &m, r);
}

static int send_need_reply_u64(struct tdev *td, uint32_t req, uint64_t v, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, req == VHOST_USER_SET_OWNER || req == VHOST_USER_GET_FEATURES ? 0 : 8);
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.u64 = v;
	return td_send(td, &m, r);
}

static void test_reply_ack(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;

	(void)state;
	/* Without REPLY_ACK, NEED_REPLY is ignored. */
	assert_int_equal(send_need_reply_u64(td, VHOST_USER_SET_OWNER, 0, &r), 0);
	assert_no_reply(&r);
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES,
				PF(REPLY_ACK) | PF(NET_MTU) | PF(CONFIGURE_MEM_SLOTS), &r),
			 0);

	/* Success: ack 0. */
	assert_int_equal(send_need_reply_u64(td, VHOST_USER_SET_OWNER, 0, &r), 0);
	assert_reply_u64(&r, VHOST_USER_SET_OWNER, 0);
	assert_int_equal(send_need_reply_state(td, VHOST_USER_SET_VRING_NUM, 0, 256, &r), 0);
	assert_reply_u64(&r, VHOST_USER_SET_VRING_NUM, 0);
	assert_int_equal(send_need_reply_u64(td, VHOST_USER_NET_SET_MTU, 1500, &r), 0);
	assert_reply_u64(&r, VHOST_USER_NET_SET_MTU, 0);

	/* A request with its own reply answers with it, not with an ack. */
	assert_int_equal(send_need_reply_u64(td, VHOST_USER_GET_FEATURES, 0, &r), 0);
	assert_reply_u64(&r, VHOST_USER_GET_FEATURES, TD_FEATURES | F_PROTOCOL);

	/* Refused, connection kept: non-zero ack, return 0. */
	assert_int_equal(send_need_reply_u64(td, VHOST_USER_NET_SET_MTU, 67, &r), 0);
	assert_reply_u64(&r, VHOST_USER_NET_SET_MTU, 1);
	assert_int_equal(send_need_reply_u64(td, VHOST_USER_NET_SET_MTU, 65536, &r), 0);
	assert_reply_u64(&r, VHOST_USER_NET_SET_MTU, 1);
	{
		struct vhost_user_msg m;

		msg_init(&m, VHOST_USER_REM_MEM_REG, sizeof(m.payload.mem_reg));
		m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
		m.payload.mem_reg.region = mem_region(0, 4096, 0x1000, 0);
		assert_int_equal(td_send(td, &m, &r), 0);
		assert_reply_u64(&r, VHOST_USER_REM_MEM_REG, 1);
	}
	/* A refused request without NEED_REPLY gets no answer. */
	assert_int_equal(td_u64(td, VHOST_USER_NET_SET_MTU, 10, &r), 0);
	assert_no_reply(&r);

	/* Failed (connection must go): non-zero ack before it does. */
	assert_true(send_need_reply_state(td, VHOST_USER_SET_VRING_NUM, 0, 3, &r) < 0);
	assert_reply_u64(&r, VHOST_USER_SET_VRING_NUM, 1);
	td_free(td);
}

/* ---- ring indexes ---- */

static void test_vring_index_out_of_range(void **state)
{
	static const uint32_t reqs[] = { VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
					 VHOST_USER_GET_VRING_BASE, VHOST_USER_SET_VRING_ENABLE };
	static const uint32_t idxs[] = { UVDPA_VHOST_MAX_VRINGS, 255, 256, 0x10000, 0x80000000u,
					 UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		for (size_t k = 0; k < sizeof(idxs) / sizeof(idxs[0]); k++) {
			struct tdev *td = td_new(UVDPA_TYPE_NET);
			struct vhost_user_msg r;

			if (td_state(td, reqs[i], idxs[k], 1, &r) >= 0)
				fail_msg("request %u accepted vring %u", reqs[i], idxs[k]);
			assert_no_reply(&r);
			td_free(td);
		}
	}
	/* The last valid index works. */
	{
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg r;
		struct vu_vring_info info;

		assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, UVDPA_VHOST_MAX_VRINGS - 1, 64, &r), 0);
		assert_int_equal(vu_get_vring_num(td->vu), UVDPA_VHOST_MAX_VRINGS);
		assert_int_equal(vu_get_vring(td->vu, UVDPA_VHOST_MAX_VRINGS - 1, &info), 0);
		assert_int_equal(info.size, 64);
		assert_int_equal(vu_get_vring(td->vu, UVDPA_VHOST_MAX_VRINGS, &info), -EINVAL);
		td_free(td);
	}
	{
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg r;

		assert_true(td_vring_addr(td, UVDPA_VHOST_MAX_VRINGS, GUEST_UVA, 0, 0, &r) < 0);
		td_free(td);
		/* SET_VRING_ENABLE takes 0 or 1 only. */
		td = td_new(UVDPA_TYPE_NET);
		assert_true(td_state(td, VHOST_USER_SET_VRING_ENABLE, 0, 2, &r) < 0);
		td_free(td);
	}
}

/* Repeated KICK/CALL/ERR and SET_BACKEND_REQ_FD replace the fd they had; a
 * stopped ring gives its fds back. */
static void test_vring_fds_replaced_no_leak(void **state)
{
	static const uint32_t reqs[] = { VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
					 VHOST_USER_SET_VRING_ERR };
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	int fds0 = count_fds(), last[3] = { -1, -1, -1 }, sv[2];

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(BACKEND_REQ), &r), 0);
	for (int round = 0; round < 5; round++) {
		for (int k = 0; k < 3; k++) {
			int fd = new_eventfd();

			assert_int_equal(td_vring_fd(td, reqs[k], 0, fd, &r), 0);
			if (last[k] >= 0)
				assert_true(fd_closed(last[k]));
			last[k] = fd;
		}
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		msg_init(&m, VHOST_USER_SET_BACKEND_REQ_FD, 0);
		msg_add_fd(&m, sv[0]);
		assert_int_equal(td_send(td, &m, &r), 0);
		close(sv[1]);
		assert_int_equal(count_fds(), fds0 + 4);
	}
	/* GET_VRING_BASE stops the ring: kick, call and err are closed. */
	assert_int_equal(td_state(td, VHOST_USER_GET_VRING_BASE, 0, 0, &r), 0);
	for (int k = 0; k < 3; k++)
		assert_true(fd_closed(last[k]));
	assert_int_equal(count_fds(), fds0 + 1);
	td_free(td);
	assert_int_equal(count_fds(), fds0);
}

/* KICK/CALL/ERR: the index is bits 0-7 and bit 8 is NOFD; anything else must
 * be refused rather than masked off (0x1_0000_0001 is not ring 1). */
static void test_vring_fd_index_bits(void **state)
{
	static const uint32_t reqs[] = { VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
					 VHOST_USER_SET_VRING_ERR };
	static const uint64_t payloads[] = { UVDPA_VHOST_MAX_VRINGS, 0xff, 0x100000001ull, 0x201,
					     0x8000000000000000ull, 0xffffffffffffffffull };

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		for (size_t k = 0; k < sizeof(payloads) / sizeof(payloads[0]); k++) {
			struct tdev *td = td_new(UVDPA_TYPE_NET);
			struct vhost_user_msg m, r;
			struct vu_vring_info info;
			int fd = new_eventfd();

			msg_init(&m, reqs[i], 8);
			m.payload.u64 = payloads[k];
			if (!(payloads[k] & VHOST_USER_VRING_NOFD_MASK))
				msg_add_fd(&m, fd);
			if (td_send(td, &m, &r) >= 0)
				fail_msg("request %u accepted payload 0x%" PRIx64, reqs[i],
					 payloads[k]);
			if (!(payloads[k] & VHOST_USER_VRING_NOFD_MASK))
				assert_true(fd_closed(fd));
			else
				close(fd);
			assert_int_equal(vu_get_vring(td->vu, 1, &info), 0);
			assert_int_equal(info.kickfd, -1);
			assert_int_equal(info.callfd, -1);
			assert_int_equal(info.errfd, -1);
			td_free(td);
		}
	}
}

static void test_vring_nofd_mismatch(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;
	struct vu_vring_info info;
	int fd = new_eventfd();

	(void)state;
	/* NOFD with an fd. */
	msg_init(&m, VHOST_USER_SET_VRING_KICK, 8);
	m.payload.u64 = 2 | VHOST_USER_VRING_NOFD_MASK;
	msg_add_fd(&m, fd);
	assert_true(td_send(td, &m, &r) < 0);
	assert_true(fd_closed(fd));
	td_free(td);

	/* An fd announced, none came. */
	td = td_new(UVDPA_TYPE_NET);
	msg_init(&m, VHOST_USER_SET_VRING_CALL, 8);
	m.payload.u64 = 2;
	assert_true(td_send(td, &m, &r) < 0);
	td_free(td);

	/* Both consistent: accepted. */
	td = td_new(UVDPA_TYPE_NET);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_KICK, 2, -1, &r), 0);
	fd = new_eventfd();
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_CALL, 2, fd, &r), 0);
	assert_int_equal(vu_get_vring(td->vu, 2, &info), 0);
	assert_int_equal(info.kickfd, -1);
	assert_int_equal(info.callfd, fd);
	assert_false(fd_closed(fd));
	/* Replacing the call fd closes the old one. */
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_CALL, 2, -1, &r), 0);
	assert_true(fd_closed(fd));
	td_free(td);
}

static void test_vring_num_limits(void **state)
{
	static const uint32_t bad[] = { 0, 3, 100, 257, VU_MAX_QUEUE_SIZE + 1,
					2 * VU_MAX_QUEUE_SIZE, 0x10000, 0x80000000u, UINT32_MAX };
	static const uint32_t good[] = { 1, 2, 256, 1024, VU_MAX_QUEUE_SIZE };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg r;
		struct vu_vring_info info;

		if (td_state(td, VHOST_USER_SET_VRING_NUM, 0, bad[i], &r) >= 0)
			fail_msg("vring size %u accepted", bad[i]);
		assert_int_equal(vu_get_vring(td->vu, 0, &info), 0);
		assert_int_equal(info.size, 0);
		td_free(td);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg r;
		struct vu_vring_info info;

		assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, 0, good[i], &r), 0);
		assert_int_equal(vu_get_vring(td->vu, 0, &info), 0);
		assert_int_equal(info.size, good[i]);
		td_free(td);
	}
}

/* ---- features ---- */

static void test_features_not_offered(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;

	(void)state;
	fakedev_set_features(td->fake, F_VERSION_1 | BIT(5));
	assert_int_equal(td_noarg(td, VHOST_USER_GET_FEATURES, &r), 0);
	/* PROTOCOL_FEATURES is the library's, always offered. */
	assert_reply_u64(&r, VHOST_USER_GET_FEATURES, F_VERSION_1 | BIT(5) | F_PROTOCOL);
	assert_true(td_u64(td, VHOST_USER_SET_FEATURES, F_VERSION_1 | BIT(6), &r) < 0);
	assert_int_equal(uvdpa_vhost_features(td->vu), 0);
	td_free(td);

	td = td_new(UVDPA_TYPE_NET);
	fakedev_set_features(td->fake, F_VERSION_1);
	/* LOG_ALL is not offered by this device. */
	assert_true(td_u64(td, VHOST_USER_SET_FEATURES, F_VERSION_1 | F_LOG_ALL, &r) < 0);
	td_free(td);

	td = td_new(UVDPA_TYPE_NET);
	fakedev_set_features(td->fake, F_VERSION_1 | BIT(5));
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, BIT(5) | F_PROTOCOL, &r), 0);
	assert_int_equal(uvdpa_vhost_features(td->vu), BIT(5) | F_PROTOCOL);
	assert_int_equal(td_count_prefix(td, "set_features"), 1);
	td_free(td);
}

static void test_set_features_while_configured(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	uint8_t *mem = td_start_net(td, 0);
	uint64_t f = F_VERSION_1 | F_PROTOCOL;

	(void)state;
	/* LOG_ALL may change under a running device, and back. */
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f | F_LOG_ALL, &r), 0);
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, f, &r), 0);
	assert_int_equal(td_count(td, "dev_close"), 0);
	/* Anything else may not. */
	assert_true(td_u64(td, VHOST_USER_SET_FEATURES, f | F_EVENT_IDX, &r) < 0);
	assert_int_equal(uvdpa_vhost_features(td->vu), f);
	assert_true(td_u64(td, VHOST_USER_SET_FEATURES, F_PROTOCOL, &r) < 0);
	assert_int_equal(uvdpa_vhost_features(td->vu), f);
	assert_int_equal(td_count(td, "dev_close"), 0);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* ---- config space ---- */

static int get_config(struct tdev *td, uint32_t offset, uint32_t size, uint32_t msg_size,
		      struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_GET_CONFIG, msg_size);
	m.payload.config.offset = offset;
	m.payload.config.size = size;
	return td_send(td, &m, r);
}

static void test_get_config(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg m, r;

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(CONFIG), &r), 0);
	assert_int_equal(get_config(td, 4, 8, VHOST_USER_CONFIG_HDR_SIZE + 8, &r), 0);
	assert_int_equal(r.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG);
	assert_int_equal(r.hdr.size, VHOST_USER_CONFIG_HDR_SIZE + 8);
	assert_int_equal(r.payload.config.offset, 4);
	assert_int_equal(r.payload.config.size, 8);
	assert_memory_equal(r.payload.config.region, td->config + 4, 8);
	assert_int_equal(td_count(td, "get_config 4 8"), 1);

	/* The whole space, exactly. */
	assert_int_equal(get_config(td, 0, 256, VHOST_USER_CONFIG_HDR_SIZE + 256, &r), 0);
	assert_int_equal(r.hdr.size, VHOST_USER_CONFIG_HDR_SIZE + 256);
	assert_memory_equal(r.payload.config.region, td->config, 256);

	/* offset + size beyond 256, including a wrapping offset: the spec's error
	 * answer (an empty payload), and the device is never asked. */
	td_clear_calls(td);
	assert_int_equal(get_config(td, 250, 8, VHOST_USER_CONFIG_HDR_SIZE + 8, &r), 0);
	assert_int_equal(r.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG);
	assert_int_equal(r.hdr.size, 0);
	assert_int_equal(get_config(td, 0xfffffff8u, 16, VHOST_USER_CONFIG_HDR_SIZE + 16, &r), 0);
	assert_int_equal(r.hdr.size, 0);
	assert_int_equal(td_count_prefix(td, "get_config"), 0);

	/* size and message size disagree, or size > 256. */
	assert_true(get_config(td, 0, 16, VHOST_USER_CONFIG_HDR_SIZE + 8, &r) < 0);
	td_free(td);
	td = td_new(UVDPA_TYPE_NET);
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(CONFIG), &r), 0);
	assert_true(get_config(td, 0, 8, VHOST_USER_CONFIG_HDR_SIZE + 16, &r) < 0);
	td_free(td);
	td = td_new(UVDPA_TYPE_NET);
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(CONFIG), &r), 0);
	assert_true(get_config(td, 0, 257, sizeof(struct vhost_user_config), &r) < 0);
	assert_int_equal(td_count_prefix(td, "get_config"), 0);
	td_free(td);

	/* SET_CONFIG: within the space it reaches the device, beyond it is nacked. */
	td = td_new(UVDPA_TYPE_NET);
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(CONFIG) | PF(REPLY_ACK), &r),
			 0);
	msg_init(&m, VHOST_USER_SET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + 2);
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.config.offset = 10;
	m.payload.config.size = 2;
	m.payload.config.region[0] = 0xaa;
	m.payload.config.region[1] = 0xbb;
	assert_int_equal(td_send(td, &m, &r), 0);
	assert_reply_u64(&r, VHOST_USER_SET_CONFIG, 0);
	assert_int_equal(td->config[10], 0xaa);
	assert_int_equal(td->config[11], 0xbb);
	msg_init(&m, VHOST_USER_SET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + 2);
	m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	m.payload.config.offset = 255;
	m.payload.config.size = 2;
	assert_int_equal(td_send(td, &m, &r), 0);
	assert_reply_u64(&r, VHOST_USER_SET_CONFIG, 1);
	assert_int_equal(td_count_prefix(td, "set_config"), 1);
	td_free(td);
}

/* ---- memory slots ---- */

static void test_get_max_mem_slots(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(CONFIGURE_MEM_SLOTS), &r),
			 0);
	assert_int_equal(td_noarg(td, VHOST_USER_GET_MAX_MEM_SLOTS, &r), 0);
	assert_reply_u64(&r, VHOST_USER_GET_MAX_MEM_SLOTS, VU_MAX_MEM_SLOTS);
	assert_true(r.payload.u64 >= 32);
	td_free(td);
}

/* ---- inflight ---- */

static int get_inflight_sized(struct tdev *td, uint16_t nq, uint16_t qs, uint32_t size,
			      struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, size);
	m.payload.inflight.num_queues = nq;
	m.payload.inflight.queue_size = qs;
	return td_send(td, &m, r);
}

static int get_inflight(struct tdev *td, uint16_t nq, uint16_t qs, struct vhost_user_msg *r)
{
	return get_inflight_sized(td, nq, qs, sizeof(r->payload.inflight), r);
}

/* QEMU 7.2 (and libvhost-user, DPDK) send the inflight struct padded to 24
 * bytes and refuse a reply of another size: the reply follows the request. */
static void test_get_inflight_padded(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_BLK);
	struct vhost_user_msg r;
	uint8_t pad[4];

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(INFLIGHT_SHMFD), &r), 0);
	assert_int_equal(get_inflight_sized(td, 1, 128, VHOST_USER_INFLIGHT_PADDED_SIZE, &r), 0);
	assert_int_equal(r.hdr.size, VHOST_USER_INFLIGHT_PADDED_SIZE);
	assert_int_equal(r.payload.inflight.mmap_size, virtq_inflight_queue_bytes(128));
	assert_int_equal(r.payload.inflight.num_queues, 1);
	assert_int_equal(r.payload.inflight.queue_size, 128);
	memcpy(pad, (const uint8_t *)&r.payload + sizeof(r.payload.inflight), sizeof(pad));
	assert_memory_equal(pad, "\0\0\0\0", sizeof(pad));
	assert_int_equal(r.nfds, 1);
	assert_int_equal(get_inflight_sized(td, 1, 128, sizeof(r.payload.inflight), &r), 0);
	assert_int_equal(r.hdr.size, sizeof(r.payload.inflight));
	vu_dev_reset_session(td->vu);
	td_free(td);
}

static int set_inflight(struct tdev *td, uint64_t size, uint64_t offset, uint16_t nq, uint16_t qs,
			int fd, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_INFLIGHT_FD, sizeof(m.payload.inflight));
	m.payload.inflight.mmap_size = size;
	m.payload.inflight.mmap_offset = offset;
	m.payload.inflight.num_queues = nq;
	m.payload.inflight.queue_size = qs;
	msg_add_fd(&m, fd);
	return td_send(td, &m, r);
}

static void test_get_inflight_repeated_no_leak(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_BLK);
	struct vhost_user_msg r;
	int fds0 = count_fds(), maps0 = count_maps("uvdpa-inflight");
	uint64_t qbytes = virtq_inflight_queue_bytes(128), size;
	uint16_t nq, qs;
	const struct virtq_inflight_region *q;

	(void)state;
	assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(INFLIGHT_SHMFD), &r), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(get_inflight(td, 2, 128, &r), 0);
		assert_int_equal(r.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG);
		assert_int_equal(r.hdr.size, sizeof(r.payload.inflight));
		assert_int_equal(r.payload.inflight.mmap_size, 2 * qbytes);
		assert_int_equal(r.payload.inflight.mmap_offset, 0);
		assert_int_equal(r.payload.inflight.num_queues, 2);
		assert_int_equal(r.payload.inflight.queue_size, 128);
		assert_int_equal(r.nfds, 1);
		assert_false(fd_closed(r.fds[0]));
		assert_int_equal(lseek(r.fds[0], 0, SEEK_END), (off_t)(2 * qbytes));
		/* One fd and one mapping, however often the frontend asks. */
		assert_int_equal(count_fds(), fds0 + 1);
		assert_int_equal(count_maps("uvdpa-inflight"), maps0 + 1);
	}
	q = vu_get_inflight(td->vu, &size, &nq, &qs);
	assert_non_null(q);
	assert_int_equal(size, 2 * qbytes);
	assert_int_equal(nq, 2);
	assert_int_equal(qs, 128);
	assert_int_equal(q->version, 1);
	assert_int_equal(q->desc_num, 128);
	q = (const void *)((const uint8_t *)q + qbytes);
	assert_int_equal(q->version, 1);

	/* Bad queue counts and sizes. */
	assert_true(get_inflight(td, 0, 128, &r) < 0);
	assert_true(get_inflight(td, UVDPA_VHOST_MAX_VRINGS + 1, 128, &r) < 0);
	assert_true(get_inflight(td, 1, 100, &r) < 0);
	assert_true(get_inflight(td, 1, 0, &r) < 0);

	vu_dev_reset_session(td->vu);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(count_maps("uvdpa-inflight"), maps0);
	td_free(td);
}

static void test_set_inflight_bad(void **state)
{
	uint64_t need = virtq_inflight_queue_bytes(64) * 2;
	struct {
		uint64_t size, offset;
		uint16_t nq, qs;
		uint64_t fd_size;
	} bad[] = {
		{ need, 0, 0, 64, need },			/* no queues */
		{ need, 0, UVDPA_VHOST_MAX_VRINGS + 1, 64, 1 << 22 },	/* too many */
		{ need, 0, 0xffff, 64, 1 << 22 },
		{ need, 0, 2, 63, need },			/* not a power of two */
		{ need - 1, 0, 2, 64, need },			/* too small for 2x64 */
		{ 0, 0, 2, 64, need },
		{ need, UINT64_MAX - need + 1, 2, 64, need },	/* size + offset wraps */
		{ need, 4096, 2, 64, need },			/* fd too small */
		{ need + 4096, 0, 2, 64, need },
	};
	struct vhost_user_msg r;
	uint64_t size;
	uint16_t nq, qs;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_BLK);
		int fd = memfd_sized("uvt-inflight", bad[i].fd_size);

		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(INFLIGHT_SHMFD), &r),
				 0);
		if (set_inflight(td, bad[i].size, bad[i].offset, bad[i].nq, bad[i].qs, fd, &r) >= 0)
			fail_msg("SET_INFLIGHT_FD case %zu accepted", i);
		assert_true(fd_closed(fd));
		assert_null(vu_get_inflight(td->vu, &size, &nq, &qs));
		td_free(td);
	}

	/* A good one with an offset: the region starts at the offset. */
	{
		struct tdev *td = td_new(UVDPA_TYPE_BLK);
		int fd = memfd_sized("uvt-inflight", need + 8192);
		uint8_t *mine = mmap(NULL, need + 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		uint8_t *base;
		int fds0;

		assert_true(mine != MAP_FAILED);
		mine[8192] = 0x42;
		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(INFLIGHT_SHMFD), &r),
				 0);
		assert_int_equal(set_inflight(td, need, 8192, 2, 64, fd, &r), 0);
		assert_no_reply(&r);
		assert_false(fd_closed(fd));
		base = vu_get_inflight(td->vu, &size, &nq, &qs);
		assert_non_null(base);
		assert_int_equal(base[0], 0x42);
		assert_int_equal(size, need);
		assert_int_equal(nq, 2);
		assert_int_equal(qs, 64);
		/* Replaced by a second one: the first fd is released. */
		fds0 = count_fds();
		assert_int_equal(set_inflight(td, need, 0, 2, 64, memfd_sized("uvt-inflight", need),
					      &r),
				 0);
		assert_true(fd_closed(fd));
		assert_int_equal(count_fds(), fds0);
		munmap(mine, need + 8192);
		td_free(td);
	}
}

/* ---- dirty log base ---- */

static void test_set_log_base_bad(void **state)
{
	struct {
		uint64_t size, offset, fd_size;
	} bad[] = {
		{ 0, 0, 4096 },
		{ UINT64_MAX, 1, 4096 },
		{ 1, UINT64_MAX, 4096 },
		{ UINT64_MAX / 2, UINT64_MAX / 2 + 2, 4096 },
		{ 8192, 0, 4096 },		/* fd smaller than the log */
		{ 4096, 1, 4096 },		/* offset pushes it past the end */
		{ 1ull << 62, 0, 4096 },
	};
	struct vhost_user_msg r;
	void *base;
	uint64_t size;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		int fd = memfd_sized("uvt-log", bad[i].fd_size);

		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(LOG_SHMFD), &r), 0);
		if (td_log_base(td, bad[i].size, bad[i].offset, fd, &r) >= 0)
			fail_msg("SET_LOG_BASE size 0x%" PRIx64 " offset 0x%" PRIx64 " accepted",
				 bad[i].size, bad[i].offset);
		assert_no_reply(&r);
		assert_true(fd_closed(fd));
		assert_int_equal(vu_get_log_base(td->vu, &base, &size, NULL, NULL), -ENOENT);
		td_free(td);
	}
	/* A good one: QEMU waits for a zero reply. */
	{
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		int fd = memfd_sized("uvt-log", 8192), lfd = -1;
		uint64_t off = 0;

		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, PF(LOG_SHMFD), &r), 0);
		assert_int_equal(td_log_base(td, 4096, 4096, fd, &r), 0);
		assert_reply_u64(&r, VHOST_USER_SET_LOG_BASE, 0);
		assert_int_equal(vu_get_log_base(td->vu, &base, &size, &lfd, &off), 0);
		assert_int_equal(size, 4096);
		assert_int_equal(off, 4096);
		assert_int_equal(lfd, fd);
		td_free(td);
		assert_true(fd_closed(fd));
	}
}

/* ---- SET_MEM_TABLE ---- */

static void test_mem_table_nregions(void **state)
{
	struct vhost_user_msg m, r;
	int fds[VHOST_USER_MAX_FDS];

	(void)state;
	/* nregions 0, 9, UINT32_MAX with as many fds as fit. */
	{
		static const uint32_t counts[] = { 0, VHOST_USER_MAX_REGIONS + 1, UINT32_MAX };

		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			struct tdev *td = td_new(UVDPA_TYPE_NET);

			msg_init(&m, VHOST_USER_SET_MEM_TABLE, sizeof(struct vhost_user_memory));
			m.payload.memory.nregions = counts[c];
			for (int k = 0; k < VHOST_USER_MAX_FDS; k++) {
				m.payload.memory.regions[k] =
					mem_region(k * 0x10000ull, 0x1000, 0x1000000 + k * 0x10000ull, 0);
				msg_add_fd(&m, fds[k] = memfd_sized("uvt-mem", 0x1000));
			}
			if (td_send(td, &m, &r) >= 0)
				fail_msg("SET_MEM_TABLE with %u regions accepted", counts[c]);
			for (int k = 0; k < VHOST_USER_MAX_FDS; k++)
				assert_true(fd_closed(fds[k]));
			td_free(td);
		}
	}
	/* nregions != nfds, both ways. */
	{
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_mem_region regs[2] = { mem_region(0, 0x1000, 0x10000, 0),
							 mem_region(0x1000, 0x1000, 0x11000, 0) };
		unsigned int n;

		msg_init(&m, VHOST_USER_SET_MEM_TABLE, 8 + 2 * sizeof(regs[0]));
		m.payload.memory.nregions = 2;
		memcpy(m.payload.memory.regions, regs, sizeof(regs));
		msg_add_fd(&m, fds[0] = memfd_sized("uvt-mem", 0x1000));
		assert_true(td_send(td, &m, &r) < 0);
		assert_true(fd_closed(fds[0]));
		vu_get_mem_table(td->vu, &n);
		assert_int_equal(n, 0);
		td_free(td);

		td = td_new(UVDPA_TYPE_NET);
		msg_init(&m, VHOST_USER_SET_MEM_TABLE, 8 + 2 * sizeof(regs[0]));
		m.payload.memory.nregions = 1;
		memcpy(m.payload.memory.regions, regs, sizeof(regs));
		for (int k = 0; k < 3; k++)
			msg_add_fd(&m, fds[k] = memfd_sized("uvt-mem", 0x1000));
		assert_true(td_send(td, &m, &r) < 0);
		for (int k = 0; k < 3; k++)
			assert_true(fd_closed(fds[k]));
		td_free(td);

		/* Two regions claimed, the payload only holds one. */
		td = td_new(UVDPA_TYPE_NET);
		msg_init(&m, VHOST_USER_SET_MEM_TABLE, 8 + sizeof(regs[0]));
		m.payload.memory.nregions = 2;
		memcpy(m.payload.memory.regions, regs, sizeof(regs));
		for (int k = 0; k < 2; k++)
			msg_add_fd(&m, fds[k] = memfd_sized("uvt-mem", 0x1000));
		assert_true(td_send(td, &m, &r) < 0);
		for (int k = 0; k < 2; k++)
			assert_true(fd_closed(fds[k]));
		td_free(td);
	}
	/* All 8 is fine. */
	{
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_mem_region regs[VHOST_USER_MAX_REGIONS];
		unsigned int n;

		for (int k = 0; k < VHOST_USER_MAX_REGIONS; k++) {
			regs[k] = mem_region(k * 0x10000ull, 0x1000, 0x1000000 + k * 0x10000ull, 0);
			fds[k] = memfd_sized("uvt-mem", 0x1000);
		}
		assert_int_equal(td_mem_table(td, regs, VHOST_USER_MAX_REGIONS, fds, &r), 0);
		vu_get_mem_table(td->vu, &n);
		assert_int_equal(n, VHOST_USER_MAX_REGIONS);
		td_free(td);
		for (int k = 0; k < VHOST_USER_MAX_REGIONS; k++)
			assert_true(fd_closed(fds[k]));
	}
}

static void expect_mem_table_refused(const struct vhost_user_mem_region *regs, unsigned int n,
				     const uint64_t *fd_sizes, const char *what)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_msg r;
	int fds[VHOST_USER_MAX_REGIONS];
	unsigned int got;
	int maps0 = count_maps("uvt-mem");

	for (unsigned int k = 0; k < n; k++)
		fds[k] = memfd_sized("uvt-mem", fd_sizes[k]);
	if (td_mem_table(td, regs, n, fds, &r) >= 0)
		fail_msg("SET_MEM_TABLE accepted %s", what);
	for (unsigned int k = 0; k < n; k++)
		assert_true(fd_closed(fds[k]));
	vu_get_mem_table(td->vu, &got);
	assert_int_equal(got, 0);
	/* Nothing stays mapped from the regions that were fine. */
	assert_int_equal(count_maps("uvt-mem"), maps0);
	td_free(td);
}

static void test_mem_table_bad_regions(void **state)
{
	const uint64_t sz[3] = { 0x2000, 0x2000, 0x2000 };
	struct vhost_user_mem_region regs[3];

	(void)state;
	regs[0] = mem_region(0x0, 0x2000, 0x100000, 0);
	regs[1] = mem_region(0x1000, 0x2000, 0x200000, 0);
	expect_mem_table_refused(regs, 2, sz, "regions overlapping in gpa");

	regs[1] = mem_region(0x10000, 0x2000, 0x101000, 0);
	expect_mem_table_refused(regs, 2, sz, "regions overlapping in uaddr");

	regs[1] = mem_region(0x10000, 0x2000, 0x200000, 0);
	regs[2] = mem_region(0x1fff, 0x1, 0x300000, 0);
	expect_mem_table_refused(regs, 3, sz, "a one-byte region inside another");

	{
		const uint64_t small[2] = { 0x2000, 0x1000 };

		regs[1] = mem_region(0x10000, 0x2000, 0x200000, 0);
		expect_mem_table_refused(regs, 2, small, "a region larger than its memfd");
		regs[1] = mem_region(0x10000, 0x1000, 0x200000, 0x1000);
		expect_mem_table_refused(regs, 2, small, "a region whose offset passes its memfd");
	}
	regs[1] = mem_region(0x10000, 0, 0x200000, 0);
	expect_mem_table_refused(regs, 2, sz, "a zero-size region");
	regs[1] = mem_region(UINT64_MAX - 0xfff, 0x2000, 0x200000, 0);
	expect_mem_table_refused(regs, 2, sz, "a region whose gpa wraps");
	regs[1] = mem_region(0x10000, 0x2000, UINT64_MAX - 0xfff, 0);
	expect_mem_table_refused(regs, 2, sz, "a region whose uaddr wraps");
	regs[1] = mem_region(0x10000, 0x2000, 0x200000, UINT64_MAX - 0xfff);
	expect_mem_table_refused(regs, 2, sz, "a region whose offset wraps");

	/* Adjacent regions are fine. */
	{
		struct tdev *td = td_new(UVDPA_TYPE_NET);
		struct vhost_user_msg r;
		int fds[2] = { memfd_sized("uvt-mem", 0x2000), memfd_sized("uvt-mem", 0x2000) };

		regs[1] = mem_region(0x2000, 0x2000, 0x102000, 0);
		assert_int_equal(td_mem_table(td, regs, 2, fds, &r), 0);
		td_free(td);
	}
}

static void test_mem_table_repeat_no_remap(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct vhost_user_mem_region d = mem_region(GUEST_GPA, GUEST_SIZE, GUEST_UVA, 0);
	struct vhost_user_msg r;
	const struct vu_mem_region *t;
	uint8_t *mem = td_start_net(td, 0);
	void *host;
	unsigned int n;
	int maps0 = count_maps("uvt-guest"), fd, kept_fd;

	(void)state;
	t = vu_get_mem_table(td->vu, &n);
	assert_int_equal(n, 1);
	host = t[0].host;
	kept_fd = t[0].fd;
	/* QEMU sends the same table once per queue pair. */
	for (int i = 0; i < 3; i++) {
		fd = memfd_sized("uvt-guest", GUEST_SIZE);
		assert_int_equal(td_mem_table(td, &d, 1, &fd, &r), 0);
		assert_true(fd_closed(fd));
		t = vu_get_mem_table(td->vu, &n);
		assert_int_equal(n, 1);
		assert_ptr_equal(t[0].host, host);
		assert_int_equal(t[0].fd, kept_fd);
		assert_false(fd_closed(kept_fd));
		assert_int_equal(count_maps("uvt-guest"), maps0);
	}
	assert_int_equal(td->ncalls, 0);
	{
		struct vu_vring_info info;

		assert_int_equal(vu_get_vring(td->vu, 0, &info), 0);
		assert_true(info.ready);
		assert_ptr_equal(info.desc, host);
	}
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_version_flags),
		cmocka_unit_test(test_reply_flag_on_request),
		cmocka_unit_test(test_wrong_payload_sizes),
		cmocka_unit_test(test_wrong_fd_counts),
		cmocka_unit_test(test_nfds_out_of_range),
		cmocka_unit_test(test_unknown_request_nack),
		cmocka_unit_test(test_requests_need_protocol_feature),
		cmocka_unit_test(test_protocol_features_narrowed_by_device),
		cmocka_unit_test(test_reply_ack),
		cmocka_unit_test(test_vring_index_out_of_range),
		cmocka_unit_test(test_vring_fd_index_bits),
		cmocka_unit_test(test_vring_fds_replaced_no_leak),
		cmocka_unit_test(test_vring_nofd_mismatch),
		cmocka_unit_test(test_vring_num_limits),
		cmocka_unit_test(test_features_not_offered),
		cmocka_unit_test(test_set_features_while_configured),
		cmocka_unit_test(test_get_config),
		cmocka_unit_test(test_get_max_mem_slots),
		cmocka_unit_test(test_get_inflight_repeated_no_leak),
		cmocka_unit_test(test_get_inflight_padded),
		cmocka_unit_test(test_set_inflight_bad),
		cmocka_unit_test(test_set_log_base_bad),
		cmocka_unit_test(test_mem_table_nregions),
		cmocka_unit_test(test_mem_table_bad_regions),
		cmocka_unit_test(test_mem_table_repeat_no_remap),
	};

	uvdpa_log_set_level(UVDPA_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
