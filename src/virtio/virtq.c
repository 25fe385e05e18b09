/* Split virtqueue, device side: ring setup, taking and validating descriptor
 * chains, publishing used entries, and both directions of notification
 * suppression. The data copy helpers live in virtq_iov.c. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "virtio/virtq.h"
#include "virtio/virtq_internal.h"

#define DESC_SIZE ((uint64_t)sizeof(struct vring_desc))

/* ---- Guest ring accessors. Each ring field is read or written once, with
 * an atomic access so the compiler can neither tear nor repeat it. ---- */

static inline uint16_t *avail_field(const struct virtq *vq, uint32_t i)
{
	/* 0 flags, 1 idx, 2.. ring, 2 + size used_event */
	return (uint16_t *)(void *)vq->avail + i;
}

static inline uint16_t load_avail_idx_acquire(const struct virtq *vq)
{
	/* Acquire: ring entries and descriptors are read after the index. */
	return le16toh(__atomic_load_n(avail_field(vq, 1), __ATOMIC_ACQUIRE));
}

static inline uint16_t load_avail_flags(const struct virtq *vq)
{
	return le16toh(__atomic_load_n(avail_field(vq, 0), __ATOMIC_RELAXED));
}

static inline uint16_t load_avail_ring(const struct virtq *vq, uint16_t slot)
{
	return le16toh(__atomic_load_n(avail_field(vq, 2u + slot), __ATOMIC_RELAXED));
}

static inline uint16_t load_used_event(const struct virtq *vq)
{
	return le16toh(__atomic_load_n(avail_field(vq, 2u + vq->size), __ATOMIC_RELAXED));
}

static inline uint8_t *used_bytes(const struct virtq *vq)
{
	return (uint8_t *)(void *)vq->used;
}

static inline uint16_t *used_flags_ptr(const struct virtq *vq)
{
	return (uint16_t *)(void *)used_bytes(vq);
}

static inline uint16_t *used_idx_ptr(const struct virtq *vq)
{
	return (uint16_t *)(void *)(used_bytes(vq) + 2);
}

static inline uint32_t *used_elem_ptr(const struct virtq *vq, uint16_t slot)
{
	return (uint32_t *)(void *)(used_bytes(vq) + VIRTQ_USED_RING_OFF + (uint64_t)slot * 8);
}

static inline uint16_t *avail_event_ptr(const struct virtq *vq)
{
	return (uint16_t *)(void *)(used_bytes(vq) + VIRTQ_USED_RING_OFF + (uint64_t)vq->size * 8);
}

/* Logs used-ring bytes [off, off + len) after they were written. */
static void log_used(struct virtq *vq, uint64_t off, uint64_t len)
{
	if (!vq->log)
		return;
	/* The bytes must be visible before the page is reported dirty. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->log(vq->opaque, vq->used_log_addr + off, len);
}

/* ---- Errors ---- */

static const char *const error_names[] = {
	[VIRTQ_OK] = "no error",
	[VIRTQ_ERR_AVAIL_IDX] = "avail idx moved more than the queue size",
	[VIRTQ_ERR_HEAD_RANGE] = "chain head index out of range",
	[VIRTQ_ERR_NEXT_RANGE] = "descriptor next index out of range",
	[VIRTQ_ERR_LOOP] = "descriptor chain loops",
	[VIRTQ_ERR_DESC_FAULT] = "buffer address not mapped",
	[VIRTQ_ERR_ORDER] = "device-readable descriptor after a device-writable one",
	[VIRTQ_ERR_INDIRECT_FEATURE] = "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC",
	[VIRTQ_ERR_INDIRECT_NEXT] = "indirect descriptor with NEXT set",
	[VIRTQ_ERR_INDIRECT_NESTED] = "indirect descriptor inside an indirect table",
	[VIRTQ_ERR_INDIRECT_LEN] = "bad indirect table length",
	[VIRTQ_ERR_INDIRECT_FAULT] = "indirect table not mapped",
	[VIRTQ_ERR_TOO_MANY_IOV] = "chain needs too many iovecs",
};

const char *virtq_strerror(enum virtq_error reason)
{
	if ((unsigned int)reason >= sizeof(error_names) / sizeof(error_names[0]))
		return "unknown error";
	return error_names[reason];
}

static int virtq_break(struct virtq *vq, int err, enum virtq_error reason, uint16_t head,
		       uint32_t value)
{
	vq->broken = true;
	vq->error = err;
	vq->reason = reason;
	vq->err_head = head;
	vq->err_value = value;
	return err;
}

bool virtq_is_broken(const struct virtq *vq)
{
	return vq->broken;
}

int virtq_error(const struct virtq *vq)
{
	return vq->broken ? vq->error : 0;
}

enum virtq_error virtq_error_reason(const struct virtq *vq)
{
	return vq->broken ? vq->reason : VIRTQ_OK;
}

void virtq_format_error(const struct virtq *vq, char *buf, size_t len)
{
	if (!len)
		return;
	if (!vq->broken)
		snprintf(buf, len, "%s", virtq_strerror(VIRTQ_OK));
	else
		snprintf(buf, len, "%s (head %u, value %u)", virtq_strerror(vq->reason),
			 (unsigned int)vq->err_head, (unsigned int)vq->err_value);
}

/* ---- Setup ---- */

/* Translates one ring: it must be mapped and contiguous over its length. */
static void *translate_ring(const struct virtq_config *cfg, uint64_t addr, uint64_t len,
			    bool write, uint64_t align)
{
	virtq_translate_fn fn = cfg->ring_translate ? cfg->ring_translate : cfg->translate;
	uint64_t contig = 0;
	void *p;

	if (addr > UINT64_MAX - (len - 1))
		return NULL;
	p = fn(cfg->opaque, addr, len, write, &contig);
	if (!p || contig < len || ((uintptr_t)p & (align - 1)))
		return NULL;
	return p;
}

int virtq_setup(struct virtq *vq, const struct virtq_config *cfg)
{
	uint64_t desc_len, avail_len, used_len;
	bool event_idx;
	void *desc, *avail, *used;

	memset(vq, 0, sizeof(*vq));
	if (!cfg->translate || cfg->size == 0 || cfg->size > VIRTQ_MAX_SIZE ||
	    (cfg->size & (cfg->size - 1)))
		return -EINVAL;
	if ((cfg->desc_addr & (VRING_DESC_ALIGN_SIZE - 1)) ||
	    (cfg->avail_addr & (VRING_AVAIL_ALIGN_SIZE - 1)) ||
	    (cfg->used_addr & (VRING_USED_ALIGN_SIZE - 1)))
		return -EINVAL;

	event_idx = cfg->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	desc_len = DESC_SIZE * cfg->size;
	avail_len = virtq_avail_ring_len(cfg->size, event_idx);
	used_len = virtq_used_ring_len(cfg->size, event_idx);

	/* Host alignment is checked too: the rings are accessed with atomics. */
	desc = translate_ring(cfg, cfg->desc_addr, desc_len, false, 1);
	avail = translate_ring(cfg, cfg->avail_addr, avail_len, false, VRING_AVAIL_ALIGN_SIZE);
	used = translate_ring(cfg, cfg->used_addr, used_len, true, VRING_USED_ALIGN_SIZE);
	if (!desc || !avail || !used)
		return -EFAULT;

	vq->size = cfg->size;
	vq->features = cfg->features;
	vq->event_idx = event_idx;
	vq->indirect_desc = cfg->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	vq->version_1 = cfg->features & (1ull << VIRTIO_F_VERSION_1);
	vq->desc_addr = cfg->desc_addr;
	vq->avail_addr = cfg->avail_addr;
	vq->used_addr = cfg->used_addr;
	vq->used_log_addr = cfg->has_used_log_addr ? cfg->used_log_addr : cfg->used_addr;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->translate = cfg->translate;
	vq->log = cfg->log;
	vq->prefetch = cfg->prefetch;
	vq->opaque = cfg->opaque;
	vq->notify_enabled = true;
	vq->used_flags = le16toh(__atomic_load_n(used_flags_ptr(vq), __ATOMIC_RELAXED));
	vq->ready = true;
	return 0;
}

void virtq_set_base(struct virtq *vq, uint16_t last_avail_idx, uint16_t used_idx)
{
	vq->unpoppable = 0;
	vq->last_avail_idx = last_avail_idx;
	vq->shadow_avail_idx = last_avail_idx;
	vq->used_idx = used_idx;
	vq->used_pending = 0;
	vq->signalled_used_valid = false;
}

void virtq_get_base(const struct virtq *vq, uint16_t *last_avail_idx, uint16_t *used_idx)
{
	*last_avail_idx = vq->last_avail_idx;
	*used_idx = vq->used_idx;
}

uint16_t virtq_read_used_idx(const struct virtq *vq)
{
	if (!vq->ready)
		return 0;
	return le16toh(__atomic_load_n(used_idx_ptr(vq), __ATOMIC_ACQUIRE));
}

void virtq_set_log(struct virtq *vq, virtq_log_fn log, bool has_used_log_addr,
		   uint64_t used_log_addr)
{
	vq->log = log;
	vq->used_log_addr = has_used_log_addr ? used_log_addr : vq->used_addr;
}

/* ---- Taking chains ---- */

/* Prefetch distances, in chains: descriptors are asked for first, their
 * buffers once the descriptor had time to arrive. */
#define PREFETCH_DESC_AHEAD 8u
#define PREFETCH_BUF_AHEAD 4u

/* The chain head at avail entry last_avail_idx + ahead, or -1 when that
 * entry is not known to be available or names no descriptor. */
static int head_ahead(const struct virtq *vq, uint16_t ahead)
{
	uint16_t head;

	if ((uint16_t)(vq->shadow_avail_idx - vq->last_avail_idx) <= ahead)
		return -1;
	head = load_avail_ring(vq, (uint16_t)(vq->last_avail_idx + ahead) & (vq->size - 1));
	return head < vq->size ? head : -1;
}

/* Prefetches for the chains after the one just taken. What is read here is
 * a hint only: the descriptor copied below decides nothing but an address
 * to prefetch; the chain is read and validated when it is taken. */
static void prefetch_ahead(struct virtq *vq)
{
	struct vring_desc d;
	int head;

	head = head_ahead(vq, PREFETCH_DESC_AHEAD);
	if (head >= 0)
		__builtin_prefetch(&vq->desc[head]);
	head = head_ahead(vq, PREFETCH_BUF_AHEAD);
	if (head < 0)
		return;
	memcpy(&d, &vq->desc[head], sizeof(d));
	if (!(le16toh(d.flags) & VRING_DESC_F_INDIRECT))
		vq->prefetch(vq->opaque, le64toh(d.addr), le16toh(d.flags) & VRING_DESC_F_WRITE);
}

/* New entries were found available: their first descriptors are asked
 * for at once (prefetch_ahead keeps ahead of the walk from there). */
static void prefetch_new(struct virtq *vq, uint16_t count)
{
	uint16_t n = count < PREFETCH_DESC_AHEAD ? count : PREFETCH_DESC_AHEAD;

	for (uint16_t i = 0; i < n; i++) {
		uint16_t head = load_avail_ring(vq, (uint16_t)(vq->last_avail_idx + i) & (vq->size - 1));

		if (head < vq->size)
			__builtin_prefetch(&vq->desc[head]);
	}
}

uint16_t virtq_avail_count(struct virtq *vq)
{
	uint16_t idx, count;

	if (!vq->ready || vq->broken)
		return 0;
	count = (uint16_t)(vq->shadow_avail_idx - vq->last_avail_idx);
	if (count)
		return count;
	idx = load_avail_idx_acquire(vq);
	count = (uint16_t)(idx - vq->last_avail_idx);
	if (count > vq->size) {
		virtq_break(vq, -EINVAL, VIRTQ_ERR_AVAIL_IDX, 0, idx);
		return 0;
	}
	vq->shadow_avail_idx = idx;
	if (vq->prefetch && count)
		prefetch_new(vq, count);
	return count;
}

void virtq_elem_init(struct virtq_elem *elem, struct iovec *iov, uint64_t *addr, uint32_t max_iov)
{
	memset(elem, 0, sizeof(*elem));
	elem->iov = iov;
	elem->addr = addr;
	elem->max_iov = max_iov > VIRTQ_MAX_IOV ? VIRTQ_MAX_IOV : max_iov;
}

/* Where the descriptors of the table being walked come from. */
struct desc_table {
	const uint8_t *host;	/* contiguous host mapping, or NULL: read piecewise */
	uint64_t addr;		/* guest address of the table */
	uint32_t num;		/* entries */
};

/* Copies guest bytes [addr, addr + len) that may span host mappings. */
static int copy_from_guest(struct virtq *vq, uint64_t addr, void *dst, uint64_t len)
{
	uint8_t *out = dst;

	while (len) {
		uint64_t contig = 0;
		const void *p = vq->translate(vq->opaque, addr, len, false, &contig);

		if (!p || contig == 0)
			return -EFAULT;
		if (contig > len)
			contig = len;
		memcpy(out, p, contig);
		out += contig;
		addr += contig;
		len -= contig;
	}
	return 0;
}

/* Copies descriptor i of the table into *d: the one read of it. */
static int read_desc(struct virtq *vq, const struct desc_table *t, uint32_t i,
		     struct vring_desc *d)
{
	int rc = 0;

	if (t->host)
		memcpy(d, t->host + (uint64_t)i * DESC_SIZE, sizeof(*d));
	else
		rc = copy_from_guest(vq, t->addr + (uint64_t)i * DESC_SIZE, d, sizeof(*d));
	/* Compiler barrier: every later use of *d reads the local copy; the
	 * compiler may not drop the copy and load from guest memory again. */
	__asm__ __volatile__("" : : "r"(d) : "memory");
	return rc;
}

/* Checks that the whole indirect table is mapped, and finds out whether it is
 * contiguous in host memory (the common case: then it is read in place). */
static int map_indirect(struct virtq *vq, uint64_t addr, uint32_t len, struct desc_table *t)
{
	uint64_t off = 0;

	t->host = NULL;
	t->addr = addr;
	t->num = len / DESC_SIZE;
	if (addr > UINT64_MAX - (len - 1))
		return -EFAULT;
	while (off < len) {
		uint64_t contig = 0;
		const void *p = vq->translate(vq->opaque, addr + off, len - off, false, &contig);

		if (!p || contig == 0)
			return -EFAULT;
		if (off == 0 && contig >= len)
			t->host = p;
		off += contig < len - off ? contig : len - off;
	}
	return 0;
}

/* State of one chain walk. */
struct chain_walk {
	struct virtq *vq;
	struct virtq_elem *elem;
	uint16_t head;
	uint32_t idx;		/* table index of the descriptor being added */
	bool seen_writable;
};

/* Appends one validated buffer descriptor to the element. */
static int add_buffer(struct chain_walk *w, uint64_t addr, uint32_t len, bool writable)
{
	struct virtq_elem *elem = w->elem;
	uint64_t off = 0;

	if (!writable && w->seen_writable)
		return virtq_break(w->vq, -EINVAL, VIRTQ_ERR_ORDER, w->head, w->idx);
	w->seen_writable |= writable;
	if (len == 0)
		return 0;
	if (addr > UINT64_MAX - (len - 1))
		return virtq_break(w->vq, -EFAULT, VIRTQ_ERR_DESC_FAULT, w->head, w->idx);

	while (off < len) {
		uint32_t n = elem->out_num + elem->in_num;
		uint64_t contig = 0;
		void *p;

		if (n >= elem->max_iov) {
			/* A small element: the caller takes the chain again
			 * with a full one; not the driver's error. */
			if (elem->max_iov < VIRTQ_MAX_IOV)
				return -ENOBUFS;
			return virtq_break(w->vq, -E2BIG, VIRTQ_ERR_TOO_MANY_IOV, w->head, w->idx);
		}
		p = w->vq->translate(w->vq->opaque, addr + off, len - off, writable, &contig);
		if (!p || contig == 0)
			return virtq_break(w->vq, -EFAULT, VIRTQ_ERR_DESC_FAULT, w->head, w->idx);
		if (contig > len - off)
			contig = len - off;
		elem->iov[n].iov_base = p;
		elem->iov[n].iov_len = contig;
		elem->addr[n] = addr + off;
		if (writable)
			elem->in_num++;
		else
			elem->out_num++;
		off += contig;
	}
	if (writable)
		elem->in_len += len;
	else
		elem->out_len += len;
	return 0;
}

/* Walks the chain starting at head (already checked < size) into elem. */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_elem *elem)
{
	struct chain_walk w = { .vq = vq, .elem = elem, .head = head };
	struct desc_table table = { .host = (const uint8_t *)vq->desc, .addr = vq->desc_addr,
				    .num = vq->size };
	bool in_indirect = false;
	uint32_t idx = head, walked = 0;

	elem->head = head;
	elem->ndesc = 0;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;

	for (;;) {
		struct vring_desc d;
		uint16_t flags;
		uint32_t len;
		int rc;

		/* A chain can visit each entry of its table at most once. */
		if (++walked > table.num)
			return virtq_break(vq, -ELOOP, VIRTQ_ERR_LOOP, head, idx);
		if (read_desc(vq, &table, idx, &d) < 0)
			return virtq_break(vq, -EFAULT, VIRTQ_ERR_INDIRECT_FAULT, head, idx);
		elem->ndesc++;
		flags = le16toh(d.flags);
		len = le32toh(d.len);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (in_indirect)
				return virtq_break(vq, -EINVAL, VIRTQ_ERR_INDIRECT_NESTED, head, idx);
			if (!vq->indirect_desc)
				return virtq_break(vq, -EINVAL, VIRTQ_ERR_INDIRECT_FEATURE, head, idx);
			if (flags & VRING_DESC_F_NEXT)
				return virtq_break(vq, -EINVAL, VIRTQ_ERR_INDIRECT_NEXT, head, idx);
			if (len == 0 || len % DESC_SIZE || len / DESC_SIZE > vq->size)
				return virtq_break(vq, -EINVAL, VIRTQ_ERR_INDIRECT_LEN, head, len);
			if (map_indirect(vq, le64toh(d.addr), len, &table) < 0)
				return virtq_break(vq, -EFAULT, VIRTQ_ERR_INDIRECT_FAULT, head, idx);
			/* The WRITE flag of the pointer descriptor is ignored (spec). */
			in_indirect = true;
			idx = 0;
			walked = 0;
			continue;
		}

		w.idx = idx;
		rc = add_buffer(&w, le64toh(d.addr), len, flags & VRING_DESC_F_WRITE);
		if (rc < 0)
			return rc;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		idx = le16toh(d.next);
		if (idx >= table.num)
			return virtq_break(vq, -EINVAL, VIRTQ_ERR_NEXT_RANGE, head, idx);
	}
}

static bool elem_usable(const struct virtq_elem *elem)
{
	return elem && elem->iov && elem->addr && elem->max_iov > 0 &&
	       elem->max_iov <= VIRTQ_MAX_IOV;
}

static void write_avail_event(struct virtq *vq, uint16_t value)
{
	__atomic_store_n(avail_event_ptr(vq), htole16(value), __ATOMIC_RELAXED);
	log_used(vq, VIRTQ_USED_RING_OFF + (uint64_t)vq->size * 8, 2);
}

/* The chain marked in flight with the smallest counter above
 * resubmit_after, or -1. */
static int next_resubmit(const struct virtq *vq)
{
	uint64_t best = UINT64_MAX;
	int head = -1;

	for (uint16_t i = 0; i < vq->size; i++) {
		const struct virtq_inflight_desc *d = &vq->inflight->desc[i];
		uint64_t c = d->counter;

		if (__atomic_load_n(&d->inflight, __ATOMIC_RELAXED) && c > vq->resubmit_after &&
		    c < best) {
			best = c;
			head = i;
		}
	}
	return head;
}

static int pop_resubmit(struct virtq *vq, struct virtq_elem *elem)
{
	int head = next_resubmit(vq);

	if (head < 0) {
		vq->resubmit_left = 0;	/* the frontend changed the region meanwhile */
		return -EAGAIN;
	}
	vq->resubmit_left--;
	vq->unpoppable = 0;
	vq->resubmit_after = vq->inflight->desc[head].counter;
	return walk_chain(vq, (uint16_t)head, elem);
}

static void inflight_mark(struct virtq *vq, uint16_t head)
{
	struct virtq_inflight_desc *d = &vq->inflight->desc[head];

	d->counter = ++vq->inflight_counter;
	__atomic_store_n(&d->inflight, 1, __ATOMIC_RELEASE);
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
	uint16_t head;
	int rc;

	if (!vq->ready || vq->broken)
		return -EIO;
	if (!elem_usable(elem))
		return -EINVAL;
	if (vq->resubmit_left) {
		rc = pop_resubmit(vq, elem);
		if (rc != -EAGAIN)
			return rc;
	}
	if (virtq_avail_count(vq) == 0)
		return vq->broken ? vq->error : -EAGAIN;

	head = load_avail_ring(vq, vq->last_avail_idx & (vq->size - 1));
	if (head >= vq->size)
		return virtq_break(vq, -EINVAL, VIRTQ_ERR_HEAD_RANGE, head, head);
	rc = walk_chain(vq, head, elem);
	if (rc < 0)
		return rc;

	if (vq->inflight)
		inflight_mark(vq, head);
	vq->recent[vq->last_avail_idx % VIRTQ_UNPOP_MAX] = head;
	vq->last_avail_idx++;
	if (vq->unpoppable < VIRTQ_UNPOP_MAX)
		vq->unpoppable++;
	if (vq->event_idx && vq->notify_enabled)
		write_avail_event(vq, vq->last_avail_idx);
	if (vq->prefetch)
		prefetch_ahead(vq);
	return 0;
}

int virtq_unpop(struct virtq *vq, uint16_t n)
{
	if (!vq->ready || n > vq->unpoppable)
		return -EINVAL;
	for (uint16_t i = 0; i < n; i++) {
		vq->last_avail_idx--;
		vq->unpoppable--;
		if (vq->inflight) {
			uint16_t head = vq->recent[vq->last_avail_idx % VIRTQ_UNPOP_MAX];

			/* It was marked when taken, the newest mark: undone. */
			__atomic_store_n(&vq->inflight->desc[head].inflight, 0, __ATOMIC_RELAXED);
			vq->inflight_counter--;
		}
	}
	if (n && vq->event_idx && vq->notify_enabled)
		write_avail_event(vq, vq->last_avail_idx);
	return 0;
}

int virtq_read_chain(struct virtq *vq, uint16_t head, struct virtq_elem *elem)
{
	if (!vq->ready || vq->broken)
		return -EIO;
	if (!elem_usable(elem))
		return -EINVAL;
	if (head >= vq->size)
		return virtq_break(vq, -EINVAL, VIRTQ_ERR_HEAD_RANGE, head, head);
	return walk_chain(vq, head, elem);
}

/* ---- Returning chains ---- */

int virtq_push_pending(struct virtq *vq, uint16_t head, uint32_t written_len)
{
	uint16_t slot;
	uint32_t *e;

	if (!vq->ready || vq->broken)
		return -EIO;
	if (head >= vq->size)
		return -EINVAL;
	if (vq->used_pending >= vq->size)
		return -ENOSPC;
	slot = (uint16_t)(vq->used_idx + vq->used_pending) & (vq->size - 1);
	e = used_elem_ptr(vq, slot);
	__atomic_store_n(&e[0], htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&e[1], htole32(written_len), __ATOMIC_RELAXED);
	vq->used_pending++;
	log_used(vq, VIRTQ_USED_RING_OFF + (uint64_t)slot * 8, 8);
	return 0;
}

/* After used entries [from, to) are published: their chains are no longer
 * in flight, and the region says up to where it is current. */
static void inflight_unmark(struct virtq *vq, uint16_t from, uint16_t to)
{
	for (uint16_t i = from; i != to; i++) {
		uint32_t head = le32toh(used_elem_ptr(vq, i & (vq->size - 1))[0]);

		if (head < vq->size)
			__atomic_store_n(&vq->inflight->desc[head].inflight, 0, __ATOMIC_RELAXED);
	}
	/* The field is not naturally aligned for the compiler (a packed wire
	 * layout): a release fence, then a plain store. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->inflight->used_idx = to;
}

void virtq_push_commit_n(struct virtq *vq, uint16_t n)
{
	uint16_t new_idx, old_idx = vq->used_idx;

	if (n > vq->used_pending)
		n = vq->used_pending;
	if (!n)
		return;
	new_idx = (uint16_t)(vq->used_idx + n);
	/* Release: the entries (and the buffers they describe) first. */
	__atomic_store_n(used_idx_ptr(vq), htole16(new_idx), __ATOMIC_RELEASE);
	vq->used_idx = new_idx;
	vq->used_pending -= n;
	log_used(vq, 2, 2);
	if (vq->inflight)
		inflight_unmark(vq, old_idx, new_idx);
}

void virtq_push_commit(struct virtq *vq)
{
	virtq_push_commit_n(vq, vq->used_pending);
}

int virtq_set_inflight(struct virtq *vq, struct virtq_inflight_region *region)
{
	uint16_t used = vq->used_idx, avail, n = 0;
	uint64_t top = 0;

	vq->inflight = NULL;
	vq->resubmit_left = 0;
	if (!region)
		return 0;
	if (!vq->ready || region->desc_num < vq->size)
		return -EINVAL;
	/* Entries published after the region's used_idx: their chains are done
	 * even if the crash came before their flags were cleared. */
	if ((uint16_t)(used - region->used_idx) <= vq->size) {
		for (uint16_t i = region->used_idx; i != used; i++) {
			uint32_t head = le32toh(used_elem_ptr(vq, i & (vq->size - 1))[0]);

			if (head < vq->size)
				region->desc[head].inflight = 0;
		}
	}
	for (uint16_t i = 0; i < vq->size; i++) {
		if (region->desc[i].inflight) {
			n++;
			if (region->desc[i].counter > top)
				top = region->desc[i].counter;
		}
	}
	avail = le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
	if (n > (uint16_t)(avail - used))
		return -EINVAL;
	region->used_idx = used;
	vq->inflight = region;
	vq->inflight_counter = top;
	vq->resubmit_after = 0;
	vq->resubmit_left = n;
	vq->last_avail_idx = vq->shadow_avail_idx = (uint16_t)(used + n);
	vq->unpoppable = 0;
	return n;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t written_len)
{
	int rc = virtq_push_pending(vq, head, written_len);

	if (rc == 0)
		virtq_push_commit(vq);
	return rc;
}

/* The driver asked to be notified when the used idx moves past event:
 * true when event is in [old, new) modulo 2^16. */
static inline bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old_idx, new_idx;
	bool valid;

	if (!vq->ready)
		return false;
	/* Full barrier: our used idx store must be visible before we read the
	 * driver's suppression state, or both sides can go to sleep. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	old_idx = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new_idx = vq->used_idx;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	if (old_idx == new_idx)
		return false;
	if (!vq->event_idx)
		return !(load_avail_flags(vq) & VRING_AVAIL_F_NO_INTERRUPT);
	return need_event(load_used_event(vq), new_idx, old_idx);
}

static void set_used_flags(struct virtq *vq, uint16_t flags)
{
	if (vq->used_flags == flags)
		return;
	vq->used_flags = flags;
	__atomic_store_n(used_flags_ptr(vq), htole16(flags), __ATOMIC_RELAXED);
	log_used(vq, 0, 2);
}

void virtq_disable_notify(struct virtq *vq)
{
	if (!vq->ready)
		return;
	vq->notify_enabled = false;
	/* With EVENT_IDX the stale avail_event does the job: no write. */
	if (!vq->event_idx)
		set_used_flags(vq, vq->used_flags | VRING_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	vq->notify_enabled = true;
	if (vq->event_idx)
		write_avail_event(vq, vq->last_avail_idx);
	else
		set_used_flags(vq, vq->used_flags & (uint16_t)~VRING_USED_F_NO_NOTIFY);
	/* Full barrier: the driver must see the request before we look for
	 * buffers it added meanwhile (it may have skipped the kick). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->shadow_avail_idx = vq->last_avail_idx;	/* force a fresh read */
	return vq->resubmit_left || virtq_avail_count(vq) > 0;
}
