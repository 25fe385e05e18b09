/* The ifcvf vDPA driver: device ops over ifcvf_hw. The guest's rings are
 * handed to the function (IOVA = guest physical address, one IOMMU domain per
 * function), its interrupts go straight to the frontend's call eventfds
 * through MSI-X, and kicks are relayed to the doorbell by the shared relay
 * pool (also when a host notifier maps the doorbell into the guest, as a
 * fallback). Live migration (hardware dirty logging or the software relay)
 * is in ifcvf_lm.c.
 *
 * Threads: every op runs on the control thread. Relay callbacks (kick ->
 * doorbell, config interrupt -> CONFIG_CHANGE_MSG) run on relay threads and
 * only read state that is fixed while their watch exists; relay_watch_del()
 * is synchronous, so no lock is needed here. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "drivers/ifcvf/ifcvf_dev.h"
#include "drivers/ifcvf/ifcvf_hw.h"
#include "drivers/ifcvf/ifcvf_vdpa.h"
#include "uvdpa/devargs.h"
#include "uvdpa/events.h"
#include "core/log.h"
#include "core/util.h"
#include "core/relay.h"
#include "uvdpa/vhost_user.h"

#define TAG "ifcvf"

/* Net config as far as the driver serves it: mac, status,
 * max_virtqueue_pairs, mtu. */
#define NET_CONFIG_LEN 12
#define NET_CONFIG_STATUS_OFF 6
#define NET_CONFIG_MAX_VQP_OFF 8
#define CONFIG_MAX_LEN 256

#define PROTOCOL_FEATURES                                                                       \
	((1ull << UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_REQ) | \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD) |                                         \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) |                                           \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD) | (1ull << UVDPA_VHOST_USER_PROTOCOL_F_MQ) |          \
	 (1ull << UVDPA_VHOST_USER_PROTOCOL_F_STATUS))

static struct ifcvf_dev *to_ifcvf(struct uvdpa_device *vdev)
{
	return vdev->priv;
}


static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

uint16_t ifcvf_ring_idx_read(const void *ring)
{
	/* avail->idx and used->idx are the second le16 of their ring. */
	return le16toh(__atomic_load_n((const uint16_t *)ring + 1, __ATOMIC_ACQUIRE));
}

/* ---- Relays (relay threads) ---- */

static void kick_relay(int fd, void *opaque)
{
	struct ifcvf_ring *r = opaque;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return;	/* EAGAIN: someone else drained it */
	ifcvf_lm_kicked(r);
	ifcvf_hw_notify(&r->d->hw, r->idx);
	__atomic_add_fetch(&r->kicks, 1, __ATOMIC_RELAXED);
}

/* The device raised its config vector (e.g. link or capacity change). This
 * waits for the frontend's ack on the backend channel (bounded by the vhost
 * layer), so it holds up this relay thread for at most that long. */
static void config_relay(int fd, void *opaque)
{
	struct ifcvf_dev *d = opaque;
	uint64_t n;
	int ret;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	/* A function that faulted says so in its status and interrupts here. */
	if ((ifcvf_hw_get_status(&d->hw) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	    !__atomic_exchange_n(&d->needs_reset_seen, true, __ATOMIC_RELAXED)) {
		LOG_ERR(TAG, "%s: the function reports DEVICE_NEEDS_RESET: its datapath stopped "
			"until the frontend restarts the device", d->vdpa.name);
		uvdpa_event_emit(UVDPA_EVENT_NEEDS_RESET, d->vdpa.name, "function %s",
				 d->pdev->addr);
	}
	ret = uvdpa_session_config_change(d->sess);
	if (ret == -ENOTSUP)
		LOG_DEBUG(TAG, "%s: config change not forwarded: CONFIG not negotiated",
			  d->vdpa.name);
	else if (ret < 0)
		LOG_WARN(TAG, "%s: config change not delivered: %s", d->vdpa.name, strerror(-ret));
}

/* ---- MSI-X ---- */

int ifcvf_msix_rewire(struct ifcvf_dev *d)
{
	int efds[IFCVF_MAX_VRINGS + 1];
	unsigned int i;
	int ret;

	efds[0] = d->config_efd;
	for (i = 1; i < d->msix_nvec; i++) {
		const struct ifcvf_ring *r = &d->rings[i - 1];

		/* A relayed or shadowed ring interrupts the relay, which calls
		 * the guest. Shadow rings run whether the guest's ring does or not. */
		if (r->shadow)
			efds[i] = ifcvf_svq_irqfd(r);
		else
			efds[i] = !r->started ? -1 : r->med ? r->med->irqfd : r->callfd;
	}
	ret = d->pdev->ops->msix_set(d->pdev, efds, d->msix_nvec);
	if (ret < 0)
		LOG_ERR(TAG, "%s: wiring %u MSI-X vectors failed: %s", d->vdpa.name, d->msix_nvec,
			strerror(-ret));
	return ret;
}

/* ---- DMA ---- */

static void dma_unmap_all(struct ifcvf_dev *d)
{
	while (d->nmaps) {
		struct ifcvf_dma_map *m = &d->maps[--d->nmaps];
		int ret = d->pdev->ops->dma_unmap(d->pdev, m->iova, m->size);

		if (ret < 0)
			LOG_WARN(TAG, "%s: DMA unmap of [0x%" PRIx64 ", +0x%" PRIx64 ") failed: %s",
				 d->vdpa.name, m->iova, m->size, strerror(-ret));
	}
}

static int dma_map_all(struct ifcvf_dev *d)
{
	struct uvdpa_mem_region regions[IFCVF_MAX_DMA_MAPS];
	uint64_t t0 = uvdpa_now_ns(), bytes = 0, us;
	unsigned int n, i;

	n = uvdpa_session_mem_table(d->sess, regions, IFCVF_MAX_DMA_MAPS);
	if (n > IFCVF_MAX_DMA_MAPS) {
		LOG_ERR(TAG, "%s: %u guest memory regions, the driver maps at most %u", d->vdpa.name,
			n, IFCVF_MAX_DMA_MAPS);
		return -E2BIG;
	}
	for (i = 0; i < n; i++) {
		const struct uvdpa_mem_region *r = &regions[i];
		int ret;

		if (r->gpa < d->ring_iova + IFCVF_RING_AREA && r->gpa + r->size > d->log_iova) {
			LOG_ERR(TAG, "%s: guest memory [0x%" PRIx64 ", +0x%" PRIx64 ") reaches the "
				"IOVAs the driver keeps for its dirty log and rings (0x%" PRIx64
				"..0x%" PRIx64 ")", d->vdpa.name, r->gpa, r->size, d->log_iova,
				(uint64_t)(d->ring_iova + IFCVF_RING_AREA - 1));
			dma_unmap_all(d);
			return -ERANGE;
		}
		ret = d->pdev->ops->dma_map(d->pdev, r->gpa, r->host, r->size);

		if (ret < 0) {
			LOG_ERR(TAG, "%s: DMA map of guest memory [0x%" PRIx64 ", +0x%" PRIx64
				") failed: %s", d->vdpa.name, r->gpa, r->size, strerror(-ret));
			dma_unmap_all(d);
			return ret;
		}
		d->maps[d->nmaps].iova = r->gpa;
		d->maps[d->nmaps].size = r->size;
		d->nmaps++;
		bytes += r->size;
	}
	/* What mapping guest memory costs (VFIO type1 pins every page). */
	us = (uvdpa_now_ns() - t0) / 1000;
	LOG_INFO(TAG, "%s: DMA-mapped %" PRIu64 " MiB of guest memory in %u region(s) in %" PRIu64
		 " us (%" PRIu64 " ms per GiB)", d->vdpa.name, bytes >> 20, n, us,
		 bytes ? us * 1024 / (bytes >> 20 ? bytes >> 20 : 1) / 1000 : 0);
	return 0;
}

/* The frontend's inflight region, for a function with uvdpa's inflight
 * extension: mapped next to the relayed rings and handed to the function,
 * which records the requests it holds there and, at start, processes again
 * those a killed daemon left in flight. Without a region (or the extension)
 * nothing happens. */
static int inflight_map(struct ifcvf_dev *d)
{
	struct uvdpa_inflight inf;
	uint64_t iova = d->ring_iova + IFCVF_INFLIGHT_AREA_OFF;
	int ret;

	/* Shadow rings have heads of their own: the region would not match. */
	if (!d->hw.caps.inflight.present || d->lm_mode == UVDPA_MIGRATION_SHADOW ||
	    uvdpa_session_inflight_get(d->sess, &inf) < 0)
		return 0;
	if (inf.size > IFCVF_RING_AREA - IFCVF_INFLIGHT_AREA_OFF || d->nmaps >= IFCVF_MAX_DMA_MAPS) {
		LOG_ERR(TAG, "%s: inflight region of %" PRIu64 " bytes does not fit", d->vdpa.name,
			inf.size);
		return -E2BIG;
	}
	ret = d->pdev->ops->dma_map(d->pdev, iova, inf.base, inf.size);
	if (ret < 0) {
		LOG_ERR(TAG, "%s: DMA map of the inflight region failed: %s", d->vdpa.name,
			strerror(-ret));
		return ret;
	}
	d->maps[d->nmaps].iova = iova;
	d->maps[d->nmaps].size = inf.size;
	d->nmaps++;
	return ifcvf_hw_inflight_set(&d->hw, iova, (uint32_t)inf.queue_stride, inf.queue_size,
				     inf.num_queues);
}

/* ---- Rings ---- */

/* Reads ring i from the vhost layer into hwr[i] and rings[i]. A ring that is
 * not ready stays disabled. */
static int ring_load(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	struct ifcvf_vring *h = &d->hwr[i];
	struct uvdpa_vring info;
	int ret;

	ret = uvdpa_session_vring_get(d->sess, i, &info);
	if (ret < 0)
		return ret;
	memset(h, 0, sizeof(*h));
	if (!info.ready)
		return 0;
	h->desc = info.desc_gpa;
	h->avail = info.avail_gpa;
	h->used = info.used_gpa;
	h->size = info.size;
	h->last_avail_idx = info.last_avail_idx;
	h->last_used_idx = info.last_used_idx;
	h->enabled = true;
	r->avail = info.avail;
	r->used = info.used;
	r->desc = info.desc;
	r->avail_base = info.last_avail_idx;
	r->used_base = info.last_used_idx;
	close_fd(&r->callfd);
	if (info.callfd >= 0) {
		/* Our own reference: the frontend may replace its fd while the
		 * device still signals this one. */
		r->callfd = fcntl(info.callfd, F_DUPFD_CLOEXEC, 3);
		if (r->callfd < 0)
			return -errno;
	}
	return 0;
}

int ifcvf_kick_start(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	struct uvdpa_vring info;

	if (uvdpa_session_vring_get(d->sess, i, &info) < 0 || info.kickfd < 0)
		return 0;	/* no kickfd: the frontend polls or uses a host notifier */
	r->kick = relay_watch_add(info.kickfd, kick_relay, r);
	if (!r->kick) {
		int ret = -errno;

		LOG_ERR(TAG, "%s: cannot relay kicks of vring %u: %s", d->vdpa.name, i,
			strerror(-ret));
		return ret;
	}
	/* Buffers posted (and kicks consumed) before the device ran. */
	ifcvf_hw_notify(&d->hw, i);
	return 0;
}

void ifcvf_kick_stop(struct ifcvf_ring *r)
{
	relay_watch_del(r->kick);
	r->kick = NULL;
}

static unsigned int rings_started(const struct ifcvf_dev *d)
{
	unsigned int n = 0;

	for (uint16_t i = 0; i < d->nr_vring; i++)
		n += d->rings[i].started;
	return n;
}

static void host_notifier_install(struct ifcvf_dev *d, uint16_t i)
{
	int ret;

	if (d->rings[i].notifier)
		return;
	ret = uvdpa_session_host_notifier_ctrl(d->sess, i, true);
	if (ret == 0)
		d->rings[i].notifier = true;
	else if (ret != -ENOTSUP)
		LOG_WARN(TAG, "%s: host notifier for vring %u not installed (%s); kicks are "
			 "relayed", d->vdpa.name, i, strerror(-ret));
}

/* Without the LM BAR (a plain virtio-pci function, or an IFCVF whose BAR4
 * is absent) the device can neither report nor restore ring state, nor stop
 * or start one queue alone: rings start at index 0 with the device and
 * single-queue changes are limited to re-wiring kicks and interrupts.
 *
 * Ring state of such a device, which cannot report it: everything
 * the device consumed is used once it is reset, so both indexes are the used
 * index in guest memory. In-flight buffers of a running queue are lost. */
static void ring_state_from_memory(struct ifcvf_dev *d, uint16_t i)
{
	if (d->rings[i].used) {
		uint16_t used = ifcvf_ring_idx_read(d->rings[i].used);

		d->hwr[i].last_avail_idx = used;
		d->hwr[i].last_used_idx = used;
	}
}

static void ring_state_hand_back(struct ifcvf_dev *d, uint16_t i)
{
	if (!d->hw.has_lm)
		ring_state_from_memory(d, i);
	uvdpa_session_vring_set_base(d->sess, i, d->hwr[i].last_avail_idx, d->hwr[i].last_used_idx);
}

/* ---- Device ops ---- */

static int ifcvf_get_queue_num(struct uvdpa_device *vdev, uint32_t *queue_num)
{
	*queue_num = to_ifcvf(vdev)->queue_num;
	return 0;
}

static int ifcvf_get_features(struct uvdpa_device *vdev, uint64_t *features)
{
	*features = to_ifcvf(vdev)->features;
	return 0;
}

static int ifcvf_get_protocol_features(struct uvdpa_device *vdev, uint64_t *features)
{
	*features = to_ifcvf(vdev)->protocol_features;
	return 0;
}

static int ifcvf_get_dev_type(struct uvdpa_device *vdev, enum uvdpa_dev_type *type)
{
	*type = vdev->type;
	return 0;
}

static int ifcvf_get_config(struct uvdpa_device *vdev, uint8_t *buf, uint32_t offset, uint32_t len)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	uint8_t cfg[CONFIG_MAX_LEN];
	uint32_t total, have;
	int ret;

	if (vdev->type == UVDPA_TYPE_NET)
		total = NET_CONFIG_LEN;
	else
		total = d->hw.caps.device.len < CONFIG_MAX_LEN ? d->hw.caps.device.len : CONFIG_MAX_LEN;
	if (!len || offset > total || len > total - offset) {
		LOG_ERR(TAG, "%s: get_config [%u, +%u) is outside the %u-byte config", vdev->name,
			offset, len, total);
		return -EINVAL;
	}
	memset(cfg, 0, sizeof(cfg));
	have = d->hw.caps.device.len < total ? d->hw.caps.device.len : total;
	ret = ifcvf_hw_config_read(&d->hw, 0, cfg, have);
	if (ret < 0) {
		LOG_ERR(TAG, "%s: reading the device config failed: %s", vdev->name, strerror(-ret));
		return ret;
	}
	/* STATUS is offered even when the device lacks it: then the link is
	 * simply up. */
	if (vdev->type == UVDPA_TYPE_NET &&
	    !(d->hw.device_features & (1ull << VIRTIO_NET_F_STATUS))) {
		uint16_t up = htole16(VIRTIO_NET_S_LINK_UP);

		memcpy(cfg + NET_CONFIG_STATUS_OFF, &up, sizeof(up));
	}
	memcpy(buf, cfg + offset, len);
	return 0;
}

static int ifcvf_set_config(struct uvdpa_device *vdev, const uint8_t *buf, uint32_t offset,
			    uint32_t len, uint32_t flags)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	int ret;

	if (vdev->type != UVDPA_TYPE_BLK) {
		LOG_ERR(TAG, "%s: the net config is read-only", vdev->name);
		return -ENOTSUP;
	}
	ret = ifcvf_hw_config_write(&d->hw, offset, buf, len);
	if (ret < 0)
		LOG_ERR(TAG, "%s: set_config [%u, +%u) refused: %s", vdev->name, offset, len,
			strerror(-ret));
	return ret;
}

static void teardown(struct ifcvf_dev *d, bool hw_running)
{
	uint16_t i;

	relay_watch_del(d->config_watch);
	d->config_watch = NULL;
	for (i = 0; i < d->nr_vring; i++)
		ifcvf_kick_stop(&d->rings[i]);
	if (d->svq_running) {
		ifcvf_svq_stop(d);	/* hands every ring's state back */
		ifcvf_lm_device_stopped(d);
	} else if (hw_running) {
		/* The device writes no more once stopped: then logging ends and
		 * the ring state goes back to the vhost layer. */
		ifcvf_hw_stop(&d->hw, d->hwr, d->nr_vring);
		ifcvf_lm_device_stopped(d);
		for (i = 0; i < d->nr_vring; i++)
			if (d->rings[i].started || (!d->hw.has_lm && d->hwr[i].enabled))
				ring_state_hand_back(d, i);
	} else {
		ifcvf_lm_device_stopped(d);
	}
	for (i = 0; i < d->nr_vring; i++)
		d->rings[i].started = false;
	d->pdev->ops->msix_set(d->pdev, NULL, 0);
	for (i = 0; i < IFCVF_MAX_VRINGS; i++) {
		close_fd(&d->rings[i].callfd);
		d->rings[i].notifier = false;
		d->rings[i].avail = d->rings[i].desc = NULL;
		d->rings[i].used = NULL;
	}
	ifcvf_hw_inflight_off(&d->hw);
	dma_unmap_all(d);
	memset(d->hwr, 0, sizeof(d->hwr));
	d->nr_vring = 0;
	d->msix_nvec = 0;
	d->sess = NULL;
}

static uint64_t hw_features(const struct ifcvf_dev *d, uint64_t negotiated)
{
	uint64_t dev = d->hw.device_features;

	/* vhost-only bits (PROTOCOL_FEATURES, LOG_ALL) are not the device's;
	 * ACCESS_PLATFORM is, since the function sits behind an IOMMU. */
	return (negotiated & dev) | (dev & (1ull << VIRTIO_F_ACCESS_PLATFORM));
}

static int ifcvf_dev_conf(struct uvdpa_device *vdev, struct uvdpa_session *sess)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	uint16_t n = uvdpa_session_vring_count(sess), i;
	unsigned int msix = d->pdev->ops->msix_count(d->pdev);
	uint64_t negotiated;
	bool resumes = false;
	int ret;

	if (d->sess) {
		LOG_ERR(TAG, "%s: dev_conf while already configured", vdev->name);
		return -EBUSY;
	}
	if (n > d->hw.num_queues) {
		LOG_ERR(TAG, "%s: the frontend set up %u vrings, the device has %u", vdev->name, n,
			d->hw.num_queues);
		return -EINVAL;
	}
	/* Vectors for every queue the device has, so rings started later need
	 * no re-enabling of MSI-X (which could drop interrupts). */
	d->msix_nvec = d->hw.num_queues + 1u < msix ? d->hw.num_queues + 1u : msix;
	if (d->msix_nvec < n + 1u) {
		LOG_ERR(TAG, "%s: %u vrings need %u MSI-X vectors, the function has %u", vdev->name,
			n, n + 1u, msix);
		return -ENOSPC;
	}
	/* A virtio 0.95 guest negotiates no VERSION_1: the function then uses the
	 * legacy net header; one that cannot refuses FEATURES_OK at start. */
	negotiated = uvdpa_session_features(sess);
	d->hw_features = hw_features(d, negotiated);
	d->negotiated = negotiated;
	d->guest_event_idx = negotiated & (1ull << VIRTIO_RING_F_EVENT_IDX);
	d->sess = sess;
	d->needs_reset_seen = false;
	d->nr_vring = n;
	for (i = 0; i < n; i++) {
		ret = ring_load(d, i);
		if (ret < 0) {
			LOG_ERR(TAG, "%s: vring %u: %s", vdev->name, i, strerror(-ret));
			goto fail;
		}
		if (d->hwr[i].enabled && (d->hwr[i].last_avail_idx || d->hwr[i].last_used_idx))
			resumes = true;
		d->rings[i].started = d->hwr[i].enabled;
	}
	ret = dma_map_all(d);
	if (ret == 0)
		ret = inflight_map(d);
	if (ret < 0)
		goto fail;
	/* A function that cannot restore a ring state runs on shadow rings
	 * when it must resume one or log from the start (and always with
	 * shadow-vq=1). */
	if (d->lm_mode == UVDPA_MIGRATION_SHADOW &&
	    (d->shadow_forced || resumes || (negotiated & (1ull << UVDPA_VHOST_F_LOG_ALL)))) {
		ret = ifcvf_svq_start(d);
		if (ret < 0)
			goto fail;
		d->logging = negotiated & (1ull << UVDPA_VHOST_F_LOG_ALL);
	} else {
		ret = ifcvf_msix_rewire(d);
		if (ret < 0)
			goto fail;
		ret = ifcvf_hw_start(&d->hw, ifcvf_lm_hw_features(d, d->hw_features), d->hwr, n);
		if (ret < 0)
			goto fail;	/* ifcvf_hw_start said why */
	}
	d->config_watch = relay_watch_add(d->config_efd, config_relay, d);
	if (!d->config_watch) {
		ret = -errno;
		LOG_ERR(TAG, "%s: cannot relay config interrupts: %s", vdev->name, strerror(-ret));
		goto fail_running;
	}
	for (i = 0; i < n && !d->svq_running; i++) {
		if (!d->rings[i].started)
			continue;
		ret = ifcvf_kick_start(d, i);
		if (ret < 0)
			goto fail_running;
	}
	if ((negotiated & (1ull << UVDPA_VHOST_F_LOG_ALL)) && !d->svq_running) {
		ret = ifcvf_lm_set_logging(d, true);
		if (ret < 0)
			goto fail_running;
	}
	for (i = 0; i < n && !d->svq_running; i++)
		if (d->rings[i].started)
			host_notifier_install(d, i);
	LOG_INFO(TAG, "%s: running, %u of %u vrings started", vdev->name, rings_started(d), n);
	return 0;

fail_running:
	teardown(d, true);
	return ret;
fail:
	teardown(d, false);
	return ret;
}

static int ifcvf_dev_close(struct uvdpa_device *vdev)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);

	if (!d->sess)
		return 0;
	/* Host notifiers are left alone: QEMU removes them itself before
	 * GET_VRING_BASE, and a request now could wait on a frontend that is
	 * blocked on our reply. */
	teardown(d, true);
	LOG_INFO(TAG, "%s: stopped", vdev->name);
	return 0;
}

/* A shadowed ring starts: its session state is read again, then it joins
 * its shadow ring. */
static int shadow_ring_enable(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	int ret = ring_load(d, i);

	if (ret < 0 || !d->hwr[i].enabled)
		return ret;
	r->started = true;
	ret = ifcvf_svq_ring_enable(d, i);
	if (ret < 0)
		r->started = false;
	return ret;
}

/* A plain virtio function moves from the guest's rings to shadow rings:
 * it is reset (the guest's used indexes are the ring state: see
 * ring_state_from_memory), its doorbell pages leave the frontend, and it
 * restarts on shadow rings. Kicks the frontend still writes to a page
 * until it removed it are caught by polling. */
static int shadow_switch(struct ifcvf_dev *d)
{
	bool notifiers = false;
	uint16_t i;
	int ret;

	LOG_INFO(TAG, "%s: moving to shadow virtqueues (the function cannot restore a ring "
		 "state)", d->vdpa.name);
	for (i = 0; i < d->nr_vring; i++) {
		ifcvf_kick_stop(&d->rings[i]);
		notifiers |= d->rings[i].notifier;
	}
	ifcvf_hw_stop(&d->hw, d->hwr, d->nr_vring);
	for (i = 0; i < d->nr_vring; i++)
		if (d->hwr[i].enabled)
			ring_state_hand_back(d, i);
	if (notifiers) {
		uvdpa_session_host_notifier_ctrl(d->sess, UVDPA_ALL_VRINGS, false);
		for (i = 0; i < d->nr_vring; i++)
			d->rings[i].notifier = false;
	}
	for (i = 0; i < d->nr_vring; i++)
		if (d->rings[i].started && ring_load(d, i) < 0)
			d->rings[i].started = false;
	ret = ifcvf_svq_start(d);
	if (ret == 0 && notifiers)
		ret = ifcvf_svq_poll_kicks(d);
	if (ret < 0)
		LOG_ERR(TAG, "%s: the move to shadow virtqueues failed (%s): the datapath stays "
			"down until the frontend restarts the device", d->vdpa.name, strerror(-ret));
	return ret;
}

static int vring_enable(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];
	struct ifcvf_vring before = d->hwr[i];
	int ret;

	if (d->svq_running)
		return shadow_ring_enable(d, i);
	if (!d->hw.has_lm && !before.size) {
		/* The queues of a plain virtio function start together: this one
		 * joins through a shadow ring. */
		r->started = true;
		ret = shadow_switch(d);
		if (ret < 0)
			r->started = false;
		return ret;
	}
	ret = ring_load(d, i);
	if (ret < 0) {
		LOG_ERR(TAG, "%s: vring %u: %s", d->vdpa.name, i, strerror(-ret));
		return ret;
	}
	if (!d->hwr[i].enabled) {
		d->hwr[i] = before;
		return 0;	/* not ready after all */
	}
	if (!d->hw.has_lm) {
		/* The queue kept running (see vring_disable): only the
		 * interrupt and kick wiring may change, not the ring itself. */
		if (d->hwr[i].desc != before.desc || d->hwr[i].avail != before.avail ||
		    d->hwr[i].used != before.used || d->hwr[i].size != before.size ||
		    d->hwr[i].last_avail_idx || d->hwr[i].last_used_idx) {
			/* A new ring, or one that resumes: only shadow rings can. */
			d->hwr[i] = before;
			r->started = true;
			ret = shadow_switch(d);
			if (ret < 0)
				r->started = false;
			return ret;
		}
	}
	r->started = true;
	ret = ifcvf_lm_ring_starting(d, i);	/* a relayed used ring while migrating */
	if (ret < 0)
		goto fail;
	ret = ifcvf_msix_rewire(d);
	if (ret < 0)
		goto fail;
	if (d->hw.has_lm) {
		ret = ifcvf_hw_queue_enable(&d->hw, i, &d->hwr[i]);
		if (ret < 0)
			goto fail;	/* queue_program said why */
		ifcvf_hw_set_mq(&d->hw, rings_started(d));
	}
	ifcvf_lm_ring_started(d, i);
	ret = ifcvf_kick_start(d, i);
	if (ret < 0)
		goto fail_queue;
	host_notifier_install(d, i);
	return 0;
fail_queue:
	if (d->hw.has_lm) {
		ifcvf_hw_queue_disable(&d->hw, i, &d->hwr[i]);
		ifcvf_hw_set_mq(&d->hw, rings_started(d) - 1u);
	}
fail:
	ifcvf_lm_ring_stopped(d, i);
	r->started = false;
	if (d->hw.has_lm)
		d->hwr[i].enabled = false;
	ifcvf_msix_rewire(d);
	return ret;
}

static void vring_disable(struct ifcvf_dev *d, uint16_t i)
{
	struct ifcvf_ring *r = &d->rings[i];

	if (d->svq_running) {
		r->started = false;
		ifcvf_svq_ring_disable(d, i);
		close_fd(&r->callfd);
		return;
	}
	ifcvf_kick_stop(r);
	r->started = false;
	if (d->hw.has_lm) {
		if (ifcvf_hw_queue_disable(&d->hw, i, &d->hwr[i]) == 0) {
			ifcvf_lm_ring_stopped(d, i);
			ring_state_hand_back(d, i);
		}
		d->hwr[i].enabled = false;
		ifcvf_hw_set_mq(&d->hw, rings_started(d));
	}
	/* Without the LM BAR one queue can't be stopped: it keeps running, with
	 * no kicks relayed and no interrupt wired, until re-enabled with the
	 * same ring or the device stops (and hands its state back then). */
	ifcvf_msix_rewire(d);
	close_fd(&r->callfd);
}

static int ifcvf_set_vring_state(struct uvdpa_device *vdev, uint16_t vring, bool enable)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);

	if (!d->sess)
		return 0;	/* dev_conf reads every ring's state */
	if (vring >= d->hw.num_queues || vring + 1u >= d->msix_nvec) {
		LOG_ERR(TAG, "%s: vring %u is beyond the device's %u (or its MSI-X vectors)",
			vdev->name, vring, d->hw.num_queues);
		return -EINVAL;
	}
	if (enable == d->rings[vring].started)
		return 0;
	if (vring >= d->nr_vring)
		d->nr_vring = (uint16_t)(vring + 1);
	if (!enable) {
		vring_disable(d, vring);
		return 0;
	}
	return vring_enable(d, vring);	/* logs its failures */
}

static int ifcvf_set_features(struct uvdpa_device *vdev, uint64_t features)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	bool want = features & (1ull << UVDPA_VHOST_F_LOG_ALL);

	if (!d->sess)
		return 0;	/* dev_conf starts logging if LOG_ALL is on by then */
	if (d->lm_mode == UVDPA_MIGRATION_SHADOW) {
		/* The relay logs through the session, into its current log. */
		if (want && !d->svq_running) {
			int ret = shadow_switch(d);

			if (ret < 0)
				return ret;
		}
		__atomic_store_n(&d->logging, want, __ATOMIC_RELEASE);
		return 0;
	}
	if (want && d->logging)
		return ifcvf_lm_log_replaced(d);	/* or the same features again */
	return ifcvf_lm_set_logging(d, want);
}

static int ifcvf_migration_done(struct uvdpa_device *vdev, const uint8_t *mac)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	int ret;

	/* With GUEST_ANNOUNCE the guest announces itself (QEMU sets the
	 * config bit). Without it someone must tell the switches where the
	 * guest is now: the function, when it can put a frame on its wire. */
	if (vdev->type != UVDPA_TYPE_NET || !mac ||
	    (d->negotiated & (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE)))
		return 0;
	if (!d->pdev->ops->announce) {
		LOG_INFO(TAG, "%s: migrated; the function cannot announce the guest (no "
			 "GUEST_ANNOUNCE): switches learn its MAC from its next frame", vdev->name);
		return 0;
	}
	ret = d->pdev->ops->announce(d->pdev, mac);
	if (ret < 0 && ret != -ENOTSUP)
		LOG_WARN(TAG, "%s: announcing the guest after migration failed: %s", vdev->name,
			 strerror(-ret));
	else if (ret == 0)
		LOG_INFO(TAG, "%s: migrated: RARP for %02x:%02x:%02x:%02x:%02x:%02x sent", vdev->name,
			 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return ret == -ENOTSUP ? 0 : ret;
}

static int ifcvf_get_notify_area(struct uvdpa_device *vdev, uint16_t vring, int *fd,
				 uint64_t *offset, uint64_t *size)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	uint64_t addr, page_size;
	int ret;

	if (vring >= d->hw.num_queues)
		return -EINVAL;
	/* Kicks of shadowed rings go to the relay, never to the doorbell. */
	if (!d->pdev->ops->notify_area || d->shadow_forced || d->svq_running)
		return -ENOTSUP;
	addr = d->hw.notify_addr[vring];
	ret = d->pdev->ops->notify_area(d->pdev, d->hw.caps.notify.bar, addr, fd, offset,
					&page_size);
	if (ret < 0) {
		if (ret != -ENOTSUP)	/* an emulated function has no page */
			LOG_WARN(TAG, "%s: no doorbell page for vring %u: %s", vdev->name, vring,
				 strerror(-ret));
		return ret;
	}
	/* The frontend maps the page and writes at its start. */
	if (!page_size || (page_size & (page_size - 1)) || (addr & (page_size - 1))) {
		if (!d->notify_area_warned)
			LOG_WARN(TAG, "%s: doorbells are not page-aligned (vring %u at 0x%" PRIx64
				 "); no host notifiers, kicks are relayed", vdev->name, vring, addr);
		d->notify_area_warned = true;
		return -ENOTSUP;
	}
	*size = page_size;
	return 0;
}

/* ---- Statistics ----
 *
 * The driver's own counters (descriptors made available and used since the
 * ring started or was reset, kicks relayed), then whatever the function
 * keeps itself (an emulated function's model: packets, bytes, ...). */

static int ifcvf_get_vq_stats(struct uvdpa_device *vdev, uint16_t vring, struct uvdpa_vq_stats *st)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	const struct ifcvf_ring *r;

	if (vring >= d->hw.num_queues) {
		LOG_ERR(TAG, "%s: no vring %u (the device has %u)", vdev->name, vring,
			d->hw.num_queues);
		return -EINVAL;
	}
	memset(st, 0, sizeof(*st));
	if (d->pdev->ops->queue_stats) {
		int ret = d->pdev->ops->queue_stats(d->pdev, vring, st);

		if (ret < 0 && ret != -ENOTSUP)
			return ret;
	}
	r = &d->rings[vring];
	if (r->started && r->avail && r->used) {
		st->value[UVDPA_VQ_STAT_RECEIVED_DESC] =
			(uint16_t)(ifcvf_ring_idx_read(r->avail) - r->avail_base);
		st->value[UVDPA_VQ_STAT_COMPLETED_DESC] =
			(uint16_t)(ifcvf_ring_idx_read(r->used) - r->used_base);
	}
	st->value[UVDPA_VQ_STAT_KICKS] = __atomic_load_n(&r->kicks, __ATOMIC_RELAXED);
	st->valid |= (1ull << UVDPA_VQ_STAT_RECEIVED_DESC) | (1ull << UVDPA_VQ_STAT_COMPLETED_DESC) |
		     (1ull << UVDPA_VQ_STAT_KICKS);
	if (d->lm_mode == UVDPA_MIGRATION_SW || d->lm_mode == UVDPA_MIGRATION_SHADOW) {
		/* The relay's, added to what the function logged itself (an
		 * emulated one counts it). */
		st->value[UVDPA_VQ_STAT_RELAYED] = __atomic_load_n(&r->relayed, __ATOMIC_RELAXED);
		st->value[UVDPA_VQ_STAT_LOGGED_PAGES] +=
			__atomic_load_n(&r->logged_pages, __ATOMIC_RELAXED);
		st->valid |= (1ull << UVDPA_VQ_STAT_RELAYED) | (1ull << UVDPA_VQ_STAT_LOGGED_PAGES);
	}
	return 0;
}

static int ifcvf_reset_vq_stats(struct uvdpa_device *vdev, uint16_t vring)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);
	struct ifcvf_ring *r;

	if (vring >= d->hw.num_queues) {
		LOG_ERR(TAG, "%s: no vring %u (the device has %u)", vdev->name, vring,
			d->hw.num_queues);
		return -EINVAL;
	}
	r = &d->rings[vring];
	if (r->started && r->avail && r->used) {
		r->avail_base = ifcvf_ring_idx_read(r->avail);
		r->used_base = ifcvf_ring_idx_read(r->used);
	}
	__atomic_store_n(&r->kicks, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->relayed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->logged_pages, 0, __ATOMIC_RELAXED);
	if (d->pdev->ops->queue_stats_reset) {
		int ret = d->pdev->ops->queue_stats_reset(d->pdev, vring);

		if (ret < 0 && ret != -ENOTSUP)
			return ret;
	}
	return 0;
}

static int ifcvf_get_migration(struct uvdpa_device *vdev, struct uvdpa_migration_state *st)
{
	struct ifcvf_dev *d = to_ifcvf(vdev);

	st->mode = d->lm_mode;
	st->logging = d->logging;
	return 0;
}

static int ifcvf_get_status(struct uvdpa_device *vdev, uint8_t *status)
{
	*status = ifcvf_hw_get_status(&to_ifcvf(vdev)->hw);
	return 0;
}

static const struct uvdpa_device_ops ifcvf_ops = {
	.get_status = ifcvf_get_status,
	.get_queue_num = ifcvf_get_queue_num,
	.get_features = ifcvf_get_features,
	.get_protocol_features = ifcvf_get_protocol_features,
	.get_dev_type = ifcvf_get_dev_type,
	.get_config = ifcvf_get_config,
	.set_config = ifcvf_set_config,
	.dev_conf = ifcvf_dev_conf,
	.dev_close = ifcvf_dev_close,
	.set_vring_state = ifcvf_set_vring_state,
	.set_features = ifcvf_set_features,
	.migration_done = ifcvf_migration_done,
	.get_notify_area = ifcvf_get_notify_area,
	.get_migration = ifcvf_get_migration,
	.get_vq_stats = ifcvf_get_vq_stats,
	.reset_vq_stats = ifcvf_reset_vq_stats,
};

/* ---- Drivers and probe ---- */

static const struct uvdpa_pci_id ifcvf_ids[] = {
	{ IFCVF_VENDOR_ID, IFCVF_NET_MODERN_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID,
	  IFCVF_NET_SUBSYS_MODERN },
	{ IFCVF_VENDOR_ID, IFCVF_NET_TRANSITIONAL_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID,
	  IFCVF_NET_SUBSYS_TRANSITIONAL },
	{ IFCVF_VENDOR_ID, IFCVF_BLK_MODERN_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID, IFCVF_BLK_SUBSYS },
	{ IFCVF_VENDOR_ID, IFCVF_BLK_TRANSITIONAL_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID,
	  IFCVF_BLK_SUBSYS },
	{ 0 },
};

static const struct uvdpa_pci_id virtio_pci_ids[] = {
	{ IFCVF_VENDOR_ID, 0x1041, UVDPA_PCI_ANY, UVDPA_PCI_ANY },
	{ IFCVF_VENDOR_ID, 0x1042, UVDPA_PCI_ANY, UVDPA_PCI_ANY },
	{ 0 },
};

static int ifcvf_drv_probe(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *args,
			   struct uvdpa_device **out, char *err, size_t errlen);
static int virtio_pci_drv_probe(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *args,
				struct uvdpa_device **out, char *err, size_t errlen);
static void ifcvf_remove(struct uvdpa_device *vdev);

static struct uvdpa_driver ifcvf_driver = {
	.name = "ifcvf",
	.id_table = ifcvf_ids,
	.probe = ifcvf_drv_probe,
	.remove = ifcvf_remove,
};
static struct uvdpa_driver virtio_pci_driver = {
	.name = "virtio-pci",
	.id_table = virtio_pci_ids,
	.probe = virtio_pci_drv_probe,
	.remove = ifcvf_remove,
};

int ifcvf_drivers_register(void)
{
	int ret;

	if (!uvdpa_driver_find(ifcvf_driver.name)) {
		ret = uvdpa_driver_register(&ifcvf_driver);
		if (ret < 0)
			return ret;
	}
	if (!uvdpa_driver_find(virtio_pci_driver.name)) {
		ret = uvdpa_driver_register(&virtio_pci_driver);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void ifcvf_drivers_unregister(void)
{
	if (uvdpa_driver_find(virtio_pci_driver.name) == &virtio_pci_driver)
		uvdpa_driver_unregister(&virtio_pci_driver);
	if (uvdpa_driver_find(ifcvf_driver.name) == &ifcvf_driver)
		uvdpa_driver_unregister(&ifcvf_driver);
}

enum { ARG_VDPA, ARG_SW_LM, ARG_SHADOW, ARG_NUM };

static const struct uvdpa_devargs_spec ifcvf_devargs[ARG_NUM] = {
	[ARG_VDPA] = { "vdpa", UVDPA_DEVARGS_UINT, 0, 1 },
	[ARG_SW_LM] = { "sw-live-migration", UVDPA_DEVARGS_UINT, 0, 1 },
	[ARG_SHADOW] = { "shadow-vq", UVDPA_DEVARGS_UINT, 0, 1 },
};

#define BIT64(n) (1ull << (n))

/* What the stack implements, whatever else the function advertises: split
 * rings only (no RING_PACKED: the vhost layer and the ring-state registers
 * speak split rings), kicks without data (no NOTIFICATION_DATA), no
 * per-queue reset, and nothing of SR-IOV or the IOMMU (ACCESS_PLATFORM is
 * the function's, behind our IOMMU, not the guest's). */
#define TRANSPORT_FEATURES                                                              \
	(BIT64(VIRTIO_F_NOTIFY_ON_EMPTY) | BIT64(VIRTIO_F_ANY_LAYOUT) |                   \
	 BIT64(VIRTIO_RING_F_INDIRECT_DESC) | BIT64(VIRTIO_RING_F_EVENT_IDX) |             \
	 BIT64(VIRTIO_F_VERSION_1) | BIT64(VIRTIO_F_IN_ORDER) | BIT64(VIRTIO_F_ORDER_PLATFORM))
/* Net device bits up to CTRL_MAC_ADDR: offloads, mac/mtu/status, mergeable
 * buffers, the control queue and its classes, multiqueue. */
#define NET_FEATURES (BIT64(VIRTIO_NET_F_CTRL_MAC_ADDR + 1) - 1)
#define BLK_FEATURES                                                                    \
	(BIT64(VIRTIO_BLK_F_SIZE_MAX) | BIT64(VIRTIO_BLK_F_SEG_MAX) |                     \
	 BIT64(VIRTIO_BLK_F_GEOMETRY) | BIT64(VIRTIO_BLK_F_RO) | BIT64(VIRTIO_BLK_F_BLK_SIZE) | \
	 BIT64(VIRTIO_BLK_F_FLUSH) | BIT64(VIRTIO_BLK_F_TOPOLOGY) |                         \
	 BIT64(VIRTIO_BLK_F_CONFIG_WCE) | BIT64(VIRTIO_BLK_F_MQ) |                          \
	 BIT64(VIRTIO_BLK_F_DISCARD) | BIT64(VIRTIO_BLK_F_WRITE_ZEROES))

uint64_t ifcvf_implemented_features(enum uvdpa_dev_type type)
{
	return TRANSPORT_FEATURES | (type == UVDPA_TYPE_BLK ? BLK_FEATURES : NET_FEATURES);
}

static uint64_t offered_features(const struct ifcvf_dev *d)
{
	uint64_t f = d->hw.device_features & ifcvf_implemented_features(d->vdpa.type);

	f |= 1ull << UVDPA_VHOST_USER_F_PROTOCOL_FEATURES;
	/* Migration is only offered when the dirty pages can be logged (QEMU
	 * then blocks migration instead of losing pages). */
	if (d->lm_mode != UVDPA_MIGRATION_NONE)
		f |= 1ull << UVDPA_VHOST_F_LOG_ALL;
	if (d->vdpa.type == UVDPA_TYPE_NET) {
		/* CTRL_VQ only when the device has one: the control queue is then
		 * one of its queues, passed through like the others. Offered
		 * without it, the guest's control commands would go unanswered. */
		f |= (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE) | (1ull << VIRTIO_NET_F_STATUS);
	}
	return f;
}

static uint32_t queue_num(struct ifcvf_dev *d)
{
	uint32_t pairs;
	uint16_t max_vqp = 1;

	if (d->vdpa.type == UVDPA_TYPE_BLK)
		return d->hw.num_queues;
	pairs = d->hw.num_queues / 2u;
	if ((d->hw.device_features & (1ull << VIRTIO_NET_F_MQ)) &&
	    d->hw.caps.device.len >= NET_CONFIG_MAX_VQP_OFF + 2u &&
	    ifcvf_hw_config_read(&d->hw, NET_CONFIG_MAX_VQP_OFF, &max_vqp, sizeof(max_vqp)) == 0)
		max_vqp = le16toh(max_vqp);
	if (max_vqp && max_vqp < pairs)
		pairs = max_vqp;
	if (pairs > IFCVF_MAX_QUEUE_PAIRS)
		pairs = IFCVF_MAX_QUEUE_PAIRS;
	return pairs ? pairs : 1;
}

/* The core matched pdev to one of our two drivers; generic: the plain
 * virtio-pci one (no live-migration BAR expected). */
static int probe(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *pa, bool generic,
		 struct uvdpa_device **out, char *err, size_t errlen)
{
	struct uvdpa_devargs_value args[ARG_NUM];
	const char *name = pa->name;
	struct ifcvf_dev *d;
	unsigned int msix, need;
	bool sw_lm;
	int ret;

	ret = uvdpa_devargs_parse(pa->devargs ? pa->devargs : "", ifcvf_devargs, ARG_NUM, args, err,
			    errlen);
	if (ret < 0)
		return ret;
	if (!args[ARG_VDPA].present || !args[ARG_VDPA].u) {
		uvdpa_errf(err, errlen, "%s: devargs have no vdpa=1: the function is left to a plain "
			"virtio driver", pdev->addr);
		return -ENODEV;
	}
	if (!name || !name[0] || strlen(name) >= UVDPA_NAME_MAX) {
		uvdpa_errf(err, errlen, "device name must have 1 to %d characters", UVDPA_NAME_MAX - 1);
		return -EINVAL;
	}

	d = calloc(1, sizeof(*d));
	if (!d) {
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->pdev = pdev;
	d->generic = generic;
	sw_lm = args[ARG_SW_LM].present && args[ARG_SW_LM].u;
	d->config_efd = -1;
	d->svq_poll_fd = -1;
	for (unsigned int i = 0; i < IFCVF_MAX_VRINGS; i++) {
		d->rings[i].d = d;
		d->rings[i].idx = (uint16_t)i;
		d->rings[i].callfd = -1;
	}
	ret = ifcvf_hw_init(&d->hw, pdev, !generic, err, errlen);
	if (ret < 0)
		goto fail;
	d->shadow_forced = args[ARG_SHADOW].present && args[ARG_SHADOW].u;
	d->lm_mode = ifcvf_lm_select(&d->hw, sw_lm, d->shadow_forced);
	snprintf(d->vdpa.name, sizeof(d->vdpa.name), "%s", name);
	ifcvf_lm_place_areas(d);
	d->vdpa.type = d->hw.virtio_id == IFCVF_VIRTIO_ID_NET ? UVDPA_TYPE_NET : UVDPA_TYPE_BLK;
	need = (d->vdpa.type == UVDPA_TYPE_NET ? 2u : 1u) + 1u;
	msix = pdev->ops->msix_count(pdev);
	if (msix < need) {
		uvdpa_errf(err, errlen, "%s has %u MSI-X vectors, at least %u are needed", pdev->addr,
			msix, need);
		ret = -ENODEV;
		goto fail;
	}
	d->features = offered_features(d);
	d->protocol_features = PROTOCOL_FEATURES;
	if (d->vdpa.type == UVDPA_TYPE_BLK)
		d->protocol_features |= 1ull << UVDPA_VHOST_USER_PROTOCOL_F_CONFIG;
	/* A function that records its requests in flight survives a daemon
	 * restart: QEMU then keeps the region and hands it back. */
	if (d->vdpa.type == UVDPA_TYPE_BLK && d->hw.caps.inflight.present)
		d->protocol_features |= 1ull << UVDPA_VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD;
	/* RARP: after a migration QEMU asks the backend to announce a guest
	 * without GUEST_ANNOUNCE (migration_done). */
	if (d->vdpa.type == UVDPA_TYPE_NET)
		d->protocol_features |= 1ull << UVDPA_VHOST_USER_PROTOCOL_F_RARP;
	d->queue_num = queue_num(d);
	d->config_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->config_efd < 0) {
		ret = -errno;
		uvdpa_errf(err, errlen, "eventfd: %s", strerror(-ret));
		goto fail;
	}
	d->vdpa.ops = &ifcvf_ops;
	d->vdpa.priv = d;
	d->vdpa.mgmtdev = pa->mgmtdev;
	d->vdpa.driver = generic ? &virtio_pci_driver : &ifcvf_driver;
	/* As the kernel's ifcvf reports it: the subsystem vendor. */
	d->vdpa.vendor_id = pdev->id.subsys_vendor;
	d->vdpa.max_vq_size = d->hw.queue_size_max[0];
	for (unsigned int i = 1; i < d->hw.num_queues; i++)
		if (d->hw.queue_size_max[i] < d->vdpa.max_vq_size)
			d->vdpa.max_vq_size = d->hw.queue_size_max[i];
	ret = uvdpa_device_register(&d->vdpa);
	if (ret < 0) {
		uvdpa_errf(err, errlen, ret == -EEXIST ? "a device called \"%s\" exists" :
			"device name \"%s\" is invalid (use [A-Za-z0-9_.:-])", name);
		goto fail;
	}
	LOG_INFO(TAG, "%s: %s on %s (%s driver), %u %s, features 0x%" PRIx64 ", %s live migration",
		 d->vdpa.name, d->vdpa.type == UVDPA_TYPE_NET ? "net" : "blk", pdev->addr,
		 d->vdpa.driver->name, d->queue_num,
		 d->vdpa.type == UVDPA_TYPE_NET ? "queue pair(s)" : "queue(s)", d->features,
		 d->lm_mode == UVDPA_MIGRATION_HW ? "hardware-logged" :
		 d->lm_mode == UVDPA_MIGRATION_SW ? "software-relayed" : "shadow-virtqueue");
	*out = &d->vdpa;
	return 0;
fail:
	if (d->config_efd >= 0)
		close(d->config_efd);
	free(d);
	return ret;
}

static int ifcvf_drv_probe(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *args,
			   struct uvdpa_device **out, char *err, size_t errlen)
{
	return probe(pdev, args, false, out, err, errlen);
}

static int virtio_pci_drv_probe(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *args,
				struct uvdpa_device **out, char *err, size_t errlen)
{
	return probe(pdev, args, true, out, err, errlen);
}

static void ifcvf_remove(struct uvdpa_device *vdev)
{
	struct ifcvf_dev *d;

	if (!vdev)
		return;
	d = to_ifcvf(vdev);
	uvdpa_device_unregister(vdev);
	if (d->sess)
		ifcvf_dev_close(vdev);
	close(d->config_efd);
	uvdpa_pci_dev_release(d->pdev);
	free(d);
}
