/* The emulated IFCVF device core: PCI config space with the virtio 1.0
 * capability chain and MSI-X, BAR0 (common config, ISR, device config,
 * doorbells, MSI-X table), the live-migration BAR4 (logging, ring state,
 * MQ), the device status state machine, queue start/stop on the engine
 * pool, DMA faults, interrupts and dirty logging. What differs between net
 * and blk is a struct ifcvf_dev_type record. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "models/ifcvf/ifcvf_model_internal.h"
#include "pci/emu.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "core/log.h"

#define TAG "ifcvf-model"

/* BAR0: every virtio structure and the MSI-X table, one 64-bit BAR. */
#define BAR0_SIZE 0x8000u
#define BAR0_COMMON_OFF 0x0000u
#define BAR0_COMMON_LEN 0x38u		/* struct virtio_pci_common_cfg, virtio 1.0 */
#define BAR0_ISR_OFF 0x1000u
#define BAR0_ISR_LEN 4u
#define BAR0_DEVICE_OFF 0x2000u
#define BAR0_DEVICE_WINDOW 0x1000u
#define BAR0_NOTIFY_OFF 0x3000u
#define NOTIFY_OFF_MULTIPLIER 4u
#define BAR0_MSIX_TABLE_OFF 0x4000u
#define BAR0_MSIX_PBA_OFF 0x5000u
#define MSIX_ENTRY_SIZE 16u
#define MSIX_ENTRY_CTRL 12u
#define MSIX_ENTRY_MASKED 1u

/* Capability chain in config space. */
#define CAP_COMMON 0x40u
#define CAP_NOTIFY 0x50u		/* struct virtio_pci_notify_cap: 20 bytes */
#define CAP_ISR 0x64u
#define CAP_DEVICE 0x74u
#define CAP_PCI_CFG 0x84u		/* struct virtio_pci_cfg_cap: 20 bytes */
#define CAP_MSIX 0x98u
#define CAP_INFLIGHT 0xa4u		/* uvdpa's inflight extension (ifcvf_regs.h) */
#define PCI_CFG_DATA (CAP_PCI_CFG + 16u)
#define CFG_SPACE_SIZE 256u

#define NO_VECTOR VIRTIO_MSI_NO_VECTOR
#define ISR_QUEUE 0x1u			/* ISR bit 0: used buffer notification */
#define LOG_PAGE_SHIFT 12
/* Subsystem id of the plain virtio function (QEMU's virtio-net-pci has it). */
#define PLAIN_SUBSYS_ID 0x1100

/* Device types the model implements, by enum uvdpa_dev_type. */
static const struct ifcvf_dev_type *const dev_types[] = {
	[UVDPA_TYPE_NET] = &ifcvf_net_type,
	[UVDPA_TYPE_BLK] = &ifcvf_blk_type,
};

/* Protects models (the live models, for pdev -> model lookups) and keeps a
 * looked-up model alive until ifcvf_model_put(). */
static pthread_mutex_t models_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ifcvf_model *models;
static unsigned int next_index;		/* atomic */

static const struct ifcvf_dev_type *find_type(enum uvdpa_dev_type type)
{
	if ((unsigned int)type >= sizeof(dev_types) / sizeof(dev_types[0]))
		return NULL;
	return dev_types[type];
}

/* ---- Little-endian helpers ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le(const void *buf, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, buf, len);
	return le64toh(v);
}

static bool overlaps(uint64_t off, uint64_t len, uint64_t start, uint64_t size)
{
	return off < start + size && start < off + len;
}

/* ---- PCI configuration space ---- */

static void add_vendor_cap(uint8_t *c, unsigned int at, unsigned int next, uint8_t len,
			   uint8_t cfg_type, uint32_t offset, uint32_t length)
{
	c[at + 0] = PCI_CAP_ID_VNDR;
	c[at + 1] = (uint8_t)next;
	c[at + 2] = len;
	c[at + 3] = cfg_type;
	c[at + 4] = 0;	/* BAR0 */
	put32(c + at + 8, offset);
	put32(c + at + 12, length);
}

static void build_config_space(struct ifcvf_model *m, bool transitional)
{
	const struct ifcvf_dev_type *t = m->type;
	uint8_t *c = m->cfg, *w = m->cfg_wmask;

	memset(c, 0, CFG_SPACE_SIZE);
	memset(w, 0, CFG_SPACE_SIZE);
	put16(c + PCI_VENDOR_ID, IFCVF_VENDOR_ID);
	put16(c + PCI_DEVICE_ID, transitional ? t->transitional_device_id : t->device_id);
	put16(w + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
				       PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	put16(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
	/* Transitional devices have revision 0, modern-only ones 1 (spec 4.1.2.1). */
	c[PCI_REVISION_ID] = transitional ? 0 : 1;
	c[PCI_CLASS_PROG] = (uint8_t)t->class_code;
	put16(c + PCI_CLASS_DEVICE, (uint16_t)(t->class_code >> 8));
	w[PCI_CACHE_LINE_SIZE] = 0xff;
	w[PCI_LATENCY_TIMER] = 0xff;

	/* 64-bit prefetchable memory BARs. The writable bits make the classic
	 * sizing write of all-ones read back the size mask; nothing else. */
	put32(c + PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	put32(w + PCI_BASE_ADDRESS_0, ~(BAR0_SIZE - 1));
	put32(w + PCI_BASE_ADDRESS_1, 0xffffffffu);
	if (!m->plain_virtio) {
		put32(c + PCI_BASE_ADDRESS_4,
		      PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
		put32(w + PCI_BASE_ADDRESS_4, ~(IFCVF_LM_BAR_SIZE - 1u));
		put32(w + PCI_BASE_ADDRESS_5, 0xffffffffu);
	}

	if (m->plain_virtio) {
		put16(c + PCI_SUBSYSTEM_VENDOR_ID, IFCVF_VENDOR_ID);
		put16(c + PCI_SUBSYSTEM_ID, PLAIN_SUBSYS_ID);
	} else {
		put16(c + PCI_SUBSYSTEM_VENDOR_ID, IFCVF_SUBSYS_VENDOR_ID);
		put16(c + PCI_SUBSYSTEM_ID,
		      transitional ? t->transitional_subsys_id : t->subsys_id);
	}
	c[PCI_CAPABILITY_LIST] = CAP_COMMON;
	w[PCI_INTERRUPT_LINE] = 0xff;
	c[PCI_INTERRUPT_PIN] = 1;

	add_vendor_cap(c, CAP_COMMON, CAP_NOTIFY, sizeof(struct virtio_pci_cap),
		       VIRTIO_PCI_CAP_COMMON_CFG, BAR0_COMMON_OFF, BAR0_COMMON_LEN);
	add_vendor_cap(c, CAP_NOTIFY, CAP_ISR, sizeof(struct virtio_pci_notify_cap),
		       VIRTIO_PCI_CAP_NOTIFY_CFG, BAR0_NOTIFY_OFF,
		       (uint32_t)m->nvrings * NOTIFY_OFF_MULTIPLIER);
	put32(c + CAP_NOTIFY + VIRTIO_PCI_NOTIFY_CAP_MULT, NOTIFY_OFF_MULTIPLIER);
	add_vendor_cap(c, CAP_ISR, CAP_DEVICE, sizeof(struct virtio_pci_cap),
		       VIRTIO_PCI_CAP_ISR_CFG, BAR0_ISR_OFF, BAR0_ISR_LEN);
	add_vendor_cap(c, CAP_DEVICE, CAP_PCI_CFG, sizeof(struct virtio_pci_cap),
		       VIRTIO_PCI_CAP_DEVICE_CFG, BAR0_DEVICE_OFF, t->config_size);
	/* The PCI configuration access window: bar, offset and length are the
	 * driver's; pci_cfg_data is forwarded to the BAR. */
	add_vendor_cap(c, CAP_PCI_CFG, CAP_MSIX, sizeof(struct virtio_pci_cfg_cap),
		       VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	w[CAP_PCI_CFG + VIRTIO_PCI_CAP_BAR] = 0xff;
	put32(w + CAP_PCI_CFG + VIRTIO_PCI_CAP_OFFSET, 0xffffffffu);
	put32(w + CAP_PCI_CFG + VIRTIO_PCI_CAP_LENGTH, 0xffffffffu);

	c[CAP_MSIX + 0] = PCI_CAP_ID_MSIX;
	c[CAP_MSIX + 1] = m->plain_virtio ? 0 : CAP_INFLIGHT;
	if (!m->plain_virtio) {
		add_vendor_cap(c, CAP_INFLIGHT, 0, sizeof(struct virtio_pci_cap),
			       IFCVF_PCI_CAP_INFLIGHT, IFCVF_INFLIGHT_REGS_OFF,
			       IFCVF_INFLIGHT_REGS_LEN);
		c[CAP_INFLIGHT + 4] = IFCVF_INFLIGHT_BAR;
	}
	put16(c + CAP_MSIX + PCI_MSIX_FLAGS, (uint16_t)(m->nvec - 1));
	put16(w + CAP_MSIX + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	put32(c + CAP_MSIX + PCI_MSIX_TABLE, BAR0_MSIX_TABLE_OFF);	/* BIR 0 */
	put32(c + CAP_MSIX + PCI_MSIX_PBA, BAR0_MSIX_PBA_OFF);
}

static int model_bar_read(void *opaque, unsigned int bar, uint64_t off, void *buf, uint32_t len);
static uint64_t model_bar_size(void *opaque, unsigned int bar);
static int model_bar_write(void *opaque, unsigned int bar, uint64_t off, const void *buf,
			   uint32_t len);

/* Decodes the PCI_CFG window registers; false when they do not describe a
 * valid BAR access. */
static bool pci_cfg_window(struct ifcvf_model *m, unsigned int *bar, uint32_t *off, uint32_t *len)
{
	pthread_mutex_lock(&m->lock);
	*bar = m->cfg[CAP_PCI_CFG + VIRTIO_PCI_CAP_BAR];
	*off = get32(m->cfg + CAP_PCI_CFG + VIRTIO_PCI_CAP_OFFSET);
	*len = get32(m->cfg + CAP_PCI_CFG + VIRTIO_PCI_CAP_LENGTH);
	pthread_mutex_unlock(&m->lock);
	return (*len == 1 || *len == 2 || *len == 4) && (*off % *len) == 0 &&
	       model_bar_size(m, *bar) >= (uint64_t)*off + *len;
}

static int model_cfg_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct ifcvf_model *m = opaque;

	if ((uint64_t)off + len > CFG_SPACE_SIZE)
		return -EINVAL;
	if (overlaps(off, len, PCI_CFG_DATA, 4)) {
		unsigned int bar;
		uint32_t boff, blen;
		uint8_t data[4] = { 0 };

		if (pci_cfg_window(m, &bar, &boff, &blen))
			model_bar_read(m, bar, boff, data, blen);
		pthread_mutex_lock(&m->lock);
		memcpy(m->cfg + PCI_CFG_DATA, data, sizeof(data));
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_lock(&m->lock);
	memcpy(buf, m->cfg + off, len);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int model_cfg_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	struct ifcvf_model *m = opaque;
	const uint8_t *in = buf;
	uint32_t i;

	if ((uint64_t)off + len > CFG_SPACE_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < len; i++) {
		uint32_t a = off + i;

		if (a >= PCI_CFG_DATA && a < PCI_CFG_DATA + 4)
			m->cfg[a] = in[i];
		else
			m->cfg[a] = (uint8_t)((m->cfg[a] & ~m->cfg_wmask[a]) | (in[i] & m->cfg_wmask[a]));
	}
	pthread_mutex_unlock(&m->lock);

	if (overlaps(off, len, PCI_CFG_DATA, 4)) {
		unsigned int bar;
		uint32_t boff, blen;
		uint8_t data[4];

		if (pci_cfg_window(m, &bar, &boff, &blen)) {
			pthread_mutex_lock(&m->lock);
			memcpy(data, m->cfg + PCI_CFG_DATA, sizeof(data));
			pthread_mutex_unlock(&m->lock);
			model_bar_write(m, bar, boff, data, blen);
		}
	}
	return 0;
}

/* ---- Interrupts, faults, logging (engine side) ---- */

static void raise_config_vector(struct ifcvf_model *m)
{
	uint16_t v = __atomic_load_n(&m->msix_config, __ATOMIC_RELAXED);

	__atomic_fetch_or(&m->isr, VIRTIO_PCI_ISR_CONFIG, __ATOMIC_RELAXED);
	if (v != NO_VECTOR)
		emu_msix_notify(m->pdev, v);
}

void ifcvf_model_config_changed(struct ifcvf_model *m, bool interrupt)
{
	__atomic_add_fetch(&m->config_generation, 1, __ATOMIC_RELEASE);
	if (interrupt)
		raise_config_vector(m);
}

static void device_error(struct ifcvf_model *m)
{
	__atomic_add_fetch(&m->queue_faults, 1, __ATOMIC_RELAXED);
	/* The driver learns through DEVICE_NEEDS_RESET and a config interrupt. */
	if (!__atomic_exchange_n(&m->needs_reset, 1, __ATOMIC_ACQ_REL))
		raise_config_vector(m);
}

void ifcvf_vq_fault(struct ifcvf_vq *q)
{
	char why[128];

	if (virtq_is_broken(&q->vq))
		virtq_format_error(&q->vq, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "DMA fault");
	LOG_WARN(TAG, "%s: vring %u stopped: %s; device needs reset", q->model->pdev->addr,
		 q->index, why);
	q->running = false;
	__atomic_add_fetch(&q->faults, 1, __ATOMIC_RELAXED);
	device_error(q->model);
}

void ifcvf_vq_interrupt(struct ifcvf_vq *q)
{
	struct ifcvf_model *m = q->model;
	uint16_t v;

	if (!virtq_should_notify(&q->vq))
		return;
	v = __atomic_load_n(&q->msix_vector, __ATOMIC_RELAXED);
	/* Without a wired vector (MSI-X off) only the ISR tells. */
	if (v == NO_VECTOR || emu_msix_notify(m->pdev, v) < 0)
		__atomic_fetch_or(&m->isr, ISR_QUEUE, __ATOMIC_RELAXED);
}

void *ifcvf_model_translate(void *opaque, uint64_t addr, uint64_t len, bool write,
			    uint64_t *contig)
{
	struct ifcvf_model *m = opaque;

	return emu_dma_translate(m->pdev, addr, len, write, contig);
}

void ifcvf_model_prefetch(void *opaque, uint64_t addr, bool write)
{
	struct ifcvf_model *m = opaque;

	emu_dma_prefetch(m->pdev, addr, write);
}

/* Sets the dirty bits of [addr, addr + len) in the bitmap the driver placed
 * at log_base (one bit per 4 KiB page, atomic OR, through the IOMMU).
 * Returns the pages marked. */
static uint64_t log_range(struct ifcvf_model *m, uint64_t addr, uint64_t len)
{
	uint64_t base, end, page, last, marked = 0;

	if (len == 0 || addr > UINT64_MAX - (len - 1) || m->drop_dirty_log)
		return 0;
	base = __atomic_load_n(&m->log_base, __ATOMIC_RELAXED);
	end = __atomic_load_n(&m->log_end, __ATOMIC_RELAXED);
	page = addr >> LOG_PAGE_SHIFT;
	last = (addr + len - 1) >> LOG_PAGE_SHIFT;
	while (page <= last) {
		uint64_t byte = page >> 3, byte_last_page = (byte << 3) | 7;
		unsigned int lo = page & 7, hi = (last < byte_last_page ? last : byte_last_page) & 7;
		uint8_t mask = (uint8_t)((0xffu << lo) & (0xffu >> (7 - hi)));
		uint8_t *p;

		if (end <= base || byte >= end - base) {
			LOG_DEBUG(TAG, "%s: dirty page 0x%llx beyond the log", m->pdev->addr,
				  (unsigned long long)page);
			return marked;
		}
		p = emu_dma_translate(m->pdev, base + byte, 1, true, NULL);
		if (!p) {
			LOG_WARN(TAG, "%s: dirty log at 0x%llx not mapped", m->pdev->addr,
				 (unsigned long long)(base + byte));
			device_error(m);
			return marked;
		}
		__atomic_fetch_or(p, mask, __ATOMIC_RELAXED);
		marked += (uint64_t)__builtin_popcount(mask);
		page = byte_last_page + 1;
		if (page == 0)
			break;
	}
	__atomic_fetch_add(&m->dirty_pages, marked, __ATOMIC_RELAXED);
	return marked;
}

void ifcvf_vq_log_write(struct ifcvf_vq *q, const struct virtq_elem *elem, size_t off,
			size_t len)
{
	const struct iovec *iov = virtq_elem_in_iov(elem);
	const uint64_t *addr = virtq_elem_in_addr(elem);
	uint32_t i;

	if (!__atomic_load_n(&q->model->log_ctrl, __ATOMIC_ACQUIRE) || len == 0)
		return;
	/* The data must be visible before its pages are reported dirty. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < elem->in_num && len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - off;
		if (n > len)
			n = len;
		ifcvf_counter_add(&q->logged_pages, log_range(q->model, addr[i] + off, n));
		len -= n;
		off = 0;
	}
}

/* ---- Queues (model lock held) ---- */

/* With the inflight extension on: the queue records what it holds in its
 * part of the region and first takes again what the region says it held
 * when the previous device died. Model lock and work lock held. */
static void inflight_resume(struct ifcvf_model *m, struct ifcvf_vq *q)
{
	uint64_t iova, contig = 0;
	void *region;
	int n;

	if (!m->inflight_ctrl)
		return;
	if (q->index >= m->inflight_nq || m->inflight_qsize < q->size ||
	    m->inflight_stride < virtq_inflight_queue_bytes(q->size)) {
		LOG_WARN(TAG, "%s: vring %u (size %u) is not in the inflight region (%u queues of "
			 "%u): not tracked", m->pdev->addr, q->index, q->size, m->inflight_nq,
			 m->inflight_qsize);
		return;
	}
	iova = m->inflight_base + (uint64_t)q->index * m->inflight_stride;
	region = emu_dma_translate(m->pdev, iova, m->inflight_stride, true, &contig);
	if (!region || contig < m->inflight_stride) {
		LOG_WARN(TAG, "%s: vring %u: inflight region at 0x%" PRIx64 " not mapped: not tracked",
			 m->pdev->addr, q->index, iova);
		return;
	}
	n = virtq_set_inflight(&q->vq, region);
	if (n < 0)
		LOG_WARN(TAG, "%s: vring %u: the inflight region does not match the ring: not "
			 "tracked", m->pdev->addr, q->index);
	else if (n > 0)
		LOG_INFO(TAG, "%s: vring %u: %d request(s) in flight when the previous daemon "
			 "stopped: processing them again", m->pdev->addr, q->index, n);
}

static void queue_start(struct ifcvf_model *m, struct ifcvf_vq *q)
{
	struct virtq_config vc = {
		.size = q->size,
		.features = m->driver_features,
		.desc_addr = q->desc_addr,
		.avail_addr = q->avail_addr,
		.used_addr = q->used_addr,
		.translate = ifcvf_model_translate,
		.prefetch = ifcvf_model_prefetch,
		.opaque = m,
	};
	int rc;

	ifcvf_work_lock(q->work);
	rc = virtq_setup(&q->vq, &vc);
	if (rc == 0) {
		virtq_set_base(&q->vq, (uint16_t)q->ring_state, (uint16_t)(q->ring_state >> 16));
		inflight_resume(m, q);
		virtq_enable_notify(&q->vq);	/* avail_event current with EVENT_IDX */
		q->setup = true;
		q->running = true;
		m->type->queue_start(q);
	}
	ifcvf_work_unlock(q->work);

	if (rc < 0) {
		LOG_WARN(TAG, "%s: vring %u: rings at 0x%llx/0x%llx/0x%llx (size %u) %s; device "
			 "needs reset", m->pdev->addr, q->index, (unsigned long long)q->desc_addr,
			 (unsigned long long)q->avail_addr, (unsigned long long)q->used_addr,
			 q->size, rc == -EFAULT ? "not mapped" : "misaligned");
		device_error(m);
		return;
	}
	ifcvf_work_kick(q->work);
}

/* Stops the queue and turns its indices into the RING_STATE the driver
 * reads back. */
static void queue_stop(struct ifcvf_model *m, struct ifcvf_vq *q)
{
	uint16_t last_avail, last_used;

	ifcvf_work_lock(q->work);
	if (q->setup) {
		m->type->queue_stop(q);
		virtq_get_base(&q->vq, &last_avail, &last_used);
		q->ring_state = ifcvf_ring_state_encode(last_avail, last_used);
	}
	q->setup = false;
	q->running = false;
	ifcvf_work_unlock(q->work);
}

static void queue_reset_regs(struct ifcvf_model *m, struct ifcvf_vq *q)
{
	q->size = m->type->max_queue_size;
	__atomic_store_n(&q->msix_vector, NO_VECTOR, __ATOMIC_RELAXED);
	q->enabled = false;
	q->desc_addr = q->avail_addr = q->used_addr = 0;
	q->ring_state = 0;
}

/* Writing 0 to device_status: synchronous, so status reads back 0 only
 * once every queue is stopped. */
static void device_reset(struct ifcvf_model *m)
{
	unsigned int i;

	/* Last queue first, as a device quiesces: a pair's TX stops before its
	 * RX, so no frame is sent (and completed) toward a stopped receiver. */
	for (i = m->nvrings; i-- > 0;)
		queue_stop(m, &m->vqs[i]);
	m->status = 0;
	__atomic_store_n(&m->needs_reset, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->isr, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->msix_config, NO_VECTOR, __ATOMIC_RELAXED);
	m->dfselect = m->gfselect = 0;
	m->driver_features = 0;
	m->queue_select = 0;
	for (i = 0; i < m->nvrings; i++)
		queue_reset_regs(m, &m->vqs[i]);
	m->type->reset(m);
}

static void status_write(struct ifcvf_model *m, uint8_t v)
{
	uint8_t old = m->status, new_status;
	unsigned int i;

	if (v == 0) {
		device_reset(m);
		return;
	}
	/* Bits stick until reset; NEEDS_RESET is the device's. */
	new_status = old | (uint8_t)(v & ~VIRTIO_CONFIG_S_NEEDS_RESET);
	if ((new_status & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    (m->driver_features & ~m->device_features)) {
		LOG_DEBUG(TAG, "%s: FEATURES_OK refused: features 0x%llx not offered",
			  m->pdev->addr,
			  (unsigned long long)(m->driver_features & ~m->device_features));
		new_status &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	if ((new_status & VIRTIO_CONFIG_S_DRIVER_OK) && !(new_status & VIRTIO_CONFIG_S_FEATURES_OK))
		new_status &= (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
	m->status = new_status;

	if ((new_status & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		for (i = 0; i < m->nvrings; i++)
			if (m->vqs[i].enabled)
				queue_start(m, &m->vqs[i]);
}

static uint8_t status_read(struct ifcvf_model *m)
{
	return m->status | (__atomic_load_n(&m->needs_reset, __ATOMIC_RELAXED) ?
				    VIRTIO_CONFIG_S_NEEDS_RESET : 0);
}

static struct ifcvf_vq *selected_queue(struct ifcvf_model *m)
{
	return m->queue_select < m->nvrings ? &m->vqs[m->queue_select] : NULL;
}

static uint16_t checked_vector(struct ifcvf_model *m, uint16_t v)
{
	/* A vector beyond the table is refused: it reads back NO_VECTOR. */
	return v < m->nvec ? v : NO_VECTOR;
}

/* ---- BAR0: common configuration ---- */

static void common_image(struct ifcvf_model *m, uint8_t *img)
{
	struct ifcvf_vq *q = selected_queue(m);

	memset(img, 0, BAR0_COMMON_LEN);
	put32(img + VIRTIO_PCI_COMMON_DFSELECT, m->dfselect);
	if (m->dfselect < 2)
		put32(img + VIRTIO_PCI_COMMON_DF, (uint32_t)(m->device_features >> (32 * m->dfselect)));
	put32(img + VIRTIO_PCI_COMMON_GFSELECT, m->gfselect);
	if (m->gfselect < 2)
		put32(img + VIRTIO_PCI_COMMON_GF, (uint32_t)(m->driver_features >> (32 * m->gfselect)));
	put16(img + VIRTIO_PCI_COMMON_MSIX, __atomic_load_n(&m->msix_config, __ATOMIC_RELAXED));
	put16(img + VIRTIO_PCI_COMMON_NUMQ, m->nvrings);
	img[VIRTIO_PCI_COMMON_STATUS] = status_read(m);
	img[VIRTIO_PCI_COMMON_CFGGENERATION] =
		(uint8_t)__atomic_load_n(&m->config_generation, __ATOMIC_ACQUIRE);
	put16(img + VIRTIO_PCI_COMMON_Q_SELECT, m->queue_select);
	if (!q)
		return;		/* queue_size 0: no such queue */
	put16(img + VIRTIO_PCI_COMMON_Q_SIZE, q->size);
	put16(img + VIRTIO_PCI_COMMON_Q_MSIX, __atomic_load_n(&q->msix_vector, __ATOMIC_RELAXED));
	put16(img + VIRTIO_PCI_COMMON_Q_ENABLE, q->enabled);
	put16(img + VIRTIO_PCI_COMMON_Q_NOFF, q->index);
	put32(img + VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)q->desc_addr);
	put32(img + VIRTIO_PCI_COMMON_Q_DESCHI, (uint32_t)(q->desc_addr >> 32));
	put32(img + VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)q->avail_addr);
	put32(img + VIRTIO_PCI_COMMON_Q_AVAILHI, (uint32_t)(q->avail_addr >> 32));
	put32(img + VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)q->used_addr);
	put32(img + VIRTIO_PCI_COMMON_Q_USEDHI, (uint32_t)(q->used_addr >> 32));
}

static void set_half(uint64_t *reg, bool high, uint32_t v)
{
	if (high)
		*reg = (*reg & 0xffffffffull) | (uint64_t)v << 32;
	else
		*reg = (*reg & ~0xffffffffull) | v;
}

/* Ring address registers: 32-bit halves, or one 64-bit access at the low
 * half. Ignored while the queue is enabled (the driver must not). */
static void queue_addr_write(struct ifcvf_vq *q, uint32_t off, uint32_t len, uint64_t v)
{
	uint64_t *reg;
	uint32_t base;

	if (off >= VIRTIO_PCI_COMMON_Q_USEDLO) {
		reg = &q->used_addr;
		base = VIRTIO_PCI_COMMON_Q_USEDLO;
	} else if (off >= VIRTIO_PCI_COMMON_Q_AVAILLO) {
		reg = &q->avail_addr;
		base = VIRTIO_PCI_COMMON_Q_AVAILLO;
	} else {
		reg = &q->desc_addr;
		base = VIRTIO_PCI_COMMON_Q_DESCLO;
	}
	if (q->enabled)
		return;
	if (len == 8 && off == base)
		*reg = v;
	else if (len == 4)
		set_half(reg, off != base, (uint32_t)v);
}

static void queue_enable_write(struct ifcvf_model *m, struct ifcvf_vq *q, uint16_t v)
{
	if (v == 1 && !q->enabled) {
		q->enabled = true;
		if (m->status & VIRTIO_CONFIG_S_DRIVER_OK)
			queue_start(m, q);
	} else if (v == 0 && q->enabled) {
		/* Not in virtio 1.0, but the IFCVF stops a queue this way; the
		 * driver then polls queue_enable and reads RING_STATE. */
		queue_stop(m, q);
		q->enabled = false;
	}
}

static void common_write(struct ifcvf_model *m, uint32_t off, uint32_t len, uint64_t v)
{
	struct ifcvf_vq *q = selected_queue(m);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		if (len == 4)
			m->dfselect = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		if (len == 4)
			m->gfselect = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GF:
		/* Features are frozen once FEATURES_OK stuck. */
		if (len == 4 && m->gfselect < 2 && !(m->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&m->driver_features, m->gfselect == 1, (uint32_t)v);
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		if (len == 2)
			__atomic_store_n(&m->msix_config, checked_vector(m, (uint16_t)v),
					 __ATOMIC_RELAXED);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		if (len == 1)
			status_write(m, (uint8_t)v);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		if (len == 2)
			m->queue_select = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* The driver may lower the size, to a power of two. */
		if (len == 2 && q && !q->enabled && v && !(v & (v - 1)) &&
		    v <= m->type->max_queue_size)
			q->size = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (len == 2 && q)
			__atomic_store_n(&q->msix_vector, checked_vector(m, (uint16_t)v),
					 __ATOMIC_RELAXED);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (len == 2 && q)
			queue_enable_write(m, q, (uint16_t)v);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (q)
			queue_addr_write(q, off, len, v);
		break;
	default:
		break;	/* read-only: device_feature, num_queues, generation, notify_off */
	}
}

/* ---- BAR4: live migration ---- */

static struct ifcvf_vq *ring_state_queue(struct ifcvf_model *m, uint64_t off)
{
	unsigned int i;

	for (i = 0; i < m->nvrings; i++)
		if (m->type->ring_state_off(i) == off)
			return &m->vqs[i];
	return NULL;
}

static uint32_t ring_state_read(struct ifcvf_vq *q)
{
	uint16_t last_avail, last_used;
	uint32_t v;

	ifcvf_work_lock(q->work);
	if (q->setup) {
		virtq_get_base(&q->vq, &last_avail, &last_used);
		v = ifcvf_ring_state_encode(last_avail, last_used);
	} else {
		v = q->ring_state;
	}
	ifcvf_work_unlock(q->work);
	return v;
}

static uint32_t lm_read32(struct ifcvf_model *m, uint64_t off)
{
	struct ifcvf_vq *q;

	switch (off) {
	case IFCVF_LM_LOGGING_CTRL:
		return __atomic_load_n(&m->log_ctrl, __ATOMIC_RELAXED);
	case IFCVF_LM_BASE_ADDR_LOW:
		return (uint32_t)__atomic_load_n(&m->log_base, __ATOMIC_RELAXED);
	case IFCVF_LM_BASE_ADDR_HIGH:
		return (uint32_t)(__atomic_load_n(&m->log_base, __ATOMIC_RELAXED) >> 32);
	case IFCVF_LM_END_ADDR_LOW:
		return (uint32_t)__atomic_load_n(&m->log_end, __ATOMIC_RELAXED);
	case IFCVF_LM_END_ADDR_HIGH:
		return (uint32_t)(__atomic_load_n(&m->log_end, __ATOMIC_RELAXED) >> 32);
	case IFCVF_LM_MQ:
		return m->lm_mq;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_CTRL:
		return m->inflight_ctrl;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_BASE_LOW:
		return (uint32_t)m->inflight_base;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_BASE_HIGH:
		return (uint32_t)(m->inflight_base >> 32);
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_STRIDE:
		return m->inflight_stride;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_QUEUE_SIZE:
		return m->inflight_qsize;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_NUM_QUEUES:
		return m->inflight_nq;
	default:
		q = ring_state_queue(m, off);
		return q ? ring_state_read(q) : 0;
	}
}

static void lm_set_half(uint64_t *reg, bool high, uint32_t v)
{
	uint64_t cur = __atomic_load_n(reg, __ATOMIC_RELAXED);

	set_half(&cur, high, v);
	__atomic_store_n(reg, cur, __ATOMIC_RELAXED);
}

/* Waits for the engine rounds under way on every work serving m's vrings:
 * a round that started earlier may still act on the old register state. */
static void engines_quiesce(struct ifcvf_model *m)
{
	unsigned int i;

	for (i = 0; i < m->nvrings; i++) {
		if (!m->vqs[i].work)
			continue;
		ifcvf_work_lock(m->vqs[i].work);
		ifcvf_work_unlock(m->vqs[i].work);
	}
}

static void lm_write32(struct ifcvf_model *m, uint64_t off, uint32_t v)
{
	struct ifcvf_vq *q;

	switch (off) {
	case IFCVF_LM_LOGGING_CTRL:
		/* Release: the log address is in place before logging starts. */
		__atomic_store_n(&m->log_ctrl, v, __ATOMIC_RELEASE);
		/* Stopping is synchronous, as a reset is: once the write returns
		 * no engine sets bits any more, so the driver may unmap and free
		 * the bitmap (else a late write faults the device or hits freed
		 * memory). */
		if (v == IFCVF_LM_LOGGING_DISABLE)
			engines_quiesce(m);
		break;
	case IFCVF_LM_BASE_ADDR_LOW:
	case IFCVF_LM_BASE_ADDR_HIGH:
		lm_set_half(&m->log_base, off == IFCVF_LM_BASE_ADDR_HIGH, v);
		break;
	case IFCVF_LM_END_ADDR_LOW:
	case IFCVF_LM_END_ADDR_HIGH:
		lm_set_half(&m->log_end, off == IFCVF_LM_END_ADDR_HIGH, v);
		break;
	case IFCVF_LM_MQ:
		m->lm_mq = v;
		break;
	/* The inflight extension: read by queues when they start. Like the
	 * logging registers it survives a device reset (the driver programs it
	 * between the reset and DRIVER_OK of its start sequence). */
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_CTRL:
		m->inflight_ctrl = v & 1;
		break;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_BASE_LOW:
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_BASE_HIGH:
		set_half(&m->inflight_base,
			 off == IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_BASE_HIGH, v);
		break;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_STRIDE:
		m->inflight_stride = v;
		break;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_QUEUE_SIZE:
		m->inflight_qsize = v;
		break;
	case IFCVF_INFLIGHT_REGS_OFF + IFCVF_INFLIGHT_NUM_QUEUES:
		m->inflight_nq = v;
		break;
	default:
		/* RING_STATE restores a queue's indices before it starts. */
		q = ring_state_queue(m, off);
		if (q && !q->setup)
			q->ring_state = v;
		break;
	}
}

static void lm_read(struct ifcvf_model *m, uint64_t off, uint8_t *buf, uint32_t len)
{
	uint64_t word = off & ~3ull;
	uint8_t tmp[12];
	uint32_t i;

	/* Assemble from the 32-bit registers the access overlaps. */
	for (i = 0; word + 4 * i < off + len; i++)
		put32(tmp + 4 * i, lm_read32(m, word + 4 * i));
	memcpy(buf, tmp + (off - word), len);
}

static void lm_write(struct ifcvf_model *m, uint64_t off, const uint8_t *buf, uint32_t len)
{
	if (off & 3)
		return;
	if (len == 4 || len == 8)
		lm_write32(m, off, get32(buf));
	if (len == 8)
		lm_write32(m, off + 4, get32(buf + 4));
}

/* ---- BAR dispatch ---- */

static int model_bar_read(void *opaque, unsigned int bar, uint64_t off, void *buf, uint32_t len)
{
	struct ifcvf_model *m = opaque;
	uint8_t img[BAR0_COMMON_LEN];

	memset(buf, 0, len);
	pthread_mutex_lock(&m->lock);
	if (bar == IFCVF_LM_BAR && !m->plain_virtio) {
		if (off + len <= IFCVF_LM_BAR_SIZE)
			lm_read(m, off, buf, len);
	} else if (bar != 0) {
		/* no such BAR: emu refuses before we get here */
	} else if (off < BAR0_COMMON_OFF + BAR0_COMMON_LEN) {
		uint32_t n = off + len > BAR0_COMMON_LEN ? (uint32_t)(BAR0_COMMON_LEN - off) : len;

		common_image(m, img);
		memcpy(buf, img + off, n);
	} else if (off == BAR0_ISR_OFF) {
		/* Read-to-clear: reading ISR acknowledges the interrupt. */
		*(uint8_t *)buf = __atomic_exchange_n(&m->isr, 0, __ATOMIC_ACQ_REL);
	} else if (off >= BAR0_DEVICE_OFF && off < BAR0_DEVICE_OFF + BAR0_DEVICE_WINDOW) {
		uint64_t rel = off - BAR0_DEVICE_OFF;

		if (rel < m->type->config_size) {
			uint32_t n = rel + len > m->type->config_size ?
					     (uint32_t)(m->type->config_size - rel) : len;

			m->type->config_read(m, (uint32_t)rel, buf, n);
		}
	} else if (off >= BAR0_MSIX_TABLE_OFF &&
		   off + len <= BAR0_MSIX_TABLE_OFF + (uint64_t)m->nvec * MSIX_ENTRY_SIZE) {
		memcpy(buf, m->msix_table + (off - BAR0_MSIX_TABLE_OFF), len);
	}
	/* Doorbells, PBA and holes read as zero. */
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void notify_write(struct ifcvf_model *m, uint64_t off, uint32_t len)
{
	uint64_t rel = off - BAR0_NOTIFY_OFF;
	uint64_t q = rel / NOTIFY_OFF_MULTIPLIER;

	/* The doorbell address names the queue (queue_notify_off = index); the
	 * value the driver writes is the same index. No lock: works are fixed
	 * for the model's life, and a kick is only a wake-up. */
	if ((len == 2 || len == 4) && rel % NOTIFY_OFF_MULTIPLIER == 0 && q < m->nvrings)
		ifcvf_work_kick(m->vqs[q].work);
}

static int model_bar_write(void *opaque, unsigned int bar, uint64_t off, const void *buf,
			   uint32_t len)
{
	struct ifcvf_model *m = opaque;

	if (bar == 0 && off >= BAR0_NOTIFY_OFF && off < BAR0_MSIX_TABLE_OFF) {
		notify_write(m, off, len);
		return 0;
	}
	pthread_mutex_lock(&m->lock);
	if (bar == IFCVF_LM_BAR && !m->plain_virtio) {
		if (off + len <= IFCVF_LM_BAR_SIZE)
			lm_write(m, off, buf, len);
	} else if (bar != 0) {
		/* no such BAR */
	} else if (off < BAR0_COMMON_OFF + BAR0_COMMON_LEN) {
		common_write(m, (uint32_t)off, len, get_le(buf, len));
	} else if (off >= BAR0_DEVICE_OFF && off < BAR0_DEVICE_OFF + BAR0_DEVICE_WINDOW) {
		uint64_t rel = off - BAR0_DEVICE_OFF;

		if (rel + len <= m->type->config_size)
			m->type->config_write(m, (uint32_t)rel, buf, len);
	} else if (off >= BAR0_MSIX_TABLE_OFF &&
		   off + len <= BAR0_MSIX_TABLE_OFF + (uint64_t)m->nvec * MSIX_ENTRY_SIZE) {
		memcpy(m->msix_table + (off - BAR0_MSIX_TABLE_OFF), buf, len);
	}
	/* ISR, PBA and holes ignore writes. */
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static uint64_t model_bar_size(void *opaque, unsigned int bar)
{
	struct ifcvf_model *m = opaque;

	if (bar == 0)
		return BAR0_SIZE;
	if (bar == IFCVF_LM_BAR && !m->plain_virtio)
		return IFCVF_LM_BAR_SIZE;
	return 0;
}

static unsigned int model_msix_count(void *opaque)
{
	return ((struct ifcvf_model *)opaque)->nvec;
}

/* ---- Lifecycle ---- */

static void model_free(struct ifcvf_model *m)
{
	pthread_mutex_destroy(&m->lock);
	free(m->msix_table);
	free(m->vqs);
	free(m);
}

static void model_destroy(void *opaque)
{
	struct ifcvf_model *m = opaque;
	struct ifcvf_model **pp;
	unsigned int i;

	pthread_mutex_lock(&models_lock);
	for (pp = &models; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&models_lock);

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nvrings; i++)
		queue_stop(m, &m->vqs[i]);
	pthread_mutex_unlock(&m->lock);
	m->type->destroy(m);
	model_free(m);
}

/* Counters of vring q, typed (the emu layer's queue_stats). */
static int model_queue_stats(void *model, uint16_t q, struct uvdpa_vq_stats *st)
{
	struct ifcvf_model *m = model;

	if (q >= m->nvrings)
		return -EINVAL;
	m->type->get_stats(m, q, st);
	/* Every vring, whatever its type, counts the faults that stopped it
	 * and the pages it marked in the dirty log (hardware logging). */
	st->value[UVDPA_VQ_STAT_FAULTS] = __atomic_load_n(&m->vqs[q].faults, __ATOMIC_RELAXED);
	st->value[UVDPA_VQ_STAT_LOGGED_PAGES] = ifcvf_counter_read(&m->vqs[q].logged_pages);
	st->valid |= (1ull << UVDPA_VQ_STAT_FAULTS) | (1ull << UVDPA_VQ_STAT_LOGGED_PAGES);
	return 0;
}

static int model_queue_stats_reset(void *model, uint16_t q)
{
	struct ifcvf_model *m = model;

	if (q >= m->nvrings)
		return -EINVAL;
	m->type->reset_stats(m, q);
	__atomic_store_n(&m->vqs[q].faults, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->vqs[q].logged_pages, 0, __ATOMIC_RELAXED);
	return 0;
}

static int model_announce(void *model, const uint8_t mac[6])
{
	struct ifcvf_model *m = model;

	return m->type->announce ? m->type->announce(m, mac) : -ENOTSUP;
}

static const struct emu_model_ops model_ops = {
	.announce = model_announce,
	.queue_stats = model_queue_stats,
	.queue_stats_reset = model_queue_stats_reset,
	.cfg_read = model_cfg_read,
	.cfg_write = model_cfg_write,
	.bar_read = model_bar_read,
	.bar_write = model_bar_write,
	.bar_size = model_bar_size,
	.msix_count = model_msix_count,
	.destroy = model_destroy,
};

uint64_t ifcvf_model_supported_features(enum uvdpa_dev_type type)
{
	const struct ifcvf_dev_type *t = find_type(type);

	return t ? t->supported_features : 0;
}

uint64_t ifcvf_model_default_features(enum uvdpa_dev_type type, uint16_t max_vqp)
{
	const struct ifcvf_dev_type *t = find_type(type);

	return t ? t->default_features(max_vqp) : 0;
}

static struct uvdpa_pci_dev *model_create(const struct ifcvf_model_config *cfg, char *err,
				    size_t errlen, int *rc)
{
	const struct ifcvf_dev_type *t = find_type(cfg->type);
	struct uvdpa_pci_id id;
	struct ifcvf_model *m;
	struct uvdpa_pci_dev *pdev;
	uint64_t features;
	char addr[32];
	unsigned int i;
	int n;

	if (!t) {
		uvdpa_errf(err, errlen, "the emulated IFCVF has no %s device type",
			 cfg->type == UVDPA_TYPE_BLK ? "blk" : "such");
		*rc = -EOPNOTSUPP;
		return NULL;
	}
	features = cfg->device_features ? cfg->device_features : t->default_features(cfg->max_vqp);
	if (cfg->offloads) {
		if (!t->offload_features) {
			uvdpa_errf(err, errlen, "offloads: the emulated IFCVF %s has none", t->name);
			*rc = -EINVAL;
			return NULL;
		}
		features |= t->offload_features;
	}
	if (features & ~t->supported_features) {
		uvdpa_errf(err, errlen,
			 "device_features 0x%llx: bits 0x%llx are not supported by the emulated "
			 "IFCVF %s (supported: 0x%llx)", (unsigned long long)features,
			 (unsigned long long)(features & ~t->supported_features), t->name,
			 (unsigned long long)t->supported_features);
		*rc = -EINVAL;
		return NULL;
	}
	n = t->num_vrings(cfg, features, err, errlen);
	if (n < 0) {
		*rc = n;
		return NULL;
	}

	*rc = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto nomem;
	m->type = t;
	m->index = __atomic_fetch_add(&next_index, 1, __ATOMIC_RELAXED);
	m->device_features = features;
	m->drop_dirty_log = cfg->drop_dirty_log;
	m->plain_virtio = cfg->plain_virtio;
	m->nvrings = (uint16_t)n;
	m->nvec = (uint16_t)(n + 1);
	pthread_mutex_init(&m->lock, NULL);
	m->vqs = calloc(m->nvrings, sizeof(*m->vqs));
	m->msix_table = calloc(m->nvec, MSIX_ENTRY_SIZE);
	if (!m->vqs || !m->msix_table) {
		model_free(m);
		goto nomem;
	}
	for (i = 0; i < m->nvec; i++)
		put32(m->msix_table + i * MSIX_ENTRY_SIZE + MSIX_ENTRY_CTRL, MSIX_ENTRY_MASKED);
	for (i = 0; i < m->nvrings; i++) {
		m->vqs[i].model = m;
		m->vqs[i].index = (uint16_t)i;
		queue_reset_regs(m, &m->vqs[i]);
	}
	build_config_space(m, cfg->transitional);
	__atomic_store_n(&m->msix_config, NO_VECTOR, __ATOMIC_RELAXED);

	/* The type's engine works may run from here on: none of its queues
	 * runs before the driver enables it. */
	*rc = t->create(m, cfg, err, errlen);
	if (*rc < 0) {
		model_free(m);
		return NULL;
	}

	id.vendor = IFCVF_VENDOR_ID;
	id.device = cfg->transitional ? t->transitional_device_id : t->device_id;
	id.subsys_vendor = cfg->plain_virtio ? IFCVF_VENDOR_ID : IFCVF_SUBSYS_VENDOR_ID;
	id.subsys_device = cfg->plain_virtio ? PLAIN_SUBSYS_ID :
			   cfg->transitional ? t->transitional_subsys_id : t->subsys_id;
	snprintf(addr, sizeof(addr), "emu:%u", m->index);
	pdev = emu_pci_create(addr, &id, &model_ops, m);
	if (!pdev) {
		t->destroy(m);
		model_free(m);
		*rc = -ENOMEM;
		goto nomem;
	}
	m->pdev = pdev;

	pthread_mutex_lock(&models_lock);
	m->next = models;
	models = m;
	pthread_mutex_unlock(&models_lock);
	LOG_INFO(TAG, "%s: emulated IFCVF %s, %u vrings, features 0x%llx, port %s", addr, t->name,
		 m->nvrings, (unsigned long long)features, cfg->port[0] ? cfg->port : "default");
	*rc = 0;
	return pdev;

nomem:
	uvdpa_errf(err, errlen, "out of memory creating the emulated IFCVF");
	return NULL;
}

struct uvdpa_pci_dev *ifcvf_model_create(const struct ifcvf_model_config *cfg, char *err, size_t errlen)
{
	int rc = 0;
	struct uvdpa_pci_dev *pdev = model_create(cfg, err, errlen, &rc);

	if (!pdev)
		errno = rc < 0 ? -rc : EINVAL;
	return pdev;
}

/* ---- Run-time API ---- */

struct ifcvf_model *ifcvf_model_get(struct uvdpa_pci_dev *pdev)
{
	struct ifcvf_model *m;

	pthread_mutex_lock(&models_lock);
	for (m = models; m; m = m->next)
		if (m->pdev == pdev)
			return m;
	pthread_mutex_unlock(&models_lock);
	return NULL;
}

void ifcvf_model_put(struct ifcvf_model *m)
{
	if (m)
		pthread_mutex_unlock(&models_lock);
}

int ifcvf_model_get_stats(struct uvdpa_pci_dev *pdev, uint16_t qidx, struct uvdpa_vq_stats *st)
{
	struct ifcvf_model *m = ifcvf_model_get(pdev);
	int rc;

	if (!m)
		return -ENODEV;
	rc = model_queue_stats(m, qidx, st);
	ifcvf_model_put(m);
	return rc;
}

int ifcvf_model_reset_stats(struct uvdpa_pci_dev *pdev, uint16_t qidx)
{
	struct ifcvf_model *m = ifcvf_model_get(pdev);
	int rc;

	if (!m)
		return -ENODEV;
	rc = model_queue_stats_reset(m, qidx);
	ifcvf_model_put(m);
	return rc;
}

int ifcvf_model_get_info(struct uvdpa_pci_dev *pdev, struct ifcvf_model_info *info)
{
	struct ifcvf_model *m = ifcvf_model_get(pdev);

	if (!m)
		return -ENODEV;
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&m->lock);
	info->type = m->type->type;
	info->num_vrings = m->nvrings;
	info->device_features = m->device_features;
	info->driver_features = m->driver_features;
	info->status = status_read(m);
	info->queue_faults = __atomic_load_n(&m->queue_faults, __ATOMIC_RELAXED);
	info->dma_faults = emu_dma_faults(m->pdev);
	info->dirty_pages = __atomic_load_n(&m->dirty_pages, __ATOMIC_RELAXED);
	if (m->type->get_info)
		m->type->get_info(m, info);
	pthread_mutex_unlock(&m->lock);
	ifcvf_model_put(m);
	return 0;
}
