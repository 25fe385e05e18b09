/* Inflight I/O tracking regions (GET/SET_INFLIGHT_FD), split ring layout:
 * the backend records descriptors in flight so that a restarted backend can
 * resubmit them (used by blk reconnect). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "vu_internal.h"

void vu_inflight_release(struct vu_inflight *inf)
{
	if (inf->addr)
		munmap(inf->addr, inf->size + inf->offset);
	if (inf->fd >= 0)
		close(inf->fd);
	memset(inf, 0, sizeof(*inf));
	inf->fd = -1;
}

static int inflight_check(const struct vhost_user_inflight *d, const char *req)
{
	if (d->num_queues == 0 || d->num_queues > UVDPA_VHOST_MAX_VRINGS || !vu_is_pow2(d->queue_size) ||
	    d->queue_size > VU_MAX_QUEUE_SIZE) {
		LOG_ERR(VU_TAG, "%s: %u queues of size %u (1..%u queues, power-of-two size <= %u)",
			req, d->num_queues, d->queue_size, UVDPA_VHOST_MAX_VRINGS, VU_MAX_QUEUE_SIZE);
		return -EINVAL;
	}
	return 0;
}

int vu_inflight_get(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply)
{
	const struct vhost_user_inflight *d = &msg->payload.inflight;
	uint64_t qbytes, size;
	uint16_t q;
	void *addr;
	int fd;

	if (inflight_check(d, "GET_INFLIGHT_FD"))
		return -EINVAL;
	qbytes = virtq_inflight_queue_bytes(d->queue_size);
	size = qbytes * d->num_queues;
	fd = memfd_create("uvdpa-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	/* The frontend must not be able to shrink it under us. */
	fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		int err = errno;

		close(fd);
		return -err;
	}
	memset(addr, 0, size);
	for (q = 0; q < d->num_queues; q++) {
		struct virtq_inflight_region *qs =
			(void *)((uint8_t *)addr + (uint64_t)q * qbytes);

		qs->version = 1;
		qs->desc_num = d->queue_size;
	}
	/* A repeated GET replaces the previous region without leaking it. */
	vu_inflight_release(&dev->inflight);
	dev->inflight.addr = addr;
	dev->inflight.size = size;
	dev->inflight.offset = 0;
	dev->inflight.fd = fd;
	dev->inflight.num_queues = d->num_queues;
	dev->inflight.queue_size = d->queue_size;

	/* As large as the request (20 or 24 bytes), the padding zero. */
	reply->hdr.size = msg->hdr.size;
	memset(&reply->payload, 0, VHOST_USER_INFLIGHT_PADDED_SIZE);
	reply->payload.inflight.mmap_size = size;
	reply->payload.inflight.mmap_offset = 0;
	reply->payload.inflight.num_queues = d->num_queues;
	reply->payload.inflight.queue_size = d->queue_size;
	reply->fds[0] = fd;	/* still ours: the sender duplicates nothing */
	reply->nfds = 1;
	return 1;
}

int vu_inflight_set(struct uvdpa_vhost *dev, struct vhost_user_msg *msg)
{
	const struct vhost_user_inflight *d = &msg->payload.inflight;
	uint64_t need, map_size;
	int err;
	void *addr;
	int fd = msg->fds[0];

	if (inflight_check(d, "SET_INFLIGHT_FD"))
		return -EINVAL;
	need = virtq_inflight_queue_bytes(d->queue_size) * d->num_queues;
	if (d->mmap_size < need || __builtin_add_overflow(d->mmap_size, d->mmap_offset, &map_size) ||
	    map_size > (uint64_t)SIZE_MAX / 2) {
		LOG_ERR(VU_TAG, "SET_INFLIGHT_FD: size %llu offset %llu for %u queues of %u (need %llu)",
			(unsigned long long)d->mmap_size, (unsigned long long)d->mmap_offset,
			d->num_queues, d->queue_size, (unsigned long long)need);
		return -EINVAL;
	}
	addr = vu_map_fd(fd, map_size, "the inflight region", &err);
	if (!addr)
		return err;
	vu_msg_take_fd(msg, 0);
	vu_inflight_release(&dev->inflight);
	/* Kept as the whole mapping; users add offset. */
	dev->inflight.addr = addr;
	dev->inflight.size = d->mmap_size;
	dev->inflight.offset = d->mmap_offset;
	dev->inflight.fd = fd;
	dev->inflight.num_queues = d->num_queues;
	dev->inflight.queue_size = d->queue_size;
	return 0;
}

void *vu_get_inflight(struct uvdpa_vhost *dev, uint64_t *size, uint16_t *num_queues, uint16_t *queue_size)
{
	if (!dev->inflight.addr)
		return NULL;
	*size = dev->inflight.size;
	*num_queues = dev->inflight.num_queues;
	*queue_size = dev->inflight.queue_size;
	return (uint8_t *)dev->inflight.addr + dev->inflight.offset;
}
