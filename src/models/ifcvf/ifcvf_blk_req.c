/* One virtio-blk request, checked before any I/O: the header in the
 * device-readable part, the status byte as the last device-writable byte,
 * the data between them, every range against the capacity and every
 * segment against the limits the config space announces. A request that
 * fails a check is completed with IOERR or UNSUPP and never reaches the
 * backing file. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "models/ifcvf/ifcvf_blk.h"

int blk_iov_slice(const struct iovec *iov, uint32_t cnt, uint64_t off, uint64_t len,
		  struct iovec *out, uint32_t max)
{
	uint32_t i, n = 0;

	for (i = 0; i < cnt && len; i++) {
		uint64_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - off;
		if (take > len)
			take = len;
		if (n == max)
			return -E2BIG;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return len ? -EINVAL : (int)n;
}

static void done(struct blk_req *req, uint8_t status, const char *why)
{
	req->op = BLK_OP_DONE;
	req->status = status;
	req->why = why;
}

static bool range_ok(const struct blk_limits *lim, uint64_t sector, uint64_t sectors)
{
	uint64_t cap = __atomic_load_n(&lim->capacity, __ATOMIC_RELAXED);

	return sector <= cap && sectors <= cap - sector;
}

/* Data of a read or write: bytes [off, off + len) of the readable (out) or
 * writable part. */
static void parse_rw(const struct virtq_elem *elem, const struct blk_limits *lim,
		     struct iovec *iov, uint32_t max_iov, bool write, uint64_t off, uint64_t len,
		     struct blk_req *req)
{
	const struct iovec *src = write ? elem->iov : virtq_elem_in_iov(elem);
	uint32_t cnt = write ? elem->out_num : elem->in_num;
	uint32_t i;
	int n;

	req->len = len;
	if (len % BLK_SECTOR_SIZE)
		return done(req, VIRTIO_BLK_S_IOERR, "length not a multiple of 512");
	if (!range_ok(lim, req->sector, len >> BLK_SECTOR_SHIFT))
		return done(req, VIRTIO_BLK_S_IOERR, "sectors past the capacity");
	if (write && lim->readonly)
		return done(req, VIRTIO_BLK_S_IOERR, "write to a read-only device");
	if (len == 0)
		return done(req, VIRTIO_BLK_S_OK, NULL);
	n = blk_iov_slice(src, cnt, off, len, iov, max_iov < lim->seg_max ? max_iov : lim->seg_max);
	if (n < 0)
		return done(req, VIRTIO_BLK_S_IOERR, "more segments than seg_max");
	for (i = 0; i < (uint32_t)n; i++)
		if (iov[i].iov_len > lim->size_max)
			return done(req, VIRTIO_BLK_S_IOERR, "a segment larger than size_max");
	req->niov = (uint32_t)n;
	req->op = write ? BLK_OP_WRITE : BLK_OP_READ;
}

/* DISCARD and WRITE_ZEROES: an array of ranges after the header. */
static void parse_ranges(const struct virtq_elem *elem, const struct blk_limits *lim, bool zeroes,
			 struct blk_req *req)
{
	struct virtio_blk_discard_write_zeroes r;
	uint64_t bytes = elem->out_len - sizeof(struct virtio_blk_outhdr);
	uint32_t max_seg = zeroes ? lim->max_write_zeroes_seg : lim->max_discard_seg;
	uint32_t max_sectors = zeroes ? lim->max_write_zeroes_sectors : lim->max_discard_sectors;
	uint32_t flags, sectors;

	if (!(zeroes ? lim->write_zeroes : lim->discard))
		return done(req, VIRTIO_BLK_S_UNSUPP, "not negotiated");
	if (bytes == 0 || bytes % sizeof(r) || bytes / sizeof(r) > max_seg)
		return done(req, VIRTIO_BLK_S_IOERR, "bad range count");
	if (lim->readonly)
		return done(req, VIRTIO_BLK_S_IOERR, "write to a read-only device");
	/* max_seg is 1: one range. */
	if (virtq_elem_read(elem, sizeof(struct virtio_blk_outhdr), &r, sizeof(r)) != sizeof(r))
		return done(req, VIRTIO_BLK_S_IOERR, "short range");
	flags = le32toh(r.flags);
	sectors = le32toh(r.num_sectors);
	req->sector = le64toh(r.sector);
	if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
	    (!zeroes && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)))
		return done(req, VIRTIO_BLK_S_UNSUPP, "unsupported range flags");
	if (sectors > max_sectors)
		return done(req, VIRTIO_BLK_S_IOERR, "range longer than the limit");
	if (!range_ok(lim, req->sector, sectors))
		return done(req, VIRTIO_BLK_S_IOERR, "sectors past the capacity");
	req->len = (uint64_t)sectors << BLK_SECTOR_SHIFT;
	req->unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	if (req->len == 0)
		return done(req, VIRTIO_BLK_S_OK, NULL);
	req->op = zeroes ? BLK_OP_WRITE_ZEROES : BLK_OP_DISCARD;
}

void blk_req_parse(const struct virtq_elem *elem, const struct blk_limits *lim,
		   struct iovec *iov, uint32_t max_iov, struct blk_req *req)
{
	struct virtio_blk_outhdr hdr;
	uint32_t type;
	int n;

	memset(req, 0, sizeof(*req));
	if (elem->in_len == 0) {
		req->has_status = false;
		return done(req, VIRTIO_BLK_S_IOERR, "no device-writable status byte");
	}
	req->has_status = true;
	req->status_off = elem->in_len - 1;
	if (elem->out_len < sizeof(hdr) ||
	    virtq_elem_read(elem, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return done(req, VIRTIO_BLK_S_IOERR, "no request header");
	type = le32toh(hdr.type);
	req->type = (uint8_t)type;
	req->sector = le64toh(hdr.sector);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return parse_rw(elem, lim, iov, max_iov, false, 0, elem->in_len - 1, req);
	case VIRTIO_BLK_T_OUT:
		return parse_rw(elem, lim, iov, max_iov, true, sizeof(hdr),
				elem->out_len - sizeof(hdr), req);
	case VIRTIO_BLK_T_FLUSH:
		req->op = BLK_OP_FLUSH;
		return;
	case VIRTIO_BLK_T_GET_ID:
		req->len = elem->in_len - 1 < BLK_ID_BYTES ? elem->in_len - 1 : BLK_ID_BYTES;
		n = blk_iov_slice(virtq_elem_in_iov(elem), elem->in_num, 0, req->len, iov, max_iov);
		if (n < 0)
			return done(req, VIRTIO_BLK_S_IOERR, "id buffer in too many segments");
		req->niov = (uint32_t)n;
		req->op = BLK_OP_GET_ID;
		return;
	case VIRTIO_BLK_T_DISCARD:
		return parse_ranges(elem, lim, false, req);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_ranges(elem, lim, true, req);
	default:
		return done(req, VIRTIO_BLK_S_UNSUPP, "unsupported request type");
	}
}
