/* vhost-user transport: the unix socket in server mode (one frontend at a
 * time) or client mode (connect with back-off, reconnect) on the embedder's
 * loop (struct uvdpa_vhost_loop_ops only), non-blocking message assembly with
 * SCM_RIGHTS fds, and the order of one exchange: handle the message, send
 * the reply, then run what follows the reply (device starts, queued
 * backend-channel messages). */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "vu_internal.h"
#include "uvdpa/events.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000
#define HDR_SZ sizeof(struct vhost_user_header)

/* Room for the fds of one message, aligned as struct cmsghdr must be. */
typedef char cmsg_buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))]
	__attribute__((aligned(__alignof__(struct cmsghdr))));

static void conn_readable(int fd, void *opaque);
static void start_connect(struct uvdpa_vhost *dev);

static void rx_reset(struct uvdpa_vhost *dev)
{
	int i;

	for (i = 0; i < dev->rx_nfds; i++)
		close(dev->rx_fds[i]);
	dev->rx_nfds = 0;
	dev->rx_len = 0;
}

/* ---- The embedder's loop ---- */

static void *watch_add(struct uvdpa_vhost *dev, int fd, uvdpa_vhost_watch_cb cb)
{
	return dev->loop.ops->watch_add(dev->loop.loop, fd, cb, dev);
}

static void watch_del(struct uvdpa_vhost *dev, void **w)
{
	if (*w)
		dev->loop.ops->watch_del(dev->loop.loop, *w);
	*w = NULL;
}

static void timer_arm(struct uvdpa_vhost *dev, unsigned int ms)
{
	if (dev->reconnect_timer)
		dev->loop.ops->timer_arm(dev->loop.loop, dev->reconnect_timer, ms);
}

/* ---- Connection ---- */

static void set_nonblock_cloexec(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void disconnect(struct uvdpa_vhost *dev)
{
	if (dev->conn_fd < 0)
		return;
	watch_del(dev, &dev->conn_watch);
	close(dev->conn_fd);
	dev->conn_fd = -1;
	rx_reset(dev);
	dev->stats.disconnects++;
	/* A session that ends while logging ends the logging. */
	if (vu_has_feature(dev, UVDPA_VHOST_F_LOG_ALL))
		uvdpa_event_emit(UVDPA_EVENT_LOG_STOP, dev->vdpa->name, "session ended");
	vu_dev_reset_session(dev);
	LOG_INFO(VU_TAG, "%s: frontend disconnected from %s", dev->vdpa->name, dev->path);
	if (dev->close_us >= 0)
		uvdpa_event_emit(UVDPA_EVENT_DISCONNECT, dev->vdpa->name,
				 "bus vhost-user path %s close_us %" PRId64, dev->path, dev->close_us);
	else
		uvdpa_event_emit(UVDPA_EVENT_DISCONNECT, dev->vdpa->name, "bus vhost-user path %s",
				 dev->path);
	dev->close_us = -1;
	if (dev->flags & UVDPA_VHOST_CLIENT) {
		dev->reconnect_ms = RECONNECT_MIN_MS;
		timer_arm(dev, dev->reconnect_ms);
	}
}

static void attach_conn(struct uvdpa_vhost *dev, int fd)
{
	set_nonblock_cloexec(fd);
	dev->conn_watch = watch_add(dev, fd, conn_readable);
	if (!dev->conn_watch) {
		LOG_ERR(VU_TAG, "%s: cannot watch the connection: %s", dev->vdpa->name,
			strerror(errno));
		close(fd);
		/* A client tries again later instead of staying unconnected. */
		if (dev->flags & UVDPA_VHOST_CLIENT)
			timer_arm(dev, dev->reconnect_ms);
		return;
	}
	dev->conn_fd = fd;
	dev->rx_len = 0;
	dev->rx_nfds = 0;
	dev->stats.connects++;
	LOG_INFO(VU_TAG, "%s: frontend connected on %s", dev->vdpa->name, dev->path);
	uvdpa_event_emit(UVDPA_EVENT_CONNECT, dev->vdpa->name, "bus vhost-user path %s", dev->path);
}

/* Handles the message assembled in rx_buf. Returns false when the
 * connection was closed. */
static bool dispatch_rx(struct uvdpa_vhost *dev)
{
	struct vhost_user_msg msg, reply;
	int ret, i;

	memset(&msg, 0, sizeof(msg));
	memcpy(&msg, dev->rx_buf, dev->rx_len);
	for (i = 0; i < dev->rx_nfds; i++)
		msg.fds[i] = dev->rx_fds[i];
	msg.nfds = dev->rx_nfds;
	dev->rx_nfds = 0;
	dev->rx_len = 0;

	ret = vu_dev_handle_msg(dev, &msg, &reply);
	/* The reply, then what must follow it: host-notifier requests the
	 * start queued (the frontend serves them once it has the reply), ring
	 * state changes of a running device. */
	if (reply.hdr.flags & VHOST_USER_REPLY_FLAG) {
		int sret = vu_send_msg(dev->conn_fd, &reply, reply.fds, reply.nfds);

		if (sret < 0 && ret >= 0) {
			LOG_ERR(VU_TAG, "%s: sending the reply to %s failed: %s", dev->vdpa->name,
				vhost_user_request_name(msg.hdr.request), strerror(-sret));
			ret = sret;
		}
	}
	if (ret < 0) {
		disconnect(dev);
		return false;
	}
	vu_dev_after_reply(dev);
	return true;
}

static void conn_readable(int fd, void *opaque)
{
	struct uvdpa_vhost *dev = opaque;
	cmsg_buf control;

	/* Drain what is there; each complete message is dispatched at once. */
	for (;;) {
		struct vhost_user_header *hdr = (struct vhost_user_header *)dev->rx_buf;
		size_t want = HDR_SZ;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				     .msg_controllen = sizeof(control) };
		ssize_t n;

		if (dev->rx_len >= HDR_SZ)
			want = HDR_SZ + hdr->size;
		iov.iov_base = dev->rx_buf + dev->rx_len;
		iov.iov_len = want - dev->rx_len;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			disconnect(dev);
			return;
		}
		if (!vu_collect_fds(&mh, dev->rx_fds, &dev->rx_nfds)) {
			LOG_ERR(VU_TAG, "%s: message with more than %d fds or truncated control data",
				dev->vdpa->name, VHOST_USER_MAX_FDS);
			dev->stats.bad_msgs++;
			disconnect(dev);
			return;
		}
		dev->rx_len += (size_t)n;
		if (dev->rx_len == HDR_SZ && hdr->size > VHOST_USER_PAYLOAD_MAX) {
			LOG_ERR(VU_TAG, "%s: message %u claims a %u-byte payload (max %u)",
				dev->vdpa->name, hdr->request, hdr->size, VHOST_USER_PAYLOAD_MAX);
			dev->stats.bad_msgs++;
			disconnect(dev);
			return;
		}
		if (dev->rx_len >= HDR_SZ && dev->rx_len == HDR_SZ + hdr->size) {
			if (!dispatch_rx(dev))
				return;
		}
	}
}

static void listen_readable(int fd, void *opaque)
{
	struct uvdpa_vhost *dev = opaque;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (c < 0)
		return;
	if (dev->conn_fd >= 0) {
		LOG_WARN(VU_TAG, "%s: refused a second frontend on %s (one is connected)",
			 dev->vdpa->name, dev->path);
		dev->stats.refused++;
		close(c);
		return;
	}
	attach_conn(dev, c);
}

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Whether a process listens on the socket at sa: a connection is accepted
 * or queued (ECONNREFUSED: a stale file). */
static bool socket_listened(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

static void reconnect_fired(void *opaque)
{
	start_connect(opaque);
}

static void start_connect(struct uvdpa_vhost *dev)
{
	struct sockaddr_un sa;
	int fd;

	if (dev->conn_fd >= 0 || make_addr(dev->path, &sa))
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		LOG_DEBUG(VU_TAG, "%s: connect to %s failed, retry in %u ms", dev->vdpa->name,
			  dev->path, dev->reconnect_ms);
		timer_arm(dev, dev->reconnect_ms);
		dev->reconnect_ms *= 2;
		if (dev->reconnect_ms > RECONNECT_MAX_MS)
			dev->reconnect_ms = RECONNECT_MAX_MS;
		return;
	}
	dev->reconnect_ms = RECONNECT_MIN_MS;
	attach_conn(dev, fd);
}

struct uvdpa_vhost *vu_dev_new_detached(struct uvdpa_device *vdpa)
{
	return vu_lc_alloc(vdpa);
}

static bool loop_ops_ok(const struct uvdpa_vhost_loop *loop, unsigned int flags)
{
	const struct uvdpa_vhost_loop_ops *o = loop ? loop->ops : NULL;

	if (!o || !o->watch_add || !o->watch_del)
		return false;
	return !(flags & UVDPA_VHOST_CLIENT) || (o->timer_new && o->timer_arm && o->timer_free);
}

struct uvdpa_vhost *uvdpa_vhost_new(const struct uvdpa_vhost_loop *loop, const char *path, unsigned int flags,
			  struct uvdpa_device *vdpa)
{
	struct sockaddr_un sa;
	struct uvdpa_vhost *dev;
	int err;

	if (!loop_ops_ok(loop, flags)) {
		errno = EINVAL;
		return NULL;
	}
	if (make_addr(path, &sa)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	dev = vu_lc_alloc(vdpa);
	if (!dev)
		return NULL;
	dev->loop = *loop;
	dev->flags = flags;
	strcpy(dev->path, path);

	if (flags & UVDPA_VHOST_CLIENT) {
		dev->reconnect_ms = RECONNECT_MIN_MS;
		dev->reconnect_timer = loop->ops->timer_new(loop->loop, reconnect_fired, dev);
		if (!dev->reconnect_timer)
			goto fail;
		timer_arm(dev, 0);
		LOG_INFO(VU_TAG, "%s: connecting to %s", vdpa->name, path);
		return dev;
	}

	dev->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (dev->listen_fd < 0)
		goto fail;
	/* A socket file left by a dead process would make bind fail; one that
	 * someone still listens on (another device, a frontend in server
	 * mode) is not ours to take over. */
	{
		struct stat st;

		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			if (socket_listened(&sa)) {
				errno = EADDRINUSE;
				goto fail;
			}
			unlink(path);
		}
	}
	if (bind(dev->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(dev->listen_fd, 4) < 0)
		goto fail;
	dev->listen_watch = watch_add(dev, dev->listen_fd, listen_readable);
	if (!dev->listen_watch)
		goto fail_unlink;
	LOG_INFO(VU_TAG, "%s: listening on %s", vdpa->name, path);
	return dev;

fail_unlink:
	unlink(path);
fail:
	err = errno;
	LOG_ERR(VU_TAG, "%s: cannot serve %s: %s", vdpa->name, path, strerror(err));
	if (dev->listen_fd >= 0)
		close(dev->listen_fd);
	dev->listen_fd = -1;
	uvdpa_vhost_free(dev);
	errno = err;
	return NULL;
}

void uvdpa_vhost_free(struct uvdpa_vhost *dev)
{
	if (!dev)
		return;
	/* No reconnect: we are going away. */
	dev->flags &= ~UVDPA_VHOST_CLIENT;
	disconnect(dev);
	if (dev->reconnect_timer)
		dev->loop.ops->timer_free(dev->loop.loop, dev->reconnect_timer);
	if (dev->listen_fd >= 0) {
		watch_del(dev, &dev->listen_watch);
		close(dev->listen_fd);
		unlink(dev->path);
	}
	vu_lc_free(dev);
}

bool uvdpa_vhost_connected(const struct uvdpa_vhost *dev)
{
	return dev->conn_fd >= 0;
}

const char *uvdpa_vhost_path(const struct uvdpa_vhost *dev)
{
	return dev->path;
}

struct uvdpa_device *uvdpa_vhost_vdpa(const struct uvdpa_vhost *dev)
{
	return dev->vdpa;
}

void uvdpa_vhost_get_stats(const struct uvdpa_vhost *dev, struct uvdpa_vhost_stats *st)
{
	*st = dev->stats;
}

void uvdpa_vhost_get_op_timing(const struct uvdpa_vhost *dev, struct uvdpa_op_timing *dev_conf,
			       struct uvdpa_op_timing *dev_close)
{
	if (dev_conf)
		*dev_conf = dev->conf_timing;
	if (dev_close)
		*dev_close = dev->close_timing;
}
