/* virtio-net packet header (virtio 1.x section 5.1.6): its length for a
 * feature set, a validating parser for headers the driver sends on a
 * transmit queue, and a builder for headers the device writes on receive. */
#ifndef UVDPA_VIRTIO_NET_HDR_H
#define UVDPA_VIRTIO_NET_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "virtio/virtq.h"

/* Newer than some installed uAPI headers. */
#ifndef VIRTIO_NET_F_HOST_USO
#define VIRTIO_NET_F_HOST_USO 56
#endif
#ifndef VIRTIO_NET_F_GUEST_HDRLEN
#define VIRTIO_NET_F_GUEST_HDRLEN 59
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define VIRTIO_NET_HDR_LEN_LEGACY 10	/* no MRG_RXBUF, no VERSION_1 */
#define VIRTIO_NET_HDR_LEN_V1 12	/* with num_buffers */
#define VIRTIO_NET_HDR_LEN_HASH 20	/* with HASH_REPORT */
#define VIRTIO_NET_HDR_MAX_LEN 20

/* A header in host byte order. */
struct virtio_net_hdr_info {
	uint8_t flags;		/* VIRTIO_NET_HDR_F_NEEDS_CSUM or 0 (TX ignores other bits) */
	uint8_t gso_type;	/* VIRTIO_NET_HDR_GSO_*, without the ECN bit */
	bool gso_ecn;		/* VIRTIO_NET_HDR_GSO_ECN was set */
	bool hdr_len_exact;	/* GUEST_HDRLEN and GSO: hdr_len is exact and checked;
				 * otherwise it is only a hint, not to be relied on */
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
	uint16_t num_buffers;	/* as read; unused on TX */
	uint32_t vnet_hdr_len;	/* bytes of virtio-net header at the chain's start */
	uint64_t pkt_len;	/* packet bytes after the header */
};

enum virtio_net_hdr_error {
	VNET_HDR_OK = 0,
	VNET_HDR_ERR_SHORT,		/* readable chain shorter than the header */
	VNET_HDR_ERR_CSUM_FEATURE,	/* NEEDS_CSUM without VIRTIO_NET_F_CSUM */
	VNET_HDR_ERR_CSUM_RANGE,	/* csum_start + csum_offset + 2 beyond the packet */
	VNET_HDR_ERR_GSO_TYPE,		/* unknown gso_type */
	VNET_HDR_ERR_GSO_FEATURE,	/* gso_type or ECN bit not negotiated */
	VNET_HDR_ERR_GSO_CSUM,		/* GSO without NEEDS_CSUM */
	VNET_HDR_ERR_GSO_SIZE,		/* GSO with gso_size 0 */
	VNET_HDR_ERR_HDR_LEN,		/* exact hdr_len beyond the packet or before the csum */
};

/* Header length the negotiated features give: 20 with HASH_REPORT, 12 with
 * MRG_RXBUF or VERSION_1, else 10. */
size_t virtio_net_hdr_len(uint64_t features);

/* Reads and validates the header at the start of a TX chain's readable part
 * (it may span several iovecs). Returns 0 and fills *info, or -EINVAL with
 * *reason (optional) set. The packet is the readable bytes after the header. */
int virtio_net_tx_hdr_parse(const struct virtq_elem *elem, uint64_t features,
			    struct virtio_net_hdr_info *info, enum virtio_net_hdr_error *reason);
const char *virtio_net_hdr_strerror(enum virtio_net_hdr_error reason);

/* Encodes a header for an RX chain into buf: the offload fields from info
 * (NULL: none, packet fully checksummed) and num_buffers when the header has
 * the field. Returns the header length, or 0 when buf_len is too small. */
size_t virtio_net_hdr_build(void *buf, size_t buf_len, uint64_t features,
			    const struct virtio_net_hdr_info *info, uint16_t num_buffers);

#endif
