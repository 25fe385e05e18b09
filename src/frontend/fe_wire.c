/* Test frontend wire: one vhost-user message framed on a stream socket with
 * its SCM_RIGHTS fds, shared by the session socket and the backend channel,
 * and the deadline arithmetic both use. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "frontend/fe_wire.h"
#include "frontend/frontend.h"
#include "core/log.h"

#define TAG "fe-wire"

int64_t fe_now_ms(void)
{
	return (int64_t)(uvdpa_now_ns() / 1000000);
}

int fe_remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - fe_now_ms();
	return left < 0 ? 0 : (int)left;
}

int64_t fe_deadline_after(int timeout_ms)
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

int fe_wait_readable(int fd, int timeout_ms)
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
				int r = fe_wait_readable(fd, timeout_ms);

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
	r = fe_wait_readable(fd, timeout_ms);
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

int fe_wire_reply(int fd, uint32_t request, const void *payload, uint32_t size)
{
	struct vhost_user_header hdr = {
		.request = request,
		.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG,
		.size = size,
	};

	return fe_wire_write(fd, &hdr, payload, size, NULL, 0);
}
