/* Message dispatch: a table of handlers whose entries carry the payload
 * size, fd count, protocol feature and vring index they accept, checked once
 * before any handler runs; and the negotiation handlers. The device
 * lifecycle (when ops run) is vu_lifecycle.c's, below this file: what stops
 * the device runs before the reply, what starts it after (vu_dev_handle_msg
 * for detached sessions, the transport otherwise). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "uvdpa/log.h"
#include "vu_internal.h"

/* Handler results besides a negative errno (which fails the connection). */
enum {
	VU_OK = 0,	/* done; ack if the frontend asked */
	VU_REPLY = 1,	/* the handler filled its own reply */
	VU_NACK = 2,	/* refused; the connection stays up */
};

#define NO_PROTO 0xff

/* Where a message carries the index of the vring it is about. */
enum vu_ring_arg {
	RING_NONE = 0,
	RING_STATE,	/* payload.state.index */
	RING_ADDR,	/* payload.addr.index */
	RING_FD,	/* payload.u64: index | NOFD flag */
};
#define VIRTIO_CONFIG_S_DRIVER_OK 4

/* What the library implements; the device narrows it. */
#define VU_LIB_PROTOCOL_FEATURES                                                                 \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |        \
	 (1ull << VHOST_USER_PROTOCOL_F_RARP) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |      \
	 (1ull << VHOST_USER_PROTOCOL_F_NET_MTU) | (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) | \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |                                                \
	 (1ull << VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) |                                       \
	 (1ull << VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) |                                         \
	 (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                                        \
	 (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                                          \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                                   \
	 (1ull << VHOST_USER_PROTOCOL_F_STATUS))

typedef int (*vu_handler_fn)(struct vu_dev *dev, struct vhost_user_msg *msg,
			     struct vhost_user_msg *reply);

struct vu_handler {
	vu_handler_fn fn;
	uint32_t size_min, size_max;	/* payload bytes */
	uint8_t fds_min, fds_max;
	uint8_t proto;			/* protocol feature required, or NO_PROTO */
	uint8_t ring;			/* where the message names a vring (enum vu_ring_arg) */
};

/* Back to the state of a fresh connection, keeping the frontend's protocol
 * features and backend channel (RESET_DEVICE keeps ownership). */
static void reset_device(struct vu_dev *dev, const char *why)
{
	vu_device_close(dev, why);
	vu_vrings_release(dev);
	vu_mem_release(dev);
	vu_log_release(&dev->log);
	vu_inflight_release(&dev->inflight);
	dev->features = 0;
	dev->features_set = false;
	dev->status = 0;
}

void vu_dev_reset_session(struct vu_dev *dev)
{
	reset_device(dev, "disconnect");
	vu_backend_release(dev);
	dev->protocol_features = 0;
	dev->owner = false;
	dev->mtu = 0;
}

/* ---- Handlers ---- */

static uint64_t offered_features(struct vu_dev *dev)
{
	uint64_t f = 0;

	if (dev->vdpa->ops->get_features)
		dev->vdpa->ops->get_features(dev->vdpa, &f);
	return f | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
}

static uint64_t offered_protocol_features(struct vu_dev *dev)
{
	uint64_t f = VU_LIB_PROTOCOL_FEATURES;

	if (dev->vdpa->ops->get_protocol_features)
		dev->vdpa->ops->get_protocol_features(dev->vdpa, &f);
	return f & VU_LIB_PROTOCOL_FEATURES;
}

static int reply_u64(struct vhost_user_msg *reply, uint64_t v)
{
	reply->hdr.size = sizeof(uint64_t);
	reply->payload.u64 = v;
	return VU_REPLY;
}

static int h_get_features(struct vu_dev *dev, struct vhost_user_msg *msg,
			  struct vhost_user_msg *reply)
{
	return reply_u64(reply, offered_features(dev));
}

static int h_set_features(struct vu_dev *dev, struct vhost_user_msg *msg,
			  struct vhost_user_msg *reply)
{
	uint64_t f = msg->payload.u64, offered = offered_features(dev), old = dev->features;
	uint16_t i;

	if (f & ~offered) {
		LOG_ERR(VU_TAG, "%s: SET_FEATURES 0x%" PRIx64 " has bits not offered: 0x%" PRIx64,
			dev->vdpa->name, f, f & ~offered);
		return -EINVAL;
	}
	if (dev->configured && ((old ^ f) & ~(1ull << VHOST_F_LOG_ALL))) {
		LOG_ERR(VU_TAG, "%s: SET_FEATURES changes 0x%" PRIx64 " while the device runs",
			dev->vdpa->name, (uint64_t)((old ^ f) & ~(1ull << VHOST_F_LOG_ALL)));
		return -EBUSY;
	}
	dev->features = f;
	{
		int ret = vu_lifecycle_features(dev);

		if (ret < 0) {
			/* Typically dirty logging the device could not start: a
			 * frontend that went on would migrate without the pages
			 * the device writes. Refused, the device keeps running as
			 * it was; a frontend that cannot hear the refusal is
			 * dropped instead. */
			LOG_ERR(VU_TAG, "%s: the device refused features 0x%" PRIx64 ": %s",
				dev->vdpa->name, f, strerror(-ret));
			dev->features = old;
			return vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK) &&
					       (msg->hdr.flags & VHOST_USER_NEED_REPLY_FLAG) ?
				       VU_NACK : ret;
		}
	}
	dev->features_set = true;
	if ((old ^ f) & (1ull << 29))	/* EVENT_IDX changes the ring sizes */
		for (i = 0; i < dev->nr_vring; i++)
			vu_vring_translate(dev, &dev->vrings[i], i);
	if ((old ^ f) & (1ull << VHOST_F_LOG_ALL))
		LOG_INFO(VU_TAG, "%s: dirty logging %s", dev->vdpa->name,
			 (f >> VHOST_F_LOG_ALL) & 1 ? "on" : "off");
	return VU_OK;
}

static int h_set_owner(struct vu_dev *dev, struct vhost_user_msg *msg,
		       struct vhost_user_msg *reply)
{
	dev->owner = true;
	return VU_OK;
}

static int h_reset(struct vu_dev *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply)
{
	reset_device(dev, vhost_user_request_name(msg->hdr.request));
	return VU_OK;
}

static int h_get_protocol_features(struct vu_dev *dev, struct vhost_user_msg *msg,
				   struct vhost_user_msg *reply)
{
	return reply_u64(reply, offered_protocol_features(dev));
}

static int h_set_protocol_features(struct vu_dev *dev, struct vhost_user_msg *msg,
				   struct vhost_user_msg *reply)
{
	uint64_t f = msg->payload.u64, offered = offered_protocol_features(dev);

	if (f & ~offered) {
		LOG_ERR(VU_TAG, "%s: SET_PROTOCOL_FEATURES 0x%" PRIx64 " has bits not offered: 0x%" PRIx64,
			dev->vdpa->name, f, f & ~offered);
		return -EINVAL;
	}
	dev->protocol_features = f;
	return VU_OK;
}

static int h_get_queue_num(struct vu_dev *dev, struct vhost_user_msg *msg,
			   struct vhost_user_msg *reply)
{
	uint32_t n = 1;

	if (dev->vdpa->ops->get_queue_num)
		dev->vdpa->ops->get_queue_num(dev->vdpa, &n);
	return reply_u64(reply, n);
}

static int h_mem_table(struct vu_dev *dev, struct vhost_user_msg *msg,
		       struct vhost_user_msg *reply)
{
	return vu_mem_set_table(dev, msg);
}

static int h_add_mem_reg(struct vu_dev *dev, struct vhost_user_msg *msg,
			 struct vhost_user_msg *reply)
{
	return vu_mem_add_region(dev, msg);
}

static int h_rem_mem_reg(struct vu_dev *dev, struct vhost_user_msg *msg,
			 struct vhost_user_msg *reply)
{
	return vu_mem_rem_region(dev, msg) == -ENOENT ? VU_NACK : VU_OK;
}

static int h_get_max_mem_slots(struct vu_dev *dev, struct vhost_user_msg *msg,
			       struct vhost_user_msg *reply)
{
	return reply_u64(reply, VU_MAX_MEM_SLOTS);
}

static int h_set_log_base(struct vu_dev *dev, struct vhost_user_msg *msg,
			  struct vhost_user_msg *reply)
{
	int ret = vu_log_set_base(dev, msg);

	if (ret < 0)
		return ret;
	/* QEMU replaces the log while logging when guest memory grows: a
	 * driver that handed the old log to hardware must switch to this one.
	 * If it cannot, dirty pages would be lost: the connection fails. */
	if (vu_has_feature(dev, VHOST_F_LOG_ALL)) {
		ret = vu_lifecycle_features(dev);
		if (ret < 0) {
			LOG_ERR(VU_TAG, "%s: the device cannot log into the new dirty log: %s",
				dev->vdpa->name, strerror(-ret));
			return ret;
		}
	}
	/* QEMU waits for this reply when the log is shared memory. */
	return reply_u64(reply, 0);
}

static int h_vring_num(struct vu_dev *dev, struct vhost_user_msg *msg,
		       struct vhost_user_msg *reply)
{
	return vu_vring_set_num(dev, msg);
}

static int h_vring_addr(struct vu_dev *dev, struct vhost_user_msg *msg,
			struct vhost_user_msg *reply)
{
	return vu_vring_set_addr(dev, msg);
}

static int h_vring_base(struct vu_dev *dev, struct vhost_user_msg *msg,
			struct vhost_user_msg *reply)
{
	return vu_vring_set_base(dev, msg);
}

static int h_get_vring_base(struct vu_dev *dev, struct vhost_user_msg *msg,
			    struct vhost_user_msg *reply)
{
	return vu_vring_get_base(dev, msg, reply);
}

static int h_vring_fd(struct vu_dev *dev, struct vhost_user_msg *msg,
		      struct vhost_user_msg *reply)
{
	return vu_vring_set_fd(dev, msg);
}

static int h_vring_enable(struct vu_dev *dev, struct vhost_user_msg *msg,
			  struct vhost_user_msg *reply)
{
	return vu_vring_set_enable(dev, msg);
}

static int h_send_rarp(struct vu_dev *dev, struct vhost_user_msg *msg,
		       struct vhost_user_msg *reply)
{
	vu_lifecycle_migration_done(dev);
	return VU_OK;
}

static int h_net_set_mtu(struct vu_dev *dev, struct vhost_user_msg *msg,
			 struct vhost_user_msg *reply)
{
	uint64_t mtu = msg->payload.u64;

	if (mtu < 68 || mtu > 65535) {
		LOG_WARN(VU_TAG, "%s: NET_SET_MTU %" PRIu64 " refused (68..65535)", dev->vdpa->name,
			 mtu);
		return VU_NACK;
	}
	dev->mtu = (uint16_t)mtu;
	return VU_OK;
}

static int h_backend_req_fd(struct vu_dev *dev, struct vhost_user_msg *msg,
			    struct vhost_user_msg *reply)
{
	return vu_backend_set_fd(dev, msg);
}

/* Checks a config access; false when the request is malformed. */
static bool config_request_ok(const struct vhost_user_msg *msg)
{
	const struct vhost_user_config *c = &msg->payload.config;

	return c->size <= VHOST_USER_MAX_CONFIG_SIZE &&
	       msg->hdr.size == VHOST_USER_CONFIG_HDR_SIZE + c->size;
}

static int h_get_config(struct vu_dev *dev, struct vhost_user_msg *msg,
			struct vhost_user_msg *reply)
{
	const struct vhost_user_config *c = &msg->payload.config;
	int ret = -ENOTSUP;

	if (!config_request_ok(msg)) {
		LOG_ERR(VU_TAG, "GET_CONFIG: size %u does not match a %u-byte message", c->size,
			msg->hdr.size);
		return -EINVAL;
	}
	reply->payload.config = *c;
	memset(reply->payload.config.region, 0, sizeof(reply->payload.config.region));
	if (c->offset <= VHOST_USER_MAX_CONFIG_SIZE - c->size && dev->vdpa->ops->get_config)
		ret = dev->vdpa->ops->get_config(dev->vdpa, reply->payload.config.region, c->offset,
						 c->size);
	/* The spec's error answer is an empty payload. */
	reply->hdr.size = ret < 0 ? 0 : msg->hdr.size;
	return VU_REPLY;
}

static int h_set_config(struct vu_dev *dev, struct vhost_user_msg *msg,
			struct vhost_user_msg *reply)
{
	const struct vhost_user_config *c = &msg->payload.config;
	int ret = -ENOTSUP;

	if (!config_request_ok(msg)) {
		LOG_ERR(VU_TAG, "SET_CONFIG: size %u does not match a %u-byte message", c->size,
			msg->hdr.size);
		return -EINVAL;
	}
	if (c->offset <= VHOST_USER_MAX_CONFIG_SIZE - c->size && dev->vdpa->ops->set_config)
		ret = dev->vdpa->ops->set_config(dev->vdpa, c->region, c->offset, c->size, c->flags);
	return ret < 0 ? VU_NACK : VU_OK;
}

static int h_get_inflight(struct vu_dev *dev, struct vhost_user_msg *msg,
			  struct vhost_user_msg *reply)
{
	return vu_inflight_get(dev, msg, reply);
}

static int h_set_inflight(struct vu_dev *dev, struct vhost_user_msg *msg,
			  struct vhost_user_msg *reply)
{
	return vu_inflight_set(dev, msg);
}

static int h_set_status(struct vu_dev *dev, struct vhost_user_msg *msg,
			struct vhost_user_msg *reply)
{
	uint64_t s = msg->payload.u64;

	if (s > 0xff) {
		LOG_ERR(VU_TAG, "SET_STATUS 0x%" PRIx64 " is not a status byte", s);
		return -EINVAL;
	}
	dev->status = (uint8_t)s;
	/* The device runs only while DRIVER_OK is set (device_ready() waits for
	 * it): a reset (0) or any status without it stops the device. */
	if (!(s & VIRTIO_CONFIG_S_DRIVER_OK))
		vu_device_close(dev, s ? "DRIVER_OK cleared" : "status reset");
	return VU_OK;
}

static int h_get_status(struct vu_dev *dev, struct vhost_user_msg *msg,
			struct vhost_user_msg *reply)
{
	return reply_u64(reply, dev->status);
}

#define STATE_SZ sizeof(struct vhost_user_vring_state)
#define P(bit) VHOST_USER_PROTOCOL_F_##bit

static const struct vu_handler handlers[VHOST_USER_REQUEST_MAX] = {
	[VHOST_USER_GET_FEATURES] = { h_get_features, 0, 0, 0, 0, NO_PROTO },
	[VHOST_USER_SET_FEATURES] = { h_set_features, 8, 8, 0, 0, NO_PROTO },
	[VHOST_USER_SET_OWNER] = { h_set_owner, 0, 0, 0, 0, NO_PROTO },
	[VHOST_USER_RESET_OWNER] = { h_reset, 0, 0, 0, 0, NO_PROTO },
	[VHOST_USER_SET_MEM_TABLE] = { h_mem_table, 8 + 32, sizeof(struct vhost_user_memory), 1,
				       VHOST_USER_MAX_REGIONS, NO_PROTO },
	[VHOST_USER_SET_LOG_BASE] = { h_set_log_base, sizeof(struct vhost_user_log),
				      sizeof(struct vhost_user_log), 1, 1, P(LOG_SHMFD) },
	[VHOST_USER_SET_VRING_NUM] = { h_vring_num, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO, RING_STATE },
	[VHOST_USER_SET_VRING_ADDR] = { h_vring_addr, sizeof(struct vhost_user_vring_addr),
					sizeof(struct vhost_user_vring_addr), 0, 0, NO_PROTO, RING_ADDR },
	[VHOST_USER_SET_VRING_BASE] = { h_vring_base, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO, RING_STATE },
	[VHOST_USER_GET_VRING_BASE] = { h_get_vring_base, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO, RING_STATE },
	[VHOST_USER_SET_VRING_KICK] = { h_vring_fd, 8, 8, 0, 1, NO_PROTO, RING_FD },
	[VHOST_USER_SET_VRING_CALL] = { h_vring_fd, 8, 8, 0, 1, NO_PROTO, RING_FD },
	[VHOST_USER_SET_VRING_ERR] = { h_vring_fd, 8, 8, 0, 1, NO_PROTO, RING_FD },
	[VHOST_USER_GET_PROTOCOL_FEATURES] = { h_get_protocol_features, 0, 0, 0, 0, NO_PROTO },
	[VHOST_USER_SET_PROTOCOL_FEATURES] = { h_set_protocol_features, 8, 8, 0, 0, NO_PROTO },
	[VHOST_USER_GET_QUEUE_NUM] = { h_get_queue_num, 0, 0, 0, 0, P(MQ) },
	[VHOST_USER_SET_VRING_ENABLE] = { h_vring_enable, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO, RING_STATE },
	[VHOST_USER_SEND_RARP] = { h_send_rarp, 8, 8, 0, 0, P(RARP) },
	[VHOST_USER_NET_SET_MTU] = { h_net_set_mtu, 8, 8, 0, 0, P(NET_MTU) },
	[VHOST_USER_SET_BACKEND_REQ_FD] = { h_backend_req_fd, 0, 0, 1, 1, P(BACKEND_REQ) },
	[VHOST_USER_GET_CONFIG] = { h_get_config, VHOST_USER_CONFIG_HDR_SIZE,
				    sizeof(struct vhost_user_config), 0, 0, P(CONFIG) },
	[VHOST_USER_SET_CONFIG] = { h_set_config, VHOST_USER_CONFIG_HDR_SIZE,
				    sizeof(struct vhost_user_config), 0, 0, P(CONFIG) },
	[VHOST_USER_GET_INFLIGHT_FD] = { h_get_inflight, sizeof(struct vhost_user_inflight),
					 sizeof(struct vhost_user_inflight), 0, 0, P(INFLIGHT_SHMFD) },
	[VHOST_USER_SET_INFLIGHT_FD] = { h_set_inflight, sizeof(struct vhost_user_inflight),
					 sizeof(struct vhost_user_inflight), 1, 1, P(INFLIGHT_SHMFD) },
	[VHOST_USER_RESET_DEVICE] = { h_reset, 0, 0, 0, 0, P(RESET_DEVICE) },
	[VHOST_USER_GET_MAX_MEM_SLOTS] = { h_get_max_mem_slots, 0, 0, 0, 0, P(CONFIGURE_MEM_SLOTS) },
	[VHOST_USER_ADD_MEM_REG] = { h_add_mem_reg, sizeof(struct vhost_user_mem_reg_single),
				     sizeof(struct vhost_user_mem_reg_single), 1, 1,
				     P(CONFIGURE_MEM_SLOTS) },
	[VHOST_USER_REM_MEM_REG] = { h_rem_mem_reg, sizeof(struct vhost_user_mem_reg_single),
				     sizeof(struct vhost_user_mem_reg_single), 0, 1,
				     P(CONFIGURE_MEM_SLOTS) },
	[VHOST_USER_SET_STATUS] = { h_set_status, 8, 8, 0, 0, P(STATUS) },
	[VHOST_USER_GET_STATUS] = { h_get_status, 0, 0, 0, 0, P(STATUS) },
};

/* ---- Dispatch ---- */

void vu_msg_close_fds(struct vhost_user_msg *msg)
{
	int i, n = msg->nfds < VHOST_USER_MAX_FDS ? msg->nfds : VHOST_USER_MAX_FDS;

	/* nfds comes from the caller and may be out of range (refused as such). */
	for (i = 0; i < n; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
}

int vu_msg_take_fd(struct vhost_user_msg *msg, int i)
{
	int fd = msg->fds[i];

	msg->fds[i] = -1;
	return fd;
}

static void make_reply(const struct vhost_user_msg *msg, struct vhost_user_msg *reply)
{
	reply->hdr.request = msg->hdr.request;
	reply->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG;
}

static void make_ack(const struct vhost_user_msg *msg, struct vhost_user_msg *reply, uint64_t v)
{
	make_reply(msg, reply);
	reply->hdr.size = sizeof(uint64_t);
	reply->payload.u64 = v;
}

/* The generic checks every message passes before its handler. */
/* The vring a message names, checked once for every such message: in
 * range, and (for the fd messages) no reserved bits. The rings a frontend
 * touched are counted here and nowhere else. */
static int ring_validate(struct vu_dev *dev, const struct vhost_user_msg *msg,
			 const struct vu_handler *h, const char *name)
{
	uint64_t idx;

	switch (h->ring) {
	case RING_STATE:
		idx = msg->payload.state.index;
		break;
	case RING_ADDR:
		idx = msg->payload.addr.index;
		break;
	case RING_FD:
		if (msg->payload.u64 &
		    ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
			LOG_ERR(VU_TAG, "%s: %s payload 0x%llx has reserved bits set",
				dev->vdpa->name, name, (unsigned long long)msg->payload.u64);
			return -EINVAL;
		}
		idx = msg->payload.u64 & VHOST_USER_VRING_IDX_MASK;
		break;
	default:
		return 0;
	}
	if (idx >= VU_MAX_VRINGS) {
		LOG_ERR(VU_TAG, "%s: %s: vring index %llu out of range (max %u)", dev->vdpa->name,
			name, (unsigned long long)idx, VU_MAX_VRINGS - 1);
		return -EINVAL;
	}
	if (idx >= dev->nr_vring)
		dev->nr_vring = (uint16_t)(idx + 1);
	return 0;
}

static int msg_validate(struct vu_dev *dev, const struct vhost_user_msg *msg,
			const struct vu_handler *h, const char *name)
{
	if (msg->hdr.size < h->size_min || msg->hdr.size > h->size_max) {
		LOG_ERR(VU_TAG, "%s: %s with a %u-byte payload (expected %u..%u)", dev->vdpa->name,
			name, msg->hdr.size, h->size_min, h->size_max);
		return -EINVAL;
	}
	if (msg->nfds < h->fds_min || msg->nfds > h->fds_max) {
		LOG_ERR(VU_TAG, "%s: %s with %d fds (expected %u..%u)", dev->vdpa->name, name,
			msg->nfds, h->fds_min, h->fds_max);
		return -EINVAL;
	}
	if (h->proto != NO_PROTO && !vu_has_protocol(dev, h->proto)) {
		LOG_ERR(VU_TAG, "%s: %s needs protocol feature %u, which was not negotiated",
			dev->vdpa->name, name, h->proto);
		return -EINVAL;
	}
	return ring_validate(dev, msg, h, name);
}

int vu_msg_dispatch(struct vu_dev *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply)
{
	uint32_t req = msg->hdr.request;
	const char *name = vhost_user_request_name(req);
	bool need_reply = (msg->hdr.flags & VHOST_USER_NEED_REPLY_FLAG) &&
			  vu_has_protocol(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	const struct vu_handler *h;
	int ret;

	memset(reply, 0, sizeof(*reply));
	reply->nfds = 0;
	dev->stats.msgs++;

	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (msg->hdr.flags & VHOST_USER_REPLY_FLAG)) {
		LOG_ERR(VU_TAG, "%s: message %u with bad flags 0x%x", dev->vdpa->name, req,
			msg->hdr.flags);
		ret = -EPROTO;
		goto fail;
	}
	if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX || msg->nfds < 0 || msg->nfds > VHOST_USER_MAX_FDS) {
		ret = -EPROTO;
		goto fail;
	}
	h = req < VHOST_USER_REQUEST_MAX ? &handlers[req] : NULL;
	if (!h || !h->fn) {
		/* Unknown or unsupported: refuse it, keep serving. */
		LOG_WARN(VU_TAG, "%s: unsupported request %u (%s) refused", dev->vdpa->name, req, name);
		dev->stats.bad_msgs++;
		vu_msg_close_fds(msg);
		make_ack(msg, reply, 1);
		return 0;
	}
	LOG_DEBUG(VU_TAG, "%s: %s size %u fds %d", dev->vdpa->name, name, msg->hdr.size, msg->nfds);
	ret = msg_validate(dev, msg, h, name);
	if (ret)
		goto fail;
	dev->in_dispatch = true;
	ret = h->fn(dev, msg, reply);
	dev->in_dispatch = false;
	vu_msg_close_fds(msg);	/* whatever the handler did not keep */
	if (ret < 0)
		goto fail;
	switch (ret) {
	case VU_REPLY:
		make_reply(msg, reply);
		break;
	case VU_NACK:
		dev->stats.bad_msgs++;
		if (need_reply)
			make_ack(msg, reply, 1);
		break;
	default:
		if (need_reply)
			make_ack(msg, reply, 0);
		break;
	}
	vu_lifecycle_stop_changes(dev);
	return 0;

fail:
	dev->stats.bad_msgs++;
	vu_msg_close_fds(msg);
	/* Tell a frontend that waits for an answer, then drop the connection. */
	if (need_reply)
		make_ack(msg, reply, 1);
	else
		memset(reply, 0, sizeof(*reply));
	LOG_ERR(VU_TAG, "%s: %s failed (%s): closing the connection", dev->vdpa->name, name,
		strerror(-ret));
	return ret;
}

int vu_dev_handle_msg(struct vu_dev *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply)
{
	int ret = vu_msg_dispatch(dev, msg, reply);

	/* A transport sends the reply here, between the two steps. */
	if (ret == 0)
		vu_lifecycle_start_changes(dev);
	return ret;
}

/* ---- Accessors ---- */

uint64_t vu_get_features(struct vu_dev *dev)
{
	return dev->features;
}

uint64_t vu_get_protocol_features(struct vu_dev *dev)
{
	return dev->protocol_features;
}

uint8_t vu_get_status(struct vu_dev *dev)
{
	return dev->status;
}
