/* The backend channel (backend -> frontend requests): CONFIG_CHANGE_MSG and
 * VRING_HOST_NOTIFIER_MSG.
 *
 * Order: while a frontend message is being handled, the frontend waits for
 * our reply and serves no backend request, so host-notifier messages asked
 * for then are queued and sent after the reply (vu_backend_flush). Acks
 * (REPLY_ACK) are matched to requests: every request sent with NEED_REPLY is
 * recorded, oldest first, and every reply read must carry the REPLY flag and
 * the type of the oldest unacked request. An ack that comes after its waiter
 * gave up is read and dropped before the next request, never taken as the
 * answer to it. Only config changes wait for their ack (bounded, off the
 * message-handling thread); host-notifier acks are collected later. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "vu_internal.h"

#define BACKEND_REPLY_TIMEOUT_MS 2000
#define LATE_ACK_READ_MS 100	/* the rest of an ack already arriving */

void vu_backend_init(struct vu_backend *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->fd = -1;
}

void vu_backend_destroy(struct vu_backend *b)
{
	pthread_mutex_destroy(&b->lock);
}

static void queue_clear(struct vu_backend *b)
{
	unsigned int i;

	for (i = 0; i < b->nqueued; i++)
		vu_close_fd(&b->queue[i].fd);
	b->nqueued = 0;
}

static void channel_reset(struct vu_backend *b, int fd)
{
	vu_close_fd(&b->fd);
	b->fd = fd;
	b->nunacked = 0;
	b->unacked_head = 0;
	queue_clear(b);
}

void vu_backend_set_fd(struct uvdpa_vhost *dev, int fd)
{
	pthread_mutex_lock(&dev->backend.lock);
	channel_reset(&dev->backend, fd);
	pthread_mutex_unlock(&dev->backend.lock);
}

void vu_backend_release(struct uvdpa_vhost *dev)
{
	pthread_mutex_lock(&dev->backend.lock);
	channel_reset(&dev->backend, -1);
	dev->backend.deferring = false;
	pthread_mutex_unlock(&dev->backend.lock);
}

/* ---- Ack bookkeeping (lock held) ---- */

static void unacked_push(struct vu_backend *b, uint32_t req)
{
	b->unacked[(b->unacked_head + b->nunacked) % VU_BACKEND_MAX_PENDING] = req;
	b->nunacked++;
}

/* Matches one reply read from the channel to the oldest unacked request:
 * 0 (acked), -EIO (refused) or -EPROTO (not a reply to it). */
static int ack_match(struct uvdpa_vhost *dev, struct vhost_user_msg *reply)
{
	struct vu_backend *b = &dev->backend;
	uint32_t req = b->unacked[b->unacked_head];

	vu_msg_close_fds(reply);
	b->unacked_head = (b->unacked_head + 1) % VU_BACKEND_MAX_PENDING;
	b->nunacked--;
	if (reply->hdr.request != req || !(reply->hdr.flags & VHOST_USER_REPLY_FLAG) ||
	    reply->hdr.size != sizeof(uint64_t)) {
		LOG_ERR(VU_TAG, "%s: bad reply (request %u flags 0x%x) to backend request %u",
			dev->vdpa->name, reply->hdr.request, reply->hdr.flags, req);
		return -EPROTO;
	}
	return reply->payload.u64 ? -EIO : 0;
}

/* Reads the acks already there for requests nobody waits for any more. */
static void drain_late_acks(struct uvdpa_vhost *dev)
{
	struct vu_backend *b = &dev->backend;

	while (b->nunacked && !b->waiting) {
		struct pollfd p = { .fd = b->fd, .events = POLLIN };
		struct vhost_user_msg reply;
		uint32_t req = b->unacked[b->unacked_head];
		int ret;

		if (poll(&p, 1, 0) != 1)
			return;
		ret = vu_recv_msg_timeout(b->fd, &reply, LATE_ACK_READ_MS);
		if (ret < 0)
			return;
		ret = ack_match(dev, &reply);
		if (ret < 0)
			LOG_WARN(VU_TAG, "%s: late ack of backend request %u: %s", dev->vdpa->name, req,
				 strerror(-ret));
	}
}

/* Waits (bounded) until every request sent so far is acked; returns the
 * last ack's verdict. Called with the lock held, it drops it while it
 * blocks: the frontend may first send us messages of its own (QEMU answers
 * a blk CONFIG_CHANGE_MSG only after a GET_CONFIG round trip), and the
 * thread that handles them takes this lock. Meanwhile only this thread
 * reads the channel (b->waiting), on its own dup of the fd, so a channel
 * replaced or closed under it is not read by mistake. */
static int wait_ack(struct uvdpa_vhost *dev)
{
	struct vu_backend *b = &dev->backend;
	int fd, ret = 0;

	if (!b->nunacked || b->waiting)
		return 0;	/* a waiter already reads our ack too */
	fd = fcntl(b->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	b->waiting = true;
	while (b->nunacked) {
		struct vhost_user_msg reply;
		int fd_now = b->fd;

		pthread_mutex_unlock(&b->lock);
		ret = vu_recv_msg_timeout(fd, &reply, BACKEND_REPLY_TIMEOUT_MS);
		pthread_mutex_lock(&b->lock);
		if (ret < 0)
			break;	/* still unacked: drained when it comes */
		if (b->fd != fd_now || !b->nunacked) {
			/* The channel changed meanwhile: this ack is for none of
			 * the requests now outstanding. */
			vu_msg_close_fds(&reply);
			ret = -ECONNRESET;
			break;
		}
		ret = ack_match(dev, &reply);
	}
	b->waiting = false;
	close(fd);
	return ret;
}

/* ---- Sending (lock held) ---- */

static int send_request(struct uvdpa_vhost *dev, uint32_t req, const void *payload, uint32_t size,
			int fd)
{
	struct vu_backend *b = &dev->backend;
	bool ack = vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct vhost_user_msg msg;
	int ret;

	if (b->fd < 0)
		return -ENOTCONN;
	drain_late_acks(dev);
	if (ack && b->nunacked >= VU_BACKEND_MAX_PENDING)
		return -EBUSY;
	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = req;
	msg.hdr.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_FLAG : 0);
	msg.hdr.size = size;
	if (size)
		memcpy(&msg.payload, payload, size);
	ret = vu_send_msg(b->fd, &msg, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	if (ret == 0 && ack)
		unacked_push(b, req);
	return ret;
}

static bool on_handler_thread(const struct vu_backend *b)
{
	return b->handler_known && pthread_equal(b->handler_thread, pthread_self());
}

int vu_config_change(struct uvdpa_vhost *dev)
{
	struct vu_backend *b = &dev->backend;
	int ret;

	if (!vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_CONFIG))
		return -ENOTSUP;
	pthread_mutex_lock(&b->lock);
	ret = send_request(dev, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, NULL, 0, -1);
	/* The thread that serves the frontend must not wait for it. */
	if (ret == 0 && !on_handler_thread(b))
		ret = wait_ack(dev);
	pthread_mutex_unlock(&b->lock);
	if (ret < 0)
		LOG_WARN(VU_TAG, "%s: config change not delivered: %s", dev->vdpa->name,
			 strerror(-ret));
	return ret;
}

void vu_backend_defer(struct uvdpa_vhost *dev)
{
	pthread_mutex_lock(&dev->backend.lock);
	dev->backend.deferring = true;
	dev->backend.handler_thread = pthread_self();
	dev->backend.handler_known = true;
	pthread_mutex_unlock(&dev->backend.lock);
}

static void send_queued(struct uvdpa_vhost *dev)
{
	struct vu_backend *b = &dev->backend;
	unsigned int i;

	for (i = 0; i < b->nqueued; i++) {
		struct vu_backend_queued *q = &b->queue[i];
		int ret = send_request(dev, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, &q->area,
				       sizeof(q->area), q->fd);

		if (ret < 0)
			LOG_WARN(VU_TAG, "%s: host notifier for vring %u not sent: %s",
				 dev->vdpa->name, (unsigned int)(q->area.u64 & VHOST_USER_VRING_IDX_MASK),
				 strerror(-ret));
	}
	queue_clear(b);
}

void vu_backend_flush(struct uvdpa_vhost *dev)
{
	pthread_mutex_lock(&dev->backend.lock);
	dev->backend.deferring = false;
	send_queued(dev);
	pthread_mutex_unlock(&dev->backend.lock);
}

/* ---- Host notifiers ---- */

/* Describes ring idx's notifier (dup of the device's fd when enabling). */
static int notifier_describe(struct uvdpa_vhost *dev, uint16_t idx, bool enable,
			     struct vu_backend_queued *q)
{
	const struct uvdpa_device_ops *ops = dev->vdpa->ops;
	uint64_t offset = 0, size = 0;
	int fd = -1, ret;

	memset(q, 0, sizeof(*q));
	q->area.u64 = idx;
	q->fd = -1;
	if (!enable) {
		q->area.u64 |= VHOST_USER_VRING_NOFD_MASK;
		return 0;
	}
	if (!ops->get_notify_area)
		return -ENOTSUP;
	ret = ops->get_notify_area(dev->vdpa, idx, &fd, &offset, &size);
	if (ret < 0)
		return ret;
	q->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (q->fd < 0)
		return -errno;
	q->area.offset = offset;
	q->area.size = size;
	return 0;
}

static int notifier_queue(struct uvdpa_vhost *dev, uint16_t first, uint16_t end, bool enable)
{
	struct vu_backend *b = &dev->backend;
	uint16_t i;
	int ret;

	if (b->fd < 0)
		return -ENOTCONN;
	if (b->nqueued + (unsigned int)(end - first) > VU_BACKEND_MAX_PENDING)
		return -EBUSY;
	for (i = first; i < end; i++) {
		ret = notifier_describe(dev, i, enable, &b->queue[b->nqueued]);
		if (ret < 0)
			return ret;
		b->nqueued++;
	}
	return 0;
}

int vu_host_notifier_ctrl(struct uvdpa_vhost *dev, uint16_t idx, bool enable)
{
	struct vu_backend *b = &dev->backend;
	uint16_t first = idx, end = (uint16_t)(idx + 1);
	int ret;

	if (!vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) ||
	    !vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) ||
	    !vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_REQ))
		return -ENOTSUP;
	if (idx == VU_ALL_VRINGS) {
		first = 0;
		end = dev->nr_vring;
	} else if (idx >= dev->nr_vring) {
		return -EINVAL;
	}
	pthread_mutex_lock(&b->lock);
	ret = notifier_queue(dev, first, end, enable);
	if (!b->deferring)
		send_queued(dev);
	pthread_mutex_unlock(&b->lock);
	return ret;
}
