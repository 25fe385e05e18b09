/* The backend channel (backend -> frontend requests): CONFIG_CHANGE_MSG,
 * waited for (relay threads), and VRING_HOST_NOTIFIER_MSG, not waited for
 * (the event loop never blocks on the frontend). Every ack is matched to the
 * request it answers. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "uvdpa/event_loop.h"

#include "uvdpa/log.h"
#include "vu_internal.h"

#define BACKEND_REPLY_TIMEOUT_MS 2000

static int64_t ack_take(struct vu_dev *dev, int timeout_ms, int *status);
static void acks_drain(struct vu_dev *dev);

/* backend_lock held. */
static void backend_close(struct vu_dev *dev)
{
	if (dev->backend_watch)
		ev_watch_del(dev->backend_watch);
	dev->backend_watch = NULL;
	if (dev->backend_fd >= 0)
		close(dev->backend_fd);
	dev->backend_fd = -1;
	dev->npending = 0;
}

/* The event loop reads acks of requests nobody waits for as they come. A
 * relay thread waiting for its own ack holds the lock and reads them
 * itself: the loop never blocks on it. */
static void backend_readable(struct ev_watch *w, int fd, uint32_t events, void *opaque)
{
	struct vu_dev *dev = opaque;

	if (pthread_mutex_trylock(&dev->backend_lock) != 0)
		return;
	if (events & (EPOLLHUP | EPOLLERR)) {
		LOG_INFO(VU_TAG, "%s: the frontend closed the backend channel", dev->vdpa->name);
		backend_close(dev);
	} else if (dev->npending) {
		acks_drain(dev);
	} else {
		/* Nothing is due: whatever came is not an ack we expect (logged,
		 * dropped; a closed channel is closed here too). */
		int status;

		if (ack_take(dev, 0, &status) == -ECONNRESET)
			backend_close(dev);
	}
	pthread_mutex_unlock(&dev->backend_lock);
}

int vu_backend_set_fd(struct vu_dev *dev, struct vhost_user_msg *msg)
{
	if (!vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		LOG_ERR(VU_TAG, "SET_BACKEND_REQ_FD without the BACKEND_REQ protocol feature");
		return -EINVAL;
	}
	pthread_mutex_lock(&dev->backend_lock);
	backend_close(dev);
	dev->backend_fd = vu_msg_take_fd(msg, 0);
	if (dev->loop) {
		dev->backend_watch = ev_watch_add(dev->loop, dev->backend_fd, EPOLLIN,
						  backend_readable, dev);
		if (!dev->backend_watch)
			LOG_WARN(VU_TAG, "%s: cannot watch the backend channel: late acks are read "
				 "with the next request", dev->vdpa->name);
	}
	pthread_mutex_unlock(&dev->backend_lock);
	return 0;
}

void vu_backend_release(struct vu_dev *dev)
{
	pthread_mutex_lock(&dev->backend_lock);
	backend_close(dev);
	pthread_mutex_unlock(&dev->backend_lock);
}

/* Acks come back in the order of the requests (the frontend serves its end
 * of the channel in order), so each one is matched to the oldest request
 * still waiting for one. A waiter that gives up leaves its entry behind: its
 * late ack is consumed and dropped here, never taken for the next request's.
 * Called with backend_lock held. Returns the sequence number of the request
 * the ack answered (or a negative errno) and its result in *status. */
static int64_t ack_take(struct vu_dev *dev, int timeout_ms, int *status)
{
	struct vhost_user_msg reply;
	struct vu_backend_pending p;
	int ret;

	ret = vu_recv_msg_timeout(dev->backend_fd, &reply, timeout_ms);
	if (ret < 0)
		return ret;
	vu_msg_close_fds(&reply);
	if (!dev->npending) {
		LOG_ERR(VU_TAG, "%s: backend-channel reply %u to no request", dev->vdpa->name,
			reply.hdr.request);
		*status = -EPROTO;
		return -EPROTO;
	}
	p = dev->pending[0];
	memmove(dev->pending, dev->pending + 1, --dev->npending * sizeof(dev->pending[0]));
	if (reply.hdr.request != p.req || !(reply.hdr.flags & VHOST_USER_REPLY_FLAG) ||
	    reply.hdr.size != sizeof(uint64_t)) {
		LOG_ERR(VU_TAG, "%s: bad reply to backend request %u (request %u, flags 0x%x)",
			dev->vdpa->name, p.req, reply.hdr.request, reply.hdr.flags);
		*status = -EPROTO;
	} else {
		*status = reply.payload.u64 ? -EIO : 0;
	}
	if (*status < 0 && !p.waited)
		LOG_WARN(VU_TAG, "%s: the frontend refused backend request %u (%s)",
			 dev->vdpa->name, p.req, strerror(-*status));
	return (int64_t)p.seq;
}

/* Consumes the acks that are already there (late ones, or those of
 * requests nobody waits for). backend_lock held. */
static void acks_drain(struct vu_dev *dev)
{
	int status;

	while (dev->npending && ack_take(dev, 0, &status) >= 0)
		;
}

/* Sends one request. With REPLY_ACK the frontend acks it: wait says whether
 * the caller waits for that ack (bounded) or lets it be matched later. */
static int backend_request(struct vu_dev *dev, uint32_t req, const void *payload, uint32_t size,
			   int fd, bool wait)
{
	struct vhost_user_msg msg;
	bool ack = vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	uint64_t seq;
	int ret, status = 0;

	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = req;
	msg.hdr.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_FLAG : 0);
	msg.hdr.size = size;
	if (size)
		memcpy(&msg.payload, payload, size);

	pthread_mutex_lock(&dev->backend_lock);
	if (dev->backend_fd < 0) {
		ret = -ENOTCONN;
		goto out;
	}
	acks_drain(dev);
	if (ack && dev->npending == VU_BACKEND_MAX_PENDING) {
		LOG_ERR(VU_TAG, "%s: the frontend acked none of the last %u backend requests",
			dev->vdpa->name, VU_BACKEND_MAX_PENDING);
		ret = -EBUSY;
		goto out;
	}
	ret = vu_send_msg(dev->backend_fd, &msg, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	if (ret < 0 || !ack)
		goto out;
	seq = dev->backend_seq++;
	dev->pending[dev->npending++] = (struct vu_backend_pending){ req, seq, wait };
	if (!wait)
		goto out;
	for (;;) {
		int64_t got = ack_take(dev, BACKEND_REPLY_TIMEOUT_MS, &status);

		if (got < 0) {
			ret = (int)got;
			break;
		}
		if ((uint64_t)got == seq) {
			ret = status;
			break;
		}
	}
	/* Given up: the entry stays, its late ack is dropped when it comes. */
	for (unsigned int i = 0; ret < 0 && i < dev->npending; i++)
		if (dev->pending[i].seq == seq)
			dev->pending[i].waited = false;
out:
	pthread_mutex_unlock(&dev->backend_lock);
	if (ret < 0)
		LOG_WARN(VU_TAG, "%s: backend request %u failed: %s", dev->vdpa->name, req,
			 strerror(-ret));
	return ret;
}

int vu_config_change(struct vu_dev *dev)
{
	if (!vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_CONFIG))
		return -ENOTSUP;
	return backend_request(dev, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, NULL, 0, -1, true);
}

static int host_notifier_one(struct vu_dev *dev, uint16_t idx, bool enable)
{
	const struct vdpa_device_ops *ops = dev->vdpa->ops;
	struct vhost_user_vring_area area = { .u64 = idx };
	uint64_t offset = 0, size = 0;
	int fd = -1, ret;

	if (enable) {
		if (!ops->get_notify_area)
			return -ENOTSUP;
		ret = ops->get_notify_area(dev->vdpa, idx, &fd, &offset, &size);
		if (ret < 0)
			return ret;
		area.offset = offset;
		area.size = size;
	} else {
		area.u64 |= VHOST_USER_VRING_NOFD_MASK;
	}
	/* Not waited for: the frontend may be busy with a message of its own;
	 * the ack is matched when it comes. */
	return backend_request(dev, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, &area,
			       sizeof(area), fd, false);
}

int vu_host_notifier_ctrl(struct vu_dev *dev, uint16_t idx, bool enable)
{
	uint16_t i;
	int ret = 0;

	if (!vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) ||
	    !vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) ||
	    !vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_BACKEND_REQ))
		return -ENOTSUP;
	if (idx != VU_ALL_VRINGS) {
		if (idx >= dev->nr_vring)
			return -EINVAL;
		return host_notifier_one(dev, idx, enable);
	}
	for (i = 0; i < dev->nr_vring && !ret; i++)
		ret = host_notifier_one(dev, i, enable);
	return ret;
}
