/* The emulated IFCVF's blk device type: its record for the device core (ids,
 * features, virtio_blk_config with a live capacity and the writeback
 * switch), a backing file or block device, and one queue per vring served
 * by asynchronous I/O on an io_uring of its own, so that a slow disk holds
 * only the requests that wait for it: the engine thread never blocks on the
 * file and keeps serving every other queue and device.
 *
 * A request is taken from the ring, checked (ifcvf_blk_req.c), and either
 * completed at once (GET_ID, any refused request) or handed to io_uring with
 * the driver's buffers as its iovecs (no copy). Its completion writes the
 * status byte, logs what the device wrote when dirty logging is on, and
 * returns the chain. A queue that stops (queue_enable 0, reset) first waits,
 * bounded, for its requests: every request it took is then completed, and
 * RING_STATE reads avail == used. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <liburing.h>

#include "models/ifcvf/ifcvf_blk.h"
#include "models/ifcvf/ifcvf_model_internal.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "core/log.h"
#include "core/util.h"

#define TAG "ifcvf-blk"

#define BIT(n) (1ull << (n))
#define BLK_CLASS_CODE 0x018000u	/* mass storage controller, other */
#define BLK_CONFIG_SIZE 60u		/* virtio_blk_config up to write_zeroes_may_unmap + pad */
#define BLK_MAX_QUEUE_SIZE 256u
#define BLK_MAX_QUEUES 16u
#define BLK_BATCH 32u			/* chains taken per queue per engine round */
#define BLK_SLOT_IOV (BLK_SEG_MAX + 6u)	/* header, data, status, a few split buffers */
#define BLK_DRAIN_MS 5000u		/* a stop waits this long for the file */
/* reorder-completions: every 8th completion is held back 20 ms. */
#define BLK_REORDER_EVERY 8u
#define BLK_REORDER_DELAY_MS 20u

#define BLK_DEFAULT_FEATURES                                                                     \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_RING_F_INDIRECT_DESC) | \
	 BIT(VIRTIO_F_ACCESS_PLATFORM) | BIT(VIRTIO_F_ANY_LAYOUT) | BIT(VIRTIO_BLK_F_SIZE_MAX) |      \
	 BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH) |           \
	 BIT(VIRTIO_BLK_F_TOPOLOGY) | BIT(VIRTIO_BLK_F_CONFIG_WCE) | BIT(VIRTIO_BLK_F_MQ) |           \
	 BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES))
#define BLK_SUPPORTED_FEATURES (BLK_DEFAULT_FEATURES | BIT(VIRTIO_BLK_F_RO))

/* A request the device took and has not completed. */
struct blk_slot {
	struct virtq_elem elem;			/* a compact copy of the chain */
	struct iovec iov[BLK_SLOT_IOV];
	uint64_t addr[BLK_SLOT_IOV];
	struct iovec data[BLK_SEG_MAX];		/* the data part, for io_uring */
	struct blk_req req;
	int zero_mode;				/* fallocate mode of a write-zeroes */
	bool orphan;				/* given up on at a stop: free it, nothing more */
	/* reorder-completions: the I/O is done (res), the completion waits
	 * for a timeout on the ring so that later requests overtake it. */
	bool delayed;
	int res;
	struct __kernel_timespec delay;
	struct blk_slot *next_free;
};

struct blk_counters {
	uint64_t requests, read_bytes, write_bytes, errors;
};

struct blk_queue {
	struct ifcvf_blk *blk;
	struct ifcvf_vq *q;
	struct ifcvf_work work;
	struct ifcvf_fd_watch watch;
	struct io_uring ring;
	bool ring_ok;
	int efd;				/* io_uring completions */
	struct blk_slot *slots, *free;
	unsigned int inflight;			/* slots out, orphans included */
	unsigned int orphans;
	unsigned int unsubmitted;		/* prepared SQEs */
	bool pushed;				/* used entries pending a commit */
	uint64_t features;			/* driver features at queue start */
	struct virtq_elem_buf *scratch;		/* where chains are taken into */
	struct blk_counters c;
	uint64_t inflight_gauge;		/* atomic copy of inflight for stats */
};

struct ifcvf_blk {
	struct ifcvf_model *model;
	int fd;
	bool is_bdev;
	char path[256];
	struct blk_limits lim;			/* capacity atomic; the rest fixed */
	uint8_t wce;				/* writeback (atomic) */
	int no_zero_range;			/* atomic: the file refused FALLOC_FL_ZERO_RANGE */
	bool reorder;				/* fault injection, fixed at create */
	uint32_t reorder_ms;
	uint64_t finished;			/* atomic: completions so far (reorder) */
	char serial[BLK_ID_BYTES];
	uint16_t nq;
	struct blk_queue qs[];
};

static struct ifcvf_blk *blk_of(struct ifcvf_model *m)
{
	return m->type == &ifcvf_blk_type ? m->type_priv : NULL;
}

/* ---- Completing a request ---- */

/* Writes the status, logs what the device wrote and queues the used entry:
 * written is the bytes before the status (read data, the id). */
static void complete(struct blk_queue *bq, const struct virtq_elem *e, const struct blk_req *req,
		     uint8_t status, uint64_t written)
{
	struct ifcvf_vq *q = bq->q;
	uint32_t used = 0;

	if (status != VIRTIO_BLK_S_OK)
		ifcvf_counter_add(&bq->c.errors, 1);
	/* The used length is what the device wrote: data, then the status. */
	if (req->has_status) {
		virtq_buf_to_iov(virtq_elem_in_iov(e), e->in_num, req->status_off, &status, 1);
		if (written)
			ifcvf_vq_log_write(q, e, 0, written);
		ifcvf_vq_log_write(q, e, req->status_off, 1);
		used = (uint32_t)(written + 1);
	}
	if (virtq_push_pending(&q->vq, e->head, used) < 0) {
		if (q->running)
			ifcvf_vq_fault(q);
		return;
	}
	bq->pushed = true;
}

static void slot_free(struct blk_queue *bq, struct blk_slot *s)
{
	s->orphan = false;
	s->delayed = false;
	s->next_free = bq->free;
	bq->free = s;
	bq->inflight--;
	__atomic_store_n(&bq->inflight_gauge, bq->inflight, __ATOMIC_RELAXED);
}

static bool writethrough(const struct blk_queue *bq)
{
	if (!ifcvf_has_feature(bq->features, VIRTIO_BLK_F_FLUSH))
		return true;	/* no way to flush: the device must not cache */
	return ifcvf_has_feature(bq->features, VIRTIO_BLK_F_CONFIG_WCE) &&
	       !__atomic_load_n(&bq->blk->wce, __ATOMIC_RELAXED);
}

/* Prepares s's I/O on the ring (the SQ has room for every slot). */
static void submit(struct blk_queue *bq, struct blk_slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&bq->ring);
	const struct blk_req *r = &s->req;
	struct ifcvf_blk *blk = bq->blk;
	off_t off = (off_t)(r->sector << BLK_SECTOR_SHIFT);

	switch (r->op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, blk->fd, s->data, r->niov, off);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev(sqe, blk->fd, s->data, r->niov, off);
		if (writethrough(bq))
			sqe->rw_flags = RWF_DSYNC;
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, blk->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
					(off_t)r->len);
		break;
	case BLK_OP_WRITE_ZEROES:
		s->zero_mode = r->unmap || __atomic_load_n(&blk->no_zero_range, __ATOMIC_RELAXED) ?
			FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
			FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		io_uring_prep_fallocate(sqe, blk->fd, s->zero_mode, off, (off_t)r->len);
		break;
	default:
		break;
	}
	io_uring_sqe_set_data(sqe, s);
	bq->unsubmitted++;
}

/* One completion from the ring. */
static void finish(struct blk_queue *bq, struct blk_slot *s, int res)
{
	const struct blk_req *r = &s->req;
	uint8_t status = VIRTIO_BLK_S_OK;
	uint64_t written = 0;

	if (s->orphan) {
		bq->orphans--;
		slot_free(bq, s);
		return;
	}
	if (s->delayed) {
		s->delayed = false;
		res = s->res;	/* this CQE is the timeout's */
	} else if (bq->blk->reorder &&
		   __atomic_add_fetch(&bq->blk->finished, 1, __ATOMIC_RELAXED) % BLK_REORDER_EVERY == 0) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&bq->ring);

		if (sqe) {
			s->delayed = true;
			s->res = res;
			s->delay.tv_sec = bq->blk->reorder_ms / 1000;
			s->delay.tv_nsec = (long long)(bq->blk->reorder_ms % 1000) * 1000000;
			io_uring_prep_timeout(sqe, &s->delay, 0, 0);
			io_uring_sqe_set_data(sqe, s);
			bq->unsubmitted++;
			return;
		}
	}
	switch (r->op) {
	case BLK_OP_READ:
		if (res < 0) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		/* Past the end of a file shorter than the capacity reads zeros. */
		if ((uint64_t)res < r->len) {
			static const uint8_t zeros[4096];
			uint64_t at = (uint64_t)res;

			while (at < r->len) {
				size_t n = r->len - at < sizeof(zeros) ? r->len - at : sizeof(zeros);

				virtq_buf_to_iov(s->data, r->niov, at, zeros, n);
				at += n;
			}
		}
		written = r->len;
		ifcvf_counter_add(&bq->c.read_bytes, r->len);
		break;
	case BLK_OP_WRITE:
		if (res < 0 || (uint64_t)res != r->len)
			status = VIRTIO_BLK_S_IOERR;
		else
			ifcvf_counter_add(&bq->c.write_bytes, r->len);
		break;
	case BLK_OP_WRITE_ZEROES:
		if ((res == -EOPNOTSUPP || res == -EINVAL) && (s->zero_mode & FALLOC_FL_ZERO_RANGE) &&
		    !bq->blk->is_bdev) {
			/* tmpfs and some others cannot zero a range: a hole reads as
			 * zeros too. */
			__atomic_store_n(&bq->blk->no_zero_range, 1, __ATOMIC_RELAXED);
			submit(bq, s);
			return;
		}
		status = res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	case BLK_OP_DISCARD:
		/* A discard is a hint: a file that cannot punch holes keeps its
		 * blocks, and that is not an error. */
		status = res < 0 && res != -EOPNOTSUPP ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	default:
		status = res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	}
	if (status != VIRTIO_BLK_S_OK)
		LOG_WARN(TAG, "%s: vring %u: request type %u at sector %" PRIu64 " failed: %s",
			 bq->blk->model->pdev->addr, bq->q->index, r->type, r->sector,
			 res < 0 ? strerror(-res) : "short transfer");
	complete(bq, &s->elem, r, status, written);
	slot_free(bq, s);
}

/* Handles every completion the ring holds. Returns how many. */
static unsigned int reap(struct blk_queue *bq)
{
	struct io_uring_cqe *cqe;
	unsigned int n = 0;

	while (io_uring_peek_cqe(&bq->ring, &cqe) == 0) {
		struct blk_slot *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&bq->ring, cqe);
		if (s)		/* cancel requests carry no slot */
			finish(bq, s, res);
		n++;
	}
	if (bq->unsubmitted) {
		/* Resubmissions from finish(). */
		if (io_uring_submit(&bq->ring) >= 0)
			bq->unsubmitted = 0;
	}
	return n;
}

/* ---- Taking requests ---- */

static void copy_chain(struct blk_slot *s, const struct virtq_elem *e)
{
	uint32_t n = e->out_num + e->in_num;

	s->elem = *e;
	s->elem.iov = s->iov;
	s->elem.addr = s->addr;
	s->elem.max_iov = BLK_SLOT_IOV;
	memcpy(s->iov, e->iov, n * sizeof(s->iov[0]));
	memcpy(s->addr, e->addr, n * sizeof(s->addr[0]));
}

static void take(struct blk_queue *bq, const struct virtq_elem *e)
{
	struct blk_slot *s = bq->free;
	struct blk_req *r = &s->req;

	ifcvf_counter_add(&bq->c.requests, 1);
	blk_req_parse(e, &bq->blk->lim, s->data, BLK_SEG_MAX, r);
	if (r->op != BLK_OP_DONE && e->out_num + e->in_num > BLK_SLOT_IOV) {
		r->op = BLK_OP_DONE;
		r->status = VIRTIO_BLK_S_IOERR;
		r->why = "too many descriptors";
	}
	if (r->op == BLK_OP_GET_ID) {
		virtq_buf_to_iov(s->data, r->niov, 0, bq->blk->serial, r->len);
		complete(bq, e, r, VIRTIO_BLK_S_OK, r->len);
		return;
	}
	if (r->op == BLK_OP_DONE) {
		if (r->status != VIRTIO_BLK_S_OK)
			LOG_DEBUG(TAG, "%s: vring %u: request type %u refused: %s",
				  bq->blk->model->pdev->addr, bq->q->index, r->type, r->why);
		complete(bq, e, r, r->status, 0);
		return;
	}
	bq->free = s->next_free;
	bq->inflight++;
	__atomic_store_n(&bq->inflight_gauge, bq->inflight, __ATOMIC_RELAXED);
	copy_chain(s, e);
	submit(bq, s);
}

static void commit(struct blk_queue *bq)
{
	if (!bq->pushed)
		return;
	bq->pushed = false;
	virtq_push_commit(&bq->q->vq);
	if (bq->q->setup)
		ifcvf_vq_interrupt(bq->q);
}

static void clear_efd(struct blk_queue *bq)
{
	uint64_t v;

	if (__atomic_exchange_n(&bq->watch.ready, 0, __ATOMIC_RELAXED))
		while (read(bq->efd, &v, sizeof(v)) == sizeof(v))
			;
}

static unsigned int queue_run(struct ifcvf_work *w, bool polling)
{
	struct blk_queue *bq = w->ctx;
	struct ifcvf_vq *q = bq->q;
	unsigned int n;

	clear_efd(bq);
	n = reap(bq);
	if (q->running) {
		unsigned int taken = 0;

		if (polling)
			virtq_disable_notify(&q->vq);
		while (taken < BLK_BATCH && bq->free) {
			int rc = virtq_pop(&q->vq, &bq->scratch->elem);

			if (rc == -EAGAIN)
				break;
			if (rc < 0) {
				ifcvf_vq_fault(q);
				break;
			}
			take(bq, &bq->scratch->elem);
			taken++;
		}
		n += taken;
	}
	if (bq->unsubmitted) {
		int rc = io_uring_submit(&bq->ring);

		if (rc >= 0)
			bq->unsubmitted = 0;
		else if (rc != -EAGAIN && rc != -EBUSY)
			LOG_ERR(TAG, "%s: vring %u: io_uring submit: %s", bq->blk->model->pdev->addr,
				q->index, strerror(-rc));
	}
	commit(bq);
	return n;
}

static bool queue_arm(struct ifcvf_work *w)
{
	struct blk_queue *bq = w->ctx;
	bool avail = bq->q->running && virtq_enable_notify(&bq->q->vq) && bq->free;

	return avail || bq->unsubmitted || io_uring_cq_ready(&bq->ring) ||
	       __atomic_load_n(&bq->watch.ready, __ATOMIC_RELAXED);
}

static const struct ifcvf_work_ops blk_work_ops = {
	.run = queue_run,
	.arm = queue_arm,
};

/* ---- Stop: wait for what was taken ---- */

/* Work lock held: the engine does not run this queue meanwhile. */
static void drain(struct blk_queue *bq)
{
	uint64_t deadline = uvdpa_now_ns() / 1000000 + BLK_DRAIN_MS;
	unsigned int i;

	reap(bq);
	if (bq->unsubmitted && io_uring_submit(&bq->ring) >= 0)
		bq->unsubmitted = 0;
	while (bq->inflight > bq->orphans && uvdpa_now_ns() / 1000000 < deadline) {
		struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe_timeout(&bq->ring, &cqe, &ts) == 0)
			reap(bq);
	}
	commit(bq);
	if (bq->inflight == bq->orphans)
		return;
	/* The file does not answer: give the requests up, ask the kernel to
	 * cancel them, and let their completions free the slots later. The
	 * driver reads them as taken and not completed. */
	LOG_ERR(TAG, "%s: vring %u: %u requests still in flight on %s after %u ms: the backing "
		"file is stuck; the queue stops without them", bq->blk->model->pdev->addr,
		bq->q->index, bq->inflight - bq->orphans, bq->blk->path, BLK_DRAIN_MS);
	for (i = 0; i < BLK_MAX_QUEUE_SIZE; i++) {
		struct blk_slot *s = &bq->slots[i];
		struct io_uring_sqe *sqe;
		bool is_free = false;

		for (struct blk_slot *f = bq->free; f; f = f->next_free)
			if (f == s)
				is_free = true;
		if (is_free || s->orphan)
			continue;
		s->orphan = true;
		bq->orphans++;
		ifcvf_counter_add(&bq->c.errors, 1);
		sqe = io_uring_get_sqe(&bq->ring);
		if (sqe) {
			io_uring_prep_cancel(sqe, s, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	}
	io_uring_submit(&bq->ring);
}

/* ---- The type record's operations ---- */

static uint64_t blk_default_features(uint16_t max_vqp)
{
	(void)max_vqp;
	return BLK_DEFAULT_FEATURES;
}

static int blk_num_vrings(const struct ifcvf_model_config *cfg, uint64_t features, char *err,
			  size_t errlen)
{
	unsigned int nq = cfg->num_queues ? cfg->num_queues : 1;

	if (nq > BLK_MAX_QUEUES) {
		uvdpa_errf(err, errlen, "num_queues %u: the emulated IFCVF blk has at most %u queues",
			   nq, BLK_MAX_QUEUES);
		return -EINVAL;
	}
	if (nq > 1 && !ifcvf_has_feature(features, VIRTIO_BLK_F_MQ)) {
		uvdpa_errf(err, errlen, "num_queues %u needs VIRTIO_BLK_F_MQ (bit %u) in "
			   "device_features", nq, VIRTIO_BLK_F_MQ);
		return -EINVAL;
	}
	if (!cfg->file[0]) {
		uvdpa_errf(err, errlen, "a blk device needs a backing file: add file PATH");
		return -EINVAL;
	}
	return (int)nq;
}

/* Opens (or creates, sparse) the backing file and settles the capacity:
 * the given one (a regular file is extended to it), else the file's size.
 * The file is locked (flock) so that two devices cannot write it at once:
 * exclusively, or shared when read-only or on shared storage. Shared
 * storage is how a live migration keeps one disk: the destination's device
 * opens the file while the source's still serves it, and QEMU runs only one
 * of them at a time (the source stops its device before the destination
 * starts its own), as QEMU's own file locking lets an incoming migration's
 * image be opened with shared locks. A device that is not on shared storage
 * (or any program that takes an exclusive flock) still keeps them out. */
static int open_backing(struct ifcvf_blk *blk, const struct ifcvf_model_config *cfg, char *err,
			size_t errlen)
{
	struct stat st;
	uint64_t size;
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	blk->fd = open(cfg->file, flags);
	if (blk->fd < 0 && errno == ENOENT && !cfg->readonly && cfg->capacity)
		blk->fd = open(cfg->file, flags | O_CREAT | O_EXCL, 0600);
	if (blk->fd < 0) {
		int e = errno;

		if (e == ENOENT)
			uvdpa_errf(err, errlen, "file %s does not exist: give capacity SIZE to create "
				   "it%s", cfg->file, cfg->readonly ? " (and not readonly)" : "");
		else
			uvdpa_errf(err, errlen, "cannot open %s: %s", cfg->file, strerror(e));
		return -e;
	}
	if (flock(blk->fd, (cfg->readonly || cfg->shared_storage ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int e = errno;

		uvdpa_errf(err, errlen, "%s is in use by another device or program (%s)%s", cfg->file,
			   strerror(e), cfg->shared_storage ? "" : ": devices on shared storage "
			   "(devargs shared-storage=1) share a file only with each other");
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	if (fstat(blk->fd, &st) < 0)
		return -errno;
	blk->is_bdev = S_ISBLK(st.st_mode);
	if (blk->is_bdev) {
		if (ioctl(blk->fd, BLKGETSIZE64, &size) < 0)
			return -errno;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		uvdpa_errf(err, errlen, "%s is neither a regular file nor a block device", cfg->file);
		return -EINVAL;
	}
	if (!cfg->capacity) {
		size &= ~(uint64_t)(BLK_SECTOR_SIZE - 1);
		if (!size) {
			uvdpa_errf(err, errlen, "%s is empty: give capacity SIZE", cfg->file);
			return -EINVAL;
		}
		blk->lim.capacity = size >> BLK_SECTOR_SHIFT;
	} else {
		if (size < cfg->capacity) {
			if (blk->is_bdev || cfg->readonly) {
				uvdpa_errf(err, errlen, "capacity %" PRIu64 " is larger than %s (%" PRIu64
					   " bytes)", cfg->capacity, cfg->file, size);
				return -EINVAL;
			}
			if (ftruncate(blk->fd, (off_t)cfg->capacity) < 0) {
				int e = errno;

				uvdpa_errf(err, errlen, "cannot extend %s to %" PRIu64 " bytes: %s",
					   cfg->file, cfg->capacity, strerror(e));
				return -e;
			}
		}
		blk->lim.capacity = cfg->capacity >> BLK_SECTOR_SHIFT;
	}
	/* A stable serial: the same file gives the same id after a restart. It
	 * fills the 20 bytes with no terminating NUL, as the spec allows. */
	{
		char id[32];

		snprintf(id, sizeof(id), "uvdpa-%014llx",
			 (unsigned long long)(((uint64_t)st.st_dev * 0x9e3779b97f4a7c15ull ^
					       (uint64_t)st.st_ino) & 0xffffffffffffffull));
		memcpy(blk->serial, id, BLK_ID_BYTES);
	}
	return 0;
}

static void blk_free(struct ifcvf_blk *blk)
{
	unsigned int i;

	for (i = 0; i < blk->nq; i++) {
		struct blk_queue *bq = &blk->qs[i];

		if (bq->ring_ok)
			io_uring_queue_exit(&bq->ring);
		if (bq->efd >= 0)
			close(bq->efd);
		free(bq->slots);
		free(bq->scratch);
	}
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk);
}

static int queue_init(struct blk_queue *bq)
{
	unsigned int i;
	int rc;

	bq->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	bq->slots = calloc(BLK_MAX_QUEUE_SIZE, sizeof(*bq->slots));
	bq->scratch = malloc(sizeof(*bq->scratch));
	if (bq->efd < 0 || !bq->slots || !bq->scratch)
		return -ENOMEM;
	virtq_elem_buf_init(bq->scratch);
	for (i = BLK_MAX_QUEUE_SIZE; i-- > 0;) {
		bq->slots[i].next_free = bq->free;
		bq->free = &bq->slots[i];
	}
	rc = io_uring_queue_init(BLK_MAX_QUEUE_SIZE, &bq->ring, 0);
	if (rc < 0)
		return rc;
	bq->ring_ok = true;
	rc = io_uring_register_eventfd(&bq->ring, bq->efd);
	if (rc < 0)
		return rc;
	bq->work.ops = &blk_work_ops;
	bq->work.ctx = bq;
	if (ifcvf_work_attach(&bq->work) < 0)
		return -ENOMEM;
	rc = ifcvf_work_watch_fd(&bq->work, &bq->watch, bq->efd);
	if (rc < 0) {
		ifcvf_work_detach(&bq->work);
		return rc;
	}
	bq->q->work = &bq->work;
	return 0;
}

static void queues_fini(struct ifcvf_blk *blk, unsigned int n)
{
	while (n-- > 0) {
		ifcvf_work_unwatch_fd(&blk->qs[n].work);
		ifcvf_work_detach(&blk->qs[n].work);
	}
}

static int blk_create(struct ifcvf_model *m, const struct ifcvf_model_config *cfg, char *err,
		      size_t errlen)
{
	struct ifcvf_blk *blk;
	unsigned int i;
	int rc;

	blk = calloc(1, sizeof(*blk) + m->nvrings * sizeof(blk->qs[0]));
	if (!blk) {
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	blk->model = m;
	blk->fd = -1;
	blk->nq = m->nvrings;
	snprintf(blk->path, sizeof(blk->path), "%s", cfg->file);
	for (i = 0; i < blk->nq; i++)
		blk->qs[i].efd = -1;
	rc = open_backing(blk, cfg, err, errlen);
	if (rc < 0) {
		if (!err[0])
			uvdpa_errf(err, errlen, "%s: %s", cfg->file, strerror(-rc));
		blk_free(blk);
		return rc;
	}
	/* A read-only disk says so (RO), whatever device_features asked. */
	if (cfg->readonly)
		m->device_features |= BIT(VIRTIO_BLK_F_RO);
	blk->lim.readonly = ifcvf_has_feature(m->device_features, VIRTIO_BLK_F_RO);
	blk->reorder = cfg->reorder_completions;
	blk->reorder_ms = cfg->reorder_delay_ms ? cfg->reorder_delay_ms : BLK_REORDER_DELAY_MS;
	blk->lim.seg_max = BLK_SEG_MAX;
	blk->lim.size_max = BLK_SIZE_MAX;
	blk->lim.max_discard_sectors = blk->lim.max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS;
	blk->lim.max_discard_seg = blk->lim.max_write_zeroes_seg = BLK_MAX_DISCARD_SEG;
	blk->wce = 1;
	for (i = 0; i < blk->nq; i++) {
		blk->qs[i].blk = blk;
		blk->qs[i].q = &m->vqs[i];
		m->vqs[i].type_priv = &blk->qs[i];
		rc = queue_init(&blk->qs[i]);
		if (rc < 0) {
			uvdpa_errf(err, errlen, "cannot set up queue %u (io_uring): %s", i,
				   strerror(-rc));
			queues_fini(blk, i);
			blk_free(blk);
			return rc;
		}
	}
	m->type_priv = blk;
	LOG_INFO(TAG, "%s: %s%s, %" PRIu64 " sectors, %u queue(s)", m->pdev ? m->pdev->addr : "blk",
		 blk->path, cfg->readonly ? " (read-only)" : "", blk->lim.capacity, blk->nq);
	return 0;
}

static void blk_destroy(struct ifcvf_model *m)
{
	struct ifcvf_blk *blk = m->type_priv;

	if (!blk)
		return;
	queues_fini(blk, blk->nq);
	blk_free(blk);
	m->type_priv = NULL;
}

static void config_image(struct ifcvf_model *m, struct ifcvf_blk *blk, uint8_t *img)
{
	struct virtio_blk_config c;

	memset(&c, 0, sizeof(c));
	c.capacity = htole64(__atomic_load_n(&blk->lim.capacity, __ATOMIC_RELAXED));
	c.size_max = htole32(blk->lim.size_max);
	c.seg_max = htole32(blk->lim.seg_max);
	c.blk_size = htole32(BLK_SECTOR_SIZE);
	c.physical_block_exp = 3;	/* 4 KiB physical blocks */
	c.alignment_offset = 0;
	c.min_io_size = htole16(1);
	c.opt_io_size = htole32(0);
	c.wce = __atomic_load_n(&blk->wce, __ATOMIC_RELAXED);
	c.num_queues = htole16(blk->nq);
	c.max_discard_sectors = htole32(blk->lim.max_discard_sectors);
	c.max_discard_seg = htole32(blk->lim.max_discard_seg);
	c.discard_sector_alignment = htole32(8);
	c.max_write_zeroes_sectors = htole32(blk->lim.max_write_zeroes_sectors);
	c.max_write_zeroes_seg = htole32(blk->lim.max_write_zeroes_seg);
	c.write_zeroes_may_unmap = 1;
	(void)m;
	memcpy(img, &c, BLK_CONFIG_SIZE < sizeof(c) ? BLK_CONFIG_SIZE : sizeof(c));
}

static void blk_config_read(struct ifcvf_model *m, uint32_t off, void *buf, uint32_t len)
{
	uint8_t img[BLK_CONFIG_SIZE + sizeof(struct virtio_blk_config)] = { 0 };

	config_image(m, m->type_priv, img);
	memcpy(buf, img + off, len);
}

static void blk_config_write(struct ifcvf_model *m, uint32_t off, const void *buf, uint32_t len)
{
	struct ifcvf_blk *blk = m->type_priv;
	uint32_t wce_off = offsetof(struct virtio_blk_config, wce);

	/* Only the writeback switch is writable, and only with CONFIG_WCE. */
	if (off > wce_off || off + len <= wce_off ||
	    !ifcvf_has_feature(m->driver_features, VIRTIO_BLK_F_CONFIG_WCE))
		return;
	__atomic_store_n(&blk->wce, ((const uint8_t *)buf)[wce_off - off] ? 1 : 0,
			 __ATOMIC_RELAXED);
	LOG_INFO(TAG, "%s: write cache %s", m->pdev->addr,
		 blk->wce ? "writeback" : "writethrough");
}

static void blk_queue_start(struct ifcvf_vq *q)
{
	struct blk_queue *bq = q->type_priv;
	struct ifcvf_blk *blk = bq->blk;
	uint64_t f = q->model->driver_features;

	bq->features = f;
	blk->lim.discard = ifcvf_has_feature(f, VIRTIO_BLK_F_DISCARD);
	blk->lim.write_zeroes = ifcvf_has_feature(f, VIRTIO_BLK_F_WRITE_ZEROES);
}

static void blk_queue_stop(struct ifcvf_vq *q)
{
	drain(q->type_priv);
}

static void blk_reset(struct ifcvf_model *m)
{
	struct ifcvf_blk *blk = m->type_priv;

	__atomic_store_n(&blk->wce, 1, __ATOMIC_RELAXED);
}

static void put_stat(struct uvdpa_vq_stats *st, enum uvdpa_vq_stat k, const uint64_t *counter)
{
	st->value[k] = ifcvf_counter_read(counter);
	st->valid |= 1ull << k;
}

static void blk_get_stats(struct ifcvf_model *m, uint16_t q, struct uvdpa_vq_stats *st)
{
	struct blk_queue *bq = &((struct ifcvf_blk *)m->type_priv)->qs[q];

	put_stat(st, UVDPA_VQ_STAT_REQUESTS, &bq->c.requests);
	put_stat(st, UVDPA_VQ_STAT_READ_BYTES, &bq->c.read_bytes);
	put_stat(st, UVDPA_VQ_STAT_WRITE_BYTES, &bq->c.write_bytes);
	put_stat(st, UVDPA_VQ_STAT_ERRORS, &bq->c.errors);
	put_stat(st, UVDPA_VQ_STAT_IN_FLIGHT, &bq->inflight_gauge);
}

static void blk_reset_stats(struct ifcvf_model *m, uint16_t q)
{
	struct blk_queue *bq = &((struct ifcvf_blk *)m->type_priv)->qs[q];

	ifcvf_work_lock(&bq->work);
	memset(&bq->c, 0, sizeof(bq->c));
	ifcvf_work_unlock(&bq->work);
}

static void blk_get_info(struct ifcvf_model *m, struct ifcvf_model_info *info)
{
	struct ifcvf_blk *blk = m->type_priv;

	snprintf(info->port, sizeof(info->port), "%.*s", (int)sizeof(info->port) - 1, blk->path);
}

const struct ifcvf_dev_type ifcvf_blk_type = {
	.name = "blk",
	.type = UVDPA_TYPE_BLK,
	.device_id = IFCVF_BLK_MODERN_DEVICE_ID,
	.subsys_id = IFCVF_BLK_SUBSYS,
	.transitional_device_id = IFCVF_BLK_TRANSITIONAL_DEVICE_ID,
	.transitional_subsys_id = IFCVF_BLK_SUBSYS,
	.class_code = BLK_CLASS_CODE,
	.config_size = BLK_CONFIG_SIZE,
	.max_queue_size = BLK_MAX_QUEUE_SIZE,
	.supported_features = BLK_SUPPORTED_FEATURES,
	.default_features = blk_default_features,
	.ring_state_off = ifcvf_ring_state_off_blk,
	.num_vrings = blk_num_vrings,
	.create = blk_create,
	.destroy = blk_destroy,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.queue_start = blk_queue_start,
	.queue_stop = blk_queue_stop,
	.reset = blk_reset,
	.get_stats = blk_get_stats,
	.reset_stats = blk_reset_stats,
	.get_info = blk_get_info,
};

/* ---- Run-time API ---- */

int ifcvf_model_set_capacity(struct uvdpa_pci_dev *pdev, uint64_t bytes, char *err, size_t errlen)
{
	struct ifcvf_model *m = ifcvf_model_get(pdev);
	struct ifcvf_blk *blk;
	uint64_t old, size;
	struct stat st;
	int rc = 0;

	if (!m)
		return -ENODEV;
	blk = blk_of(m);
	if (!blk) {
		ifcvf_model_put(m);
		uvdpa_errf(err, errlen, "not a block device");
		return -EOPNOTSUPP;
	}
	old = __atomic_load_n(&blk->lim.capacity, __ATOMIC_RELAXED) << BLK_SECTOR_SHIFT;
	if (bytes < old) {
		uvdpa_errf(err, errlen, "capacity %" PRIu64 " is smaller than the current %" PRIu64
			   " bytes: a disk only grows while a guest uses it", bytes, old);
		rc = -EINVAL;
	} else if (blk->lim.readonly && bytes != old) {
		uvdpa_errf(err, errlen, "the device is read-only: its file cannot grow");
		rc = -EROFS;
	} else if (blk->is_bdev) {
		if (ioctl(blk->fd, BLKGETSIZE64, &size) < 0 || size < bytes) {
			uvdpa_errf(err, errlen, "%s holds %" PRIu64 " bytes, fewer than %" PRIu64,
				   blk->path, size, bytes);
			rc = -EINVAL;
		}
	} else if (fstat(blk->fd, &st) == 0 && (uint64_t)st.st_size < bytes &&
		   ftruncate(blk->fd, (off_t)bytes) < 0) {
		rc = -errno;
		uvdpa_errf(err, errlen, "cannot extend %s: %s", blk->path, strerror(-rc));
	}
	if (rc == 0 && bytes != old) {
		__atomic_store_n(&blk->lim.capacity, bytes >> BLK_SECTOR_SHIFT, __ATOMIC_RELAXED);
		LOG_INFO(TAG, "%s: capacity %" PRIu64 " -> %" PRIu64 " bytes", pdev->addr, old, bytes);
		ifcvf_model_config_changed(m, true);
	}
	ifcvf_model_put(m);
	return rc;
}
