/* Software offloads: what a virtio-net device does for a frame whose header
 * asks for a checksum or segmentation (VIRTIO_NET_F_CSUM, HOST_TSO4/6) when
 * the frame's next hop cannot take it that way (a receiver that did not
 * negotiate GUEST_CSUM / GUEST_TSO*, or a plain wire). The frame comes from a
 * driver: every offset in it and in its header is checked before use. */
#ifndef UVDPA_VIRTIO_NET_GSO_H
#define UVDPA_VIRTIO_NET_GSO_H

#include <stdint.h>

#include "virtio/virtio_net_hdr.h"

/* Fills in the checksum a NEEDS_CSUM frame left to the device: the ones'
 * complement sum from csum_start to the end of the frame, stored at
 * csum_start + csum_offset. -EINVAL when the offsets do not fit in len. */
int virtio_net_csum_complete(uint8_t *frame, uint32_t len, uint16_t csum_start,
			     uint16_t csum_offset);

/* A TCP segmentation (TSO) of one frame into MSS-sized frames. */
struct virtio_net_gso {
	uint32_t l3_off;	/* IP header (after Ethernet and at most one VLAN tag) */
	uint32_t l4_off;	/* TCP header */
	uint32_t hdr_len;	/* Ethernet + IP + TCP headers, copied into every segment */
	uint32_t payload;	/* TCP payload bytes of the whole frame */
	uint16_t mss;
	uint16_t nsegs;
	uint8_t ipv6;
};

/* Checks that frame (len bytes) is the TCP over IPv4 / IPv6 (no extension
 * headers) frame that info's gso_type says, with a gso_size that gives at
 * most 65535 segments, and fills g. -EINVAL when it is not. */
int virtio_net_gso_prepare(const uint8_t *frame, uint32_t len,
			   const struct virtio_net_hdr_info *info, struct virtio_net_gso *g);
/* Writes segment i (< g->nsegs) of frame into out (room for hdr_len + mss
 * bytes): headers with the IP length, IPv4 id and checksum, TCP sequence
 * number, flags (FIN and PSH on the last segment only, CWR on the first) and
 * checksums of that segment. Returns its length. */
uint32_t virtio_net_gso_segment(const struct virtio_net_gso *g, const uint8_t *frame,
				unsigned int i, uint8_t *out);

#endif
