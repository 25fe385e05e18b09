/* The emulated IFCVF's net device type: its record for the device core
 * (ids, features, virtio_net_config), the datapath of a queue pair (TX
 * chains to the port, frames from the port into RX chains, with or without
 * MRG_RXBUF, legacy 10-byte header when VERSION_1 is off), the control
 * queue, and the net run-time API (link, MAC, announce). */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "models/ifcvf/ifcvf_net.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "core/log.h"
#include "virtio/virtio_net_hdr.h"

#define TAG "ifcvf-net"

#define NET_CLASS_CODE 0x020000u	/* network controller, Ethernet */
#define NET_CONFIG_SIZE 24u		/* virtio_net_config up to supported_hash_types */
#define NET_MAX_QUEUE_SIZE 4096u
#define NET_MIN_MTU 68u
#define NET_CVQ_MAX_CMD 8192u		/* largest control command accepted */

#define BIT(n) (1ull << (n))

#define NET_CTRL_FEATURES (BIT(VIRTIO_NET_F_CTRL_RX) | BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) | \
			   BIT(VIRTIO_NET_F_GUEST_ANNOUNCE))
/* IN_ORDER: every ring's buffers are used in the order they were made
 * available (TX and RX chains are returned as they are taken, errors
 * included), so a driver may take the in-order fast paths. */
#define NET_DEFAULT_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ANY_LAYOUT) |            \
			      BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |                \
			      BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_MRG_RXBUF) |             \
			      BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_RING_F_INDIRECT_DESC) | \
			      BIT(VIRTIO_F_ACCESS_PLATFORM) | BIT(VIRTIO_F_IN_ORDER))
/* Checksum and TCP segmentation offloads (devargs offloads=1): frames keep
 * their offload toward a receiver that negotiated it (the other end of a
 * pair, a vnet_hdr tap) and are finished in software for any other. */
#define NET_OFFLOAD_FEATURES (BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |             \
			      BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |         \
			      BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_TSO4) |         \
			      BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN))
#define NET_SUPPORTED_FEATURES (NET_DEFAULT_FEATURES | BIT(VIRTIO_NET_F_MQ) | \
				BIT(VIRTIO_NET_F_CTRL_VQ) | NET_CTRL_FEATURES | NET_OFFLOAD_FEATURES)

static struct ifcvf_net *net_of(struct ifcvf_model *m)
{
	return m->type == &ifcvf_net_type ? m->type_priv : NULL;
}

static bool is_cvq(const struct ifcvf_net *net, const struct ifcvf_vq *q)
{
	return net->cvq == q;
}

/* ---- RX: frames from the FIFO into RX chains ---- */

/* The frame in the FIFO is done (delivered); segments of a GSO frame may
 * follow. */
static void fifo_frame_done(struct net_rx_fifo *f)
{
	f->len = 0;
	f->nbufs = 0;
	f->placed = 0;
	f->stalled = false;
	f->offload = false;
}

/* Empties the FIFO: the frame and whatever segments were left. */
static void fifo_clear(struct net_rx_fifo *f)
{
	fifo_frame_done(f);
	f->gso_next = f->gso.nsegs;
}

static void rx_fault(struct net_qpair *p)
{
	p->rx_commit = 0;
	ifcvf_vq_fault(p->rxq);
	if (p->fifo.len)
		ifcvf_counter_add(&p->rx.drops, 1);
	fifo_clear(&p->fifo);
}

void net_qpair_cfg_refresh(struct net_qpair *p)
{
	struct ifcvf_net *net = p->net;
	uint32_t gen = __atomic_load_n(&net->filter_gen, __ATOMIC_ACQUIRE);

	if (gen == p->filter_gen)
		return;
	pthread_mutex_lock(&net->cfg_lock);
	*p->rxf = net->rxf;
	memcpy(p->rxf->mac, net->mac, 6);
	p->filter_gen = net->filter_gen;
	pthread_mutex_unlock(&net->cfg_lock);
}

static bool mac_in(const uint8_t (*table)[6], uint32_t n, const uint8_t *mac)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(table[i], mac, 6))
			return true;
	return false;
}

/* Receive filtering, only when the driver negotiated CTRL_RX (otherwise
 * the function is promiscuous, like a vhost backend). */
static bool rx_filter_accept(struct net_qpair *p, const uint8_t *frame, uint32_t len)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const struct net_rx_filter *f;

	if (!p->ctrl_rx)
		return true;
	net_qpair_cfg_refresh(p);
	f = p->rxf;
	if (f->promisc)
		return true;
	if (len < 6)
		return false;
	if (frame[0] & 1) {
		if (!memcmp(frame, bcast, 6) || f->allmulti || f->multi_overflow)
			return true;
		return mac_in(f->multi, f->nmulti, frame);
	}
	if (!memcmp(frame, f->mac, 6) || f->uni_overflow)
		return true;
	return mac_in(f->uni, f->nuni, frame);
}

/* Takes the next RX chain: 1 taken, 0 none available, -1 the queue faulted
 * (and the FIFO was emptied). */
static int rx_take(struct net_qpair *p, struct virtq_elem *elem)
{
	struct virtq *vq = &p->rxq->vq;
	int rc;

	if (!virtq_avail_count(vq)) {
		if (virtq_is_broken(vq)) {
			rx_fault(p);
			return -1;
		}
		return 0;
	}
	rc = virtq_pop(vq, elem);
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0) {
		rx_fault(p);
		return -1;
	}
	return 1;
}

/* Publishes the used entries of the frames completed so far: one used idx
 * store (and one cache line handed to the driver) per group of
 * NET_PUBLISH_EVERY entries and at the end of a round, not per frame. A
 * merged frame still waiting for buffers stays pending. */
static void rx_publish(struct net_qpair *p)
{
	if (p->rx_commit) {
		virtq_push_commit_n(&p->rxq->vq, p->rx_commit);
		p->rx_commit = 0;
	}
}

/* Returns an RX chain holding a whole frame (or nothing): its used entry is
 * published with a group of others (rx_publish). false: the queue faulted. */
static bool rx_push(struct net_qpair *p, uint16_t head, uint32_t len)
{
	if (virtq_push_pending(&p->rxq->vq, head, len) < 0) {
		rx_fault(p);
		return false;
	}
	/* Whole frames are published in groups as the round goes: the driver
	 * starts on the first ones while the device fills the rest. */
	if (++p->rx_commit >= NET_PUBLISH_EVERY)
		rx_publish(p);
	return true;
}

static void rx_done(struct net_qpair *p, uint32_t len)
{
	ifcvf_counter_add(&p->rx.packets, 1);
	ifcvf_counter_add(&p->rx.bytes, len);
	p->rx_pushed = true;
	fifo_frame_done(&p->fifo);
}

/* The header the receiver gets: the frame's offloads when it keeps them. */
static void rx_header(struct net_qpair *p, uint8_t *hdr, uint16_t nbufs)
{
	const struct net_rx_fifo *f = &p->fifo;

	virtio_net_hdr_build(hdr, VIRTIO_NET_HDR_MAX_LEN, p->features, f->offload ? &f->info : NULL,
			     nbufs);
}

/* Without MRG_RXBUF the header and the whole frame go into one chain. */
static bool rx_deliver_single(struct net_qpair *p)
{
	struct net_rx_fifo *f = &p->fifo;
	struct virtq_elem *e = &p->rx_elem->elem;
	uint8_t hdr[VIRTIO_NET_HDR_MAX_LEN];
	uint32_t total = p->hdr_len + f->len;
	int rc = rx_take(p, e);

	if (rc <= 0)
		return rc < 0;
	if (e->in_len < total) {
		ifcvf_counter_add(&p->rx.errors, 1);
		if (rx_push(p, e->head, 0)) {
			p->rx_pushed = true;
			fifo_clear(f);
		}
		return true;
	}
	/* num_buffers is 1 when MRG_RXBUF is off (spec 5.1.6.4). */
	rx_header(p, hdr, 1);
	virtq_buf_to_iov(virtq_elem_in_iov(e), e->in_num, 0, hdr, p->hdr_len);
	virtq_buf_to_iov(virtq_elem_in_iov(e), e->in_num, p->hdr_len, f->frame, f->len);
	ifcvf_vq_log_write(p->rxq, e, 0, total);
	if (rx_push(p, e->head, total))
		rx_done(p, f->len);
	return true;
}

/* With MRG_RXBUF a frame spans as many chains as it needs; the header of
 * the first says how many. Entries stay pending (unpublished) until the
 * frame is complete, across engine rounds if the ring runs dry. */
static bool rx_deliver_merged(struct net_qpair *p)
{
	struct net_rx_fifo *f = &p->fifo;
	struct virtq *vq = &p->rxq->vq;
	struct virtq_elem *first = &f->first->elem;
	uint8_t hdr[VIRTIO_NET_HDR_MAX_LEN];

	while (f->nbufs == 0 || f->placed < f->len) {
		struct virtq_elem *e = f->nbufs ? &p->rx_elem->elem : first;
		uint32_t off = f->nbufs ? 0 : p->hdr_len;
		uint64_t n;
		int rc = rx_take(p, e);

		if (rc <= 0)
			return rc < 0;
		if (e->in_len < off) {
			/* The first chain cannot even hold the header (no entry of
			 * this frame is pending yet). */
			ifcvf_counter_add(&p->rx.errors, 1);
			if (rx_push(p, e->head, 0)) {
				p->rx_pushed = true;
				fifo_clear(f);
			}
			return true;
		}
		n = e->in_len - off;
		if (n > f->len - f->placed)
			n = f->len - f->placed;
		virtq_buf_to_iov(virtq_elem_in_iov(e), e->in_num, off, f->frame + f->placed, n);
		ifcvf_vq_log_write(p->rxq, e, off, n);
		if (virtq_push_pending(vq, e->head, (uint32_t)(off + n)) < 0) {
			rx_fault(p);
			return true;
		}
		f->placed += (uint32_t)n;
		f->nbufs++;
	}
	rx_header(p, hdr, f->nbufs);
	virtq_buf_to_iov(virtq_elem_in_iov(first), first->in_num, 0, hdr, p->hdr_len);
	ifcvf_vq_log_write(p->rxq, first, 0, p->hdr_len);
	p->rx_commit += f->nbufs;
	if (p->rx_commit >= NET_PUBLISH_EVERY)
		rx_publish(p);
	rx_done(p, f->len);
	return true;
}

/* Moves the FIFO's frame into p's RX queue. false while it waits for RX
 * buffers (the FIFO stays full: back-pressure). */
static bool rx_deliver_frame(struct net_qpair *p)
{
	struct net_rx_fifo *f = &p->fifo;
	bool done;

	if (!f->len)
		return true;
	if (!p->rxq->running || (f->nbufs == 0 && !rx_filter_accept(p, f->frame, f->len))) {
		ifcvf_counter_add(&p->rx.drops, 1);
		fifo_clear(f);
		return true;
	}
	done = p->mrg_rxbuf ? rx_deliver_merged(p) : rx_deliver_single(p);
	if (!done && !f->stalled) {
		/* Counted once per frame that had to wait for buffers. */
		f->stalled = true;
		ifcvf_counter_add(&p->rx.overruns, 1);
	}
	return done;
}

/* The FIFO's frame, and the segments of a GSO frame cut in software one
 * after the other while RX buffers last. */
static bool rx_deliver(struct net_qpair *p)
{
	struct net_rx_fifo *f = &p->fifo;

	for (;;) {
		if (!rx_deliver_frame(p))
			return false;
		if (f->len || f->gso_next >= f->gso.nsegs)
			return true;
		f->len = virtio_net_gso_segment(&f->gso, f->gso_frame, f->gso_next++, f->frame);
	}
}

/* Whether features let a receiver take info's offloads as they are. */
static bool takes_offload(uint64_t features, const struct virtio_net_hdr_info *info)
{
	if (info->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return ifcvf_has_feature(features, VIRTIO_NET_F_GUEST_CSUM);
	if (info->gso_ecn && !ifcvf_has_feature(features, VIRTIO_NET_F_GUEST_ECN))
		return false;
	if (info->gso_type == VIRTIO_NET_HDR_GSO_TCPV4)
		return ifcvf_has_feature(features, VIRTIO_NET_F_GUEST_TSO4);
	if (info->gso_type == VIRTIO_NET_HDR_GSO_TCPV6)
		return ifcvf_has_feature(features, VIRTIO_NET_F_GUEST_TSO6);
	return false;
}

/* Puts a TX frame (len bytes at e past the header) that asks for offloads
 * into peer's FIFO: as it is when the peer takes them, else with its
 * checksum filled in or cut into segments. false: a frame whose offsets
 * do not hold (a driver error). */
static bool tx_offload_to_fifo(struct net_qpair *peer, const struct virtq_elem *e,
			       const struct virtio_net_hdr_info *info, uint32_t len)
{
	struct net_rx_fifo *f = &peer->fifo;

	if (takes_offload(peer->features, info)) {
		virtq_elem_read(e, info->vnet_hdr_len, f->frame, len);
		f->offload = true;
		f->info = *info;
		f->len = len;
		return true;
	}
	if (info->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		virtq_elem_read(e, info->vnet_hdr_len, f->frame, len);
		if (virtio_net_csum_complete(f->frame, len, info->csum_start, info->csum_offset) < 0)
			return false;
		f->len = len;
		return true;
	}
	virtq_elem_read(e, info->vnet_hdr_len, f->gso_frame, len);
	if (virtio_net_gso_prepare(f->gso_frame, len, info, &f->gso) < 0) {
		f->gso.nsegs = 0;
		f->gso_next = 0;
		return false;
	}
	f->gso_next = 1;
	f->len = virtio_net_gso_segment(&f->gso, f->gso_frame, 0, f->frame);
	return true;
}

/* Source port: takes up to NET_BURST chains that each hold a whole frame,
 * then fills them, then returns them. Taking the chains first lets their
 * descriptor reads overlap, and the copies after them; frame by frame, an
 * engine waits for each cache line the driver's core wrote in turn (rxonly
 * 64 B: 3.3-10 -> 12.8-13.1 Mpps, whatever the placement). A chain that is
 * too small for a frame or has more than NET_BURST_IOV buffers is given
 * back (virtq_unpop) and *fallback set: the per-frame path takes it. */
static unsigned int rx_source_burst(struct net_qpair *p, bool *fallback)
{
	struct virtq *vq = &p->rxq->vq;
	struct net_burst *b = p->burst;
	uint32_t need = p->hdr_len + p->net->source_len;
	uint8_t hdr[VIRTIO_NET_HDR_MAX_LEN];
	unsigned int n = 0, i;
	int rc;

	while (n < NET_BURST) {
		virtq_elem_init(&b->el[n], b->iov[n], b->addr[n], NET_BURST_IOV);
		rc = virtq_pop(vq, &b->el[n]);
		if (rc == -ENOBUFS || (rc == 0 && b->el[n].in_len < need)) {
			if (rc == 0 && virtq_unpop(vq, 1) < 0) {
				n++;	/* cannot happen: it was just taken */
				break;
			}
			*fallback = true;
			break;
		}
		if (rc < 0) {
			if (rc != -EAGAIN)
				*fallback = true;	/* the per-frame path reports it */
			break;
		}
		n++;
	}
	for (i = 0; i < n; i++) {
		const struct virtq_elem *e = &b->el[i];
		uint32_t total;

		net_source_fill(p);
		total = p->hdr_len + p->fifo.len;
		if (total > e->in_len) {
			/* Only the unlikely unpop failure above gets here. */
			ifcvf_counter_add(&p->rx.errors, 1);
			total = 0;
		} else {
			rx_header(p, hdr, 1);
			virtq_buf_to_iov(virtq_elem_in_iov(e), e->in_num, 0, hdr, p->hdr_len);
			virtq_buf_to_iov(virtq_elem_in_iov(e), e->in_num, p->hdr_len, p->fifo.frame,
					 p->fifo.len);
			ifcvf_vq_log_write(p->rxq, e, 0, total);
		}
		if (!rx_push(p, e->head, total))
			return i;
		if (total)
			rx_done(p, p->fifo.len);
		else
			fifo_clear(&p->fifo);
	}
	return n;
}

/* Frames the port produces for p (tap reads, generated frames). */
static unsigned int rx_produce_run(struct net_qpair *p)
{
	unsigned int n = 0;

	/* Link down: nothing arrives (the tap keeps its frames). */
	if (!p->rxq->running || !__atomic_load_n(&p->net->link_up, __ATOMIC_RELAXED))
		return 0;
	/* Generated frames need no receive filter unless the driver set one. */
	if (p->net->port == NET_PORT_SOURCE && !p->ctrl_rx && !p->fifo.len) {
		bool fallback = false;
		unsigned int k;

		while (n < NET_BATCH && !fallback) {
			k = rx_source_burst(p, &fallback);
			n += k;
			if (!k && !fallback)
				return n;
		}
		if (!fallback)
			return n;
	}
	while (n < NET_BATCH) {
		if (p->fifo.len && !rx_deliver(p))
			break;
		if (!net_port_produce(p))
			break;
		n++;
		rx_deliver(p);
	}
	return n;
}

/* ---- TX ---- */

static void tx_one(struct net_qpair *p, struct net_qpair *peer, const struct virtq_elem *e)
{
	struct ifcvf_net *net = p->net;
	struct virtio_net_hdr_info info;
	enum virtio_net_hdr_error why;
	uint32_t len;

	if (virtio_net_tx_hdr_parse(e, p->features, &info, &why) < 0 || info.pkt_len == 0 ||
	    info.pkt_len > NET_FRAME_MAX) {
		LOG_DEBUG(TAG, "%s: tx vring %u: bad packet: %s", net->model->pdev->addr,
			  p->txq->index, why ? virtio_net_hdr_strerror(why) : "bad length");
		ifcvf_counter_add(&p->tx.errors, 1);
		return;
	}
	len = (uint32_t)info.pkt_len;
	if (!__atomic_load_n(&net->link_up, __ATOMIC_RELAXED)) {
		ifcvf_counter_add(&p->tx.drops, 1);
		return;
	}
	if (net->port == NET_PORT_LOOPBACK || net->port == NET_PORT_PAIR) {
		/* The caller made sure the receiver's FIFO is free. */
		if (!peer || !peer->rxq->running) {
			ifcvf_counter_add(&p->tx.drops, 1);
			return;
		}
		if (info.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			if (!tx_offload_to_fifo(peer, e, &info, len)) {
				LOG_DEBUG(TAG, "%s: tx vring %u: offload offsets outside the frame",
					  net->model->pdev->addr, p->txq->index);
				ifcvf_counter_add(&p->tx.errors, 1);
				return;
			}
		} else {
			virtq_elem_read(e, info.vnet_hdr_len, peer->fifo.frame, len);
			peer->fifo.len = len;
		}
		ifcvf_counter_add(&p->tx.packets, 1);
		ifcvf_counter_add(&p->tx.bytes, len);
		rx_deliver(peer);
		return;
	}
	/* Copied out of guest memory as a NIC's DMA would. */
	virtq_elem_read(e, info.vnet_hdr_len, p->txbuf, len);
	if (net_port_send(p, p->txbuf, len,
			  (info.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ? &info : NULL)) {
		ifcvf_counter_add(&p->tx.packets, 1);
		ifcvf_counter_add(&p->tx.bytes, len);
	} else {
		ifcvf_counter_add(&p->tx.drops, 1);
	}
}

/* Loopback and pair ports push back: a TX chain stays in the ring while the
 * receiver's FIFO is busy or its running RX queue has no buffer. (A
 * receiver that is not running drops, as an unplugged cable would.) */
static bool peer_blocked(struct net_qpair *peer)
{
	if (!peer || !peer->rxq->running)
		return false;
	if (peer->fifo.len && !rx_deliver(peer))
		return true;
	return virtq_avail_count(&peer->rxq->vq) == 0 &&
	       !virtq_is_broken(&peer->rxq->vq);
}

static unsigned int tx_run(struct net_qpair *p, struct net_qpair *peer)
{
	struct virtq *vq = &p->txq->vq;
	struct virtq_elem *e = &p->tx_elem->elem;
	unsigned int n = 0;

	if (!p->txq->running)
		return 0;
	while (n < NET_BATCH) {
		int rc;

		if (peer_blocked(peer))
			break;
		rc = virtq_pop(vq, e);
		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			ifcvf_vq_fault(p->txq);
			break;
		}
		n++;
		tx_one(p, peer, e);
		rc = virtq_push_pending(vq, e->head, 0);
		if (rc == -ENOSPC) {
			virtq_push_commit(vq);
			rc = virtq_push_pending(vq, e->head, 0);
		}
		if (rc < 0) {
			ifcvf_vq_fault(p->txq);
			break;
		}
		p->tx_pushed = true;
		if (n % NET_PUBLISH_EVERY == 0)
			virtq_push_commit(vq);
	}
	virtq_push_commit(vq);
	return n;
}

/* ---- Queue pair works ---- */

static bool produces_rx(const struct net_qpair *p)
{
	return p->net->port == NET_PORT_SOURCE || (p->net->port == NET_PORT_TAP && p->index == 0);
}

static unsigned int qpair_run(struct net_qpair *p, bool polling)
{
	struct net_qpair *peer = net_port_peer(p);
	unsigned int n = 0;

	if (polling) {
		if (p->rxq->running)
			virtq_disable_notify(&p->rxq->vq);
		if (p->txq->running)
			virtq_disable_notify(&p->txq->vq);
	}
	if (p->fifo.len && rx_deliver(p))
		n++;
	if (produces_rx(p))
		n += rx_produce_run(p);
	n += tx_run(p, peer);
	/* A ring found malformed by a mere look (avail idx too far ahead) stops
	 * its queue like any other fault. */
	if (p->rxq->running && virtq_is_broken(&p->rxq->vq))
		rx_fault(p);
	if (p->txq->running && virtq_is_broken(&p->txq->vq))
		ifcvf_vq_fault(p->txq);
	return n;
}

static void qpair_interrupts(struct net_qpair *p)
{
	rx_publish(p);
	if (p->rx_pushed && p->rxq->setup)
		ifcvf_vq_interrupt(p->rxq);
	if (p->tx_pushed && p->txq->setup)
		ifcvf_vq_interrupt(p->txq);
	p->rx_pushed = p->tx_pushed = false;
}

unsigned int net_pair_work_run(struct ifcvf_work *w, bool polling)
{
	struct net_pair_work *pw = w->ctx;
	unsigned int n = 0, s;

	for (s = 0; s < 2; s++)
		if (pw->side[s])
			n += qpair_run(pw->side[s], polling);
	/* Interrupts once per round, after both directions. */
	for (s = 0; s < 2; s++)
		if (pw->side[s])
			qpair_interrupts(pw->side[s]);
	return n;
}

bool net_pair_work_arm(struct ifcvf_work *w)
{
	struct net_pair_work *pw = w->ctx;
	bool busy = false, rx_avail[2] = { false }, tx_avail[2] = { false };
	unsigned int s;

	/* Every queue of both sides first: a buffer added before its queue's
	 * notifications are back on must be seen by the checks below. */
	for (s = 0; s < 2; s++) {
		struct net_qpair *p = pw->side[s];

		if (!p)
			continue;
		if (p->rxq->running)
			rx_avail[s] = virtq_enable_notify(&p->rxq->vq);
		if (p->txq->running)
			tx_avail[s] = virtq_enable_notify(&p->txq->vq);
	}
	for (s = 0; s < 2; s++) {
		struct net_qpair *p = pw->side[s], *peer;
		bool link_up;

		if (!p)
			continue;
		peer = net_port_peer(p);
		link_up = __atomic_load_n(&p->net->link_up, __ATOMIC_RELAXED);
		/* RX buffers are work only for a frame waiting for them or a
		 * generator; TX buffers unless the receiver pushes back. */
		if (rx_avail[s] && (p->fifo.len || (p->net->port == NET_PORT_SOURCE && link_up)))
			busy = true;
		if (tx_avail[s] && !(peer && peer->rxq->running &&
				     (peer->fifo.len || !virtq_avail_count(&peer->rxq->vq))))
			busy = true;
		if (p->rxq->running && !p->fifo.len && produces_rx(p) && link_up &&
		    net_port_rx_ready(p))
			busy = true;
	}
	return busy;
}

/* ---- Control queue ---- */

static bool cvq_mac_table(struct net_rx_filter *f, const uint8_t *d, uint32_t len)
{
	uint32_t nuni, nmulti, off;

	if (len < 4)
		return false;
	memcpy(&nuni, d, 4);
	nuni = le32toh(nuni);
	if (nuni > (len - 4) / 6)
		return false;
	off = 4 + nuni * 6;
	if (len - off < 4)
		return false;
	memcpy(&nmulti, d + off, 4);
	nmulti = le32toh(nmulti);
	if (nmulti > (len - off - 4) / 6 || off + 4 + nmulti * 6 != len)
		return false;
	f->uni_overflow = nuni > NET_RX_FILTER_ENTRIES;
	f->nuni = f->uni_overflow ? 0 : nuni;
	memcpy(f->uni, d + 4, (size_t)f->nuni * 6);
	f->multi_overflow = nmulti > NET_RX_FILTER_ENTRIES;
	f->nmulti = f->multi_overflow ? 0 : nmulti;
	memcpy(f->multi, d + off + 4, (size_t)f->nmulti * 6);
	return true;
}

/* Executes one control command; true for VIRTIO_NET_OK. */
static bool cvq_command(struct ifcvf_net *net, uint8_t cls, uint8_t cmd, const uint8_t *d,
			uint32_t len)
{
	uint64_t f = net->cvq_features;
	bool ok = false, filter_changed = false, config_changed = false;
	uint16_t pairs;

	pthread_mutex_lock(&net->cfg_lock);
	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		if (!ifcvf_has_feature(f, VIRTIO_NET_F_CTRL_RX) || len != 1)
			break;
		if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
			net->rxf.promisc = d[0];
		else if (cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)
			net->rxf.allmulti = d[0];
		else
			break;	/* the others need CTRL_RX_EXTRA, not offered */
		ok = filter_changed = true;
		break;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET &&
		    ifcvf_has_feature(f, VIRTIO_NET_F_CTRL_MAC_ADDR) && len == 6) {
			memcpy(net->mac, d, 6);
			ok = filter_changed = config_changed = true;
		} else if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET &&
			   ifcvf_has_feature(f, VIRTIO_NET_F_CTRL_RX)) {
			ok = filter_changed = cvq_mac_table(&net->rxf, d, len);
		}
		break;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (cmd == VIRTIO_NET_CTRL_ANNOUNCE_ACK &&
		    ifcvf_has_feature(f, VIRTIO_NET_F_GUEST_ANNOUNCE) && len == 0) {
			net->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
			ok = config_changed = true;
		}
		break;
	case VIRTIO_NET_CTRL_MQ:
		if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || !ifcvf_has_feature(f, VIRTIO_NET_F_MQ) ||
		    len != 2)
			break;
		memcpy(&pairs, d, 2);
		pairs = le16toh(pairs);
		if (pairs >= VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN && pairs <= net->max_vqp) {
			net->active_pairs = pairs;
			ok = true;
		}
		break;
	default:
		break;
	}
	if (filter_changed)
		__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&net->cfg_lock);
	/* The driver made the change: a new generation, no interrupt. */
	if (config_changed)
		ifcvf_model_config_changed(net->model, false);
	return ok;
}

static uint8_t cvq_handle(struct ifcvf_net *net, const struct virtq_elem *e, uint8_t *buf)
{
	bool ok = false;

	ifcvf_counter_add(&net->cvq_requests, 1);
	if (e->out_len >= 2 && e->out_len <= NET_CVQ_MAX_CMD &&
	    virtq_elem_read(e, 0, buf, e->out_len) == e->out_len)
		ok = cvq_command(net, buf[0], buf[1], buf + 2, (uint32_t)e->out_len - 2);
	ifcvf_counter_add(ok ? &net->cvq_successes : &net->cvq_errors, 1);
	return ok ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

static unsigned int cvq_run(struct ifcvf_work *w, bool polling)
{
	struct ifcvf_net *net = w->ctx;
	struct ifcvf_vq *q = net->cvq;
	struct virtq_elem *e = &net->cvq_elem->elem;
	bool pushed = false;
	unsigned int n = 0;

	if (!q->running)
		return 0;
	if (polling)
		virtq_disable_notify(&q->vq);
	while (n < NET_BATCH) {
		uint8_t ack;
		uint32_t written = 0;
		int rc = virtq_pop(&q->vq, e);

		if (rc == -EAGAIN)
			break;
		if (rc < 0) {
			ifcvf_vq_fault(q);
			break;
		}
		n++;
		ack = cvq_handle(net, e, net->cvq_buf);
		if (e->in_len >= 1) {
			virtq_buf_to_iov(virtq_elem_in_iov(e), e->in_num, 0, &ack, 1);
			ifcvf_vq_log_write(q, e, 0, 1);
			written = 1;
		}
		if (virtq_push(&q->vq, e->head, written) < 0) {
			ifcvf_vq_fault(q);
			break;
		}
		pushed = true;
	}
	if (pushed && q->setup)
		ifcvf_vq_interrupt(q);
	return n;
}

static bool cvq_arm(struct ifcvf_work *w)
{
	struct ifcvf_net *net = w->ctx;

	return net->cvq->running && virtq_enable_notify(&net->cvq->vq);
}

static const struct ifcvf_work_ops cvq_work_ops = {
	.run = cvq_run,
	.arm = cvq_arm,
};

/* ---- The type record's operations ---- */

static uint64_t net_default_features(uint16_t max_vqp)
{
	return NET_DEFAULT_FEATURES | (max_vqp > 1 ? BIT(VIRTIO_NET_F_MQ) : 0);
}

static int net_num_vrings(const struct ifcvf_model_config *cfg, uint64_t features, char *err,
			  size_t errlen)
{
	unsigned int max_vqp = cfg->max_vqp ? cfg->max_vqp : 1;

	if (max_vqp > IFCVF_MAX_QUEUE_PAIRS) {
		uvdpa_errf(err, errlen, "max_vqp %u: the emulated IFCVF has at most %u queue pairs",
			 max_vqp, IFCVF_MAX_QUEUE_PAIRS);
		return -EINVAL;
	}
	if (max_vqp > 1 && !ifcvf_has_feature(features, VIRTIO_NET_F_MQ)) {
		uvdpa_errf(err, errlen, "max_vqp %u needs VIRTIO_NET_F_MQ (bit %u) in device_features",
			 max_vqp, VIRTIO_NET_F_MQ);
		return -EINVAL;
	}
	if (cfg->mtu && cfg->mtu < NET_MIN_MTU) {
		uvdpa_errf(err, errlen, "mtu %u: the minimum is %u", cfg->mtu, NET_MIN_MTU);
		return -EINVAL;
	}
	if ((features & NET_CTRL_FEATURES) && !ifcvf_has_feature(features, VIRTIO_NET_F_CTRL_VQ)) {
		uvdpa_errf(err, errlen, "device_features: CTRL_RX, CTRL_MAC_ADDR and GUEST_ANNOUNCE "
			 "need VIRTIO_NET_F_CTRL_VQ (bit %u)", VIRTIO_NET_F_CTRL_VQ);
		return -EINVAL;
	}
	return (int)(2 * max_vqp + (ifcvf_has_feature(features, VIRTIO_NET_F_CTRL_VQ) ? 1 : 0));
}

static void net_free(struct ifcvf_net *net)
{
	unsigned int i;

	for (i = 0; i < net->max_vqp; i++) {
		struct net_qpair *p = &net->pairs[i];

		free(p->fifo.frame);
		free(p->fifo.gso_frame);
		free(p->fifo.first);
		free(p->rx_elem);
		free(p->burst);
		free(p->tx_elem);
		free(p->txbuf);
		free(p->txseg);
		free(p->rxf);
	}
	free(net->cvq_elem);
	free(net->cvq_buf);
	pthread_mutex_destroy(&net->cfg_lock);
	free(net);
}

static void rx_filter_default(struct net_rx_filter *f)
{
	/* Promiscuous until the driver says otherwise (as QEMU's virtio-net). */
	memset(f, 0, sizeof(*f));
	f->promisc = true;
}

static int net_create(struct ifcvf_model *m, const struct ifcvf_model_config *cfg, char *err,
		      size_t errlen)
{
	static const uint8_t zero_mac[6];
	uint16_t max_vqp = cfg->max_vqp ? cfg->max_vqp : 1;
	struct ifcvf_net *net;
	unsigned int i;
	int rc;

	net = calloc(1, sizeof(*net) + max_vqp * sizeof(net->pairs[0]));
	if (!net) {
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	net->model = m;
	net->max_vqp = max_vqp;
	net->active_pairs = 1;
	net->mtu = cfg->mtu ? cfg->mtu : NET_DEFAULT_MTU;
	net->tap_fd = -1;
	pthread_mutex_init(&net->cfg_lock, NULL);
	if (memcmp(cfg->mac, zero_mac, 6)) {
		memcpy(net->cfg_mac, cfg->mac, 6);
	} else {
		/* Locally administered, stable per function. */
		const uint8_t mac[6] = { 0x02, 0x1a, 0xf4, 0x00, (uint8_t)(m->index >> 8),
					 (uint8_t)m->index };

		memcpy(net->cfg_mac, mac, 6);
	}
	memcpy(net->mac, net->cfg_mac, 6);
	net->status = VIRTIO_NET_S_LINK_UP;
	net->link_up = true;
	rx_filter_default(&net->rxf);
	net->filter_gen = 1;

	if (net_port_parse(net, cfg->port, err, errlen) < 0) {
		net_free(net);
		return -EINVAL;
	}
	for (i = 0; i < max_vqp; i++) {
		struct net_qpair *p = &net->pairs[i];

		p->net = net;
		p->index = i;
		p->rxq = &m->vqs[2 * i];
		p->txq = &m->vqs[2 * i + 1];
		p->rxq->type_priv = p->txq->type_priv = p;
		p->fifo.frame = malloc(NET_FRAME_MAX);
		p->fifo.gso_frame = malloc(NET_FRAME_MAX);
		p->fifo.first = malloc(sizeof(*p->fifo.first));
		p->rx_elem = malloc(sizeof(*p->rx_elem));
		p->burst = malloc(sizeof(*p->burst));
		p->tx_elem = malloc(sizeof(*p->tx_elem));
		p->rxf = calloc(1, sizeof(*p->rxf));
		if (net->port != NET_PORT_LOOPBACK && net->port != NET_PORT_PAIR) {
			p->txbuf = malloc(NET_FRAME_MAX);
			p->txseg = malloc(NET_FRAME_MAX);
		}
		if (!p->fifo.frame || !p->fifo.gso_frame || !p->fifo.first || !p->rx_elem || !p->tx_elem || !p->burst || !p->rxf ||
		    ((!p->txbuf || !p->txseg) && net->port != NET_PORT_LOOPBACK &&
		     net->port != NET_PORT_PAIR)) {
			uvdpa_errf(err, errlen, "out of memory");
			net_free(net);
			return -ENOMEM;
		}
		virtq_elem_buf_init(p->fifo.first);
		virtq_elem_buf_init(p->rx_elem);
		virtq_elem_buf_init(p->tx_elem);
	}
	if (ifcvf_has_feature(m->device_features, VIRTIO_NET_F_CTRL_VQ)) {
		net->cvq = &m->vqs[2 * max_vqp];
		net->cvq_elem = malloc(sizeof(*net->cvq_elem));
		net->cvq_buf = malloc(NET_CVQ_MAX_CMD);
		if (!net->cvq_elem || !net->cvq_buf) {
			uvdpa_errf(err, errlen, "out of memory");
			net_free(net);
			return -ENOMEM;
		}
		virtq_elem_buf_init(net->cvq_elem);
	}
	m->type_priv = net;

	rc = net_port_open(net, err, errlen);
	if (rc < 0) {
		net_free(net);
		m->type_priv = NULL;
		return rc;
	}
	for (i = 0; i < max_vqp; i++)
		net->pairs[i].rxq->work = net->pairs[i].txq->work = &net->pairs[i].pw->work;
	if (net->cvq) {
		net->cvq_work.ops = &cvq_work_ops;
		net->cvq_work.ctx = net;
		if (ifcvf_work_attach(&net->cvq_work) < 0) {
			uvdpa_errf(err, errlen, "cannot start the engine pool");
			net_port_close(net);
			net_free(net);
			m->type_priv = NULL;
			return -ENOMEM;
		}
		net->cvq->work = &net->cvq_work;
	}
	return 0;
}

static void net_destroy(struct ifcvf_model *m)
{
	struct ifcvf_net *net = m->type_priv;

	if (!net)
		return;
	net_port_close(net);
	if (net->cvq)
		ifcvf_work_detach(&net->cvq_work);
	net_free(net);
	m->type_priv = NULL;
}

static void net_config_read(struct ifcvf_model *m, uint32_t off, void *buf, uint32_t len)
{
	struct ifcvf_net *net = m->type_priv;
	uint8_t img[NET_CONFIG_SIZE] = { 0 };
	uint16_t v;
	uint32_t speed = htole32(0xffffffffu);	/* SPEED_UNKNOWN */

	pthread_mutex_lock(&net->cfg_lock);
	memcpy(img + offsetof(struct virtio_net_config, mac), net->mac, 6);
	v = htole16(net->status);
	memcpy(img + offsetof(struct virtio_net_config, status), &v, 2);
	pthread_mutex_unlock(&net->cfg_lock);
	v = htole16(net->max_vqp);
	memcpy(img + offsetof(struct virtio_net_config, max_virtqueue_pairs), &v, 2);
	v = htole16(net->mtu);
	memcpy(img + offsetof(struct virtio_net_config, mtu), &v, 2);
	memcpy(img + offsetof(struct virtio_net_config, speed), &speed, 4);
	img[offsetof(struct virtio_net_config, duplex)] = 0xff;	/* DUPLEX_UNKNOWN */
	memcpy(buf, img + off, len);
}

static void net_config_write(struct ifcvf_model *m, uint32_t off, const void *buf, uint32_t len)
{
	struct ifcvf_net *net = m->type_priv;
	uint32_t end = off + len > 6 ? 6 : off + len;

	/* Only a legacy driver (no VERSION_1) may write the MAC; the rest of
	 * the net config is read-only. */
	if (ifcvf_has_feature(m->driver_features, VIRTIO_F_VERSION_1) || off >= 6)
		return;
	pthread_mutex_lock(&net->cfg_lock);
	memcpy(net->mac + off, buf, end - off);
	__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&net->cfg_lock);
	ifcvf_model_config_changed(m, false);
}

static void net_queue_start(struct ifcvf_vq *q)
{
	struct ifcvf_model *m = q->model;
	struct ifcvf_net *net = m->type_priv;
	struct net_qpair *p = q->type_priv;

	if (is_cvq(net, q)) {
		net->cvq_features = m->driver_features;
		return;
	}
	p->features = m->driver_features;
	p->hdr_len = (uint32_t)virtio_net_hdr_len(p->features);
	p->mrg_rxbuf = ifcvf_has_feature(p->features, VIRTIO_NET_F_MRG_RXBUF);
	p->ctrl_rx = ifcvf_has_feature(p->features, VIRTIO_NET_F_CTRL_RX);
	p->filter_gen = 0;	/* refresh the filter copy on first use */
	if (q == p->rxq) {
		fifo_clear(&p->fifo);
		p->rx_commit = 0;
	}
}

static void net_queue_stop(struct ifcvf_vq *q)
{
	struct ifcvf_net *net = q->model->type_priv;
	struct net_qpair *p = q->type_priv;

	if (is_cvq(net, q) || q != p->rxq)
		return;
	/* Chains taken for a frame that never completed stay fetched: the
	 * ring state says so (avail ahead of used), as the hardware's does,
	 * and the driver resumes the queue at its used index. */
	if (p->fifo.len)
		ifcvf_counter_add(&p->rx.drops, 1);
	fifo_clear(&p->fifo);
}

static void net_reset(struct ifcvf_model *m)
{
	struct ifcvf_net *net = m->type_priv;

	pthread_mutex_lock(&net->cfg_lock);
	memcpy(net->mac, net->cfg_mac, 6);
	net->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
	rx_filter_default(&net->rxf);
	net->active_pairs = 1;
	__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&net->cfg_lock);
}

static void put_stat(struct uvdpa_vq_stats *st, enum uvdpa_vq_stat k, const uint64_t *counter)
{
	st->value[k] = ifcvf_counter_read(counter);
	st->valid |= 1ull << k;
}

static void net_get_stats(struct ifcvf_model *m, uint16_t q, struct uvdpa_vq_stats *st)
{
	struct ifcvf_net *net = m->type_priv;
	struct net_qpair *p;

	if (net->cvq && q == net->cvq->index) {
		put_stat(st, UVDPA_VQ_STAT_REQUESTS, &net->cvq_requests);
		put_stat(st, UVDPA_VQ_STAT_SUCCESSES, &net->cvq_successes);
		put_stat(st, UVDPA_VQ_STAT_ERRORS, &net->cvq_errors);
		return;
	}
	p = &net->pairs[q / 2];
	if (q % 2 == 0) {
		put_stat(st, UVDPA_VQ_STAT_PACKETS, &p->rx.packets);
		put_stat(st, UVDPA_VQ_STAT_BYTES, &p->rx.bytes);
		put_stat(st, UVDPA_VQ_STAT_ERRORS, &p->rx.errors);
		put_stat(st, UVDPA_VQ_STAT_OVERRUNS, &p->rx.overruns);
		put_stat(st, UVDPA_VQ_STAT_DROPS, &p->rx.drops);
	} else {
		put_stat(st, UVDPA_VQ_STAT_PACKETS, &p->tx.packets);
		put_stat(st, UVDPA_VQ_STAT_BYTES, &p->tx.bytes);
		put_stat(st, UVDPA_VQ_STAT_ERRORS, &p->tx.errors);
		put_stat(st, UVDPA_VQ_STAT_DROPS, &p->tx.drops);
	}
}

static void net_reset_stats(struct ifcvf_model *m, uint16_t q)
{
	struct ifcvf_net *net = m->type_priv;
	struct ifcvf_vq *vq = &m->vqs[q];

	ifcvf_work_lock(vq->work);
	if (net->cvq && q == net->cvq->index) {
		net->cvq_requests = net->cvq_successes = net->cvq_errors = 0;
	} else {
		struct net_qpair *p = vq->type_priv;

		memset(q % 2 ? &p->tx : &p->rx, 0, sizeof(struct net_counters));
	}
	ifcvf_work_unlock(vq->work);
}

static void net_get_info(struct ifcvf_model *m, struct ifcvf_model_info *info)
{
	struct ifcvf_net *net = m->type_priv;

	info->link_up = __atomic_load_n(&net->link_up, __ATOMIC_RELAXED);
	snprintf(info->port, sizeof(info->port), "%s", net->port_spec);
}

/* A RARP request announcing mac (RFC 903; what QEMU sends for a migrated
 * guest): broadcast, sender and target hardware address mac, protocol
 * addresses 0, padded to the 60-byte minimum. */
static int net_announce(struct ifcvf_model *m, const uint8_t mac[6])
{
	static const uint8_t arp_hdr[8] = { 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03 };
	uint8_t f[60] = { 0 };

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x80;			/* ethertype 0x8035: RARP */
	f[13] = 0x35;
	memcpy(f + 14, arp_hdr, sizeof(arp_hdr));	/* ethernet/IPv4, reverse request */
	memcpy(f + 22, mac, 6);		/* sender hardware address */
	memcpy(f + 32, mac, 6);		/* target hardware address */
	return net_port_inject(m->type_priv, f, sizeof(f));
}

const struct ifcvf_dev_type ifcvf_net_type = {
	.name = "net",
	.type = UVDPA_TYPE_NET,
	.device_id = IFCVF_NET_MODERN_DEVICE_ID,
	.subsys_id = IFCVF_NET_SUBSYS_MODERN,
	.transitional_device_id = IFCVF_NET_TRANSITIONAL_DEVICE_ID,
	.transitional_subsys_id = IFCVF_NET_SUBSYS_TRANSITIONAL,
	.class_code = NET_CLASS_CODE,
	.config_size = NET_CONFIG_SIZE,
	.max_queue_size = NET_MAX_QUEUE_SIZE,
	.supported_features = NET_SUPPORTED_FEATURES,
	.default_features = net_default_features,
	.offload_features = NET_OFFLOAD_FEATURES,
	.ring_state_off = ifcvf_ring_state_off_net,
	.num_vrings = net_num_vrings,
	.create = net_create,
	.destroy = net_destroy,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.queue_start = net_queue_start,
	.queue_stop = net_queue_stop,
	.reset = net_reset,
	.get_stats = net_get_stats,
	.reset_stats = net_reset_stats,
	.get_info = net_get_info,
	.announce = net_announce,
};

/* ---- Run-time API ---- */

/* Applies change() to the net config of pdev's model; raises the config
 * interrupt when it reports a change. */
static int net_config_update(struct uvdpa_pci_dev *pdev,
			     int (*change)(struct ifcvf_net *net, const void *arg), const void *arg)
{
	struct ifcvf_model *m = ifcvf_model_get(pdev);
	struct ifcvf_net *net;
	int rc;

	if (!m)
		return -ENODEV;
	net = net_of(m);
	if (!net) {
		ifcvf_model_put(m);
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&net->cfg_lock);
	rc = change(net, arg);
	if (rc > 0)
		__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&net->cfg_lock);
	if (rc > 0)
		ifcvf_model_config_changed(m, true);
	ifcvf_model_put(m);
	return rc < 0 ? rc : 0;
}

static int change_link(struct ifcvf_net *net, const void *arg)
{
	bool up = *(const bool *)arg;
	uint16_t old = net->status;

	if (up)
		net->status |= VIRTIO_NET_S_LINK_UP;
	else
		net->status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	__atomic_store_n(&net->link_up, up, __ATOMIC_RELAXED);
	return net->status != old;
}

static int change_mac(struct ifcvf_net *net, const void *arg)
{
	const uint8_t *mac = arg;
	bool changed = memcmp(net->mac, mac, 6) != 0;

	memcpy(net->mac, mac, 6);
	memcpy(net->cfg_mac, mac, 6);
	return changed;
}

static int change_announce(struct ifcvf_net *net, const void *arg)
{
	net->status |= VIRTIO_NET_S_ANNOUNCE;
	return 1;
}

int ifcvf_model_set_link(struct uvdpa_pci_dev *pdev, bool up)
{
	return net_config_update(pdev, change_link, &up);
}

int ifcvf_model_set_mac(struct uvdpa_pci_dev *pdev, const uint8_t mac[6])
{
	return net_config_update(pdev, change_mac, mac);
}

int ifcvf_model_announce(struct uvdpa_pci_dev *pdev)
{
	struct ifcvf_model *m = ifcvf_model_get(pdev);
	bool negotiated;

	if (!m)
		return -ENODEV;
	pthread_mutex_lock(&m->lock);
	negotiated = (m->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		     ifcvf_has_feature(m->driver_features, VIRTIO_NET_F_GUEST_ANNOUNCE);
	pthread_mutex_unlock(&m->lock);
	ifcvf_model_put(m);
	if (!negotiated)
		return -EOPNOTSUPP;
	return net_config_update(pdev, change_announce, NULL);
}
