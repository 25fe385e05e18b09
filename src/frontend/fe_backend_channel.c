/* Test frontend backend channel (SET_BACKEND_REQ_FD): answers the backend's
 * CONFIG_CHANGE_MSG and VRING_HOST_NOTIFIER_MSG requests and counts them. */
#include <errno.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frontend/fe_wire.h"
#include "frontend/frontend.h"
#include "core/log.h"

#define TAG "fe-backend"

int fe_backend_channel_open(struct fe_conn *c)
{
	int sv[2];

	if (c->backend_fd >= 0) {
		close(c->backend_fd);
		c->backend_fd = -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	c->backend_fd = sv[0];
	return sv[1];
}

static int send_ack(struct fe_conn *c, uint32_t request, uint64_t value)
{
	int r = fe_wire_reply(c->backend_fd, request, &value, sizeof(value));

	if (r == 0)
		c->backend.replies++;
	return r;
}

void fe_notifier_unmap(struct fe_notifier *n)
{
	if (n->page)
		munmap(n->page, n->size);
	n->page = NULL;
	n->size = 0;
}

/* Maps (fd >= 0) or drops the doorbell page of a vring: from here on its
 * kicks are writes to the page, as a guest's to its device. */
static int notifier_set(struct fe_conn *c, const struct vhost_user_vring_area *a, int fd)
{
	uint64_t idx = a->u64 & VHOST_USER_VRING_IDX_MASK;
	struct fe_notifier *n;
	void *page;

	if (idx >= FE_MAX_VRINGS) {
		LOG_WARN(TAG, "host notifier for vring %llu, beyond %u", (unsigned long long)idx,
			 FE_MAX_VRINGS);
		return -EINVAL;
	}
	n = &c->notifiers[idx];
	fe_notifier_unmap(n);
	if (fd < 0)
		return 0;
	if (a->size < sizeof(uint16_t) || a->size > (1u << 24) || (a->size & (a->size - 1))) {
		LOG_WARN(TAG, "host notifier for vring %llu: page size %llu refused",
			 (unsigned long long)idx, (unsigned long long)a->size);
		return -EINVAL;
	}
	page = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)a->offset);
	if (page == MAP_FAILED) {
		LOG_WARN(TAG, "host notifier for vring %llu: cannot map it: %s",
			 (unsigned long long)idx, strerror(errno));
		return -errno;
	}
	n->page = page;
	n->size = a->size;
	LOG_INFO(TAG, "host notifier for vring %llu mapped (%llu bytes at offset 0x%llx)",
		 (unsigned long long)idx, (unsigned long long)a->size,
		 (unsigned long long)a->offset);
	return 0;
}

/* Returns the value to ack with: 0 handled, non-zero refused. */
static uint64_t handle_request(struct fe_conn *c, struct vhost_user_msg *msg)
{
	switch (msg->hdr.request) {
	case VHOST_USER_BACKEND_CONFIG_CHANGE_MSG:
		c->backend.config_change++;
		LOG_INFO(TAG, "config change notified by the backend (%llu so far)",
			 (unsigned long long)c->backend.config_change);
		return 0;
	case VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG: {
		const struct vhost_user_vring_area *a = &msg->payload.area;
		bool nofd;

		if (msg->hdr.size != sizeof(*a)) {
			c->backend.unknown++;
			LOG_WARN(TAG, "host notifier message with size %u", msg->hdr.size);
			return 1;
		}
		nofd = a->u64 & VHOST_USER_VRING_NOFD_MASK;
		if (!nofd && msg->nfds != 1) {
			c->backend.unknown++;
			LOG_WARN(TAG, "host notifier for vring %llu without its fd",
				 (unsigned long long)(a->u64 & VHOST_USER_VRING_IDX_MASK));
			return 1;
		}
		if (notifier_set(c, a, nofd ? -1 : msg->fds[0]) < 0)
			return 1;
		c->backend.host_notifier++;
		LOG_DEBUG(TAG, "host notifier vring %llu %s size %llu offset %llu",
			  (unsigned long long)(a->u64 & VHOST_USER_VRING_IDX_MASK),
			  nofd ? "removed" : "set", (unsigned long long)a->size,
			  (unsigned long long)a->offset);
		return 0;
	}
	default:
		c->backend.unknown++;
		LOG_WARN(TAG, "unsupported backend request %u", msg->hdr.request);
		return 1;
	}
}

int fe_backend_channel_serve(struct fe_conn *c)
{
	while (c->backend_fd >= 0) {
		struct vhost_user_msg msg;
		uint64_t result;
		int r = fe_wire_read(c->backend_fd, &msg, 0);

		if (r == -ETIMEDOUT)
			return 0;
		if (r < 0) {
			if (r != -ECONNRESET)
				LOG_WARN(TAG, "backend channel broken: %s", strerror(-r));
			close(c->backend_fd);
			c->backend_fd = -1;
			return r == -ECONNRESET ? 0 : r;
		}
		if ((msg.hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
		    (msg.hdr.flags & VHOST_USER_REPLY_FLAG)) {
			c->backend.unknown++;
			LOG_WARN(TAG, "backend request %u with bad flags 0x%x", msg.hdr.request,
				 msg.hdr.flags);
			result = 1;
		} else {
			result = handle_request(c, &msg);
		}
		fe_wire_close_fds(&msg);
		if (msg.hdr.flags & VHOST_USER_NEED_REPLY_FLAG) {
			r = send_ack(c, msg.hdr.request, result);
			if (r < 0) {
				close(c->backend_fd);
				c->backend_fd = -1;
				return r;
			}
		}
	}
	return 0;
}
