/* Message and fd primitives every other part of the library builds on:
 * sending and receiving one vhost-user message with SCM_RIGHTS fds, fd
 * ownership inside a message, and mapping a frontend's fd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "vu_internal.h"

#define HDR_SZ sizeof(struct vhost_user_header)

/* Room for the fds of one message, aligned as struct cmsghdr must be. */
typedef char cmsg_buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))]
	__attribute__((aligned(__alignof__(struct cmsghdr))));

void vu_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vu_msg_close_fds(struct vhost_user_msg *msg)
{
	int i, n = msg->nfds < VHOST_USER_MAX_FDS ? msg->nfds : VHOST_USER_MAX_FDS;

	/* nfds comes from the caller and may be out of range (refused as such). */
	for (i = 0; i < n; i++)
		vu_close_fd(&msg->fds[i]);
}

int vu_msg_take_fd(struct vhost_user_msg *msg, int i)
{
	int fd = msg->fds[i];

	msg->fds[i] = -1;
	return fd;
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

bool vu_collect_fds(struct msghdr *mh, int *fds, int *nfds)
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

/* Reads some of [got, want) of msg; 0, or a negative errno. */
static int recv_part(int fd, struct vhost_user_msg *msg, size_t *got, size_t want, int timeout_ms)
{
	cmsg_buf control;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct iovec iov = { .iov_base = (uint8_t *)msg + *got, .iov_len = want - *got };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	ssize_t n;
	int r = poll(&p, 1, timeout_ms);

	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -ECONNRESET;
	if (!vu_collect_fds(&mh, msg->fds, &msg->nfds))
		return -EPROTO;
	*got += (size_t)n;
	return 0;
}

int vu_recv_msg_timeout(int fd, struct vhost_user_msg *msg, int timeout_ms)
{
	size_t want = HDR_SZ, got = 0;
	int ret = 0;

	memset(msg, 0, sizeof(*msg));
	msg->nfds = 0;
	while (got < want && !ret) {
		ret = recv_part(fd, msg, &got, want, timeout_ms);
		if (!ret && got == HDR_SZ && want == HDR_SZ) {
			if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX)
				ret = -EPROTO;
			want += msg->hdr.size;
		}
	}
	if (ret)
		vu_msg_close_fds(msg);
	return ret;
}

void *vu_map_fd(int fd, uint64_t size, const char *what, int *err)
{
	struct stat st;
	void *addr;

	/* Touching pages past the end of the file would raise SIGBUS in the
	 * daemon: refuse a mapping larger than its backing file. */
	if (fstat(fd, &st) < 0) {
		*err = -errno;
		return NULL;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < size) {
		LOG_ERR(VU_TAG, "%s needs %llu bytes of its fd, which has %lld", what,
			(unsigned long long)size, (long long)st.st_size);
		*err = -EINVAL;
		return NULL;
	}
	/* And keep it from shrinking later where the fd allows sealing (QEMU's
	 * memfd backend seals it already); elsewhere that risk remains. */
	if (S_ISREG(st.st_mode))
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (addr == MAP_FAILED) {
		*err = -errno;
		LOG_ERR(VU_TAG, "mmap of %s (%llu bytes) failed: %s", what, (unsigned long long)size,
			strerror(-*err));
		return NULL;
	}
	return addr;
}
