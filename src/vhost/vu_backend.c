/* The backend channel (backend -> frontend requests): CONFIG_CHANGE_MSG and
 * VRING_HOST_NOTIFIER_MSG. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "uvdpa/log.h"
#include "vu_internal.h"

#define BACKEND_REPLY_TIMEOUT_MS 2000

int vu_backend_set_fd(struct vu_dev *dev, struct vhost_user_msg *msg)
{
	if (!vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		LOG_ERR(VU_TAG, "SET_BACKEND_REQ_FD without the BACKEND_REQ protocol feature");
		return -EINVAL;
	}
	pthread_mutex_lock(&dev->backend_lock);
	if (dev->backend_fd >= 0)
		close(dev->backend_fd);
	dev->backend_fd = vu_msg_take_fd(msg, 0);
	pthread_mutex_unlock(&dev->backend_lock);
	return 0;
}

void vu_backend_release(struct vu_dev *dev)
{
	pthread_mutex_lock(&dev->backend_lock);
	if (dev->backend_fd >= 0)
		close(dev->backend_fd);
	dev->backend_fd = -1;
	pthread_mutex_unlock(&dev->backend_lock);
}

/* Sends one request; waits for the ack when REPLY_ACK was negotiated. */
static int backend_request(struct vu_dev *dev, uint32_t req, const void *payload, uint32_t size,
			   int fd)
{
	struct vhost_user_msg msg, reply;
	bool ack = vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	int ret;

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
	ret = vu_send_msg(dev->backend_fd, &msg, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	if (ret < 0 || !ack)
		goto out;
	ret = vu_recv_msg_timeout(dev->backend_fd, &reply, BACKEND_REPLY_TIMEOUT_MS);
	if (ret < 0)
		goto out;
	vu_msg_close_fds(&reply);
	if (reply.hdr.request != req || !(reply.hdr.flags & VHOST_USER_REPLY_FLAG) ||
	    reply.hdr.size != sizeof(uint64_t)) {
		LOG_ERR(VU_TAG, "%s: bad reply to backend request %u", dev->vdpa->name, req);
		ret = -EPROTO;
	} else if (reply.payload.u64 != 0) {
		ret = -EIO;
	}
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
	return backend_request(dev, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, NULL, 0, -1);
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
	return backend_request(dev, VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, &area,
			       sizeof(area), fd);
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
