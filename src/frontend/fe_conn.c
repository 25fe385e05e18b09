/* Test frontend transport: the unix socket to the backend (client with
 * back-off, or server), message framing with SCM_RIGHTS, and the raw API. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frontend/fe_wire.h"
#include "frontend/frontend.h"
#include "core/log.h"

#define TAG "fe-conn"
#define CONNECT_BACKOFF_MIN_MS 10
#define CONNECT_BACKOFF_MAX_MS 500

int64_t fe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - fe_now_ms();
	return left < 0 ? 0 : (int)left;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : fe_now_ms() + timeout_ms;
}

/* ---- framing ---- */

int fe_wire_write(int fd, const struct vhost_user_header *hdr, const void *payload,
		  size_t payload_len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FE_RAW_MAX_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov[2];
	struct msghdr mh;
	size_t total = sizeof(*hdr) + payload_len, done = 0;

	if (nfds < 0 || nfds > FE_RAW_MAX_FDS)
		return -EINVAL;
	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = (void *)hdr;
	iov[0].iov_len = sizeof(*hdr);
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = payload_len;
	mh.msg_iov = iov;
	mh.msg_iovlen = payload_len ? 2 : 1;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}

	while (done < total) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = fd, .events = POLLOUT };

				poll(&p, 1, 100);
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return -ECONNRESET;
			return -errno;
		}
		done += (size_t)n;
		/* The fds went with the first byte; send the rest plain. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov[0].iov_len) {
			n -= (ssize_t)mh.msg_iov[0].iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + n;
			mh.msg_iov[0].iov_len -= (size_t)n;
		}
	}
	return 0;
}

void fe_wire_close_fds(struct vhost_user_msg *msg)
{
	int i;

	for (i = 0; i < msg->nfds && i < VHOST_USER_MAX_FDS; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Reads exactly len bytes that are expected to follow promptly. */
static int read_rest(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_readable(fd, timeout_ms);

				if (r == -ETIMEDOUT)
					return -EPROTO;	/* message cut short */
				if (r < 0)
					return r;
				continue;
			}
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

static int take_fds(struct msghdr *mh, struct vhost_user_msg *msg)
{
	struct cmsghdr *cm;
	int extra = 0;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n, i;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (msg->nfds < VHOST_USER_MAX_FDS) {
				msg->fds[msg->nfds++] = fd;
			} else {
				close(fd);
				extra++;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		extra++;
	return extra ? -EPROTO : 0;
}

int fe_wire_read(int fd, struct vhost_user_msg *msg, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FE_RAW_MAX_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;
	int r, fds_err;

	memset(msg, 0, sizeof(*msg));
	msg->nfds = 0;
	r = wait_readable(fd, timeout_ms);
	if (r < 0)
		return r;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &msg->hdr;
	iov.iov_len = sizeof(msg->hdr);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctrl.buf;
	mh.msg_controllen = sizeof(ctrl.buf);
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return (errno == ECONNRESET) ? -ECONNRESET : (errno == EAGAIN ? -ETIMEDOUT : -errno);
	fds_err = take_fds(&mh, msg);
	if ((size_t)n < sizeof(msg->hdr)) {
		r = read_rest(fd, (char *)&msg->hdr + n, sizeof(msg->hdr) - (size_t)n, 1000);
		if (r < 0)
			goto fail;
	}
	if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX) {
		LOG_WARN(TAG, "message %u announces %u payload bytes (max %u)", msg->hdr.request,
			 msg->hdr.size, VHOST_USER_PAYLOAD_MAX);
		r = -EPROTO;
		goto fail;
	}
	if (msg->hdr.size) {
		r = read_rest(fd, &msg->payload, msg->hdr.size, 1000);
		if (r < 0)
			goto fail;
	}
	if (fds_err) {
		r = fds_err;
		goto fail;
	}
	return 0;
fail:
	fe_wire_close_fds(msg);
	return r;
}

/* ---- connection ---- */

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len);
	return 0;
}

int fe_conn_init(struct fe_conn *c, const char *path, bool server)
{
	struct sockaddr_un sa;
	struct stat st;
	int r;

	memset(c, 0, sizeof(*c));
	c->sock = c->listen_fd = c->backend_fd = -1;
	c->server = server;
	c->reply_timeout_ms = 5000;
	r = make_addr(path, &sa);
	if (r < 0)
		return r;
	memcpy(c->path, path, strlen(path) + 1);
	if (!server)
		return 0;

	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		return -errno;
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->listen_fd, 1) < 0) {
		r = -errno;
		LOG_ERR(TAG, "cannot listen on %s: %s", path, strerror(-r));
		close(c->listen_fd);
		c->listen_fd = -1;
		return r;
	}
	return 0;
}

static int connect_once(struct fe_conn *c)
{
	struct sockaddr_un sa;
	int fd, r;

	r = make_addr(c->path, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	c->sock = fd;
	return 0;
}

int fe_conn_establish(struct fe_conn *c, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	int backoff = CONNECT_BACKOFF_MIN_MS;
	int r;

	if (c->sock >= 0)
		return -EISCONN;
	c->peer_closed = false;
	if (c->server) {
		r = wait_readable(c->listen_fd, timeout_ms);
		if (r < 0)
			return r;
		c->sock = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c->sock < 0)
			return -errno;
		LOG_INFO(TAG, "backend connected on %s", c->path);
		return 0;
	}
	for (;;) {
		int left;

		r = connect_once(c);
		if (r == 0) {
			LOG_INFO(TAG, "connected to %s", c->path);
			return 0;
		}
		if (r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN)
			return r;
		left = remaining_ms(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		if (left > 0 && backoff > left)
			backoff = left;
		usleep((useconds_t)backoff * 1000);
		backoff = backoff * 2 > CONNECT_BACKOFF_MAX_MS ? CONNECT_BACKOFF_MAX_MS : backoff * 2;
	}
}

void fe_conn_close(struct fe_conn *c)
{
	for (unsigned int i = 0; i < FE_MAX_VRINGS; i++)
		fe_notifier_unmap(&c->notifiers[i]);
	if (c->sock >= 0)
		close(c->sock);
	if (c->backend_fd >= 0)
		close(c->backend_fd);
	c->sock = c->backend_fd = -1;
}

void fe_conn_fini(struct fe_conn *c)
{
	fe_conn_close(c);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		c->listen_fd = -1;
		unlink(c->path);
	}
}

int fe_conn_send(struct fe_conn *c, const struct vhost_user_header *hdr, const void *payload,
		 size_t payload_len, const int *fds, int nfds)
{
	int r;

	if (c->sock < 0)
		return -ENOTCONN;
	r = fe_wire_write(c->sock, hdr, payload, payload_len, fds, nfds);
	if (r == -ECONNRESET)
		c->peer_closed = true;
	if (r == 0)
		c->msgs_sent++;
	return r;
}

int fe_conn_recv(struct fe_conn *c, struct vhost_user_msg *msg, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);

	if (c->sock < 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->sock, .events = POLLIN },
			{ .fd = c->backend_fd, .events = POLLIN },
		};
		int r;

		r = poll(p, c->backend_fd >= 0 ? 2 : 1, remaining_ms(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		/* The backend may need an answer on its channel before it can
		 * answer us (it may block on its own request). */
		if (c->backend_fd >= 0 && p[1].revents)
			fe_backend_channel_serve(c);
		if (p[0].revents) {
			r = fe_wire_read(c->sock, msg, 0);
			if (r == -ETIMEDOUT)
				continue;
			if (r == -ECONNRESET)
				c->peer_closed = true;
			if (r == 0)
				c->msgs_received++;
			return r;
		}
	}
}

int fe_conn_poll(struct fe_conn *c, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);

	if (c->sock < 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->sock, .events = POLLIN | POLLRDHUP },
			{ .fd = c->backend_fd, .events = POLLIN },
		};
		int r = poll(p, c->backend_fd >= 0 ? 2 : 1, remaining_ms(deadline));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return 0;
		if (c->backend_fd >= 0 && p[1].revents)
			fe_backend_channel_serve(c);
		if (p[0].revents) {
			struct vhost_user_msg msg;

			/* Nothing is owed to us on the session socket: this is
			 * either the close or a stray message to drop. */
			r = fe_wire_read(c->sock, &msg, 0);
			if (r == -ECONNRESET || (p[0].revents & (POLLHUP | POLLERR))) {
				c->peer_closed = true;
				return -ECONNRESET;
			}
			if (r == 0) {
				LOG_WARN(TAG, "unsolicited message %u (%s) from the backend dropped",
					 msg.hdr.request, vhost_user_request_name(msg.hdr.request));
				fe_wire_close_fds(&msg);
			} else if (r == -EPROTO) {
				c->peer_closed = true;
				return -ECONNRESET;
			}
		}
		if (remaining_ms(deadline) == 0)
			return 0;
	}
}

/* ---- raw API ---- */

int fe_raw_send(struct fe_conn *c, uint32_t request, uint32_t flags, uint32_t size_field,
		const void *payload, size_t payload_len, const int *fds, int nfds)
{
	struct vhost_user_header hdr = { .request = request, .flags = flags, .size = size_field };

	return fe_conn_send(c, &hdr, payload, payload_len, fds, nfds);
}

int fe_raw_recv(struct fe_conn *c, struct vhost_user_msg *msg, int timeout_ms)
{
	int r = fe_conn_recv(c, msg, timeout_ms);

	if (r == 0)
		return 1;
	if (r == -ETIMEDOUT)
		return 0;
	return r;
}

bool fe_raw_wait_closed(struct fe_conn *c, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);

	if (c->peer_closed)
		return true;
	for (;;) {
		struct vhost_user_msg msg;
		int r = fe_conn_recv(c, &msg, remaining_ms(deadline));

		if (r == -ECONNRESET || c->peer_closed)
			return true;
		if (r == 0)
			fe_wire_close_fds(&msg);
		else if (r == -ETIMEDOUT || r == -ENOTCONN)
			return false;
		if (remaining_ms(deadline) == 0)
			return false;
	}
}
