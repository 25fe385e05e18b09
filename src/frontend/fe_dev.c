/* Test frontend session: the vhost-user handshake in QEMU's order with replies
 * and acks checked, memory hot-plug, teardown and reconnect. */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "frontend/fe_wire.h"
#include "frontend/frontend.h"
#include "core/log.h"

#define TAG "fe-dev"
#define BIT(n) (1ull << (n))

uint64_t fe_default_features(unsigned int queue_pairs)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
		     BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_F_ANY_LAYOUT) |
		     BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
		     BIT(UVDPA_VHOST_USER_F_PROTOCOL_FEATURES);

	if (queue_pairs > 1)
		f |= BIT(VIRTIO_NET_F_MQ);
	return f;
}

uint64_t fe_default_protocol_features(void)
{
	return BIT(UVDPA_VHOST_USER_PROTOCOL_F_MQ) | BIT(UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK) |
	       BIT(UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
	       BIT(UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) |
	       BIT(UVDPA_VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) | BIT(UVDPA_VHOST_USER_PROTOCOL_F_STATUS);
}

struct feature_name {
	unsigned int bit;
	const char *name;
};

static const struct feature_name net_names[] = {
	{ VIRTIO_NET_F_CSUM, "CSUM" },
	{ VIRTIO_NET_F_GUEST_CSUM, "GUEST_CSUM" },
	{ VIRTIO_NET_F_MTU, "MTU" },
	{ VIRTIO_NET_F_MAC, "MAC" },
	{ VIRTIO_NET_F_GUEST_TSO4, "GUEST_TSO4" },
	{ VIRTIO_NET_F_HOST_TSO4, "HOST_TSO4" },
	{ VIRTIO_NET_F_MRG_RXBUF, "MRG_RXBUF" },
	{ VIRTIO_NET_F_STATUS, "STATUS" },
	{ VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ" },
	{ VIRTIO_NET_F_GUEST_ANNOUNCE, "GUEST_ANNOUNCE" },
	{ VIRTIO_NET_F_MQ, "MQ" },
};

static const struct feature_name blk_names[] = {
	{ VIRTIO_BLK_F_SIZE_MAX, "SIZE_MAX" },
	{ VIRTIO_BLK_F_SEG_MAX, "SEG_MAX" },
	{ VIRTIO_BLK_F_GEOMETRY, "GEOMETRY" },
	{ VIRTIO_BLK_F_RO, "RO" },
	{ VIRTIO_BLK_F_BLK_SIZE, "BLK_SIZE" },
	{ VIRTIO_BLK_F_FLUSH, "FLUSH" },
	{ VIRTIO_BLK_F_TOPOLOGY, "TOPOLOGY" },
	{ VIRTIO_BLK_F_CONFIG_WCE, "CONFIG_WCE" },
	{ VIRTIO_BLK_F_MQ, "MQ" },
	{ VIRTIO_BLK_F_DISCARD, "DISCARD" },
	{ VIRTIO_BLK_F_WRITE_ZEROES, "WRITE_ZEROES" },
	{ VIRTIO_BLK_F_SECURE_ERASE, "SECURE_ERASE" },
};

/* Transport and vhost bits, the same for every device type. */
static const struct feature_name common_names[] = {
	{ VIRTIO_F_ANY_LAYOUT, "ANY_LAYOUT" },
	{ UVDPA_VHOST_F_LOG_ALL, "LOG_ALL" },
	{ VIRTIO_RING_F_INDIRECT_DESC, "INDIRECT_DESC" },
	{ VIRTIO_RING_F_EVENT_IDX, "EVENT_IDX" },
	{ UVDPA_VHOST_USER_F_PROTOCOL_FEATURES, "PROTOCOL_FEATURES" },
	{ VIRTIO_F_VERSION_1, "VERSION_1" },
	{ VIRTIO_F_ACCESS_PLATFORM, "IOMMU_PLATFORM" },
	{ VIRTIO_F_RING_PACKED, "RING_PACKED" },
	{ VIRTIO_F_IN_ORDER, "IN_ORDER" },
};

/* Appends the names of the bits of table set in *rest, clearing them. */
static size_t append_names(const struct feature_name *table, size_t n, uint64_t *rest,
			   char *buf, size_t len, size_t used)
{
	for (size_t i = 0; i < n && used < len; i++) {
		int w;

		if (!(*rest & BIT(table[i].bit)))
			continue;
		*rest &= ~BIT(table[i].bit);
		w = snprintf(buf + used, len - used, "%s%s", used ? "|" : "", table[i].name);
		used = (w < 0 || (size_t)w >= len - used) ? len : used + (size_t)w;
	}
	return used;
}

const char *fe_dev_features_str(enum fe_dev_kind kind, uint64_t features, char *buf, size_t len)
{
	uint64_t rest = features;
	size_t used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (kind == FE_DEV_BLK)
		used = append_names(blk_names, sizeof(blk_names) / sizeof(blk_names[0]), &rest,
				    buf, len, used);
	else
		used = append_names(net_names, sizeof(net_names) / sizeof(net_names[0]), &rest,
				    buf, len, used);
	used = append_names(common_names, sizeof(common_names) / sizeof(common_names[0]), &rest,
			    buf, len, used);
	if (rest && used < len)
		snprintf(buf + used, len - used, "%s0x%llx", used ? "|" : "",
			 (unsigned long long)rest);
	return buf;
}

const char *fe_features_str(uint64_t features, char *buf, size_t len)
{
	return fe_dev_features_str(FE_DEV_NET, features, buf, len);
}

/* Requests whose reply carries data; NEED_REPLY brings no ack for them. */
static bool has_own_reply(const struct fe_dev *dev, uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
	case VHOST_USER_POSTCOPY_END:
	case VHOST_USER_IOTLB_MSG:
		return true;
	case VHOST_USER_SET_LOG_BASE:
		return dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD);
	default:
		return false;
	}
}

int fe_dev_request(struct fe_dev *dev, uint32_t request, const void *payload, size_t len,
		   const int *fds, int nfds, struct vhost_user_msg *reply)
{
	struct vhost_user_header hdr = {
		.request = request, .flags = VHOST_USER_VERSION, .size = (uint32_t)len,
	};
	bool own_reply = has_own_reply(dev, request);
	bool ack = false;
	struct vhost_user_msg local;
	struct vhost_user_msg *r = reply ? reply : &local;
	int ret;

	if (!own_reply && dev->cfg.need_reply &&
	    (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK))) {
		hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
		ack = true;
	}
	LOG_DEBUG(TAG, "-> %s size %zu fds %d%s", vhost_user_request_name(request), len, nfds,
		  ack ? " need_reply" : "");
	dev->req_sent_ns = uvdpa_now_ns();
	dev->req_reply_ns = 0;
	ret = fe_conn_send(&dev->conn, &hdr, payload, len, fds, nfds);
	if (ret < 0) {
		LOG_ERR(TAG, "sending %s failed: %s", vhost_user_request_name(request), strerror(-ret));
		return ret;
	}
	if (!own_reply && !ack)
		return 0;

	ret = fe_conn_recv(&dev->conn, r, dev->conn.reply_timeout_ms);
	if (ret < 0) {
		LOG_ERR(TAG, "no reply to %s: %s", vhost_user_request_name(request),
			ret == -ECONNRESET ? "backend closed the connection" : strerror(-ret));
		return ret;
	}
	dev->req_reply_ns = uvdpa_now_ns();
	if (r->nfds) {
		LOG_WARN(TAG, "reply to %s carried %d unexpected fds", vhost_user_request_name(request),
			 r->nfds);
		fe_wire_close_fds(r);
	}
	if (r->hdr.request != request ||
	    r->hdr.flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG)) {
		LOG_ERR(TAG, "bad reply to %s: request %u flags 0x%x", vhost_user_request_name(request),
			r->hdr.request, r->hdr.flags);
		return -EPROTO;
	}
	if (ack) {
		if (r->hdr.size != sizeof(uint64_t)) {
			LOG_ERR(TAG, "ack to %s has size %u", vhost_user_request_name(request),
				r->hdr.size);
			return -EPROTO;
		}
		if (r->payload.u64 != 0) {
			LOG_ERR(TAG, "backend refused %s (ack %llu)", vhost_user_request_name(request),
				(unsigned long long)r->payload.u64);
			return -EREMOTEIO;
		}
	}
	return 0;
}

int fe_dev_request_u64(struct fe_dev *dev, uint32_t request, uint64_t *out)
{
	struct vhost_user_msg reply;
	int r = fe_dev_request(dev, request, NULL, 0, NULL, 0, &reply);

	if (r < 0)
		return r;
	if (reply.hdr.size != sizeof(uint64_t)) {
		LOG_ERR(TAG, "reply to %s has size %u, want 8", vhost_user_request_name(request),
			reply.hdr.size);
		return -EPROTO;
	}
	*out = reply.payload.u64;
	return 0;
}

int fe_dev_get_config(struct fe_dev *dev, uint32_t offset, void *buf, uint32_t size)
{
	struct vhost_user_config c;
	struct vhost_user_msg reply;
	int r;

	if (size == 0 || size > VHOST_USER_MAX_CONFIG_SIZE)
		return -EINVAL;
	if (!(dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIG)))
		return -EOPNOTSUPP;
	memset(&c, 0, sizeof(c));
	c.offset = offset;
	c.size = size;
	r = fe_dev_request(dev, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL,
			   0, &reply);
	if (r < 0)
		return r;
	/* An error is an empty payload (uvdpa) or a size of 0 (libvhost-user). */
	if (reply.hdr.size < VHOST_USER_CONFIG_HDR_SIZE || reply.payload.config.size == 0) {
		LOG_ERR(TAG, "backend refused GET_CONFIG of %u bytes at %u", size, offset);
		return -EREMOTEIO;
	}
	if (reply.hdr.size != VHOST_USER_CONFIG_HDR_SIZE + size ||
	    reply.payload.config.size != size || reply.payload.config.offset != offset) {
		LOG_ERR(TAG, "GET_CONFIG reply of %u bytes says offset %u size %u, asked %u at %u",
			reply.hdr.size, reply.payload.config.offset, reply.payload.config.size,
			size, offset);
		return -EPROTO;
	}
	memcpy(buf, reply.payload.config.region, size);
	return 0;
}

static int send_u64(struct fe_dev *dev, uint32_t request, uint64_t v)
{
	return fe_dev_request(dev, request, &v, sizeof(v), NULL, 0, NULL);
}

static int send_state(struct fe_dev *dev, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state s = { .index = index, .num = num };

	return fe_dev_request(dev, request, &s, sizeof(s), NULL, 0, NULL);
}

static int send_vring_fd(struct fe_dev *dev, uint32_t request, unsigned int index, int fd)
{
	uint64_t v = index & VHOST_USER_VRING_IDX_MASK;

	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD_MASK;
	return fe_dev_request(dev, request, &v, sizeof(v), &fd, fd < 0 ? 0 : 1, NULL);
}

int fe_dev_init(struct fe_dev *dev, const struct fe_dev_config *cfg)
{
	unsigned int i;
	int r;

	memset(dev, 0, sizeof(*dev));
	dev->conn.sock = dev->conn.listen_fd = dev->conn.backend_fd = -1;
	dev->mem.fd = -1;
	dev->log.fd = -1;
	for (i = 0; i < FE_MAX_VRINGS; i++)
		dev->vrings[i].kick_fd = dev->vrings[i].call_fd = -1;
	dev->cfg = *cfg;
	if (cfg->queue_pairs == 0 || cfg->queue_pairs > FE_MAX_QUEUE_PAIRS) {
		LOG_ERR(TAG, "queue pairs must be 1..%d", FE_MAX_QUEUE_PAIRS);
		return -EINVAL;
	}
	if (cfg->queue_size == 0 || (cfg->queue_size & (cfg->queue_size - 1))) {
		LOG_ERR(TAG, "queue size %u is not a power of two", cfg->queue_size);
		return -EINVAL;
	}
	if (cfg->mem_regions == 0 || cfg->mem_regions > FE_MAX_REGIONS ||
	    (!cfg->mem_slots && cfg->mem_regions > VHOST_USER_MAX_REGIONS)) {
		LOG_ERR(TAG, "%u memory regions: SET_MEM_TABLE carries 1..%d, ADD_MEM_REG 1..%d",
			cfg->mem_regions, VHOST_USER_MAX_REGIONS, FE_MAX_REGIONS);
		return -EINVAL;
	}
	r = fe_mem_init(&dev->mem, cfg->mem_size, cfg->mem_regions);
	if (r < 0) {
		LOG_ERR(TAG, "guest memory of %llu bytes in %u regions: %s",
			(unsigned long long)cfg->mem_size, cfg->mem_regions, strerror(-r));
		return r;
	}
	dev->nvrings = cfg->kind == FE_DEV_BLK ? cfg->queue_pairs : 2 * cfg->queue_pairs;
	for (i = 0; i < dev->nvrings; i++) {
		r = fe_vring_alloc(&dev->vrings[i], &dev->mem, i, cfg->queue_size);
		dev->vrings[i].notifier = &dev->conn.notifiers[i];
		if (r < 0)
			goto fail;
	}
	r = fe_conn_init(&dev->conn, cfg->socket_path, cfg->server);
	if (r < 0)
		goto fail;
	if (cfg->reply_timeout_ms > 0)
		dev->conn.reply_timeout_ms = cfg->reply_timeout_ms;
	return 0;
fail:
	fe_dev_fini(dev);
	return r;
}

void fe_dev_fini(struct fe_dev *dev)
{
	unsigned int i;

	fe_conn_fini(&dev->conn);
	fe_log_fini(&dev->log);
	for (i = 0; i < FE_MAX_VRINGS; i++)
		fe_vring_free(&dev->vrings[i]);
	fe_mem_fini(&dev->mem);
}

int fe_dev_connect(struct fe_dev *dev)
{
	int r = fe_conn_establish(&dev->conn, dev->cfg.connect_timeout_ms);

	if (r < 0)
		LOG_ERR(TAG, "%s %s: %s", dev->cfg.server ? "no backend connected to" :
			"cannot connect to", dev->cfg.socket_path, strerror(-r));
	return r;
}

static int send_mem_table(struct fe_dev *dev)
{
	struct vhost_user_memory m;
	int fds[VHOST_USER_MAX_REGIONS];
	unsigned int i;
	int r;

	memset(&m, 0, sizeof(m));
	m.nregions = dev->mem.nregions;
	for (i = 0; i < dev->mem.nregions; i++) {
		fe_mem_region_describe(&dev->mem, i, &m.regions[i]);
		fds[i] = dev->mem.fd;
	}
	/* QEMU sends the whole fixed-size table whatever nregions says. */
	r = fe_dev_request(dev, VHOST_USER_SET_MEM_TABLE, &m, sizeof(m), fds,
			   (int)dev->mem.nregions, NULL);
	if (r == 0)
		for (i = 0; i < dev->mem.nregions; i++)
			dev->mem.regions[i].mapped = true;
	return r;
}

/* ADD_MEM_REG (with the memfd) or REM_MEM_REG (without) of region idx. */
static int mem_region_request(struct fe_dev *dev, unsigned int idx, bool add)
{
	struct vhost_user_mem_reg_single reg;
	int r;

	if (idx >= dev->mem.nregions)
		return -EINVAL;
	if (!(dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)))
		return -EOPNOTSUPP;
	memset(&reg, 0, sizeof(reg));
	fe_mem_region_describe(&dev->mem, idx, &reg.region);
	r = fe_dev_request(dev, add ? VHOST_USER_ADD_MEM_REG : VHOST_USER_REM_MEM_REG, &reg,
			   sizeof(reg), add ? &dev->mem.fd : NULL, add ? 1 : 0, NULL);
	if (r == 0)
		dev->mem.regions[idx].mapped = add;
	return r;
}

int fe_dev_mem_add_region(struct fe_dev *dev, unsigned int idx)
{
	return mem_region_request(dev, idx, true);
}

int fe_dev_mem_remove_region(struct fe_dev *dev, unsigned int idx)
{
	return mem_region_request(dev, idx, false);
}

static int negotiate_protocol(struct fe_dev *dev)
{
	uint64_t want = dev->cfg.protocol_features;
	int r;

	if (dev->cfg.mem_slots)
		want |= BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	/* A backend that negotiated STATUS waits for DRIVER_OK: a frontend
	 * that will not send it must not negotiate it. */
	if (!dev->cfg.set_status)
		want &= ~BIT(UVDPA_VHOST_USER_PROTOCOL_F_STATUS);
	r = fe_dev_request_u64(dev, VHOST_USER_GET_PROTOCOL_FEATURES, &dev->backend_protocol_features);
	if (r < 0)
		return r;
	dev->protocol_features = want & dev->backend_protocol_features;
	/* Acks only start once the backend has heard REPLY_ACK. */
	{
		uint64_t pf = dev->protocol_features;

		dev->protocol_features = 0;
		r = send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES, pf);
		dev->protocol_features = pf;
		if (r < 0)
			return r;
	}
	LOG_INFO(TAG, "protocol features: backend 0x%llx, negotiated 0x%llx",
		 (unsigned long long)dev->backend_protocol_features,
		 (unsigned long long)dev->protocol_features);

	if (dev->cfg.mem_slots &&
	    !(dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))) {
		LOG_ERR(TAG, "memory slots requested but the backend lacks CONFIGURE_MEM_SLOTS");
		return -EOPNOTSUPP;
	}
	if (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_MQ)) {
		r = fe_dev_request_u64(dev, VHOST_USER_GET_QUEUE_NUM, &dev->backend_queue_num);
		if (r < 0)
			return r;
		/* Like QEMU for net, the answer is compared with queue pairs. */
		if (dev->cfg.queue_pairs > dev->backend_queue_num) {
			LOG_ERR(TAG, "backend supports %llu queues, %u pairs requested",
				(unsigned long long)dev->backend_queue_num, dev->cfg.queue_pairs);
			return -ERANGE;
		}
	}
	if (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		r = fe_dev_request_u64(dev, VHOST_USER_GET_MAX_MEM_SLOTS, &dev->max_mem_slots);
		if (r < 0)
			return r;
		if (dev->mem.nregions > dev->max_mem_slots) {
			LOG_ERR(TAG, "backend takes %llu memory slots, %u regions requested",
				(unsigned long long)dev->max_mem_slots, dev->mem.nregions);
			return -ERANGE;
		}
	}
	if (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		int fd = fe_backend_channel_open(&dev->conn);

		if (fd < 0)
			return fd;
		r = fe_dev_request(dev, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &fd, 1, NULL);
		close(fd);
		if (r < 0)
			return r;
	}
	return 0;
}

static int set_status(struct fe_dev *dev, uint64_t status)
{
	int r = send_u64(dev, VHOST_USER_SET_STATUS, status);

	if (r == 0)
		dev->status = status;
	return r;
}

static int negotiate_features(struct fe_dev *dev)
{
	bool status = dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_STATUS);
	bool blk = dev->cfg.kind == FE_DEV_BLK;
	unsigned int mq_bit = blk ? VIRTIO_BLK_F_MQ : VIRTIO_NET_F_MQ;
	char buf[256];
	int r;

	dev->features = dev->cfg.features & dev->backend_features;
	if (dev->cfg.queue_pairs > 1 && !(dev->features & BIT(mq_bit))) {
		LOG_ERR(TAG, "%u %s need %s, not negotiated", dev->cfg.queue_pairs,
			blk ? "queues" : "queue pairs", blk ? "VIRTIO_BLK_F_MQ" : "VIRTIO_NET_F_MQ");
		return -EOPNOTSUPP;
	}
	if (status) {
		r = set_status(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
		if (r < 0)
			return r;
	}
	r = send_u64(dev, VHOST_USER_SET_FEATURES, dev->features);
	if (r < 0)
		return r;
	dev->net_hdr_len = (dev->features & (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF)))
			   ? 12 : 10;
	LOG_INFO(TAG, "features: backend 0x%llx, negotiated 0x%llx (%s)%s",
		 (unsigned long long)dev->backend_features, (unsigned long long)dev->features,
		 fe_dev_features_str(dev->cfg.kind, dev->features, buf, sizeof(buf)),
		 blk ? "" : dev->net_hdr_len == 12 ? ", net header 12 bytes" :
		 ", net header 10 bytes");
	if (status) {
		uint64_t readback;

		r = set_status(dev, dev->status | VIRTIO_CONFIG_S_FEATURES_OK);
		if (r < 0)
			return r;
		/* As a virtio driver does: FEATURES_OK only counts if it stuck. */
		r = fe_dev_request_u64(dev, VHOST_USER_GET_STATUS, &readback);
		if (r < 0)
			return r;
		if (!(readback & VIRTIO_CONFIG_S_FEATURES_OK)) {
			LOG_ERR(TAG, "backend did not accept the features (status 0x%llx)",
				(unsigned long long)readback);
			return -EPROTO;
		}
	}
	return 0;
}

int fe_dev_set_vring_addr(struct fe_dev *dev, const struct fe_vring *vr, bool log)
{
	struct vhost_user_vring_addr a;

	memset(&a, 0, sizeof(a));
	a.index = vr->index;
	/* Without IOMMU_PLATFORM ring addresses are our user addresses; the
	 * used ring's log address is guest physical. */
	a.desc_user_addr = (uint64_t)(uintptr_t)vr->vq.desc;
	a.avail_user_addr = (uint64_t)(uintptr_t)vr->vq.avail;
	a.used_user_addr = (uint64_t)(uintptr_t)vr->vq.used;
	if (log) {
		a.flags = 1u << VHOST_VRING_F_LOG;
		a.log_guest_addr = vr->vq.used_addr;
	}
	return fe_dev_request(dev, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL);
}

static int start_vring(struct fe_dev *dev, struct fe_vring *vr)
{
	int r;

	r = fe_vring_reset(vr, dev->features, dev->cfg.irq);
	if (r < 0)
		return r;
	r = send_state(dev, VHOST_USER_SET_VRING_NUM, vr->index, vr->vq.size);
	if (r < 0)
		return r;
	r = send_state(dev, VHOST_USER_SET_VRING_BASE, vr->index, 0);
	if (r < 0)
		return r;
	r = fe_dev_set_vring_addr(dev, vr, false);
	if (r < 0)
		return r;
	r = send_vring_fd(dev, VHOST_USER_SET_VRING_KICK, vr->index, vr->kick_fd);
	if (r < 0)
		return r;
	return send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, vr->index, vr->call_fd);
}

int fe_dev_negotiate(struct fe_dev *dev)
{
	unsigned int i;
	int r;

	if (dev->conn.sock < 0)
		return -ENOTCONN;
	dev->protocol_features = 0;
	dev->status = 0;
	r = fe_dev_request_u64(dev, VHOST_USER_GET_FEATURES, &dev->backend_features);
	if (r < 0)
		return r;
	r = fe_dev_request(dev, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL);
	if (r < 0)
		return r;
	if ((dev->backend_features & dev->cfg.features & BIT(UVDPA_VHOST_USER_F_PROTOCOL_FEATURES))) {
		r = negotiate_protocol(dev);
		if (r < 0)
			return r;
	} else if (dev->cfg.queue_pairs > 1 || dev->cfg.mem_slots) {
		LOG_ERR(TAG, "multiqueue and memory slots need protocol features");
		return -EOPNOTSUPP;
	}
	r = negotiate_features(dev);
	if (r < 0)
		return r;

	if (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		for (i = 0; i < dev->mem.nregions; i++) {
			r = fe_dev_mem_add_region(dev, i);
			if (r < 0)
				return r;
		}
	} else {
		r = send_mem_table(dev);
		if (r < 0)
			return r;
	}

	for (i = 0; i < dev->nvrings; i++) {
		r = start_vring(dev, &dev->vrings[i]);
		if (r < 0)
			return r;
	}
	if (dev->features & BIT(UVDPA_VHOST_USER_F_PROTOCOL_FEATURES)) {
		for (i = 0; i < dev->nvrings; i++) {
			r = send_state(dev, VHOST_USER_SET_VRING_ENABLE, i, 1);
			if (r < 0)
				return r;
		}
	}
	if (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_STATUS)) {
		r = set_status(dev, dev->status | VIRTIO_CONFIG_S_DRIVER_OK);
		if (r < 0)
			return r;
	}
	dev->start_sent_ns = dev->req_sent_ns;
	dev->start_reply_ns = dev->req_reply_ns;
	dev->running = true;
	dev->sessions++;
	LOG_INFO(TAG, "session %u up: %u %s of %u entries, %u memory regions", dev->sessions,
		 dev->cfg.queue_pairs, dev->cfg.kind == FE_DEV_BLK ? "queues" : "queue pairs",
		 dev->cfg.queue_size, dev->mem.nregions);
	return 0;
}

int fe_dev_stop(struct fe_dev *dev)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < dev->nvrings; i++) {
		struct vhost_user_vring_state s = { .index = i, .num = 0 };
		struct vhost_user_msg reply;
		int r;

		r = fe_dev_request(dev, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &reply);
		if (r == 0 && (reply.hdr.size != sizeof(s) || reply.payload.state.index != i)) {
			LOG_ERR(TAG, "GET_VRING_BASE %u: reply size %u index %u", i,
				reply.hdr.size, reply.payload.state.index);
			r = -EPROTO;
		}
		if (r < 0) {
			ret = r;
			if (r == -ECONNRESET)
				break;
			continue;
		}
		dev->vrings[i].stop_base = reply.payload.state.num;
		LOG_DEBUG(TAG, "vring %u stopped at %u (avail %u, used %u)", i,
			  reply.payload.state.num, dev->vrings[i].vq.avail_idx,
			  dev->vrings[i].vq.last_used_idx);
	}
	dev->running = false;
	return ret;
}

void fe_dev_disconnect(struct fe_dev *dev)
{
	unsigned int i;

	fe_conn_close(&dev->conn);
	for (i = 0; i < dev->nvrings; i++)
		fe_vring_close_fds(&dev->vrings[i]);
	for (i = 0; i < dev->mem.nregions; i++)
		dev->mem.regions[i].mapped = false;
	dev->running = false;
}

int fe_dev_reconnect(struct fe_dev *dev)
{
	int r;

	fe_dev_disconnect(dev);
	r = fe_dev_connect(dev);
	if (r < 0)
		return r;
	return fe_dev_negotiate(dev);
}
