/* The tap bus driver (uvdpa's virtio-vdpa): binding a net device makes the
 * host kernel use it as a network interface. uvdpa itself is the device's
 * virtio driver here: it negotiates features, keeps the driver side of the
 * device's queue pairs in daemon memory that the device reaches through its
 * IOMMU like guest memory, and bridges frames to a TAP interface it creates
 * with the device's name and MAC, MTU and link state.
 *
 * It implements the session interface like the vhost-user bus driver does,
 * so the device's driver cannot tell the two apart: dev_conf gets a session
 * whose one memory region is the daemon's buffer area (IOVA TAP_IOVA) and
 * whose rings are ready with eventfds for kicks and interrupts.
 *
 * Queue pairs: with MQ offered, as many pairs as the device has, up to the
 * CPUs online and TAP_MAX_PAIRS; the TAP is then multi-queue
 * (IFF_MULTI_QUEUE, one fd per pair) and, when the device has a control
 * queue, it is told the number with VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (one
 * without a control queue runs every ring that is ready, as vhost-user
 * devices do). Otherwise one pair.
 *
 * Threads: none of its own. Per queue pair, three relay-pool watches run
 * the datapath:
 *   - the RX interrupt eventfd: used RX buffers go to the pair's TAP fd
 *     (writev, the virtio-net header first, which the TAP takes as
 *     IFF_VNET_HDR), then the buffers are posted again;
 *   - the pair's TAP fd: frames the host sends on that queue are read
 *     straight into TX buffers and made available; used TX buffers are taken
 *     back here too, so the TX ring has a single thread. When the ring is
 *     full the watch pauses and asks for a TX interrupt;
 *   - the TX interrupt eventfd: resumes the TAP watch.
 * A config interrupt (link, MAC) is handled on the control loop, where
 * device ops may be called. The control queue is used once, at bind, on the
 * control thread.
 *
 * Offloads: what the device offers and the TAP can do is negotiated. Frames
 * the host sends may then need a checksum or segmentation (TUNSETOFFLOAD
 * from CSUM / HOST_TSO*), and frames the device receives may carry them
 * (GUEST_CSUM / GUEST_TSO*, only with MRG_RXBUF, whose chains can hold 64
 * KiB). Everything the device writes (used entries, lengths, headers) is
 * untrusted: the driver-side virtqueue checks used entries, lengths are
 * bounded by our buffers, and the TAP checks headers. */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "core/log.h"
#include "core/relay.h"
#include "core/tap.h"
#include "core/util.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/events.h"
#include "uvdpa/vdpa.h"
#include "virtio/virtio_net_hdr.h"
#include "virtio/virtq_driver.h"

#define TAG "tap"

#define BIT(n) (1ull << (n))

#define TAP_IOVA 0x40000000ull		/* where the device sees our memory */
#define TAP_QUEUE_SIZE 256u		/* per ring, when the device takes it */
#define TAP_MAX_PAIRS 16u
#define TAP_RX_MRG_BUF 2048u		/* RX buffer with MRG_RXBUF */
#define TAP_GSO_MAX 65536u		/* largest frame with segmentation offload */
#define TAP_ETH_OVERHEAD 18u		/* Ethernet header + one VLAN tag */
#define TAP_BATCH 64u			/* frames per callback round */
#define TAP_DEFAULT_MTU 1500u
#define TAP_CVQ_BUF 64u			/* control queue: one command at a time */
#define TAP_CVQ_TIMEOUT_MS 2000u

/* What uvdpa asks of a device: the frame offloads a TAP can take on both
 * sides, the ring and config features it uses, and multiqueue (which needs
 * the control queue). The MAC comes from the config space. */
#define TAP_WANTED_FEATURES                                                              \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) | BIT(VIRTIO_NET_F_MAC) | \
	 BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MRG_RXBUF) |  \
	 BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_NET_F_CSUM) |                           \
	 BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |                      \
	 BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) |                        \
	 BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |                     \
	 BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ))
#define TAP_HOST_TSO (BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6))
#define TAP_GUEST_GSO \
	(BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN))
#define TAP_MQ (BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ))

struct tap_queue {
	struct virtq_driver vq;
	struct virtq_drv_rings rings;
	uint8_t *bufs;			/* buffer of descriptor id at bufs + id * buf_size */
	uint64_t bufs_iova;
	uint32_t buf_size;
	int kickfd, callfd;
	struct relay_watch *call_watch;
	uint16_t stop_avail, stop_used;	/* where the device stopped (vring_set_base) */
};

struct tap_bus;

/* Queue pair i: vrings 2i (RX) and 2i+1 (TX), and the TAP's queue i. */
struct tap_pair {
	struct tap_bus *t;
	unsigned int index;
	int tapfd;
	struct tap_queue rx, tx;
	/* Set once bind added it (tap_pause reads it on relay threads). */
	struct relay_watch *tap_watch;
	/* An RX frame spread over several buffers (MRG_RXBUF), being
	 * gathered: the RX callback's only. */
	struct iovec rx_iov[TAP_QUEUE_SIZE];
	uint16_t rx_heads[TAP_QUEUE_SIZE];
	unsigned int rx_have, rx_want;
	/* Buffers still to come of a frame that was dropped halfway: they
	 * are returned unread, not taken for the start of the next frame. */
	unsigned int rx_skip;
	bool rx_broken_logged, tx_broken_logged;
	/* The TAP fd failed (the interface was deleted, or its network
	 * namespace): its watch stays paused. Set by the TAP's callback, read
	 * by the TX interrupt's. */
	bool tap_gone;
};

struct tap_bus {
	struct uvdpa_session sess;
	struct uvdpa_device *dev;
	char ifname[IFNAMSIZ];
	uint64_t features;
	uint32_t hdr_len;
	uint16_t qsize;
	uint16_t mtu;
	unsigned int npairs;		/* queue pairs in use */
	unsigned int max_pairs;		/* the device's (max_virtqueue_pairs) */
	bool has_cvq;			/* vring 2 * max_pairs */

	void *mem;
	uint64_t mem_size;
	int memfd;
	struct tap_pair *pairs;
	struct tap_queue cvq;

	int config_efd;
	struct uvdpa_watch *config_watch;
	bool conf;			/* dev_conf succeeded: dev_close owed */

	/* Counters (relaxed atomics: the pairs' relay threads add). */
	atomic_uint_fast64_t rx_frames, rx_dropped, tx_frames, tx_dropped;
};

static struct tap_bus *to_tap(struct uvdpa_session *s)
{
	return (struct tap_bus *)((char *)s - offsetof(struct tap_bus, sess));
}

static bool has(const struct tap_bus *t, unsigned int bit)
{
	return t->features & BIT(bit);
}

static void count(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* The session's vrings: the pairs in use, then (with a control queue) the
 * pairs left unused and the control queue, which is vring 2 * max_pairs
 * whatever the number of pairs in use. */
static unsigned int nvrings(const struct tap_bus *t)
{
	return t->has_cvq ? 2 * t->max_pairs + 1 : 2 * t->npairs;
}

/* Vring idx: RX / TX of a pair in use, or the control queue; NULL for an
 * unused pair's and past the end. */
static struct tap_queue *vring_of(struct tap_bus *t, unsigned int idx)
{
	if (idx < 2 * t->npairs)
		return idx & 1 ? &t->pairs[idx / 2].tx : &t->pairs[idx / 2].rx;
	if (idx == 2 * t->max_pairs && t->has_cvq)
		return &t->cvq;
	return NULL;
}

/* The first TAP fd: the interface-wide ioctls go through it. */
static int tap_fd(const struct tap_bus *t)
{
	return t->pairs[0].tapfd;
}

/* Our own eventfds: a write can only fail when one was closed under us. */
static void efd_signal(int fd)
{
	int ret = uvdpa_efd_signal(fd);

	if (ret < 0)
		LOG_WARN(TAG, "eventfd write: %s", strerror(-ret));
}

/* ---- The session ---- */

static unsigned int sess_mem_table(struct uvdpa_session *s, struct uvdpa_mem_region *out,
				   unsigned int max)
{
	struct tap_bus *t = to_tap(s);

	if (max >= 1)
		out[0] = (struct uvdpa_mem_region){ .gpa = TAP_IOVA, .size = t->mem_size,
						    .host = t->mem, .fd = t->memfd };
	return 1;
}

static void *sess_gpa_to_hva(struct uvdpa_session *s, uint64_t gpa, uint64_t *len)
{
	struct tap_bus *t = to_tap(s);
	uint64_t off;

	if (gpa < TAP_IOVA || gpa - TAP_IOVA >= t->mem_size)
		return NULL;
	off = gpa - TAP_IOVA;
	if (*len > t->mem_size - off)
		*len = t->mem_size - off;
	return (uint8_t *)t->mem + off;
}

static uint64_t sess_features(struct uvdpa_session *s)
{
	return to_tap(s)->features;
}

static uint16_t sess_vring_count(struct uvdpa_session *s)
{
	return (uint16_t)nvrings(to_tap(s));
}

static int sess_vring_get(struct uvdpa_session *s, uint16_t idx, struct uvdpa_vring *r)
{
	struct tap_bus *t = to_tap(s);
	struct tap_queue *q = vring_of(t, idx);

	if (idx >= nvrings(t))
		return -EINVAL;
	if (!q) {
		/* A pair left unused: not set up. */
		*r = (struct uvdpa_vring){ .kickfd = -1, .callfd = -1 };
		return 0;
	}
	*r = (struct uvdpa_vring){
		.size = t->qsize,
		.desc_gpa = q->rings.desc_addr,
		.avail_gpa = q->rings.avail_addr,
		.used_gpa = q->rings.used_addr,
		.desc = q->rings.desc,
		.avail = q->rings.avail,
		.used = q->rings.used,
		.kickfd = q->kickfd,
		.callfd = q->callfd,
		.ready = true,
	};
	return 0;
}

static int sess_vring_set_base(struct uvdpa_session *s, uint16_t idx, uint16_t last_avail,
			       uint16_t last_used)
{
	struct tap_queue *q = vring_of(to_tap(s), idx);

	if (!q)
		return -EINVAL;
	q->stop_avail = last_avail;
	q->stop_used = last_used;
	return 0;
}

static int sess_log_get(struct uvdpa_session *s, struct uvdpa_dirty_log *log)
{
	(void)s;
	(void)log;
	return -ENOENT;	/* daemon memory does not migrate */
}

static void sess_log_write(struct uvdpa_session *s, uint64_t gpa, uint64_t len)
{
	(void)s;
	(void)gpa;
	(void)len;
}

static void sess_log_used_ring(struct uvdpa_session *s, uint16_t idx, uint64_t off, uint64_t len)
{
	(void)s;
	(void)idx;
	(void)off;
	(void)len;
}

static int sess_vring_call(struct uvdpa_session *s, uint16_t idx)
{
	struct tap_queue *q = vring_of(to_tap(s), idx);

	if (!q)
		return -EINVAL;
	efd_signal(q->callfd);
	return 0;
}

static int sess_config_change(struct uvdpa_session *s)
{
	efd_signal(to_tap(s)->config_efd);
	return 0;
}

static const struct uvdpa_session_ops tap_session_ops = {
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
	/* No host notifiers: kicks go through kickfd, the device's driver
	 * relays them. No inflight region: nothing survives the daemon. */
};

/* ---- RX: device -> TAP ---- */

static uint8_t *buf_of(const struct tap_queue *q, uint16_t id)
{
	return q->bufs + (size_t)id * q->buf_size;
}

static uint64_t buf_iova(const struct tap_queue *q, uint16_t id)
{
	return q->bufs_iova + (uint64_t)id * q->buf_size;
}

static void rx_post(struct tap_queue *q)
{
	uint16_t id;

	while (q->vq.num_free && virtq_drv_desc_take(&q->vq, 1, &id) == 0) {
		virtq_drv_desc_set(&q->vq, id, buf_iova(q, id), q->buf_size, true);
		virtq_drv_push(&q->vq, id);
	}
	if (virtq_drv_publish(&q->vq))
		efd_signal(q->kickfd);
}

static void rx_release_gathered(struct tap_pair *p)
{
	for (unsigned int i = 0; i < p->rx_have; i++)
		virtq_drv_chain_release(&p->rx.vq, p->rx_heads[i]);
	p->rx_have = 0;
	p->rx_want = 0;
}

static void rx_frame_done(struct tap_pair *p)
{
	struct tap_bus *t = p->t;
	ssize_t n = writev(p->tapfd, p->rx_iov, (int)p->rx_have);

	if (n < 0) {
		/* EINVAL: a header the TAP refused; EIO/EAGAIN: the interface
		 * is down or busy. The frame is dropped either way. */
		LOG_DEBUG(TAG, "%s: frame to %s dropped: %s", t->dev->name, t->ifname,
			  strerror(errno));
		count(&t->rx_dropped);
	} else {
		count(&t->rx_frames);
	}
	rx_release_gathered(p);
}

/* How many buffers the frame starting in buffer head spans: num_buffers of
 * its header with MRG_RXBUF, else 1. */
static uint16_t rx_frame_bufs(struct tap_pair *p, uint16_t head)
{
	const struct virtio_net_hdr_v1 *h = (const void *)buf_of(&p->rx, head);

	return has(p->t, VIRTIO_NET_F_MRG_RXBUF) ? le16toh(h->num_buffers) : 1;
}

/* A used RX buffer whose length is not believed (longer than the buffer):
 * the frame it belongs to is dropped whole. Mid-frame, the buffers gathered
 * so far go back and the ones still to come of that frame are skipped; as
 * a frame's first, its header still says how many follow (nothing else of
 * it is read). */
static void rx_bad_buffer(struct tap_pair *p, uint16_t head)
{
	struct tap_bus *t = p->t;
	uint16_t nb;

	count(&t->rx_dropped);
	if (p->rx_skip) {
		p->rx_skip--;
	} else if (p->rx_have) {
		p->rx_skip = p->rx_want - p->rx_have - 1;
		rx_release_gathered(p);
	} else {
		nb = rx_frame_bufs(p, head);
		p->rx_skip = nb >= 1 && nb <= t->qsize ? nb - 1u : 0;
	}
	virtq_drv_chain_release(&p->rx.vq, head);
}

/* One used RX buffer: the first of a frame carries the header, whose
 * num_buffers (MRG_RXBUF) says how many buffers the frame spans. */
static void rx_take(struct tap_pair *p, uint16_t head, uint32_t len)
{
	struct tap_bus *t = p->t;

	if (p->rx_skip) {
		/* The rest of a frame dropped halfway (counted then). */
		p->rx_skip--;
		virtq_drv_chain_release(&p->rx.vq, head);
		return;
	}
	if (p->rx_have == 0) {
		uint16_t nb = rx_frame_bufs(p, head);

		if (len < t->hdr_len || nb == 0 || nb > t->qsize) {
			count(&t->rx_dropped);
			virtq_drv_chain_release(&p->rx.vq, head);
			return;
		}
		p->rx_want = nb;
	}
	p->rx_heads[p->rx_have] = head;
	p->rx_iov[p->rx_have] = (struct iovec){ .iov_base = buf_of(&p->rx, head), .iov_len = len };
	p->rx_have++;
	if (p->rx_have == p->rx_want)
		rx_frame_done(p);
}

static void rx_cb(int fd, void *opaque)
{
	struct tap_pair *p = opaque;
	struct tap_queue *q = &p->rx;

	uvdpa_efd_drain(fd);
	for (;;) {
		unsigned int n = 0;
		uint16_t head;
		uint32_t len;
		int r;

		while (n < TAP_BATCH && (r = virtq_drv_pop(&q->vq, &head, &len)) != 0) {
			if (r < 0 && r != -EMSGSIZE) {
				if (!p->rx_broken_logged)
					LOG_ERR(TAG, "%s: the device returned an impossible used "
						"entry on RX vring %u: the interface receives nothing "
						"more there until the device is bound again",
						p->t->dev->name, 2 * p->index);
				p->rx_broken_logged = true;
				return;
			}
			if (r == -EMSGSIZE) {	/* longer than the buffer: not believed */
				rx_bad_buffer(p, head);
			} else {
				rx_take(p, head, len);
			}
			n++;
		}
		/* Buffers still gathered for a frame stay out of the ring; the
		 * device completes the rest of that frame from what it holds. */
		rx_post(q);
		if (n == TAP_BATCH) {
			/* More to do: come back after the relay thread's other
			 * watches had their turn. */
			efd_signal(fd);
			return;
		}
		if (!virtq_drv_enable_interrupts(&q->vq))
			break;
	}
}

/* ---- TX: TAP -> device ---- */

static void tx_reclaim(struct tap_pair *p)
{
	struct tap_queue *q = &p->tx;
	uint16_t head;
	uint32_t len;
	int r;

	while ((r = virtq_drv_pop(&q->vq, &head, &len)) != 0) {
		if (r < 0 && r != -EMSGSIZE) {
			if (!p->tx_broken_logged)
				LOG_ERR(TAG, "%s: the device returned an impossible used entry on "
					"TX vring %u: the interface sends nothing more there until "
					"the device is bound again", p->t->dev->name, 2 * p->index + 1);
			p->tx_broken_logged = true;
			return;
		}
		virtq_drv_chain_release(&q->vq, head);	/* TX ignores len */
	}
}

/* Pauses or resumes the TAP's watch. false while bind has not stored it
 * yet: the TAP's callback may run before relay_watch_add returned, and it is
 * then called again until it can pause. */
static bool tap_pause(struct tap_pair *p, bool paused)
{
	struct relay_watch *w = __atomic_load_n(&p->tap_watch, __ATOMIC_ACQUIRE);

	if (!w)
		return false;
	relay_watch_pause(w, paused);
	return true;
}

static void tap_cb(int fd, void *opaque)
{
	struct tap_pair *p = opaque;
	struct tap_bus *t = p->t;
	struct tap_queue *q = &p->tx;
	unsigned int n = 0;

	tx_reclaim(p);
	if (virtq_drv_is_broken(&q->vq)) {
		tap_pause(p, true);
		return;
	}
	/* Interrupts are asked for only while the ring is full (below); the
	 * one that resumed this watch has done its job. Without EVENT_IDX
	 * they would otherwise stay on, one per completed frame. */
	if (q->vq.interrupts)
		virtq_drv_disable_interrupts(&q->vq);
	while (n < TAP_BATCH && q->vq.num_free) {
		uint8_t overflow;
		uint16_t id;
		ssize_t len;
		struct iovec iov[2];

		if (virtq_drv_desc_take(&q->vq, 1, &id) < 0)
			break;
		iov[0] = (struct iovec){ .iov_base = buf_of(q, id), .iov_len = q->buf_size };
		iov[1] = (struct iovec){ .iov_base = &overflow, .iov_len = 1 };
		len = readv(fd, iov, 2);
		if (len <= 0) {
			virtq_drv_chain_release(&q->vq, id);
			if (len < 0 && errno != EAGAIN && errno != EINTR) {
				/* EBADFD: the interface was deleted under us
				 * (ip link del, or its namespace went away). The
				 * fd stays readable (EPOLLERR): stop watching it,
				 * or this thread spins. */
				LOG_WARN(TAG, "%s: read from %s: %s: the interface sends nothing "
					 "more to the device until it is bound again",
					 t->dev->name, t->ifname, strerror(errno));
				__atomic_store_n(&p->tap_gone, true, __ATOMIC_RELEASE);
				tap_pause(p, true);
				return;
			}
			break;
		}
		if ((size_t)len > q->buf_size || (size_t)len <= t->hdr_len) {
			/* Bigger than the device's MTU allows (the interface's MTU
			 * was raised past it), or no frame at all. */
			count(&t->tx_dropped);
			virtq_drv_chain_release(&q->vq, id);
			continue;
		}
		virtq_drv_desc_set(&q->vq, id, buf_iova(q, id), (uint32_t)len, false);
		virtq_drv_push(&q->vq, id);
		count(&t->tx_frames);
		n++;
	}
	if (n && virtq_drv_publish(&q->vq))
		efd_signal(q->kickfd);
	if (q->vq.num_free)
		return;
	/* Ring full: stop reading the TAP (its queue holds the frames, so the
	 * host's stack sees back-pressure instead of loss) until the device
	 * completes something. Paused before interrupts are enabled, so a
	 * completion after the check resumes a paused watch. */
	if (!tap_pause(p, true))
		return;
	if (virtq_drv_enable_interrupts(&q->vq)) {
		virtq_drv_disable_interrupts(&q->vq);
		tap_pause(p, false);
	}
}

static void tx_call_cb(int fd, void *opaque)
{
	struct tap_pair *p = opaque;

	uvdpa_efd_drain(fd);
	if (!__atomic_load_n(&p->tap_gone, __ATOMIC_ACQUIRE))
		tap_pause(p, false);
}

/* ---- Config: link state and MAC ---- */

static int read_config(struct tap_bus *t, uint32_t off, void *buf, uint32_t len)
{
	if (!t->dev->ops->get_config)
		return -ENOTSUP;
	return t->dev->ops->get_config(t->dev, buf, off, len);
}

static int read_config16(struct tap_bus *t, uint32_t off, uint16_t *v)
{
	uint8_t b[2];
	int ret = read_config(t, off, b, 2);

	if (ret == 0)
		*v = (uint16_t)(b[0] | b[1] << 8);
	return ret;
}

static void apply_link(struct tap_bus *t)
{
	uint16_t status = VIRTIO_NET_S_LINK_UP;
	int ret;

	if (has(t, VIRTIO_NET_F_STATUS) &&
	    read_config16(t, offsetof(struct virtio_net_config, status), &status) < 0)
		return;
	ret = uvdpa_tap_set_carrier(tap_fd(t), status & VIRTIO_NET_S_LINK_UP);
	if (ret < 0)
		LOG_WARN(TAG, "%s: cannot set the carrier of %s: %s", t->dev->name, t->ifname,
			 strerror(-ret));
}

static void apply_mac(struct tap_bus *t)
{
	uint8_t mac[6];
	int ret;

	if (!has(t, VIRTIO_NET_F_MAC) ||
	    read_config(t, offsetof(struct virtio_net_config, mac), mac, 6) < 0)
		return;
	ret = uvdpa_tap_set_mac(tap_fd(t), mac);
	if (ret < 0)
		LOG_WARN(TAG, "%s: cannot set the MAC address of %s: %s", t->dev->name, t->ifname,
			 strerror(-ret));
}

static void config_cb(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct tap_bus *t = opaque;

	(void)w;
	(void)events;
	uvdpa_efd_drain(fd);
	apply_mac(t);
	apply_link(t);
}

/* ---- The control queue ---- */

/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET npairs, on the control thread: the
 * command, then a wait of at most TAP_CVQ_TIMEOUT_MS for the device's ack. */
static int cvq_set_pairs(struct tap_bus *t, char *err, size_t errlen)
{
	struct tap_queue *q = &t->cvq;
	uint8_t *b = buf_of(q, 0);
	struct virtq_drv_buf bufs[3] = {
		{ .addr = buf_iova(q, 0), .len = 2 },
		{ .addr = buf_iova(q, 0) + 2, .len = 2 },
		{ .addr = buf_iova(q, 0) + 32, .len = 1, .device_writes = true },
	};
	uint64_t deadline = uvdpa_now_ns() + TAP_CVQ_TIMEOUT_MS * 1000000ull;
	struct timespec nap = { .tv_nsec = 200000 };
	uint16_t head, got;
	uint32_t len;
	int r;

	b[0] = VIRTIO_NET_CTRL_MQ;
	b[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
	b[2] = (uint8_t)t->npairs;
	b[3] = (uint8_t)(t->npairs >> 8);
	b[32] = 0xff;
	r = virtq_drv_add_chain(&q->vq, bufs, 3, &head);
	if (r < 0) {
		uvdpa_errf(err, errlen, "control queue: %s", strerror(-r));
		return r;
	}
	virtq_drv_publish(&q->vq);
	efd_signal(q->kickfd);
	while ((r = virtq_drv_pop(&q->vq, &got, &len)) == 0 && uvdpa_now_ns() < deadline)
		nanosleep(&nap, NULL);
	if (r == 0) {
		uvdpa_errf(err, errlen, "device %s did not answer the control queue's "
			   "VQ_PAIRS_SET %u within %u ms", t->dev->name, t->npairs,
			   TAP_CVQ_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	if (r < 0 && r != -EMSGSIZE) {
		uvdpa_errf(err, errlen, "device %s returned an impossible control queue entry",
			   t->dev->name);
		return -EIO;
	}
	virtq_drv_chain_release(&q->vq, got);
	if (b[32] != VIRTIO_NET_OK) {
		uvdpa_errf(err, errlen, "device %s refused VQ_PAIRS_SET %u (ack %u)", t->dev->name,
			   t->npairs, b[32]);
		return -EIO;
	}
	return 0;
}

/* ---- Bind / unbind ---- */

static uint32_t round_up(uint32_t v, uint32_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t negotiate(uint64_t dev_features)
{
	uint64_t f = dev_features & TAP_WANTED_FEATURES;

	if (!(f & BIT(VIRTIO_NET_F_CSUM)))
		f &= ~(TAP_HOST_TSO | BIT(VIRTIO_NET_F_HOST_ECN));
	if (!(f & TAP_HOST_TSO))
		f &= ~BIT(VIRTIO_NET_F_HOST_ECN);
	/* 64 KiB frames into 2 KiB buffers need MRG_RXBUF. */
	if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM)) || !(f & BIT(VIRTIO_NET_F_MRG_RXBUF)))
		f &= ~TAP_GUEST_GSO;
	if (!(f & (BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6))))
		f &= ~BIT(VIRTIO_NET_F_GUEST_ECN);
	/* The control queue only for multiqueue. A device may offer MQ
	 * without it, as vhost-user devices do (there the frontend keeps the
	 * control queue): then every ring that is ready runs. */
	if (!(f & BIT(VIRTIO_NET_F_MQ)))
		f &= ~BIT(VIRTIO_NET_F_CTRL_VQ);
	return f;
}

static unsigned int tun_offloads(uint64_t f)
{
	unsigned int o = 0;

	if (f & BIT(VIRTIO_NET_F_CSUM))
		o |= TUN_F_CSUM;
	if (f & BIT(VIRTIO_NET_F_HOST_TSO4))
		o |= TUN_F_TSO4;
	if (f & BIT(VIRTIO_NET_F_HOST_TSO6))
		o |= TUN_F_TSO6;
	if (f & BIT(VIRTIO_NET_F_HOST_ECN))
		o |= TUN_F_TSO_ECN;
	return o;
}

/* How many queue pairs: the device's, up to the CPUs online and
 * TAP_MAX_PAIRS; 1 without MQ (which then is not negotiated). */
static void choose_pairs(struct tap_bus *t)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint16_t max = 1;

	t->npairs = 1;
	if (has(t, VIRTIO_NET_F_MQ) &&
	    read_config16(t, offsetof(struct virtio_net_config, max_virtqueue_pairs), &max) == 0 &&
	    max >= 1) {
		t->npairs = max;
		if (cpus > 0 && t->npairs > (unsigned long)cpus)
			t->npairs = (unsigned int)cpus;
		if (t->npairs > TAP_MAX_PAIRS)
			t->npairs = TAP_MAX_PAIRS;
		if (t->npairs < 1)
			t->npairs = 1;
	}
	if (t->npairs == 1)
		t->features &= ~TAP_MQ;
	t->max_pairs = has(t, VIRTIO_NET_F_MQ) ? max : 1;
	t->has_cvq = has(t, VIRTIO_NET_F_CTRL_VQ);
}

/* One memfd: per vring its rings (4 KiB aligned) then its buffers. */
static int mem_setup(struct tap_bus *t, char *err, size_t errlen)
{
	uint64_t ring_bytes = round_up((uint32_t)virtq_drv_area_bytes(t->qsize,
								   VIRTQ_DRV_LEGACY_USED_ALIGN), 4096);
	uint32_t frame = TAP_ETH_OVERHEAD + t->mtu;
	uint32_t rx_buf = has(t, VIRTIO_NET_F_MRG_RXBUF) ? TAP_RX_MRG_BUF :
			  round_up(t->hdr_len + frame, 64);
	uint32_t tx_buf = round_up(t->hdr_len + ((t->features & TAP_HOST_TSO) ?
				   TAP_GSO_MAX + TAP_ETH_OVERHEAD : frame), 64);
	uint64_t off = 0;
	unsigned int i, n = nvrings(t);
	int ret;

	t->mem_size = 0;
	for (i = 0; i < n; i++) {
		struct tap_queue *q = vring_of(t, i);

		if (!q)
			continue;
		q->buf_size = q == &t->cvq ? TAP_CVQ_BUF : (i & 1) ? tx_buf : rx_buf;
		t->mem_size += ring_bytes + round_up(q->buf_size * t->qsize, 4096);
	}
	t->memfd = memfd_create("uvdpa-tap", MFD_CLOEXEC);
	if (t->memfd < 0 || ftruncate(t->memfd, (off_t)t->mem_size) < 0) {
		ret = -errno;
		uvdpa_errf(err, errlen, "cannot allocate %" PRIu64 " bytes for the rings: %s",
			   t->mem_size, strerror(errno));
		return ret;
	}
	t->mem = mmap(NULL, t->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
	if (t->mem == MAP_FAILED) {
		ret = -errno;
		t->mem = NULL;
		uvdpa_errf(err, errlen, "cannot map the rings: %s", strerror(errno));
		return ret;
	}
	for (i = 0; i < n; i++) {
		struct tap_queue *q = vring_of(t, i);

		if (!q)
			continue;
		ret = virtq_drv_rings_in_area(&q->rings, (uint8_t *)t->mem + off, TAP_IOVA + off,
					      t->qsize, VIRTQ_DRV_LEGACY_USED_ALIGN);
		if (ret == 0)
			ret = virtq_drv_init(&q->vq, t->qsize, &q->rings);
		if (ret < 0) {
			uvdpa_errf(err, errlen, "cannot set up vring %u: %s", i, strerror(-ret));
			return ret;
		}
		virtq_drv_reset(&q->vq, t->features);
		off += ring_bytes;
		q->bufs = (uint8_t *)t->mem + off;
		q->bufs_iova = TAP_IOVA + off;
		off += round_up(q->buf_size * t->qsize, 4096);
		q->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		q->callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->kickfd < 0 || q->callfd < 0) {
			ret = -errno;
			uvdpa_errf(err, errlen, "eventfd: %s", strerror(errno));
			return ret;
		}
	}
	return 0;
}

/* The TAP, one fd per queue pair, and what the interface takes from the
 * device: offloads, MAC, MTU, carrier. */
static int tap_setup(struct tap_bus *t, char *err, size_t errlen)
{
	unsigned int flags = UVDPA_TAP_VNET_HDR | (t->npairs > 1 ? UVDPA_TAP_MULTI_QUEUE : 0);
	int ret;

	for (unsigned int i = 0; i < t->npairs; i++) {
		ret = uvdpa_tap_open(t->ifname, strlen(t->ifname), flags, err, errlen);
		if (ret < 0)
			return ret;
		t->pairs[i].tapfd = ret;
	}
	ret = uvdpa_tap_set_offload(tap_fd(t), tun_offloads(t->features));
	if (ret < 0) {
		uvdpa_errf(err, errlen, "tap %s: cannot set offloads 0x%x: %s", t->ifname,
			   tun_offloads(t->features), strerror(-ret));
		return ret;
	}
	apply_mac(t);
	ret = uvdpa_tap_set_mtu(t->ifname, t->mtu);
	if (ret < 0)
		LOG_WARN(TAG, "%s: cannot set the MTU of %s to %u: %s", t->dev->name, t->ifname,
			 t->mtu, strerror(-ret));
	apply_link(t);
	return 0;
}

static void tap_free(struct tap_bus *t)
{
	unsigned int i;

	/* Datapath first: nothing touches the rings once the watches are gone.
	 * The TX interrupt's watch resumes the TAP's, so it goes first: the
	 * pool frees a deleted watch after its thread's current round, and
	 * a TX interrupt after that would resume freed memory. */
	for (i = 0; t->pairs && i < t->npairs; i++) {
		relay_watch_del(t->pairs[i].tx.call_watch);
		relay_watch_del(t->pairs[i].tap_watch);
		relay_watch_del(t->pairs[i].rx.call_watch);
	}
	if (t->config_watch)
		uvdpa_watch_del(t->config_watch);
	if (t->conf)
		t->dev->ops->dev_close(t->dev);
	for (i = 0; t->pairs && i < t->npairs; i++)
		if (t->pairs[i].tapfd >= 0)
			close(t->pairs[i].tapfd);
	for (i = 0; t->pairs && i < nvrings(t); i++) {
		struct tap_queue *q = vring_of(t, i);

		if (!q)
			continue;
		if (q->vq.size)
			virtq_drv_fini(&q->vq);
		if (q->kickfd >= 0)
			close(q->kickfd);
		if (q->callfd >= 0)
			close(q->callfd);
	}
	if (t->config_efd >= 0)
		close(t->config_efd);
	if (t->mem)
		munmap(t->mem, t->mem_size);
	if (t->memfd >= 0)
		close(t->memfd);
	free(t->pairs);
	free(t);
}

/* Checks that dev is a virtio 1.0 net device; its features in *features. */
static int check_device(struct uvdpa_device *dev, uint64_t *features, char *err, size_t errlen)
{
	const struct uvdpa_device_ops *ops = dev->ops;
	enum uvdpa_dev_type type = dev->type;

	if (ops->get_dev_type)
		ops->get_dev_type(dev, &type);
	if (type != UVDPA_TYPE_NET) {
		uvdpa_errf(err, errlen, "device %s is not a network device: only net devices can "
			   "be bound to a tap interface", dev->name);
		return -EOPNOTSUPP;
	}
	if (!ops->get_features || !ops->dev_conf || !ops->dev_close ||
	    ops->get_features(dev, features) < 0) {
		uvdpa_errf(err, errlen, "device %s does not tell its features", dev->name);
		return -EOPNOTSUPP;
	}
	if (!(*features & BIT(VIRTIO_F_VERSION_1))) {
		uvdpa_errf(err, errlen, "device %s is not a virtio 1.0 device: the tap bus driver "
			   "needs VERSION_1", dev->name);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int tap_bind(struct uvdpa_device *dev, const struct uvdpa_bind_args *args, char *err,
		    size_t errlen)
{
	const struct uvdpa_device_ops *ops = dev->ops;
	struct tap_bus *t;
	uint64_t dev_features = 0;
	uint16_t mtu;
	unsigned int i;
	int ret;

	if (!args->path || !uvdpa_ifname_valid(args->path, strlen(args->path))) {
		uvdpa_errf(err, errlen, "tap binding needs an interface name of 1..%d characters",
			   IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (!args->loop) {
		uvdpa_errf(err, errlen, "tap binding needs an event loop");
		return -EINVAL;
	}
	ret = check_device(dev, &dev_features, err, errlen);
	if (ret < 0)
		return ret;

	t = calloc(1, sizeof(*t));
	if (!t) {
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->sess.ops = &tap_session_ops;
	t->dev = dev;
	t->memfd = t->config_efd = -1;
	t->cvq.kickfd = t->cvq.callfd = -1;
	snprintf(t->ifname, sizeof(t->ifname), "%s", args->path);
	t->features = negotiate(dev_features);
	choose_pairs(t);
	t->pairs = calloc(t->npairs, sizeof(*t->pairs));
	if (!t->pairs) {
		free(t);
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < t->npairs; i++) {
		struct tap_pair *p = &t->pairs[i];

		p->t = t;
		p->index = i;
		p->tapfd = p->rx.kickfd = p->rx.callfd = p->tx.kickfd = p->tx.callfd = -1;
	}
	t->hdr_len = (uint32_t)virtio_net_hdr_len(t->features);
	t->qsize = TAP_QUEUE_SIZE;
	while (dev->max_vq_size && t->qsize > dev->max_vq_size)
		t->qsize /= 2;
	t->mtu = TAP_DEFAULT_MTU;
	if (has(t, VIRTIO_NET_F_MTU) &&
	    read_config16(t, offsetof(struct virtio_net_config, mtu), &mtu) == 0 && mtu >= 68)
		t->mtu = mtu;

	ret = mem_setup(t, err, errlen);
	if (ret < 0)
		goto fail;
	t->config_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->config_efd < 0)
		goto fail_errno;
	ret = tap_setup(t, err, errlen);
	if (ret < 0)
		goto fail;

	/* The device sees every RX buffer from the start. */
	for (i = 0; i < t->npairs; i++) {
		rx_post(&t->pairs[i].rx);
		virtq_drv_disable_interrupts(&t->pairs[i].tx.vq);
	}
	if (t->has_cvq)
		virtq_drv_disable_interrupts(&t->cvq.vq);
	if (ops->set_features) {
		ret = ops->set_features(dev, t->features);
		if (ret < 0) {
			uvdpa_errf(err, errlen, "device %s refused features 0x%" PRIx64 ": %s",
				   dev->name, t->features, strerror(-ret));
			goto fail;
		}
	}
	ret = ops->dev_conf(dev, &t->sess);
	if (ret < 0) {
		uvdpa_errf(err, errlen, "device %s did not start on the tap session: %s", dev->name,
			   strerror(-ret));
		goto fail;
	}
	t->conf = true;
	if (t->has_cvq) {
		ret = cvq_set_pairs(t, err, errlen);
		if (ret < 0)
			goto fail;
	}

	for (i = 0; i < t->npairs; i++) {
		struct tap_pair *p = &t->pairs[i];

		struct relay_watch *w;

		/* The TAP's watch before the TX interrupt's, which resumes
		 * it (tap_pause): a device may interrupt at any time. */
		w = relay_watch_add(p->tapfd, tap_cb, p);
		if (!w)
			goto fail_errno;
		__atomic_store_n(&p->tap_watch, w, __ATOMIC_RELEASE);
		p->tx.call_watch = relay_watch_add(p->tx.callfd, tx_call_cb, p);
		p->rx.call_watch = p->tx.call_watch ?
				   relay_watch_add(p->rx.callfd, rx_cb, p) : NULL;
		if (!p->rx.call_watch)
			goto fail_errno;
		/* Whatever the device completed before the watches existed. */
		efd_signal(p->rx.callfd);
	}
	t->config_watch = uvdpa_watch_add(args->loop, t->config_efd, EPOLLIN, config_cb, t);
	if (!t->config_watch)
		goto fail_errno;
	dev->bus_priv = t;
	uvdpa_event_emit(UVDPA_EVENT_CONNECT, dev->name, "bus tap path %s", t->ifname);
	uvdpa_event_emit(UVDPA_EVENT_DRIVER_OK, dev->name, "bus tap vrings %u features 0x%" PRIx64,
			 nvrings(t), t->features);
	LOG_INFO(TAG, "%s: bound to tap %s (features 0x%" PRIx64 ", %u queue pair(s) of %u "
		 "entries, mtu %u)", dev->name, t->ifname, t->features, t->npairs, t->qsize, t->mtu);
	return 0;

fail_errno:
	ret = -errno;
	uvdpa_errf(err, errlen, "cannot set up tap %s: %s", t->ifname, strerror(errno));
fail:
	tap_free(t);
	return ret;
}

static void tap_unbind(struct uvdpa_device *dev)
{
	struct tap_bus *t = dev->bus_priv;
	char ifname[IFNAMSIZ];

	if (!t)
		return;
	memcpy(ifname, t->ifname, sizeof(ifname));
	LOG_INFO(TAG, "%s: unbound from tap %s (rx %" PRIu64 " frames, %" PRIu64 " dropped; tx %"
		 PRIu64 ", %" PRIu64 " dropped)", dev->name, t->ifname,
		 (uint64_t)atomic_load(&t->rx_frames), (uint64_t)atomic_load(&t->rx_dropped),
		 (uint64_t)atomic_load(&t->tx_frames), (uint64_t)atomic_load(&t->tx_dropped));
	tap_free(t);
	dev->bus_priv = NULL;
	uvdpa_event_emit(UVDPA_EVENT_DISCONNECT, dev->name, "bus tap path %s", ifname);
}

static int tap_status(struct uvdpa_device *dev, struct uvdpa_bind_status *st)
{
	struct tap_bus *t = dev->bus_priv;

	if (!t)
		return -ENOTCONN;
	snprintf(st->path, sizeof(st->path), "%s", t->ifname);
	st->connected = true;
	st->features_ok = true;
	st->negotiated_features = t->features;
	return 0;
}

static struct uvdpa_bus_driver tap_bus_driver = {
	.name = "tap",
	.bind = tap_bind,
	.unbind = tap_unbind,
	.status = tap_status,
};

int uvdpa_bus_tap_register(void)
{
	if (uvdpa_bus_driver_find(tap_bus_driver.name))
		return 0;
	return uvdpa_bus_driver_register(&tap_bus_driver);
}
