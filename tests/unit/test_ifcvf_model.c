/* The emulated IFCVF (src/models/ifcvf) and the emu PCI layer
 * (src/pci/emu.c): the function's IOMMU, config space, capabilities, the
 * status machine and the queue registers, as the ifcvf driver sees them. */
#include "ifcvf_model_harness.h"

/* ---- Tests: the emu layer ---- */

static void test_emu_iommu(void **state)
{
	struct ifcvf_model_config c = net_cfg("sink");
	struct uvdpa_pci_dev *pdev;
	char err[256];
	uint8_t *a = malloc(0x3000), *b = malloc(0x1000);
	uint64_t contig = 0, faults;
	uint8_t *p;
	int efd = eventfd(0, EFD_NONBLOCK), fd;
	uint64_t fdoff, size;
	int efds[3];

	pdev = ifcvf_model_create(&c, err, sizeof(err));
	assert_non_null(pdev);
	assert_int_equal(strncmp(pdev->addr, "emu:", 4), 0);
	assert_int_equal(pdev->ops->dma_map(pdev, 0x10000, a, 0x3000), 0);
	assert_int_equal(pdev->ops->dma_map(pdev, 0x13000, b, 0x1000), 0);
	/* Overlaps are refused, adjacency is fine. */
	assert_int_equal(pdev->ops->dma_map(pdev, 0x12000, b, 0x2000), -EEXIST);
	assert_int_equal(pdev->ops->dma_map(pdev, 0xf000, b, 0x1001), -EEXIST);
	assert_int_equal(pdev->ops->dma_map(pdev, 0x0, b, 0), -EINVAL);
	assert_int_equal(pdev->ops->dma_map(pdev, UINT64_MAX - 10, b, 0x1000), -EINVAL);

	/* Contiguity stops at the mapping's end, even if the next is adjacent. */
	p = emu_dma_translate(pdev, 0x12ff0, 0x100, false, &contig);
	assert_ptr_equal(p, a + 0x2ff0);
	assert_int_equal(contig, 0x10);
	p = emu_dma_translate(pdev, 0x10010, 0x20, true, &contig);
	assert_ptr_equal(p, a + 0x10);
	assert_int_equal(contig, 0x20);
	faults = emu_dma_faults(pdev);
	assert_null(emu_dma_translate(pdev, 0x14000, 4, false, &contig));
	assert_null(emu_dma_translate(pdev, 0xffff, 4, false, &contig));
	assert_int_equal(emu_dma_faults(pdev), faults + 2);

	/* Unmap: partial or unknown ranges change nothing. */
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x11000, 0x1000), -ENOENT);
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x50000, 0x1000), -ENOENT);
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x10000, 0x3800), -ENOENT);
	assert_non_null(emu_dma_translate(pdev, 0x11000, 1, false, NULL));
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x10000, 0x3000), 0);
	assert_null(emu_dma_translate(pdev, 0x10000, 1, false, NULL));
	assert_non_null(emu_dma_translate(pdev, 0x13000, 1, false, NULL));
	/* A range covering whole mappings removes them all. */
	assert_int_equal(pdev->ops->dma_map(pdev, 0x10000, a, 0x3000), 0);
	assert_int_equal(pdev->ops->dma_unmap(pdev, 0x0, 0x100000), 0);
	assert_null(emu_dma_translate(pdev, 0x13000, 1, false, NULL));

	/* MSI-X: too many vectors refused; a wired vector's eventfd fires;
	 * nvec 0 disables. The layer keeps its own fd reference. */
	assert_int_equal(pdev->ops->msix_count(pdev), 3u);
	efds[0] = efd;
	efds[1] = -1;
	efds[2] = efd;
	assert_int_equal(pdev->ops->msix_set(pdev, efds, 4), -EINVAL);
	assert_int_equal(pdev->ops->msix_set(pdev, efds, 3), 0);
	assert_int_equal(emu_msix_notify(pdev, 0), 0);
	assert_int_equal(emu_msix_notify(pdev, 1), -ENOENT);
	assert_int_equal(emu_msix_notify(pdev, 3), -ENOENT);
	{
		uint64_t v = 0;

		assert_int_equal(read(efd, &v, 8), 8);
		assert_int_equal(v, 1);
	}
	assert_int_equal(pdev->ops->msix_set(pdev, NULL, 0), 0);
	assert_int_equal(emu_msix_notify(pdev, 0), -ENOENT);

	assert_int_equal(pdev->ops->notify_area(pdev, 0, 0x3000, &fd, &fdoff, &size), -ENOTSUP);
	/* Sized BAR accesses inside the BAR only. */
	{
		uint32_t v;

		assert_int_equal(pdev->ops->bar_read(pdev, 0, 0, &v, 3), -EINVAL);
		assert_int_equal(pdev->ops->bar_read(pdev, 2, 0, &v, 4), -ENODEV);
		assert_int_equal(pdev->ops->bar_read(pdev, 4, IFCVF_LM_BAR_SIZE - 2, &v, 4),
				 -EINVAL);
		assert_int_equal(pdev->ops->bar_read(pdev, 7, 0, &v, 4), -EINVAL);
	}
	uvdpa_pci_dev_release(pdev);
	close(efd);
	free(a);
	free(b);
}

/* The translation cache each thread keeps (no lock on a hit) never outlives
 * a change of the table, never mixes two functions, and a prefetch hint
 * counts no fault. */
static void test_emu_iommu_tlb(void **state)
{
	struct ifcvf_model_config c = net_cfg("sink");
	struct uvdpa_pci_dev *f1, *f2;
	char err[256];
	uint8_t *a = calloc(1, 0x1000), *b = calloc(1, 0x1000);
	uint64_t faults;

	(void)state;
	f1 = ifcvf_model_create(&c, err, sizeof(err));
	f2 = ifcvf_model_create(&c, err, sizeof(err));
	assert_non_null(f1);
	assert_non_null(f2);
	assert_int_equal(f1->ops->dma_map(f1, 0x10000, a, 0x1000), 0);
	assert_ptr_equal(emu_dma_translate(f1, 0x10010, 4, false, NULL), a + 0x10);
	/* Remapped elsewhere: the cached mapping is not used. */
	assert_int_equal(f1->ops->dma_unmap(f1, 0x10000, 0x1000), 0);
	assert_int_equal(f1->ops->dma_map(f1, 0x10000, b, 0x1000), 0);
	assert_ptr_equal(emu_dma_translate(f1, 0x10010, 4, false, NULL), b + 0x10);
	/* Same IOVA in another function: its own table. */
	assert_null(emu_dma_translate(f2, 0x10010, 4, false, NULL));
	assert_int_equal(f2->ops->dma_map(f2, 0x10000, a, 0x1000), 0);
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(emu_dma_translate(f2, 0x10020, 4, false, NULL), a + 0x20);
		assert_ptr_equal(emu_dma_translate(f1, 0x10020, 4, false, NULL), b + 0x20);
	}
	/* More mappings than the cache holds, visited in turn. */
	for (uint64_t i = 1; i <= 8; i++)
		assert_int_equal(f1->ops->dma_map(f1, 0x10000 + i * 0x1000, a, 0x1000), 0);
	for (int round = 0; round < 3; round++)
		for (uint64_t i = 0; i <= 8; i++)
			assert_ptr_equal(emu_dma_translate(f1, 0x10008 + i * 0x1000, 1, false, NULL),
					 (i ? a : b) + 8);
	/* A hint on an unmapped IOVA is no fault; a translation is. */
	faults = emu_dma_faults(f1);
	emu_dma_prefetch(f1, 0x90000, false);
	emu_dma_prefetch(f1, 0x10000, true);
	assert_int_equal(emu_dma_faults(f1), faults);
	assert_null(emu_dma_translate(f1, 0x90000, 1, false, NULL));
	assert_int_equal(emu_dma_faults(f1), faults + 1);
	uvdpa_pci_dev_release(f1);
	uvdpa_pci_dev_release(f2);
	free(a);
	free(b);
}

/* A thread translating while another remaps: each translation gives the
 * old mapping, the new one or a fault, never anything else; once the
 * remapping thread is done, the last mapping is what the reader sees. */
struct tlb_race {
	struct uvdpa_pci_dev *pdev;
	uint8_t *a, *b;
	int stop;
	unsigned long bad, seen_a, seen_b, seen_null;
	uint8_t *after;
};

static void *tlb_reader(void *arg)
{
	struct tlb_race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		uint8_t *p = emu_dma_translate(r->pdev, 0x10040, 8, false, NULL);

		if (p == r->a + 0x40)
			r->seen_a++;
		else if (p == r->b + 0x40)
			r->seen_b++;
		else if (!p)
			__atomic_store_n(&r->seen_null, r->seen_null + 1, __ATOMIC_RELAXED);
		else
			r->bad++;
	}
	/* Stop was stored after the last change: this thread's cache must not
	 * answer with anything older. */
	r->after = emu_dma_translate(r->pdev, 0x10040, 8, false, NULL);
	return NULL;
}

static void test_emu_iommu_tlb_race(void **state)
{
	struct ifcvf_model_config c = net_cfg("sink");
	struct tlb_race r = { 0 };
	char err[256];
	pthread_t t;

	(void)state;
	r.a = calloc(1, 0x1000);
	r.b = calloc(1, 0x1000);
	r.pdev = ifcvf_model_create(&c, err, sizeof(err));
	assert_non_null(r.pdev);
	assert_int_equal(pthread_create(&t, NULL, tlb_reader, &r), 0);
	while (!__atomic_load_n(&r.seen_null, __ATOMIC_RELAXED))
		sched_yield();			/* the reader runs (nothing mapped yet) */
	for (int i = 0; i < 20000; i++) {
		assert_int_equal(r.pdev->ops->dma_map(r.pdev, 0x10000, (i & 1) ? r.b : r.a, 0x1000), 0);
		assert_int_equal(r.pdev->ops->dma_unmap(r.pdev, 0x10000, 0x1000), 0);
	}
	assert_int_equal(r.pdev->ops->dma_map(r.pdev, 0x10000, r.b, 0x1000), 0);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r.bad, 0);
	assert_ptr_equal(r.after, r.b + 0x40);
	uvdpa_pci_dev_release(r.pdev);
	free(r.a);
	free(r.b);
}

/* ---- Tests: config space and registers ---- */

static void test_config_space(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d;
	uint32_t v, table;

	c.max_vqp = 2;
	d = drv_open(&c);
	assert_int_equal(cfg16(d, PCI_VENDOR_ID), IFCVF_VENDOR_ID);
	assert_int_equal(cfg16(d, PCI_DEVICE_ID), IFCVF_NET_MODERN_DEVICE_ID);
	assert_int_equal(cfg16(d, PCI_SUBSYSTEM_VENDOR_ID), IFCVF_SUBSYS_VENDOR_ID);
	assert_int_equal(cfg16(d, PCI_SUBSYSTEM_ID), IFCVF_NET_SUBSYS_MODERN);
	assert_int_equal(cfg8(d, PCI_REVISION_ID), 1);
	assert_int_equal(cfg32(d, PCI_CLASS_REVISION) >> 8, 0x020000);
	assert_int_equal(d->pdev->id.vendor, IFCVF_VENDOR_ID);
	assert_int_equal(d->pdev->id.subsys_device, IFCVF_NET_SUBSYS_MODERN);

	/* 64-bit memory BARs 0 and 4; the sizing write is harmless. */
	assert_int_equal(cfg32(d, PCI_BASE_ADDRESS_0) & 0x7, PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(cfg32(d, PCI_BASE_ADDRESS_4) & 0x7, PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(d->pdev->ops->bar_size(d->pdev, IFCVF_LM_BAR), IFCVF_LM_BAR_SIZE);
	assert_int_equal(d->pdev->ops->bar_size(d->pdev, 2), 0);
	v = 0xffffffff;
	assert_int_equal(uvdpa_pci_cfg_write(d->pdev, PCI_BASE_ADDRESS_4, &v, 4), 0);
	assert_int_equal(cfg32(d, PCI_BASE_ADDRESS_4) & ~0xfu, (uint32_t)~(IFCVF_LM_BAR_SIZE - 1));
	v = 0;
	uvdpa_pci_cfg_write(d->pdev, PCI_BASE_ADDRESS_4, &v, 4);
	/* Read-only identity. */
	v = 0x12345678;
	uvdpa_pci_cfg_write(d->pdev, PCI_VENDOR_ID, &v, 4);
	assert_int_equal(cfg16(d, PCI_VENDOR_ID), IFCVF_VENDOR_ID);
	assert_int_not_equal(uvdpa_pci_cfg_read(d->pdev, 250, &v, 8), 0);

	/* Vendor caps found by the walk; notify multiplier; MSI-X table size. */
	assert_int_equal(d->notify_mult, 4);
	assert_true(d->notify.len >= d->nvrings * d->notify_mult);
	assert_int_equal(d->nvrings, 4);
	assert_int_equal((cfg16(d, d->msix_cap + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1,
			 d->nvrings + 1);
	table = cfg32(d, d->msix_cap + PCI_MSIX_TABLE);
	assert_true((table & PCI_MSIX_TABLE_BIR) <= 5);
	assert_true((uint64_t)(table & PCI_MSIX_TABLE_OFFSET) + (d->nvrings + 1) * 16 <=
		    d->pdev->ops->bar_size(d->pdev, table & PCI_MSIX_TABLE_BIR));
	assert_true(d->device.len >= 12);	/* mac, status, max_virtqueue_pairs, mtu */

	/* Device config: MAC, link up, max pairs, MTU. */
	{
		uint8_t mac[6];
		unsigned int i;

		for (i = 0; i < 6; i++)
			mac[i] = uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + i);
		assert_int_equal(mac[0], 0x02);
		assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6),
				 VIRTIO_NET_S_LINK_UP);
		assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 8), 2);
		assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 10), 1500);
	}
	drv_close(d);

	/* Transitional ids on request. */
	c = net_cfg("");
	c.transitional = true;
	d = drv_open(&c);
	assert_int_equal(cfg16(d, PCI_DEVICE_ID), IFCVF_NET_TRANSITIONAL_DEVICE_ID);
	assert_int_equal(cfg16(d, PCI_SUBSYSTEM_ID), IFCVF_NET_SUBSYS_TRANSITIONAL);
	assert_int_equal(cfg8(d, PCI_REVISION_ID), 0);
	drv_close(d);
}

static void test_create_errors(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	char err[256];

	c.max_vqp = 33;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "max_vqp"));
	assert_int_equal(errno, EINVAL);
	c.max_vqp = 2;
	c.device_features = BIT(VIRTIO_F_VERSION_1);
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "MQ"));
	c = net_cfg("");
	c.device_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_GUEST_UFO);
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not supported"));
	c = net_cfg("bogus");
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "loopback"));
	c = net_cfg("");
	c.type = UVDPA_TYPE_BLK;	/* no backing file */
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "file PATH"));
	assert_int_equal(errno, EINVAL);
	c.type = (enum uvdpa_dev_type)7;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_int_equal(errno, EOPNOTSUPP);
	c = net_cfg("");
	c.mtu = 20;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "mtu"));
}

static void test_status_machine(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d = drv_open(&c);
	uint64_t offered = device_features(d);

	assert_true(offered & BIT(VIRTIO_F_VERSION_1));
	assert_true(offered & BIT(VIRTIO_F_ACCESS_PLATFORM));
	assert_true(offered & BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(offered & BIT(VIRTIO_NET_F_MTU));
	assert_false(offered & BIT(VIRTIO_NET_F_MQ));	/* one pair */
	assert_false(offered & BIT(VIRTIO_NET_F_CTRL_VQ));
	assert_int_equal(offered, ifcvf_model_default_features(UVDPA_TYPE_NET, 1));
	common_w32(d, VIRTIO_PCI_COMMON_DFSELECT, 2);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_DF), 0);

	/* FEATURES_OK refused for a feature the device does not offer. */
	assert_false(drv_negotiate(d, BASE_FEATURES | BIT(VIRTIO_NET_F_GUEST_TSO4)));
	assert_int_equal(status(d), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	/* DRIVER_OK without FEATURES_OK does not stick either. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, status(d) | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_false(status(d) & VIRTIO_CONFIG_S_DRIVER_OK);

	/* Accepted; the features freeze. */
	assert_true(drv_negotiate(d, BASE_FEATURES));
	write_features(d, BASE_FEATURES | BIT(VIRTIO_NET_F_MTU));
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_GF), (uint32_t)BASE_FEATURES);
	/* NEEDS_RESET is the device's bit. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, status(d) | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* Reset reads back 0 and clears the driver's state. */
	drv_queue_setup(d, 0, 0);
	drv_driver_ok(d);
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(status(d), 0);
	common_w32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_GF), 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), VIRTIO_MSI_NO_VECTOR);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE), 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_Q_DESCLO), 0);
	drv_close(d);
}

static void test_queue_registers(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d = drv_open(&c);
	uint16_t max;

	assert_true(drv_negotiate(d, BASE_FEATURES));
	/* Vectors beyond the table are refused: read back NO_VECTOR. */
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, (uint16_t)d->nvec);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), VIRTIO_MSI_NO_VECTOR);
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, (uint16_t)(d->nvec - 1));
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_MSIX), d->nvec - 1);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, 1);
	common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, 0x7ff);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), VIRTIO_MSI_NO_VECTOR);
	common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, 2);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_MSIX), 2);

	/* Queue size: lowered to a power of two only. */
	max = common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE);
	assert_true(max >= 256 && !(max & (max - 1)));
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, 100);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), max);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, (uint16_t)(max * 2));
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), max);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SIZE, 64);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), 64);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_NOFF), 1);

	/* 64-bit ring addresses in 32-bit halves. */
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCLO, 0x89abc000);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCHI, 0x1234567);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_Q_DESCLO), 0x89abc000);
	assert_int_equal(common_r32(d, VIRTIO_PCI_COMMON_Q_DESCHI), 0x1234567);

	/* Out of range queue: size 0, writes ignored. */
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, d->nvrings);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SIZE), 0);
	common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE), 0);
	assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_SELECT), d->nvrings);

	/* ISR reads are read-to-clear; LM registers read back. */
	(void)uvdpa_pci_bar_read8(d->pdev, d->isr.bar, d->isr.off);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->isr.bar, d->isr.off), 0);
	lm_w32(d, IFCVF_LM_MQ, 1);
	assert_int_equal(lm_r32(d, IFCVF_LM_MQ), 1);
	lm_w32(d, IFCVF_LM_BASE_ADDR_LOW, 0x1000);
	lm_w32(d, IFCVF_LM_BASE_ADDR_HIGH, 0x1000);
	assert_int_equal(lm_r32(d, IFCVF_LM_BASE_ADDR_LOW), 0x1000);
	assert_int_equal(lm_r32(d, IFCVF_LM_BASE_ADDR_HIGH), 0x1000);
	drv_close(d);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emu_iommu),
		cmocka_unit_test(test_emu_iommu_tlb),
		cmocka_unit_test(test_emu_iommu_tlb_race),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_status_machine),
		cmocka_unit_test(test_queue_registers),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
