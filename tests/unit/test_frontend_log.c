/* Unit tests for the frontend's migration check (src/frontend/fe_log.c).
 * The bookkeeping alone: log size, writes against syncs by stamp (a page set
 * only before its write, or set once and never again after a sync cleared
 * it, is missing; over-logging is not), records outside the logging period
 * ignored. Then QEMU's messages against a scripted backend thread on a unix
 * socket: per queue pair SET_LOG_BASE (one memfd, a new fd each time, the
 * reply awaited), SET_FEATURES with LOG_ALL and SET_VRING_ADDR with LOG and
 * the used ring's address; the switch off; on again with the log kept or
 * new; a barrier without REPLY_ACK; a backend without LOG_ALL refused; and
 * bits the backend sets in its own mapping of the log seen by the check. */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "frontend/fe_wire.h"
#include "frontend/frontend.h"
#include "uvdpa/vhost_user.h"
#include "fe_test_listen.h"

#define BIT(n) (1ull << (n))
#define PAGE 4096ull
#define F_LOG_ALL BIT(UVDPA_VHOST_F_LOG_ALL)
#define PF(name) BIT(UVDPA_VHOST_USER_PROTOCOL_F_##name)

/* ---- the bookkeeping ---- */

static struct fe_mem mem;
static struct fe_log lg;

static int book_setup(void **state)
{
	(void)state;
	/* Two regions: guest-physical 0 and 1 GiB, 128 KiB each. */
	assert_int_equal(fe_mem_init(&mem, 256 * 1024, 2), 0);
	assert_int_equal(fe_log_init(&lg, &mem), 0);
	return 0;
}

static int book_teardown(void **state)
{
	(void)state;
	fe_log_fini(&lg);
	fe_mem_fini(&mem);
	return 0;
}

/* What a backend does after writing a page: an atomic OR of its bit. */
static void backend_logs(uint8_t *map, uint64_t gpa)
{
	uint64_t page = gpa / PAGE;

	__atomic_fetch_or(&map[page / 8], (uint8_t)(1u << (page % 8)), __ATOMIC_RELEASE);
}

static void compare(struct fe_log_result *res)
{
	fe_log_sync(&lg);
	fe_log_compare(&lg, res);
}

static void test_log_size(void **state)
{
	uint64_t end = mem.regions[1].gpa + mem.regions[1].size;

	(void)state;
	assert_int_equal(mem.regions[1].gpa, 1ull << 30);
	/* One bit per page up to the highest guest-physical address. */
	assert_int_equal(lg.size, (end / PAGE + 7) / 8);
	assert_true(lg.fd >= 0);
	for (uint64_t i = 0; i < lg.size; i++)
		assert_int_equal(lg.map[i], 0);
	assert_false(lg.on);
	assert_int_equal(fe_log_stamp(&lg), 0);
}

static void test_correct_backend(void **state)
{
	struct fe_log_result res;
	uint64_t a = mem.regions[0].gpa + 3 * PAGE + 100, b = mem.regions[1].gpa + 5 * PAGE;
	uint32_t s;

	(void)state;
	fe_log_begin(&lg);
	s = fe_log_stamp(&lg);
	assert_true(s > 0);
	/* 5000 bytes from inside page 3: pages 3 and 4. */
	fe_log_record(&lg, a, 5000, s);
	backend_logs(lg.map, a);
	backend_logs(lg.map, a + 4999);
	fe_log_sync(&lg);
	/* Posted after the sync, written and logged again. */
	s = fe_log_stamp(&lg);
	fe_log_record(&lg, a, 8, s);
	backend_logs(lg.map, a);
	fe_log_record(&lg, b, PAGE, s);
	backend_logs(lg.map, b);
	compare(&res);
	assert_int_equal(res.pages_written, 3);
	assert_int_equal(res.pages_logged, 3);
	assert_int_equal(res.pages_missing, 0);
	assert_int_equal(res.syncs, 2);
	/* A sync clears what it read. */
	for (uint64_t i = 0; i < lg.size; i++)
		assert_int_equal(lg.map[i], 0);
}

static void test_missing_page(void **state)
{
	struct fe_log_result res;
	uint64_t a = mem.regions[1].gpa + 8 * PAGE;

	(void)state;
	fe_log_begin(&lg);
	fe_log_record(&lg, a, 3 * PAGE, fe_log_stamp(&lg));
	backend_logs(lg.map, a);
	backend_logs(lg.map, a + 2 * PAGE);
	compare(&res);
	assert_int_equal(res.pages_written, 3);
	assert_int_equal(res.pages_logged, 2);
	assert_int_equal(res.pages_missing, 1);
	assert_int_equal(res.pages_stale, 0);
	assert_int_equal(res.first_missing[0], a + PAGE);
	assert_false(res.first_stale[0]);
}

/* A backend that sets a page's bit once and never again: a final-only
 * comparison passes it, a sync in between (as QEMU's iterations do) does
 * not. */
static void run_log_once(bool sync_between, struct fe_log_result *res)
{
	uint64_t p = mem.regions[0].gpa + 20 * PAGE;

	fe_log_begin(&lg);
	fe_log_record(&lg, p, 64, fe_log_stamp(&lg));
	backend_logs(lg.map, p);
	if (sync_between)
		fe_log_sync(&lg);
	/* The buffer posted again and written again: no new bit. */
	fe_log_record(&lg, p, 64, fe_log_stamp(&lg));
	compare(res);
}

static void test_log_once_caught_by_sync(void **state)
{
	struct fe_log_result res;

	(void)state;
	run_log_once(false, &res);
	assert_int_equal(res.pages_missing, 0);
	run_log_once(true, &res);
	assert_int_equal(res.pages_written, 1);
	assert_int_equal(res.pages_missing, 1);
	assert_int_equal(res.pages_stale, 1);
	assert_true(res.first_stale[0]);
	assert_int_equal(res.first_missing[0], mem.regions[0].gpa + 20 * PAGE);
}

/* The bit set before the data: a sync in between takes the bit, the write
 * that follows is never logged. */
static void test_bit_before_write(void **state)
{
	struct fe_log_result res;
	uint64_t p = mem.regions[1].gpa + 30 * PAGE;
	uint32_t s;

	(void)state;
	fe_log_begin(&lg);
	s = fe_log_stamp(&lg);
	backend_logs(lg.map, p);	/* early */
	fe_log_sync(&lg);
	fe_log_record(&lg, p, 100, fe_log_stamp(&lg));
	compare(&res);
	assert_int_equal(res.pages_missing, 1);
	/* The same bit with the buffer made available before that sync is
	 * fine: the device may have written it before the sync. */
	fe_log_begin(&lg);
	s = fe_log_stamp(&lg);
	backend_logs(lg.map, p);
	fe_log_sync(&lg);
	fe_log_record(&lg, p, 100, s);
	compare(&res);
	assert_int_equal(res.pages_missing, 0);
}

static void test_overlogging_allowed(void **state)
{
	struct fe_log_result res;

	(void)state;
	fe_log_begin(&lg);
	fe_log_record(&lg, 5 * PAGE, 1, fe_log_stamp(&lg));
	for (uint64_t p = 0; p < 40; p++)
		backend_logs(lg.map, p * PAGE);
	compare(&res);
	assert_int_equal(res.pages_written, 1);
	assert_int_equal(res.pages_logged, 40);
	assert_int_equal(res.pages_missing, 0);
}

/* Buffers from before logging (re)started and writes while off do not
 * count; bits from before a restart are gone. */
static void test_records_outside_the_period(void **state)
{
	struct fe_log_result res;
	uint32_t old;

	(void)state;
	fe_log_record(&lg, PAGE, 1, 1);		/* not logging yet */
	fe_log_begin(&lg);
	old = fe_log_stamp(&lg);
	fe_log_record(&lg, 2 * PAGE, 1, 0);	/* posted while not logging */
	fe_log_end(&lg);
	assert_int_equal(fe_log_stamp(&lg), 0);
	fe_log_record(&lg, 3 * PAGE, 1, old);	/* logging off */
	backend_logs(lg.map, 9 * PAGE);		/* a stray bit while off */
	fe_log_begin(&lg);
	fe_log_record(&lg, 4 * PAGE, 1, old);	/* from the cancelled period */
	compare(&res);
	assert_int_equal(res.pages_written, 0);
	assert_int_equal(res.pages_logged, 0);

	fe_log_record(&lg, 6 * PAGE, 1, fe_log_stamp(&lg));
	backend_logs(lg.map, 6 * PAGE);
	compare(&res);
	assert_int_equal(res.pages_written, 1);
	assert_int_equal(res.pages_missing, 0);
}

static void test_record_edges(void **state)
{
	struct fe_log_result res;
	uint64_t last = lg.size * 8 - 1;

	(void)state;
	fe_log_begin(&lg);
	/* Past the log, and a range that wraps the address space: clamped. */
	fe_log_record(&lg, (last + 10) * PAGE, PAGE, fe_log_stamp(&lg));
	fe_log_record(&lg, last * PAGE, UINT64_MAX, fe_log_stamp(&lg));
	fe_log_record(&lg, PAGE, 0, fe_log_stamp(&lg));
	backend_logs(lg.map, last * PAGE);
	compare(&res);
	assert_int_equal(res.pages_written, 1);
	assert_int_equal(res.pages_missing, 0);
}

/* ---- QEMU's messages against a scripted backend ---- */

#define MAX_SEEN 256

struct seen_msg {
	uint32_t request, flags, size;
	union {
		uint64_t u64;
		struct vhost_user_vring_addr addr;
		struct vhost_user_log log;
	} p;
	int nfds;
	ino_t ino;		/* of the first fd */
};

/* The backend: answers what fe_dev_negotiate and fe_dev_stop ask, acks
 * NEED_REPLY, replies to SET_LOG_BASE with LOG_SHMFD, records the rest. */
static struct backend {
	pthread_t thread;
	struct fe_test_listener l;
	uint64_t features, pfeatures, acked_pf, status;
	bool reply_log_base;
	pthread_mutex_t lock;		/* the fields below */
	struct seen_msg seen[MAX_SEEN];
	unsigned int nseen;
	int log_fd;			/* the last SET_LOG_BASE fd, kept */
} be;

static void be_reply(int fd, const struct vhost_user_msg *req, const void *payload, uint32_t size)
{
	assert_int_equal(fe_wire_reply(fd, req->hdr.request, payload, size), 0);
}

static void be_handle(int fd, struct vhost_user_msg *m)
{
	struct seen_msg s = { .request = m->hdr.request, .flags = m->hdr.flags,
			      .size = m->hdr.size, .nfds = m->nfds };
	bool need_reply = m->hdr.flags & VHOST_USER_NEED_REPLY_FLAG;
	uint64_t v = 0;
	struct stat st;

	memcpy(&s.p, &m->payload, m->hdr.size < sizeof(s.p) ? m->hdr.size : sizeof(s.p));
	if (m->nfds && fstat(m->fds[0], &st) == 0)
		s.ino = st.st_ino;
	pthread_mutex_lock(&be.lock);
	if (be.nseen < MAX_SEEN)
		be.seen[be.nseen++] = s;
	if (m->hdr.request == VHOST_USER_SET_LOG_BASE && m->nfds) {
		if (be.log_fd >= 0)
			close(be.log_fd);
		be.log_fd = m->fds[0];
		m->fds[0] = -1;
	}
	pthread_mutex_unlock(&be.lock);
	fe_wire_close_fds(m);

	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
		be_reply(fd, m, &be.features, 8);
		return;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		be_reply(fd, m, &be.pfeatures, 8);
		return;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		be.acked_pf = m->payload.u64;
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		v = 4;
		be_reply(fd, m, &v, 8);
		return;
	case VHOST_USER_SET_STATUS:
		be.status = m->payload.u64;
		break;
	case VHOST_USER_GET_STATUS:
		be_reply(fd, m, &be.status, 8);
		return;
	case VHOST_USER_GET_VRING_BASE: {
		struct vhost_user_vring_state st2 = { .index = m->payload.state.index, .num = 0 };

		be_reply(fd, m, &st2, sizeof(st2));
		return;
	}
	case VHOST_USER_SET_LOG_BASE:
		if ((be.acked_pf & PF(LOG_SHMFD)) && be.reply_log_base)
			be_reply(fd, m, &v, 8);
		return;
	default:
		break;
	}
	if (need_reply && (be.acked_pf & PF(REPLY_ACK)))
		be_reply(fd, m, &v, 8);
}

static void *be_main(void *arg)
{
	int fd = accept(be.l.fd, NULL, NULL);

	(void)arg;
	if (fd < 0)
		return NULL;
	for (;;) {
		struct vhost_user_msg m;

		if (fe_wire_read(fd, &m, 5000) < 0)
			break;
		be_handle(fd, &m);
	}
	close(fd);
	return NULL;
}

static void be_start(uint64_t features, uint64_t pfeatures)
{
	memset(&be, 0, sizeof(be));
	pthread_mutex_init(&be.lock, NULL);
	be.log_fd = -1;
	be.features = features;
	be.pfeatures = pfeatures;
	be.reply_log_base = true;
	fe_test_listen(&be.l, "fe-log");
	assert_int_equal(pthread_create(&be.thread, NULL, be_main, NULL), 0);
}

static void be_stop(void)
{
	pthread_join(be.thread, NULL);
	fe_test_unlisten(&be.l);
	if (be.log_fd >= 0)
		close(be.log_fd);
	pthread_mutex_destroy(&be.lock);
}

static void be_clear(void)
{
	pthread_mutex_lock(&be.lock);
	be.nseen = 0;
	pthread_mutex_unlock(&be.lock);
}

/* The messages since be_clear(), once the backend has read n of them. */
static unsigned int be_wait(unsigned int n)
{
	unsigned int got = 0;

	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&be.lock);
		got = be.nseen;
		pthread_mutex_unlock(&be.lock);
		if (got >= n)
			break;
		usleep(2000);
	}
	return got;
}

static struct fe_dev *dev_up(unsigned int pairs, uint64_t pfeatures, bool reply_ack)
{
	struct fe_dev *dev = calloc(1, sizeof(*dev));
	struct fe_dev_config cfg = {
		.socket_path = be.l.path,
		.connect_timeout_ms = 2000,
		.reply_timeout_ms = 500,
		.queue_pairs = pairs,
		.queue_size = 64,
		.features = fe_default_features(pairs),
		.protocol_features = pfeatures,
		.need_reply = reply_ack,
		.set_status = true,
		.mem_size = 1 << 20,
		.mem_regions = 1,
	};

	assert_non_null(dev);
	assert_int_equal(fe_dev_init(dev, &cfg), 0);
	assert_int_equal(fe_dev_connect(dev), 0);
	assert_int_equal(fe_dev_negotiate(dev), 0);
	/* Without acks the last messages may still be on their way: a
	 * request with a reply is answered after them. */
	{
		struct vhost_user_msg reply;

		assert_int_equal(fe_dev_request(dev, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0,
						&reply), 0);
	}
	be_clear();
	return dev;
}

static void dev_down(struct fe_dev *dev)
{
	fe_dev_disconnect(dev);
	fe_dev_fini(dev);
	free(dev);
	be_stop();
}

#define NET_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF) | \
		      BIT(VIRTIO_NET_F_MQ) | BIT(UVDPA_VHOST_USER_F_PROTOCOL_FEATURES))
#define ALL_PF (PF(MQ) | PF(LOG_SHMFD) | PF(REPLY_ACK) | PF(STATUS))

static ino_t ino_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

/* Per pair: [SET_LOG_BASE], SET_FEATURES, SET_VRING_ADDR x2, as QEMU's
 * log_global_start does for each vhost device. */
static void assert_pair_msgs(struct fe_dev *dev, unsigned int at, unsigned int pair, bool on,
			     bool log_base, ino_t ino)
{
	const struct seen_msg *m = &be.seen[at];

	if (log_base) {
		assert_int_equal(m->request, VHOST_USER_SET_LOG_BASE);
		assert_int_equal(m->size, sizeof(struct vhost_user_log));
		assert_int_equal(m->p.log.mmap_size, dev->log.size);
		assert_int_equal(m->p.log.mmap_offset, 0);
		assert_int_equal(m->nfds, 1);
		assert_true(m->ino == ino);
		m++;
	}
	assert_int_equal(m->request, VHOST_USER_SET_FEATURES);
	assert_int_equal(m->p.u64 & F_LOG_ALL, on ? F_LOG_ALL : 0);
	assert_int_equal(m->p.u64 & ~F_LOG_ALL, dev->features);
	for (unsigned int r = 0; r < 2; r++) {
		const struct fe_vring *vr = &dev->vrings[2 * pair + r];

		m++;
		assert_int_equal(m->request, VHOST_USER_SET_VRING_ADDR);
		assert_int_equal(m->p.addr.index, 2 * pair + r);
		assert_int_equal(m->p.addr.flags, on ? 1u << VHOST_VRING_F_LOG : 0);
		assert_int_equal(m->p.addr.log_guest_addr, on ? vr->vq.used_addr : 0);
		assert_int_equal(m->p.addr.used_user_addr, (uint64_t)(uintptr_t)vr->vq.used);
	}
}

static void test_messages_qemu_order(void **state)
{
	struct fe_dev *dev;
	ino_t ino, ino2;
	unsigned int n;

	(void)state;
	be_start(NET_FEATURES | F_LOG_ALL, ALL_PF);
	dev = dev_up(2, ALL_PF, true);

	assert_int_equal(fe_log_start(dev, true), 0);
	n = be_wait(8);
	assert_int_equal(n, 8);
	ino = ino_of(dev->log.fd);
	assert_pair_msgs(dev, 0, 0, true, true, ino);
	assert_pair_msgs(dev, 4, 1, true, true, ino);
	assert_int_equal(dev->log.base_messages, 2);
	assert_int_equal(dev->log.logs, 1);
	assert_true(dev->log.on);

	/* Cancelled: off per pair, no log message. */
	be_clear();
	assert_int_equal(fe_log_stop(dev), 0);
	assert_int_equal(be_wait(6), 6);
	assert_pair_msgs(dev, 0, 0, false, false, 0);
	assert_pair_msgs(dev, 3, 1, false, false, 0);
	assert_false(dev->log.on);

	/* On again with the log kept: no SET_LOG_BASE. */
	be_clear();
	assert_int_equal(fe_log_start(dev, false), 0);
	assert_int_equal(be_wait(6), 6);
	assert_pair_msgs(dev, 0, 0, true, false, 0);
	assert_pair_msgs(dev, 3, 1, true, false, 0);
	assert_int_equal(ino_of(dev->log.fd), ino);

	/* A retry as QEMU makes it: a new log, sent once per pair. */
	assert_int_equal(fe_log_stop(dev), 0);
	be_clear();
	assert_int_equal(fe_log_start(dev, true), 0);
	assert_int_equal(be_wait(8), 8);
	ino2 = ino_of(dev->log.fd);
	assert_true(ino2 != ino);
	assert_pair_msgs(dev, 0, 0, true, true, ino2);
	assert_pair_msgs(dev, 4, 1, true, true, ino2);
	assert_int_equal(dev->log.base_messages, 4);
	assert_int_equal(dev->log.logs, 2);
	assert_int_equal(dev->log.changes, 4);	/* off, on, off, on */
	dev_down(dev);
}

/* The backend's own mapping of the fd it got is the log we check. */
static void test_backend_bits_reach_the_check(void **state)
{
	struct fe_log_result res;
	struct fe_dev *dev;
	uint64_t a, b;
	uint8_t *map;
	int fd;

	(void)state;
	be_start(NET_FEATURES | F_LOG_ALL, ALL_PF);
	dev = dev_up(1, ALL_PF, true);
	assert_int_equal(fe_log_start(dev, true), 0);
	assert_int_equal(be_wait(4), 4);
	pthread_mutex_lock(&be.lock);
	fd = dup(be.log_fd);
	pthread_mutex_unlock(&be.lock);
	assert_true(fd >= 0);
	map = mmap(NULL, dev->log.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	a = dev->vrings[0].vq.used_addr;
	b = dev->mem.regions[0].gpa + dev->mem.regions[0].size - PAGE;
	fe_log_record(&dev->log, a, 8, fe_log_stamp(&dev->log));
	fe_log_record(&dev->log, b, 8, fe_log_stamp(&dev->log));
	backend_logs(map, a);
	fe_log_check(dev, &res);
	assert_int_equal(res.pages_written, 2);
	assert_int_equal(res.pages_logged, 1);
	assert_int_equal(res.pages_missing, 1);
	assert_int_equal(res.first_missing[0], b);
	assert_int_equal(res.base_messages, 1);
	munmap(map, dev->log.size);
	close(fd);
	dev_down(dev);
}

/* Without acks a request with a reply follows, so that logging counts as
 * on only once the backend has acted on the messages before it. */
static void test_barrier_without_reply_ack(void **state)
{
	uint64_t pf = ALL_PF & ~PF(REPLY_ACK);
	struct fe_dev *dev;

	(void)state;
	be_start(NET_FEATURES | F_LOG_ALL, pf);
	dev = dev_up(1, pf, false);
	assert_int_equal(fe_log_start(dev, true), 0);
	assert_int_equal(be_wait(5), 5);
	assert_pair_msgs(dev, 0, 0, true, true, ino_of(dev->log.fd));
	assert_int_equal(be.seen[4].request, VHOST_USER_GET_FEATURES);
	for (unsigned int i = 1; i < 4; i++)
		assert_int_equal(be.seen[i].flags & VHOST_USER_NEED_REPLY_FLAG, 0);
	dev_down(dev);
}

/* With LOG_SHMFD the backend answers SET_LOG_BASE: no answer, no logging. */
static void test_log_base_reply_awaited(void **state)
{
	struct fe_dev *dev;

	(void)state;
	be_start(NET_FEATURES | F_LOG_ALL, ALL_PF);
	be.reply_log_base = false;
	dev = dev_up(1, ALL_PF, true);
	assert_int_equal(fe_log_start(dev, true), -ETIMEDOUT);
	assert_false(dev->log.on);
	dev_down(dev);
}

/* No LOG_ALL, or no LOG_SHMFD: refused before any message. */
static void test_backend_cannot_log(void **state)
{
	struct fe_dev *dev;

	(void)state;
	be_start(NET_FEATURES, ALL_PF);
	dev = dev_up(1, ALL_PF, true);
	assert_int_equal(fe_log_supported(dev), -ENOTSUP);
	assert_int_equal(fe_log_start(dev, true), -ENOTSUP);
	usleep(50000);
	assert_int_equal(be.nseen, 0);
	dev_down(dev);

	be_start(NET_FEATURES | F_LOG_ALL, ALL_PF & ~PF(LOG_SHMFD));
	dev = dev_up(1, ALL_PF, true);
	assert_int_equal(fe_log_start(dev, true), -ENOTSUP);
	dev_down(dev);

	/* Offered, but not asked for by the frontend. */
	be_start(NET_FEATURES | F_LOG_ALL, ALL_PF);
	dev = dev_up(1, ALL_PF & ~PF(LOG_SHMFD), true);
	assert_int_equal(fe_log_start(dev, true), -ENOTSUP);
	dev_down(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_size, book_setup, book_teardown),
		cmocka_unit_test_setup_teardown(test_correct_backend, book_setup, book_teardown),
		cmocka_unit_test_setup_teardown(test_missing_page, book_setup, book_teardown),
		cmocka_unit_test_setup_teardown(test_log_once_caught_by_sync, book_setup,
						book_teardown),
		cmocka_unit_test_setup_teardown(test_bit_before_write, book_setup, book_teardown),
		cmocka_unit_test_setup_teardown(test_overlogging_allowed, book_setup,
						book_teardown),
		cmocka_unit_test_setup_teardown(test_records_outside_the_period, book_setup,
						book_teardown),
		cmocka_unit_test_setup_teardown(test_record_edges, book_setup, book_teardown),
		cmocka_unit_test(test_messages_qemu_order),
		cmocka_unit_test(test_backend_bits_reach_the_check),
		cmocka_unit_test(test_barrier_without_reply_ack),
		cmocka_unit_test(test_log_base_reply_awaited),
		cmocka_unit_test(test_backend_cannot_log),
	};

	uvdpa_log_set_level(UVDPA_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
