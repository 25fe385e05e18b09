/* The frontend's side of live migration: the dirty log QEMU keeps (created,
 * handed to the backend once per queue pair, read and cleared by syncs) and
 * a record of what the device wrote, to check the backend's logging. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/frontend.h"
#include "uvdpa/vhost_user.h"

#define TAG "fe-log"
#define BIT(n) (1ull << (n))

static uint64_t log_pages(const struct fe_log *l)
{
	return l->size * 8;
}

/* A zeroed memfd bitmap of size bytes, mapped. */
static int bitmap_new(uint64_t size, int *fd_out, uint8_t **map_out)
{
	int fd = memfd_create("uvdpa-frontend-log", MFD_CLOEXEC);
	void *map;
	int err;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	*fd_out = fd;
	*map_out = map;
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

static void bitmap_free(struct fe_log *l)
{
	if (l->map)
		munmap(l->map, l->size);
	if (l->fd >= 0)
		close(l->fd);
	l->map = NULL;
	l->fd = -1;
}

int fe_log_init(struct fe_log *l, const struct fe_mem *mem)
{
	uint64_t end = 0, pages;
	int r;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	for (unsigned int i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa + mem->regions[i].size > end)
			end = mem->regions[i].gpa + mem->regions[i].size;
	pages = (end + (1u << FE_LOG_PAGE_SHIFT) - 1) >> FE_LOG_PAGE_SHIFT;
	if (pages == 0)
		return -EINVAL;
	l->size = (pages + 7) / 8;
	/* Indexed like the bitmap; calloc leaves the pages of unused guest
	 * physical ranges (the holes between regions) untouched. */
	l->need = calloc(log_pages(l), sizeof(*l->need));
	l->seen = calloc(log_pages(l), sizeof(*l->seen));
	if (!l->need || !l->seen) {
		fe_log_fini(l);
		return -ENOMEM;
	}
	r = bitmap_new(l->size, &l->fd, &l->map);
	if (r < 0) {
		fe_log_fini(l);
		return r;
	}
	l->stamp = 1;
	l->logs = 1;
	return 0;
}

void fe_log_fini(struct fe_log *l)
{
	bitmap_free(l);
	free(l->need);
	free(l->seen);
	l->need = l->seen = NULL;
	l->on = false;
}

/* Reads and clears the bitmap; bits found are stamped when mark. */
static void collect(struct fe_log *l, bool mark)
{
	uint64_t words = l->size / 8, pages = log_pages(l);

	for (uint64_t w = 0; w < l->size; w += (w < words * 8) ? 8 : 1) {
		uint64_t bits;
		unsigned int nbits;

		/* The backend sets bits with atomic ORs while we read: an
		 * exchange takes each one exactly once. */
		if (w < words * 8) {
			bits = __atomic_exchange_n((uint64_t *)(void *)(l->map + w), 0,
						   __ATOMIC_ACQ_REL);
			bits = le64toh(bits);
			nbits = 64;
		} else {
			bits = __atomic_exchange_n(l->map + w, 0, __ATOMIC_ACQ_REL);
			nbits = 8;
		}
		while (mark && bits) {
			unsigned int b = (unsigned int)__builtin_ctzll(bits);
			uint64_t page = w * 8 + b;

			bits &= bits - 1;
			if (b < nbits && page < pages)
				l->seen[page] = l->stamp;
		}
	}
}

void fe_log_begin(struct fe_log *l)
{
	if (!l->map)
		return;
	collect(l, false);
	l->stamp++;
	l->since = l->stamp;
	l->on = true;
}

void fe_log_end(struct fe_log *l)
{
	l->on = false;
	l->stamp++;
}

uint32_t fe_log_stamp(const struct fe_log *l)
{
	return l->on ? l->stamp : 0;
}

void fe_log_record(struct fe_log *l, uint64_t gpa, uint64_t len, uint32_t stamp)
{
	uint64_t page, last, pages = log_pages(l);

	if (!l->on || !l->need || stamp == 0 || stamp < l->since || len == 0)
		return;
	page = gpa >> FE_LOG_PAGE_SHIFT;
	last = gpa + len - 1 < gpa ? UINT64_MAX >> FE_LOG_PAGE_SHIFT :
	       (gpa + len - 1) >> FE_LOG_PAGE_SHIFT;
	for (; page <= last && page < pages; page++)
		if (l->need[page] < stamp)
			l->need[page] = stamp;
}

void fe_log_sync(struct fe_log *l)
{
	if (!l->map)
		return;
	collect(l, true);
	l->syncs++;
	l->stamp++;
}

void fe_log_compare(const struct fe_log *l, struct fe_log_result *res)
{
	unsigned int shown = 0;

	memset(res, 0, sizeof(*res));
	res->base_messages = l->base_messages;
	res->syncs = l->syncs;
	res->changes = l->changes;
	if (!l->need || l->since == 0)
		return;
	for (uint64_t page = 0; page < log_pages(l); page++) {
		bool logged = l->seen[page] >= l->since;
		bool written = l->need[page] >= l->since;

		res->pages_logged += logged;
		if (!written)
			continue;
		res->pages_written++;
		if (l->seen[page] >= l->need[page])
			continue;
		res->pages_missing++;
		res->pages_stale += logged;
		if (shown < FE_LOG_SHOW_MISSING) {
			res->first_stale[shown] = logged;
			res->first_missing[shown++] = page << FE_LOG_PAGE_SHIFT;
		}
	}
}

/* ---- messages ---- */

int fe_log_supported(const struct fe_dev *dev)
{
	bool log_all = dev->backend_features & BIT(UVDPA_VHOST_F_LOG_ALL);
	bool shmfd = dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD);

	if (log_all && shmfd)
		return 0;
	LOG_ERR(TAG, "the backend cannot log dirty pages for a migration: LOG_ALL %s, "
		"LOG_SHMFD %s", log_all ? "offered" : "not offered",
		shmfd ? "negotiated" :
		(dev->backend_protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD)) ?
		"offered, not negotiated" : "not offered");
	return -ENOTSUP;
}

static int send_features(struct fe_dev *dev, bool log_all)
{
	uint64_t f = (dev->features & ~BIT(UVDPA_VHOST_F_LOG_ALL)) |
		     (log_all ? BIT(UVDPA_VHOST_F_LOG_ALL) : 0);

	return fe_dev_request(dev, VHOST_USER_SET_FEATURES, &f, sizeof(f), NULL, 0, NULL);
}

static int send_log_base(struct fe_dev *dev)
{
	struct vhost_user_log lb = { .mmap_size = dev->log.size, .mmap_offset = 0 };
	int fd = dup(dev->log.fd), r;

	if (fd < 0)
		return -errno;
	/* With LOG_SHMFD the backend replies (fe_dev_request reads it). */
	r = fe_dev_request(dev, VHOST_USER_SET_LOG_BASE, &lb, sizeof(lb), &fd, 1, NULL);
	close(fd);
	if (r == 0)
		dev->log.base_messages++;
	return r;
}

/* What QEMU's vhost_dev_set_log() sends for one vhost device (pair). */
static int set_log_pair(struct fe_dev *dev, unsigned int pair, bool on)
{
	int r = send_features(dev, on);

	if (r == 0)
		r = fe_dev_set_vring_addr(dev, &dev->vrings[2 * pair], on);
	if (r == 0)
		r = fe_dev_set_vring_addr(dev, &dev->vrings[2 * pair + 1], on);
	return r;
}

/* Without acks nothing says the backend acted on what we sent: a request
 * with a reply, answered in order, does. */
static int barrier(struct fe_dev *dev)
{
	struct vhost_user_msg reply;

	if (dev->cfg.need_reply &&
	    (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK)))
		return 0;
	return fe_dev_request(dev, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0, &reply);
}

int fe_log_start(struct fe_dev *dev, bool new_log)
{
	struct fe_log *l = &dev->log;
	int r = fe_log_supported(dev);

	if (r < 0)
		return r;
	if (!l->map) {
		r = fe_log_init(l, &dev->mem);
		new_log = true;
	} else if (new_log) {
		/* A retry after a cancelled migration: QEMU freed the old log
		 * and allocates another. */
		int fd = -1;
		uint8_t *map = NULL;

		r = bitmap_new(l->size, &fd, &map);
		if (r == 0) {
			bitmap_free(l);
			l->fd = fd;
			l->map = map;
			l->logs++;
		}
	}
	if (r < 0) {
		LOG_ERR(TAG, "cannot make the dirty log: %s", strerror(-r));
		return r;
	}
	if (l->since)
		l->changes++;
	for (unsigned int i = 0; i < dev->cfg.queue_pairs && r == 0; i++) {
		if (new_log)
			r = send_log_base(dev);
		if (r == 0)
			r = set_log_pair(dev, i, true);
	}
	if (r == 0)
		r = barrier(dev);
	if (r < 0)
		return r;
	fe_log_begin(l);
	LOG_INFO(TAG, "dirty logging on: %" PRIu64 " bytes of log (%s), %u SET_LOG_BASE so far",
		 l->size, new_log ? "new" : "kept, cleared", l->base_messages);
	return 0;
}

int fe_log_stop(struct fe_dev *dev)
{
	int r = 0;

	for (unsigned int i = 0; i < dev->cfg.queue_pairs && r == 0; i++)
		r = set_log_pair(dev, i, false);
	if (r == 0)
		r = barrier(dev);
	if (r < 0)
		return r;
	fe_log_end(&dev->log);
	dev->log.changes++;
	LOG_INFO(TAG, "dirty logging off");
	return 0;
}

void fe_log_check(struct fe_dev *dev, struct fe_log_result *res)
{
	fe_log_sync(&dev->log);
	fe_log_compare(&dev->log, res);
}
