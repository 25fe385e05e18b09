/* uvdpa-frontend: plays the VM side of a vhost-user port — connects or
 * listens, negotiates, then sends and receives verified net traffic and
 * reports rates, or (--blk) runs a verified block load over vhost-user-blk
 * (uvdpa-frontend-blk.c). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "frontend/frontend.h"
#include "core/log.h"
#include "uvdpa-frontend.h"

#define TAG "frontend"
#define BIT(n) (1ull << (n))
#define LOG_SYNCS_MAX 64

/* --log-check: what QEMU does to the backend during a migration, in order,
 * each step when the traffic got that far (a fraction of --count or of
 * --seconds; the start also by frames with --log-at). */
enum log_step_kind { LOG_STEP_START, LOG_STEP_SYNC, LOG_STEP_STOP, LOG_STEP_RESTART };

struct log_step {
	enum log_step_kind kind;
	double at;		/* progress, 0..1 */
};

struct log_plan {
	struct log_step steps[LOG_SYNCS_MAX + 3];
	unsigned int n, done;
	bool start_by_frames;	/* the start waits for start_frames sent */
	uint64_t start_frames;
	uint64_t t0_ns;		/* traffic start (progress by time) */
};

struct options {
	struct fe_dev_config dev;
	struct fe_net_config net;
	bool legacy, no_mrg, no_event_idx, features_set, pf_set, no_reply_ack;
	bool negotiate_only, reconnect_test, mem_replug, json;
	bool log_check, log_toggle, log_retry;
	bool log_at_set, log_syncs_set;
	uint64_t log_at;		/* frames sent when logging starts */
	unsigned int log_syncs;		/* QEMU's syncs under traffic (the final one apart) */
	struct log_plan plan;
	struct fe_dev *devp;		/* for the tick */
	int log_error;
	char log_error_why[96];		/* the failed step, for the result line */
	bool log_checked;		/* the final sync ran: logres holds the check */
	struct fe_log_result logres;
	uint64_t features, protocol_features;
	uint64_t count;
	double seconds;
	unsigned int mem_mb;
	bool mem_set, qsize_set;
	int timeout_s;
	/* --blk */
	bool blk, blk_opt;		/* blk_opt: some block-only option was given */
	struct blk_options blko;
};

static const char *sock_path_for_signal;
static bool sock_is_ours;

static void on_signal(int sig)
{
	/* Leave no listening socket file behind. */
	if (sock_is_ours && sock_path_for_signal)
		unlink(sock_path_for_signal);
	_exit(128 + sig);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvdpa-frontend --socket PATH [options]\n"
		"connection:\n"
		"  --socket PATH         vhost-user socket (required)\n"
		"  --server              listen on PATH; accept the backend again if it leaves\n"
		"  --timeout SEC         connect/accept timeout (default 10)\n"
		"  --reply-timeout MS    wait for each reply (default 5000)\n"
		"  --no-reconnect        fail instead of reconnecting when the backend leaves\n"
		"device:\n"
		"  --queues N            queue pairs, vrings 2N (default 1)\n"
		"  --qsize N             ring size, power of two (default 256)\n"
		"  --legacy              no VERSION_1 (10-byte header without MRG_RXBUF)\n"
		"  --no-mrg-rxbuf        do not negotiate MRG_RXBUF\n"
		"  --no-event-idx        do not negotiate EVENT_IDX\n"
		"  --features HEX        driver feature wish (replaces the defaults)\n"
		"  --protocol-features HEX  protocol feature wish (replaces the defaults)\n"
		"  --no-reply-ack        do not negotiate REPLY_ACK / send NEED_REPLY\n"
		"  --no-status           do not send SET_STATUS\n"
		"  --irq                 interrupts only: look at a ring only after its call\n"
		"                        eventfd fired, no polling; fails when none comes\n"
		"memory:\n"
		"  --mem-mb N            guest memory (default 64)\n"
		"  --regions N           split it into N regions (default 1)\n"
		"  --mem-slots           send memory with ADD_MEM_REG (CONFIGURE_MEM_SLOTS)\n"
		"  --mem-replug          between two traffic phases: REM_MEM_REG + ADD_MEM_REG\n"
		"                        of the last region (needs --mem-slots)\n"
		"traffic:\n"
		"  --count N             packets to send (rx-only: to receive)\n"
		"  --seconds S           run for S seconds (negotiate-only: hold time)\n"
		"  --size N | MIN-MAX    frame size(s) without the virtio header (default 64)\n"
		"  --tx-only | --rx-only one direction only\n"
		"  --no-verify           count received frames without checking them\n"
		"  --split-hdr           virtio-net header in its own descriptor\n"
		"  --rx-buf-size N       bytes per RX descriptor\n"
		"  --window N            max frames in flight per pair (default: RX ring)\n"
		"  --pps N               send at most N frames per second per pair (paced;\n"
		"                        with --irq the process sleeps between frames)\n"
		"  --burst N             frames per TX batch (default 32)\n"
		"  --drain-ms N          wait for late frames (default 2000)\n"
		"modes:\n"
		"  --negotiate-only      negotiate, hold --seconds, tear down\n"
		"  --reconnect-test      two sessions: tear down, reconnect, renegotiate\n"
		"  --log-check           QEMU's side of a live migration under the traffic, then a\n"
		"                        check of the dirty log: logging on after a quarter of\n"
		"                        --count (sent; rx-only: received) or --seconds (per\n"
		"                        queue pair: SET_LOG_BASE of one log, SET_FEATURES with\n"
		"                        LOG_ALL, SET_VRING_ADDR with LOG), syncs (read and clear\n"
		"                        the log) meanwhile, the rings stopped (GET_VRING_BASE), a\n"
		"                        final sync: every page the device wrote (RX buffers, used\n"
		"                        rings) must have been found set by a sync after the\n"
		"                        write. Needs LOG_ALL and LOG_SHMFD; a backend disconnect\n"
		"                        fails it\n"
		"  --log-at N            with --log-check: logging on after N frames (0: before\n"
		"                        any traffic, so rates are those of a logging device)\n"
		"  --log-syncs N         with --log-check: syncs under traffic (default 4, max 64)\n"
		"  --log-toggle          with --log-check: LOG_ALL off at half (a cancelled\n"
		"                        migration), on again at three quarters (a retry); the\n"
		"                        check covers what was written after the retry\n"
		"  --log-retry           --log-toggle, the retry with a new log as QEMU makes it\n"
		"                        (SET_LOG_BASE again per pair, on a new memfd)\n"
		"  --max-lost N          rx-only: up to N frames may be missing (a device reset\n"
		"                        on the sending side of the wire drops what arrives)\n"
		"block (vhost-user-blk; --queues counts request queues):\n"
		"  --blk                 drive a virtio-blk device: negotiates the VIRTIO_BLK\n"
		"                        features offered and CONFIG, reads the config\n"
		"                        (GET_CONFIG), runs the load below\n"
		"  --rw MODE             read|write|randread|randwrite|randrw|rw (default read)\n"
		"  --rwmix N             randrw, rw: percent of requests that read (default 50)\n"
		"  --bs SIZE             bytes per request, a multiple of 512 and of the\n"
		"                        device's block size: 4k, 1m, ... (default 4k)\n"
		"  --seg-size SIZE       split the data in segments of SIZE (default: as large as\n"
		"                        size_max and seg_max allow)\n"
		"  --iodepth N           requests in flight per queue (default 1)\n"
		"  --count N | --time S  requests in all, or seconds (default: one pass over the\n"
		"                        span; --seconds is --time)\n"
		"  --offset SIZE         first byte of the range used (default 0)\n"
		"  --span SIZE           bytes of the range used (default: to the end)\n"
		"  --seed N              pattern and offset seed (default 1)\n"
		"  --verify | --no-verify  every written sector carries {magic, seed, LBA,\n"
		"                        generation, check, seeded fill}; every read is checked\n"
		"                        against the last write of this run (default on)\n"
		"  --verify-fill SEED    also check the sectors this run did not write: they hold\n"
		"                        the pattern of an earlier --rw write run with --seed SEED\n"
		"                        (any generation)\n"
		"  --fsync N             a FLUSH after every N writes completed on a queue, and\n"
		"                        one at the end\n"
		"  --blk-bad KIND[,KIND] malformed or optional requests, each followed by a\n"
		"                        normal write and read: past-end, no-status,\n"
		"                        too-many-segs, ro-write, unknown-type, get-id, discard,\n"
		"                        write-zeroes, or all (they write at --offset)\n"
		"  --bad-timeout MS      --blk-bad: wait for one request (default 2000)\n"
		"output:\n"
		"  --json                also print one JSON line with the results (net: with\n"
		"                        start_ack_us, the last start message sent -> its ack, and\n"
		"                        start_first_rx_us, -> the first good frame back)\n"
		"  -v | -q               more / less logging\n"
		"exit status: 0 when negotiation succeeded and all traffic verified (--blk: every\n"
		"request completed with status OK and every read verified; --blk-bad: every\n"
		"kind answered as the spec says and the device served normal I/O after it).\n"
		"--blk prints a line per queue and a summary for scripts:\n"
		"  blk: rw=randread bs=4096 qd=32 queues=1 ios=.. reads=.. writes=.. flushes=..\n"
		"       seconds=.. iops=.. mbps=.. lat_avg_us=.. lat_p50_us=.. lat_p99_us=..\n"
		"       lat_p999_us=.. lat_max_us=.. errors=0 bad_sectors=0 verified=..\n"
		"       unverified=.. len_mismatch=.. tag=0x.. result=PASS\n"
		"  (mbps: 10^6 bytes per second; verified: sectors read and checked; tag: the high\n"
		"  half of the generation this run writes)\n");
}

enum {
	OPT_SOCKET = 256, OPT_SERVER, OPT_TIMEOUT, OPT_REPLY_TIMEOUT, OPT_NO_RECONNECT,
	OPT_QUEUES, OPT_QSIZE, OPT_LEGACY, OPT_NO_MRG, OPT_NO_EVENT_IDX, OPT_FEATURES,
	OPT_PFEATURES, OPT_NO_REPLY_ACK, OPT_NO_STATUS, OPT_IRQ, OPT_MEM_MB, OPT_REGIONS,
	OPT_MEM_SLOTS, OPT_MEM_REPLUG, OPT_COUNT, OPT_SECONDS, OPT_SIZE, OPT_TX_ONLY,
	OPT_RX_ONLY, OPT_NO_VERIFY, OPT_SPLIT_HDR, OPT_RX_BUF, OPT_WINDOW, OPT_BURST, OPT_PPS,
	OPT_DRAIN, OPT_NEGOTIATE_ONLY, OPT_RECONNECT_TEST, OPT_JSON, OPT_HELP, OPT_LOG_CHECK,
	OPT_LOG_TOGGLE, OPT_LOG_AT, OPT_LOG_RETRY, OPT_LOG_SYNCS, OPT_MAX_LOST,
	OPT_BLK, OPT_RW, OPT_RWMIX, OPT_BS, OPT_SEG_SIZE, OPT_IODEPTH, OPT_TIME, OPT_OFFSET,
	OPT_SPAN, OPT_SEED, OPT_VERIFY, OPT_VERIFY_FILL, OPT_FSYNC, OPT_BLK_BAD, OPT_BAD_TIMEOUT,
};

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "server", no_argument, NULL, OPT_SERVER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "reply-timeout", required_argument, NULL, OPT_REPLY_TIMEOUT },
	{ "no-reconnect", no_argument, NULL, OPT_NO_RECONNECT },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "qsize", required_argument, NULL, OPT_QSIZE },
	{ "legacy", no_argument, NULL, OPT_LEGACY },
	{ "no-mrg-rxbuf", no_argument, NULL, OPT_NO_MRG },
	{ "no-event-idx", no_argument, NULL, OPT_NO_EVENT_IDX },
	{ "features", required_argument, NULL, OPT_FEATURES },
	{ "protocol-features", required_argument, NULL, OPT_PFEATURES },
	{ "no-reply-ack", no_argument, NULL, OPT_NO_REPLY_ACK },
	{ "no-status", no_argument, NULL, OPT_NO_STATUS },
	{ "irq", no_argument, NULL, OPT_IRQ },
	{ "mem-mb", required_argument, NULL, OPT_MEM_MB },
	{ "regions", required_argument, NULL, OPT_REGIONS },
	{ "mem-slots", no_argument, NULL, OPT_MEM_SLOTS },
	{ "mem-replug", no_argument, NULL, OPT_MEM_REPLUG },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "tx-only", no_argument, NULL, OPT_TX_ONLY },
	{ "rx-only", no_argument, NULL, OPT_RX_ONLY },
	{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
	{ "split-hdr", no_argument, NULL, OPT_SPLIT_HDR },
	{ "rx-buf-size", required_argument, NULL, OPT_RX_BUF },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "pps", required_argument, NULL, OPT_PPS },
	{ "drain-ms", required_argument, NULL, OPT_DRAIN },
	{ "negotiate-only", no_argument, NULL, OPT_NEGOTIATE_ONLY },
	{ "reconnect-test", no_argument, NULL, OPT_RECONNECT_TEST },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "log-check", no_argument, NULL, OPT_LOG_CHECK },
	{ "log-toggle", no_argument, NULL, OPT_LOG_TOGGLE },
	{ "log-at", required_argument, NULL, OPT_LOG_AT },
	{ "log-retry", no_argument, NULL, OPT_LOG_RETRY },
	{ "log-syncs", required_argument, NULL, OPT_LOG_SYNCS },
	{ "max-lost", required_argument, NULL, OPT_MAX_LOST },
	{ "blk", no_argument, NULL, OPT_BLK },
	{ "rw", required_argument, NULL, OPT_RW },
	{ "rwmix", required_argument, NULL, OPT_RWMIX },
	{ "bs", required_argument, NULL, OPT_BS },
	{ "seg-size", required_argument, NULL, OPT_SEG_SIZE },
	{ "iodepth", required_argument, NULL, OPT_IODEPTH },
	{ "time", required_argument, NULL, OPT_TIME },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "span", required_argument, NULL, OPT_SPAN },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "verify-fill", required_argument, NULL, OPT_VERIFY_FILL },
	{ "fsync", required_argument, NULL, OPT_FSYNC },
	{ "blk-bad", required_argument, NULL, OPT_BLK_BAD },
	{ "bad-timeout", required_argument, NULL, OPT_BAD_TIMEOUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int parse_u64(const char *name, const char *s, int base, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	if (uvdpa_parse_u64(s, base, min, max, out) < 0) {
		fprintf(stderr, "uvdpa-frontend: --%s %s: expected a number in %" PRIu64
			"..%" PRIu64 "\n", name, s, min, max);
		return -EINVAL;
	}
	return 0;
}

/* A size with an optional k/m/g/t suffix, a multiple of align, in [min, max]. */
static int parse_bytes(const char *name, const char *s, uint64_t align, uint64_t min,
		       uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (uvdpa_parse_size(s, &v) < 0 || v < min || v > max || v % align) {
		fprintf(stderr, "uvdpa-frontend: --%s %s: expected a size (bytes, or with k, m, g) "
			"in %" PRIu64 "..%" PRIu64 ", a multiple of %" PRIu64 "\n", name, s, min,
			max, align);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* "past-end,get-id" or "all" into the --blk-bad list. */
static int parse_bad_kinds(const char *s, struct blk_options *b)
{
	char buf[256], *save = NULL, *tok;

	if (strcmp(s, "all") == 0) {
		for (unsigned int i = 0; i < FE_BLK_BAD_KINDS; i++)
			b->bad[i] = (enum fe_blk_bad_kind)i;
		b->nbad = FE_BLK_BAD_KINDS;
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum fe_blk_bad_kind k;

		if (fe_blk_bad_parse(tok, &k) < 0 || b->nbad == FE_BLK_BAD_KINDS) {
			fprintf(stderr, "uvdpa-frontend: --blk-bad %s: unknown kind '%s' (past-end, "
				"no-status, too-many-segs, ro-write, unknown-type, get-id, discard, "
				"write-zeroes, all)\n", s, tok);
			return -EINVAL;
		}
		b->bad[b->nbad++] = k;
	}
	return b->nbad ? 0 : -EINVAL;
}

/* The block-only options. 1 when c was one of them, 0 when not, <0 bad. */
static int parse_blk_opt(int c, const char *arg, struct options *o)
{
	struct fe_blk_config *l = &o->blko.load;
	uint64_t v;

	switch (c) {
	case OPT_RW:
		if (fe_blk_rw_parse(arg, &l->rw) < 0) {
			fprintf(stderr, "uvdpa-frontend: --rw %s: use read, write, randread, "
				"randwrite, randrw or rw\n", arg);
			return -EINVAL;
		}
		break;
	case OPT_RWMIX:
		if (parse_u64("rwmix", arg, 10, 0, 100, &v))
			return -EINVAL;
		l->rwmix_read = (unsigned int)v;
		break;
	case OPT_BS:
		if (parse_bytes("bs", arg, FE_BLK_SECTOR, FE_BLK_SECTOR, 64u << 20, &v))
			return -EINVAL;
		l->bs = (uint32_t)v;
		break;
	case OPT_SEG_SIZE:
		if (parse_bytes("seg-size", arg, FE_BLK_SECTOR, FE_BLK_SECTOR, 64u << 20, &v))
			return -EINVAL;
		l->seg_size = (uint32_t)v;
		break;
	case OPT_IODEPTH:
		if (parse_u64("iodepth", arg, 10, 1, FE_MAX_QUEUE_SIZE, &v))
			return -EINVAL;
		l->iodepth = (unsigned int)v;
		break;
	case OPT_OFFSET:
		return parse_bytes("offset", arg, FE_BLK_SECTOR, 0, UINT64_MAX, &l->offset) ? -EINVAL
											     : 1;
	case OPT_SPAN:
		return parse_bytes("span", arg, FE_BLK_SECTOR, FE_BLK_SECTOR, UINT64_MAX, &l->span) ?
		       -EINVAL : 1;
	case OPT_SEED:
	case OPT_VERIFY_FILL:
		if (parse_u64(c == OPT_SEED ? "seed" : "verify-fill", arg, 0, 0, UINT32_MAX, &v))
			return -EINVAL;
		if (c == OPT_SEED) {
			l->seed = (uint32_t)v;
		} else {
			l->fill_seed = (uint32_t)v;
			l->verify_fill = true;
		}
		break;
	case OPT_FSYNC:
		return parse_u64("fsync", arg, 10, 1, UINT64_MAX, &l->fsync_every) ? -EINVAL : 1;
	case OPT_BAD_TIMEOUT:
		if (parse_u64("bad-timeout", arg, 10, 1, 600000, &v))
			return -EINVAL;
		l->bad_timeout_ms = (int)v;
		break;
	case OPT_BLK_BAD:
		return parse_bad_kinds(arg, &o->blko) < 0 ? -EINVAL : 1;
	case OPT_VERIFY:
		o->net.verify = true;
		break;
	default:
		return 0;
	}
	return 1;
}

/* What --blk accepts of the rest, and its defaults. */
static int finish_blk_args(struct options *o)
{
	struct fe_blk_config *l = &o->blko.load;

	if (!o->blk) {
		if (o->blk_opt) {
			fprintf(stderr, "uvdpa-frontend: --rw, --bs, --iodepth, --blk-bad, ... need "
				"--blk\n");
			return -EINVAL;
		}
		return 0;
	}
	if (o->log_check || o->negotiate_only || o->reconnect_test || o->mem_replug ||
	    o->dev.irq || o->legacy || o->no_mrg || !o->net.tx || !o->net.rx) {
		fprintf(stderr, "uvdpa-frontend: --blk runs polled on a modern device: no "
			"--log-check, --negotiate-only, --reconnect-test, --mem-replug, --irq, "
			"--legacy, --no-mrg-rxbuf, --tx-only or --rx-only\n");
		return -EINVAL;
	}
	if (o->count && o->seconds > 0) {
		fprintf(stderr, "uvdpa-frontend: --count and --time exclude each other\n");
		return -EINVAL;
	}
	if (l->verify_fill && !o->net.verify) {
		fprintf(stderr, "uvdpa-frontend: --verify-fill checks what is read: not with "
			"--no-verify\n");
		return -EINVAL;
	}
	if (l->seg_size && l->seg_size > l->bs) {
		fprintf(stderr, "uvdpa-frontend: --seg-size is larger than --bs\n");
		return -EINVAL;
	}
	l->count = o->count;
	l->seconds = o->seconds;
	l->verify = o->net.verify;
	o->blko.json = o->json;
	o->dev.kind = FE_DEV_BLK;
	if (!o->qsize_set) {
		/* Room for iodepth requests of a few segments and for the
		 * too-many-segs check of a QEMU-like seg_max of 126. */
		unsigned int need = l->iodepth * 4u, qs = 256;

		while (qs < need && qs < FE_MAX_QUEUE_SIZE)
			qs *= 2;
		o->dev.queue_size = (uint16_t)qs;
	}
	if (!o->mem_set)
		o->mem_mb = (unsigned int)((fe_blk_mem_bytes(l, o->dev.queue_pairs,
							     o->dev.queue_size) +
					    (uint64_t)o->dev.mem_regions * 2 * l->bs +
					    (1u << 20) - 1) >> 20);
	return 0;
}

static int parse_size(const char *s, uint32_t *min, uint32_t *max)
{
	const char *dash = strchr(s, '-');
	uint64_t a, b;
	char first[32];

	if (!dash) {
		if (parse_u64("size", s, 10, FE_FRAME_MIN, FE_FRAME_MAX, &a))
			return -EINVAL;
		*min = *max = (uint32_t)a;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(first))
		return -EINVAL;
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	if (parse_u64("size", first, 10, FE_FRAME_MIN, FE_FRAME_MAX, &a) ||
	    parse_u64("size", dash + 1, 10, FE_FRAME_MIN, FE_FRAME_MAX, &b))
		return -EINVAL;
	if (a > b) {
		fprintf(stderr, "uvdpa-frontend: --size %s: MIN above MAX\n", s);
		return -EINVAL;
	}
	*min = (uint32_t)a;
	*max = (uint32_t)b;
	return 0;
}

static const char *log_step_name(enum log_step_kind k)
{
	switch (k) {
	case LOG_STEP_START: return "logging on";
	case LOG_STEP_SYNC: return "sync";
	case LOG_STEP_STOP: return "logging off";
	case LOG_STEP_RESTART: return "logging on again";
	}
	return "?";
}

static void plan_add(struct log_plan *p, enum log_step_kind kind, double at)
{
	p->steps[p->n++] = (struct log_step){ kind, at };
}

/* n syncs spread evenly over the logged stretch [from, to). */
static void plan_syncs(struct log_plan *p, unsigned int n, double from, double to)
{
	for (unsigned int k = 1; k <= n; k++)
		plan_add(p, LOG_STEP_SYNC, from + (to - from) * k / (n + 1));
}

static void log_plan_build(struct options *o)
{
	struct log_plan *p = &o->plan;
	bool toggle = o->log_toggle || o->log_retry;
	double start = 0.25;
	unsigned int first = toggle ? (o->log_syncs + 1) / 2 : o->log_syncs;

	memset(p, 0, sizeof(*p));
	if (o->count || o->log_at_set) {
		p->start_by_frames = true;
		p->start_frames = o->log_at_set ? o->log_at : o->count / 4;
		start = o->count ? (double)p->start_frames / (double)o->count : 0;
	}
	plan_add(p, LOG_STEP_START, start);
	plan_syncs(p, first, start, toggle ? 0.5 : 1.0);
	if (toggle) {
		plan_add(p, LOG_STEP_STOP, 0.5);
		plan_add(p, LOG_STEP_RESTART, 0.75);
		plan_syncs(p, o->log_syncs - first, 0.75, 1.0);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool log_step_due(const struct options *o, const struct log_step *st, uint64_t sent)
{
	double progress;

	if (st->kind == LOG_STEP_START && o->plan.start_by_frames)
		return sent >= o->plan.start_frames;
	if (o->count)
		progress = (double)sent / (double)o->count;
	else
		progress = o->plan.t0_ns ? (double)(mono_ns() - o->plan.t0_ns) / 1e9 / o->seconds : 0;
	return progress >= st->at;
}

static int log_step_run(struct options *o, const struct log_step *st)
{
	switch (st->kind) {
	case LOG_STEP_START:
		return fe_log_start(o->devp, true);
	case LOG_STEP_SYNC:
		fe_log_sync(&o->devp->log);
		return 0;
	case LOG_STEP_STOP:
		return fe_log_stop(o->devp);
	case LOG_STEP_RESTART:
		return fe_log_start(o->devp, o->log_retry);
	}
	return -EINVAL;
}

/* The traffic tick: runs every step whose time came, in order. */
static int log_tick(void *arg, uint64_t sent)
{
	struct options *o = arg;
	struct log_plan *p = &o->plan;

	while (p->done < p->n && log_step_due(o, &p->steps[p->done], sent)) {
		int r = log_step_run(o, &p->steps[p->done]);

		if (r < 0) {
			LOG_ERR(TAG, "dirty logging: %s (after %" PRIu64 " frames) failed: %s",
				log_step_name(p->steps[p->done].kind), sent, strerror(-r));
			o->log_error = r;
			snprintf(o->log_error_why, sizeof(o->log_error_why),
				 "dirty logging: %s failed at the backend (%s)",
				 log_step_name(p->steps[p->done].kind), strerror(-r));
			return r;
		}
		LOG_DEBUG(TAG, "dirty logging: %s after %" PRIu64 " frames",
			  log_step_name(p->steps[p->done].kind), sent);
		p->done++;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum uvdpa_log_level level = UVDPA_LOG_INFO;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->dev.queue_pairs = 1;
	o->dev.queue_size = 256;
	o->dev.need_reply = true;
	o->dev.set_status = true;
	o->dev.mem_regions = 1;
	o->mem_mb = 64;
	o->timeout_s = 10;
	o->dev.reply_timeout_ms = 5000;
	o->net.min_size = o->net.max_size = 64;
	o->net.tx = o->net.rx = true;
	o->net.verify = true;
	o->net.reconnect = true;
	o->net.drain_ms = 2000;
	o->log_syncs = 4;
	o->blko.load.rw = FE_BLK_RW_READ;
	o->blko.load.rwmix_read = 50;
	o->blko.load.bs = 4096;
	o->blko.load.iodepth = 1;
	o->blko.load.seed = 1;

	while ((c = getopt_long(argc, argv, "vqh", long_opts, NULL)) != -1) {
		int b = parse_blk_opt(c, optarg, o);

		if (b < 0)
			return b;
		if (b) {
			o->blk_opt |= c != OPT_VERIFY;
			continue;
		}
		switch (c) {
		case OPT_BLK: o->blk = true; break;
		case OPT_SOCKET: o->dev.socket_path = optarg; break;
		case OPT_SERVER: o->dev.server = true; break;
		case OPT_TIMEOUT:
			if (parse_u64("timeout", optarg, 10, 0, 86400, &v))
				return -EINVAL;
			o->timeout_s = (int)v;
			break;
		case OPT_REPLY_TIMEOUT:
			if (parse_u64("reply-timeout", optarg, 10, 1, 3600000, &v))
				return -EINVAL;
			o->dev.reply_timeout_ms = (int)v;
			break;
		case OPT_NO_RECONNECT: o->net.reconnect = false; break;
		case OPT_QUEUES:
			if (parse_u64("queues", optarg, 10, 1, FE_MAX_QUEUE_PAIRS, &v))
				return -EINVAL;
			o->dev.queue_pairs = (unsigned int)v;
			break;
		case OPT_QSIZE:
			if (parse_u64("qsize", optarg, 10, 2, FE_MAX_QUEUE_SIZE, &v) ||
			    (v & (v - 1))) {
				fprintf(stderr, "uvdpa-frontend: --qsize must be a power of two "
					"in 2..%d\n", FE_MAX_QUEUE_SIZE);
				return -EINVAL;
			}
			o->dev.queue_size = (uint16_t)v;
			o->qsize_set = true;
			break;
		case OPT_LEGACY: o->legacy = true; break;
		case OPT_NO_MRG: o->no_mrg = true; break;
		case OPT_NO_EVENT_IDX: o->no_event_idx = true; break;
		case OPT_FEATURES:
			if (parse_u64("features", optarg, 16, 0, UINT64_MAX, &o->features))
				return -EINVAL;
			o->features_set = true;
			break;
		case OPT_PFEATURES:
			if (parse_u64("protocol-features", optarg, 16, 0, UINT64_MAX,
				      &o->protocol_features))
				return -EINVAL;
			o->pf_set = true;
			break;
		case OPT_NO_REPLY_ACK: o->no_reply_ack = true; break;
		case OPT_NO_STATUS: o->dev.set_status = false; break;
		case OPT_IRQ: o->dev.irq = true; break;
		case OPT_MEM_MB:
			if (parse_u64("mem-mb", optarg, 10, 1, 65536, &v))
				return -EINVAL;
			o->mem_mb = (unsigned int)v;
			o->mem_set = true;
			break;
		case OPT_REGIONS:
			if (parse_u64("regions", optarg, 10, 1, FE_MAX_REGIONS, &v))
				return -EINVAL;
			o->dev.mem_regions = (unsigned int)v;
			break;
		case OPT_MEM_SLOTS: o->dev.mem_slots = true; break;
		case OPT_MEM_REPLUG: o->mem_replug = true; break;
		case OPT_COUNT:
			if (parse_u64("count", optarg, 10, 1, UINT64_MAX / 2, &o->count))
				return -EINVAL;
			break;
		case OPT_SECONDS:
		case OPT_TIME: {
			char *end;

			o->seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(o->seconds >= 0) || o->seconds > 86400) {
				fprintf(stderr, "uvdpa-frontend: --seconds %s: expected 0..86400\n",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case OPT_SIZE:
			if (parse_size(optarg, &o->net.min_size, &o->net.max_size))
				return -EINVAL;
			break;
		case OPT_TX_ONLY: o->net.rx = false; o->net.tx = true; break;
		case OPT_RX_ONLY: o->net.tx = false; o->net.rx = true; break;
		case OPT_NO_VERIFY: o->net.verify = false; break;
		case OPT_SPLIT_HDR: o->net.split_hdr = true; break;
		case OPT_RX_BUF:
			if (parse_u64("rx-buf-size", optarg, 10, 64, 65536, &v))
				return -EINVAL;
			o->net.rx_buf_size = (uint32_t)v;
			break;
		case OPT_WINDOW:
			if (parse_u64("window", optarg, 10, 1, FE_MAX_QUEUE_SIZE, &v))
				return -EINVAL;
			o->net.window = (unsigned int)v;
			break;
		case OPT_BURST:
			if (parse_u64("burst", optarg, 10, 1, 1024, &v))
				return -EINVAL;
			o->net.burst = (unsigned int)v;
			break;
		case OPT_PPS:
			if (parse_u64("pps", optarg, 10, 1, 1000000000, &v))
				return -EINVAL;
			o->net.pps = v;
			break;
		case OPT_DRAIN:
			if (parse_u64("drain-ms", optarg, 10, 1, 600000, &v))
				return -EINVAL;
			o->net.drain_ms = (int)v;
			break;
		case OPT_NEGOTIATE_ONLY: o->negotiate_only = true; break;
		case OPT_RECONNECT_TEST: o->reconnect_test = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_LOG_CHECK: o->log_check = true; break;
		case OPT_LOG_TOGGLE: o->log_toggle = true; break;
		case OPT_LOG_RETRY: o->log_retry = true; break;
		case OPT_LOG_SYNCS:
			if (parse_u64("log-syncs", optarg, 10, 0, LOG_SYNCS_MAX, &v) < 0)
				return -EINVAL;
			o->log_syncs = (unsigned int)v;
			o->log_syncs_set = true;
			break;
		case OPT_MAX_LOST:
			if (parse_u64("max-lost", optarg, 10, 0, UINT64_MAX, &o->net.max_lost) < 0)
				return -EINVAL;
			break;
		case OPT_LOG_AT:
			if (parse_u64("log-at", optarg, 10, 0, UINT64_MAX, &o->log_at) < 0)
				return -EINVAL;
			o->log_at_set = true;
			break;
		case 'v': level = UVDPA_LOG_DEBUG; break;
		case 'q': level = UVDPA_LOG_WARN; break;
		case 'h':
		case OPT_HELP: usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	uvdpa_log_set_level(level);
	if (optind != argc) {
		fprintf(stderr, "uvdpa-frontend: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->dev.socket_path) {
		fprintf(stderr, "uvdpa-frontend: --socket PATH is required\n");
		return -EINVAL;
	}
	if (finish_blk_args(o) < 0)
		return -EINVAL;
	if (!o->blk && !o->negotiate_only && !o->count && o->seconds <= 0) {
		fprintf(stderr, "uvdpa-frontend: give --count N or --seconds S "
			"(or --negotiate-only)\n");
		return -EINVAL;
	}
	if (o->count && o->seconds > 0 && !o->negotiate_only) {
		fprintf(stderr, "uvdpa-frontend: --count and --seconds exclude each other\n");
		return -EINVAL;
	}
	if (o->mem_replug && (!o->dev.mem_slots || o->dev.mem_regions < 2)) {
		fprintf(stderr, "uvdpa-frontend: --mem-replug needs --mem-slots and "
			"--regions >= 2\n");
		return -EINVAL;
	}
	if (o->log_check && ((o->count && o->count < 8) || o->negotiate_only ||
			     o->reconnect_test || o->mem_replug || !o->net.rx)) {
		fprintf(stderr, "uvdpa-frontend: --log-check needs received traffic (loopback or "
			"--rx-only), --seconds or --count >= 8 (no --negotiate-only, "
			"--reconnect-test, --mem-replug, --tx-only)\n");
		return -EINVAL;
	}
	if (o->net.max_lost && o->net.tx) {
		fprintf(stderr, "uvdpa-frontend: --max-lost is for --rx-only (in loopback nothing "
			"may be lost)\n");
		return -EINVAL;
	}
	if ((o->log_toggle || o->log_retry || o->log_at_set || o->log_syncs_set) &&
	    !o->log_check) {
		fprintf(stderr, "uvdpa-frontend: --log-toggle, --log-retry, --log-at and "
			"--log-syncs need --log-check\n");
		return -EINVAL;
	}
	if (o->log_at_set && o->count &&
	    o->log_at >= ((o->log_toggle || o->log_retry) ? o->count / 2 : o->count)) {
		fprintf(stderr, "uvdpa-frontend: --log-at must be below --count%s\n",
			(o->log_toggle || o->log_retry) ? " / 2 (logging goes off there)" : "");
		return -EINVAL;
	}
	if (o->reconnect_test && o->count == 1 && !o->negotiate_only) {
		fprintf(stderr, "uvdpa-frontend: --reconnect-test needs --count >= 2\n");
		return -EINVAL;
	}

	o->dev.connect_timeout_ms = o->timeout_s * 1000;
	o->dev.mem_size = (uint64_t)o->mem_mb << 20;
	o->dev.features = o->features_set ? o->features :
			  o->blk ? fe_blk_default_features() : fe_default_features(o->dev.queue_pairs);
	if (o->legacy)
		o->dev.features &= ~BIT(VIRTIO_F_VERSION_1);
	if (o->no_mrg)
		o->dev.features &= ~BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (o->no_event_idx)
		o->dev.features &= ~BIT(VIRTIO_RING_F_EVENT_IDX);
	o->dev.protocol_features = o->pf_set ? o->protocol_features :
				   o->blk ? fe_blk_default_protocol_features() :
				   fe_default_protocol_features();
	if (o->log_check && !o->pf_set)
		o->dev.protocol_features |= BIT(UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD);
	if (o->log_check) {
		log_plan_build(o);
		o->net.tick = log_tick;
		o->net.tick_arg = o;
		o->net.tick_every = o->count ? (o->count / 4096 ? o->count / 4096 : 1) : 0;
		o->net.tick_ms = o->count ? 0 : 2;
		/* A migration does not survive the backend leaving. */
		o->net.reconnect = false;
	}
	if (o->no_reply_ack) {
		o->dev.protocol_features &= ~BIT(UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK);
		o->dev.need_reply = false;
	}
	o->net.count = o->count;
	o->net.seconds = o->seconds;
	return 0;
}

/* Every ring's stop base must lie between what the device marked used and
 * what we made available; anything else means the backend lost track. */
static unsigned int check_ring_bases(const struct fe_dev *dev)
{
	unsigned int i, bad = 0;

	for (i = 0; i < dev->nvrings; i++) {
		const struct virtq_driver *vq = &dev->vrings[i].vq;
		uint16_t used = virtq_drv_device_used_idx(vq);
		uint16_t base = (uint16_t)dev->vrings[i].stop_base;

		if ((uint16_t)(base - used) > (uint16_t)(vq->avail_idx - used)) {
			LOG_WARN(TAG, "vring %u stopped at base %u outside used %u .. avail %u", i,
				 base, used, vq->avail_idx);
			bad++;
		}
	}
	return bad;
}

static int hold(struct fe_dev *dev, double seconds, bool reconnect)
{
	int64_t end_ms = (int64_t)(seconds * 1000);
	int64_t waited = 0;

	while (waited < end_ms) {
		int slice = end_ms - waited > 100 ? 100 : (int)(end_ms - waited);
		int r = fe_conn_poll(&dev->conn, slice);

		waited += slice;
		if (r == -ECONNRESET) {
			LOG_WARN(TAG, "backend disconnected");
			dev->backend_disconnects++;
			if (!reconnect)
				return r;
			r = fe_dev_reconnect(dev);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static double rate(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

/* One line per queue pair, so a test can check each pair's share:
 * "queue P: tx N frames B bytes, rx N frames B bytes, kicks tx K rx K
 *  (notifier page tx K rx K), calls tx C rx C, catch-ups tx X rx X". */
static void report_queues_text(const struct fe_net *net, unsigned int nq)
{
	struct fe_net_queue_stats qs;
	unsigned int i;

	for (i = 0; i < nq && fe_net_get_queue_stats(net, i, &qs) == 0; i++)
		printf("queue %u: tx %" PRIu64 " frames %" PRIu64 " bytes, rx %" PRIu64
		       " frames %" PRIu64 " bytes, kicks tx %" PRIu64 " rx %" PRIu64
		       " (notifier page tx %" PRIu64 " rx %" PRIu64 "), calls tx %" PRIu64
		       " rx %" PRIu64 ", catch-ups tx %" PRIu64 " rx %" PRIu64 "\n", i, qs.tx_pkts,
		       qs.tx_bytes, qs.rx_pkts, qs.rx_bytes, qs.tx_kicks, qs.rx_kicks,
		       qs.tx_notifier_kicks, qs.rx_notifier_kicks, qs.tx_calls, qs.rx_calls,
		       qs.tx_catchups, qs.rx_catchups);
}

/* One line per vring (RX = 2P, TX = 2P + 1): how its kicks reached the
 * device (eventfd, or the doorbell page of a host notifier) and the
 * interrupts it received: "vring N: kicks K (eventfd E, notifier-page P),
 * interrupts I". */
static void print_vring(unsigned int idx, uint64_t kicks, uint64_t page, uint64_t calls)
{
	printf("vring %u: kicks %" PRIu64 " (eventfd %" PRIu64 ", notifier-page %" PRIu64
	       "), interrupts %" PRIu64 "\n", idx, kicks, kicks - page, page, calls);
}

static void report_vrings_text(const struct fe_net *net, unsigned int nq)
{
	struct fe_net_queue_stats qs;

	for (unsigned int i = 0; i < nq && fe_net_get_queue_stats(net, i, &qs) == 0; i++) {
		print_vring(2 * i, qs.rx_kicks, qs.rx_notifier_kicks, qs.rx_calls);
		print_vring(2 * i + 1, qs.tx_kicks, qs.tx_notifier_kicks, qs.tx_calls);
	}
}

/* The same as a JSON array member of the summary line. Keys carry a q_
 * prefix so a flat "key": search on the line still finds the totals. */
static void report_queues_json(const struct fe_net *net, unsigned int nq)
{
	struct fe_net_queue_stats qs;
	unsigned int i;

	printf(",\"per_queue\":[");
	for (i = 0; net && i < nq && fe_net_get_queue_stats(net, i, &qs) == 0; i++)
		printf("%s{\"q_pair\":%u,\"q_tx_pkts\":%" PRIu64 ",\"q_tx_bytes\":%" PRIu64
		       ",\"q_rx_pkts\":%" PRIu64 ",\"q_rx_bytes\":%" PRIu64
		       ",\"q_tx_kicks\":%" PRIu64 ",\"q_rx_kicks\":%" PRIu64
		       ",\"q_tx_notifier_kicks\":%" PRIu64 ",\"q_rx_notifier_kicks\":%" PRIu64
		       ",\"q_tx_calls\":%" PRIu64 ",\"q_rx_calls\":%" PRIu64
		       ",\"q_tx_catchups\":%" PRIu64 ",\"q_rx_catchups\":%" PRIu64 "}",
		       i ? "," : "", i, qs.tx_pkts, qs.tx_bytes, qs.rx_pkts, qs.rx_bytes,
		       qs.tx_kicks, qs.rx_kicks, qs.tx_notifier_kicks, qs.rx_notifier_kicks, qs.tx_calls, qs.rx_calls, qs.tx_catchups,
		       qs.rx_catchups);
	printf("]");
}

/* "dirty log: pages written N, logged L, missing M ..." and, when pages
 * are missing, one line for each of the first ones. */
static void report_log_text(const struct options *o, const struct fe_dev *dev)
{
	const struct fe_log_result *lr = &o->logres;

	if (!o->log_checked) {
		printf("dirty log: not checked (the run ended before the final sync); %u SET_LOG_BASE,"
		       " %u syncs, %u LOG_ALL switches\n", dev->log.base_messages, dev->log.syncs,
		       dev->log.changes);
		return;
	}
	printf("dirty log: pages written %" PRIu64 ", logged %" PRIu64 ", missing %" PRIu64
	       " (%" PRIu64 " of them set only before the write); %u SET_LOG_BASE for %u log(s),"
	       " %u syncs, %u LOG_ALL switches\n", lr->pages_written, lr->pages_logged,
	       lr->pages_missing, lr->pages_stale, dev->log.base_messages, dev->log.logs,
	       dev->log.syncs, dev->log.changes);
	for (unsigned int i = 0; i < lr->pages_missing && i < FE_LOG_SHOW_MISSING; i++)
		printf("dirty log: page 0x%" PRIx64 " written, not logged%s\n", lr->first_missing[i],
		       lr->first_stale[i] ? " (set only before the write)" : "");
}

/* The last start from this side: its last message (the one that made the
 * device startable) sent -> the backend's ack (uvdpa acks once the device
 * runs), and -> the first good frame back (first session only: later
 * sessions start from frames already flowing). */
static void report_start_json(const struct fe_dev *dev, const struct fe_net_stats *st)
{
	if (!dev->start_sent_ns)
		return;
	if (dev->start_reply_ns)
		printf(",\"start_ack_us\":%" PRIu64, (dev->start_reply_ns - dev->start_sent_ns) / 1000);
	if (dev->sessions == 1 && st->first_rx_ns > dev->start_sent_ns)
		printf(",\"start_first_rx_us\":%" PRIu64,
		       (st->first_rx_ns - dev->start_sent_ns) / 1000);
}

static void report(const struct options *o, const struct fe_dev *dev, const struct fe_net *net,
		   unsigned int base_errors, bool pass, const char *why)
{
	struct fe_net_stats st;
	char fstr[512];
	double tx_pps, rx_pps, tx_gbps, rx_gbps;

	memset(&st, 0, sizeof(st));
	if (net)
		fe_net_get_stats(net, &st);
	tx_pps = rate(st.tx_pkts, st.tx_ns);
	rx_pps = rate(st.rx_pkts, st.rx_ns);
	tx_gbps = rate(st.tx_bytes * 8, st.tx_ns) / 1e9;
	rx_gbps = rate(st.rx_bytes * 8, st.rx_ns) / 1e9;
	fe_features_str(dev->features, fstr, sizeof(fstr));

	printf("features: 0x%016" PRIx64 " (%s)\n", dev->features, fstr);
	printf("protocol features: 0x%" PRIx64 " (backend offered 0x%" PRIx64 ")\n",
	       dev->protocol_features, dev->backend_protocol_features);
	printf("device: %u queue pair(s) x %u, net header %u bytes, %u memory region(s) via %s\n",
	       dev->cfg.queue_pairs, dev->cfg.queue_size, dev->net_hdr_len, dev->mem.nregions,
	       (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) ?
	       "ADD_MEM_REG" : "SET_MEM_TABLE");
	if (net && o->net.tx)
		printf("tx: %" PRIu64 " packets, %" PRIu64 " bytes, %.3f s, %.3f Mpps, %.3f Gbit/s\n",
		       st.tx_pkts, st.tx_bytes, (double)st.tx_ns / 1e9, tx_pps / 1e6, tx_gbps);
	if (net && o->net.rx)
		printf("rx: %" PRIu64 " good, %" PRIu64 " bad, %" PRIu64 " lost, %" PRIu64
		       " out of order, %" PRIu64 " bytes, %.3f s, %.3f Mpps, %.3f Gbit/s\n",
		       st.rx_pkts, st.rx_bad, st.rx_lost, st.rx_ooo, st.rx_bytes,
		       (double)st.rx_ns / 1e9, rx_pps / 1e6, rx_gbps);
	if (net)
		report_vrings_text(net, dev->cfg.queue_pairs);
	if (net)
		printf("rings: %" PRIu64 " kicks, %" PRIu64 " calls, %" PRIu64 " ring errors, "
		       "%u stop-base errors\n", st.kicks, st.calls, st.ring_errors, base_errors);
	if (net) {
		printf("completions: %s\n", dev->cfg.irq ?
		       "interrupts only (a ring is looked at after its call fired)" : "polled");
		report_queues_text(net, dev->cfg.queue_pairs);
	}
	printf("sessions: %u, backend disconnects %u, dropped at disconnect %" PRIu64 "\n",
	       dev->sessions, dev->backend_disconnects, st.reset_drops);
	printf("backend channel: %" PRIu64 " config change, %" PRIu64 " host notifier, %"
	       PRIu64 " other\n", dev->conn.backend.config_change, dev->conn.backend.host_notifier,
	       dev->conn.backend.unknown);
	if (o->log_check)
		report_log_text(o, dev);
	printf("result: %s%s%s\n", pass ? "PASS" : "FAIL", why ? ": " : "", why ? why : "");

	if (o->json) {
		printf("{\"result\":\"%s\",\"tx_pkts\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
		       ",\"rx_pkts\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"rx_bad\":%" PRIu64
		       ",\"rx_lost\":%" PRIu64 ",\"rx_ooo\":%" PRIu64 ",\"reset_drops\":%" PRIu64
		       ",\"tx_pps\":%.0f,\"rx_pps\":%.0f,\"tx_gbps\":%.3f,\"rx_gbps\":%.3f"
		       ",\"gbps\":%.3f,\"features\":\"0x%" PRIx64 "\",\"features_str\":\"%s\""
		       ",\"protocol_features\":\"0x%" PRIx64 "\",\"net_hdr_len\":%u"
		       ",\"queue_pairs\":%u,\"queue_size\":%u,\"regions\":%u,\"mem_slots\":%s"
		       ",\"sessions\":%u,\"reconnects\":%u,\"backend_disconnects\":%u"
		       ",\"config_change_msgs\":%" PRIu64 ",\"host_notifier_msgs\":%" PRIu64
		       ",\"kicks\":%" PRIu64 ",\"calls\":%" PRIu64 ",\"ring_errors\":%" PRIu64
		       ",\"stop_base_errors\":%u,\"irq_mode\":%s",
		       pass ? "pass" : "fail", st.tx_pkts, st.tx_bytes, st.rx_pkts, st.rx_bytes,
		       st.rx_bad, st.rx_lost, st.rx_ooo, st.reset_drops, tx_pps, rx_pps, tx_gbps,
		       rx_gbps, o->net.rx ? rx_gbps : tx_gbps, dev->features, fstr,
		       dev->protocol_features, dev->net_hdr_len, dev->cfg.queue_pairs,
		       dev->cfg.queue_size, dev->mem.nregions,
		       (dev->protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) ?
		       "true" : "false", dev->sessions, st.reconnects, dev->backend_disconnects,
		       dev->conn.backend.config_change, dev->conn.backend.host_notifier, st.kicks,
		       st.calls, st.ring_errors, base_errors, dev->cfg.irq ? "true" : "false");
		if (o->log_check)
			printf(",\"log_checked\":%s,\"log_base_messages\":%u,\"logs\":%u"
			       ",\"log_syncs\":%u,\"log_switches\":%u,\"pages_written\":%" PRIu64
			       ",\"pages_logged\":%" PRIu64 ",\"pages_missing\":%" PRIu64
			       ",\"pages_stale\":%" PRIu64, o->log_checked ? "true" : "false",
			       dev->log.base_messages, dev->log.logs, dev->log.syncs,
			       dev->log.changes, o->logres.pages_written, o->logres.pages_logged,
			       o->logres.pages_missing, o->logres.pages_stale);
		report_start_json(dev, &st);
		report_queues_json(net, dev->cfg.queue_pairs);
		printf("}\n");
	}
	fflush(stdout);
}

/* After phase gap: the memory replug first (when asked), then a full
 * session restart (when asked). */
static int between_phases(const struct options *o, struct fe_dev *dev, struct fe_net *net,
			  unsigned int gap, unsigned int *base_errors)
{
	bool replug = o->mem_replug && gap == 0;
	bool reconnect = o->reconnect_test && !replug;
	int r;

	if (replug) {
		unsigned int last = dev->mem.nregions - 1;

		LOG_INFO(TAG, "memory replug: removing and re-adding region %u", last);
		r = fe_dev_mem_remove_region(dev, last);
		if (r == 0)
			r = fe_dev_mem_add_region(dev, last);
		if (r < 0)
			return r;
	}
	if (reconnect) {
		LOG_INFO(TAG, "reconnect test: tearing the session down");
		r = fe_dev_stop(dev);
		if (r < 0)
			return r;
		*base_errors += check_ring_bases(dev);
		fe_dev_disconnect(dev);
		r = fe_dev_connect(dev);
		if (r == 0)
			r = fe_dev_negotiate(dev);
		if (r == 0 && net)
			r = fe_net_start(net);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Why the backend cannot be migrated, NULL when it can. */
static const char *log_unsupported(const struct fe_dev *dev)
{
	if (fe_log_supported(dev) == 0)
		return NULL;
	if (!(dev->backend_features & BIT(UVDPA_VHOST_F_LOG_ALL)))
		return "the backend does not offer LOG_ALL: it cannot log dirty pages for a "
		       "live migration";
	if (!(dev->backend_protocol_features & BIT(UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD)))
		return "the backend does not offer the protocol feature LOG_SHMFD: QEMU refuses "
		       "to migrate without it";
	return "LOG_SHMFD was not negotiated (--protocol-features)";
}

static int run(struct options *o, struct fe_dev *dev)
{
	struct fe_net *net = NULL;
	unsigned int phases = 1 + (o->mem_replug ? 1 : 0) + (o->reconnect_test ? 1 : 0);
	unsigned int p, base_errors = 0;
	const char *why = NULL;
	bool pass = false;
	int r;

	o->devp = dev;
	r = fe_dev_connect(dev);
	if (r == 0)
		r = fe_dev_negotiate(dev);
	if (r < 0) {
		why = "negotiation failed";
		goto out;
	}

	if (o->negotiate_only) {
		for (p = 0; p < phases && r == 0; p++) {
			r = hold(dev, o->seconds / phases, o->net.reconnect);
			if (r == 0 && p + 1 < phases)
				r = between_phases(o, dev, NULL, p, &base_errors);
		}
		if (r < 0) {
			why = "session failed";
			goto out;
		}
		r = fe_dev_stop(dev);
		if (r < 0) {
			why = "GET_VRING_BASE failed";
			goto out;
		}
		base_errors += check_ring_bases(dev);
		pass = base_errors == 0;
		if (!pass)
			why = "ring stop bases out of range";
		goto out;
	}

	if (o->log_check) {
		why = log_unsupported(dev);
		if (why)
			goto out;
		o->plan.t0_ns = mono_ns();
		r = log_tick(o, 0);	/* --log-at 0: logging from the first frame */
		if (r < 0) {
			why = o->log_error_why;
			goto out;
		}
	}
	net = fe_net_new(dev, &o->net);
	if (!net) {
		why = "cannot set up traffic";
		goto out;
	}
	r = fe_net_start(net);
	for (p = 0; p < phases && r == 0; p++) {
		uint64_t n = o->count / phases + (p + 1 == phases ? o->count % phases : 0);

		r = fe_net_run(net, n, o->count ? 0 : o->seconds / phases);
		if (r == 0 && p + 1 < phases)
			r = between_phases(o, dev, net, p, &base_errors);
	}
	if (r < 0) {
		why = o->log_error ? o->log_error_why :
		      r == -ETIMEDOUT && o->dev.irq ? "interrupt mode: no interrupt before the deadline" :
		      r == -ETIMEDOUT ? "traffic stalled" :
		      r == -ECONNRESET ? "backend disconnected" : "traffic failed";
		goto out;
	}
	r = fe_dev_stop(dev);
	if (r < 0) {
		why = "GET_VRING_BASE failed";
		goto out;
	}
	base_errors += check_ring_bases(dev);
	if (o->log_check && o->plan.done) {
		fe_log_check(dev, &o->logres);
		o->log_checked = true;
	}

	{
		struct fe_net_stats st;

		fe_net_get_stats(net, &st);
		if (!fe_net_verified(net))
			why = "traffic did not verify";
		else if (o->net.tx && o->count && st.tx_pkts != o->count)
			why = "not every packet was sent";
		else if (!o->net.tx && o->count && st.rx_pkts + st.rx_bad < o->count)
			why = "fewer packets than expected arrived";
		else if (!o->net.tx && st.rx_pkts == 0)
			why = "nothing arrived";
		else if (o->net.tx && st.tx_pkts == 0)
			why = "nothing was sent";
		else if (base_errors)
			why = "ring stop bases out of range";
		else if (o->dev.irq && st.calls == 0)
			why = "interrupt mode: the device never signalled a call eventfd";
		else if (o->log_check && o->plan.done < o->plan.n)
			why = o->plan.done ? "dirty logging: the traffic ended before every step ran" :
			      "dirty logging never started";
		else if (o->log_check && o->logres.pages_written == 0)
			why = "dirty log: no page written while logging";
		else if (o->log_check && o->logres.pages_missing)
			why = "dirty log: pages the device wrote are not logged";
		else
			pass = true;
	}
out:
	report(o, dev, net, base_errors, pass, why);
	fe_net_free(net);
	fe_dev_disconnect(dev);
	return pass ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct options o;
	struct fe_dev *dev;
	int r;

	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "try 'uvdpa-frontend --help'\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sock_path_for_signal = o.dev.socket_path;
	sock_is_ours = o.dev.server;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return 1;
	r = fe_dev_init(dev, &o.dev);
	if (r < 0) {
		fprintf(stderr, "uvdpa-frontend: setup failed: %s\n", strerror(-r));
		free(dev);
		return 1;
	}
	r = o.blk ? run_blk(&o.blko, dev) : run(&o, dev);
	fe_dev_fini(dev);
	free(dev);
	return r;
}
