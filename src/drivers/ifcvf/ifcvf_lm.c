/* Live migration of an ifcvf device: while the frontend has LOG_ALL on,
 * every guest page the device writes must reach the dirty log.
 *
 * Hardware mode (the function has the LM BAR): the frontend's log is mapped
 * into the function's IOMMU and the function sets the bits of the buffers
 * it writes; the driver logs the used rings once the device stopped. A log
 * replaced while logging (QEMU does it when guest memory changes) is
 * followed without a window: the new bitmap is mapped beside the old one and
 * the function's base and end registers move to it one half at a time.
 *
 * Software mode (sw-live-migration=1): on LOG_ALL the device is stopped
 * (ring state saved) and restarted with the used ring of every
 * device-written queue (net RX and control, blk: all) in daemon memory and
 * its MSI-X vector on a private eventfd. A relay on the shared relay pool
 * copies each new used entry to the guest's used ring, logs the buffer the
 * device wrote and the used-ring bytes, and interrupts the guest as its
 * EVENT_IDX or flags ask. The device runs without EVENT_IDX meanwhile, so it
 * interrupts on every completion (the relay cannot miss one) and the kick
 * relay keeps avail_event in the guest's used rings current. LOG_ALL off
 * reverses it: stop, copy what is left, restart on the guest's rings.
 * Nothing is lost or duplicated: a net queue resumes at its used index
 * (buffers fetched but not completed are fetched again), and every used
 * entry the device wrote reaches the guest exactly once. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "core/log.h"
#include "core/util.h"
#include "drivers/ifcvf/ifcvf_dev.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "uvdpa/vhost_user.h"

#define TAG "ifcvf"

/* The two places a dirty log may be in the function's IOMMU: one 4 GiB
 * window, so moving between them changes only the low register halves. */
#define LOG_SLOT_SIZE 0x80000000ull
#define MEDIATED_STRIDE 0x100000ull	/* 1 MiB per vring: the largest used ring fits */
#define DRAIN_WAIT_MS 1000u

void ifcvf_lm_place_areas(struct ifcvf_dev *d)
{
	uint64_t first = 0, last = UINT64_MAX, top;

	d->log_iova = IFCVF_LOG_IOVA;
	d->ring_iova = IFCVF_MEDIATED_VRING_IOVA;
	if (!d->pdev->ops->iova_range || d->pdev->ops->iova_range(d->pdev, &first, &last) < 0)
		return;
	if (first <= IFCVF_LOG_IOVA && last >= IFCVF_MEDIATED_VRING_IOVA + IFCVF_RING_AREA - 1)
		return;
	/* An IOMMU with fewer address bits (a guest's vIOMMU: 39): the top of
	 * its range, in a 4 GiB-aligned window for the two log slots. */
	top = (last + 1) & ~(IFCVF_LOG_AREA - 1);
	if (last == UINT64_MAX || top < first || top - first < IFCVF_LOG_AREA + IFCVF_LOG_AREA) {
		LOG_WARN(TAG, "%s: the IOMMU maps IOVAs 0x%" PRIx64 "..0x%" PRIx64 " only: no room "
			 "for the dirty log and relayed rings, migration will fail", d->vdpa.name,
			 first, last);
		return;
	}
	d->ring_iova = top - IFCVF_LOG_AREA;
	d->log_iova = top - 2 * IFCVF_LOG_AREA;
	LOG_INFO(TAG, "%s: the IOMMU maps IOVAs up to 0x%" PRIx64 ": dirty log at 0x%" PRIx64
		 ", relayed rings at 0x%" PRIx64, d->vdpa.name, last, d->log_iova, d->ring_iova);
}

enum uvdpa_migration_mode ifcvf_lm_select(const struct ifcvf_hw *hw, bool sw_lm, bool shadow)
{
	/* Without ring-state registers a ring can only resume on a shadow
	 * ring (ifcvf_svq.c), whatever was asked. */
	if (!hw->has_lm || shadow)
		return UVDPA_MIGRATION_SHADOW;
	return sw_lm ? UVDPA_MIGRATION_SW : UVDPA_MIGRATION_HW;
}

uint64_t ifcvf_lm_hw_features(const struct ifcvf_dev *d, uint64_t hw_features)
{
	if (d->lm_mode == UVDPA_MIGRATION_SW && d->logging)
		hw_features &= ~(1ull << VIRTIO_RING_F_EVENT_IDX);
	return hw_features;
}

/* Every used ring of the guest, whole (the device's rings may be shadows
 * of another size: the session's ring says how long the guest's is). */
static void log_used_rings(struct ifcvf_dev *d)
{
	for (uint16_t i = 0; i < d->nr_vring; i++) {
		struct uvdpa_vring info;

		if (uvdpa_session_vring_get(d->sess, i, &info) == 0 && info.size)
			uvdpa_session_log_used_ring(d->sess, i, 0, IFCVF_USED_RING_LEN(info.size));
	}
}

/* ---- Hardware mode ---- */

/* Maps the session's log for the function at slot. */
static int log_map(struct ifcvf_dev *d, uint64_t slot, struct ifcvf_log_map *out,
		   struct uvdpa_dirty_log *log)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), map_size;
	void *map;
	int ret;

	ret = uvdpa_session_log_get(d->sess, log);
	if (ret < 0 || log->fd < 0 || !log->size) {
		LOG_ERR(TAG, "%s: LOG_ALL without a dirty log (SET_LOG_BASE)", d->vdpa.name);
		return ret < 0 ? ret : -EINVAL;
	}
	if (__builtin_add_overflow(log->fd_offset, log->size, &map_size) ||
	    map_size >= LOG_SLOT_SIZE) {
		LOG_ERR(TAG, "%s: a dirty log of %" PRIu64 " bytes at offset %" PRIu64
			" is beyond what the driver maps (2 GiB)", d->vdpa.name, log->size,
			log->fd_offset);
		return -E2BIG;
	}
	map_size = (map_size + page - 1) & ~(page - 1);
	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, log->fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		LOG_ERR(TAG, "%s: cannot map the dirty log: %s", d->vdpa.name, strerror(-ret));
		return ret;
	}
	ret = d->pdev->ops->dma_map(d->pdev, slot, map, map_size);
	if (ret < 0) {
		LOG_ERR(TAG, "%s: DMA map of the dirty log failed: %s", d->vdpa.name,
			strerror(-ret));
		munmap(map, map_size);
		return ret;
	}
	out->map = map;
	out->map_size = map_size;
	out->iova = slot;
	out->src = log->base;
	return 0;
}

static void log_unmap(struct ifcvf_dev *d, struct ifcvf_log_map *m)
{
	int ret;

	if (!m->map)
		return;
	ret = d->pdev->ops->dma_unmap(d->pdev, m->iova, m->map_size);
	if (ret < 0)
		LOG_WARN(TAG, "%s: DMA unmap of the dirty log failed: %s", d->vdpa.name,
			 strerror(-ret));
	munmap(m->map, m->map_size);
	memset(m, 0, sizeof(*m));
}

static int hw_log_on(struct ifcvf_dev *d)
{
	struct uvdpa_dirty_log log;
	int ret = log_map(d, d->log_iova, &d->log, &log);

	if (ret < 0)
		return ret;
	ifcvf_hw_log_start(&d->hw, d->log_iova + log.fd_offset, log.size);
	LOG_INFO(TAG, "%s: hardware dirty logging on (%" PRIu64 " bytes of bitmap)", d->vdpa.name,
		 log.size);
	return 0;
}

static void hw_log_off(struct ifcvf_dev *d)
{
	if (!d->log.map)
		return;
	ifcvf_hw_log_stop(&d->hw);
	log_unmap(d, &d->log);
	LOG_INFO(TAG, "%s: hardware dirty logging off", d->vdpa.name);
}

/* The new log goes to the other slot while the function keeps logging into
 * the old one; then the function moves and the old one goes. */
static int hw_log_move(struct ifcvf_dev *d)
{
	uint64_t slot = d->log.iova == d->log_iova ? d->log_iova + LOG_SLOT_SIZE : d->log_iova;
	struct ifcvf_log_map next, old = d->log;
	struct uvdpa_dirty_log log;
	uint64_t old_base;
	int ret = log_map(d, slot, &next, &log);

	if (ret < 0)
		return ret;
	old_base = old.iova + (uint64_t)((uint8_t *)old.src - (uint8_t *)old.map);
	ifcvf_hw_log_move(&d->hw, old_base, slot + log.fd_offset, log.size);
	d->log = next;
	log_unmap(d, &old);
	LOG_INFO(TAG, "%s: the function logs into the new dirty log (%" PRIu64 " bytes)",
		 d->vdpa.name, log.size);
	return 0;
}

/* ---- Software mode: the relay ---- */

static bool device_written(const struct ifcvf_dev *d, uint16_t i)
{
	/* Net: RX vrings and the control vring have even indexes (the control
	 * vring follows the pairs); the device writes into their buffers. */
	return d->vdpa.type != UVDPA_TYPE_NET || !(i & 1);
}

static void le16_store(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

void *ifcvf_guest_translate(void *opaque, uint64_t addr, uint64_t len, bool write,
			    uint64_t *contig)
{
	struct ifcvf_ring *r = opaque;
	uint64_t n = len;
	void *p = uvdpa_session_gpa_to_hva(r->d->sess, addr, &n);

	if (p && contig)
		*contig = n;
	return p;
}

void ifcvf_guest_log(void *opaque, uint64_t addr, uint64_t len)
{
	struct ifcvf_ring *r = opaque;

	if (!len || !__atomic_load_n(&r->d->logging, __ATOMIC_ACQUIRE))
		return;
	uvdpa_session_log_write(r->d->sess, addr, len);
	__atomic_add_fetch(&r->logged_pages, ((addr + len - 1) >> 12) - (addr >> 12) + 1,
			   __ATOMIC_RELAXED);
}

int ifcvf_guest_vq_setup(struct ifcvf_dev *d, uint16_t i, struct virtq *vq)
{
	struct uvdpa_vring info;
	struct virtq_config vc;
	int ret;

	ret = uvdpa_session_vring_get(d->sess, i, &info);
	if (ret < 0)
		return ret;
	memset(&vc, 0, sizeof(vc));
	vc.size = info.size;
	vc.features = d->negotiated;
	vc.desc_addr = info.desc_gpa;
	vc.avail_addr = info.avail_gpa;
	vc.used_addr = info.used_gpa;
	vc.translate = ifcvf_guest_translate;
	vc.log = ifcvf_guest_log;
	vc.opaque = &d->rings[i];
	vc.has_used_log_addr = info.log_used;
	vc.used_log_addr = info.log_used_gpa;
	ret = virtq_setup(vq, &vc);
	if (ret < 0) {
		LOG_ERR(TAG, "%s: vring %u: the guest's ring cannot be used: %s", d->vdpa.name, i,
			strerror(-ret));
		return ret;
	}
	virtq_set_base(vq, info.last_avail_idx, info.last_used_idx);
	return 0;
}

/* Copies the device's new used entries to the guest's ring, logging the
 * bytes the device wrote into each chain (the guest's chain read with the
 * device side of src/virtio: copied once, validated) and the used ring;
 * true when the guest wants an interrupt for them. One thread at a time
 * (the ring's relay watch, or the control thread once it is gone). */
static bool relay_used(struct ifcvf_ring *r)
{
	struct ifcvf_mediated *m = r->med;
	struct vring_used *dev_used = m->used;
	struct virtq_elem *elem = &m->elem->elem;
	uint16_t end = le16toh(__atomic_load_n(&dev_used->idx, __ATOMIC_ACQUIRE)), old = m->next;
	int ret;

	if (end == old)
		return false;
	if ((uint16_t)(end - old) > m->size) {
		/* Not from a working device: nothing to trust in the ring. */
		LOG_ERR(TAG, "%s: vring %u: the device's used index jumped from %u to %u",
			r->d->vdpa.name, r->idx, old, end);
		m->next = end;
		return false;
	}
	for (uint16_t i = old; i != end; i++) {
		struct vring_used_elem e;
		uint16_t head;
		uint32_t len;

		memcpy(&e, &dev_used->ring[i % m->size], sizeof(e));
		head = (uint16_t)le32toh(e.id);
		len = le32toh(e.len);
		if (len && virtq_read_chain(&m->gvq, head, elem) == 0)
			virtq_elem_log_write(&m->gvq, elem, 0, len);
		ret = virtq_push_pending(&m->gvq, head, len);
		if (ret < 0) {
			char why[128];

			virtq_format_error(&m->gvq, why, sizeof(why));
			LOG_ERR(TAG, "%s: vring %u: used entry %u (%u of %u..%u) cannot be relayed: "
				"%s (%s); the ring stops until the frontend restarts it",
				r->d->vdpa.name, r->idx, head, i, old, end, strerror(-ret), why);
			break;
		}
	}
	virtq_push_commit(&m->gvq);
	m->next = end;
	__atomic_add_fetch(&r->relayed, (uint16_t)(end - old), __ATOMIC_RELAXED);
	return virtq_should_notify(&m->gvq);
}

void ifcvf_call_guest(struct ifcvf_ring *r)
{
	int ret = r->callfd >= 0 ? uvdpa_efd_signal(r->callfd) : 0;

	if (ret < 0)
		LOG_DEBUG(TAG, "%s: vring %u: call: %s", r->d->vdpa.name, r->idx, strerror(-ret));
}

static void irq_relay(int fd, void *opaque)
{
	struct ifcvf_ring *r = opaque;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	if (relay_used(r))
		ifcvf_call_guest(r);
}

void ifcvf_lm_kicked(struct ifcvf_ring *r)
{
	struct vring_used *u = r->used;
	uint16_t a, seen;

	if (!r->d->relay_avail_event || !r->avail || !u)
		return;
	/* "Kick me at the next buffer", until the index is stable: a guest
	 * that published after our read saw the old event and did not kick,
	 * but the doorbell rung after this covers it. */
	a = ifcvf_ring_idx_read(r->avail);
	do {
		seen = a;
		le16_store(&u->ring[r->d->hwr[r->idx].size], seen);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		a = ifcvf_ring_idx_read(r->avail);
	} while (a != seen);
}

/* ---- Software mode: switching ---- */

static void unmediate(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	struct ifcvf_mediated *m = r->med;

	if (!m)
		return;
	relay_watch_del(m->irq);
	m->irq = NULL;
	/* The device stopped: what it completed reaches the guest. */
	if (relay_used(r))
		ifcvf_call_guest(r);
	d->pdev->ops->dma_unmap(d->pdev, m->iova, m->map_len);
	munmap(m->used, m->map_len);
	close(m->irqfd);
	free(m->elem);
	free(m);
	r->med = NULL;
}

/* Ring i runs on a used ring of ours from hwr[i]'s saved state. */
static int mediate(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	struct ifcvf_mediated *m;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->irqfd = -1;
	m->size = d->hwr[i].size;
	m->map_len = (IFCVF_USED_RING_LEN(m->size) + page - 1) & ~(page - 1);
	m->iova = d->ring_iova + (uint64_t)i * MEDIATED_STRIDE;
	m->next = d->hwr[i].last_used_idx;
	m->elem = malloc(sizeof(*m->elem));
	if (!m->elem) {
		ret = -ENOMEM;
		goto fail;
	}
	virtq_elem_buf_init(m->elem);
	ret = ifcvf_guest_vq_setup(d, i, &m->gvq);
	if (ret < 0)
		goto fail;
	/* The device's used index is where the guest's is. */
	virtq_set_base(&m->gvq, d->hwr[i].last_used_idx, d->hwr[i].last_used_idx);
	m->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->used = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->irqfd < 0 || m->used == MAP_FAILED) {
		if (m->used == MAP_FAILED)
			m->used = NULL;
		ret = -errno;
		goto fail;
	}
	/* The device continues the guest's numbering. */
	((struct vring_used *)m->used)->idx = htole16(m->next);
	ret = d->pdev->ops->dma_map(d->pdev, m->iova, m->used, m->map_len);
	if (ret < 0)
		goto fail;
	r->med = m;
	d->hwr[i].used = m->iova;
	return 0;
fail:
	LOG_ERR(TAG, "%s: vring %u: cannot set up its relayed used ring: %s", d->vdpa.name, i,
		strerror(-ret));
	if (m->used)
		munmap(m->used, m->map_len);
	if (m->irqfd >= 0)
		close(m->irqfd);
	free(m->elem);
	free(m);
	return ret;
}

static int relay_watch_start(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];

	r->med->irq = relay_watch_add(r->med->irqfd, irq_relay, r);
	if (!r->med->irq) {
		int ret = -errno;

		LOG_ERR(TAG, "%s: vring %u: cannot relay its interrupts: %s", d->vdpa.name, i,
			strerror(-ret));
		return ret;
	}
	/* Completions written before the watch existed: the relay thread
	 * takes them (only it may touch the ring while the watch exists). */
	if (eventfd_write(r->med->irqfd, 1) < 0)
		LOG_WARN(TAG, "%s: vring %u: cannot wake its relay: %s", d->vdpa.name, i,
			 strerror(errno));
	return 0;
}

/* Blk requests in flight cannot be fetched again safely once the ring
 * moves: wait (bounded) until the device completed what it fetched. A
 * device that does not drain is reported and its requests are fetched
 * again on resume (avail = used). */
static void drain(struct ifcvf_dev *d)
{
	if (d->vdpa.type != UVDPA_TYPE_BLK)
		return;
	for (uint16_t i = 0; i < d->nr_vring; i++) {
		struct ifcvf_vring st;
		unsigned int waited = 0;

		if (!d->rings[i].started)
			continue;
		for (;;) {
			ifcvf_hw_ring_state_raw(&d->hw, i, &st);
			if (st.last_avail_idx == st.last_used_idx)
				break;
			if (waited >= DRAIN_WAIT_MS) {
				LOG_ERR(TAG, "%s: vring %u did not drain in %u ms (%u requests in "
					"flight): they are submitted again on resume", d->vdpa.name,
					i, DRAIN_WAIT_MS, (uint16_t)(st.last_avail_idx - st.last_used_idx));
				d->drain_timeouts++;
				d->hwr[i].last_avail_idx = d->hwr[i].last_used_idx;
				break;
			}
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
			waited++;
		}
	}
}

/* Stops the device and restarts it with rings mediated (on) or not. */
static int sw_switch(struct ifcvf_dev *d, bool on)
{
	uint16_t n = d->nr_vring, i;
	int ret = 0;

	for (i = 0; i < n; i++)
		ifcvf_kick_stop(&d->rings[i]);
	drain(d);
	ifcvf_hw_stop(&d->hw, d->hwr, n);
	for (i = 0; i < n; i++) {
		struct uvdpa_vring info;

		if (!d->rings[i].started)
			continue;
		unmediate(d, i);
		if (uvdpa_session_vring_get(d->sess, i, &info) == 0)
			d->hwr[i].used = info.used_gpa;
		if (on && device_written(d, i)) {
			ret = mediate(d, i);
			if (ret < 0)
				break;
		}
	}
	if (ret < 0) {
		for (i = 0; i < n; i++)
			unmediate(d, i);
		on = false;
	}
	d->logging = on;
	d->relay_avail_event = on && d->guest_event_idx;
	for (i = 0; i < n; i++)
		if (d->rings[i].started)
			ifcvf_lm_kicked(&d->rings[i]);
	if (ifcvf_msix_rewire(d) < 0 ||
	    ifcvf_hw_start(&d->hw, ifcvf_lm_hw_features(d, d->hw_features), d->hwr, n) < 0) {
		LOG_ERR(TAG, "%s: the device did not restart after %s the relay: its datapath "
			"stays down until the frontend restarts it", d->vdpa.name,
			on ? "starting" : "stopping");
		return -EIO;
	}
	for (i = 0; i < n && on; i++)
		if (d->rings[i].med && relay_watch_start(d, i) < 0)
			ret = -EIO;
	for (i = 0; i < n; i++)
		if (d->rings[i].started)
			ifcvf_kick_start(d, i);
	if (ret == 0)
		LOG_INFO(TAG, "%s: software-assisted dirty logging %s", d->vdpa.name,
			 on ? "on: device-written rings are relayed" : "off");
	return ret;
}

/* ---- Entry points ---- */

int ifcvf_lm_set_logging(struct ifcvf_dev *d, bool on)
{
	int ret;

	if (on == d->logging)
		return 0;
	switch (d->lm_mode) {
	case UVDPA_MIGRATION_HW:
		if (!on) {
			hw_log_off(d);
			d->logging = false;
			return 0;
		}
		ret = hw_log_on(d);
		if (ret == 0)
			d->logging = true;
		return ret;
	case UVDPA_MIGRATION_SW:
		return sw_switch(d, on);
	default:
		/* Not offered then; the vhost layer refuses it first. */
		LOG_ERR(TAG, "%s: LOG_ALL on a device that cannot log", d->vdpa.name);
		return -ENOTSUP;
	}
}

int ifcvf_lm_log_replaced(struct ifcvf_dev *d)
{
	struct uvdpa_dirty_log log;

	/* The relay writes through the session, into its current log. */
	if (d->lm_mode != UVDPA_MIGRATION_HW || !d->logging)
		return 0;
	if (uvdpa_session_log_get(d->sess, &log) < 0 || log.base == d->log.src)
		return 0;
	return hw_log_move(d);
}

void ifcvf_lm_device_stopped(struct ifcvf_dev *d)
{
	for (uint16_t i = 0; i < IFCVF_MAX_VRINGS; i++)
		unmediate(d, i);
	d->relay_avail_event = false;
	hw_log_off(d);
	if (d->logging)
		log_used_rings(d);
	d->logging = false;
}

int ifcvf_lm_ring_starting(struct ifcvf_dev *d, uint16_t i)
{
	if (d->lm_mode != UVDPA_MIGRATION_SW || !d->logging || !device_written(d, i))
		return 0;
	return mediate(d, i);
}

void ifcvf_lm_ring_started(struct ifcvf_dev *d, uint16_t i)
{
	if (d->rings[i].med)
		relay_watch_start(d, i);
	ifcvf_lm_kicked(&d->rings[i]);
}

void ifcvf_lm_ring_stopped(struct ifcvf_dev *d, uint16_t i)
{
	unmediate(d, i);
	if (d->logging && d->hwr[i].size)
		uvdpa_session_log_used_ring(d->sess, i, 0, IFCVF_USED_RING_LEN(d->hwr[i].size));
}
