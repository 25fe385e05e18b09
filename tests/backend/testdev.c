/* uvdpa-testdev: a software vDPA test device served over vhost-user. Its ops
 * record every call (with ring addresses and features) to a file so that
 * integration tests can check the lifecycle; with --loopback it also moves
 * packets from each TX queue to the RX queue of the same pair, so frontends
 * can exchange real traffic with it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "uvdpa/event_loop.h"
#include "uvdpa/log.h"
#include "uvdpa/vdpa.h"
#include "uvdpa/vhost_user.h"
#include "uvdpa/virtq.h"

#define TAG "testdev"
#define MAX_DEVS 8
#define MAX_PKT (65536 + 64)

struct testdev;

struct test_ring {
	struct testdev *td;
	uint16_t idx;
	bool running;
	struct virtq vq;
	struct ev_watch *kick_watch;
	int kickfd;
};

struct testdev {
	struct vdpa_device vdpa;
	struct vdpa_session *sess;	/* valid between dev_conf and dev_close */
	uint32_t queue_pairs;
	bool loopback;
	uint64_t features_offered;
	unsigned int dev_conf_calls, dev_close_calls;
	struct test_ring rings[VU_MAX_VRINGS];
	struct virtq_elem_buf *tx_elem, *rx_elem;
	uint8_t *pkt;
	uint64_t looped_pkts, looped_bytes, dropped;
};

static FILE *record;
static struct ev_loop *loop;
static bool use_loopback;

static void rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec(const char *fmt, ...)
{
	va_list ap;

	if (!record)
		return;
	va_start(ap, fmt);
	vfprintf(record, fmt, ap);
	va_end(ap);
	fputc('\n', record);
	fflush(record);
}

/* ---- Guest memory access through the vhost-user memory table ---- */

static void *gpa_translate(void *opaque, uint64_t addr, uint64_t len, bool write, uint64_t *contig)
{
	struct testdev *td = opaque;
	void *p;

	(void)write;
	*contig = len;
	p = vdpa_session_gpa_to_hva(td->sess, addr, contig);
	return p;
}

static void dirty_log(void *opaque, uint64_t addr, uint64_t len)
{
	struct testdev *td = opaque;

	vdpa_session_log_write(td->sess, addr, len);
}

/* Dirty logging is on: LOG_ALL negotiated and a log in place. */
static bool log_on(struct testdev *td)
{
	struct vdpa_dirty_log log;

	return (vdpa_session_features(td->sess) & (1ull << VHOST_F_LOG_ALL)) &&
	       vdpa_session_log_get(td->sess, &log) == 0;
}

/* ---- Loopback datapath ---- */

static size_t net_hdr_len(struct testdev *td)
{
	uint64_t f = vdpa_session_features(td->sess);

	if (f & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF)))
		return sizeof(struct virtio_net_hdr_mrg_rxbuf);
	return sizeof(struct virtio_net_hdr);
}

static void ring_failed(struct test_ring *r)
{
	char why[160];

	virtq_format_error(&r->vq, why, sizeof(why));
	LOG_ERR(TAG, "%s: vring %u broken: %s", r->td->vdpa.name, r->idx, why);
	rec("vring_broken %u %s", r->idx, why);
}

static void notify(struct test_ring *r)
{
	if (virtq_should_notify(&r->vq))
		vdpa_session_vring_call(r->td->sess, r->idx);
}

/* Delivers one packet (header already in td->pkt) into RX buffers; with
 * MRG_RXBUF it may span several, and num_buffers in the first is patched.
 * Returns false when the RX ring has no buffer at all. */
static bool rx_deliver(struct testdev *td, struct test_ring *rx, size_t len, bool mrg)
{
	struct virtq_elem *e = &td->rx_elem->elem;
	uint8_t *num_buffers = NULL;
	size_t done = 0;
	uint16_t nbufs = 0;

	while (done < len) {
		size_t n;
		int ret;

		virtq_elem_buf_init(td->rx_elem);
		ret = virtq_pop(&rx->vq, e);
		if (ret == -EAGAIN)
			break;
		if (ret < 0) {
			ring_failed(rx);
			break;
		}
		if (nbufs == 0 && mrg && e->in_num && virtq_elem_in_iov(e)[0].iov_len >= 12)
			num_buffers = (uint8_t *)virtq_elem_in_iov(e)[0].iov_base + 10;
		n = virtq_elem_write(&rx->vq, e, 0, td->pkt + done, len - done);
		virtq_push_pending(&rx->vq, e->head, (uint32_t)n);
		done += n;
		nbufs++;
		if (!mrg || !num_buffers || n == 0)
			break;
	}
	if (!nbufs)
		return false;
	if (num_buffers && nbufs > 1) {
		uint16_t v = nbufs;	/* little-endian host */

		memcpy(num_buffers, &v, sizeof(v));
	}
	virtq_push_commit(&rx->vq);
	if (done < len)
		td->dropped++;
	return true;
}

static void loopback_pair(struct testdev *td, uint16_t pair)
{
	struct test_ring *rx = &td->rings[2 * pair], *tx = &td->rings[2 * pair + 1];
	struct virtq_elem *e = &td->tx_elem->elem;
	bool mrg = vdpa_session_features(td->sess) & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	size_t hdr = net_hdr_len(td);
	unsigned int budget;
	bool tx_done = false, rx_done = false;

	if (!rx->running || !tx->running || rx->vq.broken || tx->vq.broken)
		return;
	for (budget = 0; budget < 256; budget++) {
		size_t len;
		int ret;

		/* Back-pressure: leave TX buffers in the ring until RX has room. */
		if (!virtq_avail_count(&rx->vq))
			break;
		virtq_elem_buf_init(td->tx_elem);
		ret = virtq_pop(&tx->vq, e);
		if (ret == -EAGAIN)
			break;
		if (ret < 0) {
			ring_failed(tx);
			break;
		}
		len = virtq_elem_read(e, 0, td->pkt, MAX_PKT);
		virtq_push(&tx->vq, e->head, 0);
		tx_done = true;
		if (len < hdr || e->out_len > MAX_PKT) {
			td->dropped++;
			continue;
		}
		/* The same header layout both ways; a clean one for RX. */
		memset(td->pkt, 0, hdr);
		if (hdr == sizeof(struct virtio_net_hdr_mrg_rxbuf)) {
			uint16_t one = 1;

			memcpy(td->pkt + 10, &one, sizeof(one));
		}
		if (!rx_deliver(td, rx, len, mrg)) {
			/* The TX buffer is already returned: the packet is lost. */
			td->dropped++;
			break;
		}
		rx_done = true;
		td->looped_pkts++;
		td->looped_bytes += len - hdr;
	}
	if (tx_done)
		notify(tx);
	if (rx_done)
		notify(rx);
	/* Budget used up with work left: come back on the next loop round
	 * instead of starving the other devices. */
	if (budget == 256 && tx->kickfd >= 0) {
		uint64_t one = 1;

		if (write(tx->kickfd, &one, sizeof(one)) < 0)
			LOG_WARN(TAG, "re-kick failed: %s", strerror(errno));
	}
}

static void kick_readable(struct ev_watch *w, int fd, uint32_t events, void *opaque)
{
	struct test_ring *r = opaque;
	uint64_t n;

	(void)w;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	loopback_pair(r->td, r->idx / 2);
}

/* ---- Ring start/stop ---- */

static int ring_start(struct testdev *td, uint16_t idx)
{
	struct test_ring *r = &td->rings[idx];
	struct vdpa_vring info;
	struct virtq_config cfg;
	int ret;

	if (r->running || vdpa_session_vring_get(td->sess, idx, &info) || !info.ready)
		return 0;
	r->td = td;
	r->idx = idx;
	if (!td->loopback || idx >= 2 * td->queue_pairs) {
		r->running = true;
		return 0;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = info.size;
	cfg.features = vdpa_session_features(td->sess);
	cfg.desc_addr = info.desc_gpa;
	cfg.avail_addr = info.avail_gpa;
	cfg.used_addr = info.used_gpa;
	cfg.translate = gpa_translate;
	cfg.opaque = td;
	cfg.log = log_on(td) ? dirty_log : NULL;
	cfg.has_used_log_addr = info.log_used;
	cfg.used_log_addr = info.log_used_gpa;
	ret = virtq_setup(&r->vq, &cfg);
	if (ret < 0) {
		LOG_ERR(TAG, "%s: vring %u setup failed: %s", td->vdpa.name, idx, strerror(-ret));
		return ret;
	}
	virtq_set_base(&r->vq, info.last_avail_idx, info.last_used_idx);
	r->kickfd = info.kickfd;
	if (info.kickfd >= 0) {
		r->kick_watch = ev_watch_add(loop, info.kickfd, EPOLLIN, kick_readable, r);
		if (!r->kick_watch)
			return -errno;
	}
	r->running = true;
	virtq_enable_notify(&r->vq);
	loopback_pair(td, idx / 2);
	return 0;
}

static void ring_stop(struct testdev *td, uint16_t idx)
{
	struct test_ring *r = &td->rings[idx];
	uint16_t last_avail, used;

	if (!r->running)
		return;
	if (r->kick_watch) {
		ev_watch_del(r->kick_watch);
		r->kick_watch = NULL;
	}
	if (r->vq.ready) {
		virtq_get_base(&r->vq, &last_avail, &used);
		vdpa_session_vring_set_base(td->sess, idx, last_avail, used);
		memset(&r->vq, 0, sizeof(r->vq));
	}
	r->running = false;
}

/* ---- vDPA device ops ---- */

static int td_get_queue_num(struct vdpa_device *dev, uint32_t *n)
{
	struct testdev *td = dev->priv;

	*n = td->queue_pairs;
	rec("get_queue_num %u", *n);
	return 0;
}

static int td_get_features(struct vdpa_device *dev, uint64_t *f)
{
	struct testdev *td = dev->priv;

	*f = td->features_offered;
	return 0;
}

static int td_get_protocol_features(struct vdpa_device *dev, uint64_t *f)
{
	*f = (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD) |
	     (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
	     (1ull << VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) |
	     (1ull << VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) | (1ull << VHOST_USER_PROTOCOL_F_RARP) |
	     (1ull << VHOST_USER_PROTOCOL_F_NET_MTU) |
	     (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
	     (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |
	     (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
	     (1ull << VHOST_USER_PROTOCOL_F_STATUS);
	return 0;
}

static int td_dev_conf(struct vdpa_device *dev, struct vdpa_session *sess)
{
	struct testdev *td = dev->priv;
	uint16_t i, n = vdpa_session_vring_count(sess);
	struct vdpa_mem_region regions[1];
	unsigned int nreg;
	int ret;

	td->sess = sess;
	td->dev_conf_calls++;
	nreg = vdpa_session_mem_table(sess, regions, 1);
	rec("dev_conf n=%u nr_vring=%u features=0x%" PRIx64 " regions=%u", td->dev_conf_calls, n,
	    vdpa_session_features(sess), nreg);
	for (i = 0; i < n; i++) {
		struct vdpa_vring info;
		uint64_t len = 16ull * 1;
		void *desc_via_gpa;

		vdpa_session_vring_get(sess, i, &info);
		if (!info.ready) {
			rec("vring %u ready=0", i);
			continue;
		}
		/* Both translations of the descriptor table must agree. */
		desc_via_gpa = vdpa_session_gpa_to_hva(sess, info.desc_gpa, &len);
		rec("vring %u ready=1 size=%u desc_gpa=0x%" PRIx64 " avail_gpa=0x%" PRIx64
		    " used_gpa=0x%" PRIx64 " base=%u kickfd=%d callfd=%d gpa_ok=%d",
		    i, info.size, info.desc_gpa, info.avail_gpa, info.used_gpa, info.last_avail_idx,
		    info.kickfd >= 0, info.callfd >= 0, desc_via_gpa == info.desc);
	}
	for (i = 0; i < n; i++) {
		ret = ring_start(td, i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int td_dev_close(struct vdpa_device *dev)
{
	struct testdev *td = dev->priv;
	uint16_t i;

	td->dev_close_calls++;
	for (i = 0; i < VU_MAX_VRINGS; i++)
		ring_stop(td, i);
	rec("dev_close n=%u looped_pkts=%" PRIu64 " looped_bytes=%" PRIu64 " dropped=%" PRIu64,
	    td->dev_close_calls, td->looped_pkts, td->looped_bytes, td->dropped);
	td->sess = NULL;
	return 0;
}

static int td_set_vring_state(struct vdpa_device *dev, uint16_t idx, bool en)
{
	struct testdev *td = dev->priv;

	rec("set_vring_state %u %d", idx, en);
	if (en)
		return ring_start(td, idx);
	ring_stop(td, idx);
	return 0;
}

static int td_set_features(struct vdpa_device *dev, uint64_t features)
{
	struct testdev *td = dev->priv;
	uint16_t i;

	rec("set_features 0x%" PRIx64 " log_all=%d", features,
	    !!(features & (1ull << VHOST_F_LOG_ALL)));
	if (!td->sess)
		return 0;
	for (i = 0; i < VU_MAX_VRINGS; i++) {
		struct test_ring *r = &td->rings[i];
		struct vdpa_vring info;

		if (!r->running || !r->vq.ready)
			continue;
		vdpa_session_vring_get(td->sess, i, &info);
		virtq_set_log(&r->vq, log_on(td) ? dirty_log : NULL, info.log_used,
			      info.log_used_gpa);
	}
	return 0;
}

static int td_migration_done(struct vdpa_device *dev)
{
	rec("migration_done");
	return 0;
}

static int td_get_config(struct vdpa_device *dev, uint8_t *buf, uint32_t off, uint32_t len)
{
	struct testdev *td = dev->priv;
	struct virtio_net_config cfg = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
					 .status = VIRTIO_NET_S_LINK_UP,
					 .max_virtqueue_pairs = (uint16_t)td->queue_pairs,
					 .mtu = 1500 };

	if (off > sizeof(cfg) || len > sizeof(cfg) - off)
		return -EINVAL;
	memcpy(buf, (uint8_t *)&cfg + off, len);
	return 0;
}

static const struct vdpa_device_ops td_ops = {
	.get_queue_num = td_get_queue_num,
	.get_features = td_get_features,
	.get_protocol_features = td_get_protocol_features,
	.get_config = td_get_config,
	.dev_conf = td_dev_conf,
	.dev_close = td_dev_close,
	.set_vring_state = td_set_vring_state,
	.set_features = td_set_features,
	.migration_done = td_migration_done,
};

/* ---- Program ---- */

static void on_signal(struct ev_watch *w, int fd, uint32_t events, void *opaque)
{
	struct signalfd_siginfo si;

	(void)w;
	(void)events;
	(void)opaque;
	if (read(fd, &si, sizeof(si)) == sizeof(si))
		ev_loop_stop(loop);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvdpa-testdev --socket PATH [--socket PATH ...] [--client] [--queues N]\n"
		"                     [--loopback] [--record FILE] [--features-mask HEX] [-v]\n"
		"Serves one software vDPA net test device per socket. --record writes every\n"
		"device-op call; --loopback moves each TX queue's packets to its RX queue.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "client", no_argument, NULL, 'c' },
		{ "queues", required_argument, NULL, 'q' },
		{ "loopback", no_argument, NULL, 'l' },
		{ "record", required_argument, NULL, 'r' },
		{ "features-mask", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sockets[MAX_DEVS];
	struct testdev *devs[MAX_DEVS] = { 0 };
	int nsock = 0, i, c, sfd, rc = 1;
	unsigned long queues = 1;
	uint64_t mask = ~0ull;
	bool client = false;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "s:cq:lr:m:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (nsock == MAX_DEVS) {
				fprintf(stderr, "at most %d sockets\n", MAX_DEVS);
				return 2;
			}
			sockets[nsock++] = optarg;
			break;
		case 'c':
			client = true;
			break;
		case 'q':
			queues = strtoul(optarg, NULL, 0);
			if (queues < 1 || queues > VU_MAX_VRINGS / 2) {
				fprintf(stderr, "--queues must be 1..%d\n", VU_MAX_VRINGS / 2);
				return 2;
			}
			break;
		case 'l':
			use_loopback = true;
			break;
		case 'r':
			record = fopen(optarg, "w");
			if (!record) {
				fprintf(stderr, "cannot write %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'm':
			mask = strtoull(optarg, NULL, 16);
			break;
		case 'v':
			uvdpa_log_set_level(UVDPA_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!nsock) {
		usage(stderr);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	loop = ev_loop_new();
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!loop || sfd < 0 || !ev_watch_add(loop, sfd, EPOLLIN, on_signal, NULL))
		return 1;
	vdpa_bus_vhost_user_register();

	for (i = 0; i < nsock; i++) {
		struct vdpa_bind_args args = { .path = sockets[i], .client = client, .loop = loop };
		struct testdev *td = calloc(1, sizeof(*td));
		char err[256];

		if (!td)
			goto out;
		devs[i] = td;
		td->queue_pairs = (uint32_t)queues;
		td->loopback = use_loopback;
		td->features_offered =
			((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
			 (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
			 (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
			 (1ull << VIRTIO_F_ANY_LAYOUT) | (1ull << VHOST_F_LOG_ALL) |
			 (queues > 1 ? 1ull << VIRTIO_NET_F_MQ : 0)) & mask;
		td->tx_elem = malloc(sizeof(*td->tx_elem));
		td->rx_elem = malloc(sizeof(*td->rx_elem));
		td->pkt = malloc(MAX_PKT);
		if (!td->tx_elem || !td->rx_elem || !td->pkt)
			goto out;
		snprintf(td->vdpa.name, sizeof(td->vdpa.name), "testdev%d", i);
		td->vdpa.type = VDPA_TYPE_NET;
		td->vdpa.ops = &td_ops;
		td->vdpa.priv = td;
		if (vdpa_device_register(&td->vdpa) < 0)
			goto out;
		if (vdpa_device_bind(&td->vdpa, "vhost-user", &args, err, sizeof(err)) < 0) {
			fprintf(stderr, "uvdpa-testdev: %s\n", err);
			goto out;
		}
	}
	rec("ready pid=%d", (int)getpid());
	printf("uvdpa-testdev: serving %d device(s)\n", nsock);
	fflush(stdout);
	rc = ev_loop_run(loop) < 0;
out:
	for (i = 0; i < nsock; i++) {
		if (!devs[i])
			continue;
		vdpa_device_unregister(&devs[i]->vdpa);
		free(devs[i]->tx_elem);
		free(devs[i]->rx_elem);
		free(devs[i]->pkt);
		free(devs[i]);
	}
	rec("exit");
	if (record)
		fclose(record);
	close(sfd);
	ev_loop_free(loop);
	return rc;
}
