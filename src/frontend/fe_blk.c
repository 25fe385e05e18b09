/* Test frontend block load: a fio-like workload over a vhost-user-blk port.
 * Requests are header + data + status chains in guest memory, sequential or
 * random over a span, iodepth per queue; every written sector carries a
 * verifiable pattern and every read is checked against the last write. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "frontend/fe_blk_internal.h"
#include "core/log.h"

#define TAG "fe-blk"
#define BIT(n) (1ull << (n))
#define SERVICE_PERIOD_NS 10000000ull	/* backend channel, liveness */
#define MAX_ERRORS_LOGGED 10
#define RANDOM_TRIES 16			/* picks of a free block before giving up a round */
#define PAGE 4096u
#define MAX_VERIFY_SECTORS (1ull << 28)	/* 128 GiB of span: 1 GiB of generations */

uint64_t blk_gen_value(const struct fe_blk *b, uint32_t wseq)
{
	return ((uint64_t)b->run_tag << 32) | wseq;
}

uint32_t blk_lb_sectors(const struct fe_blk *b)
{
	return b->geo.blk_size / FE_BLK_SECTOR;
}

static uint64_t round_up64(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* ---- features, config, requests (pure) ---- */

uint64_t fe_blk_default_features(void)
{
	return BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) |
	       BIT(UVDPA_VHOST_USER_F_PROTOCOL_FEATURES) | BIT(VIRTIO_BLK_F_SIZE_MAX) |
	       BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH) |
	       BIT(VIRTIO_BLK_F_CONFIG_WCE) | BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_DISCARD) |
	       BIT(VIRTIO_BLK_F_WRITE_ZEROES) | BIT(VIRTIO_BLK_F_MQ);
}

uint64_t fe_blk_default_protocol_features(void)
{
	return fe_default_protocol_features() | BIT(UVDPA_VHOST_USER_PROTOCOL_F_CONFIG);
}

static uint16_t cfg16(const uint8_t *c, size_t off)
{
	uint16_t v;

	memcpy(&v, c + off, sizeof(v));
	return le16toh(v);
}

static uint32_t cfg32(const uint8_t *c, size_t off)
{
	uint32_t v;

	memcpy(&v, c + off, sizeof(v));
	return le32toh(v);
}

#define CFG_OFF(field) offsetof(struct virtio_blk_config, field)

int fe_blk_geometry_parse(struct fe_blk_geometry *g, const void *config, size_t len,
			  uint64_t features, const char **why)
{
	const uint8_t *c = config;
	uint64_t cap;

	memset(g, 0, sizeof(*g));
	*why = NULL;
	if (len < FE_BLK_CONFIG_LEN) {
		*why = "config space too short";
		return -EINVAL;
	}
	memcpy(&cap, c + CFG_OFF(capacity), sizeof(cap));
	g->capacity = le64toh(cap);
	g->blk_size = FE_BLK_SECTOR;
	g->num_queues = 1;
	if (features & BIT(VIRTIO_BLK_F_SIZE_MAX))
		g->size_max = cfg32(c, CFG_OFF(size_max));
	if (features & BIT(VIRTIO_BLK_F_SEG_MAX))
		g->seg_max = cfg32(c, CFG_OFF(seg_max));
	if (features & BIT(VIRTIO_BLK_F_BLK_SIZE))
		g->blk_size = cfg32(c, CFG_OFF(blk_size));
	if (features & BIT(VIRTIO_BLK_F_MQ))
		g->num_queues = cfg16(c, CFG_OFF(num_queues));
	g->ro = features & BIT(VIRTIO_BLK_F_RO);
	g->flush = features & BIT(VIRTIO_BLK_F_FLUSH);
	g->has_wce = features & BIT(VIRTIO_BLK_F_CONFIG_WCE);
	if (g->has_wce)
		g->wce = c[CFG_OFF(wce)];
	g->discard = features & BIT(VIRTIO_BLK_F_DISCARD);
	if (g->discard) {
		g->max_discard_sectors = cfg32(c, CFG_OFF(max_discard_sectors));
		g->max_discard_seg = cfg32(c, CFG_OFF(max_discard_seg));
		g->discard_sector_alignment = cfg32(c, CFG_OFF(discard_sector_alignment));
	}
	g->write_zeroes = features & BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (g->write_zeroes) {
		g->max_write_zeroes_sectors = cfg32(c, CFG_OFF(max_write_zeroes_sectors));
		g->max_write_zeroes_seg = cfg32(c, CFG_OFF(max_write_zeroes_seg));
		g->write_zeroes_may_unmap = c[CFG_OFF(write_zeroes_may_unmap)];
	}
	if (g->capacity == 0)
		*why = "capacity 0";
	else if (g->capacity > UINT64_MAX / FE_BLK_SECTOR)
		*why = "capacity beyond 64 bits of bytes";
	else if (g->blk_size < FE_BLK_SECTOR || (g->blk_size & (g->blk_size - 1)) ||
		 g->blk_size > (1u << 20))
		*why = "block size not a power of two in 512..1M";
	else if (g->size_max && g->size_max < FE_BLK_SECTOR)
		*why = "size_max below 512 bytes";
	else if (g->num_queues == 0)
		*why = "num_queues 0";
	return *why ? -EINVAL : 0;
}

int fe_blk_seg_size(const struct fe_blk_geometry *g, uint32_t bs, uint32_t want,
		    uint32_t *seg_size)
{
	uint32_t seg = want ? want : bs, nsegs, limit;

	if (bs == 0 || bs % FE_BLK_SECTOR || (want && want % FE_BLK_SECTOR))
		return -EINVAL;
	if (g->size_max && seg > g->size_max)
		seg = g->size_max / FE_BLK_SECTOR * FE_BLK_SECTOR;
	if (seg > bs)
		seg = bs;
	nsegs = (bs + seg - 1) / seg;
	limit = g->seg_max && g->seg_max < FE_BLK_MAX_SEGS ? g->seg_max : FE_BLK_MAX_SEGS;
	if (nsegs > limit)
		return -E2BIG;
	*seg_size = seg;
	return 0;
}

int fe_blk_chain_bufs(const struct fe_blk_chain *c, struct virtq_drv_buf *bufs, unsigned int max)
{
	uint32_t seg = c->seg_size ? c->seg_size : c->data_len;
	unsigned int n = 0;

	if (max == 0)
		return -E2BIG;
	bufs[n++] = (struct virtq_drv_buf){ c->hdr_addr, sizeof(struct virtio_blk_outhdr), false };
	for (uint32_t off = 0; off < c->data_len; off += seg) {
		uint32_t len = c->data_len - off < seg ? c->data_len - off : seg;

		if (n == max)
			return -E2BIG;
		bufs[n++] = (struct virtq_drv_buf){ c->data_addr + off, len, c->data_in };
	}
	if (!c->no_status) {
		if (n == max)
			return -E2BIG;
		bufs[n++] = (struct virtq_drv_buf){ c->status_addr, 1, true };
	}
	return (int)n;
}

void fe_blk_hdr_put(uint8_t *p, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = {
		.type = htole32(type), .ioprio = 0, .sector = htole64(sector),
	};

	memcpy(p, &h, sizeof(h));
}

const char *fe_blk_status_str(uint8_t status, char *buf, size_t len)
{
	switch (status) {
	case VIRTIO_BLK_S_OK: return "OK";
	case VIRTIO_BLK_S_IOERR: return "IOERR";
	case VIRTIO_BLK_S_UNSUPP: return "UNSUPP";
	}
	snprintf(buf, len, "0x%02x", status);
	return buf;
}

static const char *const rw_names[] = {
	[FE_BLK_RW_READ] = "read", [FE_BLK_RW_WRITE] = "write",
	[FE_BLK_RW_RANDREAD] = "randread", [FE_BLK_RW_RANDWRITE] = "randwrite",
	[FE_BLK_RW_RANDRW] = "randrw", [FE_BLK_RW_RW] = "rw",
};

int fe_blk_rw_parse(const char *s, enum fe_blk_rw *rw)
{
	for (unsigned int i = 0; i < sizeof(rw_names) / sizeof(rw_names[0]); i++)
		if (strcmp(s, rw_names[i]) == 0) {
			*rw = (enum fe_blk_rw)i;
			return 0;
		}
	return -EINVAL;
}

const char *fe_blk_rw_name(enum fe_blk_rw rw)
{
	return (unsigned int)rw < sizeof(rw_names) / sizeof(rw_names[0]) ? rw_names[rw] : "?";
}

static bool rw_random(enum fe_blk_rw rw)
{
	return rw == FE_BLK_RW_RANDREAD || rw == FE_BLK_RW_RANDWRITE || rw == FE_BLK_RW_RANDRW;
}

static bool rw_writes(enum fe_blk_rw rw)
{
	return rw != FE_BLK_RW_READ && rw != FE_BLK_RW_RANDREAD;
}

/* ---- setup ---- */

/* The --blk-bad data area: two requests' worth, a chain of one more than a
 * ring's worth of 512-byte segments, and 1 MiB for discard ranges. */
static uint64_t bad_area_bytes(uint32_t bs, uint16_t qsize, uint32_t blk_size)
{
	uint64_t n = 2ull * (bs > blk_size ? bs : blk_size);
	uint64_t segs = (uint64_t)qsize * FE_BLK_SECTOR + blk_size;

	if (n < segs)
		n = segs;
	if (n < (1u << 20))
		n = 1u << 20;
	return round_up64(n, PAGE);
}

uint64_t fe_blk_mem_bytes(const struct fe_blk_config *cfg, unsigned int queues, uint16_t qsize)
{
	uint64_t ring = virtq_drv_desc_bytes(qsize) + virtq_drv_avail_bytes(qsize) +
			virtq_drv_used_bytes(qsize) + 3 * PAGE;
	uint64_t per_req = round_up64(cfg->bs, PAGE) + BLK_CTL_BYTES;
	uint64_t total = queues * (ring + cfg->iodepth * per_req + PAGE) +
			 bad_area_bytes(cfg->bs, qsize, 1u << 20) + PAGE;

	/* Page 0 is reserved, each region loses at most one request to its end. */
	return total + total / 4 + (8ull << 20) + 4 * round_up64(cfg->bs, PAGE);
}

static void log_geometry(const struct fe_blk *b)
{
	const struct fe_blk_geometry *g = &b->geo;

	LOG_INFO(TAG, "capacity %llu sectors (%llu MiB), blk_size %u, size_max %u, seg_max %u, "
		 "num_queues %u%s%s%s", (unsigned long long)g->capacity,
		 (unsigned long long)(g->capacity >> 11), g->blk_size, g->size_max, g->seg_max,
		 g->num_queues, g->ro ? ", read-only" : "", g->flush ? ", flush" : "",
		 g->has_wce ? (g->wce ? ", write-back cache" : ", write-through") : "");
}

/* The span, blocks and per-queue sequential ranges from cfg. */
static int layout_span(struct fe_blk *b)
{
	const struct fe_blk_config *c = &b->cfg;
	uint64_t dev_bytes = b->geo.capacity * FE_BLK_SECTOR, span;

	if (c->bs % b->geo.blk_size || c->offset % b->geo.blk_size) {
		LOG_ERR(TAG, "--bs %u and --offset %llu must be multiples of the device's block "
			"size %u", c->bs, (unsigned long long)c->offset, b->geo.blk_size);
		return -EINVAL;
	}
	if (c->offset >= dev_bytes) {
		LOG_ERR(TAG, "--offset %llu is beyond the device's %llu bytes",
			(unsigned long long)c->offset, (unsigned long long)dev_bytes);
		return -EINVAL;
	}
	span = c->span ? c->span : dev_bytes - c->offset;
	if (span > dev_bytes - c->offset) {
		LOG_ERR(TAG, "--offset %llu + --span %llu run past the device's %llu bytes",
			(unsigned long long)c->offset, (unsigned long long)span,
			(unsigned long long)dev_bytes);
		return -EINVAL;
	}
	b->block_sectors = c->bs / FE_BLK_SECTOR;
	b->first_lba = c->offset / FE_BLK_SECTOR;
	b->nblocks = span / c->bs;
	b->span_sectors = b->nblocks * b->block_sectors;
	if (b->nblocks < b->nq) {
		LOG_ERR(TAG, "a span of %llu bytes holds %llu requests of %u bytes: fewer than "
			"the %u queues", (unsigned long long)span, (unsigned long long)b->nblocks,
			c->bs, b->nq);
		return -EINVAL;
	}
	if (c->verify && b->span_sectors > MAX_VERIFY_SECTORS) {
		LOG_ERR(TAG, "verifying keeps 4 bytes per sector: a span of %llu sectors is too "
			"large (use --span or --no-verify)", (unsigned long long)b->span_sectors);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < b->nq; i++) {
		b->q[i].seq_first = b->nblocks * i / b->nq;
		b->q[i].seq_end = b->nblocks * (i + 1) / b->nq;
	}
	return 0;
}

static int alloc_queue(struct fe_blk *b, struct blk_queue *q, unsigned int idx)
{
	struct fe_mem *mem = &b->dev->mem;
	uint16_t qsize = b->dev->cfg.queue_size;
	uint64_t ctl_gpa;
	uint8_t *ctl;

	q->idx = idx;
	q->vr = &b->dev->vrings[idx];
	q->slots = calloc(b->cfg.iodepth, sizeof(*q->slots));
	q->free_slots = calloc(b->cfg.iodepth, sizeof(*q->free_slots));
	q->slot_of_head = calloc(qsize, sizeof(*q->slot_of_head));
	if (!q->slots || !q->free_slots || !q->slot_of_head)
		return -ENOMEM;
	ctl = fe_mem_alloc(mem, idx, (uint64_t)b->cfg.iodepth * BLK_CTL_BYTES, BLK_CTL_BYTES,
			   &ctl_gpa);
	if (!ctl)
		return -ENOMEM;
	for (unsigned int s = 0; s < b->cfg.iodepth; s++) {
		struct blk_slot *sl = &q->slots[s];

		sl->ctl = ctl + (uint64_t)s * BLK_CTL_BYTES;
		sl->ctl_gpa = ctl_gpa + (uint64_t)s * BLK_CTL_BYTES;
		/* Spread over the regions: the device translates in each. */
		sl->data = fe_mem_alloc(mem, idx + s, b->cfg.bs, PAGE, &sl->data_gpa);
		if (!sl->data)
			return -ENOMEM;
		if (!b->cfg.verify)
			for (uint32_t i = 0; i < b->block_sectors; i++)
				fe_blk_sector_fill(sl->data + (uint64_t)i * FE_BLK_SECTOR,
						   b->cfg.seed, i, 1);
	}
	return 0;
}

static int alloc_bad_area(struct fe_blk *b)
{
	struct fe_mem *mem = &b->dev->mem;

	b->bad_data_len = (uint32_t)bad_area_bytes(b->cfg.bs, b->dev->cfg.queue_size,
						   b->geo.blk_size);
	b->bad_ctl = fe_mem_alloc(mem, 0, PAGE, PAGE, &b->bad_ctl_gpa);
	b->bad_data = fe_mem_alloc(mem, 0, b->bad_data_len, PAGE, &b->bad_data_gpa);
	return b->bad_ctl && b->bad_data ? 0 : -ENOMEM;
}

static int read_geometry(struct fe_blk *b)
{
	uint8_t config[FE_BLK_CONFIG_LEN];
	const char *why;
	int r;

	r = fe_dev_get_config(b->dev, 0, config, sizeof(config));
	if (r == -EOPNOTSUPP) {
		LOG_ERR(TAG, "the backend does not offer the CONFIG protocol feature: the "
			"device's capacity cannot be read");
		return r;
	}
	if (r < 0)
		return r;
	r = fe_blk_geometry_parse(&b->geo, config, sizeof(config), b->dev->features, &why);
	if (r < 0)
		LOG_ERR(TAG, "unusable device config: %s", why);
	return r;
}

static int check_queues(const struct fe_blk *b)
{
	uint16_t qsize = b->dev->cfg.queue_size;
	uint32_t per_req = b->nsegs + 2;

	if (b->nq > b->geo.num_queues) {
		LOG_ERR(TAG, "%u queues requested, the device has %u", b->nq, b->geo.num_queues);
		return -ERANGE;
	}
	if ((uint64_t)b->cfg.iodepth * per_req > qsize) {
		LOG_ERR(TAG, "iodepth %u x %u descriptors (%u data segments of %u bytes) exceed a "
			"ring of %u entries: raise --qsize", b->cfg.iodepth, per_req, b->nsegs,
			b->seg_size, qsize);
		return -ERANGE;
	}
	if (b->cfg.fsync_every && !b->geo.flush) {
		LOG_ERR(TAG, "--fsync needs VIRTIO_BLK_F_FLUSH, which the device does not offer");
		return -EOPNOTSUPP;
	}
	return 0;
}

struct fe_blk *fe_blk_new(struct fe_dev *dev, const struct fe_blk_config *cfg)
{
	struct fe_blk *b;
	int r;

	if (dev->cfg.kind != FE_DEV_BLK || !dev->running || cfg->iodepth == 0 ||
	    cfg->iodepth > dev->cfg.queue_size || cfg->bs == 0 || cfg->bs % FE_BLK_SECTOR) {
		LOG_ERR(TAG, "a block load needs a negotiated blk device, iodepth 1..queue size "
			"and a block size that is a multiple of 512");
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->dev = dev;
	b->cfg = *cfg;
	b->nq = dev->nvrings;
	if (b->cfg.stall_ms <= 0)
		b->cfg.stall_ms = 10000;
	if (b->cfg.bad_timeout_ms <= 0)
		b->cfg.bad_timeout_ms = 2000;
	b->rng = fe_mix64(cfg->seed ^ 0x72616e646f6d2121ull);
	b->run_tag = (uint32_t)fe_mix64(uvdpa_now_ns() ^ ((uint64_t)getpid() << 40));
	if (b->run_tag == 0)
		b->run_tag = 1;
	r = read_geometry(b);
	if (r < 0)
		goto fail;
	log_geometry(b);
	r = fe_blk_seg_size(&b->geo, cfg->bs, cfg->seg_size, &b->seg_size);
	if (r < 0) {
		LOG_ERR(TAG, "--bs %u%s cannot be sent in at most %u segments of at most %u bytes",
			cfg->bs, cfg->seg_size ? " with --seg-size" : "", b->geo.seg_max,
			b->geo.size_max);
		goto fail;
	}
	b->nsegs = (cfg->bs + b->seg_size - 1) / b->seg_size;
	r = check_queues(b);
	if (r == 0)
		r = layout_span(b);
	if (r < 0)
		goto fail;
	b->bufs = calloc(dev->cfg.queue_size, sizeof(*b->bufs));
	b->block_busy = calloc(b->nblocks, 1);
	if (cfg->verify)
		b->gen = calloc(b->span_sectors, sizeof(*b->gen));
	if (!b->bufs || !b->block_busy || (cfg->verify && !b->gen))
		goto nomem;
	for (unsigned int i = 0; i < b->nq; i++)
		if (alloc_queue(b, &b->q[i], i) < 0)
			goto nomem;
	if (alloc_bad_area(b) < 0)
		goto nomem;
	fe_blk_start(b);
	return b;
nomem:
	LOG_ERR(TAG, "guest memory too small for %u queues x %u requests of %u bytes: raise "
		"--mem-mb", b->nq, cfg->iodepth, cfg->bs);
fail:
	fe_blk_free(b);
	return NULL;
}

void fe_blk_free(struct fe_blk *b)
{
	if (!b)
		return;
	for (unsigned int i = 0; i < FE_MAX_QUEUE_PAIRS; i++) {
		free(b->q[i].slots);
		free(b->q[i].free_slots);
		free(b->q[i].slot_of_head);
	}
	free(b->bufs);
	free(b->block_busy);
	free(b->gen);
	free(b);
}

const struct fe_blk_geometry *fe_blk_get_geometry(const struct fe_blk *b)
{
	return &b->geo;
}

void fe_blk_start(struct fe_blk *b)
{
	for (unsigned int i = 0; i < b->nq; i++) {
		struct blk_queue *q = &b->q[i];

		for (unsigned int s = 0; s < b->cfg.iodepth; s++) {
			if (q->slots[s].busy)
				b->block_busy[q->slots[s].block] = 0;
			q->slots[s].busy = false;
			q->free_slots[s] = (uint16_t)(b->cfg.iodepth - 1 - s);
		}
		q->nfree = b->cfg.iodepth;
		memset(q->slot_of_head, 0xff,
		       (size_t)b->dev->cfg.queue_size * sizeof(*q->slot_of_head));
	}
	b->bad_stuck = 0;
}

/* ---- completion ---- */

static void log_error(struct fe_blk *b, const struct blk_queue *q, const char *fmt_what,
		      const struct blk_slot *sl, uint64_t lba, const char *detail)
{
	if (b->errors_logged++ >= MAX_ERRORS_LOGGED)
		return;
	LOG_ERR(TAG, "queue %u: %s %s at sector %llu: %s", q->idx,
		sl->op == BLK_OP_READ ? "read" : sl->op == BLK_OP_WRITE ? "write" : "flush",
		fmt_what, (unsigned long long)lba, detail);
}

static uint64_t slot_lba(const struct fe_blk *b, const struct blk_slot *sl)
{
	return b->first_lba + sl->block * b->block_sectors;
}

/* Checks what a read brought against this run's writes (and, for sectors
 * it did not write, the fill pattern when one was promised). */
static void verify_read(struct fe_blk *b, struct blk_queue *q, const struct blk_slot *sl)
{
	uint64_t base = sl->block * b->block_sectors, lba0 = slot_lba(b, sl);
	bool bad = false;

	for (uint32_t i = 0; i < b->block_sectors; i++) {
		uint32_t g = b->gen[base + i];
		uint32_t seed = b->cfg.seed;
		uint64_t want = 0, found;
		enum fe_blk_check c;

		if (g == BLK_GEN_UNKNOWN || (g == 0 && !b->cfg.verify_fill)) {
			q->st.unverified++;
			continue;
		}
		if (g)
			want = blk_gen_value(b, g);
		else
			seed = b->cfg.fill_seed;
		c = fe_blk_sector_check(sl->data + (uint64_t)i * FE_BLK_SECTOR, seed, lba0 + i,
					want, &found);
		if (c == FE_BLK_SECTOR_OK) {
			q->st.verified++;
			continue;
		}
		q->st.bad_sectors++;
		bad = true;
		if (b->errors_logged < MAX_ERRORS_LOGGED) {
			char d[160], w[24] = "any";

			if (want)
				snprintf(w, sizeof(w), "0x%llx", (unsigned long long)want);
			snprintf(d, sizeof(d), "%s (expected seed %u generation %s, found generation "
				 "0x%llx)", fe_blk_check_str(c), seed, w, (unsigned long long)found);
			log_error(b, q, "data mismatch", sl, lba0 + i, d);
		}
	}
	if (bad)
		q->st.errors++;
}

static void set_generation(struct fe_blk *b, const struct blk_slot *sl, uint32_t g)
{
	if (b->gen)
		for (uint32_t i = 0; i < b->block_sectors; i++)
			b->gen[sl->block * b->block_sectors + i] = g;
}

/* A write completed on q: count it toward the next flush. */
static void count_write(struct fe_blk *b, struct blk_queue *q)
{
	if (b->cfg.fsync_every && ++q->writes_unflushed >= b->cfg.fsync_every) {
		q->flush_wanted = true;
		q->writes_unflushed = 0;
	}
}

static void complete(struct fe_blk *b, struct blk_queue *q, struct blk_slot *sl, uint32_t len,
		     bool len_bad, uint64_t now)
{
	uint8_t status = __atomic_load_n(sl->ctl + BLK_CTL_STATUS, __ATOMIC_RELAXED);
	uint32_t want_len = (sl->op == BLK_OP_READ ? b->cfg.bs : 0) + 1;
	bool failed = len_bad || status != VIRTIO_BLK_S_OK;
	char sbuf[8], d[96];

	if (len_bad) {
		snprintf(d, sizeof(d), "used length %u exceeds the %u device-writable bytes", len,
			 want_len);
		log_error(b, q, "completion", sl, slot_lba(b, sl), d);
	} else if (status != VIRTIO_BLK_S_OK) {
		snprintf(d, sizeof(d), "status %s", fe_blk_status_str(status, sbuf, sizeof(sbuf)));
		log_error(b, q, "failed", sl, slot_lba(b, sl), d);
	} else if (len != want_len) {
		q->st.len_mismatch++;
	}
	if (failed)
		q->st.errors++;
	switch (sl->op) {
	case BLK_OP_READ:
		q->st.reads++;
		q->st.read_bytes += b->cfg.bs;
		fe_lat_add(&q->st.lat, now - sl->t_submit);
		if (!failed && b->gen)
			verify_read(b, q, sl);
		break;
	case BLK_OP_WRITE:
		q->st.writes++;
		q->st.write_bytes += b->cfg.bs;
		fe_lat_add(&q->st.lat, now - sl->t_submit);
		/* A failed write leaves the sectors undefined: never checked again. */
		set_generation(b, sl, failed ? BLK_GEN_UNKNOWN : sl->wseq);
		count_write(b, q);
		break;
	case BLK_OP_FLUSH:
		q->st.flushes++;
		fe_lat_add(&q->st.flush_lat, now - sl->t_submit);
		break;
	}
	if (sl->op != BLK_OP_FLUSH)
		b->block_busy[sl->block] = 0;
}

/* Takes back every completed request of q. -EIO when the device broke the
 * ring (an id not in flight, an index running past what was made available). */
static int reap(struct fe_blk *b, struct blk_queue *q, unsigned int *progress)
{
	struct virtq_driver *vq = &q->vr->vq;

	for (;;) {
		uint16_t head, s;
		uint32_t len;
		int r = virtq_drv_pop(vq, &head, &len);
		uint64_t now;

		if (r == 0)
			return 0;
		if (r < 0 && r != -EMSGSIZE) {
			q->st.errors++;
			LOG_ERR(TAG, "queue %u: the device returned an impossible used entry: the "
				"ring is broken", q->idx);
			return -EIO;
		}
		s = q->slot_of_head[head];
		if (s >= b->cfg.iodepth || !q->slots[s].busy || q->slots[s].head != head) {
			/* The library knew the head in flight; we must too. */
			LOG_ERR(TAG, "queue %u: completion of head %u that no request owns", q->idx,
				head);
			return -EIO;
		}
		now = uvdpa_now_ns();
		complete(b, q, &q->slots[s], len, r == -EMSGSIZE, now);
		q->slot_of_head[head] = UINT16_MAX;
		q->slots[s].busy = false;
		virtq_drv_chain_release(vq, head);
		q->free_slots[q->nfree++] = s;
		q->t_progress = now;
		(*progress)++;
	}
}

/* ---- submission ---- */

static uint64_t rng_next(struct fe_blk *b)
{
	b->rng += 0x9e3779b97f4a7c15ull;
	return fe_mix64(b->rng);
}

/* The next block for q, marked busy; false when none is free now. */
static bool pick_block(struct fe_blk *b, struct blk_queue *q, uint64_t *block)
{
	if (rw_random(b->cfg.rw)) {
		for (unsigned int t = 0; t < RANDOM_TRIES; t++) {
			uint64_t blk = rng_next(b) % b->nblocks;

			if (!b->block_busy[blk]) {
				b->block_busy[blk] = 1;
				*block = blk;
				return true;
			}
		}
		return false;
	}
	if (b->block_busy[q->seq_next])
		return false;
	*block = q->seq_next;
	b->block_busy[*block] = 1;
	if (++q->seq_next == q->seq_end)
		q->seq_next = q->seq_first;
	return true;
}

static enum blk_op pick_op(struct fe_blk *b)
{
	switch (b->cfg.rw) {
	case FE_BLK_RW_READ:
	case FE_BLK_RW_RANDREAD:
		return BLK_OP_READ;
	case FE_BLK_RW_WRITE:
	case FE_BLK_RW_RANDWRITE:
		return BLK_OP_WRITE;
	default:
		return rng_next(b) % 100 < b->cfg.rwmix_read ? BLK_OP_READ : BLK_OP_WRITE;
	}
}

static void prepare_data(struct fe_blk *b, struct blk_slot *sl)
{
	uint64_t lba0 = slot_lba(b, sl);

	if (!b->gen)
		return;
	if (sl->op == BLK_OP_WRITE) {
		uint64_t g = blk_gen_value(b, sl->wseq);

		for (uint32_t i = 0; i < b->block_sectors; i++)
			fe_blk_sector_fill(sl->data + (uint64_t)i * FE_BLK_SECTOR, b->cfg.seed,
					   lba0 + i, g);
	} else {
		/* A device that completes a read without writing the buffer
		 * must not pass for one that returned the old contents. */
		for (uint32_t i = 0; i < b->block_sectors; i++)
			memset(sl->data + (uint64_t)i * FE_BLK_SECTOR, 0xa5, 8);
	}
}

/* Builds and pushes the request in slot sl. -ENOSPC when the ring lacks
 * descriptors (cannot happen with the iodepth check, kept as a guard). */
static int push_slot(struct fe_blk *b, struct blk_queue *q, struct blk_slot *sl)
{
	struct fe_blk_chain c = {
		.hdr_addr = sl->ctl_gpa + BLK_CTL_HDR,
		.status_addr = sl->ctl_gpa + BLK_CTL_STATUS,
	};
	uint32_t type = VIRTIO_BLK_T_FLUSH;
	uint64_t sector = 0;
	int n, r;

	if (sl->op != BLK_OP_FLUSH) {
		type = sl->op == BLK_OP_READ ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
		sector = slot_lba(b, sl);
		c.data_addr = sl->data_gpa;
		c.data_len = b->cfg.bs;
		c.seg_size = b->seg_size;
		c.data_in = sl->op == BLK_OP_READ;
	}
	fe_blk_hdr_put(sl->ctl + BLK_CTL_HDR, type, sector);
	sl->ctl[BLK_CTL_STATUS] = BLK_STATUS_POISON;
	n = fe_blk_chain_bufs(&c, b->bufs, b->dev->cfg.queue_size);
	if (n < 0)
		return n;
	r = virtq_drv_add_chain(&q->vr->vq, b->bufs, (unsigned int)n, &sl->head);
	if (r < 0)
		return r;
	sl->busy = true;
	sl->t_submit = uvdpa_now_ns();
	q->slot_of_head[sl->head] = (uint16_t)(sl - q->slots);
	return 0;
}

/* Time or count left for q. */
static bool more_io(const struct fe_blk *b, const struct blk_queue *q, uint64_t now)
{
	if (b->t_stop)
		return now < b->t_stop;
	return q->submitted < q->target;
}

static int submit_one(struct fe_blk *b, struct blk_queue *q, bool flush)
{
	struct blk_slot *sl = &q->slots[q->free_slots[q->nfree - 1]];
	int r;

	sl->op = flush ? BLK_OP_FLUSH : pick_op(b);
	if (!flush && !pick_block(b, q, &sl->block))
		return -EAGAIN;
	if (sl->op == BLK_OP_WRITE)
		sl->wseq = ++b->wseq;
	prepare_data(b, sl);
	r = push_slot(b, q, sl);
	if (r < 0) {
		if (!flush)
			b->block_busy[sl->block] = 0;
		return r;
	}
	q->nfree--;
	if (!flush)
		q->submitted++;
	return 0;
}

static void submit(struct fe_blk *b, struct blk_queue *q, uint64_t now, unsigned int *progress)
{
	bool more = more_io(b, q, now);
	unsigned int sent = 0;

	if (q->nfree == b->cfg.iodepth)
		q->t_progress = now;	/* idle until now: the stall clock starts here */
	/* The run's last writes get their flush too. */
	if (!more && q->nfree == b->cfg.iodepth && q->writes_unflushed) {
		q->flush_wanted = true;
		q->writes_unflushed = 0;
	}
	while (q->nfree) {
		if (q->flush_wanted) {
			if (submit_one(b, q, true) < 0)
				break;
			q->flush_wanted = false;
		} else if (!more || submit_one(b, q, false) < 0) {
			break;
		}
		sent++;
		more = more_io(b, q, now);
	}
	if (sent) {
		fe_vring_publish(q->vr);
		*progress += sent;
	}
}

/* ---- the run ---- */

static bool queue_done(const struct fe_blk *b, const struct blk_queue *q, uint64_t now)
{
	return !more_io(b, q, now) && q->nfree == b->cfg.iodepth && !q->flush_wanted &&
	       !q->writes_unflushed;
}

static void log_stall(const struct fe_blk *b, const struct blk_queue *q)
{
	const struct virtq_driver *vq = &q->vr->vq;

	LOG_ERR(TAG, "queue %u: %u requests and no completion for %d ms (avail %u, used %u as "
		"the device wrote it, %u popped)", q->idx, b->cfg.iodepth - q->nfree,
		b->cfg.stall_ms, vq->published_idx, virtq_drv_device_used_idx(vq),
		vq->last_used_idx);
}

static void set_targets(struct fe_blk *b)
{
	uint64_t count = b->cfg.count;

	if (count == 0 && b->cfg.seconds <= 0)
		count = b->nblocks;	/* one pass over the span, as fio's size */
	for (unsigned int i = 0; i < b->nq; i++) {
		struct blk_queue *q = &b->q[i];

		q->target = q->submitted + count / b->nq + (i < count % b->nq ? 1 : 0);
		q->seq_next = q->seq_first;
	}
}

static int service(struct fe_blk *b)
{
	for (unsigned int i = 0; i < b->nq; i++)
		fe_vring_call_drain(b->q[i].vr);
	if (fe_conn_poll(&b->dev->conn, 0) == -ECONNRESET) {
		LOG_ERR(TAG, "the backend closed the session during the load");
		b->dev->backend_disconnects++;
		return -ECONNRESET;
	}
	return 0;
}

int fe_blk_run(struct fe_blk *b)
{
	uint64_t next_service, stall_ns = (uint64_t)b->cfg.stall_ms * 1000000ull;
	int ret = 0;

	if (rw_writes(b->cfg.rw) && b->geo.ro) {
		LOG_ERR(TAG, "--rw %s writes, and the device is read-only (VIRTIO_BLK_F_RO)",
			fe_blk_rw_name(b->cfg.rw));
		return -EROFS;
	}
	set_targets(b);
	b->t_start = uvdpa_now_ns();
	b->t_stop = b->cfg.count == 0 && b->cfg.seconds > 0 ?
		    b->t_start + (uint64_t)(b->cfg.seconds * 1e9) : 0;
	next_service = b->t_start + SERVICE_PERIOD_NS;
	for (unsigned int i = 0; i < b->nq; i++)
		b->q[i].t_progress = b->t_start;
	for (;;) {
		unsigned int progress = 0, done = 0;
		uint64_t now = uvdpa_now_ns();

		for (unsigned int i = 0; i < b->nq && ret == 0; i++) {
			struct blk_queue *q = &b->q[i];

			ret = reap(b, q, &progress);
			if (ret == 0)
				submit(b, q, now, &progress);
			if (queue_done(b, q, now))
				done++;
			else if (q->nfree < b->cfg.iodepth && now > q->t_progress &&
				 now - q->t_progress > stall_ns) {
				log_stall(b, q);
				ret = -ETIMEDOUT;
			}
		}
		if (ret < 0 || done == b->nq)
			break;
		if (now >= next_service) {
			next_service = now + SERVICE_PERIOD_NS;
			ret = service(b);
			if (ret < 0)
				break;
		}
	}
	b->t_end = uvdpa_now_ns();
	for (unsigned int i = 0; i < b->nq; i++)
		b->q[i].st.ns = b->t_end - b->t_start;
	return ret;
}

uint32_t fe_blk_run_tag(const struct fe_blk *b)
{
	return b->run_tag;
}

void fe_blk_get_stats(const struct fe_blk *b, int q, struct fe_blk_job_stats *st)
{
	if (q >= 0) {
		*st = b->q[q < (int)b->nq ? q : 0].st;
		return;
	}
	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < b->nq; i++) {
		const struct fe_blk_job_stats *s = &b->q[i].st;

		st->reads += s->reads;
		st->writes += s->writes;
		st->flushes += s->flushes;
		st->read_bytes += s->read_bytes;
		st->write_bytes += s->write_bytes;
		st->errors += s->errors;
		st->bad_sectors += s->bad_sectors;
		st->verified += s->verified;
		st->unverified += s->unverified;
		st->len_mismatch += s->len_mismatch;
		if (s->ns > st->ns)
			st->ns = s->ns;
		fe_lat_merge(&st->lat, &s->lat);
		fe_lat_merge(&st->flush_lat, &s->flush_lat);
	}
}
