/* The emulated IFCVF's net device type, private to ifcvf_net.c (config,
 * datapath, control queue) and ifcvf_net_port.c (where frames come from and
 * go: loopback, pair, tap, sink, source). */
#ifndef UVDPA_MODELS_IFCVF_NET_H
#define UVDPA_MODELS_IFCVF_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "models/ifcvf/ifcvf_model_internal.h"
#include "virtio/virtio_net_gso.h"

#define NET_FRAME_MAX (65535u + 14u + 4u)	/* largest MTU + Ethernet + VLAN header */
#define NET_BATCH 64u				/* chains per queue per engine round */
#define NET_PUBLISH_EVERY 16u			/* used entries published in groups of */
#define NET_BURST 16u				/* chains a burst takes before filling them */
#define NET_BURST_IOV 4u			/* iovecs per chain in a burst (more: per chain) */

/* Elements for a burst of small chains (the common one-buffer RX chain). */
struct net_burst {
	struct virtq_elem el[NET_BURST];
	struct iovec iov[NET_BURST][NET_BURST_IOV];
	uint64_t addr[NET_BURST][NET_BURST_IOV];
};
#define NET_DEFAULT_MTU 1500u
#define NET_SOURCE_DEFAULT_LEN 60u
#define NET_RX_FILTER_ENTRIES 64u

enum net_port_kind { NET_PORT_LOOPBACK, NET_PORT_PAIR, NET_PORT_TAP, NET_PORT_SINK, NET_PORT_SOURCE };

/* Per-vring counters (vdpa_sim_net's vstats). Written by the engine that
 * runs the queue (or by reset_stats) with the work lock held. */
struct net_counters {
	uint64_t packets, bytes, errors, overruns, drops;
};

/* The receive FIFO in front of an RX queue: one frame deep, which is what
 * gives loopback and pair ports their back-pressure. */
struct net_rx_fifo {
	uint8_t *frame;				/* NET_FRAME_MAX bytes */
	uint32_t len;				/* 0: empty */
	/* With MRG_RXBUF a frame may wait for more RX buffers halfway: the
	 * chains taken so far are pending in the used ring (not published). */
	uint16_t nbufs;
	uint32_t placed;
	bool stalled;				/* counted as an overrun already */
	struct virtq_elem_buf *first;		/* the chain that gets the header */
	/* The frame's offloads, for the RX header (the receiver negotiated
	 * them): a checksum to fill or a GSO frame. */
	bool offload;
	struct virtio_net_hdr_info info;
	/* A GSO frame the receiver cannot take whole: cut into segments in
	 * software, one at a time into frame. */
	uint8_t *gso_frame;			/* NET_FRAME_MAX bytes */
	struct virtio_net_gso gso;
	uint16_t gso_next;			/* next segment; == gso.nsegs: none left */
};

/* RX filter state from the control queue (VIRTIO_NET_F_CTRL_RX). */
struct net_rx_filter {
	uint8_t mac[6];				/* the function's own (in copies only) */
	bool promisc, allmulti;
	uint32_t nuni, nmulti;
	bool uni_overflow, multi_overflow;	/* more than NET_RX_FILTER_ENTRIES: accept all */
	uint8_t uni[NET_RX_FILTER_ENTRIES][6];
	uint8_t multi[NET_RX_FILTER_ENTRIES][6];
};

struct ifcvf_net;

/* What an engine work runs: one queue pair, or both ends of a pair wire
 * (side[1] is the peer function's queue pair of the same index). */
struct net_pair_work {
	struct ifcvf_work work;
	struct net_qpair *side[2];
};

/* Queue pair i: vrings 2i (RX) and 2i+1 (TX). Everything below "work lock"
 * is the engine's. */
struct net_qpair {
	struct ifcvf_net *net;
	unsigned int index;
	struct ifcvf_vq *rxq, *txq;
	struct net_pair_work *pw;		/* the work serving it (own or a wire's) */
	struct net_pair_work own;		/* unless the port is a pair wire */

	/* work lock */
	uint64_t features;			/* negotiated, latched at queue start */
	uint32_t hdr_len;
	bool mrg_rxbuf, ctrl_rx;
	bool rx_pushed, tx_pushed;		/* used entries published this round */
	uint16_t rx_commit;			/* RX used entries of whole frames, pending */
	struct net_rx_fifo fifo;
	struct virtq_elem_buf *rx_elem, *tx_elem;
	struct net_burst *burst;
	uint8_t *txbuf;				/* tap and sink: TX frame copy */
	uint8_t *txseg;				/* tap: one segment of a GSO frame */
	uint32_t filter_gen;			/* rxf is a copy of net->rxf at this generation */
	struct net_rx_filter *rxf;
	uint32_t source_seq;
	struct net_counters rx, tx;
};

struct net_wire;

struct ifcvf_net {
	struct ifcvf_model *model;
	uint16_t max_vqp;
	uint16_t mtu;
	enum net_port_kind port;
	char port_spec[128];

	/* Port state (ifcvf_net_port.c). */
	int tap_fd;
	bool tap_vnet_hdr;
	struct ifcvf_fd_watch tap_watch;
	uint32_t source_len;
	struct net_wire *wire;
	unsigned int wire_side;

	/* Protects mac, status, rxf and announce: written by the control thread
	 * (API, legacy config writes) and by the control-queue engine, read by
	 * config reads. Leaf lock. */
	pthread_mutex_t cfg_lock;
	uint8_t mac[6];
	uint8_t cfg_mac[6];			/* the administrator's: restored at reset */
	uint16_t status;			/* VIRTIO_NET_S_* */
	struct net_rx_filter rxf;
	uint32_t filter_gen;			/* atomic: bumped on every rxf change */
	bool link_up;				/* atomic copy of status LINK_UP for the datapath */

	/* Control queue (CTRL_VQ offered): its own work. */
	struct ifcvf_vq *cvq;
	struct ifcvf_work cvq_work;
	uint64_t cvq_features;			/* work lock */
	struct virtq_elem_buf *cvq_elem;
	uint8_t *cvq_buf;			/* NET_CVQ_MAX_CMD bytes */
	uint64_t cvq_requests, cvq_successes, cvq_errors;
	uint16_t active_pairs;			/* VQ_PAIRS_SET; informational */

	struct net_qpair pairs[];		/* max_vqp */
};

/* ifcvf_net_port.c */

#define NET_PORT_NAME_MAX 64	/* a pair wire's name, with its NUL (UVDPA_NAME_MAX) */

/* A net port as `dev add ... port SPEC` gives it, checked. */
struct ifcvf_net_port_spec {
	enum net_port_kind kind;
	char name[NET_PORT_NAME_MAX];	/* pair: the wire; tap: the interface */
	bool tap_vnet_hdr;		/* tap:IFNAME,vnet_hdr */
	uint32_t source_len;		/* source[:FRAME_LEN], or the default */
};

/* The one parser of the port grammar: "" (loopback), loopback, pair:NAME,
 * tap:IFNAME[,vnet_hdr], sink, source[:FRAME_LEN]. Pure: fills out, or
 * returns -EINVAL with err saying what to change. The CLI passes the word
 * through, so this message is the one the user reads. */
int ifcvf_net_port_parse(const char *spec, struct ifcvf_net_port_spec *out, char *err,
			 size_t errlen);
/* Sets net's port from spec (ifcvf_net_port_parse). */
int net_port_parse(struct ifcvf_net *net, const char *spec, char *err, size_t errlen);
/* Creates the works serving every queue pair (pw set), attaches them, and
 * opens the port's resources. */
int net_port_open(struct ifcvf_net *net, char *err, size_t errlen);
void net_port_close(struct ifcvf_net *net);
/* The queue pair that receives what p transmits (loopback: p; pair: the
 * peer's pair of the same index, NULL if none); NULL for other ports. */
struct net_qpair *net_port_peer(struct net_qpair *p);
/* Sends one TX packet (already copied to p->txbuf for tap/sink); true when
 * sent, false when dropped. */
/* offload: the frame's checksum / segmentation request, or NULL. pkt may be
 * changed (a checksum filled in). */
bool net_port_send(struct net_qpair *p, uint8_t *pkt, uint32_t len,
		   const struct virtio_net_hdr_info *offload);
/* Puts a frame the device itself makes on the wire (any thread): 0, or
 * -ENOTSUP for a port with no wire beyond the guest (loopback, pair),
 * -EIO when the wire refused it. */
int net_port_inject(struct ifcvf_net *net, const uint8_t *frame, uint32_t len);
/* Produces the next frame for p's RX FIFO (tap: read; source: generate).
 * false when there is none now. */
bool net_port_produce(struct net_qpair *p);
/* Source port: the next generated frame into p's FIFO, whether or not an RX
 * buffer is available (the caller took one already). */
void net_source_fill(struct net_qpair *p);
/* Whether p's port has frames waiting for p's RX queue (arm). */
bool net_port_rx_ready(struct net_qpair *p);

/* ifcvf_net.c */
/* Brings p's copy of the RX filter and MAC (p->rxf) up to date from net's,
 * by generation: a lock only when the control side changed them. Work lock. */
void net_qpair_cfg_refresh(struct net_qpair *p);
unsigned int net_pair_work_run(struct ifcvf_work *w, bool polling);
bool net_pair_work_arm(struct ifcvf_work *w);

#endif
