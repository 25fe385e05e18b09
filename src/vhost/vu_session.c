/* The vhost-user side of the bus-neutral session interface (vdpa.h): a
 * device's driver reaches the frontend's memory, rings, dirty log and
 * backend channel through these ops, never through vhost-user types. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "vu_internal.h"

static struct uvdpa_vhost *to_vu(struct uvdpa_session *s)
{
	return (struct uvdpa_vhost *)((char *)s - offsetof(struct uvdpa_vhost, session));
}

static unsigned int sess_mem_table(struct uvdpa_session *s, struct uvdpa_mem_region *out,
				   unsigned int max)
{
	struct uvdpa_vhost *dev = to_vu(s);
	unsigned int i;

	for (i = 0; i < dev->nregions && i < max; i++) {
		const struct vu_mem_region *r = &dev->regions[i];

		out[i].gpa = r->gpa;
		out[i].size = r->size;
		out[i].host = r->host;
		out[i].fd = r->fd;
		out[i].fd_offset = r->mmap_offset;
	}
	return dev->nregions;
}

static void *sess_gpa_to_hva(struct uvdpa_session *s, uint64_t gpa, uint64_t *len)
{
	return vu_gpa_to_hva(to_vu(s), gpa, len);
}

static uint64_t sess_features(struct uvdpa_session *s)
{
	return to_vu(s)->features;
}

static uint16_t sess_vring_count(struct uvdpa_session *s)
{
	return to_vu(s)->nr_vring;
}

/* The ring as the frontend set it up (vu_get_vring reads the vring state;
 * this only picks what a driver may see). */
static int sess_vring_get(struct uvdpa_session *s, uint16_t idx, struct uvdpa_vring *ring)
{
	struct vu_vring_info i;
	int ret = vu_get_vring(to_vu(s), idx, &i);

	if (ret < 0)
		return ret;
	*ring = (struct uvdpa_vring){
		.size = i.size,
		.desc_gpa = i.desc_gpa, .avail_gpa = i.avail_gpa, .used_gpa = i.used_gpa,
		.desc = i.desc, .avail = i.avail, .used = i.used,
		.last_avail_idx = i.last_avail_idx, .last_used_idx = i.last_used_idx,
		.kickfd = i.kickfd, .callfd = i.callfd,
		.log_used = i.log_enabled, .log_used_gpa = i.log_guest_addr,
		.ready = i.ready,
	};
	return 0;
}

static int sess_vring_set_base(struct uvdpa_session *s, uint16_t idx, uint16_t last_avail,
			       uint16_t last_used)
{
	return vu_set_vring_base(to_vu(s), idx, last_avail, last_used);
}

static int sess_log_get(struct uvdpa_session *s, struct uvdpa_dirty_log *log)
{
	struct uvdpa_vhost *dev = to_vu(s);

	if (!dev->log.base)
		return -ENOENT;
	log->base = dev->log.base;
	log->size = dev->log.size;
	log->fd = dev->log.fd;
	log->fd_offset = dev->log.mmap_offset;
	return 0;
}

static void sess_log_write(struct uvdpa_session *s, uint64_t gpa, uint64_t len)
{
	vu_log_write(to_vu(s), gpa, len);
}

static void sess_log_used_ring(struct uvdpa_session *s, uint16_t idx, uint64_t offset,
			       uint64_t len)
{
	vu_log_used_ring(to_vu(s), idx, offset, len);
}

static int sess_vring_call(struct uvdpa_session *s, uint16_t idx)
{
	return vu_vring_call(to_vu(s), idx);
}

static int sess_config_change(struct uvdpa_session *s)
{
	return vu_config_change(to_vu(s));
}

static int sess_host_notifier_ctrl(struct uvdpa_session *s, uint16_t idx, bool enable)
{
	struct uvdpa_vhost *dev = to_vu(s);

	if (!vu_has_protocol(dev, UVDPA_VHOST_USER_PROTOCOL_F_HOST_NOTIFIER))
		return -ENOTSUP;
	return vu_host_notifier_ctrl(dev, idx, enable);
}

static int sess_inflight_get(struct uvdpa_session *s, struct uvdpa_inflight *out)
{
	struct uvdpa_vhost *dev = to_vu(s);
	uint64_t size;
	uint16_t nq, qsize;
	void *base = vu_get_inflight(dev, &size, &nq, &qsize);

	if (!base)
		return -ENOENT;
	out->base = base;
	out->queue_stride = virtq_inflight_queue_bytes(qsize);
	out->size = out->queue_stride * nq;
	out->num_queues = nq;
	out->queue_size = qsize;
	return 0;
}

const struct uvdpa_session_ops vu_session_ops = {
	.mem_table = sess_mem_table,
	.gpa_to_hva = sess_gpa_to_hva,
	.features = sess_features,
	.vring_count = sess_vring_count,
	.vring_get = sess_vring_get,
	.vring_set_base = sess_vring_set_base,
	.log_get = sess_log_get,
	.log_write = sess_log_write,
	.log_used_ring = sess_log_used_ring,
	.vring_call = sess_vring_call,
	.config_change = sess_config_change,
	.host_notifier_ctrl = sess_host_notifier_ctrl,
	.inflight_get = sess_inflight_get,
};

struct uvdpa_session *vu_dev_session(struct uvdpa_vhost *dev)
{
	return &dev->session;
}
