/* The emulated IFCVF tests' harness (see ifcvf_model_harness.h). */
#include "ifcvf_model_harness.h"

/* ---- Guest memory: one region at GUEST_IOVA ---- */

/* The driver side of one split ring: one descriptor per buffer, descriptor
 * index = avail slot. */

void *gpa(struct drv *d, uint64_t iova)
{
	assert_true(iova >= GUEST_IOVA && iova < GUEST_IOVA + GUEST_SIZE);
	return d->mem + (iova - GUEST_IOVA);
}

/* ---- Register access as the driver does it ---- */

uint8_t cfg8(struct drv *d, uint32_t off)
{
	uint8_t v = 0;

	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, off, &v, 1), 0);
	return v;
}

uint16_t cfg16(struct drv *d, uint32_t off)
{
	uint16_t v = 0;

	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, off, &v, 2), 0);
	return v;
}

uint32_t cfg32(struct drv *d, uint32_t off)
{
	uint32_t v = 0;

	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, off, &v, 4), 0);
	return v;
}

uint8_t common_r8(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read8(d->pdev, d->common.bar, d->common.off + off);
}

uint16_t common_r16(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read16(d->pdev, d->common.bar, d->common.off + off);
}

uint32_t common_r32(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read32(d->pdev, d->common.bar, d->common.off + off);
}

void common_w8(struct drv *d, uint32_t off, uint8_t v)
{
	uvdpa_pci_bar_write8(d->pdev, d->common.bar, d->common.off + off, v);
}

void common_w16(struct drv *d, uint32_t off, uint16_t v)
{
	uvdpa_pci_bar_write16(d->pdev, d->common.bar, d->common.off + off, v);
}

void common_w32(struct drv *d, uint32_t off, uint32_t v)
{
	uvdpa_pci_bar_write32(d->pdev, d->common.bar, d->common.off + off, v);
}

uint32_t lm_r32(struct drv *d, uint32_t off)
{
	return uvdpa_pci_bar_read32(d->pdev, IFCVF_LM_BAR, off);
}

void lm_w32(struct drv *d, uint32_t off, uint32_t v)
{
	uvdpa_pci_bar_write32(d->pdev, IFCVF_LM_BAR, off, v);
}

uint64_t device_features(struct drv *d)
{
	common_w32(d, VIRTIO_PCI_COMMON_DFSELECT, 0);
	uint64_t lo = common_r32(d, VIRTIO_PCI_COMMON_DF);

	common_w32(d, VIRTIO_PCI_COMMON_DFSELECT, 1);
	return lo | (uint64_t)common_r32(d, VIRTIO_PCI_COMMON_DF) << 32;
}

void write_features(struct drv *d, uint64_t f)
{
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
	common_w32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)f);
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 1);
	common_w32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)(f >> 32));
}

uint8_t status(struct drv *d)
{
	return common_r8(d, VIRTIO_PCI_COMMON_STATUS);
}

/* ---- Capability walk ---- */

void walk_caps(struct drv *d)
{
	unsigned int pos = cfg8(d, PCI_CAPABILITY_LIST), hops = 0;

	assert_true(cfg16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	for (; pos; pos = cfg8(d, pos + 1)) {
		struct cap c = { .found = true };
		uint64_t bar_size;

		assert_true(pos >= 0x40 && pos < 256 && (pos & 3) == 0);
		assert_true(++hops < 48);
		if (cfg8(d, pos) == PCI_CAP_ID_MSIX) {
			d->msix_cap = pos;
			continue;
		}
		if (cfg8(d, pos) != PCI_CAP_ID_VNDR)
			continue;
		c.bar = cfg8(d, pos + VIRTIO_PCI_CAP_BAR);
		c.off = cfg32(d, pos + VIRTIO_PCI_CAP_OFFSET);
		c.len = cfg32(d, pos + VIRTIO_PCI_CAP_LENGTH);
		switch (cfg8(d, pos + VIRTIO_PCI_CAP_CFG_TYPE)) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			d->common = c;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = c;
			d->notify_mult = cfg32(d, pos + VIRTIO_PCI_NOTIFY_CAP_MULT);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			d->isr = c;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			d->device = c;
			break;
		default:
			continue;	/* PCI_CFG: a window, not a BAR range */
		}
		/* The driver's checks: bar <= 5, the range inside the BAR. */
		bar_size = d->pdev->ops->bar_size(d->pdev, c.bar);
		assert_true(c.bar <= 5);
		assert_true(bar_size > 0);
		assert_true((uint64_t)c.off + c.len <= bar_size);
	}
}

/* ---- Setup ---- */

/* Takes a model's function the way the driver's probe does. */
struct drv *drv_attach(struct uvdpa_pci_dev *pdev)
{
	struct drv *d = calloc(1, sizeof(*d));
	unsigned int i;

	assert_non_null(d);
	d->pdev = pdev;
	walk_caps(d);
	assert_true(d->common.found && d->notify.found && d->isr.found && d->device.found);
	assert_int_not_equal(d->msix_cap, 0);
	d->nvrings = common_r16(d, VIRTIO_PCI_COMMON_NUMQ);
	d->nvec = d->pdev->ops->msix_count(d->pdev);
	assert_int_equal(d->nvec, d->nvrings + 1u);
	for (i = 0; i < d->nvec; i++) {
		d->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(d->efd[i] >= 0);
	}
	assert_int_equal(d->pdev->ops->msix_set(d->pdev, d->efd, d->nvec), 0);
	d->mem = aligned_alloc(4096, GUEST_SIZE);
	assert_non_null(d->mem);
	memset(d->mem, 0, GUEST_SIZE);
	assert_int_equal(d->pdev->ops->dma_map(d->pdev, GUEST_IOVA, d->mem, GUEST_SIZE), 0);
	return d;
}

struct drv *drv_open(const struct ifcvf_model_config *cfg)
{
	char err[256] = "";
	struct uvdpa_pci_dev *pdev = ifcvf_model_create(cfg, err, sizeof(err));

	if (!pdev)
		fail_msg("ifcvf_model_create: %s", err);
	return drv_attach(pdev);
}

void drv_close(struct drv *d)
{
	unsigned int i;

	uvdpa_pci_dev_release(d->pdev);
	for (i = 0; i < d->nvec; i++)
		close(d->efd[i]);
	free(d->mem);
	free(d);
}

struct ifcvf_model_config net_cfg(const char *port)
{
	struct ifcvf_model_config c;

	memset(&c, 0, sizeof(c));
	c.type = UVDPA_TYPE_NET;
	snprintf(c.port, sizeof(c.port), "%s", port);
	return c;
}

/* Reset, then ACKNOWLEDGE, DRIVER, features, FEATURES_OK; true when the
 * device accepted the features. */
bool drv_negotiate(struct drv *d, uint64_t features)
{
	int i;

	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	for (i = 0; i < 100 && status(d) != 0; i++)
		usleep(1000);
	assert_int_equal(status(d), 0);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS,
		  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	write_features(d, features);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
			  VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	d->features = features;
	return status(d) & VIRTIO_CONFIG_S_FEATURES_OK;
}

/* Programs vring q (rings in its RING_AREA), vector q + 1, restores the
 * ring state, enables it. */
void drv_queue_setup(struct drv *d, uint16_t q, uint32_t ring_state)
{
	struct drv_vq *vq = &d->vq[q];
	uint64_t base = RING_AREA(q);

	assert_true(q < MAX_TEST_VQ);
	vq->size = QSIZE;
	vq->desc_iova = base;
	vq->avail_iova = base + 0x2000;
	vq->used_iova = base + 0x4000;
	vq->desc = gpa(d, vq->desc_iova);
	vq->avail = gpa(d, vq->avail_iova);
	vq->used = gpa(d, vq->used_iova);
	vq->avail_idx = (uint16_t)ring_state;
	vq->last_used = (uint16_t)(ring_state >> 16);
	vq->avail->idx = vq->avail_idx;
	vq->used->idx = vq->last_used;

	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, q);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)vq->desc_iova);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCHI, (uint32_t)(vq->desc_iova >> 32));
	common_w32(d, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)vq->avail_iova);
	common_w32(d, VIRTIO_PCI_COMMON_Q_AVAILHI, (uint32_t)(vq->avail_iova >> 32));
	common_w32(d, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)vq->used_iova);
	common_w32(d, VIRTIO_PCI_COMMON_Q_USEDHI, (uint32_t)(vq->used_iova >> 32));
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, QSIZE);
	lm_w32(d, ifcvf_ring_state_off_net(q), ring_state);
	common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, (uint16_t)(q + 1));
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), q + 1);
	common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
}

void drv_driver_ok(struct drv *d)
{
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), 0);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, status(d) | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(status(d) & VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Full start with queue pairs 0..npairs-1. */
void drv_start(struct drv *d, uint64_t features, unsigned int nvrings)
{
	unsigned int q;

	assert_true(drv_negotiate(d, features));
	for (q = 0; q < nvrings; q++)
		drv_queue_setup(d, (uint16_t)q, 0);
	drv_driver_ok(d);
}

void drv_kick(struct drv *d, uint16_t q)
{
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, q);
	uint16_t noff = common_r16(d, VIRTIO_PCI_COMMON_Q_NOFF);

	uvdpa_pci_bar_write16(d->pdev, d->notify.bar, d->notify.off + (uint64_t)noff * d->notify_mult, q);
}

void drv_add_buf(struct drv *d, uint16_t q, uint64_t iova, uint32_t len, bool writable)
{
	struct drv_vq *vq = &d->vq[q];
	uint16_t slot = vq->avail_idx % vq->size;

	vq->desc[slot].addr = iova;
	vq->desc[slot].len = len;
	vq->desc[slot].flags = writable ? VRING_DESC_F_WRITE : 0;
	vq->desc[slot].next = 0;
	vq->avail->ring[slot] = slot;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

uint16_t drv_add_chain(struct drv *d, uint16_t q, unsigned int n, const uint64_t *iova,
		       const uint32_t *len, const bool *writable)
{
	struct drv_vq *vq = &d->vq[q];
	uint16_t head = vq->next_desc % vq->size;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t s = (uint16_t)((head + i) % vq->size);

		vq->desc[s].addr = iova[i];
		vq->desc[s].len = len[i];
		vq->desc[s].flags = (uint16_t)((writable[i] ? VRING_DESC_F_WRITE : 0) |
					       (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		vq->desc[s].next = (uint16_t)((s + 1) % vq->size);
	}
	vq->next_desc = (uint16_t)((head + n) % vq->size);
	vq->avail->ring[vq->avail_idx % vq->size] = head;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* Waits for the next used entry of q; false on timeout. */
bool drv_get_used(struct drv *d, uint16_t q, uint32_t *id, uint32_t *len)
{
	struct drv_vq *vq = &d->vq[q];
	int i;

	for (i = 0; i < TIMEOUT_MS * 10; i++) {
		if (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) != vq->last_used) {
			struct vring_used_elem *e = &vq->used->ring[vq->last_used % vq->size];

			if (id)
				*id = e->id;
			if (len)
				*len = e->len;
			vq->last_used++;
			return true;
		}
		usleep(100);
	}
	return false;
}

/* True when the eventfd of vector v fires within timeout_ms (and clears it). */
bool wait_vector(struct drv *d, unsigned int v, int timeout_ms)
{
	struct pollfd pfd = { .fd = d->efd[v], .events = POLLIN };
	uint64_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	return read(d->efd[v], &n, sizeof(n)) == sizeof(n) && n > 0;
}

void drain_vector(struct drv *d, unsigned int v)
{
	uint64_t n;

	while (read(d->efd[v], &n, sizeof(n)) == sizeof(n))
		;
}

uint64_t stat_of(struct drv *d, uint16_t q, enum uvdpa_vq_stat k)
{
	struct uvdpa_vq_stats st = { 0 };

	assert_int_equal(ifcvf_model_get_stats(d->pdev, q, &st), 0);
	if (!(st.valid & (1ull << k)))
		fail_msg("no stat %s on vring %u", uvdpa_vq_stat_name(k), q);
	return st.value[k];
}

/* A frame with a recognizable payload, after a zeroed virtio-net header. */
void make_tx(struct drv *d, uint64_t iova, size_t hdr_len, size_t frame_len, uint8_t seed)
{
	uint8_t *p = gpa(d, iova);
	size_t i;

	memset(p, 0, hdr_len);
	for (i = 0; i < frame_len; i++)
		p[hdr_len + i] = (uint8_t)(seed + i * 7);
}

bool check_frame(const uint8_t *p, size_t frame_len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < frame_len; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return false;
	return true;
}

int thread_count(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* One engine thread serves every device of a test program. */
int group_setup(void **state)
{
	return ifcvf_engine_pool_init(1, false);
}

int group_teardown(void **state)
{
	ifcvf_engine_pool_fini();
	return ifcvf_engine_pool_threads() == 0 ? 0 : -1;
}
