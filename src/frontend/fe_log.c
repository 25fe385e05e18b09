/* The frontend's side of live migration: the dirty log QEMU keeps, and a
 * record of what the device wrote, to check the backend's logging. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/frontend.h"
#include "uvdpa/vhost_user.h"

#define TAG "frontend"
#define PAGE_SHIFT 12
#define BIT(n) (1ull << (n))

static void bits_set(uint8_t *map, uint64_t size, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (!len)
		return;
	last = (gpa + len - 1) >> PAGE_SHIFT;
	for (page = gpa >> PAGE_SHIFT; page <= last && page / 8 < size; page++)
		map[page / 8] |= (uint8_t)(1u << (page % 8));
}

static bool bit_get(const uint8_t *map, uint64_t page)
{
	return map[page / 8] & (1u << (page % 8));
}

static int send_features(struct fe_dev *dev, bool log_all)
{
	uint64_t f = dev->features | (log_all ? BIT(UVDPA_VHOST_F_LOG_ALL) : 0);

	return fe_dev_request(dev, VHOST_USER_SET_FEATURES, &f, sizeof(f), NULL, 0, NULL);
}

int fe_log_start(struct fe_dev *dev)
{
	struct fe_log *l = &dev->log;
	uint64_t end = 0;
	unsigned int i;
	int r;

	if (!(dev->backend_features & BIT(UVDPA_VHOST_F_LOG_ALL)) ||
	    !(dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD))) {
		LOG_ERR(TAG, "the backend cannot log dirty pages (LOG_ALL %s, LOG_SHMFD %s)",
			dev->backend_features & BIT(UVDPA_VHOST_F_LOG_ALL) ? "offered" : "not offered",
			dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD) ?
				"negotiated" : "not negotiated");
		return -ENOTSUP;
	}
	fe_log_fini(dev);
	for (i = 0; i < dev->mem.nregions; i++)
		if (dev->mem.regions[i].gpa + dev->mem.regions[i].size > end)
			end = dev->mem.regions[i].gpa + dev->mem.regions[i].size;
	l->size = ((end >> PAGE_SHIFT) + 7) / 8;
	l->fd = memfd_create("uvdpa-frontend-log", MFD_CLOEXEC);
	if (l->fd < 0 || ftruncate(l->fd, (off_t)l->size) < 0)
		goto fail_errno;
	l->map = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, 0);
	if (l->map == MAP_FAILED) {
		l->map = NULL;
		goto fail_errno;
	}
	l->written = calloc(1, l->size);
	if (!l->written) {
		errno = ENOMEM;
		goto fail_errno;
	}
	/* QEMU sends the log once per queue pair, each time on a new fd. */
	for (i = 0; i < dev->cfg.queue_pairs; i++) {
		struct vhost_user_log lb = { .mmap_size = l->size, .mmap_offset = 0 };
		int fd = dup(l->fd);

		if (fd < 0)
			goto fail_errno;
		r = fe_dev_request(dev, VHOST_USER_SET_LOG_BASE, &lb, sizeof(lb), &fd, 1, NULL);
		close(fd);
		if (r < 0)
			return r;
		l->base_messages++;
	}
	r = send_features(dev, true);
	for (i = 0; r == 0 && i < dev->nvrings; i++)
		r = fe_dev_set_vring_addr(dev, &dev->vrings[i], true);
	if (r < 0)
		return r;
	l->on = true;
	l->epoch++;
	LOG_INFO(TAG, "dirty logging on: %" PRIu64 " bytes of log, %u SET_LOG_BASE", l->size,
		 l->base_messages);
	return 0;
fail_errno:
	r = -errno;
	LOG_ERR(TAG, "cannot make the dirty log: %s", strerror(-r));
	fe_log_fini(dev);
	return r;
}

int fe_log_set(struct fe_dev *dev, bool on)
{
	int r = send_features(dev, on);

	if (r == 0) {
		dev->log.on = on;
		dev->log.epoch++;
		LOG_INFO(TAG, "dirty logging %s", on ? "on again" : "off");
	}
	return r;
}

void fe_log_record(struct fe_dev *dev, uint64_t gpa, uint64_t len)
{
	if (dev->log.on && dev->log.written)
		bits_set(dev->log.written, dev->log.size, gpa, len);
}

void fe_log_check(struct fe_dev *dev, struct fe_log_result *res)
{
	struct fe_log *l = &dev->log;
	unsigned int shown = 0;

	memset(res, 0, sizeof(*res));
	res->base_messages = l->base_messages;
	if (!l->map)
		return;
	/* With logging on at the stop, the used rings are the backend's to log
	 * (the device wrote them; an IFCVF logs them at stop). */
	for (unsigned int i = 0; l->on && i < dev->nvrings; i++) {
		const struct virtq_driver *vq = &dev->vrings[i].vq;

		fe_log_record(dev, vq->used_addr, virtq_drv_used_bytes(vq->size));
	}
	for (uint64_t page = 0; page < l->size * 8; page++) {
		bool logged = bit_get(l->map, page);

		res->pages_logged += logged;
		if (!bit_get(l->written, page))
			continue;
		res->pages_written++;
		if (!logged) {
			if (shown < 8)
				res->first_missing[shown++] = page << PAGE_SHIFT;
			res->pages_missing++;
		}
	}
}

void fe_log_fini(struct fe_dev *dev)
{
	struct fe_log *l = &dev->log;

	if (l->map)
		munmap(l->map, l->size);
	if (l->fd >= 0)
		close(l->fd);
	free(l->written);
	l->map = NULL;
	l->written = NULL;
	l->fd = -1;
	l->on = false;
	l->base_messages = 0;
}
