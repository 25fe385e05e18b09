/* Device side of a virtio split virtqueue (virtio 1.x, section 2.7): takes
 * descriptor chains the driver made available, returns them through the used
 * ring, and decides when the driver needs a notification. Shared by the
 * emulated device models, the loopback test backend and the live-migration
 * relays; each supplies how guest addresses become host pointers.
 *
 * Everything in guest memory is untrusted. Descriptors are copied once into
 * local storage, then validated, then used; they are never read again. Any
 * malformed input marks the queue broken: it stops processing until the next
 * virtq_setup(), and virtq_error()/virtq_error_reason() say why. Errors are
 * negative errno values.
 *
 * A struct virtq is used by one thread at a time (the engine or relay thread
 * that owns the queue); the library takes no locks and allocates nothing.
 * Rings are little-endian (virtio 1.x; legacy devices on little-endian hosts
 * have the same layout). */
#ifndef UVDPA_VIRTQ_H
#define UVDPA_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_ring.h>

#include "virtio/virtq_inflight.h"

#define VIRTQ_MAX_SIZE 32768u
/* Most iovecs one chain may produce (a descriptor crossing a region boundary
 * produces several). Chains needing more break the queue with -E2BIG. */
#define VIRTQ_MAX_IOV 1024u
/* Most chains virtq_unpop() gives back at once. */
#define VIRTQ_UNPOP_MAX 64u

/* Translates [addr, addr + len) in the device's view of guest memory (GPA or
 * IOVA). Returns the host pointer for addr and sets *contig to the bytes
 * contiguous from there (1..len; fewer than len means the range continues in
 * another host mapping and the caller asks again for the rest). NULL when
 * addr is not mapped, or not writable when write is true. */
typedef void *(*virtq_translate_fn)(void *opaque, uint64_t addr, uint64_t len, bool write,
				    uint64_t *contig);
/* A hint that the device will soon read (or, write true, write) guest
 * memory at addr: the callee may bring it into the cache. It must not fail,
 * count a fault or block; an unmapped addr is ignored. */
typedef void (*virtq_prefetch_fn)(void *opaque, uint64_t addr, bool write);
/* Dirty logging for live migration: called after the device wrote
 * [addr, addr + len) of guest memory (buffers and used ring). */
typedef void (*virtq_log_fn)(void *opaque, uint64_t addr, uint64_t len);

struct virtq_config {
	uint16_t size;			/* power of two, 1..VIRTQ_MAX_SIZE */
	uint64_t features;		/* negotiated: VIRTIO_RING_F_INDIRECT_DESC,
					 * VIRTIO_RING_F_EVENT_IDX, VIRTIO_F_VERSION_1 */
	uint64_t desc_addr, avail_addr, used_addr;
	virtq_translate_fn translate;	/* buffers and indirect tables (required) */
	/* The three rings, translated once here. NULL: use translate. (vhost-user
	 * gives ring addresses in the frontend's virtual address space.) */
	virtq_translate_fn ring_translate;
	virtq_log_fn log;		/* NULL: no dirty logging; see virtq_set_log() */
	/* NULL: none. Else virtq_pop() asks for the descriptors and the first
	 * buffer of chains a few entries ahead, so that their cache misses
	 * overlap the work on the current one. */
	virtq_prefetch_fn prefetch;
	void *opaque;			/* passed to translate, ring_translate, log, prefetch */
	/* Address logged for used-ring writes when it differs from used_addr
	 * (vhost-user's log_guest_addr). */
	bool has_used_log_addr;
	uint64_t used_log_addr;
};

/* Why a queue broke. */
enum virtq_error {
	VIRTQ_OK = 0,
	VIRTQ_ERR_AVAIL_IDX,		/* avail idx moved more than size past last_avail */
	VIRTQ_ERR_HEAD_RANGE,		/* head index from the avail ring >= size */
	VIRTQ_ERR_NEXT_RANGE,		/* next index >= table size */
	VIRTQ_ERR_LOOP,			/* chain longer than its table: a loop */
	VIRTQ_ERR_DESC_FAULT,		/* buffer not mapped (or not writable), or wraps */
	VIRTQ_ERR_ORDER,		/* device-readable descriptor after a writable one */
	VIRTQ_ERR_INDIRECT_FEATURE,	/* INDIRECT flag without VIRTIO_RING_F_INDIRECT_DESC */
	VIRTQ_ERR_INDIRECT_NEXT,	/* INDIRECT together with NEXT */
	VIRTQ_ERR_INDIRECT_NESTED,	/* INDIRECT inside an indirect table */
	VIRTQ_ERR_INDIRECT_LEN,		/* table length 0, not a multiple of 16, or > size * 16 */
	VIRTQ_ERR_INDIRECT_FAULT,	/* indirect table not mapped over its whole length */
	VIRTQ_ERR_TOO_MANY_IOV,		/* chain needs more iovecs than the element holds */
};

/* All fields are the library's; read them through the accessors below. */
struct virtq {
	uint16_t size;
	uint64_t features;
	bool event_idx, indirect_desc, version_1;

	uint64_t desc_addr, avail_addr, used_addr, used_log_addr;
	struct vring_desc *desc;	/* host mappings of the rings */
	struct vring_avail *avail;
	struct vring_used *used;

	virtq_translate_fn translate;
	virtq_log_fn log;
	virtq_prefetch_fn prefetch;
	void *opaque;

	uint16_t last_avail_idx;	/* next avail entry to take */
	uint16_t shadow_avail_idx;	/* avail idx last read (validated) */
	uint16_t used_idx;		/* used idx last published */
	uint16_t used_pending;		/* entries written after used_idx, not published */
	/* The heads of the last chains taken from the avail ring, for
	 * virtq_unpop(): unpoppable of them, the newest at
	 * recent[(last_avail_idx - 1) % VIRTQ_UNPOP_MAX]. */
	uint16_t unpoppable;
	uint16_t recent[VIRTQ_UNPOP_MAX];
	uint16_t signalled_used;	/* used idx at the last notification decision */
	bool signalled_used_valid;
	bool notify_enabled;		/* device wants available-buffer notifications */
	uint16_t used_flags;		/* shadow of used->flags */

	/* Inflight tracking (virtq_set_inflight), NULL when off. */
	struct virtq_inflight_region *inflight;
	uint64_t inflight_counter;	/* counter of the chain taken last */
	uint64_t resubmit_after;	/* resubmitted so far: counters up to this */
	uint16_t resubmit_left;		/* chains still to hand out again */

	bool ready;			/* virtq_setup() succeeded */
	bool broken;
	int error;			/* negative errno that broke the queue */
	enum virtq_error reason;
	uint16_t err_head;		/* chain head being walked when it broke */
	/* The descriptor's index in its table; the table length for
	 * INDIRECT_LEN, the head for HEAD_RANGE, the avail idx for AVAIL_IDX,
	 * the bad next for NEXT_RANGE. */
	uint32_t err_value;
};

/* One descriptor chain taken from the ring. The caller provides the iovec and
 * address arrays (virtq_elem_init); pop fills readable buffers first:
 * iov[0 .. out_num) device-readable, iov[out_num .. out_num + in_num)
 * device-writable. addr[i] is the guest address of iov[i]. */
struct virtq_elem {
	uint16_t head;			/* id to give back to virtq_push() */
	uint32_t ndesc;			/* descriptors walked (incl. indirect pointers) */
	uint32_t out_num, in_num;
	uint64_t out_len, in_len;	/* bytes readable / writable */
	uint32_t max_iov;
	struct iovec *iov;
	uint64_t *addr;
};

/* An element with room for VIRTQ_MAX_IOV iovecs (about 24 KiB: allocate it,
 * don't put it on a small stack). */
struct virtq_elem_buf {
	struct virtq_elem elem;
	struct iovec iov[VIRTQ_MAX_IOV];
	uint64_t addr[VIRTQ_MAX_IOV];
};

/* ---- Setup and state ---- */

/* Validates cfg and translates the three rings, each of which must be
 * contiguous in host memory (else -EFAULT) and aligned as the spec requires
 * (desc 16, avail 2, used 4; else -EINVAL). -EINVAL also for a size that is
 * not a power of two in 1..32768 or a missing translate. Resets the ring
 * state to 0/0 and clears any error. Nothing is written to guest memory. */
int virtq_setup(struct virtq *vq, const struct virtq_config *cfg);
/* Sets the ring state (SET_VRING_BASE, migration, reconnect). Pending
 * unpublished used entries are dropped. The next virtq_should_notify()
 * returns true.
 *
 * Starting a queue: virtq_setup(), virtq_set_base(), then
 * virtq_enable_notify() (it writes avail_event or clears a stale NO_NOTIFY
 * flag left by an earlier session) and process what it reports. */
void virtq_set_base(struct virtq *vq, uint16_t last_avail_idx, uint16_t used_idx);
void virtq_get_base(const struct virtq *vq, uint16_t *last_avail_idx, uint16_t *used_idx);
/* The used idx as found in guest memory (reconnect after a lost state);
 * 0 before a successful setup. */
uint16_t virtq_read_used_idx(const struct virtq *vq);
/* Changes the dirty-log callback (LOG_ALL toggled), from the owning thread. */
void virtq_set_log(struct virtq *vq, virtq_log_fn log, bool has_used_log_addr,
		   uint64_t used_log_addr);

bool virtq_is_broken(const struct virtq *vq);
int virtq_error(const struct virtq *vq);	/* 0 or the errno that broke it */
enum virtq_error virtq_error_reason(const struct virtq *vq);
const char *virtq_strerror(enum virtq_error reason);
/* "<reason> (head H, value V)" into buf, for the caller's log line. */
void virtq_format_error(const struct virtq *vq, char *buf, size_t len);

/* ---- Inflight tracking (crash recovery) ---- */

/* Keeps region (the layout of virtio/virtq_inflight.h, desc_num >= size) up
 * to date from now on: a chain taken is marked in flight before pop returns
 * it, and unmarked once its used entry is published. Call it after
 * virtq_set_base() with the used idx the driver sees; it first resumes from
 * what region holds: chains marked in flight that the used ring has not
 * returned (those returned after region->used_idx are unmarked) are handed
 * out again by virtq_pop(), before any new chain, in the order they were
 * first taken, and last_avail becomes used + their number. Returns that
 * number, or -EINVAL (region left alone, tracking off) when the region is
 * not for this queue or claims more chains than the driver made available.
 * The region is the frontend's memory: nothing in it is trusted beyond
 * those bounds. NULL turns tracking off. */
int virtq_set_inflight(struct virtq *vq, struct virtq_inflight_region *region);

/* ---- Taking chains ---- */

/* Buffers available to take: 0 when none or when the queue is (or becomes)
 * broken by an avail idx that moved too far. */
uint16_t virtq_avail_count(struct virtq *vq);

void virtq_elem_init(struct virtq_elem *elem, struct iovec *iov, uint64_t *addr, uint32_t max_iov);
static inline void virtq_elem_buf_init(struct virtq_elem_buf *b)
{
	virtq_elem_init(&b->elem, b->iov, b->addr, VIRTQ_MAX_IOV);
}
static inline struct iovec *virtq_elem_in_iov(const struct virtq_elem *elem)
{
	return elem->iov + elem->out_num;
}
static inline const uint64_t *virtq_elem_in_addr(const struct virtq_elem *elem)
{
	return elem->addr + elem->out_num;
}

/* Takes the next available chain into elem. Returns 0, -EAGAIN when nothing
 * is available, -EIO when the queue was already broken, -EINVAL when elem has
 * no storage (the queue is not broken then), or the error that broke the
 * queue now (see enum virtq_error): -EINVAL for format errors, -ELOOP,
 * -EFAULT, -E2BIG. An element with room for fewer than VIRTQ_MAX_IOV iovecs
 * that a chain does not fit gets -ENOBUFS instead of -E2BIG: the queue is
 * not broken and the chain stays next (take it with a full element). On
 * error last_avail_idx does not move and elem is undefined. With EVENT_IDX
 * and notifications enabled, avail_event follows last_avail_idx. */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem);
/* Gives back the last n chains virtq_pop() took from the avail ring (not
 * resubmitted ones), newest first, as if never taken: none of them may have
 * been pushed. For a device that takes a burst of chains and finds it
 * cannot use them all. 0, or -EINVAL (nothing changed) when n exceeds what
 * can be given back (at most VIRTQ_UNPOP_MAX; none after set_base, setup
 * or a resubmission). */
int virtq_unpop(struct virtq *vq, uint16_t n);
/* Walks the chain at head without touching the ring indices (the SW
 * live-migration relay uses it to log the buffers of completed chains). Same
 * validation and errors as virtq_pop; also -EINVAL, queue broken, for
 * head >= size. */
int virtq_read_chain(struct virtq *vq, uint16_t head, struct virtq_elem *elem);

/* ---- Returning chains ---- */

/* Writes a used element after any pending ones; the driver sees it only at
 * virtq_push_commit(). -EINVAL for head >= size, -ENOSPC when size entries
 * are already pending, -EIO on a broken queue. */
int virtq_push_pending(struct virtq *vq, uint16_t head, uint32_t written_len);
/* Publishes pending entries: release ordering, then used idx; logs the idx. */
void virtq_push_commit(struct virtq *vq);
/* Publishes only the first n pending entries (at most those pending); the
 * rest stay pending (a merged frame not yet complete). */
void virtq_push_commit_n(struct virtq *vq, uint16_t n);
/* virtq_push_pending() + virtq_push_commit(). */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t written_len);

/* After a commit: must the driver be notified (interrupt / callfd)? Honours
 * VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX. Returns true the
 * first time after setup/set_base, false when nothing was published since
 * the previous call. Contains the full barrier the protocol needs. */
bool virtq_should_notify(struct virtq *vq);

/* Available-buffer notifications (kicks). Disabling is a hint (the driver
 * may still kick). Enabling returns true when buffers are already available:
 * no kick will come for those, so the caller must process them. */
void virtq_disable_notify(struct virtq *vq);
bool virtq_enable_notify(struct virtq *vq);

/* ---- Data helpers ---- */

/* Copy between a buffer and an iovec array, starting offset bytes into the
 * iovecs. Return the bytes copied (short when the iovecs end first). No
 * logging: for device-readable data or private memory. */
size_t virtq_iov_to_buf(const struct iovec *iov, uint32_t iov_cnt, size_t offset, void *buf,
			size_t len);
size_t virtq_buf_to_iov(const struct iovec *iov, uint32_t iov_cnt, size_t offset, const void *buf,
			size_t len);

/* Reads from the device-readable part of a chain. */
size_t virtq_elem_read(const struct virtq_elem *elem, size_t offset, void *buf, size_t len);
/* Writes into the device-writable part of a chain and logs what it wrote. */
size_t virtq_elem_write(struct virtq *vq, const struct virtq_elem *elem, size_t offset,
			const void *buf, size_t len);
/* Logs bytes [offset, offset + len) of the writable part, written by the
 * caller directly through the iovecs (readv, io_uring). Clamped to in_len. */
void virtq_elem_log_write(struct virtq *vq, const struct virtq_elem *elem, size_t offset,
			  size_t len);

#endif
