/* Dirty-page log for live migration: SET_LOG_BASE and the bitmap writers
 * (one bit per 4 KiB guest-physical page, set with atomic OR). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "vu_internal.h"

void vu_log_init(struct vu_log *log)
{
	memset(log, 0, sizeof(*log));
	pthread_rwlock_init(&log->lock, NULL);
	log->fd = -1;
}

static void log_unmap(struct vu_log *log)
{
	if (log->mmap_addr)
		munmap(log->mmap_addr, log->mmap_size);
	if (log->fd >= 0)
		close(log->fd);
	log->base = NULL;
	log->size = 0;
	log->mmap_addr = NULL;
	log->mmap_size = 0;
	log->mmap_offset = 0;
	log->fd = -1;
}

void vu_log_release(struct vu_log *log)
{
	pthread_rwlock_wrlock(&log->lock);
	log_unmap(log);
	pthread_rwlock_unlock(&log->lock);
}

void vu_log_destroy(struct vu_log *log)
{
	vu_log_release(log);
	pthread_rwlock_destroy(&log->lock);
}

/* Whether fd at l is the log already mapped: the same file (a dup or a
 * new fd of the same memfd), size and offset. */
static bool log_same(const struct vu_log *log, int fd, const struct vhost_user_log *l)
{
	struct stat a, b;

	if (!log->base || log->fd < 0 || log->size != l->mmap_size ||
	    log->mmap_offset != l->mmap_offset)
		return false;
	if (fstat(fd, &a) < 0 || fstat(log->fd, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int vu_log_set_base(struct uvdpa_vhost *dev, struct vhost_user_msg *msg)
{
	const struct vhost_user_log *l = &msg->payload.log;
	struct vu_log *log = &dev->log;
	uint64_t map_size;
	void *addr;
	int fd, err;

	if (l->mmap_size == 0 ||
	    __builtin_add_overflow(l->mmap_size, l->mmap_offset, &map_size) ||
	    map_size > (uint64_t)SIZE_MAX / 2) {
		LOG_ERR(VU_TAG, "SET_LOG_BASE: size 0x%llx + offset 0x%llx is invalid",
			(unsigned long long)l->mmap_size, (unsigned long long)l->mmap_offset);
		return -EINVAL;
	}
	fd = msg->fds[0];
	if (log_same(log, fd, l)) {
		/* QEMU sends the same log once per net queue pair: a repeat is
		 * not a new log (replacing it would make the device move, and a
		 * driver that cannot move without a window re-dirty everything). */
		LOG_DEBUG(VU_TAG, "%s: SET_LOG_BASE repeats the current log", dev->vdpa->name);
		return VU_LOG_SAME;
	}
	addr = vu_map_fd(fd, map_size, "the dirty log", &err);
	if (!addr)
		return err;
	vu_msg_take_fd(msg, 0);
	/* Writers see either the old log or the new one, never a torn one. */
	pthread_rwlock_wrlock(&log->lock);
	log_unmap(log);
	log->mmap_addr = addr;
	log->mmap_size = map_size;
	log->mmap_offset = l->mmap_offset;
	log->base = (uint8_t *)addr + l->mmap_offset;
	log->size = l->mmap_size;
	log->fd = fd;
	pthread_rwlock_unlock(&log->lock);
	LOG_INFO(VU_TAG, "%s: dirty log set, %llu bytes (%llu MiB of guest memory)", dev->vdpa->name,
		 (unsigned long long)l->mmap_size,
		 (unsigned long long)(l->mmap_size * 8 * VHOST_LOG_PAGE >> 20));
	return 0;
}

uint64_t vu_log_set_bits(uint8_t *log, uint64_t log_size, uint64_t gpa, uint64_t len)
{
	uint64_t first, last, page, npages;

	if (len == 0)
		return 0;
	first = gpa / VHOST_LOG_PAGE;
	/* Clamp instead of wrapping when gpa + len overflows. */
	if (gpa + len - 1 < gpa)
		last = UINT64_MAX / VHOST_LOG_PAGE;
	else
		last = (gpa + len - 1) / VHOST_LOG_PAGE;
	if (log_size > UINT64_MAX / 8)
		log_size = UINT64_MAX / 8;
	if (first >= log_size * 8)
		return 0;
	if (last >= log_size * 8)
		last = log_size * 8 - 1;
	npages = last - first + 1;
	page = first;
	/* Partial first byte, whole bytes, partial last byte. */
	while (page <= last && (page % 8)) {
		__atomic_fetch_or(&log[page / 8], (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
		page++;
	}
	while (page <= last && last - page >= 7) {
		__atomic_fetch_or(&log[page / 8], (uint8_t)0xff, __ATOMIC_RELAXED);
		page += 8;
	}
	while (page <= last) {
		__atomic_fetch_or(&log[page / 8], (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
		page++;
	}
	return npages;
}

bool vu_log_enabled(struct uvdpa_vhost *dev)
{
	return vu_has_feature(dev, UVDPA_VHOST_F_LOG_ALL) && dev->log.base;
}

void vu_log_write(struct uvdpa_vhost *dev, uint64_t gpa, uint64_t len)
{
	struct vu_log *log = &dev->log;

	if (!vu_has_feature(dev, UVDPA_VHOST_F_LOG_ALL) || len == 0)
		return;
	pthread_rwlock_rdlock(&log->lock);
	if (log->base) {
		/* Make the data visible before the frontend can see the bit. */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		vu_log_set_bits(log->base, log->size, gpa, len);
	}
	pthread_rwlock_unlock(&log->lock);
}

void vu_log_used_ring(struct uvdpa_vhost *dev, uint16_t idx, uint64_t offset, uint64_t len)
{
	const struct vu_vring *vq;

	if (idx >= UVDPA_VHOST_MAX_VRINGS)
		return;
	vq = &dev->vrings[idx];
	if (!(vq->addr.flags & (1u << VHOST_VRING_F_LOG)))
		return;
	vu_log_write(dev, vq->addr.log_guest_addr + offset, len);
}

int vu_get_log_base(struct uvdpa_vhost *dev, void **base, uint64_t *size, int *fd, uint64_t *mmap_offset)
{
	if (!dev->log.base)
		return -ENOENT;
	*base = dev->log.base;
	*size = dev->log.size;
	if (fd)
		*fd = dev->log.fd;
	if (mmap_offset)
		*mmap_offset = dev->log.mmap_offset;
	return 0;
}
