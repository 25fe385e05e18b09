/* Test frontend net traffic: TX on vring 2i+1, RX on 2i, verified pattern frames,
 * mergeable RX buffers, per-pair sequence accounting, rates, reconnect. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "frontend/fe_wire.h"
#include "frontend/frontend.h"
#include "core/log.h"

#define TAG "fe-net"
#define BIT(n) (1ull << (n))
#define MAX_HDR_LEN 12u
#define RX_BUDGET 256u		/* used entries per queue per round */
#define SERVICE_PERIOD_NS 10000000ull	/* backend channel, liveness */
#define MIN_STALL_MS 3000

/* One fixed buffer per descriptor id, spread over the memory regions so
 * the backend must translate addresses in every region. */
struct buf_pool {
	uint32_t buf_size;
	unsigned int nparts;
	uint8_t *va[FE_MAX_REGIONS];
	uint64_t gpa[FE_MAX_REGIONS];
};

struct net_queue {
	unsigned int pair;
	struct fe_vring *rx, *tx;
	struct buf_pool rx_pool, tx_pool;
	uint64_t tx_seq;	/* frames sent from this pair (next seq) */
	uint64_t tx_target;	/* send while tx_seq < tx_target */
	uint64_t rx_arrived;	/* frames of this pair accounted for */
	uint64_t rx_next_seq;	/* next sequence number expected */
	uint64_t rx_gaps;	/* sequence numbers skipped (rx-only loss) */
	struct fe_net_queue_stats st;	/* this pair's own rings */
	/* Interrupt mode: the ring may be looked at (its call fired, or it
	 * completed while being re-armed); cleared once it is drained. */
	bool rx_ready, tx_ready;
	/* Per head: the dirty-log stamp the chain was made available at (0:
	 * not logging then). The device writes a chain, and its used entry,
	 * only after that: fe_log.c checks the log against it. */
	uint32_t *rx_stamp, *tx_stamp;
	/* The avail_event words the device writes (EVENT_IDX): the last value
	 * read and the stamp at that read; a change is a write since. */
	struct avail_event_seen {
		uint16_t val;
		uint32_t stamp;
	} rx_aev, tx_aev;
	/* mergeable RX packet being assembled */
	uint16_t *mrg_heads;
	uint32_t *mrg_lens;
	unsigned int mrg_got, mrg_need;
};

struct fe_net {
	struct fe_dev *dev;
	struct fe_net_config cfg;
	uint64_t next_tick;		/* frames sent at the next cfg.tick */
	uint64_t next_tick_ns;		/* time of the next cfg.tick by tick_ms */
	unsigned int nq;
	struct net_queue q[FE_MAX_QUEUE_PAIRS];
	/* layout for the current session */
	uint32_t hdr_len;
	bool mrg, split_hdr;
	unsigned int rx_chain_descs, tx_chain_descs;
	unsigned int window;
	uint8_t *scratch;
	uint32_t scratch_size;
	struct fe_net_stats st;
	uint64_t t_start, t_last_tx, t_last_rx, t_progress;
	uint64_t t_first_rx;	/* 0 until a frame arrived */
};

static uint32_t round_up32(uint32_t v, uint32_t a)
{
	return (v + a - 1) / a * a;
}

static int pool_alloc(struct buf_pool *p, struct fe_mem *mem, uint16_t count, uint32_t buf_size)
{
	unsigned int r;

	p->buf_size = buf_size;
	p->nparts = mem->nregions < count ? mem->nregions : count;
	for (r = 0; r < p->nparts; r++) {
		uint64_t n = (uint64_t)(count - r + p->nparts - 1) / p->nparts;

		p->va[r] = fe_mem_alloc(mem, r, n * buf_size, 64, &p->gpa[r]);
		if (!p->va[r])
			return -ENOMEM;
	}
	return 0;
}

static uint8_t *pool_va(const struct buf_pool *p, uint16_t id)
{
	return p->va[id % p->nparts] + (uint64_t)(id / p->nparts) * p->buf_size;
}

static uint64_t pool_gpa(const struct buf_pool *p, uint16_t id)
{
	return p->gpa[id % p->nparts] + (uint64_t)(id / p->nparts) * p->buf_size;
}

static bool loopback(const struct fe_net *net)
{
	return net->cfg.tx && net->cfg.rx;
}

struct fe_net *fe_net_new(struct fe_dev *dev, const struct fe_net_config *cfg)
{
	uint16_t qsize = dev->cfg.queue_size;
	uint32_t tx_buf, rx_buf;
	struct fe_net *net;
	unsigned int i;

	if (cfg->min_size < FE_FRAME_MIN || cfg->max_size > FE_FRAME_MAX ||
	    cfg->min_size > cfg->max_size) {
		LOG_ERR(TAG, "frame sizes must satisfy %u <= min <= max <= %u", FE_FRAME_MIN,
			FE_FRAME_MAX);
		return NULL;
	}
	net = calloc(1, sizeof(*net));
	if (!net)
		return NULL;
	net->dev = dev;
	net->next_tick = cfg->tick_every;
	net->cfg = *cfg;
	if (net->cfg.burst == 0)
		net->cfg.burst = 32;
	if (net->cfg.drain_ms <= 0)
		net->cfg.drain_ms = 2000;
	net->nq = dev->cfg.queue_pairs;

	/* Sized for the largest header so a renegotiation cannot outgrow it. */
	tx_buf = round_up32(MAX_HDR_LEN + cfg->max_size, 64);
	rx_buf = cfg->rx_buf_size ? cfg->rx_buf_size :
		 (dev->features & BIT(VIRTIO_NET_F_MRG_RXBUF)) ? 2048 :
		 round_up32(MAX_HDR_LEN + cfg->max_size, 64);
	if (rx_buf < 64 || rx_buf > 65536) {
		LOG_ERR(TAG, "RX buffer size %u out of 64..65536", rx_buf);
		goto fail;
	}
	net->scratch_size = MAX_HDR_LEN + FE_FRAME_MAX + 64;
	net->scratch = malloc(net->scratch_size);
	if (!net->scratch)
		goto fail;

	for (i = 0; i < net->nq; i++) {
		struct net_queue *q = &net->q[i];

		q->pair = i;
		q->rx = &dev->vrings[2 * i];
		q->tx = &dev->vrings[2 * i + 1];
		q->mrg_heads = calloc(qsize, sizeof(*q->mrg_heads));
		q->mrg_lens = calloc(qsize, sizeof(*q->mrg_lens));
		q->rx_stamp = calloc(qsize, sizeof(*q->rx_stamp));
		q->tx_stamp = calloc(qsize, sizeof(*q->tx_stamp));
		if (!q->mrg_heads || !q->mrg_lens || !q->rx_stamp || !q->tx_stamp)
			goto fail;
		if (pool_alloc(&q->tx_pool, &dev->mem, qsize, tx_buf) < 0 ||
		    pool_alloc(&q->rx_pool, &dev->mem, qsize, rx_buf) < 0) {
			LOG_ERR(TAG, "guest memory too small for %u queue pairs of %u buffers "
				"(%u + %u bytes each): raise the memory size", net->nq, qsize,
				tx_buf, rx_buf);
			goto fail;
		}
	}
	return net;
fail:
	fe_net_free(net);
	return NULL;
}

void fe_net_free(struct fe_net *net)
{
	unsigned int i;

	if (!net)
		return;
	for (i = 0; i < FE_MAX_QUEUE_PAIRS; i++) {
		free(net->q[i].mrg_heads);
		free(net->q[i].mrg_lens);
		free(net->q[i].rx_stamp);
		free(net->q[i].tx_stamp);
	}
	free(net->scratch);
	free(net);
}

/* ---- RX ---- */

static int rx_post_one(struct fe_net *net, struct net_queue *q)
{
	uint16_t ids[64];
	uint32_t need = net->hdr_len + net->cfg.max_size;
	unsigned int i;
	int r;

	r = virtq_drv_desc_take(&q->rx->vq, net->rx_chain_descs, ids);
	if (r < 0)
		return r;
	for (i = 0; i < net->rx_chain_descs; i++) {
		uint32_t len = q->rx_pool.buf_size;

		if (net->mrg) {
			/* one buffer per descriptor; the device merges */
		} else if (net->split_hdr && i == 0) {
			len = net->hdr_len;
			need -= len;
		} else {
			len = need < len ? need : len;
			need -= len;
		}
		virtq_drv_desc_set(&q->rx->vq, ids[i], pool_gpa(&q->rx_pool, ids[i]), len, true);
	}
	q->rx_stamp[ids[0]] = fe_log_stamp(&net->dev->log);
	virtq_drv_push(&q->rx->vq, ids[0]);
	return 0;
}

/* ---- what the device wrote, for the dirty-log check ---- */

/* The used entry just popped from vq, for a chain made available at stamp:
 * the device wrote the entry and the used index after that. */
static void record_used(struct fe_net *net, const struct virtq_driver *vq, uint32_t stamp)
{
	uint16_t slot = (uint16_t)(vq->last_used_idx - 1) & (uint16_t)(vq->size - 1);

	if (!stamp)
		return;
	fe_log_record(&net->dev->log, vq->used_addr + offsetof(struct vring_used, idx),
		      sizeof(uint16_t), stamp);
	fe_log_record(&net->dev->log,
		      vq->used_addr + offsetof(struct vring_used, ring) +
		      (uint64_t)slot * sizeof(struct vring_used_elem),
		      sizeof(struct vring_used_elem), stamp);
}

/* With EVENT_IDX the device writes avail_event, after the used ring: a
 * value that changed since the last look was written after that look. */
static void record_avail_event(struct fe_net *net, const struct virtq_driver *vq,
			       struct avail_event_seen *seen)
{
	uint64_t off = offsetof(struct vring_used, ring) +
		       (uint64_t)vq->size * sizeof(struct vring_used_elem);
	uint16_t v;

	if (!vq->event_idx)
		return;
	v = le16toh(__atomic_load_n((const uint16_t *)(const void *)((const uint8_t *)vq->used + off),
				    __ATOMIC_ACQUIRE));
	if (v != seen->val)
		fe_log_record(&net->dev->log, vq->used_addr + off, sizeof(uint16_t), seen->stamp);
	seen->val = v;
	seen->stamp = fe_log_stamp(&net->dev->log);
}

/* The device wrote len bytes into the RX chain at head (with MRG_RXBUF one
 * buffer of a frame): those bytes, in descriptor order, and its used entry. */
static void rx_record_written(struct fe_net *net, struct net_queue *q, uint16_t head, uint32_t len)
{
	const struct virtq_driver *vq = &q->rx->vq;
	uint32_t stamp = q->rx_stamp[head];
	uint16_t id = head;

	if (!stamp)
		return;
	record_used(net, vq, stamp);
	for (uint16_t i = 0; i < virtq_drv_chain_len(vq, head) && len; i++) {
		uint32_t take = vq->wlen[id] < len ? vq->wlen[id] : len;

		fe_log_record(&net->dev->log, pool_gpa(&q->rx_pool, id), take, stamp);
		len -= take;
		id = virtq_drv_chain_next(vq, id);
	}
}

static void mark_rx(struct fe_net *net)
{
	net->t_last_rx = uvdpa_now_ns();
	if (!net->t_first_rx)
		net->t_first_rx = net->t_last_rx;
}

static void rx_refill(struct fe_net *net, struct net_queue *q)
{
	while (q->rx->vq.num_free >= net->rx_chain_descs && rx_post_one(net, q) == 0)
		;
	fe_vring_publish(q->rx);
}

static void account_seq(struct fe_net *net, struct net_queue *src, uint64_t seq)
{
	if (seq == src->rx_next_seq) {
		src->rx_next_seq++;
	} else if (seq > src->rx_next_seq) {
		src->rx_gaps += seq - src->rx_next_seq;
		src->rx_next_seq = seq + 1;
	} else {
		net->st.rx_ooo++;
	}
}

/* A good frame arrived on q's RX ring. */
static void rx_good(struct fe_net *net, struct net_queue *q, uint32_t flen)
{
	if (!net->st.rx_pkts)
		net->st.first_rx_ns = uvdpa_now_ns();
	net->st.rx_pkts++;
	net->st.rx_bytes += flen;
	q->st.rx_pkts++;
	q->st.rx_bytes += flen;
}

static void rx_bad(struct fe_net *net, struct net_queue *q, const char *why, uint64_t seq)
{
	net->st.rx_bad++;
	q->rx_arrived++;
	if (net->st.rx_bad <= 10)
		LOG_WARN(TAG, "pair %u: bad frame (%s), seq %llu", q->pair, why,
			 (unsigned long long)seq);
}

/* data: virtio-net header followed by the frame, total bytes in all. */
static void rx_verify(struct fe_net *net, struct net_queue *q, const uint8_t *data,
		      uint32_t total)
{
	const uint8_t *frame = data + net->hdr_len;
	uint32_t flen;
	uint16_t src_pair;
	uint64_t seq = 0;
	struct net_queue *src;

	if (total < net->hdr_len + FE_FRAME_MIN || total > net->hdr_len + FE_FRAME_MAX) {
		rx_bad(net, q, "length", 0);
		return;
	}
	flen = total - net->hdr_len;
	/* No offload was negotiated: flags and gso_type must be clear. */
	if (data[0] != 0 || data[1] != VIRTIO_NET_HDR_GSO_NONE) {
		rx_bad(net, q, "virtio-net header flags/gso", 0);
		return;
	}
	if (!net->cfg.verify) {
		rx_good(net, q, flen);
		q->rx_arrived++;
		return;
	}
	if (fe_pattern_check(frame, flen, &src_pair, &seq) < 0 || src_pair >= net->nq) {
		rx_bad(net, q, "pattern", seq);
		return;
	}
	src = &net->q[src_pair];
	if (loopback(net) && (seq >= src->tx_seq ||
			      flen != fe_pattern_size(seq, net->cfg.min_size, net->cfg.max_size))) {
		rx_bad(net, src, seq >= src->tx_seq ? "never sent" : "size", seq);
		return;
	}
	src->rx_arrived++;
	rx_good(net, q, flen);
	account_seq(net, src, seq);
}

/* Copies a chain's written bytes (in descriptor order) into scratch. */
static uint32_t rx_gather_chain(struct fe_net *net, struct net_queue *q, uint16_t head,
				uint32_t len, uint32_t at)
{
	uint16_t id = head, n = virtq_drv_chain_len(&q->rx->vq, head), i;

	for (i = 0; i < n && len; i++) {
		uint32_t cap = (!net->mrg && net->split_hdr && i == 0) ? net->hdr_len :
			       q->rx_pool.buf_size;
		uint32_t take = len < cap ? len : cap;

		if (take > net->scratch_size - at)
			return UINT32_MAX;
		memcpy(net->scratch + at, pool_va(&q->rx_pool, id), take);
		at += take;
		len -= take;
		id = virtq_drv_chain_next(&q->rx->vq, id);
	}
	return at;
}

static void rx_complete_mrg(struct fe_net *net, struct net_queue *q)
{
	unsigned int i;

	if (q->mrg_need == 1) {
		rx_verify(net, q, pool_va(&q->rx_pool, q->mrg_heads[0]), q->mrg_lens[0]);
	} else {
		uint32_t at = 0;

		for (i = 0; i < q->mrg_got && at != UINT32_MAX; i++)
			at = rx_gather_chain(net, q, q->mrg_heads[i], q->mrg_lens[i], at);
		if (at == UINT32_MAX)
			rx_bad(net, q, "merged frame too long", 0);
		else
			rx_verify(net, q, net->scratch, at);
	}
	for (i = 0; i < q->mrg_got; i++)
		virtq_drv_chain_release(&q->rx->vq, q->mrg_heads[i]);
	q->mrg_got = q->mrg_need = 0;
}

static int rx_process(struct fe_net *net, struct net_queue *q, unsigned int *progress)
{
	unsigned int n;

	record_avail_event(net, &q->rx->vq, &q->rx_aev);
	for (n = 0; n < RX_BUDGET; n++) {
		uint16_t head;
		uint32_t len;
		int r = virtq_drv_pop(&q->rx->vq, &head, &len);

		if (r == 0) {
			q->rx_ready = false;	/* drained what was announced */
			break;
		}
		if (r < 0 && r != -EMSGSIZE) {
			net->st.ring_errors++;
			return r;
		}
		(*progress)++;
		if (r == 1)
			rx_record_written(net, q, head, len);
		if (r == -EMSGSIZE) {
			net->st.ring_errors++;
			LOG_ERR(TAG, "pair %u: device wrote %u bytes into a %llu-byte buffer",
				q->pair, len, (unsigned long long)q->rx->vq.chain_wlen[head]);
			virtq_drv_chain_release(&q->rx->vq, head);
			rx_bad(net, q, "used length", 0);
			continue;
		}
		if (!net->mrg) {
			if (virtq_drv_chain_len(&q->rx->vq, head) == 1) {
				rx_verify(net, q, pool_va(&q->rx_pool, head), len);
			} else {
				uint32_t at = rx_gather_chain(net, q, head, len, 0);

				rx_verify(net, q, net->scratch, at);
			}
			virtq_drv_chain_release(&q->rx->vq, head);
			continue;
		}
		if (q->mrg_need == 0) {
			struct virtio_net_hdr_mrg_rxbuf h;

			if (len < net->hdr_len) {
				virtq_drv_chain_release(&q->rx->vq, head);
				rx_bad(net, q, "buffer shorter than the header", 0);
				continue;
			}
			memcpy(&h, pool_va(&q->rx_pool, head), sizeof(h));
			if (h.num_buffers == 0 || h.num_buffers > q->rx->vq.size) {
				virtq_drv_chain_release(&q->rx->vq, head);
				rx_bad(net, q, "num_buffers", h.num_buffers);
				continue;
			}
			q->mrg_need = h.num_buffers;
		}
		q->mrg_heads[q->mrg_got] = head;
		q->mrg_lens[q->mrg_got] = len;
		if (++q->mrg_got == q->mrg_need) {
			rx_complete_mrg(net, q);
			mark_rx(net);
		}
	}
	if (n) {
		if (!net->mrg)
			mark_rx(net);
		rx_refill(net, q);
	}
	return 0;
}

/* ---- TX ---- */

static int tx_reclaim(struct fe_net *net, struct net_queue *q, unsigned int *progress)
{
	record_avail_event(net, &q->tx->vq, &q->tx_aev);
	for (;;) {
		uint16_t head;
		uint32_t len;
		int r = virtq_drv_pop(&q->tx->vq, &head, &len);

		if (r == 0) {
			q->tx_ready = false;
			return 0;
		}
		/* -EMSGSIZE: a length on a chain with nothing to write. TX
		 * ignores used lengths, so it is still a completion. */
		if (r < 0 && r != -EMSGSIZE) {
			net->st.ring_errors++;
			return r;
		}
		record_used(net, &q->tx->vq, q->tx_stamp[head]);
		virtq_drv_chain_release(&q->tx->vq, head);
		(*progress)++;
	}
}

/* --pps: frames each pair may have sent by now, from the run's start. */
static uint64_t pace_allowed(const struct fe_net *net)
{
	return (uvdpa_now_ns() - net->t_start) / 1000 * net->cfg.pps / 1000000 + 1;
}

/* When the pair that is furthest behind may send its next frame. */
static uint64_t pace_next(const struct fe_net *net)
{
	uint64_t seq = UINT64_MAX;

	for (unsigned int i = 0; i < net->nq; i++)
		if (net->q[i].tx_seq < net->q[i].tx_target && net->q[i].tx_seq < seq)
			seq = net->q[i].tx_seq;
	if (seq == UINT64_MAX)
		return UINT64_MAX;
	return net->t_start + seq * 1000000000ull / net->cfg.pps;
}

static void tx_send(struct fe_net *net, struct net_queue *q, unsigned int *progress)
{
	unsigned int sent = 0;

	uint64_t paced = net->cfg.pps ? pace_allowed(net) : UINT64_MAX;

	while (sent < net->cfg.burst && q->tx_seq < q->tx_target && q->tx_seq < paced) {
		uint16_t ids[2];
		uint32_t len;
		uint8_t *hdr, *frame;

		if (loopback(net) && q->tx_seq - q->rx_arrived >= net->window)
			break;
		if (virtq_drv_desc_take(&q->tx->vq, net->tx_chain_descs, ids) < 0)
			break;
		len = fe_pattern_size(q->tx_seq, net->cfg.min_size, net->cfg.max_size);
		hdr = pool_va(&q->tx_pool, ids[0]);
		/* A plain header: no checksum or segmentation requested. */
		memset(hdr, 0, net->hdr_len);
		if (net->split_hdr) {
			frame = pool_va(&q->tx_pool, ids[1]);
			virtq_drv_desc_set(&q->tx->vq, ids[0], pool_gpa(&q->tx_pool, ids[0]),
					  net->hdr_len, false);
			virtq_drv_desc_set(&q->tx->vq, ids[1], pool_gpa(&q->tx_pool, ids[1]), len,
					  false);
		} else {
			frame = hdr + net->hdr_len;
			virtq_drv_desc_set(&q->tx->vq, ids[0], pool_gpa(&q->tx_pool, ids[0]),
					  net->hdr_len + len, false);
		}
		fe_pattern_fill(frame, len, (uint16_t)q->pair, q->tx_seq);
		q->tx_stamp[ids[0]] = fe_log_stamp(&net->dev->log);
		virtq_drv_push(&q->tx->vq, ids[0]);
		q->tx_seq++;
		net->st.tx_pkts++;
		net->st.tx_bytes += len;
		q->st.tx_pkts++;
		q->st.tx_bytes += len;
		sent++;
	}
	if (sent) {
		fe_vring_publish(q->tx);
		net->t_last_tx = uvdpa_now_ns();
		*progress += sent;
	}
}

/* ---- session ---- */

int fe_net_start(struct fe_net *net)
{
	struct fe_dev *dev = net->dev;
	bool legacy = !(dev->features & BIT(VIRTIO_F_VERSION_1));
	uint32_t per_pkt;
	unsigned int i, rx_pkts;

	net->hdr_len = dev->net_hdr_len;
	net->mrg = dev->features & BIT(VIRTIO_NET_F_MRG_RXBUF);
	/* A legacy device without ANY_LAYOUT wants the header on its own. */
	net->split_hdr = net->cfg.split_hdr ||
			 (legacy && !(dev->features & BIT(VIRTIO_F_ANY_LAYOUT)));
	net->tx_chain_descs = net->split_hdr ? 2 : 1;
	if (net->mrg) {
		net->rx_chain_descs = 1;
		per_pkt = (net->hdr_len + net->cfg.max_size + net->q[0].rx_pool.buf_size - 1) /
			  net->q[0].rx_pool.buf_size;
	} else {
		uint32_t b = net->q[0].rx_pool.buf_size;

		net->rx_chain_descs = net->split_hdr ?
			1 + (net->cfg.max_size + b - 1) / b :
			(net->hdr_len + net->cfg.max_size + b - 1) / b;
		per_pkt = net->rx_chain_descs;
	}
	if (net->rx_chain_descs > 64 || net->rx_chain_descs > dev->cfg.queue_size ||
	    per_pkt > dev->cfg.queue_size) {
		LOG_ERR(TAG, "RX buffers of %u bytes need %u descriptors per frame: too many",
			net->q[0].rx_pool.buf_size, per_pkt);
		return -EINVAL;
	}
	rx_pkts = dev->cfg.queue_size / per_pkt;
	net->window = net->cfg.window ? net->cfg.window : rx_pkts;
	if (net->cfg.window > rx_pkts)
		LOG_WARN(TAG, "window %u exceeds the %u frames RX rings hold: drops possible",
			 net->cfg.window, rx_pkts);

	for (i = 0; i < net->nq; i++) {
		struct net_queue *q = &net->q[i];

		q->mrg_got = q->mrg_need = 0;
		q->rx_ready = q->tx_ready = false;	/* fresh rings: nothing announced */
		q->rx_aev = q->tx_aev = (struct avail_event_seen){ 0, 0 };
		if (net->cfg.rx)
			rx_refill(net, q);
	}
	LOG_DEBUG(TAG, "started: header %u, %s, rx %u desc/chain, window %u", net->hdr_len,
		  net->mrg ? "mergeable" : "plain", net->rx_chain_descs, net->window);
	return 0;
}

/* The backend went away: whatever was in flight is gone with the rings. */
static int net_recover(struct fe_net *net)
{
	unsigned int i;
	int r;

	LOG_WARN(TAG, "backend disconnected during traffic");
	net->dev->backend_disconnects++;
	for (i = 0; i < net->nq; i++) {
		struct net_queue *q = &net->q[i];

		if (loopback(net) && q->tx_seq > q->rx_arrived) {
			net->st.reset_drops += q->tx_seq - q->rx_arrived;
			q->rx_arrived = q->tx_seq;
		}
		if (loopback(net))
			q->rx_next_seq = q->tx_seq;
	}
	if (!net->cfg.reconnect)
		return -ECONNRESET;
	r = fe_dev_reconnect(net->dev);
	if (r < 0)
		return r;
	net->st.reconnects++;
	return fe_net_start(net);
}

static bool tx_done(const struct fe_net *net)
{
	unsigned int i;

	for (i = 0; i < net->nq; i++)
		if (net->q[i].tx_seq < net->q[i].tx_target)
			return false;
	return true;
}

static bool all_back(const struct fe_net *net)
{
	unsigned int i;

	for (i = 0; i < net->nq; i++) {
		const struct net_queue *q = &net->q[i];

		if (loopback(net) && q->rx_arrived < q->tx_seq)
			return false;
		if (!net->cfg.rx && q->tx->vq.num_free != q->tx->vq.size)
			return false;
	}
	return true;
}

static uint64_t rx_total(const struct fe_net *net)
{
	return net->st.rx_pkts + net->st.rx_bad;
}

/* Where the frames we still wait for are: never taken from the TX ring, or
 * taken by the backend and never delivered to an RX ring. */
static void log_missing(const struct fe_net *net)
{
	unsigned int i;

	for (i = 0; i < net->nq; i++) {
		const struct net_queue *q = &net->q[i];
		const struct virtq_driver *tx = &q->tx->vq, *rx = &q->rx->vq;
		uint16_t in_tx = (uint16_t)(virtq_drv_in_flight(tx) - virtq_drv_used_pending(tx));
		uint64_t missing = q->tx_seq > q->rx_arrived ? q->tx_seq - q->rx_arrived : 0;

		if (!missing && !in_tx)
			continue;
		LOG_WARN(TAG, "pair %u: %llu frames missing: %u still in the TX ring, "
			 "%llu taken by the backend and not delivered; RX ring: %u posted, "
			 "%u used unread", q->pair, (unsigned long long)missing, in_tx,
			 (unsigned long long)(missing > in_tx ? missing - in_tx : 0),
			 (uint16_t)(virtq_drv_in_flight(rx) - virtq_drv_used_pending(rx)),
			 virtq_drv_used_pending(rx));
		/* As the device sees them in guest memory. */
		LOG_WARN(TAG, "pair %u: tx avail %u used %u flags %u/%u; rx avail %u used %u",
			 q->pair, tx->published_idx, virtq_drv_device_used_idx(tx),
			 tx->avail->flags, tx->used->flags, rx->published_idx,
			 virtq_drv_device_used_idx(rx));
	}
}

/* ---- waiting: polled or interrupt-driven ---- */

static bool irq_mode(const struct fe_net *net)
{
	return net->dev->cfg.irq;
}

/* Polled mode looks at every ring every round; interrupt mode only at a
 * ring whose call fired (or that completed while being re-armed). */
static bool may_look(const struct fe_net *net, bool ready)
{
	return !irq_mode(net) || ready;
}

/* A ring interrupt mode waits on, with where to record what it saw. */
struct irq_ring {
	struct fe_vring *vr;
	bool *ready;
	uint64_t *catchups;
};

static unsigned int irq_rings(struct fe_net *net, struct irq_ring *out)
{
	unsigned int i, n = 0;

	for (i = 0; i < net->nq; i++) {
		struct net_queue *q = &net->q[i];

		if (net->cfg.rx)
			out[n++] = (struct irq_ring){ q->rx, &q->rx_ready, &q->st.rx_catchups };
		if (net->cfg.tx)
			out[n++] = (struct irq_ring){ q->tx, &q->tx_ready, &q->st.tx_catchups };
	}
	return n;
}

/* Re-arms every ring in use, then sleeps until a call eventfd fires, the
 * session needs service, or timeout_ms (the run's next deadline) passes:
 * no periodic wakeup. A ring that completed while being re-armed may get
 * no call for those entries (the virtio re-enable race), so it is ready at
 * once and counted as a catch-up. Returns true when the session socket or
 * the backend channel is readable. */
static bool irq_wait(struct fe_net *net, int timeout_ms)
{
	struct irq_ring rings[FE_MAX_VRINGS];
	struct pollfd p[FE_MAX_VRINGS + 2];
	struct fe_conn *c = &net->dev->conn;
	unsigned int i, n = irq_rings(net, rings), np = n;
	bool caught_up = false;

	for (i = 0; i < n; i++) {
		if (virtq_drv_enable_interrupts(&rings[i].vr->vq)) {
			*rings[i].ready = true;
			(*rings[i].catchups)++;
			caught_up = true;
		}
		p[i] = (struct pollfd){ .fd = rings[i].vr->call_fd, .events = POLLIN };
	}
	if (caught_up)
		return false;
	p[np++] = (struct pollfd){ .fd = c->sock, .events = POLLIN | POLLRDHUP };
	if (c->backend_fd >= 0)
		p[np++] = (struct pollfd){ .fd = c->backend_fd, .events = POLLIN };
	if (poll(p, np, timeout_ms) <= 0)
		return false;
	for (i = 0; i < n; i++) {
		uint64_t calls = p[i].revents ? fe_vring_call_drain(rings[i].vr) : 0;

		net->st.calls += calls;
		if (calls)
			*rings[i].ready = true;
	}
	for (i = n; i < np; i++)
		if (p[i].revents)
			return true;
	return false;
}

static void drain_calls(struct fe_net *net)
{
	unsigned int i;

	for (i = 0; i < net->nq; i++) {
		net->st.calls += fe_vring_call_drain(net->q[i].rx);
		net->st.calls += fe_vring_call_drain(net->q[i].tx);
	}
}

/* Backend-channel requests and liveness; on a disconnect, recovery. */
static int service_session(struct fe_net *net)
{
	int r;

	if (fe_conn_poll(&net->dev->conn, 0) != -ECONNRESET)
		return 0;
	r = net_recover(net);
	if (r == 0)
		net->t_progress = uvdpa_now_ns();
	return r;
}

/* ---- the run ---- */

/* Per-run limits, fixed at the start of fe_net_run(). */
struct run_limits {
	uint64_t start;
	uint64_t t_end_tx;	/* by time: stop sending then; 0 otherwise */
	uint64_t rx_goal;	/* rx-only by count: frames to receive; 0 otherwise */
	uint64_t stall_ns;	/* nothing moved for this long: failure */
	bool stall_fails;	/* the run has a count to reach or sends */
};

static uint64_t tx_total(const struct fe_net *net)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < net->nq; i++)
		n += net->q[i].tx_seq;
	return n;
}

static int run_tick(struct fe_net *net)
{
	uint64_t moved;
	bool due = false;

	if (!net->cfg.tick)
		return 0;
	moved = net->cfg.tx ? tx_total(net) : rx_total(net);
	if (net->cfg.tick_every && moved >= net->next_tick) {
		net->next_tick = (moved / net->cfg.tick_every + 1) * net->cfg.tick_every;
		due = true;
	}
	if (net->cfg.tick_ms) {
		uint64_t now = uvdpa_now_ns();

		if (now >= net->next_tick_ns) {
			net->next_tick_ns = now + (uint64_t)net->cfg.tick_ms * 1000000ull;
			due = true;
		}
	}
	return due ? net->cfg.tick(net->cfg.tick_arg, moved) : 0;
}

static void set_targets(struct fe_net *net, uint64_t count)
{
	unsigned int i;

	for (i = 0; i < net->nq; i++) {
		struct net_queue *q = &net->q[i];

		if (!net->cfg.tx)
			q->tx_target = q->tx_seq;
		else if (count)
			q->tx_target = q->tx_seq + count / net->nq + (i < count % net->nq ? 1 : 0);
		else
			q->tx_target = UINT64_MAX;
	}
}

static int process_rings(struct fe_net *net, unsigned int *progress)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < net->nq && ret == 0; i++) {
		struct net_queue *q = &net->q[i];

		if (net->cfg.rx && may_look(net, q->rx_ready))
			ret = rx_process(net, q, progress);
		if (net->cfg.tx && ret == 0) {
			if (may_look(net, q->tx_ready))
				ret = tx_reclaim(net, q, progress);
			if (ret == 0)
				tx_send(net, q, progress);
		}
	}
	return ret;
}

static uint64_t drain_ns(const struct fe_net *net)
{
	return (uint64_t)net->cfg.drain_ms * 1000000ull;
}

/* When the run must next decide something without any ring event: the end
 * of sending by time, the drain limit, or the stall limit. */
static uint64_t next_deadline(const struct fe_net *net, const struct run_limits *lim)
{
	uint64_t d = lim->t_end_tx ? lim->t_end_tx : UINT64_MAX;
	uint64_t limit = UINT64_MAX;

	if (net->cfg.tx && tx_done(net))
		limit = net->t_progress + drain_ns(net);
	else if (lim->stall_fails)
		limit = net->t_progress + lim->stall_ns;
	if (limit > d)
		limit = d;
	if (net->cfg.tx && net->cfg.pps && !tx_done(net)) {
		d = pace_next(net);
		if (d < limit)
			limit = d;
	}
	return limit;
}

static int ms_until(uint64_t deadline, uint64_t now)
{
	uint64_t ms;

	if (deadline == UINT64_MAX)
		return -1;
	if (deadline <= now)
		return 0;
	ms = (deadline - now + 999999) / 1000000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* After a round: 1 when the run is over, 0 to go on, or -ETIMEDOUT. */
static int check_end(struct fe_net *net, struct run_limits *lim, uint64_t now)
{
	unsigned int i;

	if (lim->t_end_tx && now >= lim->t_end_tx) {
		for (i = 0; i < net->nq; i++)
			net->q[i].tx_target = net->q[i].tx_seq;
		lim->t_end_tx = 0;
		if (!net->cfg.tx)
			return 1;	/* rx-only by time: done */
	}
	if (lim->rx_goal && rx_total(net) >= lim->rx_goal)
		return 1;
	if (net->cfg.tx && tx_done(net)) {
		if (all_back(net))
			return 1;
		if (now - net->t_progress <= drain_ns(net))
			return 0;
		LOG_WARN(TAG, "gave up waiting for frames after %d ms", net->cfg.drain_ms);
		log_missing(net);
		if (!irq_mode(net))
			return 1;
		/* Interrupt mode: whatever is outstanding was never announced. */
		LOG_ERR(TAG, "interrupt mode: no interrupt for %d ms while completions were "
			"outstanding (%llu calls in all)", net->cfg.drain_ms,
			(unsigned long long)net->st.calls);
		return -ETIMEDOUT;
	}
	if (now - net->t_progress <= lim->stall_ns || !lim->stall_fails)
		return 0;
	if (irq_mode(net))
		LOG_ERR(TAG, "interrupt mode: no interrupt for %llu ms (%llu calls in all); "
			"rings are not looked at without one",
			(unsigned long long)(lim->stall_ns / 1000000),
			(unsigned long long)net->st.calls);
	else
		LOG_ERR(TAG, "traffic stalled: nothing moved for %llu ms",
			(unsigned long long)(lim->stall_ns / 1000000));
	return -ETIMEDOUT;
}

static void run_finish(struct fe_net *net, uint64_t run_start)
{
	unsigned int i;

	drain_calls(net);
	net->st.kicks = 0;
	for (i = 0; i < net->nq; i++)
		net->st.kicks += net->q[i].rx->kicks + net->q[i].tx->kicks;
	if (net->st.tx_pkts)
		net->st.tx_ns += net->t_last_tx - run_start;
	/* A receiver that does not send times from its first frame: waiting
	 * for the sender to start is not receive time. */
	if (rx_total(net))
		net->st.rx_ns += net->t_last_rx - (loopback(net) || !net->t_first_rx ? run_start
										   : net->t_first_rx);
}

int fe_net_run(struct fe_net *net, uint64_t count, double seconds)
{
	struct run_limits lim = { 0 };
	uint64_t next_service;
	int ret = 0;

	if (count == 0 && seconds <= 0)
		return -EINVAL;
	set_targets(net, count);
	if (!net->cfg.tx && count)
		lim.rx_goal = rx_total(net) + count;
	lim.start = net->t_start = net->t_last_tx = net->t_last_rx = net->t_progress = uvdpa_now_ns();
	net->t_first_rx = 0;
	if (count == 0)
		lim.t_end_tx = lim.start + (uint64_t)(seconds * 1e9);
	next_service = lim.start + SERVICE_PERIOD_NS;
	lim.stall_ns = (uint64_t)(net->cfg.drain_ms > MIN_STALL_MS ? net->cfg.drain_ms :
				  MIN_STALL_MS) * 1000000ull;
	lim.stall_fails = net->cfg.tx || count;

	for (;;) {
		unsigned int progress = 0;
		uint64_t now;

		ret = process_rings(net, &progress);
		if (ret < 0)
			break;
		ret = run_tick(net);
		if (ret < 0)
			break;
		now = uvdpa_now_ns();
		if (progress)
			net->t_progress = now;
		ret = check_end(net, &lim, now);
		if (ret != 0) {
			ret = ret < 0 ? ret : 0;
			break;
		}
		if (irq_mode(net)) {
			/* Sleep only when the round did nothing: a round that
			 * sent may send more before any completion. */
			if (!progress && irq_wait(net, ms_until(next_deadline(net, &lim), now)))
				ret = service_session(net);
		} else if (now >= next_service) {
			next_service = now + SERVICE_PERIOD_NS;
			drain_calls(net);
			ret = service_session(net);
		}
		if (ret < 0)
			break;
	}
	run_finish(net, lim.start);
	return ret;
}

void fe_net_get_stats(const struct fe_net *net, struct fe_net_stats *st)
{
	unsigned int i;

	*st = net->st;
	st->rx_lost = 0;
	for (i = 0; i < net->nq; i++) {
		const struct net_queue *q = &net->q[i];

		if (loopback(net))
			st->rx_lost += q->tx_seq > q->rx_arrived ? q->tx_seq - q->rx_arrived : 0;
		else if (net->cfg.rx)
			st->rx_lost += q->rx_gaps;
	}
}

int fe_net_get_queue_stats(const struct fe_net *net, unsigned int pair,
			   struct fe_net_queue_stats *qs)
{
	const struct net_queue *q;

	if (pair >= net->nq)
		return -EINVAL;
	q = &net->q[pair];
	*qs = q->st;
	qs->tx_kicks = q->tx->kicks;
	qs->rx_kicks = q->rx->kicks;
	qs->tx_notifier_kicks = q->tx->notifier_kicks;
	qs->rx_notifier_kicks = q->rx->notifier_kicks;
	qs->tx_calls = q->tx->calls;
	qs->rx_calls = q->rx->calls;
	return 0;
}

bool fe_net_verified(const struct fe_net *net)
{
	struct fe_net_stats st;

	fe_net_get_stats(net, &st);
	if (st.rx_bad || st.rx_ooo || st.ring_errors)
		return false;
	if (st.rx_lost > (loopback(net) ? 0 : net->cfg.max_lost))
		return false;
	if (loopback(net))
		return st.rx_pkts + st.reset_drops == st.tx_pkts;
	return true;
}
