/* vhost-user transport: the unix socket in server mode (one frontend at a
 * time) or client mode (connect with back-off, reconnect), non-blocking
 * message assembly with SCM_RIGHTS fds, replies, and session setup/teardown. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "uvdpa/event_loop.h"
#include "uvdpa/log.h"
#include "vu_internal.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000
#define HDR_SZ sizeof(struct vhost_user_header)

/* Room for the fds of one message, aligned as struct cmsghdr must be. */
typedef char cmsg_buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))]
	__attribute__((aligned(__alignof__(struct cmsghdr))));

static void conn_readable(struct ev_watch *w, int fd, uint32_t events, void *opaque);
static void start_connect(struct vu_dev *dev);

static void rx_reset(struct vu_dev *dev)
{
	int i;

	for (i = 0; i < dev->rx_nfds; i++)
		close(dev->rx_fds[i]);
	dev->rx_nfds = 0;
	dev->rx_len = 0;
}

int vu_send_msg(int fd, const struct vhost_user_msg *msg, const int *fds, int nfds)
{
	cmsg_buf control;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = HDR_SZ + msg->hdr.size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > VHOST_USER_MAX_FDS || msg->hdr.size > VHOST_USER_PAYLOAD_MAX)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	do {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Messages are tiny; a short send means the peer stopped reading. */
	if ((size_t)n != iov.iov_len)
		return -EIO;
	return 0;
}

/* Collects SCM_RIGHTS fds; false when the peer sent more than allowed. */
static bool collect_fds(struct msghdr *mh, int *fds, int *nfds)
{
	struct cmsghdr *c;
	bool ok = !(mh->msg_flags & MSG_CTRUNC);

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n, i;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(c);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, &p[i], sizeof(fd));
			if (*nfds < VHOST_USER_MAX_FDS) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				ok = false;
			}
		}
	}
	return ok;
}

int vu_recv_msg_timeout(int fd, struct vhost_user_msg *msg, int timeout_ms)
{
	cmsg_buf control;
	uint8_t *buf = (uint8_t *)msg;
	size_t want = HDR_SZ, got = 0;

	memset(msg, 0, sizeof(*msg));
	msg->nfds = 0;
	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct iovec iov = { .iov_base = buf + got, .iov_len = want - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				     .msg_controllen = sizeof(control) };
		ssize_t n;
		int r = poll(&p, 1, timeout_ms);

		if (r == 0)
			goto fail_err_timeout;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			goto fail_reset;
		if (!collect_fds(&mh, msg->fds, &msg->nfds))
			goto fail_proto;
		got += (size_t)n;
		if (got == HDR_SZ && want == HDR_SZ) {
			if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX)
				goto fail_proto;
			want += msg->hdr.size;
		}
	}
	return 0;
fail_err_timeout:
	vu_msg_close_fds(msg);
	return -ETIMEDOUT;
fail_reset:
	vu_msg_close_fds(msg);
	return -ECONNRESET;
fail_proto:
	vu_msg_close_fds(msg);
	return -EPROTO;
fail:
	vu_msg_close_fds(msg);
	return -errno;
}

static void set_nonblock_cloexec(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void vu_transport_disconnect(struct vu_dev *dev)
{
	if (dev->conn_fd < 0)
		return;
	ev_watch_del(dev->conn_watch);
	dev->conn_watch = NULL;
	close(dev->conn_fd);
	dev->conn_fd = -1;
	rx_reset(dev);
	dev->stats.disconnects++;
	vu_dev_reset_session(dev);
	LOG_INFO(VU_TAG, "%s: frontend disconnected from %s", dev->vdpa->name, dev->path);
	if (dev->flags & VU_CLIENT) {
		dev->reconnect_ms = RECONNECT_MIN_MS;
		if (dev->reconnect_timer)
			ev_timer_arm(dev->reconnect_timer, dev->reconnect_ms);
	}
}

static void attach_conn(struct vu_dev *dev, int fd)
{
	set_nonblock_cloexec(fd);
	dev->conn_watch = ev_watch_add(dev->loop, fd, EPOLLIN, conn_readable, dev);
	if (!dev->conn_watch) {
		LOG_ERR(VU_TAG, "%s: cannot watch the connection: %s", dev->vdpa->name,
			strerror(errno));
		close(fd);
		/* A client tries again later instead of staying unconnected. */
		if (dev->flags & VU_CLIENT)
			ev_timer_arm(dev->reconnect_timer, dev->reconnect_ms);
		return;
	}
	dev->conn_fd = fd;
	dev->rx_len = 0;
	dev->rx_nfds = 0;
	dev->stats.connects++;
	LOG_INFO(VU_TAG, "%s: frontend connected on %s", dev->vdpa->name, dev->path);
}

/* Handles the message assembled in rx_buf. Returns false when the
 * connection was closed. */
static bool dispatch_rx(struct vu_dev *dev)
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

	ret = vu_msg_dispatch(dev, &msg, &reply);
	if (reply.hdr.flags & VHOST_USER_REPLY_FLAG) {
		int sret = vu_send_msg(dev->conn_fd, &reply, reply.fds, reply.nfds);

		if (sret < 0 && ret >= 0) {
			LOG_ERR(VU_TAG, "%s: sending the reply to %s failed: %s", dev->vdpa->name,
				vhost_user_request_name(msg.hdr.request), strerror(-sret));
			ret = sret;
		}
	}
	if (ret < 0) {
		vu_transport_disconnect(dev);
		return false;
	}
	/* The reply is out: now what starts the device may run. */
	vu_lifecycle_start_changes(dev);
	return true;
}

static void conn_readable(struct ev_watch *w, int fd, uint32_t events, void *opaque)
{
	struct vu_dev *dev = opaque;
	cmsg_buf control;

	(void)w;
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
			vu_transport_disconnect(dev);
			return;
		}
		if (!collect_fds(&mh, dev->rx_fds, &dev->rx_nfds)) {
			LOG_ERR(VU_TAG, "%s: message with more than %d fds or truncated control data",
				dev->vdpa->name, VHOST_USER_MAX_FDS);
			dev->stats.bad_msgs++;
			vu_transport_disconnect(dev);
			return;
		}
		dev->rx_len += (size_t)n;
		if (dev->rx_len == HDR_SZ && hdr->size > VHOST_USER_PAYLOAD_MAX) {
			LOG_ERR(VU_TAG, "%s: message %u claims a %u-byte payload (max %u)",
				dev->vdpa->name, hdr->request, hdr->size, VHOST_USER_PAYLOAD_MAX);
			dev->stats.bad_msgs++;
			vu_transport_disconnect(dev);
			return;
		}
		if (dev->rx_len >= HDR_SZ && dev->rx_len == HDR_SZ + hdr->size) {
			if (!dispatch_rx(dev))
				return;
		}
	}
}

static void listen_readable(struct ev_watch *w, int fd, uint32_t events, void *opaque)
{
	struct vu_dev *dev = opaque;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	(void)w;
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

static void reconnect_fired(struct ev_timer *t, void *opaque)
{
	(void)t;
	start_connect(opaque);
}

static void start_connect(struct vu_dev *dev)
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
		ev_timer_arm(dev->reconnect_timer, dev->reconnect_ms);
		dev->reconnect_ms *= 2;
		if (dev->reconnect_ms > RECONNECT_MAX_MS)
			dev->reconnect_ms = RECONNECT_MAX_MS;
		return;
	}
	dev->reconnect_ms = RECONNECT_MIN_MS;
	attach_conn(dev, fd);
}

static struct vu_dev *dev_alloc(struct vdpa_device *vdpa)
{
	struct vu_dev *dev = calloc(1, sizeof(*dev));
	uint16_t i;

	if (!dev)
		return NULL;
	dev->vdpa = vdpa;
	dev->listen_fd = dev->conn_fd = dev->backend_fd = -1;
	for (i = 0; i < VU_MAX_VRINGS; i++)
		vu_vring_init(&dev->vrings[i]);
	for (i = 0; i < VU_MAX_MEM_SLOTS; i++)
		dev->regions[i].fd = -1;
	vu_log_init(&dev->log);
	dev->session.ops = &vu_session_ops;
	dev->inflight.fd = -1;
	pthread_mutex_init(&dev->backend_lock, NULL);
	return dev;
}

struct vu_dev *vu_dev_new_detached(struct vdpa_device *vdpa)
{
	return dev_alloc(vdpa);
}

struct vu_dev *vu_dev_new(struct ev_loop *loop, const char *path, unsigned int flags,
			  struct vdpa_device *vdpa)
{
	struct sockaddr_un sa;
	struct vu_dev *dev;
	int err;

	if (make_addr(path, &sa)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	dev = dev_alloc(vdpa);
	if (!dev)
		return NULL;
	dev->loop = loop;
	dev->flags = flags;
	strcpy(dev->path, path);

	if (flags & VU_CLIENT) {
		dev->reconnect_ms = RECONNECT_MIN_MS;
		dev->reconnect_timer = ev_timer_new(loop, reconnect_fired, dev);
		if (!dev->reconnect_timer)
			goto fail;
		ev_timer_arm(dev->reconnect_timer, 0);
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
	dev->listen_watch = ev_watch_add(loop, dev->listen_fd, EPOLLIN, listen_readable, dev);
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
	vu_dev_free(dev);
	errno = err;
	return NULL;
}

void vu_dev_free(struct vu_dev *dev)
{
	if (!dev)
		return;
	if (dev->conn_fd >= 0) {
		/* No reconnect: we are going away. */
		dev->flags &= ~VU_CLIENT;
		vu_transport_disconnect(dev);
	} else {
		vu_dev_reset_session(dev);
	}
	if (dev->reconnect_timer)
		ev_timer_free(dev->reconnect_timer);
	if (dev->listen_fd >= 0) {
		ev_watch_del(dev->listen_watch);
		close(dev->listen_fd);
		unlink(dev->path);
	}
	vu_log_destroy(&dev->log);
	pthread_mutex_destroy(&dev->backend_lock);
	free(dev);
}

bool vu_dev_connected(const struct vu_dev *dev)
{
	return dev->conn_fd >= 0;
}

const char *vu_dev_path(const struct vu_dev *dev)
{
	return dev->path;
}

struct vdpa_device *vu_dev_vdpa(const struct vu_dev *dev)
{
	return dev->vdpa;
}

void vu_dev_get_stats(const struct vu_dev *dev, struct vu_dev_stats *st)
{
	*st = dev->stats;
}
