/* The emulated IFCVF's blk device type, private to ifcvf_blk.c (config,
 * queues, io_uring backend, run-time API) and ifcvf_blk_req.c (turning one
 * descriptor chain into a checked request, with no I/O, so that it is unit
 * tested on its own). */
#ifndef UVDPA_MODELS_IFCVF_BLK_H
#define UVDPA_MODELS_IFCVF_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/virtq.h"

#define BLK_SECTOR_SIZE 512u
#define BLK_SECTOR_SHIFT 9
#define BLK_ID_BYTES 20u		/* VIRTIO_BLK_ID_BYTES */
#define BLK_SEG_MAX 126u		/* data segments per request (queue size 128 - 2) */
#define BLK_SIZE_MAX (1u << 20)		/* bytes per data segment */
#define BLK_MAX_DISCARD_SECTORS (1u << 22)	/* 2 GiB per range */
#define BLK_MAX_DISCARD_SEG 1u

/* What the device accepts, fixed while a queue runs except capacity. */
struct blk_limits {
	uint64_t capacity;		/* sectors */
	uint32_t seg_max, size_max;
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	bool readonly;
	bool discard, write_zeroes;	/* negotiated */
};

enum blk_op {
	BLK_OP_DONE,		/* nothing to do: complete with req.status */
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_GET_ID,
	BLK_OP_DISCARD,		/* punch a hole */
	BLK_OP_WRITE_ZEROES,	/* unmap: may punch; else zero the range */
};

/* One request, checked against the limits. */
struct blk_req {
	enum blk_op op;
	uint8_t type;			/* VIRTIO_BLK_T_* low byte, for counters */
	uint8_t status;			/* for BLK_OP_DONE: VIRTIO_BLK_S_IOERR/UNSUPP */
	bool has_status;		/* false: no device-writable byte for the status */
	uint64_t status_off;		/* offset of the status byte in the writable part */
	uint64_t sector;
	uint64_t len;			/* bytes: data (read, write, get_id) or range */
	bool unmap;			/* write zeroes may deallocate */
	uint32_t niov;			/* data iovecs (read, write, get_id) */
	const char *why;		/* for BLK_OP_DONE with an error: a short reason */
};

/* Parses elem (header in the readable part, status in the last writable
 * byte) into req; the data iovecs go to iov (room for max_iov). Never
 * touches guest memory beyond reading the header and discard ranges. */
void blk_req_parse(const struct virtq_elem *elem, const struct blk_limits *lim,
		   struct iovec *iov, uint32_t max_iov, struct blk_req *req);

/* The iovecs covering bytes [off, off + len) of iov[0 .. cnt): at most max
 * of them into out. Returns their number, or -E2BIG when more are needed
 * (or -EINVAL when iov is shorter than off + len). */
int blk_iov_slice(const struct iovec *iov, uint32_t cnt, uint64_t off, uint64_t len,
		  struct iovec *out, uint32_t max);

#endif
