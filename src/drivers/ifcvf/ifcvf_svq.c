/* Shadow virtqueues: the device runs on rings in daemon memory, always
 * started at index 0, and a relay moves buffers between them and the
 * guest's rings (as QEMU's vhost-vdpa shadow virtqueues do). This is how a
 * function without ring-state registers (a plain virtio 1.0 function: the
 * generic virtio-pci driver, an IFCVF without BAR4) migrates, resumes a
 * guest's rings at any index, starts a queue after the device, and stops one
 * queue alone.
 *
 * Per ring, on the shared relay pool:
 *   guest kick  -> take the guest's new chains (src/virtio/virtq.c: copied
 *                  once, validated, indirect tables flattened) and add each
 *                  as a chain of direct descriptors to the shadow ring
 *                  (src/virtio/virtq_driver.c), then ring the doorbell when
 *                  the device asks;
 *   device irq  -> take the device's used entries, mark dirty what it wrote
 *                  (from our own copy of the chain, never re-read from the
 *                  guest) when logging, put each guest head in the guest's
 *                  used ring (which logs it), and call the guest as its
 *                  EVENT_IDX or flags ask.
 * The two directions of one ring take its lock: they run on any relay
 * thread. Buffer addresses are guest physical addresses in both rings: the
 * function's IOMMU maps guest memory at its GPA, and the shadow rings at
 * the device's ring area (d->ring_iova).
 *
 * Where it stops: the device is reset; its completions reach the guest;
 * chains still in flight on a net ring were not completed (the device
 * completes in order) and are handed back as not taken, so the guest's last
 * avail index goes back by that many and they are taken again on resume. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "core/log.h"
#include "drivers/ifcvf/ifcvf_dev.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "virtio/virtq.h"
#include "virtio/virtq_driver.h"

#define TAG "ifcvf"
#define SHADOW_STRIDE 0x1000000ull	/* 16 MiB of IOVA per ring */
#define SHADOW_MAX_SIZE 4096u
#define POLL_NS 1000000			/* page-kick poll period */

struct ifcvf_shadow {
	struct ifcvf_ring *r;
	pthread_mutex_t lock;

	/* Device side: the shadow ring. */
	void *area;
	uint64_t area_len, iova;
	struct virtq_driver svq;
	uint16_t *guest_head;		/* per shadow head: the guest's */
	int irqfd;			/* the ring's MSI-X vector */
	struct relay_watch *irq;

	/* Guest side, while the guest's ring is attached. */
	bool attached;
	bool failed;			/* the guest's ring was refused: said once */
	struct virtq gvq;
	struct virtq_elem_buf *elem;
	struct virtq_drv_buf *bufs;	/* elem as shadow buffers: VIRTQ_MAX_IOV */
	bool stashed;			/* elem taken, waiting for shadow descriptors */
	struct relay_watch *kick;
};

/* ---- The relay (ring lock held) ---- */

/* Moves the guest's new chains to the shadow ring. */
static void pump_locked(struct ifcvf_shadow *s)
{
	struct ifcvf_ring *r = s->r;
	struct virtq_elem *e = &s->elem->elem;
	bool added = false;

	if (!s->attached || s->failed)
		return;
	for (;;) {
		struct virtq_drv_buf *bufs = s->bufs;
		uint32_t n;
		uint16_t head;
		int ret;

		if (!s->stashed) {
			if (!virtq_avail_count(&s->gvq)) {
				/* Kicks again; what came meanwhile is taken now. */
				if (!virtq_enable_notify(&s->gvq))
					break;
				continue;
			}
			ret = virtq_pop(&s->gvq, e);
			if (ret == -EAGAIN)
				break;
			if (ret < 0) {
				char why[128];

				virtq_format_error(&s->gvq, why, sizeof(why));
				LOG_ERR(TAG, "%s: vring %u: the guest's ring is malformed: %s; the "
					"ring stops until the frontend restarts it", r->d->vdpa.name,
					r->idx, why);
				s->failed = true;
				break;
			}
			s->stashed = true;
		}
		n = e->out_num + e->in_num;
		if (n > s->svq.size) {
			LOG_ERR(TAG, "%s: vring %u: a chain of %u buffers does not fit the shadow "
				"ring; the ring stops until the frontend restarts it",
				r->d->vdpa.name, r->idx, n);
			s->failed = true;
			break;
		}
		if (s->svq.num_free < n)
			break;	/* completions free descriptors and pump again */
		for (uint32_t i = 0; i < n; i++) {
			bufs[i].addr = e->addr[i];
			bufs[i].len = (uint32_t)e->iov[i].iov_len;
			bufs[i].device_writes = i >= e->out_num;
		}
		if (virtq_drv_add_chain(&s->svq, bufs, n, &head) < 0)
			break;
		s->guest_head[head] = e->head;
		s->stashed = false;
		added = true;
	}
	if (added && virtq_drv_publish(&s->svq))
		ifcvf_hw_notify(&r->d->hw, r->idx);
}

/* Marks dirty the len bytes the device wrote into shadow chain head. */
static void log_written(struct ifcvf_shadow *s, uint16_t head, uint32_t len)
{
	uint16_t id = head;

	for (uint16_t i = 0; i < virtq_drv_chain_len(&s->svq, head) && len; i++) {
		uint32_t w = s->svq.wlen[id];

		if (w) {
			uint32_t part = w < len ? w : len;

			ifcvf_guest_log(s->r, le64toh(s->svq.desc[id].addr), part);
			len -= part;
		}
		id = virtq_drv_chain_next(&s->svq, id);
	}
}

/* Moves the device's completions to the guest; true when the guest wants
 * an interrupt. */
static bool complete_locked(struct ifcvf_shadow *s)
{
	bool logging = __atomic_load_n(&s->r->d->logging, __ATOMIC_ACQUIRE);
	unsigned int n = 0;

	do {
		uint16_t head;
		uint32_t len;
		int ret;

		while ((ret = virtq_drv_pop(&s->svq, &head, &len)) == 1 || ret == -EMSGSIZE) {
			if (logging && len)
				log_written(s, head, len);
			if (s->attached)
				virtq_push_pending(&s->gvq, s->guest_head[head], len);
			virtq_drv_chain_release(&s->svq, head);
			n++;
		}
		if (ret < 0) {
			LOG_ERR(TAG, "%s: vring %u: the device returned an impossible used entry",
				s->r->d->vdpa.name, s->r->idx);
			break;
		}
	} while (virtq_drv_enable_interrupts(&s->svq));
	if (!n || !s->attached)
		return false;
	virtq_push_commit(&s->gvq);
	__atomic_add_fetch(&s->r->relayed, n, __ATOMIC_RELAXED);
	return virtq_should_notify(&s->gvq);
}

/* The guest's callfd is only used under the lock: detach closes it after. */
static void relay_pass(struct ifcvf_shadow *s)
{
	pthread_mutex_lock(&s->lock);
	if (complete_locked(s))
		ifcvf_call_guest(s->r);
	pump_locked(s);		/* descriptors came back */
	pthread_mutex_unlock(&s->lock);
}

static void irq_cb(int fd, void *opaque)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;
	relay_pass(opaque);
}

static void kick_cb(int fd, void *opaque)
{
	struct ifcvf_shadow *s = opaque;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;
	__atomic_add_fetch(&s->r->kicks, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&s->lock);
	pump_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* Doorbell pages were mapped into the frontend before the switch: its
 * kicks may still land there (until it processed the removal), so the
 * relay also looks at the guest's rings periodically. */
static void poll_cb(int fd, void *opaque)
{
	struct ifcvf_dev *d = opaque;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0)
		return;
	for (uint16_t i = 0; i < d->nr_vring; i++)
		if (d->rings[i].shadow)
			relay_pass(d->rings[i].shadow);
}

/* ---- Setup ---- */

static void shadow_free(struct ifcvf_dev *d, struct ifcvf_ring *r)
{
	struct ifcvf_shadow *s = r->shadow;

	if (!s)
		return;
	relay_watch_del(s->kick);
	relay_watch_del(s->irq);
	if (s->iova)
		d->pdev->ops->dma_unmap(d->pdev, s->iova, s->area_len);
	if (s->area)
		munmap(s->area, s->area_len);
	virtq_drv_fini(&s->svq);
	if (s->irqfd >= 0)
		close(s->irqfd);
	pthread_mutex_destroy(&s->lock);
	free(s->guest_head);
	free(s->bufs);
	free(s->elem);
	free(s);
	r->shadow = NULL;
}

static int shadow_new(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint16_t size = d->hw.queue_size_max[i] < SHADOW_MAX_SIZE ? d->hw.queue_size_max[i] :
								   SHADOW_MAX_SIZE;
	struct virtq_drv_rings rings;
	struct ifcvf_shadow *s;
	int ret = -ENOMEM;

	if (!size || (size & (size - 1)))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->r = r;
	s->irqfd = -1;
	pthread_mutex_init(&s->lock, NULL);
	r->shadow = s;
	s->elem = malloc(sizeof(*s->elem));
	s->bufs = calloc(VIRTQ_MAX_IOV, sizeof(*s->bufs));
	s->guest_head = calloc(size, sizeof(*s->guest_head));
	if (!s->elem || !s->bufs || !s->guest_head)
		goto fail;
	virtq_elem_buf_init(s->elem);
	s->area_len = (virtq_drv_area_bytes(size, VIRTQ_DRV_USED_ALIGN) + page - 1) & ~(page - 1);
	s->area = mmap(NULL, s->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->area == MAP_FAILED) {
		s->area = NULL;
		ret = -errno;
		goto fail;
	}
	ret = virtq_drv_rings_in_area(&rings, s->area, d->ring_iova +
				      (uint64_t)i * SHADOW_STRIDE, size, VIRTQ_DRV_USED_ALIGN);
	if (ret == 0)
		ret = virtq_drv_init(&s->svq, size, &rings);
	if (ret < 0)
		goto fail;
	virtq_drv_reset(&s->svq, d->hw_features);
	ret = d->pdev->ops->dma_map(d->pdev, rings.desc_addr, s->area, s->area_len);
	if (ret < 0)
		goto fail;
	s->iova = rings.desc_addr;
	s->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->irqfd < 0) {
		ret = -errno;
		goto fail;
	}
	memset(&d->hwr[i], 0, sizeof(d->hwr[i]));
	d->hwr[i].desc = rings.desc_addr;
	d->hwr[i].avail = rings.avail_addr;
	d->hwr[i].used = rings.used_addr;
	d->hwr[i].size = size;
	d->hwr[i].enabled = true;
	return 0;
fail:
	LOG_ERR(TAG, "%s: vring %u: cannot set up its shadow ring: %s", d->vdpa.name, i,
		strerror(-ret));
	shadow_free(d, r);
	return ret;
}

/* The guest's ring i (ready in the session) joins its shadow ring. */
static int attach(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	struct ifcvf_shadow *s = r->shadow;
	struct uvdpa_vring info;
	int ret;

	ret = uvdpa_session_vring_get(d->sess, i, &info);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->lock);
	ret = ifcvf_guest_vq_setup(d, i, &s->gvq);	/* says why it failed */
	if (ret == 0) {
		s->attached = true;
		s->stashed = false;
		s->failed = false;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		return ret;
	if (info.kickfd >= 0) {
		s->kick = relay_watch_add(info.kickfd, kick_cb, s);
		if (!s->kick) {
			ret = -errno;
			LOG_ERR(TAG, "%s: vring %u: cannot relay its kicks: %s", d->vdpa.name, i,
				strerror(-ret));
			return ret;
		}
	}
	relay_pass(s);
	return 0;
}

/* The guest's ring i leaves: its state goes back to the session. Chains
 * still with the device are handed back as not taken. */
static void detach(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_shadow *s = d->rings[i].shadow;
	uint16_t avail, used;

	if (!s || !s->attached)
		return;
	relay_watch_del(s->kick);
	s->kick = NULL;
	pthread_mutex_lock(&s->lock);
	complete_locked(s);
	virtq_get_base(&s->gvq, &avail, &used);
	avail = (uint16_t)(avail - virtq_drv_in_flight(&s->svq) - s->stashed);
	s->attached = false;
	s->stashed = false;
	pthread_mutex_unlock(&s->lock);
	uvdpa_session_vring_set_base(d->sess, i, avail, used);
}

/* ---- Entry points (control thread) ---- */

int ifcvf_svq_start(struct ifcvf_dev *d)
{
	unsigned int nq = d->hw.num_queues < d->msix_nvec - 1u ? d->hw.num_queues :
								d->msix_nvec - 1u;
	uint16_t i;
	int ret;

	/* Every queue of the device runs from the start, at index 0, so a
	 * guest ring may join or leave at any time. */
	for (i = 0; i < nq; i++) {
		ret = shadow_new(d, i);
		if (ret < 0)
			goto fail;
	}
	d->svq_nq = (uint16_t)nq;
	d->svq_running = true;
	ret = ifcvf_msix_rewire(d);
	if (ret < 0)
		goto fail;
	ret = ifcvf_hw_start(&d->hw, d->hw_features, d->hwr, nq);
	if (ret < 0)
		goto fail;
	for (i = 0; i < nq; i++) {
		struct ifcvf_shadow *s = d->rings[i].shadow;

		s->irq = relay_watch_add(s->irqfd, irq_cb, s);
		if (!s->irq) {
			ret = -errno;
			goto fail_running;
		}
	}
	for (i = 0; i < d->nr_vring && i < nq; i++) {
		if (!d->rings[i].started)
			continue;
		ret = attach(d, i);
		if (ret < 0)
			goto fail_running;
	}
	LOG_INFO(TAG, "%s: shadow virtqueues up (%u rings)", d->vdpa.name, nq);
	return 0;
fail_running:
	ifcvf_svq_stop(d);
	return ret;
fail:
	for (i = 0; i < IFCVF_MAX_VRINGS; i++)
		shadow_free(d, &d->rings[i]);
	d->svq_running = false;
	return ret;
}

void ifcvf_svq_stop(struct ifcvf_dev *d)
{
	uint16_t i;

	if (!d->svq_running)
		return;
	relay_watch_del(d->svq_poll);
	d->svq_poll = NULL;
	if (d->svq_poll_fd >= 0)
		close(d->svq_poll_fd);
	d->svq_poll_fd = -1;
	for (i = 0; i < IFCVF_MAX_VRINGS; i++) {
		struct ifcvf_shadow *s = d->rings[i].shadow;

		if (!s)
			continue;
		relay_watch_del(s->kick);
		s->kick = NULL;
		relay_watch_del(s->irq);
		s->irq = NULL;
	}
	ifcvf_hw_stop(&d->hw, d->hwr, d->svq_nq);
	for (i = 0; i < IFCVF_MAX_VRINGS; i++) {
		if (!d->rings[i].shadow)
			continue;
		detach(d, i);
		shadow_free(d, &d->rings[i]);
	}
	d->svq_running = false;
}

int ifcvf_svq_ring_enable(struct ifcvf_dev *d, uint16_t i)
{
	if (!d->rings[i].shadow) {
		LOG_ERR(TAG, "%s: vring %u has no shadow ring", d->vdpa.name, i);
		return -EINVAL;
	}
	return attach(d, i);
}

void ifcvf_svq_ring_disable(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_shadow *s = d->rings[i].shadow;
	uint16_t in_flight;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	complete_locked(s);
	in_flight = virtq_drv_in_flight(&s->svq);
	pthread_mutex_unlock(&s->lock);
	if (!in_flight) {
		detach(d, i);
		return;
	}
	/* The device still holds some of the guest's buffers and a plain
	 * virtio function cannot give one queue's back: it restarts, and
	 * every other ring rejoins where it was. */
	LOG_INFO(TAG, "%s: vring %u stops with %u buffers at the device: restarting the device",
		 d->vdpa.name, i, in_flight);
	ifcvf_svq_stop(d);
	if (ifcvf_svq_start(d) < 0)
		LOG_ERR(TAG, "%s: the device did not restart: its datapath stays down until the "
			"frontend restarts it", d->vdpa.name);
}

int ifcvf_svq_irqfd(const struct ifcvf_ring *r)
{
	return r->shadow ? r->shadow->irqfd : -1;
}

int ifcvf_svq_poll_kicks(struct ifcvf_dev *d)
{
	struct itimerspec its = { .it_interval = { 0, POLL_NS }, .it_value = { 0, POLL_NS } };

	if (d->svq_poll)
		return 0;
	d->svq_poll_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->svq_poll_fd < 0 || timerfd_settime(d->svq_poll_fd, 0, &its, NULL) < 0)
		return -errno;
	d->svq_poll = relay_watch_add(d->svq_poll_fd, poll_cb, d);
	return d->svq_poll ? 0 : -errno;
}
