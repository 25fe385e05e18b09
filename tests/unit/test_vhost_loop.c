/* The vhost-user library embedded in a foreign event loop: a toy poll()-based
 * loop written here supplies the watch ops, and a frontend on the other end
 * of the socket drives a session end to end. Also the protocol order: the
 * reply goes out before the device starts, and host-notifier messages the
 * device asks for come after that reply. */
#include <poll.h>
#include <sys/un.h>

#include "vu_test_util.h"

/* ---- A toy embedder loop ---- */

#define TOY_MAX 8

struct toy_watch {
	int fd;			/* -1: free slot */
	uvdpa_vhost_watch_cb cb;
	void *opaque;
};

struct toy_loop {
	struct toy_watch w[TOY_MAX];
	unsigned int adds, dels;
};

static void *toy_watch_add(void *loop, int fd, uvdpa_vhost_watch_cb cb, void *opaque)
{
	struct toy_loop *l = loop;

	for (int i = 0; i < TOY_MAX; i++) {
		if (l->w[i].fd < 0) {
			l->w[i] = (struct toy_watch){ fd, cb, opaque };
			l->adds++;
			return &l->w[i];
		}
	}
	errno = ENOSPC;
	return NULL;
}

static void toy_watch_del(void *loop, void *watch)
{
	struct toy_loop *l = loop;

	((struct toy_watch *)watch)->fd = -1;
	l->dels++;
}

static const struct uvdpa_vhost_loop_ops toy_ops = {
	.watch_add = toy_watch_add,
	.watch_del = toy_watch_del,
};

static void toy_init(struct toy_loop *l)
{
	memset(l, 0, sizeof(*l));
	for (int i = 0; i < TOY_MAX; i++)
		l->w[i].fd = -1;
}

/* One round: polls every watched fd and calls back the readable ones. */
static int toy_run_once(struct toy_loop *l, int timeout_ms)
{
	struct pollfd p[TOY_MAX];
	int idx[TOY_MAX], n = 0, ran = 0;

	for (int i = 0; i < TOY_MAX; i++) {
		if (l->w[i].fd < 0)
			continue;
		p[n] = (struct pollfd){ .fd = l->w[i].fd, .events = POLLIN };
		idx[n++] = i;
	}
	if (poll(p, (nfds_t)n, timeout_ms) <= 0)
		return 0;
	for (int k = 0; k < n; k++) {
		struct toy_watch *w = &l->w[idx[k]];

		/* A callback may have removed this watch meanwhile. */
		if (!(p[k].revents & (POLLIN | POLLHUP)) || w->fd != p[k].fd)
			continue;
		w->cb(w->fd, w->opaque);
		ran++;
	}
	return ran;
}

/* ---- The frontend end ---- */

struct fe {
	struct toy_loop loop;
	struct tdev *td;
	struct uvdpa_vhost *vu;
	int sock;
	char path[108];
};

static void fe_send(struct fe *f, struct vhost_user_msg *m)
{
	char control[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(m->hdr) + m->hdr.size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (m->nfds) {
		struct cmsghdr *c;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(m->nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(m->nfds * sizeof(int));
		memcpy(CMSG_DATA(c), m->fds, m->nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(f->sock, &mh, 0), (ssize_t)iov.iov_len);
	/* Our copies: the library got its own. */
	for (int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
}

/* Reads one whole message; its fds are closed (the tests only count them). */
static void recv_one(int fd, struct vhost_user_msg *m)
{
	fe_recv_msg(fd, m);
	for (int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Sends m and lets the library handle it: exactly one loop round. */
static void fe_request(struct fe *f, struct vhost_user_msg *m)
{
	fe_send(f, m);
	assert_true(toy_run_once(&f->loop, 1000) >= 1);
}

static void fe_u64(struct fe *f, uint32_t req, uint64_t v, bool need_reply)
{
	struct vhost_user_msg m;

	msg_init(&m, req, 8);
	m.payload.u64 = v;
	if (need_reply)
		m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	fe_request(f, &m);
}

static void fe_state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num, bool need_reply)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(m.payload.state));
	m.payload.state.index = idx;
	m.payload.state.num = num;
	if (need_reply)
		m.hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	fe_request(f, &m);
}

static void fe_ring(struct fe *f, uint16_t idx)
{
	struct vhost_user_msg m;

	fe_state(f, VHOST_USER_SET_VRING_NUM, idx, RING_SIZE, false);
	fe_state(f, VHOST_USER_SET_VRING_BASE, idx, 0, false);
	msg_init(&m, VHOST_USER_SET_VRING_ADDR, sizeof(m.payload.addr));
	m.payload.addr.index = idx;
	m.payload.addr.desc_user_addr = GUEST_UVA + idx * RING_STRIDE;
	m.payload.addr.avail_user_addr = GUEST_UVA + idx * RING_STRIDE + 0x1000;
	m.payload.addr.used_user_addr = GUEST_UVA + idx * RING_STRIDE + 0x2000;
	fe_request(f, &m);
	for (uint32_t req = VHOST_USER_SET_VRING_KICK; req <= VHOST_USER_SET_VRING_CALL; req++) {
		msg_init(&m, req, 8);
		m.payload.u64 = idx;
		msg_add_fd(&m, new_eventfd());
		fe_request(f, &m);
	}
}

static void fe_open(struct fe *f, struct tdev *td)
{
	struct uvdpa_vhost_loop vl = { .ops = &toy_ops, .loop = &f->loop };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	toy_init(&f->loop);
	f->td = td;
	snprintf(f->path, sizeof(f->path), "/tmp/uvdpa-test-loop-%d.sock", getpid());
	unlink(f->path);
	f->vu = uvdpa_vhost_new(&vl, f->path, 0, td->vdpa);
	assert_non_null(f->vu);
	/* The device's session is this endpoint's, not td_new's detached one. */
	uvdpa_vhost_free(td->vu);
	td->vu = f->vu;
	assert_int_equal(f->loop.adds, 1);	/* the listening socket */
	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(toy_run_once(&f->loop, 1000), 1);	/* accept */
	assert_true(uvdpa_vhost_connected(f->vu));
	assert_int_equal(f->loop.adds, 2);
}

static void fe_close(struct fe *f)
{
	close(f->sock);
	assert_int_equal(toy_run_once(&f->loop, 1000), 1);	/* hang-up seen */
	assert_false(uvdpa_vhost_connected(f->vu));
	uvdpa_vhost_free(f->vu);
	f->td->vu = NULL;
	assert_int_equal(f->loop.dels, f->loop.adds);
	for (int i = 0; i < TOY_MAX; i++)
		assert_int_equal(f->loop.w[i].fd, -1);
}

/* Negotiates, maps the standard guest and sets up rings 0 and 1, leaving
 * ring 1 disabled: enabling it is what makes the device ready. */
static uint8_t *fe_almost_ready(struct fe *f, uint64_t proto)
{
	struct vhost_user_mem_region d = mem_region(GUEST_GPA, GUEST_SIZE, GUEST_UVA, 0);
	struct vhost_user_msg m;
	int fd = memfd_sized("uvt-guest", GUEST_SIZE);
	uint8_t *mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	assert_true(mem != MAP_FAILED);
	msg_init(&m, VHOST_USER_SET_OWNER, 0);
	fe_request(f, &m);
	msg_init(&m, VHOST_USER_GET_FEATURES, 0);
	fe_request(f, &m);
	recv_one(f->sock, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_GET_FEATURES);
	fe_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, proto, false);
	fe_u64(f, VHOST_USER_SET_FEATURES, F_VERSION_1 | F_PROTOCOL, false);
	msg_init(&m, VHOST_USER_SET_MEM_TABLE, 8 + sizeof(d));
	m.payload.memory.nregions = 1;
	m.payload.memory.regions[0] = d;
	msg_add_fd(&m, fd);
	fe_request(f, &m);
	fe_ring(f, 0);
	fe_ring(f, 1);
	fe_state(f, VHOST_USER_SET_VRING_ENABLE, 0, 1, false);
	assert_false(readable(f->sock));
	assert_int_equal(td_count(f->td, "dev_conf"), 0);
	return mem;
}

/* A whole session through the toy loop: the device starts, answers, stops;
 * the start and the stop are timed once each. */
static void test_toy_loop_session(void **state)
{
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct uvdpa_op_timing conf, close_t;
	struct vhost_user_msg m;
	struct fe f;
	uint8_t *mem;

	(void)state;
	fe_open(&f, td);
	mem = fe_almost_ready(&f, PF(REPLY_ACK));
	uvdpa_vhost_get_op_timing(f.vu, &conf, &close_t);
	assert_int_equal(conf.count, 0);
	assert_int_equal(close_t.count, 0);
	fe_state(&f, VHOST_USER_SET_VRING_ENABLE, 1, 1, true);
	recv_one(f.sock, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_SET_VRING_ENABLE);
	assert_int_equal(m.payload.u64, 0);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	/* GET_VRING_BASE: dev_close before the answer. */
	fe_state(&f, VHOST_USER_GET_VRING_BASE, 0, 0, false);
	assert_int_equal(td_count(td, "dev_close"), 1);
	recv_one(f.sock, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_GET_VRING_BASE);
	assert_int_equal(m.payload.state.index, 0);
	uvdpa_vhost_get_op_timing(f.vu, &conf, NULL);
	uvdpa_vhost_get_op_timing(f.vu, NULL, &close_t);
	assert_int_equal(conf.count, 1);
	assert_int_equal(close_t.count, 1);
	assert_int_equal(conf.last_us, conf.max_us);
	assert_int_equal(close_t.last_us, close_t.min_us);
	fe_close(&f);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

/* dev_conf runs before the reply to the message that makes the device
 * ready is on the socket (a frontend waiting for that reply finds the
 * device running), and what the starting device asks of the frontend (a
 * host notifier) is queued until the reply was sent. */
static struct fe *order_fe;
static int order_backend_fd;
static bool reply_before_conf, notifier_before_reply;
static const struct uvdpa_device_ops *fake_ops;

static int conf_checks_reply(struct uvdpa_device *d, struct uvdpa_session *s)
{
	reply_before_conf = readable(order_fe->sock);
	/* Asynchronous: queued behind the reply, sent after it. */
	assert_int_equal(uvdpa_session_host_notifier_ctrl(s, 0, true), 0);
	notifier_before_reply = readable(order_backend_fd);
	return fake_ops->dev_conf(d, s);
}

static void test_dev_conf_before_reply(void **state)
{
	const uint64_t proto = PF(REPLY_ACK) | PF(BACKEND_REQ) | PF(BACKEND_SEND_FD) |
			       PF(HOST_NOTIFIER);
	struct tdev *td = td_new(UVDPA_TYPE_NET);
	struct uvdpa_device_ops ops = *td->vdpa->ops;
	struct vhost_user_msg m;
	struct fe f;
	uint8_t *mem;
	int sv[2];

	(void)state;
	ops.dev_conf = conf_checks_reply;
	fake_ops = td->vdpa->ops;
	td->vdpa->ops = &ops;
	td_set_notify(td, memfd_sized("uvt-notify", 0x10000), 0, 4096);
	order_fe = &f;
	reply_before_conf = notifier_before_reply = true;
	fe_open(&f, td);
	mem = fe_almost_ready(&f, proto);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	msg_init(&m, VHOST_USER_SET_BACKEND_REQ_FD, 0);
	msg_add_fd(&m, sv[0]);
	fe_request(&f, &m);
	order_backend_fd = sv[1];

	fe_state(&f, VHOST_USER_SET_VRING_ENABLE, 1, 1, true);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	assert_false(reply_before_conf);
	assert_false(notifier_before_reply);
	recv_one(f.sock, &m);
	assert_int_equal(m.hdr.request, VHOST_USER_SET_VRING_ENABLE);
	/* The host notifier came on the backend channel after the reply. */
	recv_one(sv[1], &m);
	assert_int_equal(m.hdr.request, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG);
	assert_int_equal(m.hdr.flags, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_FLAG);
	assert_int_equal(m.nfds, 1);
	assert_false(readable(sv[1]));
	close(sv[1]);
	fe_close(&f);
	close(td->notify_fd);
	munmap(mem, GUEST_SIZE);
	td_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_toy_loop_session),
		cmocka_unit_test(test_dev_conf_before_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
