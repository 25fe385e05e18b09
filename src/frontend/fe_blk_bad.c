/* Test frontend block device checks: malformed requests (past the end, no
 * status descriptor, too many segments, a write to a read-only device, an
 * unknown type) and the optional commands (GET_ID, DISCARD, WRITE_ZEROES),
 * one at a time on queue 0, each followed by a normal write and read to
 * show that the device still serves. */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "frontend/fe_blk_internal.h"
#include "core/log.h"

#define TAG "fe-blk-bad"
#define BIT(n) (1ull << (n))
#define UNKNOWN_TYPE 0x1234u
#define SANITY_BYTES 4096u
#define POLL_SLEEP_NS 20000

static const char *const kind_names[FE_BLK_BAD_KINDS] = {
	[FE_BLK_BAD_PAST_END] = "past-end",
	[FE_BLK_BAD_NO_STATUS] = "no-status",
	[FE_BLK_BAD_TOO_MANY_SEGS] = "too-many-segs",
	[FE_BLK_BAD_RO_WRITE] = "ro-write",
	[FE_BLK_BAD_UNKNOWN_TYPE] = "unknown-type",
	[FE_BLK_BAD_GET_ID] = "get-id",
	[FE_BLK_BAD_DISCARD] = "discard",
	[FE_BLK_BAD_WRITE_ZEROES] = "write-zeroes",
};

int fe_blk_bad_parse(const char *s, enum fe_blk_bad_kind *kind)
{
	for (unsigned int i = 0; i < FE_BLK_BAD_KINDS; i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*kind = (enum fe_blk_bad_kind)i;
			return 0;
		}
	return -EINVAL;
}

const char *fe_blk_bad_name(enum fe_blk_bad_kind kind)
{
	return (unsigned int)kind < FE_BLK_BAD_KINDS ? kind_names[kind] : "?";
}

/* ---- one request at a time ---- */

enum io_outcome {
	IO_DONE,		/* completed: status and len valid */
	IO_LEN_ERROR,		/* completed, claiming more bytes than were writable */
	IO_TIMEOUT,		/* no completion in time: the chain stays with the device */
	IO_RING_ERROR,		/* an impossible used entry: the ring is broken */
	IO_CLOSED,		/* the backend closed the session */
	IO_NOT_SENT,		/* no room in the ring, or no session */
};

struct io_res {
	enum io_outcome outcome;
	uint8_t status;
	uint32_t len;
};

/* Per kind: what it printed, and its verdict so far. */
struct check {
	struct fe_blk *b;
	FILE *out;
	enum fe_blk_bad_kind kind;
	bool ok;
};

static void say(struct check *k, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct check *k, const char *step, const char *fmt, ...)
{
	va_list ap;

	fprintf(k->out, "blk-bad: kind=%s step=%s ", kind_names[k->kind], step);
	va_start(ap, fmt);
	vfprintf(k->out, fmt, ap);
	va_end(ap);
	fputc('\n', k->out);
	fflush(k->out);
}

static void pause_briefly(void)
{
	struct timespec ts = { 0, POLL_SLEEP_NS };

	nanosleep(&ts, NULL);
}

/* Sends the chain on queue 0 and waits for it. Completions of requests that
 * timed out earlier are taken back on the way. */
static void io_sync(struct fe_blk *b, const struct fe_blk_chain *c, struct io_res *res)
{
	struct blk_queue *q = &b->q[0];
	struct virtq_driver *vq = &q->vr->vq;
	uint64_t deadline = uvdpa_now_ns() + (uint64_t)b->cfg.bad_timeout_ms * 1000000ull;
	uint64_t next_service = 0;
	uint16_t head;
	int n;

	memset(res, 0, sizeof(*res));
	res->outcome = IO_NOT_SENT;
	if (b->dev->conn.sock < 0 || virtq_drv_is_broken(vq))
		return;
	b->bad_ctl[BLK_CTL_STATUS] = BLK_STATUS_POISON;
	n = fe_blk_chain_bufs(c, b->bufs, b->dev->cfg.queue_size);
	if (n < 0 || virtq_drv_add_chain(vq, b->bufs, (unsigned int)n, &head) < 0)
		return;
	fe_vring_publish(q->vr);
	for (;;) {
		uint16_t h;
		uint32_t len;
		int r = virtq_drv_pop(vq, &h, &len);
		uint64_t now;

		if (r < 0 && r != -EMSGSIZE) {
			res->outcome = IO_RING_ERROR;
			return;
		}
		if (r != 0) {
			virtq_drv_chain_release(vq, h);
			if (h != head) {
				LOG_INFO(TAG, "a request that timed out earlier completed now");
				if (b->bad_stuck)
					b->bad_stuck--;
				continue;
			}
			res->outcome = r == -EMSGSIZE ? IO_LEN_ERROR : IO_DONE;
			res->len = len;
			res->status = __atomic_load_n(b->bad_ctl + BLK_CTL_STATUS, __ATOMIC_RELAXED);
			return;
		}
		now = uvdpa_now_ns();
		if (now >= next_service) {
			next_service = now + 10000000ull;
			fe_vring_call_drain(q->vr);
			if (fe_conn_poll(&b->dev->conn, 0) == -ECONNRESET) {
				res->outcome = IO_CLOSED;
				return;
			}
		}
		if (now >= deadline) {
			b->bad_stuck++;
			res->outcome = IO_TIMEOUT;
			return;
		}
		pause_briefly();
	}
}

/* The outcome as "status=X len=N" or "outcome=...", always in buf. */
static const char *outcome_str(const struct io_res *res, char *buf, size_t len)
{
	static const char *const other[] = {
		[IO_TIMEOUT] = "no-completion", [IO_RING_ERROR] = "ring-broken",
		[IO_CLOSED] = "session-closed", [IO_NOT_SENT] = "not-sent",
	};
	char sb[8];

	if (res->outcome == IO_DONE)
		snprintf(buf, len, "status=%s len=%u",
			 fe_blk_status_str(res->status, sb, sizeof(sb)), res->len);
	else if (res->outcome == IO_LEN_ERROR)
		snprintf(buf, len, "outcome=bad-used-length len=%u", res->len);
	else
		snprintf(buf, len, "outcome=%s", other[res->outcome]);
	return buf;
}

/* A chain of the bad area: header, len bytes of its data area, status. */
static struct fe_blk_chain data_chain(struct fe_blk *b, uint32_t type, uint64_t sector,
				      uint32_t len, bool data_in)
{
	struct fe_blk_chain c = {
		.hdr_addr = b->bad_ctl_gpa + BLK_CTL_HDR,
		.data_addr = b->bad_data_gpa,
		.data_len = len,
		.data_in = data_in,
		.status_addr = b->bad_ctl_gpa + BLK_CTL_STATUS,
	};

	fe_blk_hdr_put(b->bad_ctl + BLK_CTL_HDR, type, sector);
	if (fe_blk_seg_size(&b->geo, len, 0, &c.seg_size) < 0)
		c.seg_size = b->seg_size;
	return c;
}

/* Sends c; its status must be want. Prints the step. */
static bool expect(struct check *k, const char *step, const struct fe_blk_chain *c, uint8_t want,
		   struct io_res *res)
{
	char ob[48], wb[8];
	bool ok;

	io_sync(k->b, c, res);
	ok = res->outcome == IO_DONE && res->status == want;
	say(k, step, "%s expected=%s result=%s", outcome_str(res, ob, sizeof(ob)),
	    fe_blk_status_str(want, wb, sizeof(wb)), ok ? "ok" : "FAIL");
	k->ok &= ok;
	return ok;
}

/* A normal read or write of len bytes at sector through the data area,
 * status OK expected. */
static bool rw_ok(struct check *k, const char *step, bool write, uint64_t sector, uint32_t len)
{
	struct fe_blk_chain c = data_chain(k->b, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
					   sector, len, !write);
	struct io_res res;

	if (!write)
		memset(k->b->bad_data, 0xa5, len);
	return expect(k, step, &c, VIRTIO_BLK_S_OK, &res);
}

/* The data area's first len bytes as a fresh write of sector on: returns
 * the generation. */
static uint64_t fill_area(struct fe_blk *b, uint64_t sector, uint32_t len)
{
	uint64_t gen = blk_gen_value(b, ++b->wseq);

	for (uint32_t i = 0; i < len / FE_BLK_SECTOR; i++)
		fe_blk_sector_fill(b->bad_data + (uint64_t)i * FE_BLK_SECTOR, b->cfg.seed,
				   sector + i, gen);
	return gen;
}

/* The data area holds sectors written with gen: the sector that is not, or -1. */
static int64_t area_mismatch(const struct fe_blk *b, uint64_t sector, uint32_t len, uint64_t gen)
{
	for (uint32_t i = 0; i < len / FE_BLK_SECTOR; i++) {
		uint64_t found;

		if (fe_blk_sector_check(b->bad_data + (uint64_t)i * FE_BLK_SECTOR, b->cfg.seed,
					sector + i, gen, &found) != FE_BLK_SECTOR_OK)
			return (int64_t)(sector + i);
	}
	return -1;
}

/* Bytes for a range of at least min bytes that respects the logical block. */
static uint32_t lb_round(const struct fe_blk *b, uint32_t min)
{
	return (uint32_t)((min + b->geo.blk_size - 1) / b->geo.blk_size * b->geo.blk_size);
}

/* ---- does the device still serve? ---- */

static bool io_lost(const struct io_res *res)
{
	return res->outcome == IO_TIMEOUT || res->outcome == IO_RING_ERROR ||
	       res->outcome == IO_CLOSED || res->outcome == IO_NOT_SENT;
}

/* A write (not on a read-only device) and a read back at the span's start.
 * 1: served and verified, 0: answered wrong, -1: no answer at all. */
static int serve_once(struct check *k)
{
	struct fe_blk *b = k->b;
	uint32_t len = lb_round(b, SANITY_BYTES);
	struct fe_blk_chain c;
	struct io_res res;
	uint64_t gen = 0;
	int64_t bad;
	char ob[48];

	if (!b->geo.ro) {
		gen = fill_area(b, b->first_lba, len);
		c = data_chain(b, VIRTIO_BLK_T_OUT, b->first_lba, len, false);
		io_sync(b, &c, &res);
		if (io_lost(&res))
			return -1;
		if (res.outcome != IO_DONE || res.status != VIRTIO_BLK_S_OK) {
			say(k, "serves-write", "%s expected=OK result=FAIL",
			    outcome_str(&res, ob, sizeof(ob)));
			return 0;
		}
	}
	memset(b->bad_data, 0xa5, len);
	c = data_chain(b, VIRTIO_BLK_T_IN, b->first_lba, len, true);
	io_sync(b, &c, &res);
	if (io_lost(&res))
		return -1;
	if (res.outcome != IO_DONE || res.status != VIRTIO_BLK_S_OK) {
		say(k, "serves-read", "%s expected=OK result=FAIL", outcome_str(&res, ob, sizeof(ob)));
		return 0;
	}
	bad = gen ? area_mismatch(b, b->first_lba, len, gen) : -1;
	if (bad >= 0) {
		say(k, "serves-read", "sector=%lld data=wrong result=FAIL", (long long)bad);
		return 0;
	}
	return 1;
}

/* After the bad request: normal I/O on queue 0. A device that stopped
 * serving is reset (the session is reconnected and renegotiated), which
 * only counts as a pass when reset_ok (the request had no status to fail
 * with). -errno when not even a new session serves. */
static int still_serves(struct check *k, bool reset_ok)
{
	struct fe_blk *b = k->b;
	int r = serve_once(k);

	if (r >= 0) {
		say(k, "serves-after", "%s result=%s", b->geo.ro ? "read" : "write+read",
		    r ? "ok" : "FAIL");
		k->ok &= r == 1;
		return 0;
	}
	say(k, "serves-after", "outcome=no-answer session=reset result=%s",
	    reset_ok ? "accepted" : "FAIL");
	k->ok &= reset_ok;
	r = fe_dev_reconnect(b->dev);
	if (r < 0) {
		say(k, "serves-after-reset", "outcome=reconnect-failed result=FAIL");
		k->ok = false;
		return r;
	}
	fe_blk_start(b);
	r = serve_once(k);
	say(k, "serves-after-reset", "result=%s", r == 1 ? "ok" : "FAIL");
	if (r != 1)
		k->ok = false;
	return r < 0 ? -EIO : 0;
}

/* ---- the kinds ---- */

static int na(struct check *k, const char *why)
{
	say(k, "precondition", "result=n/a reason=\"%s\"", why);
	return FE_BLK_BAD_NA;
}

/* A write the device must refuse with IOERR (write_len bytes at sector):
 * the check_len bytes there read the same before and after it. */
static void refused_write(struct check *k, const char *step, uint64_t sector, uint32_t check_len,
			  uint32_t write_len)
{
	struct fe_blk *b = k->b;
	struct fe_blk_chain c;
	struct io_res res;
	uint8_t *saved;

	if (!rw_ok(k, "read-before", false, sector, check_len))
		return;
	saved = malloc(check_len);
	if (!saved) {
		k->ok = false;
		return;
	}
	memcpy(saved, b->bad_data, check_len);
	fill_area(b, sector, write_len);
	c = data_chain(b, VIRTIO_BLK_T_OUT, sector, write_len, false);
	expect(k, step, &c, VIRTIO_BLK_S_IOERR, &res);
	if (rw_ok(k, "read-after", false, sector, check_len)) {
		bool same = memcmp(saved, b->bad_data, check_len) == 0;

		say(k, "data-unchanged", "result=%s", same ? "ok" : "FAIL");
		k->ok &= same;
	}
	free(saved);
}

static int past_end(struct check *k)
{
	struct fe_blk *b = k->b;
	uint32_t blk = b->geo.blk_size, lbs = blk_lb_sectors(b);
	uint64_t beyond = (b->geo.capacity + lbs - 1) / lbs * lbs;
	struct fe_blk_chain c;
	struct io_res res;

	c = data_chain(b, VIRTIO_BLK_T_IN, beyond, blk, true);
	expect(k, "read-beyond-end", &c, VIRTIO_BLK_S_IOERR, &res);
	/* 2^55 sectors are 2^64 bytes: an offset computed without overflow
	 * checks wraps to 0 and reads the first block. */
	c = data_chain(b, VIRTIO_BLK_T_IN, 1ull << 55, blk, true);
	expect(k, "read-offset-wraps", &c, VIRTIO_BLK_S_IOERR, &res);
	/* The last block and one beyond in one write: refused whole. */
	if (!b->geo.ro && b->geo.capacity >= 2ull * lbs)
		refused_write(k, "write-across-end", b->geo.capacity / lbs * lbs - lbs, blk,
			      2 * blk);
	return k->ok;
}

static void report_status_register(struct check *k)
{
	uint64_t st;

	if (!(k->b->dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_STATUS)) ||
	    k->b->dev->conn.sock < 0 || k->b->dev->conn.peer_closed)
		return;
	if (fe_dev_request_u64(k->b->dev, VHOST_USER_GET_STATUS, &st) == 0)
		say(k, "device-status", "status=0x%llx needs_reset=%s", (unsigned long long)st,
		    (st & VIRTIO_CONFIG_S_NEEDS_RESET) ? "yes" : "no");
}

static int no_status(struct check *k)
{
	struct fe_blk *b = k->b;
	uint32_t len = b->geo.blk_size;
	struct fe_blk_chain c = data_chain(b, VIRTIO_BLK_T_OUT, b->first_lba, len, false);
	uint8_t ctl_before[BLK_CTL_BYTES];
	const char *what = NULL;
	struct io_res res;
	uint8_t *data_before;
	bool untouched;
	char ob[48];

	c.no_status = true;
	data_before = malloc(len);
	if (!data_before)
		return -ENOMEM;
	fill_area(b, b->first_lba, len);
	memcpy(data_before, b->bad_data, len);
	/* Nothing in the chain is device-writable: poison around the header. */
	memset(b->bad_ctl + BLK_CTL_STATUS, BLK_STATUS_POISON, BLK_CTL_BYTES - BLK_CTL_STATUS);
	memcpy(ctl_before, b->bad_ctl, sizeof(ctl_before));
	io_sync(b, &c, &res);
	/* io_sync poisons the status byte itself: that one is ours. */
	untouched = memcmp(ctl_before, b->bad_ctl, sizeof(ctl_before)) == 0 &&
		    memcmp(data_before, b->bad_data, len) == 0;
	free(data_before);
	switch (res.outcome) {
	case IO_DONE: what = "completed with used length 0 (rejected)"; break;
	case IO_TIMEOUT: what = "never completed (dropped)"; break;
	case IO_CLOSED: what = "the backend closed the session"; break;
	case IO_LEN_ERROR: what = "completed claiming bytes written into a chain with none "
				  "writable"; break;
	case IO_RING_ERROR: what = "the device broke the ring"; break;
	case IO_NOT_SENT: what = "not sent"; break;
	}
	k->ok = untouched && (res.outcome == IO_DONE || res.outcome == IO_TIMEOUT ||
			      res.outcome == IO_CLOSED);
	/* There is no status byte to show: a completion is its length. */
	if (res.outcome == IO_DONE)
		snprintf(ob, sizeof(ob), "outcome=completed len=%u", res.len);
	else
		outcome_str(&res, ob, sizeof(ob));
	say(k, "write-without-status", "%s buffers=%s what=\"%s\" result=%s", ob,
	    untouched ? "untouched" : "WRITTEN", what, k->ok ? "accepted" : "FAIL");
	report_status_register(k);
	return k->ok;
}

static int too_many_segs(struct check *k)
{
	struct fe_blk *b = k->b;
	uint32_t len, nseg;
	struct fe_blk_chain c;
	struct io_res res;

	if (!b->geo.seg_max)
		return na(k, "SEG_MAX not negotiated: the device sets no segment limit");
	len = lb_round(b, (b->geo.seg_max + 1) * FE_BLK_SECTOR);
	nseg = len / FE_BLK_SECTOR;
	if (nseg + 2 > b->dev->cfg.queue_size || len > b->bad_data_len) {
		say(k, "precondition", "segments=%u ring=%u result=FAIL reason=\"raise --qsize\"",
		    nseg, b->dev->cfg.queue_size);
		return 0;
	}
	c = data_chain(b, VIRTIO_BLK_T_IN, b->first_lba, len, true);
	c.seg_size = FE_BLK_SECTOR;
	say(k, "read-in-segments", "segments=%u seg_max=%u", nseg, b->geo.seg_max);
	if (!expect(k, "read-too-many-segments", &c, VIRTIO_BLK_S_IOERR, &res) &&
	    res.outcome == IO_DONE && res.status == VIRTIO_BLK_S_OK)
		say(k, "read-too-many-segments", "what=\"the device accepted %u segments, "
		    "seg_max %u: it does not enforce its limit\"", nseg, b->geo.seg_max);
	return k->ok;
}

static int ro_write(struct check *k)
{
	if (!k->b->geo.ro)
		return na(k, "the device is writable (VIRTIO_BLK_F_RO not offered)");
	refused_write(k, "write-read-only", k->b->first_lba, k->b->geo.blk_size,
		      k->b->geo.blk_size);
	return k->ok;
}

static int unknown_type(struct check *k)
{
	struct fe_blk_chain c = data_chain(k->b, UNKNOWN_TYPE, k->b->first_lba, 0, false);
	struct io_res res;

	expect(k, "type-0x1234", &c, VIRTIO_BLK_S_UNSUPP, &res);
	return k->ok;
}

static int get_id(struct check *k)
{
	struct fe_blk *b = k->b;
	struct fe_blk_chain c = data_chain(b, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, true);
	char serial[4 * VIRTIO_BLK_ID_BYTES + 1];
	struct io_res res;
	size_t n = 0;

	memset(b->bad_data, 0, VIRTIO_BLK_ID_BYTES);
	if (!expect(k, "get-id", &c, VIRTIO_BLK_S_OK, &res))
		return k->ok;
	/* The serial is untrusted bytes: printed escaped, cut at the NUL. */
	for (unsigned int i = 0; i < VIRTIO_BLK_ID_BYTES && b->bad_data[i]; i++) {
		unsigned char ch = b->bad_data[i];

		if (isprint(ch) && ch != '"' && ch != '\\')
			serial[n++] = (char)ch;
		else
			n += (size_t)snprintf(serial + n, sizeof(serial) - n, "\\x%02x", ch);
	}
	serial[n] = '\0';
	say(k, "serial", "serial=\"%s\" bytes=%zu", serial, strlen(serial));
	return k->ok;
}

/* The range a discard or write-zeroes covers: at the span's start, aligned
 * as the device asks, at least 4 KiB and within the device's limit. */
static bool zero_range(struct check *k, uint32_t align_sectors, uint32_t max_sectors,
		       uint64_t *sector, uint32_t *nsect)
{
	struct fe_blk *b = k->b;
	uint32_t lbs = blk_lb_sectors(b), n = SANITY_BYTES / FE_BLK_SECTOR;
	uint64_t a = align_sectors > lbs ? align_sectors : lbs;

	if (a > b->bad_data_len / FE_BLK_SECTOR / 2) {
		say(k, "precondition", "alignment=%u result=FAIL reason=\"alignment too large\"",
		    align_sectors);
		return false;
	}
	if (n < a)
		n = (uint32_t)a;
	n = (uint32_t)((n + a - 1) / a * a);
	if (max_sectors && n > max_sectors)
		n = max_sectors / lbs * lbs;
	*sector = (b->first_lba + a - 1) / a * a;
	*nsect = n;
	if (n == 0 || *sector + n > b->geo.capacity) {
		say(k, "precondition", "result=FAIL reason=\"no aligned range fits the device\"");
		return false;
	}
	return true;
}

/* DISCARD or WRITE_ZEROES of [sector, +nsect) with flags in one range. */
static bool range_cmd(struct check *k, const char *step, uint32_t type, uint64_t sector,
		      uint32_t nsect, uint32_t flags, uint8_t want)
{
	struct fe_blk *b = k->b;
	struct virtio_blk_discard_write_zeroes r = {
		.sector = htole64(sector), .num_sectors = htole32(nsect), .flags = htole32(flags),
	};
	struct fe_blk_chain c = {
		.hdr_addr = b->bad_ctl_gpa + BLK_CTL_HDR,
		.data_addr = b->bad_ctl_gpa + BLK_CTL_RANGE,
		.data_len = sizeof(r),
		.status_addr = b->bad_ctl_gpa + BLK_CTL_STATUS,
	};
	struct io_res res;

	fe_blk_hdr_put(b->bad_ctl + BLK_CTL_HDR, type, 0);
	memcpy(b->bad_ctl + BLK_CTL_RANGE, &r, sizeof(r));
	return expect(k, step, &c, want, &res);
}

static int discard(struct check *k)
{
	struct fe_blk *b = k->b;
	uint64_t sector, gen;
	uint32_t nsect, len;
	const char *what;

	if (!b->geo.discard)
		return na(k, "DISCARD not negotiated");
	if (b->geo.ro)
		return na(k, "read-only device");
	if (!zero_range(k, b->geo.discard_sector_alignment, b->geo.max_discard_sectors, &sector,
			&nsect))
		return 0;
	len = nsect * FE_BLK_SECTOR;
	gen = fill_area(b, sector, len);
	if (!rw_ok(k, "write-pattern", true, sector, len) ||
	    !range_cmd(k, "discard", VIRTIO_BLK_T_DISCARD, sector, nsect, 0, VIRTIO_BLK_S_OK) ||
	    !rw_ok(k, "read-back", false, sector, len))
		return k->ok;
	/* A discarded range reads back as zeros or as it was: both are allowed. */
	what = fe_blk_is_zero(b->bad_data, len) ? "zeros" :
	       area_mismatch(b, sector, len, gen) < 0 ? "data-kept" : NULL;
	say(k, "discarded-range", "sectors=%u reads=%s result=%s", nsect, what ? what : "garbage",
	    what ? "ok" : "FAIL");
	k->ok &= what != NULL;
	/* The spec: UNSUPP for a discard with the unmap flag. */
	range_cmd(k, "discard-unmap-flag", VIRTIO_BLK_T_DISCARD, sector, nsect,
		  VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, VIRTIO_BLK_S_UNSUPP);
	return k->ok;
}

static int write_zeroes(struct check *k)
{
	static const char *const steps[2] = { "write-zeroes", "write-zeroes-unmap" };
	struct fe_blk *b = k->b;
	uint64_t sector;
	uint32_t nsect, len;

	if (!b->geo.write_zeroes)
		return na(k, "WRITE_ZEROES not negotiated");
	if (b->geo.ro)
		return na(k, "read-only device");
	if (!zero_range(k, blk_lb_sectors(b), b->geo.max_write_zeroes_sectors, &sector, &nsect))
		return 0;
	len = nsect * FE_BLK_SECTOR;
	for (unsigned int unmap = 0; unmap < 2; unmap++) {
		bool zero;

		fill_area(b, sector, len);
		if (!rw_ok(k, "write-pattern", true, sector, len) ||
		    !range_cmd(k, steps[unmap], VIRTIO_BLK_T_WRITE_ZEROES, sector, nsect,
			       unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0, VIRTIO_BLK_S_OK) ||
		    !rw_ok(k, "read-back", false, sector, len))
			return k->ok;
		zero = fe_blk_is_zero(b->bad_data, len);
		say(k, unmap ? "zeroed-range-unmap" : "zeroed-range", "sectors=%u reads=%s result=%s",
		    nsect, zero ? "zeros" : "data", zero ? "ok" : "FAIL");
		k->ok &= zero;
	}
	return k->ok;
}

int fe_blk_bad_run(struct fe_blk *b, enum fe_blk_bad_kind kind, FILE *out)
{
	static int (*const run[FE_BLK_BAD_KINDS])(struct check *) = {
		[FE_BLK_BAD_PAST_END] = past_end,
		[FE_BLK_BAD_NO_STATUS] = no_status,
		[FE_BLK_BAD_TOO_MANY_SEGS] = too_many_segs,
		[FE_BLK_BAD_RO_WRITE] = ro_write,
		[FE_BLK_BAD_UNKNOWN_TYPE] = unknown_type,
		[FE_BLK_BAD_GET_ID] = get_id,
		[FE_BLK_BAD_DISCARD] = discard,
		[FE_BLK_BAD_WRITE_ZEROES] = write_zeroes,
	};
	struct check k = { .b = b, .out = out, .kind = kind, .ok = true };
	int r, s;

	if ((unsigned int)kind >= FE_BLK_BAD_KINDS)
		return -EINVAL;
	r = run[kind](&k);
	if (r < 0)
		return r;
	if (r == FE_BLK_BAD_NA) {
		fprintf(out, "blk-bad: kind=%s result=n/a\n", kind_names[kind]);
		return FE_BLK_BAD_NA;
	}
	s = still_serves(&k, kind == FE_BLK_BAD_NO_STATUS);
	fprintf(out, "blk-bad: kind=%s result=%s\n", kind_names[kind], k.ok ? "PASS" : "FAIL");
	fflush(out);
	if (s < 0)
		return s;
	return k.ok ? FE_BLK_BAD_PASS : FE_BLK_BAD_FAIL;
}
