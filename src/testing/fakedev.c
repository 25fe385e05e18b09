/* The fake vDPA device of the tests (see fakedev.h): op recording, config
 * space, typed per-queue statistics and the optional net loopback datapath
 * (each TX ring's packets to the RX ring of its pair, on the device-side
 * virtqueue library). Everything runs on the thread that calls the ops: the
 * loopback's kick watches are on the loop given at creation, which must be
 * the loop the bus driver calls the ops from. */
#include "testing/fakedev.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "uvdpa/event_loop.h"
#include "core/log.h"
#include "uvdpa/vhost_user.h"
#include "virtio/virtq.h"

#define TAG "fakedev"
#define MAX_PKT (65536 + 64)
#define LOOP_BUDGET 256
#define BIT(n) (1ull << (n))

struct fake_ring {
	struct fakedev *f;
	uint16_t idx;
	bool running;
	struct virtq vq;		/* loopback only */
	struct uvdpa_watch *kick_watch;
	int kickfd;
};

struct fakedev {
	struct uvdpa_device vdpa;
	struct fakedev_params p;
	char name[UVDPA_NAME_MAX];
	uint8_t config[FAKEDEV_CONFIG_MAX];
	struct uvdpa_session *sess;	/* valid between dev_conf and dev_close */
	struct fakedev_counters n;
	int notify_fd;
	uint64_t notify_offset, notify_size;
	int set_features_ret;
	bool hand_back;
	uint16_t hb_avail, hb_used;
	struct fake_ring rings[FAKEDEV_MAX_VRINGS];
	struct uvdpa_vq_stats stats[FAKEDEV_MAX_VRINGS];
	struct virtq_elem_buf *tx_elem, *rx_elem;	/* loopback only */
	uint8_t *pkt;
};

static void rec(struct fakedev *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec(struct fakedev *f, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!f->p.record)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->p.record(f->p.record_opaque, line);
}

/* ---- statistics ---- */

#define STATS_KEPT_NULL (BIT(UVDPA_VQ_STAT_RECEIVED_DESC) | BIT(UVDPA_VQ_STAT_COMPLETED_DESC))
#define STATS_KEPT_LOOPBACK                                                              \
	(STATS_KEPT_NULL | BIT(UVDPA_VQ_STAT_KICKS) | BIT(UVDPA_VQ_STAT_PACKETS) |          \
	 BIT(UVDPA_VQ_STAT_BYTES) | BIT(UVDPA_VQ_STAT_DROPS) | BIT(UVDPA_VQ_STAT_ERRORS))

static void stat_add(struct fakedev *f, uint16_t ring, enum uvdpa_vq_stat s, uint64_t v)
{
	f->stats[ring].value[s] += v;
}

static void stats_reset(struct fakedev *f, uint16_t ring)
{
	memset(f->stats[ring].value, 0, sizeof(f->stats[ring].value));
	f->stats[ring].valid = f->p.loop ? STATS_KEPT_LOOPBACK : STATS_KEPT_NULL;
}

/* ---- guest memory access through the session ---- */

static void *gpa_translate(void *opaque, uint64_t addr, uint64_t len, bool write, uint64_t *contig)
{
	struct fakedev *f = opaque;

	(void)write;
	*contig = len;
	return uvdpa_session_gpa_to_hva(f->sess, addr, contig);
}

static void dirty_log(void *opaque, uint64_t addr, uint64_t len)
{
	struct fakedev *f = opaque;

	uvdpa_session_log_write(f->sess, addr, len);
}

/* Dirty logging is on: LOG_ALL negotiated and a log in place. */
static bool log_on(struct fakedev *f)
{
	struct uvdpa_dirty_log log;

	return (uvdpa_session_features(f->sess) & BIT(UVDPA_VHOST_F_LOG_ALL)) &&
	       uvdpa_session_log_get(f->sess, &log) == 0;
}

/* ---- loopback datapath ---- */

static size_t net_hdr_len(struct fakedev *f)
{
	uint64_t feat = uvdpa_session_features(f->sess);

	if (feat & (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF)))
		return sizeof(struct virtio_net_hdr_mrg_rxbuf);
	return sizeof(struct virtio_net_hdr);
}

static void ring_failed(struct fake_ring *r)
{
	char why[160];

	virtq_format_error(&r->vq, why, sizeof(why));
	LOG_ERR(TAG, "%s: vring %u broken: %s", r->f->name, r->idx, why);
	stat_add(r->f, r->idx, UVDPA_VQ_STAT_ERRORS, 1);
	rec(r->f, "vring_broken %u %s", r->idx, why);
}

static void notify(struct fake_ring *r)
{
	if (virtq_should_notify(&r->vq))
		uvdpa_session_vring_call(r->f->sess, r->idx);
}

/* Pops the next chain of r into b: 0, -EAGAIN (none), or another negative
 * errno (the ring broke; recorded). */
static int ring_pop(struct fake_ring *r, struct virtq_elem_buf *b)
{
	int ret;

	virtq_elem_buf_init(b);
	ret = virtq_pop(&r->vq, &b->elem);
	if (ret == -EAGAIN)
		return ret;
	if (ret < 0) {
		ring_failed(r);
		return ret;
	}
	stat_add(r->f, r->idx, UVDPA_VQ_STAT_RECEIVED_DESC, 1);
	return 0;
}

/* Delivers one packet (header already in f->pkt) into RX buffers; with
 * MRG_RXBUF it may span several, and num_buffers in the first is patched.
 * Returns false when the RX ring has no buffer at all. */
static bool rx_deliver(struct fakedev *f, struct fake_ring *rx, size_t len, bool mrg)
{
	struct virtq_elem *e = &f->rx_elem->elem;
	uint8_t *num_buffers = NULL;
	size_t done = 0;
	uint16_t nbufs = 0;

	while (done < len) {
		size_t n;

		if (ring_pop(rx, f->rx_elem) < 0)
			break;
		if (nbufs == 0 && mrg && e->in_num && virtq_elem_in_iov(e)[0].iov_len >= 12)
			num_buffers = (uint8_t *)virtq_elem_in_iov(e)[0].iov_base + 10;
		n = virtq_elem_write(&rx->vq, e, 0, f->pkt + done, len - done);
		virtq_push_pending(&rx->vq, e->head, (uint32_t)n);
		stat_add(f, rx->idx, UVDPA_VQ_STAT_COMPLETED_DESC, 1);
		done += n;
		nbufs++;
		if (!mrg || !num_buffers || n == 0)
			break;
	}
	if (!nbufs)
		return false;
	if (num_buffers && nbufs > 1) {
		uint16_t v = htole16(nbufs);

		memcpy(num_buffers, &v, sizeof(v));
	}
	virtq_push_commit(&rx->vq);
	if (done < len) {
		f->n.dropped++;
		stat_add(f, rx->idx, UVDPA_VQ_STAT_DROPS, 1);
	}
	return true;
}

/* A clean virtio-net header for RX in the layout both sides use. */
static void rx_header(struct fakedev *f, size_t hdr)
{
	memset(f->pkt, 0, hdr);
	if (hdr == sizeof(struct virtio_net_hdr_mrg_rxbuf)) {
		uint16_t one = htole16(1);

		memcpy(f->pkt + 10, &one, sizeof(one));
	}
}

static void loopback_pair(struct fakedev *f, uint16_t pair)
{
	struct fake_ring *rx = &f->rings[2 * pair], *tx = &f->rings[2 * pair + 1];
	struct virtq_elem *e = &f->tx_elem->elem;
	bool mrg = uvdpa_session_features(f->sess) & BIT(VIRTIO_NET_F_MRG_RXBUF);
	size_t hdr = net_hdr_len(f);
	unsigned int budget;
	bool tx_done = false, rx_done = false;

	if (!rx->running || !tx->running || !rx->vq.ready || !tx->vq.ready || rx->vq.broken ||
	    tx->vq.broken)
		return;
	for (budget = 0; budget < LOOP_BUDGET; budget++) {
		size_t len;

		/* Back-pressure: leave TX buffers in the ring until RX has room. */
		if (!virtq_avail_count(&rx->vq) || ring_pop(tx, f->tx_elem) < 0)
			break;
		len = virtq_elem_read(e, 0, f->pkt, MAX_PKT);
		virtq_push(&tx->vq, e->head, 0);
		stat_add(f, tx->idx, UVDPA_VQ_STAT_COMPLETED_DESC, 1);
		tx_done = true;
		if (len < hdr || e->out_len > MAX_PKT) {
			f->n.dropped++;
			stat_add(f, tx->idx, UVDPA_VQ_STAT_DROPS, 1);
			continue;
		}
		stat_add(f, tx->idx, UVDPA_VQ_STAT_PACKETS, 1);
		stat_add(f, tx->idx, UVDPA_VQ_STAT_BYTES, len - hdr);
		rx_header(f, hdr);
		if (!rx_deliver(f, rx, len, mrg)) {
			/* The TX buffer is already returned: the packet is lost. */
			f->n.dropped++;
			stat_add(f, rx->idx, UVDPA_VQ_STAT_DROPS, 1);
			break;
		}
		rx_done = true;
		stat_add(f, rx->idx, UVDPA_VQ_STAT_PACKETS, 1);
		stat_add(f, rx->idx, UVDPA_VQ_STAT_BYTES, len - hdr);
		f->n.looped_pkts++;
		f->n.looped_bytes += len - hdr;
	}
	if (tx_done)
		notify(tx);
	if (rx_done)
		notify(rx);
	/* Budget used up with work left: come back on the next loop round
	 * instead of starving the other devices. */
	if (budget == LOOP_BUDGET && tx->kickfd >= 0) {
		uint64_t one = 1;

		if (write(tx->kickfd, &one, sizeof(one)) < 0)
			LOG_WARN(TAG, "%s: re-kick failed: %s", f->name, strerror(errno));
	}
}

static void kick_readable(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct fake_ring *r = opaque;
	uint64_t n;

	(void)w;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	stat_add(r->f, r->idx, UVDPA_VQ_STAT_KICKS, 1);
	loopback_pair(r->f, r->idx / 2);
}

/* ---- ring start/stop ---- */

static bool loops_ring(const struct fakedev *f, uint16_t idx)
{
	return f->p.loop && f->vdpa.type == UVDPA_TYPE_NET && idx < 2 * f->p.queues;
}

static int ring_start(struct fakedev *f, uint16_t idx)
{
	struct fake_ring *r = &f->rings[idx];
	struct uvdpa_vring info;
	struct virtq_config cfg;
	int ret;

	if (r->running || uvdpa_session_vring_get(f->sess, idx, &info) || !info.ready)
		return 0;
	r->f = f;
	r->idx = idx;
	r->kickfd = -1;
	if (!loops_ring(f, idx)) {
		r->running = true;
		return 0;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = info.size;
	cfg.features = uvdpa_session_features(f->sess);
	cfg.desc_addr = info.desc_gpa;
	cfg.avail_addr = info.avail_gpa;
	cfg.used_addr = info.used_gpa;
	cfg.translate = gpa_translate;
	cfg.opaque = f;
	cfg.log = log_on(f) ? dirty_log : NULL;
	cfg.has_used_log_addr = info.log_used;
	cfg.used_log_addr = info.log_used_gpa;
	ret = virtq_setup(&r->vq, &cfg);
	if (ret < 0) {
		LOG_ERR(TAG, "%s: vring %u setup failed: %s", f->name, idx, strerror(-ret));
		return ret;
	}
	virtq_set_base(&r->vq, info.last_avail_idx, info.last_used_idx);
	r->kickfd = info.kickfd;
	if (info.kickfd >= 0) {
		r->kick_watch = uvdpa_watch_add(f->p.loop, info.kickfd, EPOLLIN, kick_readable, r);
		if (!r->kick_watch)
			return -errno;
	}
	r->running = true;
	virtq_enable_notify(&r->vq);
	loopback_pair(f, idx / 2);
	return 0;
}

static void ring_stop(struct fakedev *f, uint16_t idx)
{
	struct fake_ring *r = &f->rings[idx];
	uint16_t last_avail, used;

	if (!r->running)
		return;
	if (r->kick_watch) {
		uvdpa_watch_del(r->kick_watch);
		r->kick_watch = NULL;
	}
	if (r->vq.ready) {
		virtq_get_base(&r->vq, &last_avail, &used);
		uvdpa_session_vring_set_base(f->sess, idx, last_avail, used);
		memset(&r->vq, 0, sizeof(r->vq));
	}
	r->running = false;
}

/* ---- device ops ---- */

static struct fakedev *fake(struct uvdpa_device *dev)
{
	return dev->priv;
}

static int fake_get_queue_num(struct uvdpa_device *dev, uint32_t *n)
{
	struct fakedev *f = fake(dev);

	*n = f->p.queues;
	if (f->p.record_detail)
		rec(f, "get_queue_num %u", *n);
	return 0;
}

static int fake_get_features(struct uvdpa_device *dev, uint64_t *features)
{
	*features = fake(dev)->p.features;
	return 0;
}

static int fake_get_protocol_features(struct uvdpa_device *dev, uint64_t *features)
{
	*features = fake(dev)->p.protocol_features;
	return 0;
}

static int fake_get_dev_type(struct uvdpa_device *dev, enum uvdpa_dev_type *type)
{
	*type = dev->type;
	return 0;
}

static int config_range(const struct fakedev *f, uint32_t off, uint32_t len)
{
	return off > f->p.config_len || len > f->p.config_len - off ? -EINVAL : 0;
}

static int fake_get_config(struct uvdpa_device *dev, uint8_t *buf, uint32_t off, uint32_t len)
{
	struct fakedev *f = fake(dev);

	rec(f, "get_config %u %u", off, len);
	if (config_range(f, off, len))
		return -EINVAL;
	memcpy(buf, f->config + off, len);
	return 0;
}

static int fake_set_config(struct uvdpa_device *dev, const uint8_t *buf, uint32_t off, uint32_t len,
			   uint32_t flags)
{
	struct fakedev *f = fake(dev);

	rec(f, "set_config %u %u", off, len);
	if (config_range(f, off, len))
		return -EINVAL;
	memcpy(f->config + off, buf, len);
	return 0;
}

/* The detail lines of dev_conf: the session as the device sees it. */
static void rec_session(struct fakedev *f, struct uvdpa_session *s)
{
	uint16_t i, n = uvdpa_session_vring_count(s);
	struct uvdpa_mem_region region;

	rec(f, "conf n=%u nr_vring=%u features=0x%" PRIx64 " regions=%u", f->n.dev_conf, n,
	    uvdpa_session_features(s), uvdpa_session_mem_table(s, &region, 1));
	for (i = 0; i < n; i++) {
		struct uvdpa_vring info;
		uint64_t ld = 16, la = 4, lu = 4;
		bool ok;

		if (uvdpa_session_vring_get(s, i, &info) || !info.ready) {
			rec(f, "vring %u ready=0", i);
			continue;
		}
		/* The ring mappings the session gave agree with its translation. */
		ok = uvdpa_session_gpa_to_hva(s, info.desc_gpa, &ld) == info.desc &&
		     uvdpa_session_gpa_to_hva(s, info.avail_gpa, &la) == info.avail &&
		     uvdpa_session_gpa_to_hva(s, info.used_gpa, &lu) == info.used;
		rec(f, "vring %u ready=1 size=%u desc_gpa=0x%" PRIx64 " avail_gpa=0x%" PRIx64
		    " used_gpa=0x%" PRIx64 " base=%u kickfd=%d callfd=%d gpa_ok=%d",
		    i, info.size, info.desc_gpa, info.avail_gpa, info.used_gpa, info.last_avail_idx,
		    info.kickfd >= 0, info.callfd >= 0, ok);
	}
}

static int fake_dev_close(struct uvdpa_device *dev);

static int fake_dev_conf(struct uvdpa_device *dev, struct uvdpa_session *s)
{
	struct fakedev *f = fake(dev);
	uint16_t i, n = uvdpa_session_vring_count(s);
	int ret;

	if (n > FAKEDEV_MAX_VRINGS)
		return -E2BIG;
	f->sess = s;
	f->n.dev_conf++;
	/* Details first: a reader that saw "dev_conf" finds them complete. */
	if (f->p.record_detail)
		rec_session(f, s);
	rec(f, "dev_conf");
	for (i = 0; i < n; i++) {
		ret = ring_start(f, i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int fake_dev_close(struct uvdpa_device *dev)
{
	struct fakedev *f = fake(dev);
	uint16_t i, n;

	f->n.dev_close++;
	for (i = 0; i < FAKEDEV_MAX_VRINGS; i++)
		ring_stop(f, i);
	if (f->hand_back && f->sess) {
		n = uvdpa_session_vring_count(f->sess);
		for (i = 0; i < n; i++)
			uvdpa_session_vring_set_base(f->sess, i, (uint16_t)(f->hb_avail + i),
						    (uint16_t)(f->hb_used + i));
	}
	if (f->p.record_detail)
		rec(f, "close n=%u looped_pkts=%" PRIu64 " looped_bytes=%" PRIu64 " dropped=%" PRIu64,
		    f->n.dev_close, f->n.looped_pkts, f->n.looped_bytes, f->n.dropped);
	rec(f, "dev_close");
	f->sess = NULL;
	return 0;
}

static int fake_set_vring_state(struct uvdpa_device *dev, uint16_t idx, bool en)
{
	struct fakedev *f = fake(dev);

	rec(f, "set_vring_state %u %d", idx, en);
	if (!f->sess || idx >= FAKEDEV_MAX_VRINGS)
		return 0;
	if (en)
		return ring_start(f, idx);
	ring_stop(f, idx);
	return 0;
}

static int fake_set_features(struct uvdpa_device *dev, uint64_t features)
{
	struct fakedev *f = fake(dev);
	uint16_t i;

	rec(f, "set_features 0x%" PRIx64, features);
	if (f->set_features_ret)
		return f->set_features_ret;
	if (!f->sess)
		return 0;
	/* LOG_ALL toggled or a new log: the running rings follow. */
	for (i = 0; i < FAKEDEV_MAX_VRINGS; i++) {
		struct fake_ring *r = &f->rings[i];
		struct uvdpa_vring info;

		if (!r->running || !r->vq.ready || uvdpa_session_vring_get(f->sess, i, &info))
			continue;
		virtq_set_log(&r->vq, log_on(f) ? dirty_log : NULL, info.log_used,
			      info.log_used_gpa);
	}
	return 0;
}

static int fake_migration_done(struct uvdpa_device *dev, const uint8_t *mac)
{
	if (mac)
		rec(fake(dev), "migration_done %02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		    mac[2], mac[3], mac[4], mac[5]);
	else
		rec(fake(dev), "migration_done");
	return 0;
}

static int fake_get_notify_area(struct uvdpa_device *dev, uint16_t vring, int *fd,
				uint64_t *offset, uint64_t *size)
{
	struct fakedev *f = fake(dev);

	rec(f, "get_notify_area %u", vring);
	if (f->notify_fd < 0)
		return -ENOTSUP;
	*fd = f->notify_fd;
	*offset = f->notify_offset + vring * 4096ull;
	*size = f->notify_size;
	return 0;
}

static int vq_index(const struct fakedev *f, uint16_t vring)
{
	uint32_t n = f->vdpa.type == UVDPA_TYPE_NET ? 2 * f->p.queues : f->p.queues;

	return vring < n && vring < FAKEDEV_MAX_VRINGS ? 0 : -EINVAL;
}

static int fake_get_vq_stats(struct uvdpa_device *dev, uint16_t vring, struct uvdpa_vq_stats *st)
{
	struct fakedev *f = fake(dev);

	if (vq_index(f, vring))
		return -EINVAL;
	*st = f->stats[vring];
	return 0;
}

static int fake_reset_vq_stats(struct uvdpa_device *dev, uint16_t vring)
{
	struct fakedev *f = fake(dev);

	if (vq_index(f, vring))
		return -EINVAL;
	stats_reset(f, vring);
	return 0;
}

static const struct uvdpa_device_ops fake_ops = {
	.get_queue_num = fake_get_queue_num,
	.get_features = fake_get_features,
	.get_protocol_features = fake_get_protocol_features,
	.get_dev_type = fake_get_dev_type,
	.get_config = fake_get_config,
	.set_config = fake_set_config,
	.dev_conf = fake_dev_conf,
	.dev_close = fake_dev_close,
	.set_vring_state = fake_set_vring_state,
	.set_features = fake_set_features,
	.migration_done = fake_migration_done,
	.get_notify_area = fake_get_notify_area,
	.get_vq_stats = fake_get_vq_stats,
	.reset_vq_stats = fake_reset_vq_stats,
};

/* ---- life cycle and knobs ---- */

static bool queues_fit(enum uvdpa_dev_type type, uint32_t queues)
{
	return queues >= 1 && queues <= FAKEDEV_MAX_VRINGS / (type == UVDPA_TYPE_NET ? 2u : 1u);
}

struct fakedev *fakedev_new(const struct fakedev_params *p)
{
	struct fakedev *f;
	uint16_t i;

	if (!p || !p->name || p->config_len > FAKEDEV_CONFIG_MAX ||
	    (p->type != UVDPA_TYPE_NET && p->type != UVDPA_TYPE_BLK) ||
	    !queues_fit(p->type, p->queues)) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->p = *p;
	fakedev_set_protocol_features(f, p->protocol_features);
	if (p->type != UVDPA_TYPE_NET)
		f->p.loop = NULL;
	snprintf(f->name, sizeof(f->name), "%s", p->name);
	f->p.name = f->name;
	if (p->config)
		memcpy(f->config, p->config, p->config_len);
	f->notify_fd = -1;
	for (i = 0; i < FAKEDEV_MAX_VRINGS; i++)
		stats_reset(f, i);
	if (f->p.loop) {
		f->tx_elem = malloc(sizeof(*f->tx_elem));
		f->rx_elem = malloc(sizeof(*f->rx_elem));
		f->pkt = malloc(MAX_PKT);
		if (!f->tx_elem || !f->rx_elem || !f->pkt) {
			fakedev_free(f);
			errno = ENOMEM;
			return NULL;
		}
	}
	memcpy(f->vdpa.name, f->name, sizeof(f->vdpa.name));
	f->vdpa.type = p->type;
	f->vdpa.ops = &fake_ops;
	f->vdpa.priv = f;
	return f;
}

void fakedev_free(struct fakedev *f)
{
	if (!f)
		return;
	free(f->tx_elem);
	free(f->rx_elem);
	free(f->pkt);
	free(f);
}

struct uvdpa_device *fakedev_vdpa(struct fakedev *f)
{
	return &f->vdpa;
}

struct fakedev *fakedev_of(struct uvdpa_device *dev)
{
	return dev && dev->ops == &fake_ops ? dev->priv : NULL;
}

uint8_t *fakedev_config(struct fakedev *f, uint32_t *len)
{
	if (len)
		*len = f->p.config_len;
	return f->config;
}

struct uvdpa_session *fakedev_session(struct fakedev *f)
{
	return f->sess;
}

void fakedev_set_features(struct fakedev *f, uint64_t features)
{
	f->p.features = features;
}

void fakedev_set_protocol_features(struct fakedev *f, uint64_t features)
{
	f->p.protocol_features = features ? features : ~0ull;	/* ~0: what the bus implements */
}

int fakedev_set_queues(struct fakedev *f, uint32_t queues)
{
	if (!queues_fit(f->vdpa.type, queues))
		return -EINVAL;
	f->p.queues = queues;
	return 0;
}

void fakedev_set_notify_area(struct fakedev *f, int fd, uint64_t offset, uint64_t size)
{
	f->notify_fd = fd;
	f->notify_offset = offset;
	f->notify_size = size;
}

void fakedev_set_features_result(struct fakedev *f, int ret)
{
	f->set_features_ret = ret;
}

void fakedev_set_hand_back(struct fakedev *f, uint16_t avail, uint16_t used)
{
	f->hand_back = true;
	f->hb_avail = avail;
	f->hb_used = used;
}

void fakedev_get_counters(const struct fakedev *f, struct fakedev_counters *c)
{
	*c = f->n;
}

uint32_t fakedev_net_config(void *buf, const uint8_t mac[6], uint16_t queue_pairs, uint16_t mtu)
{
	struct virtio_net_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, mac, sizeof(cfg.mac));
	cfg.status = htole16(VIRTIO_NET_S_LINK_UP);
	cfg.max_virtqueue_pairs = htole16(queue_pairs);
	cfg.mtu = htole16(mtu);
	memcpy(buf, &cfg, sizeof(cfg));
	return sizeof(cfg);
}

uint32_t fakedev_blk_config(void *buf, uint64_t capacity_bytes, uint16_t queues)
{
	struct virtio_blk_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity = htole64(capacity_bytes / 512);
	cfg.size_max = htole32(4096);
	cfg.seg_max = htole32(32);
	cfg.blk_size = htole32(512);
	cfg.num_queues = htole16(queues);
	memcpy(buf, &cfg, sizeof(cfg));
	return sizeof(cfg);
}
