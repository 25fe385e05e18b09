/* End to end on an emulated IFCVF: the ifcvf driver probes the model's
 * function, a vhost-user session (fed message by message) configures it,
 * and guest packets go through the whole path: kick eventfd -> relay pool
 * -> doorbell -> model engine (DMA through the IOMMU map the driver made,
 * IOVA = guest physical) -> loopback -> RX ring -> MSI-X vector wired to the
 * frontend's call eventfd. Also: per-queue disable/enable keeping the ring
 * state, a queue pair started after the device, hardware dirty logging, and
 * the ring state handed back on GET_VRING_BASE. */
#include <poll.h>

#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "drivers/ifcvf/ifcvf_vdpa.h"
#include "models/ifcvf/ifcvf_model.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "core/relay.h"
#include "core/registry.h"
#include "vu_test_util.h"

/* Probes pdev through the core, as the mgmtdevs do. */
static int drv_probe(struct uvdpa_pci_dev *pdev, const char *devargs, const char *name,
		     struct uvdpa_device **out, char *err, size_t errlen)
{
	struct uvdpa_probe_args args = { .name = name, .devargs = devargs };
	int ret = ifcvf_drivers_register();

	return ret < 0 ? ret : uvdpa_pci_probe(pdev, &args, out, err, errlen);
}

#define F_MAC BIT(VIRTIO_NET_F_MAC)
#define F_MQ BIT(VIRTIO_NET_F_MQ)
#define F_IOMMU BIT(33)
#define HDR_LEN 12u	/* virtio_net_hdr_mrg_rxbuf: VERSION_1 */
#define FRAME_LEN 60u
#define TX_BUF_OFF 0x40000u	/* within the guest memory */
#define RX_BUF_OFF 0x50000u
#define RX_BUF_LEN 2048u
#define WAIT_MS 5000

struct gring {
	uint8_t *base;		/* our mapping */
	uint16_t avail_idx;
	int kickfd, callfd;	/* our copies */
};

struct e2e {
	struct tdev td;		/* only td.vu is used: the message builders want it */
	struct uvdpa_pci_dev *pdev;
	struct uvdpa_device *dev;
	uint8_t *guest;
	struct gring rings[4];
	uint64_t features;
	int fds_before;
};

static uint64_t ring_gpa(unsigned int i)
{
	return GUEST_GPA + i * RING_STRIDE;
}

static struct vring_avail *avail_of(struct gring *r)
{
	return (struct vring_avail *)(r->base + 0x1000);
}

static struct vring_used *used_of(struct gring *r)
{
	return (struct vring_used *)(r->base + 0x2000);
}

static uint16_t used_idx(struct gring *r)
{
	return __atomic_load_n(&used_of(r)->idx, __ATOMIC_ACQUIRE);
}

/* One descriptor chain of one buffer. */
static void post(struct gring *r, uint16_t head, uint64_t gpa, uint32_t len, bool device_writes)
{
	struct vring_desc *d = (struct vring_desc *)r->base + head;

	d->addr = gpa;
	d->len = len;
	d->flags = device_writes ? VRING_DESC_F_WRITE : 0;
	d->next = 0;
	avail_of(r)->ring[r->avail_idx % RING_SIZE] = head;
	r->avail_idx++;
	__atomic_store_n(&avail_of(r)->idx, r->avail_idx, __ATOMIC_RELEASE);
}

static void kick(struct gring *r)
{
	uint64_t one = 1;

	assert_int_equal(write(r->kickfd, &one, sizeof(one)), sizeof(one));
}

static bool wait_call(struct gring *r)
{
	struct pollfd p = { .fd = r->callfd, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	return read(r->callfd, &n, sizeof(n)) == sizeof(n);
}

static bool wait_used(struct gring *r, uint16_t want)
{
	for (int i = 0; i < WAIT_MS; i++) {
		if (used_idx(r) == want)
			return true;
		usleep(1000);
	}
	return false;
}

/* NUM, BASE, ADDR, KICK, CALL for ring idx, keeping our own kick/call fds;
 * the ring resumes at base (its indexes in guest memory say so too). */
static void setup_ring_at(struct e2e *t, uint16_t idx, uint32_t addr_flags, uint16_t base)
{
	struct gring *r = &t->rings[idx];
	struct vhost_user_msg m;

	r->base = t->guest + idx * RING_STRIDE;
	if (r->kickfd > 0) {
		close(r->kickfd);
		close(r->callfd);
	}
	r->kickfd = new_eventfd();
	r->callfd = new_eventfd();
	r->avail_idx = base;
	avail_of(r)->idx = base;
	used_of(r)->idx = base;
	assert_int_equal(td_state(&t->td, VHOST_USER_SET_VRING_NUM, idx, RING_SIZE, &m), 0);
	assert_int_equal(td_state(&t->td, VHOST_USER_SET_VRING_BASE, idx, base, &m), 0);
	assert_int_equal(td_vring_addr(&t->td, idx, GUEST_UVA + idx * RING_STRIDE, addr_flags,
				       ring_gpa(idx) + 0x2000, &m), 0);
	assert_int_equal(td_vring_fd(&t->td, VHOST_USER_SET_VRING_KICK, idx, dup(r->kickfd), &m), 0);
	assert_int_equal(td_vring_fd(&t->td, VHOST_USER_SET_VRING_CALL, idx, dup(r->callfd), &m), 0);
}

static void setup_ring(struct e2e *t, uint16_t idx, uint32_t addr_flags)
{
	setup_ring_at(t, idx, addr_flags, 0);
}

static void enable_ring(struct e2e *t, uint16_t idx, bool on)
{
	struct vhost_user_msg m;

	assert_int_equal(td_state(&t->td, VHOST_USER_SET_VRING_ENABLE, idx, on, &m), 0);
}

static struct e2e *e2e_new_args(uint16_t max_vqp, bool transitional, bool plain,
				 const char *devargs)
{
	struct ifcvf_model_config mc;
	struct e2e *t = calloc(1, sizeof(*t));
	char err[256] = "";

	assert_non_null(t);
	t->fds_before = count_fds();
	memset(&mc, 0, sizeof(mc));
	mc.type = UVDPA_TYPE_NET;
	mc.max_vqp = max_vqp;
	mc.transitional = transitional;
	mc.plain_virtio = plain;
	snprintf(mc.port, sizeof(mc.port), "loopback");
	t->pdev = ifcvf_model_create(&mc, err, sizeof(err));
	if (!t->pdev)
		fail_msg("ifcvf_model_create: %s", err);
	if (drv_probe(t->pdev, devargs, "e2e0", &t->dev, err, sizeof(err)) < 0)
		fail_msg("probe: %s", err);
	t->td.vu = vu_dev_new_detached(t->dev);
	assert_non_null(t->td.vu);
	return t;
}

static struct e2e *e2e_new(uint16_t max_vqp, bool transitional)
{
	return e2e_new_args(max_vqp, transitional, false, "vdpa=1");
}

static void e2e_free(struct e2e *t)
{
	uvdpa_vhost_free(t->td.vu);
	uvdpa_device_remove(t->dev);
	if (t->guest)
		munmap(t->guest, GUEST_SIZE);
	for (unsigned int i = 0; i < 4; i++) {
		if (t->rings[i].base) {
			close(t->rings[i].kickfd);
			close(t->rings[i].callfd);
		}
	}
	assert_int_equal(count_fds(), t->fds_before);
	free(t);
}

/* Features, memory and the rings of the first pairs; enabling them makes
 * the session call dev_conf. */
static void e2e_start(struct e2e *t, uint64_t features, uint64_t proto, unsigned int nrings)
{
	struct ifcvf_model_info info;

	t->features = features;
	td_negotiate(&t->td, features, proto);
	t->guest = td_guest_mem(&t->td);
	for (uint16_t i = 0; i < nrings; i++)
		setup_ring(t, i, 0);
	for (uint16_t i = 0; i < nrings; i++)
		enable_ring(t, i, true);
	assert_int_equal(ifcvf_model_get_info(t->pdev, &info), 0);
	assert_int_equal(info.status, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	/* The device gets what the frontend negotiated of its own features,
	 * plus ACCESS_PLATFORM: it sits behind an IOMMU. */
	assert_int_equal(info.driver_features, (features & ~(F_PROTOCOL | F_LOG_ALL)) | F_IOMMU);
}

/* A broadcast frame with a payload marker, TX on pair's TX ring, and its
 * arrival on the pair's RX ring (loopback). */
static void send_and_receive(struct e2e *t, unsigned int pair, uint8_t marker)
{
	struct gring *rx = &t->rings[2 * pair], *tx = &t->rings[2 * pair + 1];
	uint8_t *txbuf = t->guest + TX_BUF_OFF + pair * 0x1000;
	uint8_t *rxbuf = t->guest + RX_BUF_OFF + pair * 0x1000;
	uint16_t rx_used = used_idx(rx), tx_used = used_idx(tx);
	struct vring_used_elem e;

	memset(txbuf, 0, HDR_LEN);
	memset(txbuf + HDR_LEN, 0xff, 6);			/* broadcast */
	memset(txbuf + HDR_LEN + 6, 0x02, 6);
	memset(txbuf + HDR_LEN + 12, marker, FRAME_LEN - 12);
	memset(rxbuf, 0, RX_BUF_LEN);
	post(rx, (uint16_t)(rx->avail_idx % RING_SIZE), GUEST_GPA + RX_BUF_OFF + pair * 0x1000,
	     RX_BUF_LEN, true);
	kick(rx);
	post(tx, (uint16_t)(tx->avail_idx % RING_SIZE), GUEST_GPA + TX_BUF_OFF + pair * 0x1000,
	     HDR_LEN + FRAME_LEN, false);
	kick(tx);

	assert_true(wait_call(rx));
	assert_true(wait_used(rx, (uint16_t)(rx_used + 1)));
	assert_true(wait_used(tx, (uint16_t)(tx_used + 1)));
	e = used_of(rx)->ring[rx_used % RING_SIZE];
	assert_int_equal(e.len, HDR_LEN + FRAME_LEN);
	assert_memory_equal(rxbuf + HDR_LEN, txbuf + HDR_LEN, FRAME_LEN);
}

static int setup(void **state)
{
	(void)state;
	vdpa_registry_reset();
	assert_int_equal(ifcvf_drivers_register(), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ifcvf_drivers_unregister();
	vdpa_registry_reset();
	return 0;
}

/* ---- tests ---- */

static void test_datapath_and_ring_state(void **state)
{
	struct e2e *t = e2e_new(1, false);
	uint64_t feat;
	uint16_t avail, used;
	struct vhost_user_msg m;
	struct uvdpa_vq_stats st;
	struct ifcvf_model_info info;

	(void)state;
	assert_int_equal(t->dev->ops->get_features(t->dev, &feat), 0);
	assert_true(feat & F_LOG_ALL);		/* the model has the LM BAR */
	assert_false(feat & F_IOMMU);
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC,
		  PF(MQ) | PF(REPLY_ACK) | PF(LOG_SHMFD), 2);
	send_and_receive(t, 0, 0x11);
	send_and_receive(t, 0, 0x22);

	/* The engine may have polled the TX ring before the relay thread
	 * read the kick: the kick count catches up. */
	for (int i = 0; i < WAIT_MS; i++) {
		assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 1, &st), 0);
		if (st.value[UVDPA_VQ_STAT_KICKS] >= 1)
			break;
		usleep(1000);
	}
	assert_true(st.value[UVDPA_VQ_STAT_KICKS] >= 1);
	assert_int_equal(st.value[UVDPA_VQ_STAT_RECEIVED_DESC], 2);
	assert_int_equal(st.value[UVDPA_VQ_STAT_COMPLETED_DESC], 2);
	/* The model's own counters reach the driver's op, typed: the TX ring
	 * sent two frames. */
	assert_true(st.valid & (1ull << UVDPA_VQ_STAT_PACKETS));
	assert_int_equal(st.value[UVDPA_VQ_STAT_PACKETS], 2);
	assert_false(st.valid & (1ull << UVDPA_VQ_STAT_OVERRUNS));	/* an RX counter */
	assert_int_equal(t->dev->ops->reset_vq_stats(t->dev, 1), 0);
	assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 1, &st), 0);
	assert_int_equal(st.value[UVDPA_VQ_STAT_RECEIVED_DESC], 0);
	assert_int_equal(st.value[UVDPA_VQ_STAT_COMPLETED_DESC], 0);
	assert_int_equal(st.value[UVDPA_VQ_STAT_PACKETS], 0);

	/* The TX queue alone is stopped and restarted: its state survives
	 * and the other queue is not disturbed. */
	enable_ring(t, 1, false);
	assert_int_equal(vu_get_vring_base(t->td.vu, 1, &avail, &used), 0);
	assert_int_equal(avail, 2);
	assert_int_equal(used, 2);
	assert_int_equal(ifcvf_model_get_info(t->pdev, &info), 0);
	assert_true(info.status & VIRTIO_CONFIG_S_DRIVER_OK);
	enable_ring(t, 1, true);
	send_and_receive(t, 0, 0x33);

	/* A new call fd while running: the vector follows it. */
	close(t->rings[0].callfd);
	t->rings[0].callfd = new_eventfd();
	assert_int_equal(td_vring_fd(&t->td, VHOST_USER_SET_VRING_CALL, 0,
				     dup(t->rings[0].callfd), &m), 0);
	send_and_receive(t, 0, 0x44);

	/* GET_VRING_BASE stops the device; the ring state comes from it. */
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 4);
	assert_int_equal(ifcvf_model_get_info(t->pdev, &info), 0);
	assert_int_equal(info.status, 0);
	assert_int_equal(info.dma_faults, 0);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 1, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 4);
	e2e_free(t);
}

static void test_hw_dirty_logging(void **state)
{
	struct e2e *t = e2e_new(1, false);
	struct vhost_user_msg m;
	uint8_t *log;
	int logfd = memfd_sized("e2e-log", 4096);
	uint64_t page;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC, PF(MQ) | PF(REPLY_ACK) | PF(LOG_SHMFD), 2);
	send_and_receive(t, 0, 0x55);

	log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	assert_true(log != MAP_FAILED);
	/* What QEMU does at migration start. */
	assert_int_equal(td_log_base(&t->td, 4096, 0, logfd, &m), 0);
	for (uint16_t i = 0; i < 2; i++)
		assert_int_equal(td_vring_addr(&t->td, i, GUEST_UVA + i * RING_STRIDE,
					       1u << VHOST_VRING_F_LOG, ring_gpa(i) + 0x2000, &m), 0);
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features | F_LOG_ALL, &m), 0);

	memset(log, 0, 4096);
	send_and_receive(t, 0, 0x66);
	/* The device logged the RX buffer it wrote... */
	page = (GUEST_GPA + RX_BUF_OFF) >> 12;
	assert_true(log[page / 8] & (1u << (page % 8)));
	/* ...but not the used rings: the driver does that at stop. */
	page = (ring_gpa(0) + 0x2000) >> 12;
	assert_false(log[page / 8] & (1u << (page % 8)));
	/* The emulated function counts what it logged, per ring. */
	{
		struct uvdpa_vq_stats st;

		assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 0, &st), 0);
		assert_true(st.valid & (1ull << UVDPA_VQ_STAT_LOGGED_PAGES));
		assert_int_equal(st.value[UVDPA_VQ_STAT_LOGGED_PAGES], 1);
		assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 1, &st), 0);
		assert_int_equal(st.value[UVDPA_VQ_STAT_LOGGED_PAGES], 0);
	}

	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 2);
	for (unsigned int i = 0; i < 2; i++) {
		page = (ring_gpa(i) + 0x2000) >> 12;
		assert_true(log[page / 8] & (1u << (page % 8)));
	}
	munmap(log, 4096);
	e2e_free(t);
}

static bool page_dirty(const uint8_t *log, uint64_t gpa)
{
	uint64_t page = gpa >> 12;

	return log[page / 8] & (1u << (page % 8));
}

static unsigned int dirty_count(const uint8_t *log, size_t len)
{
	unsigned int n = 0;

	for (size_t i = 0; i < len; i++)
		n += (unsigned int)__builtin_popcount(log[i]);
	return n;
}

/* QEMU replaces the log during migration when guest memory changes, and
 * repeats the same log once per queue pair. A repeat changes nothing; a
 * real replacement moves the function to the new log while it keeps
 * logging (no window, so no need to dirty everything). */
static void test_hw_dirty_log_replaced(void **state)
{
	struct e2e *t = e2e_new(1, false);
	struct vhost_user_msg m;
	int logfd = memfd_sized("e2e-log", 4096), logfd2 = memfd_sized("e2e-log2", 4096);
	uint8_t *log, *log2;
	struct ifcvf_model_info before, after;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC, PF(MQ) | PF(REPLY_ACK) | PF(LOG_SHMFD), 2);
	log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	log2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd2, 0);
	assert_true(log != MAP_FAILED && log2 != MAP_FAILED);
	assert_int_equal(td_log_base(&t->td, 4096, 0, dup(logfd), &m), 0);
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features | F_LOG_ALL, &m), 0);
	send_and_receive(t, 0, 0x12);
	assert_true(page_dirty(log, GUEST_GPA + RX_BUF_OFF));

	/* The same log on another fd, as QEMU sends it for the next pair. */
	memset(log, 0, 4096);
	assert_int_equal(td_log_base(&t->td, 4096, 0, dup(logfd), &m), 0);
	assert_reply_u64(&m, VHOST_USER_SET_LOG_BASE, 0);
	assert_int_equal(dirty_count(log, 4096), 0);
	send_and_receive(t, 0, 0x13);
	assert_true(page_dirty(log, GUEST_GPA + RX_BUF_OFF));

	/* A new log: nothing is dirtied by the move itself, and the device
	 * writes into the new one from the reply on. */
	memset(log, 0, 4096);
	assert_int_equal(ifcvf_model_get_info(t->pdev, &before), 0);
	assert_int_equal(td_log_base(&t->td, 4096, 0, logfd2, &m), 0);
	assert_reply_u64(&m, VHOST_USER_SET_LOG_BASE, 0);
	assert_int_equal(dirty_count(log2, 4096), 0);
	send_and_receive(t, 0, 0x14);
	assert_true(page_dirty(log2, GUEST_GPA + RX_BUF_OFF));
	assert_int_equal(dirty_count(log, 4096), 0);
	assert_int_equal(ifcvf_model_get_info(t->pdev, &after), 0);
	assert_true(after.dirty_pages > before.dirty_pages);
	assert_int_equal(after.dma_faults, 0);

	/* And back to the first slot: a third log. */
	memset(log2, 0, 4096);
	assert_int_equal(td_log_base(&t->td, 4096, 0, dup(logfd), &m), 0);
	send_and_receive(t, 0, 0x15);
	assert_true(page_dirty(log, GUEST_GPA + RX_BUF_OFF));
	assert_int_equal(dirty_count(log2, 4096), 0);
	munmap(log, 4096);
	munmap(log2, 4096);
	close(logfd);
	e2e_free(t);
}

/* A net ring stopped while the device holds buffers it fetched for a frame
 * it has not completed (MRG_RXBUF, the frame needs a second buffer): the
 * function's ring state says fetched 1, used 0, and the ring is handed
 * back at its used index, so the buffer is the guest's again. */
static void test_stop_with_fetched_ahead(void **state)
{
	struct e2e *t = e2e_new(1, false);
	struct gring *rx, *tx;
	struct vhost_user_msg m;
	uint32_t rs = 0;
	uint8_t *txbuf;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC | BIT(VIRTIO_NET_F_MRG_RXBUF),
		  PF(MQ) | PF(REPLY_ACK), 2);
	rx = &t->rings[0];
	tx = &t->rings[1];
	txbuf = t->guest + TX_BUF_OFF;
	memset(txbuf, 0, HDR_LEN);
	memset(txbuf + HDR_LEN, 0xff, FRAME_LEN);
	post(rx, 0, GUEST_GPA + RX_BUF_OFF, HDR_LEN + 16, true);	/* too small */
	kick(rx);
	post(tx, 0, GUEST_GPA + TX_BUF_OFF, HDR_LEN + FRAME_LEN, false);
	kick(tx);
	assert_true(wait_used(tx, 1));
	for (int i = 0; i < WAIT_MS && (uint16_t)rs != 1; i++) {
		rs = uvdpa_pci_bar_read32(t->pdev, IFCVF_LM_BAR, ifcvf_ring_state_off_net(0));
		usleep(1000);
	}
	assert_int_equal((uint16_t)rs, 1);		/* fetched */
	assert_int_equal(rs >> 16, 0);			/* not completed */
	assert_int_equal(used_idx(rx), 0);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 0);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 1, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 1);
	e2e_free(t);
}

/* Software-assisted migration (sw-live-migration=1): with LOG_ALL the RX
 * ring's used entries go through the relay, which logs the buffer and the
 * used ring as it copies them; the function itself logs nothing. LOG_ALL
 * off and on again under traffic loses nothing. */
static void test_sw_relay(void **state)
{
	struct e2e *t = e2e_new_args(1, false, false, "vdpa=1,sw-live-migration=1");
	int logfd = memfd_sized("e2e-log", 4096);
	struct uvdpa_migration_state ms;
	struct ifcvf_model_info info;
	struct uvdpa_vq_stats st;
	struct vhost_user_msg m;
	uint64_t feat;
	uint8_t *log;

	(void)state;
	assert_int_equal(t->dev->ops->get_features(t->dev, &feat), 0);
	assert_true(feat & F_LOG_ALL);
	assert_int_equal(t->dev->ops->get_migration(t->dev, &ms), 0);
	assert_int_equal(ms.mode, UVDPA_MIGRATION_SW);
	assert_false(ms.logging);
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC, PF(MQ) | PF(REPLY_ACK) | PF(LOG_SHMFD), 2);
	send_and_receive(t, 0, 0x21);
	log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	assert_true(log != MAP_FAILED);
	assert_int_equal(td_log_base(&t->td, 4096, 0, dup(logfd), &m), 0);
	for (uint16_t i = 0; i < 2; i++)
		assert_int_equal(td_vring_addr(&t->td, i, GUEST_UVA + i * RING_STRIDE,
					       1u << VHOST_VRING_F_LOG, ring_gpa(i) + 0x2000, &m), 0);
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features | F_LOG_ALL, &m), 0);
	assert_int_equal(t->dev->ops->get_migration(t->dev, &ms), 0);
	assert_true(ms.logging);

	memset(log, 0, 4096);
	for (uint8_t k = 0; k < 10; k++)
		send_and_receive(t, 0, (uint8_t)(0x30 + k));
	/* The relay logged the buffer and the guest's used ring while running. */
	assert_true(page_dirty(log, GUEST_GPA + RX_BUF_OFF));
	assert_true(page_dirty(log, ring_gpa(0) + 0x2000));
	assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 0, &st), 0);
	assert_true(st.valid & (1ull << UVDPA_VQ_STAT_RELAYED));
	assert_int_equal(st.value[UVDPA_VQ_STAT_RELAYED], 10);
	assert_true(st.value[UVDPA_VQ_STAT_LOGGED_PAGES] >= 10);
	assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 1, &st), 0);
	assert_int_equal(st.value[UVDPA_VQ_STAT_RELAYED], 0);	/* TX is not relayed */
	assert_int_equal(ifcvf_model_get_info(t->pdev, &info), 0);
	assert_int_equal(info.dirty_pages, 0);	/* the function did not log */

	/* Off and on again (a cancelled migration, then a new one). */
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features, &m), 0);
	assert_int_equal(t->dev->ops->get_migration(t->dev, &ms), 0);
	assert_false(ms.logging);
	send_and_receive(t, 0, 0x41);
	memset(log, 0, 4096);
	send_and_receive(t, 0, 0x42);
	assert_false(page_dirty(log, GUEST_GPA + RX_BUF_OFF));
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features | F_LOG_ALL, &m), 0);
	send_and_receive(t, 0, 0x43);
	assert_true(page_dirty(log, GUEST_GPA + RX_BUF_OFF));

	/* Stop: 13 frames each way, every used ring logged. */
	memset(log, 0, 4096);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 14);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 1, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 14);
	assert_true(page_dirty(log, ring_gpa(0) + 0x2000));
	assert_true(page_dirty(log, ring_gpa(1) + 0x2000));
	assert_int_equal(ifcvf_model_get_info(t->pdev, &info), 0);
	assert_int_equal(info.dma_faults, 0);
	munmap(log, 4096);
	close(logfd);
	e2e_free(t);
}

/* With EVENT_IDX the relay interrupts the guest when its used_event asks,
 * and keeps avail_event current so the guest keeps kicking. */
static void test_sw_relay_event_idx(void **state)
{
	struct e2e *t = e2e_new_args(1, false, false, "vdpa=1,sw-live-migration=1");
	int logfd = memfd_sized("e2e-log", 4096);
	struct vhost_user_msg m;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC | F_EVENT_IDX,
		  PF(MQ) | PF(REPLY_ACK) | PF(LOG_SHMFD), 2);
	assert_int_equal(td_log_base(&t->td, 4096, 0, logfd, &m), 0);
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features | F_LOG_ALL, &m), 0);
	for (uint8_t k = 0; k < 5; k++) {
		struct gring *rx = &t->rings[0], *tx = &t->rings[1];
		uint16_t *rx_used_event = (uint16_t *)&avail_of(rx)->ring[RING_SIZE];
		uint16_t *tx_used_event = (uint16_t *)&avail_of(tx)->ring[RING_SIZE];

		/* Interrupt me for the next completion. */
		__atomic_store_n(rx_used_event, used_idx(rx), __ATOMIC_RELEASE);
		__atomic_store_n(tx_used_event, used_idx(tx), __ATOMIC_RELEASE);
		send_and_receive(t, 0, (uint8_t)(0x50 + k));
		/* The guest's avail_event says "kick at the next buffer" once the
		 * kick relay read the kick (the engine may have been first). */
		{
			uint16_t avail_event = 0;

			for (int i = 0; i < WAIT_MS; i++) {
				memcpy(&avail_event, &used_of(tx)->ring[RING_SIZE], 2);
				if (avail_event == tx->avail_idx)
					break;
				usleep(1000);
			}
			assert_int_equal(avail_event, tx->avail_idx);
		}
	}
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 5);
	e2e_free(t);
}

/* ---- Shadow virtqueues: a plain virtio function (no ring-state registers) ---- */

/* EVENT_IDX: the guest asks for an interrupt at the next completion of
 * both rings of pair. */
static void want_calls(struct e2e *t, unsigned int pair)
{
	for (unsigned int i = 2 * pair; i < 2 * pair + 2; i++) {
		uint16_t ue = used_idx(&t->rings[i]);

		memcpy(&avail_of(&t->rings[i])->ring[RING_SIZE], &ue, 2);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
}

static void assert_mode(struct e2e *t, enum uvdpa_migration_mode mode, bool logging)
{
	struct uvdpa_migration_state ms;

	assert_int_equal(t->dev->ops->get_migration(t->dev, &ms), 0);
	assert_int_equal(ms.mode, mode);
	assert_int_equal(ms.logging, logging);
}

/* shadow-vq=1: the device always runs on shadow rings; the guest's buffers
 * go through the relay both ways, counted, and no doorbell page is given. */
static void test_shadow_forced(void **state)
{
	struct e2e *t = e2e_new_args(1, false, true, "vdpa=1,shadow-vq=1");
	struct uvdpa_vq_stats st;
	uint64_t off, size;
	int fd;

	(void)state;
	assert_string_equal(t->dev->driver->name, "virtio-pci");
	assert_mode(t, UVDPA_MIGRATION_SHADOW, false);
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC, PF(MQ) | PF(REPLY_ACK), 2);
	for (uint8_t k = 0; k < 20; k++)
		send_and_receive(t, 0, k);
	assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 0, &st), 0);
	assert_int_equal(st.value[UVDPA_VQ_STAT_RELAYED], 20);
	assert_int_equal(t->dev->ops->get_vq_stats(t->dev, 1, &st), 0);
	assert_int_equal(st.value[UVDPA_VQ_STAT_RELAYED], 20);
	assert_true(st.value[UVDPA_VQ_STAT_KICKS] >= 1);
	assert_int_equal(t->dev->ops->get_notify_area(t->dev, 0, &fd, &off, &size), -ENOTSUP);
	e2e_free(t);
}

/* The default: direct until it must migrate. LOG_ALL moves the function
 * to shadow rings under traffic; the relay logs the buffers and the used
 * ring; off again keeps the shadow rings (the function cannot go back to
 * the guest's indexes); the stop hands back the right indexes. */
static void test_shadow_migration(void **state)
{
	struct e2e *t = e2e_new_args(1, false, true, "vdpa=1");
	int logfd = memfd_sized("e2e-log", 4096);
	struct ifcvf_model_info info;
	struct vhost_user_msg m;
	uint8_t *log;

	(void)state;
	assert_mode(t, UVDPA_MIGRATION_SHADOW, false);
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC | F_EVENT_IDX,
		  PF(MQ) | PF(REPLY_ACK) | PF(LOG_SHMFD), 2);
	for (uint8_t k = 0; k < 3; k++) {
		want_calls(t, 0);
		send_and_receive(t, 0, k);
	}
	log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	assert_true(log != MAP_FAILED);
	assert_int_equal(td_log_base(&t->td, 4096, 0, dup(logfd), &m), 0);
	for (uint16_t i = 0; i < 2; i++)
		assert_int_equal(td_vring_addr(&t->td, i, GUEST_UVA + i * RING_STRIDE,
					       1u << VHOST_VRING_F_LOG, ring_gpa(i) + 0x2000, &m), 0);
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features | F_LOG_ALL, &m), 0);
	assert_mode(t, UVDPA_MIGRATION_SHADOW, true);
	memset(log, 0, 4096);
	for (uint8_t k = 0; k < 5; k++) {
		want_calls(t, 0);
		send_and_receive(t, 0, (uint8_t)(0x10 + k));
	}
	assert_true(page_dirty(log, GUEST_GPA + RX_BUF_OFF));
	assert_true(page_dirty(log, ring_gpa(0) + 0x2000));
	assert_true(page_dirty(log, ring_gpa(1) + 0x2000));
	assert_int_equal(ifcvf_model_get_info(t->pdev, &info), 0);
	assert_int_equal(info.dirty_pages, 0);
	assert_int_equal(td_u64(&t->td, VHOST_USER_SET_FEATURES, t->features, &m), 0);
	assert_mode(t, UVDPA_MIGRATION_SHADOW, false);
	memset(log, 0, 4096);
	want_calls(t, 0);
	send_and_receive(t, 0, 0x20);
	assert_false(page_dirty(log, GUEST_GPA + RX_BUF_OFF));
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 9);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 1, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 9);
	munmap(log, 4096);
	close(logfd);
	e2e_free(t);
}

/* A migration destination: the rings resume at index 1000, which a plain
 * function cannot; on shadow rings it can. RX buffers posted and not used
 * when a ring stops go back to the guest (avail handed back = used). */
static void test_shadow_resume(void **state)
{
	struct e2e *t = e2e_new_args(1, false, true, "vdpa=1");
	struct vhost_user_msg m;
	struct gring *rx;

	(void)state;
	td_negotiate(&t->td, F_VERSION_1 | F_PROTOCOL | F_MAC, PF(MQ) | PF(REPLY_ACK));
	t->features = F_VERSION_1 | F_PROTOCOL | F_MAC;
	t->guest = td_guest_mem(&t->td);
	setup_ring_at(t, 0, 0, 1000);
	setup_ring_at(t, 1, 0, 1000);
	enable_ring(t, 0, true);
	enable_ring(t, 1, true);
	send_and_receive(t, 0, 0x31);
	send_and_receive(t, 0, 0x32);
	assert_int_equal(used_idx(&t->rings[0]), 1002);
	/* Two more RX buffers the device holds, no frame for them. */
	rx = &t->rings[0];
	post(rx, (uint16_t)(rx->avail_idx % RING_SIZE), GUEST_GPA + RX_BUF_OFF, RX_BUF_LEN, true);
	post(rx, (uint16_t)(rx->avail_idx % RING_SIZE), GUEST_GPA + RX_BUF_OFF + 0x800, 0x800, true);
	kick(rx);
	usleep(20000);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 1002);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 1, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 1002);
	e2e_free(t);
}

/* A queue pair started after the device (QEMU's pairs beyond the first),
 * and a ring stopped alone while the device holds its buffers: the plain
 * function restarts on shadow rings and nothing is lost. */
static void test_shadow_late_pair_and_ring_stop(void **state)
{
	struct e2e *t = e2e_new_args(2, false, true, "vdpa=1");
	struct vhost_user_msg m;
	struct gring *rx;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC | F_MQ, PF(MQ) | PF(REPLY_ACK), 2);
	send_and_receive(t, 0, 0x41);
	assert_mode(t, UVDPA_MIGRATION_SHADOW, false);
	setup_ring(t, 2, 0);
	setup_ring(t, 3, 0);
	enable_ring(t, 2, true);
	enable_ring(t, 3, true);
	send_and_receive(t, 1, 0x42);
	send_and_receive(t, 0, 0x43);
	/* An RX buffer with the device, then its ring stops and starts again. */
	rx = &t->rings[2];
	post(rx, (uint16_t)(rx->avail_idx % RING_SIZE), GUEST_GPA + RX_BUF_OFF + 0x3000, 0x800, true);
	kick(rx);
	usleep(20000);
	enable_ring(t, 2, false);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 2, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 1);	/* the posted buffer is the guest's */
	send_and_receive(t, 0, 0x44);			/* the other pair goes on */
	setup_ring_at(t, 2, 0, 1);
	enable_ring(t, 2, true);
	send_and_receive(t, 1, 0x45);
	send_and_receive(t, 0, 0x46);
	e2e_free(t);
}

/* On shadow rings an indirect table is flattened into direct shadow
 * descriptors: a frame lands in an RX chain of 70 buffers of 16 bytes
 * given through one indirect descriptor, byte for byte. */
static void test_shadow_indirect_flattened(void **state)
{
	struct e2e *t = e2e_new_args(1, false, true, "vdpa=1,shadow-vq=1");
	struct gring *rx, *tx;
	struct vring_desc *table;
	uint8_t *txbuf, got[HDR_LEN + FRAME_LEN];
	uint16_t head;
	const unsigned int n = 70, piece = 16;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC | BIT(VIRTIO_RING_F_INDIRECT_DESC),
		  PF(MQ) | PF(REPLY_ACK), 2);
	rx = &t->rings[0];
	tx = &t->rings[1];
	table = (struct vring_desc *)(t->guest + RX_BUF_OFF + 0x4000);
	for (unsigned int i = 0; i < n; i++) {
		table[i].addr = GUEST_GPA + RX_BUF_OFF + i * piece;
		table[i].len = piece;
		table[i].flags = VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		table[i].next = (uint16_t)(i + 1);
	}
	memset(t->guest + RX_BUF_OFF, 0, n * piece);
	head = (uint16_t)(rx->avail_idx % RING_SIZE);
	((struct vring_desc *)rx->base)[head] = (struct vring_desc){
		.addr = GUEST_GPA + RX_BUF_OFF + 0x4000, .len = n * sizeof(*table),
		.flags = VRING_DESC_F_INDIRECT };
	avail_of(rx)->ring[rx->avail_idx % RING_SIZE] = head;
	rx->avail_idx++;
	__atomic_store_n(&avail_of(rx)->idx, rx->avail_idx, __ATOMIC_RELEASE);
	kick(rx);
	txbuf = t->guest + TX_BUF_OFF;
	memset(txbuf, 0, HDR_LEN);
	for (unsigned int i = 0; i < FRAME_LEN; i++)
		txbuf[HDR_LEN + i] = (uint8_t)(0xff - i);
	post(tx, (uint16_t)(tx->avail_idx % RING_SIZE), GUEST_GPA + TX_BUF_OFF, HDR_LEN + FRAME_LEN,
	     false);
	kick(tx);
	assert_true(wait_used(rx, 1));
	assert_int_equal(used_of(rx)->ring[0].id, head);
	assert_int_equal(used_of(rx)->ring[0].len, HDR_LEN + FRAME_LEN);
	memcpy(got, t->guest + RX_BUF_OFF, sizeof(got));
	assert_memory_equal(got + HDR_LEN, txbuf + HDR_LEN, FRAME_LEN);
	e2e_free(t);
}

/* A malformed guest ring on shadow rings: the ring stops with one error,
 * the relay takes nothing from it, the other queue pair goes on, and the
 * stop hands back the state the guest made (nothing taken). */
static void test_shadow_malformed_guest_ring(void **state)
{
	struct e2e *t = e2e_new_args(2, false, true, "vdpa=1,shadow-vq=1");
	struct vhost_user_msg m;
	struct gring *rx;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC | F_MQ, PF(MQ) | PF(REPLY_ACK), 4);
	send_and_receive(t, 1, 0x61);
	rx = &t->rings[2];
	/* Head 300 in a ring of RING_SIZE entries. */
	avail_of(rx)->ring[rx->avail_idx % RING_SIZE] = 300;
	rx->avail_idx++;
	__atomic_store_n(&avail_of(rx)->idx, rx->avail_idx, __ATOMIC_RELEASE);
	kick(rx);
	kick(rx);
	send_and_receive(t, 0, 0x62);
	send_and_receive(t, 0, 0x63);
	assert_int_equal(used_idx(rx), 1);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 2, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 1);
	assert_int_equal(td_state(&t->td, VHOST_USER_GET_VRING_BASE, 0, 0, &m), 0);
	assert_int_equal(m.payload.state.num, 2);
	e2e_free(t);
}

/* QEMU sets up one queue pair at a time: the second starts after the
 * device runs, which the IFCVF does per queue. */
static void test_queue_pair_started_later(void **state)
{
	struct e2e *t = e2e_new(2, false);
	uint32_t qn;

	(void)state;
	assert_int_equal(t->dev->ops->get_queue_num(t->dev, &qn), 0);
	assert_int_equal(qn, 2);
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC | F_MQ, PF(MQ) | PF(REPLY_ACK), 2);
	send_and_receive(t, 0, 0x77);
	setup_ring(t, 2, 0);
	setup_ring(t, 3, 0);
	enable_ring(t, 2, true);
	enable_ring(t, 3, true);
	send_and_receive(t, 1, 0x88);
	send_and_receive(t, 0, 0x99);
	e2e_free(t);
}

/* Transitional ids, host notifiers asked for (the emulated function has no
 * doorbell page to give: kicks stay relayed), and the config through the
 * driver, following the model's link state. */
static void test_transitional_notifier_config(void **state)
{
	struct e2e *t = e2e_new(1, true);
	uint8_t cfg[12];

	(void)state;
	assert_int_equal(t->pdev->id.device, IFCVF_NET_TRANSITIONAL_DEVICE_ID);
	assert_int_equal(t->dev->type, UVDPA_TYPE_NET);
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC,
		  PF(MQ) | PF(REPLY_ACK) | PF(HOST_NOTIFIER) | PF(BACKEND_REQ) |
			  PF(BACKEND_SEND_FD), 2);
	send_and_receive(t, 0, 0xaa);
	assert_int_equal(t->dev->ops->get_config(t->dev, cfg, 0, sizeof(cfg)), 0);
	assert_int_equal(cfg[6] & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(ifcvf_model_set_link(t->pdev, false), 0);
	assert_int_equal(t->dev->ops->get_config(t->dev, cfg, 6, 2), 0);
	assert_int_equal(cfg[0] & VIRTIO_NET_S_LINK_UP, 0);
	e2e_free(t);
}

/* Disconnect without GET_VRING_BASE: the session's reset closes the device
 * and everything is released (fd count checked in e2e_free). */
static void test_disconnect_releases_everything(void **state)
{
	struct e2e *t = e2e_new(1, false);
	struct ifcvf_model_info info;

	(void)state;
	e2e_start(t, F_VERSION_1 | F_PROTOCOL | F_MAC, PF(MQ) | PF(REPLY_ACK), 2);
	send_and_receive(t, 0, 0xbb);
	vu_dev_reset_session(t->td.vu);
	assert_int_equal(ifcvf_model_get_info(t->pdev, &info), 0);
	assert_int_equal(info.status, 0);
	assert_int_equal(relay_pool_thread_load(0), 0);
	e2e_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_datapath_and_ring_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hw_dirty_logging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hw_dirty_log_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_with_fetched_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sw_relay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sw_relay_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_forced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_late_pair_and_ring_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_malformed_guest_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_indirect_flattened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_pair_started_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transitional_notifier_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_releases_everything, setup,
						teardown),
	};
	int ret;

	/* Both pools up front, so their own fds don't count as leaks. */
	if (relay_pool_init(1) < 0 || ifcvf_engine_pool_init(1, false) < 0)
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	relay_pool_fini();
	ifcvf_engine_pool_fini();
	return ret;
}
