/* Where the emulated IFCVF's frames go and come from: loopback (TX back to
 * RX of the same pair), pair:NAME (two functions wired together: one engine
 * work per queue-pair index serves both ends), tap:IFNAME (a host kernel
 * interface), sink (TX copied out and counted) and source (RX filled with
 * generated frames). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>


#include "core/tap.h"
#include "core/util.h"
#include "models/ifcvf/ifcvf_net.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "core/log.h"
#include "virtio/virtio_net_hdr.h"

#define TAG "ifcvf-net"

#define WIRE_NAME_MAX NET_PORT_NAME_MAX
#define SOURCE_MIN_LEN 60u
#define SOURCE_MAX_LEN 9216u		/* a jumbo frame */
#define SOURCE_ETHERTYPE 0x88b5		/* IEEE local experimental */

static const struct ifcvf_work_ops pair_work_ops = {
	.run = net_pair_work_run,
	.arm = net_pair_work_arm,
};

/* ---- Parsing ---- */

/* source[:FRAME_LEN]; arg is what follows the ':' or NULL. */
static int parse_source(const char *spec, const char *arg, struct ifcvf_net_port_spec *out,
			char *err, size_t errlen)
{
	uint64_t len;
	int ret;

	if (!arg)
		return 0;
	ret = uvdpa_parse_u64(arg, 10, SOURCE_MIN_LEN, SOURCE_MAX_LEN, &len);
	if (ret < 0) {
		uvdpa_errf(err, errlen, "port %s: frame length \"%s\" %s: use %u..%u bytes", spec, arg,
			   ret == -ERANGE ? "is out of range" : "is not a number", SOURCE_MIN_LEN,
			   SOURCE_MAX_LEN);
		return -EINVAL;
	}
	out->source_len = (uint32_t)len;
	return 0;
}

/* pair:NAME: both functions to connect give the same NAME. */
static int parse_pair(const char *spec, const char *arg, struct ifcvf_net_port_spec *out,
		      char *err, size_t errlen)
{
	size_t n = strlen(arg);

	if (n == 0 || n >= sizeof(out->name)) {
		uvdpa_errf(err, errlen,
			   "port %s: pair:NAME needs a wire name of 1..%zu characters (the two "
			   "functions to connect give the same NAME)", spec, sizeof(out->name) - 1);
		return -EINVAL;
	}
	memcpy(out->name, arg, n + 1);
	return 0;
}

/* tap:IFNAME[,vnet_hdr] */
static int parse_tap(const char *spec, const char *arg, struct ifcvf_net_port_spec *out,
		     char *err, size_t errlen)
{
	const char *comma = strchr(arg, ',');
	size_t n = comma ? (size_t)(comma - arg) : strlen(arg);

	if (!uvdpa_ifname_valid(arg, n)) {
		uvdpa_errf(err, errlen,
			   "port %s: tap:IFNAME needs an interface name of 1..%d characters without "
			   "'/', ':' or blanks", spec, IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (comma && strcmp(comma + 1, "vnet_hdr")) {
		uvdpa_errf(err, errlen, "port %s: tap option \"%s\" is unknown: the only one is vnet_hdr",
			   spec, comma + 1);
		return -EINVAL;
	}
	memcpy(out->name, arg, n);
	out->name[n] = '\0';
	out->tap_vnet_hdr = comma != NULL;
	return 0;
}

int ifcvf_net_port_parse(const char *spec, struct ifcvf_net_port_spec *out, char *err,
			 size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->kind = NET_PORT_LOOPBACK;
	out->source_len = NET_SOURCE_DEFAULT_LEN;
	if (!spec[0] || !strcmp(spec, "loopback"))
		return 0;
	if (!strcmp(spec, "sink")) {
		out->kind = NET_PORT_SINK;
		return 0;
	}
	if (!strncmp(spec, "source", 6) && (spec[6] == '\0' || spec[6] == ':')) {
		out->kind = NET_PORT_SOURCE;
		return parse_source(spec, spec[6] ? spec + 7 : NULL, out, err, errlen);
	}
	if (!strncmp(spec, "pair:", 5)) {
		out->kind = NET_PORT_PAIR;
		return parse_pair(spec, spec + 5, out, err, errlen);
	}
	if (!strncmp(spec, "tap:", 4)) {
		out->kind = NET_PORT_TAP;
		return parse_tap(spec, spec + 4, out, err, errlen);
	}
	uvdpa_errf(err, errlen,
		   "port %s is unknown: use loopback, pair:NAME, tap:IFNAME[,vnet_hdr], sink or "
		   "source[:FRAME_LEN]", spec);
	return -EINVAL;
}

int net_port_parse(struct ifcvf_net *net, const char *spec, char *err, size_t errlen)
{
	struct ifcvf_net_port_spec ps;
	int ret = ifcvf_net_port_parse(spec, &ps, err, errlen);

	if (ret < 0)
		return ret;
	snprintf(net->port_spec, sizeof(net->port_spec), "%s", spec[0] ? spec : "loopback");
	net->port = ps.kind;
	net->tap_vnet_hdr = ps.tap_vnet_hdr;
	net->source_len = ps.source_len;
	return 0;
}

/* ---- Pair wires ---- */

struct net_wire {
	char name[WIRE_NAME_MAX];
	struct ifcvf_net *end[2];
	struct net_pair_work *works[IFCVF_MAX_QUEUE_PAIRS];	/* one per queue-pair index */
	struct net_wire *next;
};

/* Protects wires and every wire's end[] and works[]. The works' side[]
 * pointers are also the engine's: changed with the work lock held too. */
static pthread_mutex_t wires_lock = PTHREAD_MUTEX_INITIALIZER;
static struct net_wire *wires;

/* wires_lock held. Takes side s of the first n works away. */
static void wire_release_pairs(struct net_wire *wire, unsigned int s, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct net_pair_work *pw = wire->works[i];

		if (!pw)
			continue;
		ifcvf_work_lock(&pw->work);
		pw->side[s] = NULL;
		ifcvf_work_unlock(&pw->work);
		if (!pw->side[0] && !pw->side[1]) {
			ifcvf_work_detach(&pw->work);
			free(pw);
			wire->works[i] = NULL;
		}
	}
}

static void wire_put(struct net_wire *wire)
{
	struct net_wire **pp;

	if (wire->end[0] || wire->end[1])
		return;
	for (pp = &wires; *pp; pp = &(*pp)->next) {
		if (*pp == wire) {
			*pp = wire->next;
			break;
		}
	}
	free(wire);
}

static int wire_attach(struct ifcvf_net *net, char *err, size_t errlen)
{
	const char *name = net->port_spec + 5;
	struct net_wire *wire;
	unsigned int s, i;
	int rc = 0;

	pthread_mutex_lock(&wires_lock);
	for (wire = wires; wire; wire = wire->next)
		if (!strcmp(wire->name, name))
			break;
	if (!wire) {
		wire = calloc(1, sizeof(*wire));
		if (!wire) {
			rc = -ENOMEM;
			goto out;
		}
		snprintf(wire->name, sizeof(wire->name), "%s", name);
		wire->next = wires;
		wires = wire;
	}
	if (wire->end[0] && wire->end[1]) {
		uvdpa_errf(err, errlen, "port pair:%s already connects two functions", name);
		rc = -EBUSY;
		goto out;
	}
	s = wire->end[0] ? 1 : 0;
	for (i = 0; i < net->max_vqp; i++) {
		struct net_pair_work *pw = wire->works[i];

		if (!pw) {
			pw = calloc(1, sizeof(*pw));
			if (!pw) {
				rc = -ENOMEM;
				break;
			}
			pw->work.ops = &pair_work_ops;
			pw->work.ctx = pw;
			rc = ifcvf_work_attach(&pw->work);
			if (rc < 0) {
				free(pw);
				break;
			}
			wire->works[i] = pw;
		}
		/* The engine may run pw as soon as side[s] is set: pw first. */
		ifcvf_work_lock(&pw->work);
		net->pairs[i].pw = pw;
		pw->side[s] = &net->pairs[i];
		ifcvf_work_unlock(&pw->work);
	}
	if (rc < 0) {
		wire_release_pairs(wire, s, i);
		uvdpa_errf(err, errlen, "port pair:%s: %s", name, strerror(-rc));
		goto out;
	}
	wire->end[s] = net;
	net->wire = wire;
	net->wire_side = s;
	LOG_INFO(TAG, "emu:%u joins pair %s%s", net->model->index, name,
		 wire->end[!s] ? " (both ends connected)" : " (waiting for the other end)");
out:
	if (rc < 0 && wire)
		wire_put(wire);
	pthread_mutex_unlock(&wires_lock);
	if (rc == -ENOMEM)
		uvdpa_errf(err, errlen, "out of memory");
	return rc;
}

static void wire_detach(struct ifcvf_net *net)
{
	struct net_wire *wire = net->wire;

	pthread_mutex_lock(&wires_lock);
	wire_release_pairs(wire, net->wire_side, net->max_vqp);
	wire->end[net->wire_side] = NULL;
	wire_put(wire);
	pthread_mutex_unlock(&wires_lock);
	net->wire = NULL;
}

/* ---- Tap ---- */

static int tap_open(struct ifcvf_net *net, char *err, size_t errlen)
{
	const char *name = net->port_spec + 4;
	char why[160];
	int fd = uvdpa_tap_open(name, strcspn(name, ","),
				net->tap_vnet_hdr ? UVDPA_TAP_VNET_HDR : 0, why, sizeof(why));

	if (fd < 0) {
		uvdpa_errf(err, errlen, "port %s: %s", net->port_spec, why);
		return fd;
	}
	net->tap_fd = fd;
	return 0;
}

/* offload: with vnet_hdr the tap finishes it (the header says what). */
static bool tap_send(struct ifcvf_net *net, const uint8_t *pkt, uint32_t len,
		     const struct virtio_net_hdr_info *offload)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN_V1] = { 0 };
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)pkt, .iov_len = len },
	};
	ssize_t n;

	if (net->tap_vnet_hdr) {
		virtio_net_hdr_build(hdr, sizeof(hdr), 1ull << VIRTIO_F_VERSION_1, offload, 0);
		n = writev(net->tap_fd, iov, 2);
	} else {
		n = write(net->tap_fd, pkt, len);
	}
	if (n < 0) {
		/* EIO: interface down; EAGAIN: the kernel queue is full. */
		LOG_DEBUG(TAG, "%s: tap write: %s", net->port_spec, strerror(errno));
		return false;
	}
	return true;
}

static bool tap_produce(struct net_qpair *p)
{
	struct ifcvf_net *net = p->net;
	uint8_t hdr[VIRTIO_NET_HDR_LEN_V1];

	for (;;) {
		struct iovec iov[2] = {
			{ .iov_base = hdr, .iov_len = sizeof(hdr) },
			{ .iov_base = p->fifo.frame, .iov_len = NET_FRAME_MAX },
		};
		uint32_t skip = net->tap_vnet_hdr ? sizeof(hdr) : 0;
		ssize_t n;

		if (!__atomic_load_n(&net->tap_watch.ready, __ATOMIC_RELAXED))
			return false;
		n = readv(net->tap_fd, net->tap_vnet_hdr ? iov : iov + 1, net->tap_vnet_hdr ? 2 : 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				LOG_WARN(TAG, "%s: tap read: %s", net->port_spec, strerror(errno));
			/* Edge-triggered: the next frame sets ready again. */
			__atomic_store_n(&net->tap_watch.ready, 0, __ATOMIC_RELAXED);
			return false;
		}
		if ((size_t)n <= skip)
			continue;
		p->fifo.len = (uint32_t)(n - skip);
		return true;
	}
}

/* ---- Source ---- */

void net_source_fill(struct net_qpair *p)
{
	static const uint8_t src_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	uint8_t *f = p->fifo.frame;
	uint32_t seq = htobe32(p->source_seq);

	net_qpair_cfg_refresh(p);
	memset(f, 0, p->net->source_len);
	memcpy(f, p->rxf->mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = SOURCE_ETHERTYPE >> 8;
	f[13] = SOURCE_ETHERTYPE & 0xff;
	memcpy(f + 14, &seq, sizeof(seq));
	p->source_seq++;
	p->fifo.len = p->net->source_len;
}

static bool source_produce(struct net_qpair *p)
{
	/* Only as fast as buffers allow: never generate a frame to drop. */
	if (!virtq_avail_count(&p->rxq->vq))
		return false;
	net_source_fill(p);
	return true;
}

/* ---- Port interface ---- */

struct net_qpair *net_port_peer(struct net_qpair *p)
{
	struct net_pair_work *pw = p->pw;

	switch (p->net->port) {
	case NET_PORT_LOOPBACK:
		return p;
	case NET_PORT_PAIR:
		return pw->side[0] == p ? pw->side[1] : pw->side[0];
	default:
		return NULL;
	}
}

/* A frame with offloads toward a port that cannot take them: its checksum
 * filled in, or its segments, each sent on its own. */
static bool send_finished(struct net_qpair *p, uint8_t *pkt, uint32_t len,
			  const struct virtio_net_hdr_info *offload)
{
	struct virtio_net_gso g;
	bool ok = true;

	if (offload->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return virtio_net_csum_complete(pkt, len, offload->csum_start,
						offload->csum_offset) == 0 &&
		       tap_send(p->net, pkt, len, NULL);
	if (virtio_net_gso_prepare(pkt, len, offload, &g) < 0)
		return false;
	for (unsigned int i = 0; i < g.nsegs; i++) {
		uint32_t n = virtio_net_gso_segment(&g, pkt, i, p->txseg);

		ok = tap_send(p->net, p->txseg, n, NULL) && ok;
	}
	return ok;
}

bool net_port_send(struct net_qpair *p, uint8_t *pkt, uint32_t len,
		   const struct virtio_net_hdr_info *offload)
{
	switch (p->net->port) {
	case NET_PORT_TAP:
		if (offload && !p->net->tap_vnet_hdr)
			return send_finished(p, pkt, len, offload);
		return tap_send(p->net, pkt, len, offload);
	case NET_PORT_SINK:
	case NET_PORT_SOURCE:
		return true;	/* consumed: the copy out of guest memory was the work */
	default:
		return false;
	}
}

int net_port_inject(struct ifcvf_net *net, const uint8_t *frame, uint32_t len)
{
	switch (net->port) {
	case NET_PORT_TAP:
		return tap_send(net, frame, len, NULL) ? 0 : -EIO;
	case NET_PORT_SINK:
	case NET_PORT_SOURCE:
		return 0;
	default:
		return -ENOTSUP;
	}
}

bool net_port_produce(struct net_qpair *p)
{
	switch (p->net->port) {
	case NET_PORT_TAP:
		return p->index == 0 && tap_produce(p);
	case NET_PORT_SOURCE:
		return source_produce(p);
	default:
		return false;
	}
}

bool net_port_rx_ready(struct net_qpair *p)
{
	return p->net->port == NET_PORT_TAP && p->index == 0 &&
	       __atomic_load_n(&p->net->tap_watch.ready, __ATOMIC_RELAXED);
}

int net_port_open(struct ifcvf_net *net, char *err, size_t errlen)
{
	unsigned int i;
	int rc;

	if (net->port == NET_PORT_PAIR)
		return wire_attach(net, err, errlen);
	if (net->port == NET_PORT_TAP) {
		rc = tap_open(net, err, errlen);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < net->max_vqp; i++) {
		struct net_qpair *p = &net->pairs[i];

		p->own.work.ops = &pair_work_ops;
		p->own.work.ctx = &p->own;
		p->own.side[0] = p;
		p->pw = &p->own;
		rc = ifcvf_work_attach(&p->own.work);
		if (rc < 0) {
			uvdpa_errf(err, errlen, "cannot start the engine pool: %s", strerror(-rc));
			while (i--)
				ifcvf_work_detach(&net->pairs[i].own.work);
			goto fail;
		}
	}
	if (net->port == NET_PORT_TAP) {
		rc = ifcvf_work_watch_fd(&net->pairs[0].own.work, &net->tap_watch, net->tap_fd);
		if (rc < 0) {
			uvdpa_errf(err, errlen, "port %s: epoll: %s", net->port_spec, strerror(-rc));
			for (i = 0; i < net->max_vqp; i++)
				ifcvf_work_detach(&net->pairs[i].own.work);
			goto fail;
		}
	}
	return 0;
fail:
	if (net->tap_fd >= 0) {
		close(net->tap_fd);
		net->tap_fd = -1;
	}
	return rc;
}

void net_port_close(struct ifcvf_net *net)
{
	unsigned int i;

	if (net->port == NET_PORT_PAIR) {
		if (net->wire)
			wire_detach(net);
		return;
	}
	for (i = 0; i < net->max_vqp; i++)
		ifcvf_work_detach(&net->pairs[i].own.work);
	if (net->tap_fd >= 0) {
		close(net->tap_fd);
		net->tap_fd = -1;
	}
}
