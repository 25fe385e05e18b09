/* The emulated IFCVF's blk type: request parsing and validation on its own
 * (blk_req_parse), then the device driven as the ifcvf driver drives it,
 * over a temporary backing file: reads, writes, flush, GET_ID, discard,
 * write zeroes, refused requests that leave the queue serving, read-only
 * devices, a stop that completes what it took, a live resize, completions out of
 * order (reorder-completions), the dirty log (and the drop-dirty-log
 * fault) and the backing file's lock (shared storage). */
#include "ifcvf_model_harness.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <linux/virtio_blk.h>

#include "models/ifcvf/ifcvf_blk.h"

/* ---- blk_req_parse ---- */

struct chain {
	struct virtq_elem e;
	struct iovec iov[300];
	uint64_t addr[300];
	uint8_t mem[300][64];
	struct virtio_blk_outhdr hdr;
	uint8_t big[8192];
	uint8_t status;
};

static struct blk_limits limits(void)
{
	struct blk_limits l = {
		.capacity = 2048,	/* 1 MiB */
		.seg_max = BLK_SEG_MAX,
		.size_max = 4096,
		.max_discard_sectors = 1024,
		.max_discard_seg = 1,
		.max_write_zeroes_sectors = 1024,
		.max_write_zeroes_seg = 1,
		.discard = true,
		.write_zeroes = true,
	};
	return l;
}

/* header out, then nout more readable buffers of len each, then nin
 * writable buffers of len each, then the status byte. */
static void chain_init(struct chain *c, uint32_t type, uint64_t sector, unsigned int nout,
		       unsigned int nin, size_t len)
{
	unsigned int i, n = 0;

	memset(&c->e, 0, sizeof(c->e));
	c->hdr.type = htole32(type);
	c->hdr.ioprio = 0;
	c->hdr.sector = htole64(sector);
	c->iov[n].iov_base = &c->hdr;
	c->iov[n++].iov_len = sizeof(c->hdr);
	c->e.out_len = sizeof(c->hdr);
	for (i = 0; i < nout; i++, n++) {
		c->iov[n].iov_base = len > 64 ? c->big : c->mem[n];
		c->iov[n].iov_len = len;
		c->e.out_len += len;
	}
	c->e.out_num = n;
	for (i = 0; i < nin; i++, n++) {
		c->iov[n].iov_base = len > 64 ? c->big : c->mem[n];
		c->iov[n].iov_len = len;
		c->e.in_len += len;
	}
	c->iov[n].iov_base = &c->status;
	c->iov[n++].iov_len = 1;
	c->e.in_len += 1;
	c->e.in_num = n - c->e.out_num;
	c->e.iov = c->iov;
	c->e.addr = c->addr;
	c->e.max_iov = 300;
}

static void parse(struct chain *c, const struct blk_limits *l, struct blk_req *r)
{
	static struct iovec data[BLK_SEG_MAX];

	blk_req_parse(&c->e, l, data, BLK_SEG_MAX, r);
}

static void assert_refused(struct chain *c, const struct blk_limits *l, uint8_t status)
{
	struct blk_req r;

	parse(c, l, &r);
	assert_int_equal(r.op, BLK_OP_DONE);
	assert_int_equal(r.status, status);
	assert_true(r.has_status);
	assert_int_equal(r.status_off, c->e.in_len - 1);
}

static void test_parse_read_write(void **state)
{
	struct blk_limits l = limits();
	struct chain *c = calloc(1, sizeof(*c));
	struct blk_req r;

	(void)state;
	chain_init(c, VIRTIO_BLK_T_IN, 8, 0, 2, 512);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_READ);
	assert_int_equal(r.sector, 8);
	assert_int_equal(r.len, 1024);
	assert_int_equal(r.niov, 2);
	assert_int_equal(r.status_off, 1024);

	chain_init(c, VIRTIO_BLK_T_OUT, 2046, 1, 0, 1024);	/* the last two sectors */
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_WRITE);
	assert_int_equal(r.len, 1024);
	assert_int_equal(r.status_off, 0);

	/* Header and data in one descriptor (any layout). */
	chain_init(c, VIRTIO_BLK_T_OUT, 0, 0, 0, 0);
	memcpy(c->big, &c->hdr, sizeof(c->hdr));
	c->iov[0].iov_base = c->big;
	c->iov[0].iov_len = sizeof(c->hdr) + 512;
	c->e.out_len = sizeof(c->hdr) + 512;
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_WRITE);
	assert_int_equal(r.len, 512);
	assert_int_equal(r.niov, 1);

	/* Zero-length reads complete at once. */
	chain_init(c, VIRTIO_BLK_T_IN, 0, 0, 0, 0);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_DONE);
	assert_int_equal(r.status, VIRTIO_BLK_S_OK);
	free(c);
}

static void test_parse_refused(void **state)
{
	struct blk_limits l = limits();
	struct chain *c = calloc(1, sizeof(*c));
	struct blk_req r;

	(void)state;
	/* Past the end, straddling the end, a huge sector. */
	chain_init(c, VIRTIO_BLK_T_IN, 2048, 0, 1, 512);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	chain_init(c, VIRTIO_BLK_T_OUT, 2047, 1, 0, 1024);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	chain_init(c, VIRTIO_BLK_T_IN, UINT64_MAX - 1, 0, 1, 1024);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	/* Not a multiple of 512. */
	chain_init(c, VIRTIO_BLK_T_IN, 0, 0, 1, 100);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	/* One segment more than seg_max; a segment larger than size_max. */
	chain_init(c, VIRTIO_BLK_T_OUT, 0, BLK_SEG_MAX + 1, 0, 512);
	c->e.max_iov = 300;
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	chain_init(c, VIRTIO_BLK_T_OUT, 0, BLK_SEG_MAX, 0, 512);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_WRITE);
	chain_init(c, VIRTIO_BLK_T_IN, 0, 0, 1, 8192);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	/* Read-only. */
	l.readonly = true;
	chain_init(c, VIRTIO_BLK_T_OUT, 0, 1, 0, 512);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	chain_init(c, VIRTIO_BLK_T_IN, 0, 0, 1, 512);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_READ);
	l.readonly = false;
	/* Unknown types, and the legacy SCSI command. */
	chain_init(c, 0x1234, 0, 0, 0, 0);
	assert_refused(c, &l, VIRTIO_BLK_S_UNSUPP);
	chain_init(c, VIRTIO_BLK_T_SCSI_CMD, 0, 0, 0, 0);
	assert_refused(c, &l, VIRTIO_BLK_S_UNSUPP);
	/* A header shorter than 16 bytes. */
	chain_init(c, VIRTIO_BLK_T_IN, 0, 0, 1, 512);
	c->iov[0].iov_len = 8;
	c->e.out_len = 8;
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	/* No device-writable byte for the status. */
	chain_init(c, VIRTIO_BLK_T_OUT, 0, 1, 0, 512);
	c->e.in_num = 0;
	c->e.in_len = 0;
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_DONE);
	assert_false(r.has_status);
	free(c);
}

static void set_range(struct chain *c, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
		.sector = htole64(sector), .num_sectors = htole32(num), .flags = htole32(flags)
	};

	memcpy(c->mem[1], &seg, sizeof(seg));
}

static void test_parse_discard_write_zeroes(void **state)
{
	struct blk_limits l = limits();
	struct chain *c = calloc(1, sizeof(*c));
	struct blk_req r;

	(void)state;
	chain_init(c, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 16);
	set_range(c, 100, 8, 0);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_DISCARD);
	assert_int_equal(r.sector, 100);
	assert_int_equal(r.len, 8 * 512);

	chain_init(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, 16);
	set_range(c, 2040, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_WRITE_ZEROES);
	assert_true(r.unmap);

	/* UNMAP on a discard, unknown flags: UNSUPP. */
	chain_init(c, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 16);
	set_range(c, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_refused(c, &l, VIRTIO_BLK_S_UNSUPP);
	chain_init(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, 16);
	set_range(c, 0, 8, 2);
	assert_refused(c, &l, VIRTIO_BLK_S_UNSUPP);
	/* Past the end, longer than the limit, two ranges, a partial range. */
	chain_init(c, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 16);
	set_range(c, 2044, 8, 0);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	chain_init(c, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 16);
	set_range(c, 0, 1025, 0);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	chain_init(c, VIRTIO_BLK_T_DISCARD, 0, 2, 0, 16);
	set_range(c, 0, 8, 0);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	chain_init(c, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 12);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	/* Not negotiated; read-only. */
	l.discard = false;
	chain_init(c, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 16);
	set_range(c, 0, 8, 0);
	assert_refused(c, &l, VIRTIO_BLK_S_UNSUPP);
	l.readonly = true;
	chain_init(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, 16);
	set_range(c, 0, 8, 0);
	assert_refused(c, &l, VIRTIO_BLK_S_IOERR);
	free(c);
}

static void test_parse_get_id_flush(void **state)
{
	struct blk_limits l = limits();
	struct chain *c = calloc(1, sizeof(*c));
	struct blk_req r;

	(void)state;
	chain_init(c, VIRTIO_BLK_T_GET_ID, 0, 0, 1, 20);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_GET_ID);
	assert_int_equal(r.len, 20);
	chain_init(c, VIRTIO_BLK_T_GET_ID, 0, 0, 1, 8);	/* shorter buffer: what fits */
	parse(c, &l, &r);
	assert_int_equal(r.len, 8);
	chain_init(c, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0);
	parse(c, &l, &r);
	assert_int_equal(r.op, BLK_OP_FLUSH);
	free(c);
}

/* ---- The device ---- */

#define BLK_FEATURES                                                                             \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_DISCARD) |             \
	 BIT(VIRTIO_BLK_F_WRITE_ZEROES) | BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |     \
	 BIT(VIRTIO_BLK_F_CONFIG_WCE))
#define HDR_IOVA(i) (BUF_IOVA(i))
#define DATA_IOVA(i) (BUF_IOVA(64 + 2 * (i)))	/* 8 KiB each */
#define STATUS_IOVA(i) (BUF_IOVA(i) + 0x800)

struct blk_env {
	char path[64];
	int fd;
	struct drv *d;
};

static void env_open_with(struct blk_env *env, uint64_t capacity, bool readonly, bool reorder,
			  uint32_t delay_ms, bool drop_dirty_log)
{
	struct ifcvf_model_config c;

	snprintf(env->path, sizeof(env->path), "/tmp/uvdpa-blk-unit.XXXXXX");
	env->fd = mkstemp(env->path);
	assert_true(env->fd >= 0);
	assert_int_equal(ftruncate(env->fd, (off_t)capacity), 0);
	memset(&c, 0, sizeof(c));
	c.type = UVDPA_TYPE_BLK;
	snprintf(c.file, sizeof(c.file), "%s", env->path);
	c.readonly = readonly;
	c.reorder_completions = reorder;
	c.reorder_delay_ms = delay_ms;
	c.drop_dirty_log = drop_dirty_log;
	env->d = drv_open(&c);
	drv_start(env->d, BLK_FEATURES | (readonly ? BIT(VIRTIO_BLK_F_RO) : 0), 1);
}

static void env_open(struct blk_env *env, uint64_t capacity, bool readonly)
{
	env_open_with(env, capacity, readonly, false, 0, false);
}

static void env_close(struct blk_env *env)
{
	drv_close(env->d);
	close(env->fd);
	unlink(env->path);
}

/* Queues request i (header, optional data of len bytes, status) on vring q. */
static void submit_q(struct drv *d, uint16_t q, unsigned int i, uint32_t type, uint64_t sector,
		     uint32_t len, bool data_writable)
{
	struct virtio_blk_outhdr *h = gpa(d, HDR_IOVA(i));
	uint64_t iova[3] = { HDR_IOVA(i), DATA_IOVA(i), STATUS_IOVA(i) };
	uint32_t lens[3] = { sizeof(*h), len, 1 };
	bool wr[3] = { false, data_writable, true };

	h->type = htole32(type);
	h->ioprio = 0;
	h->sector = htole64(sector);
	*(uint8_t *)gpa(d, STATUS_IOVA(i)) = 0xff;
	if (len) {
		drv_add_chain(d, q, 3, iova, lens, wr);
	} else {
		iova[1] = iova[2];
		lens[1] = 1;
		wr[1] = true;
		drv_add_chain(d, q, 2, iova, lens, wr);
	}
}

static void submit(struct drv *d, unsigned int i, uint32_t type, uint64_t sector, uint32_t len,
		   bool data_writable)
{
	submit_q(d, 0, i, type, sector, len, data_writable);
}

/* Completes request i: its status, and the used length. */
static uint8_t complete_one(struct drv *d, unsigned int i, uint32_t *used_len)
{
	uint32_t id = 0, len = 0;

	drv_kick(d, 0);
	assert_true(drv_get_used(d, 0, &id, &len));
	if (used_len)
		*used_len = len;
	return *(uint8_t *)gpa(d, STATUS_IOVA(i));
}

static uint8_t request(struct drv *d, uint32_t type, uint64_t sector, uint32_t len, bool wr,
		       uint32_t *used_len)
{
	submit(d, 0, type, sector, len, wr);
	return complete_one(d, 0, used_len);
}

static void test_device_io(void **state)
{
	struct blk_env env;
	uint8_t *data, buf[4096];
	uint32_t used;
	struct stat st;
	int i;

	(void)state;
	env_open(&env, 1 << 20, false);
	data = gpa(env.d, DATA_IOVA(0));
	/* Write 4 KiB at sector 3; the file holds it at byte 1536. */
	for (i = 0; i < 4096; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(request(env.d, VIRTIO_BLK_T_OUT, 3, 4096, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_int_equal(pread(env.fd, buf, 4096, 1536), 4096);
	assert_memory_equal(buf, data, 4096);
	/* Read it back into a cleared buffer: data plus status written. */
	memset(data, 0, 4096);
	assert_int_equal(request(env.d, VIRTIO_BLK_T_IN, 3, 4096, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 4097);
	assert_memory_equal(buf, data, 4096);
	/* The last sector, FLUSH, GET_ID. */
	assert_int_equal(request(env.d, VIRTIO_BLK_T_OUT, 2047, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(env.d, VIRTIO_BLK_T_FLUSH, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_int_equal(request(env.d, VIRTIO_BLK_T_GET_ID, 0, 20, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(data, "uvdpa-", 6);
	/* WRITE_ZEROES (no unmap) reads back zeros; DISCARD punches a hole. */
	{
		struct virtio_blk_discard_write_zeroes *seg = (void *)data;

		seg->sector = htole64(3);
		seg->num_sectors = htole32(8);
		seg->flags = 0;
		assert_int_equal(request(env.d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(pread(env.fd, buf, 4096, 1536), 4096);
		for (i = 0; i < 4096; i++)
			assert_int_equal(buf[i], 0);
		memset(buf, 0x5a, sizeof(buf));
		assert_int_equal(pwrite(env.fd, buf, 4096, 65536), 4096);
		assert_int_equal(fsync(env.fd), 0);
		assert_int_equal(fstat(env.fd, &st), 0);
		blkcnt_t before = st.st_blocks;

		seg->sector = htole64(128);
		seg->num_sectors = htole32(8);
		assert_int_equal(request(env.d, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(fstat(env.fd, &st), 0);
		assert_true(st.st_blocks < before);
		assert_int_equal(pread(env.fd, buf, 4096, 65536), 4096);
		assert_int_equal(buf[0], 0);
	}
	/* Refused requests get their status and the queue keeps serving. */
	assert_int_equal(request(env.d, VIRTIO_BLK_T_IN, 2048, 512, true, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	assert_int_equal(request(env.d, 0x1234, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(env.d, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_false(status(env.d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Counters. */
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_REQUESTS), 10);
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_WRITE_BYTES), 4096 + 512);
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_READ_BYTES), 4096 + 512);
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_ERRORS), 2);
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_IN_FLIGHT), 0);
	env_close(&env);
}

static void test_device_readonly(void **state)
{
	struct blk_env env;

	(void)state;
	env_open(&env, 1 << 20, true);
	assert_true(device_features(env.d) & BIT(VIRTIO_BLK_F_RO));
	assert_int_equal(request(env.d, VIRTIO_BLK_T_OUT, 0, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(env.d, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
	env_close(&env);
}

/* Stopping a queue (queue_enable 0, as the driver does before reading
 * RING_STATE) completes every request it took: avail == used. */
static void test_device_stop_drains(void **state)
{
	struct blk_env env;
	uint32_t rs;
	unsigned int i;

	(void)state;
	env_open(&env, 4 << 20, false);
	for (i = 0; i < 48; i++)
		submit(env.d, i, VIRTIO_BLK_T_OUT, i * 16, 8192, false);
	drv_kick(env.d, 0);
	common_w16(env.d, VIRTIO_PCI_COMMON_Q_SELECT, 0);
	common_w16(env.d, VIRTIO_PCI_COMMON_Q_ENABLE, 0);
	rs = lm_r32(env.d, IFCVF_LM_RING_STATE_BASE);
	assert_int_equal(rs & 0xffff, rs >> 16);
	assert_int_equal(env.d->vq[0].used->idx, rs >> 16);
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_IN_FLIGHT), 0);
	for (i = 0; i < (rs >> 16); i++)
		assert_int_equal(*(uint8_t *)gpa(env.d, STATUS_IOVA(i)), VIRTIO_BLK_S_OK);
	env_close(&env);
}

static void test_device_resize(void **state)
{
	struct blk_env env;
	char err[256] = "";
	uint32_t gen;
	uint64_t cap;
	struct stat st;

	(void)state;
	env_open(&env, 1 << 20, false);
	drain_vector(env.d, 0);
	gen = common_r8(env.d, VIRTIO_PCI_COMMON_CFGGENERATION);
	assert_int_equal(ifcvf_model_set_capacity(env.d->pdev, 2 << 20, err, sizeof(err)), 0);
	assert_true(wait_vector(env.d, 0, TIMEOUT_MS));
	assert_int_not_equal(common_r8(env.d, VIRTIO_PCI_COMMON_CFGGENERATION), gen);
	cap = uvdpa_pci_bar_read32(env.d->pdev, env.d->device.bar, env.d->device.off) |
	      (uint64_t)uvdpa_pci_bar_read32(env.d->pdev, env.d->device.bar, env.d->device.off + 4)
		      << 32;
	assert_int_equal(cap, 4096);
	assert_int_equal(fstat(env.fd, &st), 0);
	assert_int_equal(st.st_size, 2 << 20);
	/* The new sectors are usable at once. */
	assert_int_equal(request(env.d, VIRTIO_BLK_T_OUT, 4095, 512, false, NULL), VIRTIO_BLK_S_OK);
	/* Shrinking is refused with a reason. */
	assert_int_equal(ifcvf_model_set_capacity(env.d->pdev, 1 << 20, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "only grows"));
	env_close(&env);
}

/* Hardware-mode dirty logging: a read logs the pages it filled and the
 * status byte's page; a write logs only the status byte's page. With the
 * drop-dirty-log fault the device logs nothing (what the guest-blk-migration
 * test's fault case relies on). */
static void dirty_log_case(bool drop)
{
	struct blk_env env;
	const size_t log_size = (GUEST_IOVA + GUEST_SIZE) / 4096 / 8;
	uint8_t *log = calloc(1, log_size);
	uint64_t page;
	size_t i;

	assert_non_null(log);
	env_open_with(&env, 1 << 20, false, false, 0, drop);
	assert_int_equal(env.d->pdev->ops->dma_map(env.d->pdev, IFCVF_LOG_IOVA, log, log_size), 0);
	lm_w32(env.d, IFCVF_LM_BASE_ADDR_LOW, (uint32_t)IFCVF_LOG_IOVA);
	lm_w32(env.d, IFCVF_LM_BASE_ADDR_HIGH, (uint32_t)(IFCVF_LOG_IOVA >> 32));
	lm_w32(env.d, IFCVF_LM_END_ADDR_LOW, (uint32_t)(IFCVF_LOG_IOVA + log_size));
	lm_w32(env.d, IFCVF_LM_END_ADDR_HIGH, (uint32_t)((IFCVF_LOG_IOVA + log_size) >> 32));
	lm_w32(env.d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_ENABLE_VF);

	/* 8 KiB read into DATA_IOVA(0): two data pages and the status page. */
	assert_int_equal(request(env.d, VIRTIO_BLK_T_IN, 0, 8192, true, NULL), VIRTIO_BLK_S_OK);
	for (i = 0; i < log_size * 8; i++) {
		bool dirty = log[i / 8] & (1u << (i % 8));

		page = DATA_IOVA(0) / 4096;
		if (dirty != (!drop && (i == page || i == page + 1 || i == STATUS_IOVA(0) / 4096)))
			fail_msg("read: page 0x%zx: dirty %d", i, dirty);
	}
	memset(log, 0, log_size);
	assert_int_equal(request(env.d, VIRTIO_BLK_T_OUT, 0, 8192, false, NULL), VIRTIO_BLK_S_OK);
	for (i = 0; i < log_size * 8; i++) {
		bool dirty = log[i / 8] & (1u << (i % 8));

		if (dirty != (!drop && i == STATUS_IOVA(0) / 4096))
			fail_msg("write: page 0x%zx: dirty %d", i, dirty);
	}
	lm_w32(env.d, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_DISABLE);
	env_close(&env);
	free(log);
}

/* reorder-completions: every 8th completion comes 20 ms late, after later
 * requests; all of them complete, each once. */
static void test_device_reorder(void **state)
{
	struct blk_env env;
	bool seen[16] = { false }, inverted = false;
	unsigned int i, prev = 0;

	(void)state;
	env_open_with(&env, 1 << 20, false, true, 0, false);
	for (i = 0; i < 16; i++)
		submit(env.d, i, VIRTIO_BLK_T_OUT, i * 8, 4096, false);
	drv_kick(env.d, 0);
	for (i = 0; i < 16; i++) {
		uint32_t id = 0, len = 0;

		assert_true(drv_get_used(env.d, 0, &id, &len));
		assert_true(id < 256);
		/* Chains are 3 descriptors: head 3 * n is request n. */
		assert_int_equal(id % 3, 0);
		assert_false(seen[id / 3]);
		seen[id / 3] = true;
		if (i && id / 3 < prev)
			inverted = true;
		prev = id / 3;
	}
	/* The 8th to finish its I/O was held back: a later one passed it. */
	assert_true(inverted);
	env_close(&env);
}

/* A disk that does not answer: the stop waits its bound (5 s), reports the
 * file, and stops without the request (RING_STATE: one taken, not used);
 * the late completion is dropped, and the queue starts again and serves. */
static void test_device_stop_stuck(void **state)
{
	struct blk_env env;
	struct timespec t0, t1;
	uint32_t rs;
	unsigned int i;
	double secs;

	(void)state;
	env_open_with(&env, 1 << 20, false, true, 6000, false);
	for (i = 0; i < 8; i++)
		submit(env.d, i, VIRTIO_BLK_T_OUT, i * 8, 4096, false);
	drv_kick(env.d, 0);
	for (i = 0; i < 7; i++)
		assert_true(drv_get_used(env.d, 0, NULL, NULL));
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_IN_FLIGHT), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	common_w16(env.d, VIRTIO_PCI_COMMON_Q_SELECT, 0);
	common_w16(env.d, VIRTIO_PCI_COMMON_Q_ENABLE, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs >= 4.5 && secs < 5.9);
	rs = lm_r32(env.d, IFCVF_LM_RING_STATE_BASE);
	assert_int_equal(rs & 0xffff, 8);
	assert_int_equal(rs >> 16, 7);
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_ERRORS), 1);
	/* The held completion arrives after the stop and is dropped. */
	sleep(2);
	assert_int_equal(env.d->vq[0].used->idx, 7);
	assert_int_equal(stat_of(env.d, 0, UVDPA_VQ_STAT_IN_FLIGHT), 0);
	env_close(&env);
}

/* The writeback switch: with CONFIG_WCE a driver write of wce = 0 makes
 * the device write through (it reads back 0); without CONFIG_WCE the byte is
 * read-only. */
static void test_device_write_cache(void **state)
{
	const uint32_t wce = offsetof(struct virtio_blk_config, wce);
	struct blk_env env;

	(void)state;
	env_open(&env, 1 << 20, false);
	assert_int_equal(uvdpa_pci_bar_read8(env.d->pdev, env.d->device.bar, env.d->device.off + wce),
			 1);
	uvdpa_pci_bar_write8(env.d->pdev, env.d->device.bar, env.d->device.off + wce, 0);
	assert_int_equal(uvdpa_pci_bar_read8(env.d->pdev, env.d->device.bar, env.d->device.off + wce),
			 0);
	/* Writes still complete (with RWF_DSYNC now). */
	assert_int_equal(request(env.d, VIRTIO_BLK_T_OUT, 0, 4096, false, NULL), VIRTIO_BLK_S_OK);
	env_close(&env);

	env_open(&env, 1 << 20, false);
	drv_start(env.d, BLK_FEATURES & ~BIT(VIRTIO_BLK_F_CONFIG_WCE), 1);
	uvdpa_pci_bar_write8(env.d->pdev, env.d->device.bar, env.d->device.off + wce, 0);
	assert_int_equal(uvdpa_pci_bar_read8(env.d->pdev, env.d->device.bar, env.d->device.off + wce),
			 1);
	env_close(&env);
}

static void test_device_dirty_log(void **state)
{
	(void)state;
	dirty_log_case(false);
}

static void test_device_dirty_log_dropped(void **state)
{
	(void)state;
	dirty_log_case(true);
}

/* The backing file's lock: devices on shared storage (the source and the
 * destination of a live migration) share the file; a device that is not
 * on shared storage shares it with none of them, nor they with it. */
static void test_device_file_lock(void **state)
{
	struct ifcvf_model_config c;
	struct uvdpa_pci_dev *a, *b, *x;
	char path[64], err[256] = "";
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/uvdpa-blk-unit.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	memset(&c, 0, sizeof(c));
	c.type = UVDPA_TYPE_BLK;
	snprintf(c.file, sizeof(c.file), "%s", path);
	c.shared_storage = true;
	a = ifcvf_model_create(&c, err, sizeof(err));
	assert_non_null(a);
	b = ifcvf_model_create(&c, err, sizeof(err));
	assert_non_null(b);
	c.shared_storage = false;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_int_equal(errno, EBUSY);
	assert_non_null(strstr(err, "in use"));
	assert_non_null(strstr(err, "shared-storage=1"));
	uvdpa_pci_dev_release(a);
	uvdpa_pci_dev_release(b);
	x = ifcvf_model_create(&c, err, sizeof(err));
	assert_non_null(x);
	c.shared_storage = true;
	assert_null(ifcvf_model_create(&c, err, sizeof(err)));
	assert_int_equal(errno, EBUSY);
	uvdpa_pci_dev_release(x);
	close(fd);
	unlink(path);
}

/* A request the disk holds (3 s) stalls nothing else: the other queue of
 * the same device, on the same engine, completes its requests meanwhile. */
static void test_device_slow_request_isolated(void **state)
{
	struct ifcvf_model_config c;
	char path[64];
	struct drv *d;
	unsigned int i;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/uvdpa-blk-unit.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	memset(&c, 0, sizeof(c));
	c.type = UVDPA_TYPE_BLK;
	snprintf(c.file, sizeof(c.file), "%s", path);
	c.num_queues = 2;
	c.reorder_completions = true;
	c.reorder_delay_ms = 3000;
	d = drv_open(&c);
	drv_start(d, BLK_FEATURES | BIT(VIRTIO_BLK_F_MQ), 2);
	/* Queue 0: the 8th completion is held. */
	for (i = 0; i < 8; i++)
		submit_q(d, 0, i, VIRTIO_BLK_T_OUT, i * 8, 4096, false);
	drv_kick(d, 0);
	for (i = 0; i < 7; i++)
		assert_true(drv_get_used(d, 0, NULL, NULL));
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_IN_FLIGHT), 1);
	/* Queue 1: 7 requests, one at a time, each within 0.5 s (the 8th
	 * completion overall would be held again). */
	for (i = 0; i < 7; i++) {
		struct timespec t0, t1;
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		submit_q(d, 1, 16 + i, VIRTIO_BLK_T_IN, 512 + i * 8, 4096, true);
		drv_kick(d, 1);
		assert_true(drv_get_used(d, 1, NULL, NULL));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		assert_true(ms < 500);
		assert_int_equal(*(uint8_t *)gpa(d, STATUS_IOVA(16 + i)), VIRTIO_BLK_S_OK);
	}
	assert_int_equal(stat_of(d, 0, UVDPA_VQ_STAT_IN_FLIGHT), 1);	/* still held */
	drv_close(d);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_read_write),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_parse_discard_write_zeroes),
		cmocka_unit_test(test_parse_get_id_flush),
		cmocka_unit_test(test_device_io),
		cmocka_unit_test(test_device_readonly),
		cmocka_unit_test(test_device_stop_drains),
		cmocka_unit_test(test_device_resize),
		cmocka_unit_test(test_device_dirty_log),
		cmocka_unit_test(test_device_reorder),
		cmocka_unit_test(test_device_stop_stuck),
		cmocka_unit_test(test_device_write_cache),
		cmocka_unit_test(test_device_slow_request_isolated),
		cmocka_unit_test(test_device_dirty_log_dropped),
		cmocka_unit_test(test_device_file_lock),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
