/* virtio-net header: length per feature set, TX parsing with the checks a
 * device needs before trusting csum/GSO metadata, RX encoding. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "virtio/virtio_net_hdr.h"

/* Field offsets (struct virtio_net_hdr_v1 / _hash_v1). */
#define HDR_FLAGS 0
#define HDR_GSO_TYPE 1
#define HDR_HDR_LEN 2
#define HDR_GSO_SIZE 4
#define HDR_CSUM_START 6
#define HDR_CSUM_OFFSET 8
#define HDR_NUM_BUFFERS 10

static inline bool has_feature(uint64_t features, unsigned int bit)
{
	return features & (1ull << bit);
}

size_t virtio_net_hdr_len(uint64_t features)
{
	if (has_feature(features, VIRTIO_NET_F_HASH_REPORT))
		return VIRTIO_NET_HDR_LEN_HASH;
	if (has_feature(features, VIRTIO_NET_F_MRG_RXBUF) ||
	    has_feature(features, VIRTIO_F_VERSION_1))
		return VIRTIO_NET_HDR_LEN_V1;
	return VIRTIO_NET_HDR_LEN_LEGACY;
}

static const char *const hdr_error_names[] = {
	[VNET_HDR_OK] = "no error",
	[VNET_HDR_ERR_SHORT] = "chain shorter than the virtio-net header",
	[VNET_HDR_ERR_CSUM_FEATURE] = "NEEDS_CSUM without VIRTIO_NET_F_CSUM",
	[VNET_HDR_ERR_CSUM_RANGE] = "checksum position beyond the packet",
	[VNET_HDR_ERR_GSO_TYPE] = "unknown gso_type",
	[VNET_HDR_ERR_GSO_FEATURE] = "gso_type not negotiated",
	[VNET_HDR_ERR_GSO_CSUM] = "GSO without NEEDS_CSUM",
	[VNET_HDR_ERR_GSO_SIZE] = "GSO with gso_size 0",
	[VNET_HDR_ERR_HDR_LEN] = "hdr_len inconsistent with the packet",
};

const char *virtio_net_hdr_strerror(enum virtio_net_hdr_error reason)
{
	if ((unsigned int)reason >= sizeof(hdr_error_names) / sizeof(hdr_error_names[0]))
		return "unknown error";
	return hdr_error_names[reason];
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

/* The feature bit that allows a GSO type on TX, or -1 for an unknown type. */
static int gso_feature(uint8_t type)
{
	switch (type) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return VIRTIO_NET_F_HOST_TSO4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return VIRTIO_NET_F_HOST_TSO6;
	case VIRTIO_NET_HDR_GSO_UDP:
		return VIRTIO_NET_F_HOST_UFO;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		return VIRTIO_NET_F_HOST_USO;
	default:
		return -1;
	}
}

static int fail(enum virtio_net_hdr_error *reason, enum virtio_net_hdr_error why)
{
	if (reason)
		*reason = why;
	return -EINVAL;
}

int virtio_net_tx_hdr_parse(const struct virtq_elem *elem, uint64_t features,
			    struct virtio_net_hdr_info *info, enum virtio_net_hdr_error *reason)
{
	uint8_t raw[VIRTIO_NET_HDR_MAX_LEN];
	size_t len = virtio_net_hdr_len(features);
	uint32_t csum_end;
	uint8_t gso;

	if (reason)
		*reason = VNET_HDR_OK;
	memset(info, 0, sizeof(*info));
	/* Copied once; every check below works on the copy. */
	if (elem->out_len < len || virtq_elem_read(elem, 0, raw, len) != len)
		return fail(reason, VNET_HDR_ERR_SHORT);
	/* Compiler barrier: the checks and the caller use raw, never a reload
	 * from guest memory. */
	__asm__ __volatile__("" : : "r"(raw) : "memory");

	info->vnet_hdr_len = len;
	info->pkt_len = elem->out_len - len;
	/* Unknown flag bits are ignored (spec); DATA_VALID and RSC_INFO have no
	 * meaning on TX. */
	info->flags = raw[HDR_FLAGS] & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	gso = raw[HDR_GSO_TYPE];
	info->gso_ecn = gso & VIRTIO_NET_HDR_GSO_ECN;
	info->gso_type = gso & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	info->hdr_len = get16(raw + HDR_HDR_LEN);
	info->gso_size = get16(raw + HDR_GSO_SIZE);
	info->csum_start = get16(raw + HDR_CSUM_START);
	info->csum_offset = get16(raw + HDR_CSUM_OFFSET);
	if (len >= VIRTIO_NET_HDR_LEN_V1)
		info->num_buffers = get16(raw + HDR_NUM_BUFFERS);

	csum_end = (uint32_t)info->csum_start + info->csum_offset + 2;
	if (info->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has_feature(features, VIRTIO_NET_F_CSUM))
			return fail(reason, VNET_HDR_ERR_CSUM_FEATURE);
		/* The device writes 2 bytes at csum_start + csum_offset. */
		if (csum_end > info->pkt_len)
			return fail(reason, VNET_HDR_ERR_CSUM_RANGE);
	} else {
		/* Not to be used by the device: make that impossible. */
		info->csum_start = info->csum_offset = 0;
	}

	if (info->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if (info->gso_ecn)
			return fail(reason, VNET_HDR_ERR_GSO_TYPE);
		info->gso_size = 0;
		return 0;
	}
	if (gso_feature(info->gso_type) < 0)
		return fail(reason, VNET_HDR_ERR_GSO_TYPE);
	/* Legacy VIRTIO_NET_F_GSO allowed every type. */
	if (!has_feature(features, (unsigned int)gso_feature(info->gso_type)) &&
	    !has_feature(features, VIRTIO_NET_F_GSO))
		return fail(reason, VNET_HDR_ERR_GSO_FEATURE);
	if (info->gso_ecn && !has_feature(features, VIRTIO_NET_F_HOST_ECN) &&
	    !has_feature(features, VIRTIO_NET_F_GSO))
		return fail(reason, VNET_HDR_ERR_GSO_FEATURE);
	if (!(info->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return fail(reason, VNET_HDR_ERR_GSO_CSUM);
	if (info->gso_size == 0)
		return fail(reason, VNET_HDR_ERR_GSO_SIZE);
	if (has_feature(features, VIRTIO_NET_F_GUEST_HDRLEN)) {
		/* Exact: the headers end inside the packet and hold the csum. */
		if (info->hdr_len > info->pkt_len || info->hdr_len < csum_end)
			return fail(reason, VNET_HDR_ERR_HDR_LEN);
		info->hdr_len_exact = true;
	}
	return 0;
}

size_t virtio_net_hdr_build(void *buf, size_t buf_len, uint64_t features,
			    const struct virtio_net_hdr_info *info, uint16_t num_buffers)
{
	size_t len = virtio_net_hdr_len(features);
	uint8_t *p = buf;

	if (buf_len < len)
		return 0;
	memset(p, 0, len);
	if (info) {
		p[HDR_FLAGS] = info->flags;
		p[HDR_GSO_TYPE] = info->gso_type | (info->gso_ecn ? VIRTIO_NET_HDR_GSO_ECN : 0);
		put16(p + HDR_HDR_LEN, info->hdr_len);
		put16(p + HDR_GSO_SIZE, info->gso_size);
		put16(p + HDR_CSUM_START, info->csum_start);
		put16(p + HDR_CSUM_OFFSET, info->csum_offset);
	}
	if (len >= VIRTIO_NET_HDR_LEN_V1)
		put16(p + HDR_NUM_BUFFERS, num_buffers);
	return len;
}
