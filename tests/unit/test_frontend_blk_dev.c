/* Unit tests for the frontend's block load and --blk-bad checks against a
 * scripted vhost-user-blk device (a thread on a unix socket that serves a
 * RAM disk from the frontend's rings). An honest device passes; a device
 * that answers IOERR, flips a byte, completes a read without writing it,
 * returns a used id that is not in flight, claims more bytes than were
 * writable, or sends a config of the wrong size is caught. The checks: a
 * request without status completed with length 0 or never is accepted, one
 * completed with a length is not; a device that serves past its end, or
 * ignores seg_max, fails its check; the optional commands pass. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "frontend/fe_wire.h"
#include "frontend/frontend.h"
#include "uvdpa/vhost_user.h"
#include "fe_test_listen.h"

#define BIT(n) (1ull << (n))
#define PF(name) BIT(UVDPA_VHOST_USER_PROTOCOL_F_##name)
#define DISK_SECTORS 2048u		/* 1 MiB */
#define SEG_MAX 8u
#define QSIZE 64u
#define MAX_RINGS 2

/* ---- the scripted device ---- */

enum no_status_mode { NS_DROP, NS_LEN0, NS_CLAIM };

/* What the device does wrong; n-th counts requests from 1, 0 never. */
struct faults {
	unsigned int ioerr_nth, flip_nth, stale_nth, bad_id_nth, long_len_nth;
	bool serve_beyond_end, enforce_seg_max, config_short;
	bool stop_after_odd;	/* no ring served after a request without status or
				 * of an unknown type, until the next session */
	enum no_status_mode no_status;
};

struct dring {
	bool ready;
	uint16_t size, last_avail;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

static struct device {
	pthread_t thread;
	struct fe_test_listener l;
	uint64_t acked_pf;
	struct vhost_user_mem_region region;
	struct dring ring[MAX_RINGS];
	unsigned int requests;		/* chains taken, all rings */
	struct faults f;
	bool stopped;			/* stop_after_odd struck */
	uint8_t disk[DISK_SECTORS * FE_BLK_SECTOR];
} dv;

static void *gpa_ptr(uint64_t gpa, uint32_t len)
{
	const struct vhost_user_mem_region *r = &dv.region;

	if (gpa < r->guest_phys_addr || gpa - r->guest_phys_addr > r->memory_size ||
	    len > r->memory_size - (gpa - r->guest_phys_addr))
		return NULL;
	return (void *)(uintptr_t)(r->userspace_addr + (gpa - r->guest_phys_addr));
}

struct seg {
	uint8_t *p;
	uint32_t len;
	bool w;
};

/* Copies between the disk at off and the chain's data segments. */
static uint32_t data_copy(struct seg *s, unsigned int n, uint64_t off, bool to_guest)
{
	uint32_t done = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (to_guest)
			memcpy(s[i].p, dv.disk + off + done, s[i].len);
		else
			memcpy(dv.disk + off + done, s[i].p, s[i].len);
		done += s[i].len;
	}
	return done;
}

static uint32_t data_len(const struct seg *s, unsigned int n)
{
	uint32_t t = 0;

	for (unsigned int i = 0; i < n; i++)
		t += s[i].len;
	return t;
}

/* One request: returns the used length, or -1 to leave it unanswered. */
static int64_t serve(struct seg *s, unsigned int n, unsigned int nth)
{
	struct virtio_blk_outhdr h;
	uint8_t *status;
	struct seg *data = s + 1;
	unsigned int nd;
	uint64_t off;
	uint32_t len, type;
	uint8_t st = VIRTIO_BLK_S_OK;

	if (n == 0 || s[0].w || s[0].len < sizeof(h))
		return -1;
	if (!s[n - 1].w) {	/* nothing writable: no status to give */
		dv.stopped = dv.f.stop_after_odd;
		return dv.f.no_status == NS_DROP ? -1 : dv.f.no_status == NS_LEN0 ? 0 : 1;
	}
	memcpy(&h, s[0].p, sizeof(h));
	status = s[n - 1].p + s[n - 1].len - 1;
	nd = n - 2;
	len = data_len(data, nd);
	off = le64toh(h.sector) * FE_BLK_SECTOR;
	type = le32toh(h.type);
	if (type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_OUT) {
		uint64_t sect = le64toh(h.sector);

		if (!dv.f.serve_beyond_end &&
		    (sect > DISK_SECTORS || len / FE_BLK_SECTOR > DISK_SECTORS - sect))
			st = VIRTIO_BLK_S_IOERR;
		else if (dv.f.enforce_seg_max && nd > SEG_MAX)
			st = VIRTIO_BLK_S_IOERR;
		else if (sect >= DISK_SECTORS || off + len > sizeof(dv.disk))
			st = VIRTIO_BLK_S_OK;	/* "served" beyond the end: nothing moves */
		else if (type == VIRTIO_BLK_T_OUT)
			data_copy(data, nd, off, false);
		else if (nth != dv.f.stale_nth)
			data_copy(data, nd, off, true);
		if (type == VIRTIO_BLK_T_IN && nth == dv.f.flip_nth && st == VIRTIO_BLK_S_OK)
			data[0].p[100] ^= 0x40;
	} else if (type == VIRTIO_BLK_T_GET_ID) {
		memset(data[0].p, 0, data[0].len);
		memcpy(data[0].p, "fake\x01serial", 11);
	} else if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
		struct virtio_blk_discard_write_zeroes r;

		memcpy(&r, data[0].p, sizeof(r));
		if ((le32toh(r.flags) & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) &&
		    type == VIRTIO_BLK_T_DISCARD)
			st = VIRTIO_BLK_S_UNSUPP;
		else if (le64toh(r.sector) + le32toh(r.num_sectors) > DISK_SECTORS)
			st = VIRTIO_BLK_S_IOERR;
		else
			memset(dv.disk + le64toh(r.sector) * FE_BLK_SECTOR, 0,
			       (size_t)le32toh(r.num_sectors) * FE_BLK_SECTOR);
	} else if (type != VIRTIO_BLK_T_FLUSH) {
		st = VIRTIO_BLK_S_UNSUPP;
		dv.stopped = dv.f.stop_after_odd;
	}
	if (nth == dv.f.ioerr_nth)
		st = VIRTIO_BLK_S_IOERR;
	*status = st;
	return (type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ? len : 0) + 1;
}

static bool serve_ring(struct dring *r)
{
	bool any = false;

	while (r->ready && !dv.stopped && r->last_avail != __atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE)) {
		uint16_t head = r->avail->ring[r->last_avail % r->size], id = head;
		struct seg s[QSIZE];
		unsigned int n = 0, nth = ++dv.requests;
		int64_t len;

		r->last_avail++;
		for (;;) {
			struct vring_desc *d = &r->desc[id];

			s[n].p = gpa_ptr(d->addr, d->len);
			s[n].len = d->len;
			s[n].w = d->flags & VRING_DESC_F_WRITE;
			assert_non_null(s[n].p);
			n++;
			if (!(d->flags & VRING_DESC_F_NEXT) || n == QSIZE)
				break;
			id = d->next;
		}
		len = serve(s, n, nth);
		any = true;
		if (len < 0)
			continue;
		if (nth == dv.f.long_len_nth)
			len += 100;
		r->used->ring[r->used->idx % r->size].id = nth == dv.f.bad_id_nth ? QSIZE + 3 : head;
		r->used->ring[r->used->idx % r->size].len = (uint32_t)len;
		__atomic_store_n(&r->used->idx, (uint16_t)(r->used->idx + 1), __ATOMIC_RELEASE);
	}
	return any;
}

static void reply(int fd, const struct vhost_user_msg *req, const void *payload, uint32_t size)
{
	assert_int_equal(fe_wire_reply(fd, req->hdr.request, payload, size), 0);
}

static void config_reply(int fd, const struct vhost_user_msg *m)
{
	struct vhost_user_config c = m->payload.config;
	struct virtio_blk_config b;

	memset(&b, 0, sizeof(b));
	b.capacity = htole64(DISK_SECTORS);
	b.seg_max = htole32(SEG_MAX);
	b.blk_size = htole32(512);
	b.num_queues = htole16(MAX_RINGS);
	b.max_discard_sectors = htole32(64);
	b.max_discard_seg = htole32(1);
	b.discard_sector_alignment = htole32(8);
	b.max_write_zeroes_sectors = htole32(64);
	b.max_write_zeroes_seg = htole32(1);
	memset(c.region, 0, sizeof(c.region));
	memcpy(c.region, &b, c.size < sizeof(b) ? c.size : sizeof(b));
	if (dv.f.config_short)
		c.size -= 4;	/* claims fewer bytes than asked */
	reply(fd, m, &c, VHOST_USER_CONFIG_HDR_SIZE + c.size);
}

static void handle(int fd, struct vhost_user_msg *m)
{
	uint64_t features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_SEG_MAX) |
			    BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH) |
			    BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
			    BIT(VIRTIO_BLK_F_MQ) | BIT(UVDPA_VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t pf = PF(CONFIG) | PF(MQ) | PF(REPLY_ACK), v = 0;
	unsigned int idx = m->payload.state.index % MAX_RINGS;
	struct dring *r = &dv.ring[idx];

	fe_wire_close_fds(m);
	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
		reply(fd, m, &features, 8);
		return;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		reply(fd, m, &pf, 8);
		return;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		dv.acked_pf = m->payload.u64;
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		v = MAX_RINGS;
		reply(fd, m, &v, 8);
		return;
	case VHOST_USER_GET_CONFIG:
		config_reply(fd, m);
		return;
	case VHOST_USER_SET_MEM_TABLE:
		dv.region = m->payload.memory.regions[0];
		break;
	case VHOST_USER_SET_VRING_NUM:
		r->size = (uint16_t)m->payload.state.num;
		break;
	case VHOST_USER_SET_VRING_BASE:
		r->last_avail = (uint16_t)m->payload.state.num;
		break;
	case VHOST_USER_SET_VRING_ADDR:
		r = &dv.ring[m->payload.addr.index % MAX_RINGS];
		r->desc = (void *)(uintptr_t)m->payload.addr.desc_user_addr;
		r->avail = (void *)(uintptr_t)m->payload.addr.avail_user_addr;
		r->used = (void *)(uintptr_t)m->payload.addr.used_user_addr;
		break;
	case VHOST_USER_SET_VRING_ENABLE:
		r->ready = m->payload.state.num;
		break;
	case VHOST_USER_GET_VRING_BASE: {
		struct vhost_user_vring_state st = { .index = m->payload.state.index,
						     .num = r->last_avail };

		r->ready = false;
		reply(fd, m, &st, sizeof(st));
		return;
	}
	default:
		break;
	}
	if ((m->hdr.flags & VHOST_USER_NEED_REPLY_FLAG) && (dv.acked_pf & PF(REPLY_ACK)))
		reply(fd, m, &v, 8);
}

/* One session: messages and rings until the frontend leaves. */
static void dv_session(int fd)
{
	memset(dv.ring, 0, sizeof(dv.ring));
	dv.stopped = false;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		bool busy = false;

		for (unsigned int i = 0; i < MAX_RINGS; i++)
			busy |= serve_ring(&dv.ring[i]);
		if (poll(&p, 1, busy ? 0 : 1) > 0) {
			struct vhost_user_msg m;

			if (fe_wire_read(fd, &m, 1000) < 0)
				return;
			handle(fd, &m);
		}
	}
}

/* Sessions, one after the other, until the listener is shut down. */
static void *dv_main(void *arg)
{
	int fd;

	(void)arg;
	while ((fd = accept(dv.l.fd, NULL, NULL)) >= 0) {
		dv_session(fd);
		close(fd);
	}
	return NULL;
}

static void dv_start(const struct faults *f)
{
	memset(&dv, 0, sizeof(dv));
	dv.f = *f;
	fe_test_listen(&dv.l, "fe-blk");
	assert_int_equal(pthread_create(&dv.thread, NULL, dv_main, NULL), 0);
}

/* The disk holds seed's pattern (as a --rw write pass would leave it). */
static void dv_fill(uint32_t seed)
{
	for (uint64_t lba = 0; lba < DISK_SECTORS; lba++)
		fe_blk_sector_fill(dv.disk + lba * FE_BLK_SECTOR, seed, lba, 1);
}

/* ---- the frontend side ---- */

static struct fe_dev *dev;
static struct fe_blk *blk;

static struct fe_blk_config load_cfg(enum fe_blk_rw rw, uint64_t count)
{
	return (struct fe_blk_config){
		.rw = rw, .rwmix_read = 50, .bs = 4096, .iodepth = 8, .count = count,
		.verify = true, .seed = 1, .stall_ms = 2000, .bad_timeout_ms = 200,
	};
}

/* Device thread, session and load; NULL blk when fe_blk_new refused. */
static void up(const struct faults *f, const struct fe_blk_config *lc, unsigned int queues)
{
	struct fe_dev_config cfg = {
		.kind = FE_DEV_BLK,
		.connect_timeout_ms = 2000,
		.reply_timeout_ms = 1000,
		.queue_pairs = queues,
		.queue_size = QSIZE,
		.features = fe_blk_default_features(),
		.protocol_features = fe_blk_default_protocol_features(),
		.need_reply = true,
		.mem_regions = 1,
	};

	dv_start(f);
	cfg.socket_path = dv.l.path;
	cfg.mem_size = fe_blk_mem_bytes(lc, queues, QSIZE);
	dev = calloc(1, sizeof(*dev));
	assert_non_null(dev);
	assert_int_equal(fe_dev_init(dev, &cfg), 0);
	assert_int_equal(fe_dev_connect(dev), 0);
	assert_int_equal(fe_dev_negotiate(dev), 0);
	blk = fe_blk_new(dev, lc);
}

static void down(void)
{
	fe_blk_free(blk);
	blk = NULL;
	fe_dev_disconnect(dev);
	shutdown(dv.l.fd, SHUT_RDWR);
	pthread_join(dv.thread, NULL);
	fe_dev_fini(dev);
	free(dev);
	fe_test_unlisten(&dv.l);
}

static struct fe_blk_job_stats st;

static int run_load(void)
{
	int r = fe_blk_run(blk);

	fe_blk_get_stats(blk, -1, &st);
	return r;
}

/* One load on one queue against a device with faults f whose disk holds
 * fill_seed's pattern (none: < 0): fe_blk_run's result, figures in st. */
static int load_once(const struct faults *f, const struct fe_blk_config *lc, int fill_seed)
{
	int r;

	up(f, lc, 1);
	assert_non_null(blk);
	if (fill_seed >= 0)
		dv_fill((uint32_t)fill_seed);
	r = run_load();
	down();
	return r;
}

/* ---- the load ---- */

static void test_honest_device(void **state)
{
	struct faults f = { 0 };
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_RANDRW, 3000);
	struct fe_blk_job_stats q0, q1;

	(void)state;
	up(&f, &lc, 2);
	assert_non_null(blk);
	assert_int_equal(fe_blk_get_geometry(blk)->capacity, DISK_SECTORS);
	assert_int_equal(fe_blk_get_geometry(blk)->seg_max, SEG_MAX);
	assert_int_equal(run_load(), 0);
	assert_int_equal(st.reads + st.writes, 3000);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.bad_sectors, 0);
	assert_true(st.verified > 0);
	assert_int_equal(st.verified + st.unverified, st.reads * 8);
	assert_int_equal(st.lat.count, 3000);
	fe_blk_get_stats(blk, 0, &q0);
	fe_blk_get_stats(blk, 1, &q1);
	assert_int_equal(q0.reads + q0.writes, 1500);
	assert_int_equal(q1.reads + q1.writes, 1500);
	assert_int_equal(fe_dev_stop(dev), 0);
	down();
}

static void test_fill_checked_and_flushes(void **state)
{
	struct faults f = { 0 };
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_RANDREAD, 1000);

	(void)state;
	lc.verify_fill = true;
	lc.fill_seed = 3;
	assert_int_equal(load_once(&f, &lc, 3), 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.verified, 8000);
	/* Sequential writes with a flush every 16. */
	lc = load_cfg(FE_BLK_RW_WRITE, 0);
	lc.fsync_every = 16;
	assert_int_equal(load_once(&f, &lc, -1), 0);
	assert_int_equal(st.writes, DISK_SECTORS / 8);
	assert_int_equal(st.flushes, DISK_SECTORS / 8 / 16);
	assert_int_equal(st.errors, 0);
}

static void test_ioerr_counted(void **state)
{
	struct faults f = { .ioerr_nth = 10 };
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_RANDWRITE, 500);

	(void)state;
	assert_int_equal(load_once(&f, &lc, -1), 0);
	assert_int_equal(st.writes, 500);
	assert_int_equal(st.errors, 1);
}

static void test_flipped_and_stale_reads(void **state)
{
	struct faults f = { .flip_nth = 7 };
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_RANDREAD, 200);

	(void)state;
	lc.verify_fill = true;
	lc.fill_seed = 3;
	assert_int_equal(load_once(&f, &lc, 3), 0);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.bad_sectors, 1);
	/* A read completed OK without its data: every sector of it is wrong. */
	f = (struct faults){ .stale_nth = 20 };
	assert_int_equal(load_once(&f, &lc, 3), 0);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.bad_sectors, 8);
	/* The wrong fill seed: every read fails. */
	f = (struct faults){ 0 };
	assert_int_equal(load_once(&f, &lc, 4), 0);
	assert_int_equal(st.errors, 200);
}

static void test_used_entries_untrusted(void **state)
{
	struct faults f = { .bad_id_nth = 30 };
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_RANDRW, 500);

	(void)state;
	assert_int_equal(load_once(&f, &lc, -1), -EIO);
	/* A length beyond the writable bytes: that request failed. */
	f = (struct faults){ .long_len_nth = 5 };
	assert_int_equal(load_once(&f, &lc, -1), 0);
	assert_int_equal(st.errors, 1);
}

static void test_config_reply_checked(void **state)
{
	struct faults f = { .config_short = true };
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_READ, 10);

	(void)state;
	up(&f, &lc, 1);
	assert_null(blk);
	down();
	/* A bs the device takes in seg_max segments, and one it does not. */
	f = (struct faults){ 0 };
	up(&f, &lc, 1);
	assert_non_null(blk);
	down();
	lc.seg_size = 512;	/* 8 segments: seg_max; 4 x 10 descriptors fit */
	lc.iodepth = 4;
	up(&f, &lc, 1);
	assert_non_null(blk);
	down();
	lc.bs = 8192;		/* 16 segments of 512 */
	up(&f, &lc, 1);
	assert_null(blk);
	down();
}

/* ---- --blk-bad ---- */

static char *out_buf;
static size_t out_len;

static int bad(enum fe_blk_bad_kind k)
{
	FILE *out = open_memstream(&out_buf, &out_len);
	int r;

	assert_non_null(out);
	r = fe_blk_bad_run(blk, k, out);
	fclose(out);
	return r;
}

static void bad_done(void)
{
	free(out_buf);
	out_buf = NULL;
}

static void test_bad_no_status(void **state)
{
	static const struct {
		enum no_status_mode mode;
		int want;
		const char *line;
	} cases[] = {
		{ NS_LEN0, FE_BLK_BAD_PASS, "outcome=completed len=0 buffers=untouched" },
		{ NS_DROP, FE_BLK_BAD_PASS, "outcome=no-completion buffers=untouched" },
		{ NS_CLAIM, FE_BLK_BAD_FAIL, "outcome=bad-used-length len=1" },
	};
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_READ, 10);

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct faults f = { .no_status = cases[i].mode };

		up(&f, &lc, 1);
		assert_int_equal(bad(FE_BLK_BAD_NO_STATUS), cases[i].want);
		assert_non_null(strstr(out_buf, cases[i].line));
		/* Normal I/O still works afterwards. */
		assert_non_null(strstr(out_buf, "step=serves-after write+read result=ok"));
		bad_done();
		down();
	}
}

/* A device that stops serving after the odd request: reset by a new
 * session, which only a request without status excuses. */
static void test_bad_reset(void **state)
{
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_READ, 10);
	struct faults f = { .no_status = NS_LEN0, .stop_after_odd = true };

	(void)state;
	up(&f, &lc, 1);
	assert_int_equal(bad(FE_BLK_BAD_NO_STATUS), FE_BLK_BAD_PASS);
	assert_non_null(strstr(out_buf, "serves-after outcome=no-answer session=reset result=accepted"));
	assert_non_null(strstr(out_buf, "serves-after-reset result=ok"));
	assert_int_equal(dev->sessions, 2);
	bad_done();
	assert_int_equal(bad(FE_BLK_BAD_UNKNOWN_TYPE), FE_BLK_BAD_FAIL);
	assert_non_null(strstr(out_buf, "session=reset result=FAIL"));
	assert_non_null(strstr(out_buf, "serves-after-reset result=ok"));
	assert_int_equal(dev->sessions, 3);
	bad_done();
	/* The load runs on the third session. */
	assert_int_equal(run_load(), 0);
	assert_int_equal(st.errors, 0);
	down();
}

static void test_bad_device_faults(void **state)
{
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_READ, 10);
	struct faults f = { .serve_beyond_end = true };

	(void)state;
	up(&f, &lc, 1);
	assert_int_equal(bad(FE_BLK_BAD_PAST_END), FE_BLK_BAD_FAIL);
	assert_non_null(strstr(out_buf, "step=read-beyond-end status=OK"));
	bad_done();
	/* seg_max ignored. */
	assert_int_equal(bad(FE_BLK_BAD_TOO_MANY_SEGS), FE_BLK_BAD_FAIL);
	assert_non_null(strstr(out_buf, "does not enforce its limit"));
	bad_done();
	down();

	f = (struct faults){ .enforce_seg_max = true };
	up(&f, &lc, 1);
	assert_int_equal(bad(FE_BLK_BAD_PAST_END), FE_BLK_BAD_PASS);
	assert_non_null(strstr(out_buf, "step=data-unchanged result=ok"));
	bad_done();
	assert_int_equal(bad(FE_BLK_BAD_TOO_MANY_SEGS), FE_BLK_BAD_PASS);
	bad_done();
	assert_int_equal(bad(FE_BLK_BAD_RO_WRITE), FE_BLK_BAD_NA);
	bad_done();
	down();
}

static void test_bad_optional_commands(void **state)
{
	struct fe_blk_config lc = load_cfg(FE_BLK_RW_READ, 10);
	struct faults f = { 0 };

	(void)state;
	lc.offset = 64 * 1024;
	up(&f, &lc, 1);
	assert_int_equal(bad(FE_BLK_BAD_UNKNOWN_TYPE), FE_BLK_BAD_PASS);
	assert_non_null(strstr(out_buf, "status=UNSUPP len=1 expected=UNSUPP result=ok"));
	bad_done();
	/* The serial's bytes are escaped. */
	assert_int_equal(bad(FE_BLK_BAD_GET_ID), FE_BLK_BAD_PASS);
	assert_non_null(strstr(out_buf, "serial=\"fake\\x01serial\""));
	bad_done();
	assert_int_equal(bad(FE_BLK_BAD_DISCARD), FE_BLK_BAD_PASS);
	assert_non_null(strstr(out_buf, "reads=zeros result=ok"));
	assert_non_null(strstr(out_buf, "discard-unmap-flag status=UNSUPP"));
	bad_done();
	assert_int_equal(bad(FE_BLK_BAD_WRITE_ZEROES), FE_BLK_BAD_PASS);
	bad_done();
	/* Every check wrote at the offset: the disk holds the last one's data. */
	assert_int_equal(dv.disk[64 * 1024], FE_BLK_SECTOR_MAGIC & 0xff);
	down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_device),
		cmocka_unit_test(test_fill_checked_and_flushes),
		cmocka_unit_test(test_ioerr_counted),
		cmocka_unit_test(test_flipped_and_stale_reads),
		cmocka_unit_test(test_used_entries_untrusted),
		cmocka_unit_test(test_config_reply_checked),
		cmocka_unit_test(test_bad_no_status),
		cmocka_unit_test(test_bad_reset),
		cmocka_unit_test(test_bad_device_faults),
		cmocka_unit_test(test_bad_optional_commands),
	};

	uvdpa_log_set_level(UVDPA_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
