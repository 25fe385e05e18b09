/* The emulated IFCVF's datapath, driven as the ifcvf driver drives it:
 * loopback, pair and tap ports, mergeable buffers, legacy headers, the
 * control queue, faults, ring state and dirty logging. */
#include "ifcvf_model_harness.h"

/* ---- Tests: datapath ---- */

static void test_loopback(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t hdr = 12, flen = 200;
	uint32_t id = 0, len = 0;
	uint8_t *rx;

	drv_start(d, BASE_FEATURES, 2);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	drv_kick(d, 0);
	make_tx(d, BUF_IOVA(1), hdr, flen, 3);
	drv_add_buf(d, 1, BUF_IOVA(1), (uint32_t)(hdr + flen), false);
	drv_kick(d, 1);

	assert_true(drv_get_used(d, 1, &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	assert_true(drv_get_used(d, 0, &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, hdr + flen);
	assert_true(wait_vector(d, 1, TIMEOUT_MS));	/* RX vring 0 -> vector 1 */
	assert_true(wait_vector(d, 2, TIMEOUT_MS));	/* TX vring 1 -> vector 2 */
	rx = gpa(d, BUF_IOVA(0));
	assert_int_equal(rx[10] | rx[11] << 8, 1);	/* num_buffers */
	assert_int_equal(rx[0], 0);
	assert_true(check_frame(rx + hdr, flen, 3));
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 1);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_BYTES), flen);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 1);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_BYTES), flen);
	assert_int_equal(ifcvf_model_reset_stats(d->pdev, 1), 0);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 0);
	{
		struct uvdpa_vq_stats st;

		assert_int_equal(ifcvf_model_get_stats(d->pdev, 2, &st), -EINVAL);
	}
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);
}

/* Back-pressure: TX waits in the ring until RX has a buffer; then a large
 * frame spreads over several mergeable buffers. */
static void test_loopback_backpressure_mrg(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t hdr = 12, flen = 3000;
	uint32_t id = 0, len = 0, total = 0;
	uint8_t *frame = malloc(flen), *rx0;
	unsigned int i;

	drv_start(d, BASE_FEATURES, 2);
	make_tx(d, BUF_IOVA(10), hdr, flen, 9);
	drv_add_buf(d, 1, BUF_IOVA(10), (uint32_t)(hdr + flen), false);
	drv_kick(d, 1);
	usleep(20000);
	assert_int_equal(d->vq[1].used->idx, 0);	/* held: no RX buffer */

	/* 1000-byte buffers: 12 + 3000 bytes need 4 of them. The first one
	 * releases the TX chain; the frame then waits halfway for the rest. */
	drv_add_buf(d, 0, BUF_IOVA(0), 1000, true);
	drv_kick(d, 0);
	assert_true(drv_get_used(d, 1, &id, &len));
	for (i = 0; i < TIMEOUT_MS && stat_of(d, 0, UVDPA_VQ_STAT_OVERRUNS) == 0; i++)
		usleep(1000);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_OVERRUNS), 1);
	assert_int_equal(d->vq[0].used->idx, 0);	/* nothing published yet */
	for (i = 1; i < 4; i++) {
		drv_add_buf(d, 0, BUF_IOVA(i), 1000, true);
		drv_kick(d, 0);
	}
	for (i = 0; i < 4; i++) {
		assert_true(drv_get_used(d, 0, &id, &len));
		assert_int_equal(id, i);
		memcpy(frame + (total ? total - hdr : 0), (uint8_t *)gpa(d, BUF_IOVA(i)) + (i ? 0 : hdr),
		       len - (i ? 0 : hdr));
		total += len;
	}
	assert_int_equal(total, hdr + flen);
	rx0 = gpa(d, BUF_IOVA(0));
	assert_int_equal(rx0[10] | rx0[11] << 8, 4);	/* num_buffers */
	assert_true(check_frame(frame, flen, 9));
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 1);
	free(frame);
	drv_close(d);
}

/* Used entries are published in groups: a whole frame that came first is
 * published even while the next frame waits halfway for RX buffers, and the
 * waiting frame's buffers are not. */
static void test_publish_whole_frames_only(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t hdr = 12;
	uint32_t id = 0, len = 0;
	unsigned int i;

	drv_start(d, BASE_FEATURES, 2);
	/* Two RX buffers of 1000 bytes, then a 500-byte and a 3000-byte frame. */
	drv_add_buf(d, 0, BUF_IOVA(0), 1000, true);
	drv_add_buf(d, 0, BUF_IOVA(1), 1000, true);
	drv_kick(d, 0);
	make_tx(d, BUF_IOVA(10), hdr, 500, 3);
	drv_add_buf(d, 1, BUF_IOVA(10), (uint32_t)(hdr + 500), false);
	make_tx(d, BUF_IOVA(11), hdr, 3000, 4);
	drv_add_buf(d, 1, BUF_IOVA(11), (uint32_t)(hdr + 3000), false);
	drv_kick(d, 1);
	for (i = 0; i < TIMEOUT_MS && stat_of(d, 0, UVDPA_VQ_STAT_OVERRUNS) == 0; i++)
		usleep(1000);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_OVERRUNS), 1);
	usleep(20000);
	/* The first frame is out, the second holds buffer 1 unpublished. */
	assert_int_equal(__atomic_load_n(&d->vq[0].used->idx, __ATOMIC_ACQUIRE), 1);
	assert_true(drv_get_used(d, 0, &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, hdr + 500);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 1);
	for (i = 2; i < 5; i++)
		drv_add_buf(d, 0, BUF_IOVA(i), 1000, true);
	drv_kick(d, 0);
	for (i = 1; i < 5; i++) {
		assert_true(drv_get_used(d, 0, &id, &len));
		assert_int_equal(id, i);
	}
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 2);
	drv_close(d);
}

/* A stream of TX chains, some of six buffers, toward a receiver that runs
 * out of buffers: the chains it cannot take yet wait in the TX ring (at
 * most one frame in its FIFO), and every frame arrives once, in order. */
static void test_tx_backpressure_stream(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const unsigned int total = 40, hdr = 12;
	unsigned int i, rxd = 0, given = 0;
	uint32_t id = 0, len = 0;

	drv_start(d, BASE_FEATURES, 2);
	for (i = 0; i < total; i++) {
		uint32_t flen = 60 + i * 7, all = hdr + flen;
		uint64_t iova[6];
		uint32_t l[6];
		bool w[6] = { false };
		unsigned int n = i % 5 == 2 ? 6 : 1, k;

		make_tx(d, BUF_IOVA(64 + i), hdr, flen, (uint8_t)i);
		for (k = 0; k < n; k++) {
			/* n pieces: the last one takes what is left. */
			iova[k] = BUF_IOVA(64 + i) + k * (all / n);
			l[k] = k + 1 < n ? all / n : all - k * (all / n);
		}
		drv_add_chain(d, 1, n, iova, l, w);
	}
	drv_kick(d, 1);
	/* Five RX buffers: five frames come out, the rest wait in the TX ring. */
	for (; given < 5; given++)
		drv_add_buf(d, 0, BUF_IOVA(given), 2048, true);
	drv_kick(d, 0);
	for (; rxd < 5; rxd++) {
		assert_true(drv_get_used(d, 0, &id, &len));
		assert_int_equal(id, rxd);
		assert_int_equal(len, hdr + 60 + rxd * 7);
		assert_true(check_frame((uint8_t *)gpa(d, BUF_IOVA(rxd)) + hdr, 60 + rxd * 7,
					(uint8_t)rxd));
	}
	usleep(20000);
	assert_int_equal(__atomic_load_n(&d->vq[0].used->idx, __ATOMIC_ACQUIRE), 5);
	/* At most one more frame has left the ring, into the receive FIFO. */
	assert_in_range(__atomic_load_n(&d->vq[1].used->idx, __ATOMIC_ACQUIRE), 5, 6);
	/* The rest, three buffers at a time. */
	while (rxd < total) {
		unsigned int upto = given + 3 < total ? given + 3 : total;

		for (; given < upto; given++)
			drv_add_buf(d, 0, BUF_IOVA(given), 2048, true);
		drv_kick(d, 0);
		for (; rxd < given; rxd++) {
			assert_true(drv_get_used(d, 0, &id, &len));
			assert_int_equal(id, rxd);
			assert_int_equal(len, hdr + 60 + rxd * 7);
			assert_true(check_frame((uint8_t *)gpa(d, BUF_IOVA(rxd)) + hdr, 60 + rxd * 7,
						(uint8_t)rxd));
		}
	}
	for (i = 0; i < TIMEOUT_MS && __atomic_load_n(&d->vq[1].used->idx, __ATOMIC_ACQUIRE) != total; i++)
		usleep(1000);
	assert_int_equal(d->vq[1].used->idx, total);
	for (i = 0; i < total; i++) {
		assert_true(drv_get_used(d, 1, &id, &len));
		assert_int_equal(len, 0);
	}
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), total);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), total);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_ERRORS), 0);
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);
}

/* A 0.95 driver behind vhost-user: no VERSION_1, no MRG_RXBUF: 10-byte header. */
static void test_loopback_legacy_header(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t hdr = 10, flen = 64;
	uint32_t len = 0;

	drv_start(d, BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_F_ANY_LAYOUT), 2);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), hdr, flen, 5);
	drv_add_buf(d, 1, BUF_IOVA(1), (uint32_t)(hdr + flen), false);
	drv_kick(d, 0);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, hdr + flen);
	assert_true(check_frame((uint8_t *)gpa(d, BUF_IOVA(0)) + hdr, flen, 5));
	/* Without MRG_RXBUF a frame must fit one buffer. */
	drv_add_buf(d, 0, BUF_IOVA(2), 32, true);
	make_tx(d, BUF_IOVA(3), hdr, flen, 5);
	drv_add_buf(d, 1, BUF_IOVA(3), (uint32_t)(hdr + flen), false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 0);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_ERRORS), 1);
	drv_close(d);
}

/* RING_STATE restored before enable, updated when the queue is disabled. */
static void test_ring_state(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	uint32_t len = 0;
	int i;

	assert_true(drv_negotiate(d, BASE_FEATURES));
	drv_queue_setup(d, 0, ifcvf_ring_state_encode(40, 40));
	drv_queue_setup(d, 1, ifcvf_ring_state_encode(7, 7));
	drv_driver_ok(d);
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), ifcvf_ring_state_encode(7, 7));
	/* Written while running: ignored. */
	lm_w32(d, ifcvf_ring_state_off_net(1), 0);
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), ifcvf_ring_state_encode(7, 7));

	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(1), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 72);
	assert_true(drv_get_used(d, 1, NULL, NULL));
	assert_int_equal(d->vq[0].used->idx, 41);
	assert_int_equal(d->vq[1].used->idx, 8);

	/* The IFCVF stop sequence: vector off, enable=0, poll, read state. */
	common_w16(d, VIRTIO_PCI_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	for (i = 0; i < 2; i++) {
		int tries;

		common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)i);
		common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 0);
		common_w16(d, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
		for (tries = 0; tries < 10 && common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE); tries++)
			usleep(10000);
		assert_int_equal(common_r16(d, VIRTIO_PCI_COMMON_Q_ENABLE), 0);
	}
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(0)), ifcvf_ring_state_encode(41, 41));
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), ifcvf_ring_state_encode(8, 8));
	/* A disabled queue no longer moves. */
	drv_add_buf(d, 0, BUF_IOVA(2), 2048, true);
	drv_kick(d, 0);
	usleep(10000);
	assert_int_equal(d->vq[0].used->idx, 41);
	/* Reset starts the next session from 0. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(lm_r32(d, ifcvf_ring_state_off_net(1)), 0);
	drv_close(d);
}

/* A buffer outside every IOMMU mapping: the queue stops, NEEDS_RESET, the
 * config vector fires, nothing is written; reset recovers. */
static void test_dma_fault(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	struct ifcvf_model_info info;
	uint32_t len = 0;
	int i;

	drv_start(d, BASE_FEATURES, 2);
	drain_vector(d, 0);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	drv_add_buf(d, 1, 0x7000000000ull, 100, false);	/* not mapped */
	drv_kick(d, 1);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	for (i = 0; i < 100 && !(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET); i++)
		usleep(1000);
	assert_true(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(uvdpa_pci_bar_read8(d->pdev, d->isr.bar, d->isr.off) & VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(ifcvf_model_get_info(d->pdev, &info), 0);
	assert_true(info.queue_faults >= 1);
	assert_true(info.dma_faults >= 1);
	assert_true(emu_dma_faults(d->pdev) >= 1);
	assert_int_equal(d->vq[1].used->idx, 0);
	assert_int_equal(d->vq[0].used->idx, 0);

	/* Rings themselves unmapped: refused at start, same signalling. */
	assert_true(drv_negotiate(d, BASE_FEATURES));
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_queue_setup(d, 0, 0);
	common_w16(d, VIRTIO_PCI_COMMON_Q_SELECT, 1);
	common_w32(d, VIRTIO_PCI_COMMON_Q_DESCLO, 0);
	common_w32(d, VIRTIO_PCI_COMMON_Q_AVAILLO, 0x2000);
	common_w32(d, VIRTIO_PCI_COMMON_Q_USEDLO, 0x4000);
	common_w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	drv_driver_ok(d);
	assert_true(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* After a reset the device works again (rings are rewritten only
	 * once the reset stopped the queue that still ran). */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(status(d), 0);
	memset(d->mem, 0, 0x20000);
	drv_start(d, BASE_FEATURES, 2);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(1), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 72);
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);
}

/* Dirty logging: the RX buffer's pages, not the used ring, not the TX buffer. */
static void test_dirty_log(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	const size_t log_size = (GUEST_IOVA + GUEST_SIZE) / 4096 / 8;
	uint8_t *log = calloc(1, log_size);
	uint64_t rx_iova = BUF_IOVA(20) + 4096 - 50;	/* straddles two pages */
	uint64_t page;
	uint32_t len = 0;
	size_t i;

	assert_non_null(log);
	assert_int_equal(d->pdev->ops->dma_map(d->pdev, IFCVF_LOG_IOVA, log, log_size), 0);
	drv_start(d, BASE_FEATURES, 2);
	lm_w32(d, IFCVF_LM_BASE_ADDR_LOW, (uint32_t)IFCVF_LOG_IOVA);
	lm_w32(d, IFCVF_LM_BASE_ADDR_HIGH, (uint32_t)(IFCVF_LOG_IOVA >> 32));
	lm_w32(d, IFCVF_LM_END_ADDR_LOW, (uint32_t)(IFCVF_LOG_IOVA + log_size));
	lm_w32(d, IFCVF_LM_END_ADDR_HIGH, (uint32_t)((IFCVF_LOG_IOVA + log_size) >> 32));
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_ENABLE_VF);
	assert_int_equal(lm_r32(d, IFCVF_LM_LOGGING_CTRL), IFCVF_LM_LOGGING_ENABLE_VF);

	drv_add_buf(d, 0, rx_iova, 1024, true);
	make_tx(d, BUF_IOVA(30), 12, 100, 2);
	drv_add_buf(d, 1, BUF_IOVA(30), 112, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 112);
	assert_true(drv_get_used(d, 1, NULL, NULL));

	/* Exactly the two pages of the RX buffer. */
	for (i = 0; i < log_size * 8; i++) {
		bool dirty = log[i / 8] & (1u << (i % 8));

		page = rx_iova / 4096;
		if (dirty != (i == page || i == page + 1))
			fail_msg("page 0x%zx: dirty %d", i, dirty);
	}

	/* Disabled: nothing more is logged. */
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_DISABLE);
	memset(log, 0, log_size);
	drv_add_buf(d, 0, BUF_IOVA(40), 1024, true);
	drv_add_buf(d, 1, BUF_IOVA(30), 112, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, NULL));
	for (i = 0; i < log_size; i++)
		assert_int_equal(log[i], 0);
	drv_close(d);
	free(log);
}

/* A work whose next round blocks for a while (the engine holds its lock for
 * the whole round, as it does while a queue logs a buffer). */
struct slow_work {
	struct ifcvf_work work;
	int armed, in_round;
};

static unsigned int slow_work_run(struct ifcvf_work *w, bool polling)
{
	struct slow_work *s = w->ctx;

	(void)polling;
	if (__atomic_exchange_n(&s->armed, 0, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&s->in_round, 1, __ATOMIC_SEQ_CST);
		usleep(200 * 1000);
		__atomic_store_n(&s->in_round, 0, __ATOMIC_SEQ_CST);
	}
	return 0;
}

static const struct ifcvf_work_ops slow_work_ops = { .run = slow_work_run };

/* Stopping dirty logging waits for the engine round under way: after the
 * write the driver unmaps and frees the bitmap, which a round that checked
 * LOGGING_CTRL before the write would still set bits in (a DMA fault that
 * breaks the device, or a write to freed memory). */
static void test_dirty_log_stop_is_synchronous(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	struct slow_work s = { .work = { .ops = &slow_work_ops } };
	int i;

	assert_int_equal(ifcvf_engine_pool_threads(), 1);	/* same engine as d's queues */
	s.work.ctx = &s;
	assert_int_equal(ifcvf_work_attach(&s.work), 0);
	drv_start(d, BASE_FEATURES, 2);
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_ENABLE_VF);

	__atomic_store_n(&s.armed, 1, __ATOMIC_SEQ_CST);
	ifcvf_work_kick(&s.work);
	for (i = 0; i < TIMEOUT_MS && !__atomic_load_n(&s.in_round, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&s.in_round, __ATOMIC_SEQ_CST), 1);
	lm_w32(d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_DISABLE);
	assert_int_equal(__atomic_load_n(&s.in_round, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(lm_r32(d, IFCVF_LM_LOGGING_CTRL), IFCVF_LM_LOGGING_DISABLE);

	ifcvf_work_detach(&s.work);
	drv_close(d);
}

/* Works each of whose runs takes 20 ms while busy: a round over ten of them
 * takes 200 ms. */
struct paced_work {
	struct ifcvf_work work;
	int busy, in_run, runs;
};

static unsigned int paced_work_run(struct ifcvf_work *w, bool polling)
{
	struct paced_work *s = w->ctx;

	(void)polling;
	if (!__atomic_load_n(&s->busy, __ATOMIC_SEQ_CST))
		return 0;
	__atomic_store_n(&s->in_run, 1, __ATOMIC_SEQ_CST);
	usleep(20 * 1000);
	__atomic_add_fetch(&s->runs, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->in_run, 0, __ATOMIC_SEQ_CST);
	return 1;
}

static const struct ifcvf_work_ops paced_work_ops = { .run = paced_work_run };

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A control thread waits for the work the engine runs, not for the whole
 * round (a device starting among thousands of queues); a work detached
 * meanwhile is never run again and the round goes on with the others. */
static void test_control_between_works(void **state)
{
	struct paced_work s[10];
	uint64_t t0, waited;
	int i, runs0, runs5;

	assert_int_equal(ifcvf_engine_pool_threads(), 1);
	memset(s, 0, sizeof(s));
	for (i = 0; i < 10; i++) {
		s[i].work.ops = &paced_work_ops;
		s[i].work.ctx = &s[i];
		assert_int_equal(ifcvf_work_attach(&s[i].work), 0);
	}
	/* The engine runs the list from its head, the work attached last. */
	for (i = 0; i < 10; i++)
		__atomic_store_n(&s[i].busy, 1, __ATOMIC_SEQ_CST);
	ifcvf_work_kick(&s[9].work);
	for (i = 0; i < TIMEOUT_MS && !__atomic_load_n(&s[9].in_run, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&s[9].in_run, __ATOMIC_SEQ_CST), 1);
	t0 = mono_ms();
	ifcvf_work_lock(&s[0].work);
	waited = mono_ms() - t0;
	ifcvf_work_unlock(&s[0].work);
	/* One run (20 ms) and scheduling, where the rest of the round is 180. */
	assert_in_range(waited, 0, 100);

	/* Detached mid-round: never run after, and the others go on. */
	for (i = 0; i < TIMEOUT_MS && !__atomic_load_n(&s[8].in_run, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	ifcvf_work_detach(&s[5].work);
	runs5 = __atomic_load_n(&s[5].runs, __ATOMIC_SEQ_CST);
	runs0 = __atomic_load_n(&s[0].runs, __ATOMIC_SEQ_CST);
	for (i = 0; i < TIMEOUT_MS && __atomic_load_n(&s[0].runs, __ATOMIC_SEQ_CST) < runs0 + 2; i++)
		usleep(1000);
	assert_true(__atomic_load_n(&s[0].runs, __ATOMIC_SEQ_CST) >= runs0 + 2);
	assert_int_equal(__atomic_load_n(&s[5].runs, __ATOMIC_SEQ_CST), runs5);
	for (i = 0; i < 10; i++) {
		__atomic_store_n(&s[i].busy, 0, __ATOMIC_SEQ_CST);
		if (i != 5)
			ifcvf_work_detach(&s[i].work);
	}
}

/* Two functions wired together: TX of one is RX of the other. */
static void test_pair(void **state)
{
	struct ifcvf_model_config c = net_cfg("pair:t1");
	struct drv *a = drv_open(&c), *b;
	struct ifcvf_model_config c3 = net_cfg("pair:t1");
	char err[256];
	uint32_t len = 0;

	b = drv_open(&c);
	/* A third end is refused. */
	assert_null(ifcvf_model_create(&c3, err, sizeof(err)));
	assert_non_null(strstr(err, "two"));
	assert_int_equal(errno, EBUSY);

	drv_start(a, BASE_FEATURES, 2);
	drv_start(b, BASE_FEATURES & ~BIT(VIRTIO_NET_F_MRG_RXBUF), 2);
	drv_add_buf(b, 0, BUF_IOVA(0), 2048, true);
	drv_kick(b, 0);
	make_tx(a, BUF_IOVA(1), 12, 300, 4);
	drv_add_buf(a, 1, BUF_IOVA(1), 312, false);
	drv_kick(a, 1);
	assert_true(drv_get_used(b, 0, NULL, &len));
	assert_int_equal(len, 312);
	assert_true(check_frame((uint8_t *)gpa(b, BUF_IOVA(0)) + 12, 300, 4));
	assert_true(drv_get_used(a, 1, NULL, NULL));
	assert_int_equal(a->vq[0].used->idx, 0);	/* nothing came back to a */
	assert_int_equal(stat_of(a, 1, UVDPA_VQ_STAT_PACKETS), 1);
	assert_int_equal(stat_of(b, 0, UVDPA_VQ_STAT_PACKETS), 1);

	/* With b gone, a's TX is dropped, not stuck. */
	drv_close(b);
	make_tx(a, BUF_IOVA(2), 12, 60, 4);
	drv_add_buf(a, 1, BUF_IOVA(2), 72, false);
	drv_kick(a, 1);
	assert_true(drv_get_used(a, 1, NULL, NULL));
	assert_int_equal(stat_of(a, 1, UVDPA_VQ_STAT_DROPS), 1);
	/* And the name is free for a new end. */
	b = drv_open(&c);
	drv_close(b);
	drv_close(a);
}

static void test_sink_source(void **state)
{
	struct ifcvf_model_config c = net_cfg("sink");
	struct drv *d = drv_open(&c);
	uint32_t len;
	unsigned int i;

	drv_start(d, BASE_FEATURES, 2);
	for (i = 0; i < 16; i++) {
		make_tx(d, BUF_IOVA(i), 12, 100 + i, 1);
		drv_add_buf(d, 1, BUF_IOVA(i), 112 + i, false);
	}
	drv_kick(d, 1);
	for (i = 0; i < 16; i++)
		assert_true(drv_get_used(d, 1, NULL, NULL));
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 16);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_BYTES), 16 * 100 + 120);
	drv_close(d);

	c = net_cfg("source:128");
	d = drv_open(&c);
	drv_start(d, BASE_FEATURES, 2);
	for (i = 0; i < 8; i++)
		drv_add_buf(d, 0, BUF_IOVA(i), 2048, true);
	drv_kick(d, 0);
	for (i = 0; i < 8; i++) {
		uint8_t *f = (uint8_t *)gpa(d, BUF_IOVA(i)) + 12;

		assert_true(drv_get_used(d, 0, NULL, &len));
		assert_int_equal(len, 12 + 128);
		assert_int_equal(f[0], 0x02);			/* to our MAC */
		assert_int_equal(f[12] << 8 | f[13], 0x88b5);
		assert_int_equal(f[17], i);			/* sequence */
	}
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 8);
	/* Link down: no frames; up again: more buffers, more frames. */
	assert_int_equal(ifcvf_model_set_link(d->pdev, false), 0);
	drv_add_buf(d, 0, BUF_IOVA(9), 2048, true);
	drv_kick(d, 0);
	usleep(20000);
	assert_int_equal(d->vq[0].used->idx, 8);
	assert_int_equal(ifcvf_model_set_link(d->pdev, true), 0);
	drv_kick(d, 0);
	assert_true(drv_get_used(d, 0, NULL, NULL));
	drv_close(d);

	/* A malformed RX ring (avail idx far beyond the queue size) stops the
	 * generator's queue with NEEDS_RESET instead of stalling silently. */
	c = net_cfg("source");
	d = drv_open(&c);
	drv_start(d, BASE_FEATURES, 2);
	__atomic_store_n(&d->vq[0].avail->idx, (uint16_t)(QSIZE + 10), __ATOMIC_RELEASE);
	drv_kick(d, 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	assert_true(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);

	/* Bursts and the frame-by-frame path in one ring: a chain too small for
	 * a whole frame is given back and the frame spans two (merged), in
	 * order, and the next big chain gets the next frame. */
	c = net_cfg("source:128");
	d = drv_open(&c);
	drv_start(d, BASE_FEATURES, 2);
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	drv_add_buf(d, 0, BUF_IOVA(1), 100, true);
	drv_add_buf(d, 0, BUF_IOVA(2), 100, true);
	drv_add_buf(d, 0, BUF_IOVA(3), 2048, true);
	drv_kick(d, 0);
	{
		static const uint32_t want_len[4] = { 140, 100, 40, 140 };
		uint32_t id;
		uint8_t *b1 = gpa(d, BUF_IOVA(1));

		for (i = 0; i < 4; i++) {
			assert_true(drv_get_used(d, 0, &id, &len));
			assert_int_equal(id, i);
			assert_int_equal(len, want_len[i]);
		}
		assert_int_equal(((uint8_t *)gpa(d, BUF_IOVA(0)))[12 + 17], 0);	/* seq 0 */
		assert_int_equal(b1[10] | b1[11] << 8, 2);			/* num_buffers */
		assert_int_equal(b1[12 + 17], 1);				/* seq 1 */
		assert_int_equal(((uint8_t *)gpa(d, BUF_IOVA(3)))[12 + 17], 2);	/* seq 2 */
	}
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), 3);
	drv_close(d);

	c = net_cfg("source:10");
	{
		char err[256];

		assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	}
}

static void test_link_and_mac(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d;
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct ifcvf_model_info info;
	uint8_t gen;
	uint32_t len;

	memcpy(c.mac, mac, 6);
	d = drv_open(&c);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 5), 0x56);
	drv_start(d, BASE_FEATURES, 2);
	drain_vector(d, 0);
	gen = common_r8(d, VIRTIO_PCI_COMMON_CFGGENERATION);

	assert_int_equal(ifcvf_model_set_link(d->pdev, false), 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	assert_int_not_equal(common_r8(d, VIRTIO_PCI_COMMON_CFGGENERATION), gen);
	assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6), 0);
	assert_int_equal(ifcvf_model_get_info(d->pdev, &info), 0);
	assert_false(info.link_up);
	assert_string_equal(info.port, "loopback");
	/* Link down: TX is dropped. */
	drv_add_buf(d, 0, BUF_IOVA(0), 2048, true);
	make_tx(d, BUF_IOVA(1), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(1), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 1, NULL, NULL));
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_DROPS), 1);
	/* Same state again: no interrupt. */
	assert_int_equal(ifcvf_model_set_link(d->pdev, false), 0);
	assert_false(wait_vector(d, 0, 20));

	assert_int_equal(ifcvf_model_set_link(d->pdev, true), 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	make_tx(d, BUF_IOVA(2), 12, 60, 1);
	drv_add_buf(d, 1, BUF_IOVA(2), 72, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 0, NULL, &len));
	assert_int_equal(len, 72);

	assert_int_equal(ifcvf_model_set_mac(d->pdev, (const uint8_t[6]){ 2, 0, 0, 0, 0, 9 }), 0);
	assert_true(wait_vector(d, 0, TIMEOUT_MS));
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 5), 9);
	/* announce needs GUEST_ANNOUNCE negotiated */
	assert_int_equal(ifcvf_model_announce(d->pdev), -EOPNOTSUPP);
	{
		struct uvdpa_pci_dev not_a_model = { .ops = d->pdev->ops };

		assert_int_equal(ifcvf_model_set_link(&not_a_model, true), -ENODEV);
	}
	drv_close(d);
}

/* Control queue: MQ pairs, MAC, announce ack, a bad command. */
static void cvq_cmd(struct drv *d, uint16_t q, const uint8_t *cmd, size_t len, uint8_t expect)
{
	uint8_t *out = gpa(d, BUF_IOVA(50)), *ack = gpa(d, BUF_IOVA(51));
	struct drv_vq *vq = &d->vq[q];
	uint16_t slot = vq->avail_idx % vq->size, slot2 = (uint16_t)((slot + 1) % vq->size);
	uint32_t len_used;

	memcpy(out, cmd, len);
	*ack = 0xee;
	/* Two-descriptor chain: command, then the ack byte. */
	vq->desc[slot] = (struct vring_desc){ .addr = BUF_IOVA(50), .len = (uint32_t)len,
					       .flags = VRING_DESC_F_NEXT, .next = slot2 };
	vq->desc[slot2] = (struct vring_desc){ .addr = BUF_IOVA(51), .len = 1,
						.flags = VRING_DESC_F_WRITE };
	vq->avail->ring[vq->avail_idx % vq->size] = slot;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	drv_kick(d, q);
	assert_true(drv_get_used(d, q, NULL, &len_used));
	assert_int_equal(len_used, 1);
	assert_int_equal(*ack, expect);
}

static void test_control_queue(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	uint64_t f = BASE_FEATURES | BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ) |
		     BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) | BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) |
		     BIT(VIRTIO_NET_F_CTRL_RX);
	struct drv *d;
	const uint8_t pairs2[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	const uint8_t pairs9[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 9, 0 };
	const uint8_t mac[] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 2, 1, 2, 3, 4, 5 };
	const uint8_t promisc_off[] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };
	const uint8_t ack[] = { VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK };
	const uint8_t bogus[] = { 77, 1 };
	uint32_t len;
	unsigned int q;

	c.max_vqp = 2;
	c.device_features = ifcvf_model_default_features(UVDPA_TYPE_NET, 2) | f;
	d = drv_open(&c);
	assert_int_equal(d->nvrings, 5);
	assert_true(drv_negotiate(d, f));
	for (q = 0; q < 5; q++)
		drv_queue_setup(d, (uint16_t)q, 0);
	drv_driver_ok(d);

	cvq_cmd(d, 4, pairs2, sizeof(pairs2), VIRTIO_NET_OK);
	cvq_cmd(d, 4, pairs9, sizeof(pairs9), VIRTIO_NET_ERR);
	cvq_cmd(d, 4, mac, sizeof(mac), VIRTIO_NET_OK);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 5), 5);
	cvq_cmd(d, 4, bogus, sizeof(bogus), VIRTIO_NET_ERR);
	assert_int_equal(ifcvf_model_announce(d->pdev), 0);
	assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6),
			 VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	cvq_cmd(d, 4, ack, sizeof(ack), VIRTIO_NET_OK);
	assert_int_equal(uvdpa_pci_bar_read16(d->pdev, d->device.bar, d->device.off + 6),
			 VIRTIO_NET_S_LINK_UP);
	assert_int_equal(stat_of(d, 4, UVDPA_VQ_STAT_REQUESTS), 5);
	assert_int_equal(stat_of(d, 4, UVDPA_VQ_STAT_SUCCESSES), 3);
	assert_int_equal(stat_of(d, 4, UVDPA_VQ_STAT_ERRORS), 2);

	/* RX filter: promiscuous off, a frame to another MAC is dropped, one
	 * to ours (02:01:02:03:04:05 now) passes. Pair 1 this time. */
	cvq_cmd(d, 4, promisc_off, sizeof(promisc_off), VIRTIO_NET_OK);
	drv_add_buf(d, 2, BUF_IOVA(0), 2048, true);
	drv_add_buf(d, 2, BUF_IOVA(1), 2048, true);
	make_tx(d, BUF_IOVA(2), 12, 60, 1);	/* dst 01:08:...: multicast, not ours */
	drv_add_buf(d, 3, BUF_IOVA(2), 72, false);
	drv_kick(d, 3);
	assert_true(drv_get_used(d, 3, NULL, NULL));
	memcpy((uint8_t *)gpa(d, BUF_IOVA(3)) + 12, mac + 2, 6);
	memset((uint8_t *)gpa(d, BUF_IOVA(3)), 0, 12);
	drv_add_buf(d, 3, BUF_IOVA(3), 72, false);
	drv_kick(d, 3);
	assert_true(drv_get_used(d, 2, NULL, &len));
	assert_int_equal(len, 72);
	assert_int_equal(stat_of(d, 2, UVDPA_VQ_STAT_DROPS), 1);
	assert_int_equal(stat_of(d, 2, UVDPA_VQ_STAT_PACKETS), 1);

	/* Reset restores the administrator's MAC. */
	common_w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
	assert_int_equal(uvdpa_pci_bar_read8(d->pdev, d->device.bar, d->device.off + 1), 0x1a);
	drv_close(d);
}

/* The PCI configuration access capability reaches BAR registers too. */
static void test_pci_cfg_window(void **state)
{
	struct ifcvf_model_config c = net_cfg("");
	struct drv *d = drv_open(&c);
	unsigned int pos = cfg8(d, PCI_CAPABILITY_LIST), cfgcap = 0;
	uint32_t v;
	uint8_t b;

	for (; pos; pos = cfg8(d, pos + 1))
		if (cfg8(d, pos) == PCI_CAP_ID_VNDR &&
		    cfg8(d, pos + VIRTIO_PCI_CAP_CFG_TYPE) == VIRTIO_PCI_CAP_PCI_CFG)
			cfgcap = pos;
	assert_int_not_equal(cfgcap, 0);
	b = d->common.bar;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_BAR, &b, 1);
	v = d->common.off + VIRTIO_PCI_COMMON_NUMQ;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_OFFSET, &v, 4);
	v = 2;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_LENGTH, &v, 4);
	v = 0;
	assert_int_equal(uvdpa_pci_cfg_read(d->pdev, cfgcap + 16, &v, 4), 0);
	assert_int_equal(v & 0xffff, d->nvrings);
	/* And writes: device_status through the window. */
	v = d->common.off + VIRTIO_PCI_COMMON_STATUS;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_OFFSET, &v, 4);
	v = 1;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + VIRTIO_PCI_CAP_LENGTH, &v, 4);
	v = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	uvdpa_pci_cfg_write(d->pdev, cfgcap + 16, &v, 1);
	assert_int_equal(status(d), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	drv_close(d);
}

/* Thread count does not grow with devices; many devices run at once. */
static void test_engine_threads_fixed(void **state)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d[6];
	int before = thread_count();
	unsigned int i;
	uint32_t len;

	assert_int_equal(ifcvf_engine_pool_threads(), 1);
	assert_int_equal(ifcvf_engine_pool_init(2, false), -EALREADY);
	for (i = 0; i < 6; i++) {
		c.max_vqp = 4;
		c.device_features = ifcvf_model_default_features(UVDPA_TYPE_NET, 4);
		d[i] = drv_open(&c);
		drv_start(d[i], BASE_FEATURES, 2);
	}
	assert_int_equal(thread_count(), before);
	for (i = 0; i < 6; i++) {
		drv_add_buf(d[i], 0, BUF_IOVA(0), 2048, true);
		make_tx(d[i], BUF_IOVA(1), 12, 60, (uint8_t)i);
		drv_add_buf(d[i], 1, BUF_IOVA(1), 72, false);
		drv_kick(d[i], 1);
	}
	for (i = 0; i < 6; i++) {
		assert_true(drv_get_used(d[i], 0, NULL, &len));
		assert_int_equal(len, 72);
		assert_true(check_frame((uint8_t *)gpa(d[i], BUF_IOVA(0)) + 12, 60, (uint8_t)i));
	}
	for (i = 0; i < 6; i++)
		drv_close(d[i]);
	assert_int_equal(thread_count(), before);
}

/* Streams total frames through a loopback function, up to 64 in flight,
 * checking every one. */
static void loopback_stream(unsigned int total)
{
	struct ifcvf_model_config c = net_cfg("loopback");
	struct drv *d = drv_open(&c);
	unsigned int sent = 0, rxd = 0;
	int spins = 0;

	drv_start(d, BASE_FEATURES | BIT(VIRTIO_RING_F_INDIRECT_DESC), 2);
	while (rxd < total && spins < 200000) {
		while (sent < total && sent - rxd < 64) {
			unsigned int slot = sent % 64;

			drv_add_buf(d, 0, BUF_IOVA(slot), 2048, true);
			make_tx(d, BUF_IOVA(64 + slot), 12, 64 + (sent % 100), (uint8_t)sent);
			drv_add_buf(d, 1, BUF_IOVA(64 + slot), 12 + 64 + (sent % 100), false);
			sent++;
		}
		drv_kick(d, 0);
		drv_kick(d, 1);
		while (__atomic_load_n(&d->vq[0].used->idx, __ATOMIC_ACQUIRE) != d->vq[0].last_used) {
			uint32_t len = d->vq[0].used->ring[d->vq[0].last_used % QSIZE].len;
			unsigned int slot = rxd % 64;

			assert_int_equal(len, 12 + 64 + (rxd % 100));
			assert_true(check_frame((uint8_t *)gpa(d, BUF_IOVA(slot)) + 12, 64 + (rxd % 100),
						(uint8_t)rxd));
			d->vq[0].last_used++;
			rxd++;
		}
		spins++;
		usleep(10);
	}
	assert_int_equal(rxd, total);
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_PACKETS), total);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), total);
	assert_false(status(d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_close(d);
}

static void test_loopback_stream(void **state)
{
	loopback_stream(5000);
}

/* The other engine modes: event-driven without a poll window (notifications
 * always on), and pure polling on two threads. */
static void test_engine_modes(void **state)
{
	ifcvf_engine_pool_fini();
	assert_int_equal(ifcvf_engine_pool_threads(), 0);

	assert_int_equal(ifcvf_engine_pool_init(1, false), 0);
	ifcvf_engine_pool_set_poll_window(0);
	loopback_stream(2000);
	ifcvf_engine_pool_fini();

	assert_int_equal(ifcvf_engine_pool_init(2, true), 0);
	assert_int_equal(ifcvf_engine_pool_threads(), 2);
	loopback_stream(2000);
	ifcvf_engine_pool_fini();

	ifcvf_engine_pool_set_poll_window(50);
	assert_int_equal(ifcvf_engine_pool_init(1, false), 0);
}

/* tap: guest TX reaches the host interface, host frames reach guest RX.
 * Needs CAP_NET_ADMIN and CAP_NET_RAW; skipped without them. */
#define TAP_NAME "uvdpamodel0"
#define TAP_NAME_VNET "uvdpamodel1"	/* a closed tap disappears asynchronously */
#define TAP_ETHERTYPE_TX 0x88b5
#define TAP_ETHERTYPE_RX 0x88b6

static bool tap_up(const char *name)
{
	char path[128];
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	FILE *f;
	bool ok;

	/* No IPv6 autoconfiguration chatter on the test link. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	if (s < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags |= IFF_UP;
	ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
	close(s);
	return ok;
}

static void tap_roundtrip(const char *name, bool vnet_hdr)
{
	struct ifcvf_model_config c = net_cfg("");
	struct sockaddr_ll sll;
	uint8_t buf[2048], *tx, *rx;
	struct drv *d;
	struct uvdpa_pci_dev *pdev;
	char err[256];
	bool seen = false;
	uint32_t len;
	int ps, i;

	snprintf(c.port, sizeof(c.port), "tap:%s%s", name, vnet_hdr ? ",vnet_hdr" : "");
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (ps < 0) {
		printf("skipped: AF_PACKET: %s\n", strerror(errno));
		skip();
	}
	/* A tap of the same name closed by an earlier run may still be on its
	 * way out of the kernel: retry while it is busy. */
	for (i = 0; i < 40; i++) {
		pdev = ifcvf_model_create(&c, err, sizeof(err));
		if (pdev || !strstr(err, "busy"))
			break;
		usleep(50000);
	}
	if (!pdev) {
		printf("skipped: %s\n", err);
		close(ps);
		skip();
	}
	d = drv_attach(pdev);
	assert_true(tap_up(name));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(name);
	assert_int_not_equal(sll.sll_ifindex, 0);
	assert_int_equal(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);
	drv_start(d, BASE_FEATURES, 2);

	/* Guest -> host. */
	tx = gpa(d, BUF_IOVA(1));
	memset(tx, 0, 12 + 100);
	memset(tx + 12, 0xff, 6);
	tx[12 + 6] = 0x02;
	tx[12 + 12] = TAP_ETHERTYPE_TX >> 8;
	tx[12 + 13] = TAP_ETHERTYPE_TX & 0xff;
	memcpy(tx + 12 + 14, "uvdpa-tap-tx", 12);
	drv_add_buf(d, 1, BUF_IOVA(1), 12 + 100, false);
	drv_kick(d, 1);
	assert_true(drv_get_used(d, 1, NULL, NULL));
	for (i = 0; i < 50 && !seen; i++) {
		struct pollfd pfd = { .fd = ps, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = recv(ps, buf, sizeof(buf), 0);
		seen = n == 100 && !memcmp(buf + 14, "uvdpa-tap-tx", 12) &&
		       buf[12] == (TAP_ETHERTYPE_TX >> 8);
	}
	assert_true(seen);
	assert_int_equal(stat_of(d, 1, UVDPA_VQ_STAT_PACKETS), 1);

	/* Host -> guest (skipping anything the kernel sends meanwhile). */
	for (i = 0; i < 8; i++)
		drv_add_buf(d, 0, BUF_IOVA(10 + i), 2048, true);
	drv_kick(d, 0);
	memset(buf, 0, 80);
	buf[0] = 0x02;
	buf[6] = 0x02;
	buf[11] = 0x77;
	buf[12] = TAP_ETHERTYPE_RX >> 8;
	buf[13] = TAP_ETHERTYPE_RX & 0xff;
	memcpy(buf + 14, "uvdpa-tap-rx", 12);
	assert_int_equal(send(ps, buf, 80, 0), 80);
	seen = false;
	for (i = 0; i < 8 && !seen; i++) {
		if (!drv_get_used(d, 0, NULL, &len))
			break;
		rx = (uint8_t *)gpa(d, BUF_IOVA(10 + i)) + 12;
		seen = len == 12 + 80 && !memcmp(rx + 14, "uvdpa-tap-rx", 12);
	}
	assert_true(seen);
	close(ps);
	drv_close(d);
}

static void test_tap(void **state)
{
	tap_roundtrip(TAP_NAME, false);
	tap_roundtrip(TAP_NAME_VNET, true);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_cfg_window),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_loopback_backpressure_mrg),
		cmocka_unit_test(test_publish_whole_frames_only),
		cmocka_unit_test(test_tx_backpressure_stream),
		cmocka_unit_test(test_loopback_legacy_header),
		cmocka_unit_test(test_ring_state),
		cmocka_unit_test(test_dma_fault),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_dirty_log_stop_is_synchronous),
		cmocka_unit_test(test_control_between_works),
		cmocka_unit_test(test_pair),
		cmocka_unit_test(test_sink_source),
		cmocka_unit_test(test_link_and_mac),
		cmocka_unit_test(test_control_queue),
		cmocka_unit_test(test_engine_threads_fixed),
		cmocka_unit_test(test_loopback_stream),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_engine_modes),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
