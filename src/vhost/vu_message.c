/* Message dispatch: a table of handlers whose entries carry what a message
 * must be to reach its handler (payload size, fd count, protocol feature,
 * and where its ring index is), checked once, generically, before any
 * handler runs; and the handlers, which update the per-concern state and
 * leave every device-lifecycle decision to vu_lifecycle.c. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "vu_internal.h"

/* Handler results besides a negative errno (which fails the connection). */
enum {
	VU_OK = 0,	/* done; ack if the frontend asked */
	VU_REPLY = 1,	/* the handler filled its own reply */
	VU_NACK = 2,	/* refused; the connection stays up */
};

#define NO_PROTO 0xff

/* Where a request carries its ring index. */
enum vu_ring_kind {
	RING_NONE,
	RING_U64,	/* payload.u64 & VHOST_USER_VRING_IDX_MASK, NOFD flag (fd messages) */
	RING_STATE,	/* payload.state.index */
	RING_ADDR,	/* payload.addr.index */
};

/* One message on its way through a handler. */
struct vu_req {
	struct vhost_user_msg *msg;
	struct vhost_user_msg *reply;
	const char *name;
	uint16_t ring;		/* validated index, for entries with a ring kind */
};

typedef int (*vu_handler_fn)(struct uvdpa_vhost *dev, struct vu_req *r);

struct vu_handler {
	vu_handler_fn fn;
	uint32_t size_min, size_max;	/* payload bytes */
	uint8_t fds_min, fds_max;
	uint8_t proto;			/* protocol feature required, or NO_PROTO */
	uint8_t ring;			/* enum vu_ring_kind */
};

/* ---- Handlers ---- */

static int reply_u64(struct vhost_user_msg *reply, uint64_t v)
{
	reply->hdr.size = sizeof(uint64_t);
	reply->payload.u64 = v;
	return VU_REPLY;
}

static bool wants_ack(struct uvdpa_vhost *dev, const struct vhost_user_msg *msg)
{
	return vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK) &&
	       (msg->hdr.flags & VHOST_USER_NEED_REPLY_FLAG);
}

static int h_get_features(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return reply_u64(r->reply, vu_lc_offered_features(dev));
}

static int h_set_features(struct uvdpa_vhost *dev, struct vu_req *r)
{
	uint64_t f = r->msg->payload.u64, offered = vu_lc_offered_features(dev);
	uint64_t changed = (dev->features ^ f) & ~(1ull << UVDPA_VHOST_F_LOG_ALL);
	int ret;

	if (f & ~offered) {
		LOG_ERR(VU_TAG, "%s: SET_FEATURES 0x%" PRIx64 " has bits not offered: 0x%" PRIx64,
			dev->vdpa->name, f, f & ~offered);
		return -EINVAL;
	}
	if (dev->configured && changed) {
		LOG_ERR(VU_TAG, "%s: SET_FEATURES changes 0x%" PRIx64 " while the device runs",
			dev->vdpa->name, changed);
		return -EBUSY;
	}
	ret = vu_lc_set_features(dev, f);
	/* A frontend that went on after a refused LOG_ALL would migrate without
	 * the pages the device writes: one that cannot hear the refusal is
	 * dropped instead. */
	if (ret < 0)
		return wants_ack(dev, r->msg) ? VU_NACK : ret;
	return VU_OK;
}

static int h_set_owner(struct uvdpa_vhost *dev, struct vu_req *r)
{
	dev->owner = true;
	return VU_OK;
}

static int h_reset(struct uvdpa_vhost *dev, struct vu_req *r)
{
	vu_lc_reset_device(dev, r->name);
	return VU_OK;
}

static int h_get_protocol_features(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return reply_u64(r->reply, vu_lc_offered_protocol_features(dev));
}

static int h_set_protocol_features(struct uvdpa_vhost *dev, struct vu_req *r)
{
	uint64_t f = r->msg->payload.u64, offered = vu_lc_offered_protocol_features(dev);

	if (f & ~offered) {
		LOG_ERR(VU_TAG, "%s: SET_PROTOCOL_FEATURES 0x%" PRIx64 " has bits not offered: 0x%" PRIx64,
			dev->vdpa->name, f, f & ~offered);
		return -EINVAL;
	}
	dev->protocol_features = f;
	return VU_OK;
}

static int h_get_queue_num(struct uvdpa_vhost *dev, struct vu_req *r)
{
	uint32_t n = 1;

	if (dev->vdpa->ops->get_queue_num)
		dev->vdpa->ops->get_queue_num(dev->vdpa, &n);
	return reply_u64(r->reply, n);
}

/* SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG: prepare, then let the lifecycle
 * stop the device and install the change. */
static int mem_change(struct uvdpa_vhost *dev, struct vu_req *r,
		      int (*prepare)(struct uvdpa_vhost *, struct vhost_user_msg *, struct vu_mem_change *))
{
	struct vu_mem_change c;
	int ret = prepare(dev, r->msg, &c);

	if (ret > 0)
		vu_lc_change_memory(dev, &c, r->name);
	return ret < 0 ? ret : VU_OK;
}

static int h_mem_table(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return mem_change(dev, r, vu_mem_prepare_table);
}

static int h_add_mem_reg(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return mem_change(dev, r, vu_mem_prepare_add);
}

static int h_rem_mem_reg(struct uvdpa_vhost *dev, struct vu_req *r)
{
	/* The spec allows an fd here for old frontends; it is never used. */
	vu_msg_close_fds(r->msg);
	return mem_change(dev, r, vu_mem_prepare_remove) == -ENOENT ? VU_NACK : VU_OK;
}

static int h_get_max_mem_slots(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return reply_u64(r->reply, VU_MAX_MEM_SLOTS);
}

static int h_set_log_base(struct uvdpa_vhost *dev, struct vu_req *r)
{
	int ret = vu_log_set_base(dev, r->msg);

	/* Without the device logging into the new log dirty pages would be
	 * lost: the connection fails. A repeat of the current log changes
	 * nothing. */
	if (ret == 0)
		ret = vu_lc_log_replaced(dev);
	if (ret < 0)
		return ret;
	/* QEMU waits for this reply when the log is shared memory. */
	return reply_u64(r->reply, 0);
}

/* Applies a ring change, stopping the ring first when it runs. */
static int ring_change(struct uvdpa_vhost *dev, struct vu_req *r, int changes)
{
	const struct vhost_user_msg *msg = r->msg;

	if (changes < 0)
		return changes;
	if (changes)
		vu_lc_vring_quiesce(dev, r->ring);
	switch (msg->hdr.request) {
	case VHOST_USER_SET_VRING_NUM:
		return changes ? vu_vring_set_num(dev, r->ring, msg->payload.state.num) : VU_OK;
	case VHOST_USER_SET_VRING_ADDR:
		return vu_vring_set_addr(dev, r->ring, &msg->payload.addr);
	default:
		return vu_vring_set_base(dev, r->ring, msg->payload.state.num);
	}
}

static int h_vring_num(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return ring_change(dev, r, vu_vring_num_changes(dev, r->ring, r->msg->payload.state.num));
}

static int h_vring_addr(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return ring_change(dev, r, vu_vring_addr_changes(dev, r->ring, &r->msg->payload.addr));
}

static int h_vring_base(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return ring_change(dev, r, 1);
}

static int h_get_vring_base(struct uvdpa_vhost *dev, struct vu_req *r)
{
	const struct vu_vring *vq = &dev->vrings[r->ring];

	/* The first ring stopped stops the device, which hands back its ring
	 * state through the session before the answer is read here. */
	vu_lc_stop(dev, r->name);
	r->reply->payload.state.index = r->ring;
	r->reply->payload.state.num = vq->last_avail_idx;
	r->reply->hdr.size = sizeof(r->reply->payload.state);
	LOG_DEBUG(VU_TAG, "%s: vring %u stopped at %u", dev->vdpa->name, r->ring,
		  vq->last_avail_idx);
	vu_vring_stop(dev, r->ring);
	return VU_REPLY;
}

static int h_vring_fd(struct uvdpa_vhost *dev, struct vu_req *r)
{
	struct vhost_user_msg *msg = r->msg;
	bool nofd = msg->payload.u64 & VHOST_USER_VRING_NOFD_MASK;

	if (nofd != (msg->nfds == 0)) {
		LOG_ERR(VU_TAG, "%s: vring %u %s but %d fds came", r->name, r->ring,
			nofd ? "says no fd" : "expects an fd", msg->nfds);
		return -EINVAL;
	}
	/* The ring's old kick or call fd may be in use by a running ring. */
	if (msg->hdr.request != VHOST_USER_SET_VRING_ERR)
		vu_lc_vring_quiesce(dev, r->ring);
	vu_vring_set_fd(dev, r->ring, msg->hdr.request, nofd ? -1 : vu_msg_take_fd(msg, 0));
	return VU_OK;
}

static int h_vring_enable(struct uvdpa_vhost *dev, struct vu_req *r)
{
	uint32_t on = r->msg->payload.state.num;

	if (on > 1) {
		LOG_ERR(VU_TAG, "SET_VRING_ENABLE: vring %u value %u is not 0 or 1", r->ring, on);
		return -EINVAL;
	}
	vu_vring_set_enable(dev, r->ring, on);
	return VU_OK;
}

static int h_send_rarp(struct uvdpa_vhost *dev, struct vu_req *r)
{
	uint64_t mac = r->msg->payload.u64;

	/* The MAC is the payload's first six bytes (QEMU's layout). */
	memcpy(dev->rarp_mac, &mac, sizeof(dev->rarp_mac));
	dev->rarp_pending = true;	/* migration_done after the reply */
	return VU_OK;
}

static int h_net_set_mtu(struct uvdpa_vhost *dev, struct vu_req *r)
{
	uint64_t mtu = r->msg->payload.u64;

	if (mtu < 68 || mtu > 65535) {
		LOG_WARN(VU_TAG, "%s: NET_SET_MTU %" PRIu64 " refused (68..65535)", dev->vdpa->name,
			 mtu);
		return VU_NACK;
	}
	dev->mtu = (uint16_t)mtu;
	return VU_OK;
}

static int h_backend_req_fd(struct uvdpa_vhost *dev, struct vu_req *r)
{
	vu_backend_set_fd(dev, vu_msg_take_fd(r->msg, 0));
	return VU_OK;
}

static bool config_request_ok(const struct vhost_user_msg *msg)
{
	const struct vhost_user_config *c = &msg->payload.config;

	return c->size <= VHOST_USER_MAX_CONFIG_SIZE &&
	       msg->hdr.size == VHOST_USER_CONFIG_HDR_SIZE + c->size;
}

static int h_get_config(struct uvdpa_vhost *dev, struct vu_req *r)
{
	const struct vhost_user_msg *msg = r->msg;
	struct vhost_user_msg *reply = r->reply;
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

static int h_set_config(struct uvdpa_vhost *dev, struct vu_req *r)
{
	const struct vhost_user_msg *msg = r->msg;
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

/* A device may be recording into the region: it stops before the region
 * is replaced, and starts again on the new one once the session is ready. */
static int h_get_inflight(struct uvdpa_vhost *dev, struct vu_req *r)
{
	int ret;

	vu_lc_stop(dev, "the inflight region is replaced");
	ret = vu_inflight_get(dev, r->msg, r->reply);

	return ret < 0 ? ret : VU_REPLY;
}

static int h_set_inflight(struct uvdpa_vhost *dev, struct vu_req *r)
{
	vu_lc_stop(dev, "the inflight region is replaced");
	return vu_inflight_set(dev, r->msg);
}

static int h_set_status(struct uvdpa_vhost *dev, struct vu_req *r)
{
	uint64_t s = r->msg->payload.u64;

	if (s > 0xff) {
		LOG_ERR(VU_TAG, "SET_STATUS 0x%" PRIx64 " is not a status byte", s);
		return -EINVAL;
	}
	vu_lc_set_status(dev, (uint8_t)s);
	return VU_OK;
}

static int h_get_status(struct uvdpa_vhost *dev, struct vu_req *r)
{
	return reply_u64(r->reply, dev->status);
}

#define STATE_SZ sizeof(struct vhost_user_vring_state)
#define ADDR_SZ sizeof(struct vhost_user_vring_addr)
#define P(bit) UVDPA_VHOST_USER_PROTOCOL_F_##bit

static const struct vu_handler handlers[VHOST_USER_REQUEST_MAX] = {
	[VHOST_USER_GET_FEATURES] = { h_get_features, 0, 0, 0, 0, NO_PROTO, RING_NONE },
	[VHOST_USER_SET_FEATURES] = { h_set_features, 8, 8, 0, 0, NO_PROTO, RING_NONE },
	[VHOST_USER_SET_OWNER] = { h_set_owner, 0, 0, 0, 0, NO_PROTO, RING_NONE },
	[VHOST_USER_RESET_OWNER] = { h_reset, 0, 0, 0, 0, NO_PROTO, RING_NONE },
	[VHOST_USER_SET_MEM_TABLE] = { h_mem_table, 8 + 32, sizeof(struct vhost_user_memory), 1,
				       VHOST_USER_MAX_REGIONS, NO_PROTO, RING_NONE },
	[VHOST_USER_SET_LOG_BASE] = { h_set_log_base, sizeof(struct vhost_user_log),
				      sizeof(struct vhost_user_log), 1, 1, P(LOG_SHMFD), RING_NONE },
	[VHOST_USER_SET_VRING_NUM] = { h_vring_num, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO, RING_STATE },
	[VHOST_USER_SET_VRING_ADDR] = { h_vring_addr, ADDR_SZ, ADDR_SZ, 0, 0, NO_PROTO, RING_ADDR },
	[VHOST_USER_SET_VRING_BASE] = { h_vring_base, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO, RING_STATE },
	[VHOST_USER_GET_VRING_BASE] = { h_get_vring_base, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO,
					RING_STATE },
	[VHOST_USER_SET_VRING_KICK] = { h_vring_fd, 8, 8, 0, 1, NO_PROTO, RING_U64 },
	[VHOST_USER_SET_VRING_CALL] = { h_vring_fd, 8, 8, 0, 1, NO_PROTO, RING_U64 },
	[VHOST_USER_SET_VRING_ERR] = { h_vring_fd, 8, 8, 0, 1, NO_PROTO, RING_U64 },
	[VHOST_USER_GET_PROTOCOL_FEATURES] = { h_get_protocol_features, 0, 0, 0, 0, NO_PROTO,
					       RING_NONE },
	[VHOST_USER_SET_PROTOCOL_FEATURES] = { h_set_protocol_features, 8, 8, 0, 0, NO_PROTO,
					       RING_NONE },
	[VHOST_USER_GET_QUEUE_NUM] = { h_get_queue_num, 0, 0, 0, 0, P(MQ), RING_NONE },
	[VHOST_USER_SET_VRING_ENABLE] = { h_vring_enable, STATE_SZ, STATE_SZ, 0, 0, NO_PROTO,
					  RING_STATE },
	[VHOST_USER_SEND_RARP] = { h_send_rarp, 8, 8, 0, 0, P(RARP), RING_NONE },
	[VHOST_USER_NET_SET_MTU] = { h_net_set_mtu, 8, 8, 0, 0, P(NET_MTU), RING_NONE },
	[VHOST_USER_SET_BACKEND_REQ_FD] = { h_backend_req_fd, 0, 0, 1, 1, P(BACKEND_REQ),
					    RING_NONE },
	[VHOST_USER_GET_CONFIG] = { h_get_config, VHOST_USER_CONFIG_HDR_SIZE,
				    sizeof(struct vhost_user_config), 0, 0, P(CONFIG), RING_NONE },
	[VHOST_USER_SET_CONFIG] = { h_set_config, VHOST_USER_CONFIG_HDR_SIZE,
				    sizeof(struct vhost_user_config), 0, 0, P(CONFIG), RING_NONE },
	[VHOST_USER_GET_INFLIGHT_FD] = { h_get_inflight, sizeof(struct vhost_user_inflight),
					 VHOST_USER_INFLIGHT_PADDED_SIZE, 0, 0,
					 P(INFLIGHT_SHMFD), RING_NONE },
	[VHOST_USER_SET_INFLIGHT_FD] = { h_set_inflight, sizeof(struct vhost_user_inflight),
					 VHOST_USER_INFLIGHT_PADDED_SIZE, 1, 1,
					 P(INFLIGHT_SHMFD), RING_NONE },
	[VHOST_USER_RESET_DEVICE] = { h_reset, 0, 0, 0, 0, P(RESET_DEVICE), RING_NONE },
	[VHOST_USER_GET_MAX_MEM_SLOTS] = { h_get_max_mem_slots, 0, 0, 0, 0,
					   P(CONFIGURE_MEM_SLOTS), RING_NONE },
	[VHOST_USER_ADD_MEM_REG] = { h_add_mem_reg, sizeof(struct vhost_user_mem_reg_single),
				     sizeof(struct vhost_user_mem_reg_single), 1, 1,
				     P(CONFIGURE_MEM_SLOTS), RING_NONE },
	[VHOST_USER_REM_MEM_REG] = { h_rem_mem_reg, sizeof(struct vhost_user_mem_reg_single),
				     sizeof(struct vhost_user_mem_reg_single), 0, 1,
				     P(CONFIGURE_MEM_SLOTS), RING_NONE },
	[VHOST_USER_SET_STATUS] = { h_set_status, 8, 8, 0, 0, P(STATUS), RING_NONE },
	[VHOST_USER_GET_STATUS] = { h_get_status, 0, 0, 0, 0, P(STATUS), RING_NONE },
};

/* ---- Dispatch ---- */

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

/* The ring index a message names, validated: r->ring, or -EINVAL. */
static int ring_index(struct uvdpa_vhost *dev, const struct vu_handler *h, struct vu_req *r)
{
	const union vhost_user_payload *p = &r->msg->payload;
	uint64_t idx;

	switch (h->ring) {
	case RING_NONE:
		return 0;
	case RING_U64:
		if (p->u64 & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
			LOG_ERR(VU_TAG, "%s: payload 0x%" PRIx64 " has reserved bits set", r->name,
				p->u64);
			return -EINVAL;
		}
		idx = p->u64 & VHOST_USER_VRING_IDX_MASK;
		break;
	case RING_STATE:
		idx = p->state.index;
		break;
	default:
		idx = p->addr.index;
		break;
	}
	if (idx >= UVDPA_VHOST_MAX_VRINGS) {
		LOG_ERR(VU_TAG, "%s: vring index %" PRIu64 " out of range (max %u)", r->name, idx,
			UVDPA_VHOST_MAX_VRINGS - 1);
		return -EINVAL;
	}
	r->ring = (uint16_t)idx;
	vu_vrings_touch(dev, r->ring);
	return 0;
}

/* The generic checks every message passes before its handler. */
static int msg_validate(struct uvdpa_vhost *dev, const struct vu_handler *h, struct vu_req *r)
{
	const struct vhost_user_msg *msg = r->msg;

	if (msg->hdr.size < h->size_min || msg->hdr.size > h->size_max) {
		LOG_ERR(VU_TAG, "%s: %s with a %u-byte payload (expected %u..%u)", dev->vdpa->name,
			r->name, msg->hdr.size, h->size_min, h->size_max);
		return -EINVAL;
	}
	if (msg->nfds < h->fds_min || msg->nfds > h->fds_max) {
		LOG_ERR(VU_TAG, "%s: %s with %d fds (expected %u..%u)", dev->vdpa->name, r->name,
			msg->nfds, h->fds_min, h->fds_max);
		return -EINVAL;
	}
	if (h->proto != NO_PROTO && !vu_has_protocol(dev, h->proto)) {
		LOG_ERR(VU_TAG, "%s: %s needs protocol feature %u, which was not negotiated",
			dev->vdpa->name, r->name, h->proto);
		return -EINVAL;
	}
	return ring_index(dev, h, r);
}

static bool header_ok(struct uvdpa_vhost *dev, const struct vhost_user_msg *msg)
{
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (msg->hdr.flags & VHOST_USER_REPLY_FLAG)) {
		LOG_ERR(VU_TAG, "%s: message %u with bad flags 0x%x", dev->vdpa->name,
			msg->hdr.request, msg->hdr.flags);
		return false;
	}
	return msg->hdr.size <= VHOST_USER_PAYLOAD_MAX && msg->nfds >= 0 &&
	       msg->nfds <= VHOST_USER_MAX_FDS;
}

/* Turns a handler's result into the reply. */
static void reply_for(struct uvdpa_vhost *dev, struct vu_req *r, int ret, bool need_reply)
{
	switch (ret) {
	case VU_REPLY:
		make_reply(r->msg, r->reply);
		break;
	case VU_NACK:
		dev->stats.bad_msgs++;
		if (need_reply)
			make_ack(r->msg, r->reply, 1);
		break;
	default:
		if (need_reply)
			make_ack(r->msg, r->reply, 0);
		break;
	}
}

static int run_handler(struct uvdpa_vhost *dev, struct vu_req *r, bool need_reply)
{
	uint32_t req = r->msg->hdr.request;
	const struct vu_handler *h = req < VHOST_USER_REQUEST_MAX ? &handlers[req] : NULL;
	int ret;

	if (!h || !h->fn) {
		/* Unknown or unsupported: refuse it, keep serving. */
		LOG_WARN(VU_TAG, "%s: unsupported request %u (%s) refused", dev->vdpa->name, req,
			 r->name);
		dev->stats.bad_msgs++;
		make_ack(r->msg, r->reply, 1);
		return 0;
	}
	LOG_DEBUG(VU_TAG, "%s: %s size %u fds %d", dev->vdpa->name, r->name, r->msg->hdr.size,
		  r->msg->nfds);
	ret = msg_validate(dev, h, r);
	if (ret == 0)
		ret = h->fn(dev, r);
	if (ret >= 0)
		reply_for(dev, r, ret, need_reply);
	return ret < 0 ? ret : 0;
}

int vu_dev_handle_msg(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply)
{
	struct vu_req r = { .msg = msg, .reply = reply,
			    .name = vhost_user_request_name(msg->hdr.request) };
	bool need_reply = wants_ack(dev, msg);
	int ret = -EPROTO;

	dev->msg_ns = uvdpa_now_ns();
	memset(reply, 0, sizeof(*reply));
	reply->nfds = 0;
	dev->stats.msgs++;
	/* Backend requests a device makes from here on wait for the reply. */
	vu_backend_defer(dev);
	if (header_ok(dev, msg))
		ret = run_handler(dev, &r, need_reply);
	vu_msg_close_fds(msg);	/* whatever the handler did not keep */
	if (ret == 0) {
		/* A device the message made startable runs before the frontend
		 * hears the reply: a frontend that waits for it (SET_STATUS
		 * DRIVER_OK with REPLY_ACK) then finds it running, and does not
		 * take the CPU the start needs. */
		vu_lc_start(dev);
		return 0;
	}
	dev->stats.bad_msgs++;
	/* Tell a frontend that waits for an answer, then drop the connection. */
	memset(reply, 0, sizeof(*reply));
	if (need_reply)
		make_ack(msg, reply, 1);
	LOG_ERR(VU_TAG, "%s: %s failed (%s): closing the connection", dev->vdpa->name, r.name,
		strerror(-ret));
	return ret;
}

void vu_dev_after_reply(struct uvdpa_vhost *dev)
{
	vu_lc_after_reply(dev);
	vu_backend_flush(dev);
}
