/* Test frontend transport: the unix socket to the backend (client with
 * back-off, or server) and the raw API; framing is fe_wire.c's. */
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
	int64_t deadline = fe_deadline_after(timeout_ms);
	int backoff = CONNECT_BACKOFF_MIN_MS;
	int r;

	if (c->sock >= 0)
		return -EISCONN;
	c->peer_closed = false;
	if (c->server) {
		r = fe_wait_readable(c->listen_fd, timeout_ms);
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
		left = fe_remaining_ms(deadline);
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
	int64_t deadline = fe_deadline_after(timeout_ms);

	if (c->sock < 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->sock, .events = POLLIN },
			{ .fd = c->backend_fd, .events = POLLIN },
		};
		int r;

		r = poll(p, c->backend_fd >= 0 ? 2 : 1, fe_remaining_ms(deadline));
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
	int64_t deadline = fe_deadline_after(timeout_ms);

	if (c->sock < 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->sock, .events = POLLIN | POLLRDHUP },
			{ .fd = c->backend_fd, .events = POLLIN },
		};
		int r = poll(p, c->backend_fd >= 0 ? 2 : 1, fe_remaining_ms(deadline));

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
		if (fe_remaining_ms(deadline) == 0)
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
	int64_t deadline = fe_deadline_after(timeout_ms);

	if (c->peer_closed)
		return true;
	for (;;) {
		struct vhost_user_msg msg;
		int r = fe_conn_recv(c, &msg, fe_remaining_ms(deadline));

		if (r == -ECONNRESET || c->peer_closed)
			return true;
		if (r == 0)
			fe_wire_close_fds(&msg);
		else if (r == -ETIMEDOUT || r == -ENOTCONN)
			return false;
		if (fe_remaining_ms(deadline) == 0)
			return false;
	}
}
