/* libFuzzer target: a sequence of vhost-user messages, with simulated fds,
 * fed to a detached session of a small fake vDPA device, interleaved with
 * calls to the translation and dirty-log accessors a driver makes.
 *
 * Input format (little endian; gen_seeds.py writes it):
 *   u8 cfg          bit 0: blk (else net); bit 1: device offers no MQ/CONFIG;
 *                   bit 2: dev_conf fails; bit 3: dev_conf asks for host
 *                   notifiers and a config-change notification
 *   records until the input ends (at most MAX_RECORDS):
 *   tag < 0x80: a message
 *     tag & 0x40: u32 request, u32 flags, u32 size (raw header)
 *     else:       request = tag & 0x3f, u8 flags, u16 size
 *     payload:    min(size, VHOST_USER_PAYLOAD_MAX) bytes
 *     u8 fdspec:  low nibble = fd count (capped at 8); per fd one kind byte
 *                 (kind & 7): 0 memfd of an explicit u32 size (capped),
 *                 1 memfd sized as the message claims minus (kind >> 3)
 *                 pages, 2 eventfd, 3 /dev/null, 4 memfd of 4 KiB,
 *                 5..7 like 1. fdspec 0xf9..0xff: nfds is set to an invalid
 *                 count (-1 or 10..14) after the fds are made
 *   tag >= 0x80: an accessor call, (tag & 0x7f) % OP_COUNT, arguments below.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/util.h"
#include "fuzz_common.h"
#include "uvdpa/vdpa.h"
#include "uvdpa/vhost_user.h"
#include "vhost/vu_private.h"

#define MAX_RECORDS 256
#define MEMFD_CAP (4u << 20)	/* keeps each iteration's memory small */
#define MAX_TRACKED_FDS (MAX_RECORDS * VHOST_USER_MAX_FDS)
#define PAGE 4096u

#define CFG_BLK 0x01
#define CFG_NARROW 0x02
#define CFG_CONF_FAILS 0x04
#define CFG_NOTIFY 0x08

enum fuzz_op {
	OP_LOG_WRITE,
	OP_LOG_USED_RING,
	OP_GPA_TO_HVA,
	OP_UVA_TO_HVA,
	OP_HVA_TO_GPA,
	OP_RESET_SESSION,
	OP_VRING_CALL,
	OP_WALK,
	OP_VRING_BASE,
	OP_BACKEND,
	OP_COUNT
};

/* A ring as the device took it when it was reported ready: the library must
 * keep all of this mapped and open until it stops the ring. */
struct held_ring {
	bool on;
	const void *desc, *avail, *used;
	uint64_t desc_len, avail_len, used_len;
	int kickfd, callfd;
};

struct fake_dev {
	uint8_t cfg;
	bool configured;		/* between dev_conf and dev_close */
	struct held_ring rings[UVDPA_VHOST_MAX_VRINGS];
	uint8_t config_space[VHOST_USER_MAX_CONFIG_SIZE];
	volatile uint8_t sink;		/* keeps the ring reads */
};

static struct fake_dev fake;
/* The session under test (the ops below look at it through the library's
 * own accessors, which check more than the session interface shows). */
static struct uvdpa_vhost *fuzz_vu;
static bool debug_fds;
/* Every fd the harness made this iteration: all must be closed by the end. */
static int tracked[MAX_TRACKED_FDS];
static unsigned int ntracked;

/* ---- Checks on what the library hands out ---- */

/* [p, p+len) must lie inside one region's mapping of its memory. */
static void check_in_memory(struct uvdpa_vhost *dev, const void *p, uint64_t len)
{
	const struct vu_mem_region *t;
	unsigned int n, i;
	uintptr_t a = (uintptr_t)p;

	t = vu_get_mem_table(dev, &n);
	FUZZ_CHECK(n <= VU_MAX_MEM_SLOTS);
	for (i = 0; i < n; i++) {
		uintptr_t h = (uintptr_t)t[i].host;

		if (a >= h && a - h <= t[i].size && len <= t[i].size - (a - h))
			return;
	}
	FUZZ_CHECK(!"pointer range outside every memory region");
}

static void touch(const void *p, uint64_t len)
{
	const volatile uint8_t *b = p;
	uint8_t acc = 0;
	uint64_t i;

	for (i = 0; i < len; i++)
		acc ^= b[i];
	fake.sink ^= acc;
}

static void touch_ends(const void *p, uint64_t len)
{
	const volatile uint8_t *b = p;

	if (len)
		fake.sink ^= b[0] ^ b[len - 1];
}

static void check_table(struct uvdpa_vhost *dev)
{
	const struct vu_mem_region *t;
	unsigned int n, i;

	t = vu_get_mem_table(dev, &n);
	FUZZ_CHECK(n <= VU_MAX_MEM_SLOTS);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(t[i].size > 0);
		FUZZ_CHECK(t[i].mmap_addr != NULL);
		FUZZ_CHECK((uint8_t *)t[i].host == (uint8_t *)t[i].mmap_addr + t[i].mmap_offset);
		FUZZ_CHECK(t[i].mmap_offset + t[i].size <= t[i].mmap_size);
		FUZZ_CHECK(t[i].fd >= 0);
	}
}

/* What a driver does in dev_conf: read every ring in full. */
static void walk_rings(struct uvdpa_vhost *dev)
{
	uint64_t event = (uvdpa_vhost_features(dev) >> 29) & 1 ? 2 : 0;
	uint16_t i, n = vu_get_vring_num(dev);
	void *base;
	uint64_t size;
	uint16_t nq, qs;
	int fd;

	FUZZ_CHECK(n <= UVDPA_VHOST_MAX_VRINGS);
	check_table(dev);
	if (vu_log_enabled(dev))
		FUZZ_CHECK(uvdpa_vhost_features(dev) & (1ull << UVDPA_VHOST_F_LOG_ALL));
	if ((vu_get_protocol_features(dev) >> UVDPA_VHOST_USER_PROTOCOL_F_STATUS) & 1 && fake.configured)
		FUZZ_CHECK(uvdpa_vhost_status(dev) & 4);	/* DRIVER_OK */
	for (i = 0; i < n; i++) {
		struct vu_vring_info vi;
		uint64_t num;

		FUZZ_CHECK(vu_get_vring(dev, i, &vi) == 0);
		num = vi.size;
		FUZZ_CHECK(num <= VU_MAX_QUEUE_SIZE);
		if (!vi.desc) {
			FUZZ_CHECK(!vi.ready);
			continue;
		}
		FUZZ_CHECK(vi.avail && vi.used && num);
		check_in_memory(dev, vi.desc, 16 * num);
		check_in_memory(dev, vi.avail, 4 + 2 * num + event);
		check_in_memory(dev, vi.used, 4 + 8 * num + event);
		touch(vi.desc, 16 * num);
		touch(vi.avail, 4 + 2 * num + event);
		touch(vi.used, 4 + 8 * num + event);
		/* The GPAs it reports must translate back to the same memory. */
		{
			uint64_t len = 16 * num;
			void *h = vu_gpa_to_hva(dev, vi.desc_gpa, &len);

			FUZZ_CHECK(h == vi.desc && len == 16 * num);
		}
		if (vi.kickfd >= 0)
			FUZZ_CHECK(fcntl(vi.kickfd, F_GETFD) >= 0);
		if (vi.callfd >= 0)
			FUZZ_CHECK(fcntl(vi.callfd, F_GETFD) >= 0);
	}
	if (vu_get_log_base(dev, &base, &size, &fd, NULL) == 0) {
		FUZZ_CHECK(size > 0 && fcntl(fd, F_GETFD) >= 0);
		touch_ends(base, size);
	}
	base = vu_get_inflight(dev, &size, &nq, &qs);
	if (base) {
		uint64_t q;

		FUZZ_CHECK(nq > 0 && size >= nq * virtq_inflight_queue_bytes(qs));
		for (q = 0; q < nq; q++)
			touch((uint8_t *)base + q * virtq_inflight_queue_bytes(qs),
			      sizeof(struct virtq_inflight_region));
		touch_ends(base, size);
	}
}

/* ---- The fake device ---- */

static void hold_ring(struct uvdpa_vhost *vu, uint16_t idx)
{
	uint64_t event = (uvdpa_vhost_features(vu) >> 29) & 1 ? 2 : 0;
	struct held_ring *h = &fake.rings[idx];
	struct vu_vring_info vi;

	FUZZ_CHECK(vu_get_vring(vu, idx, &vi) == 0 && vi.ready && vi.desc);
	h->on = true;
	h->desc = vi.desc;
	h->avail = vi.avail;
	h->used = vi.used;
	h->desc_len = 16 * (uint64_t)vi.size;
	h->avail_len = 4 + 2 * (uint64_t)vi.size + event;
	h->used_len = 4 + 8 * (uint64_t)vi.size + event;
	h->kickfd = vi.kickfd;
	h->callfd = vi.callfd;
}

/* What the device still uses must still be there. */
static void check_held(struct uvdpa_vhost *vu)
{
	uint16_t i;

	if (!fake.configured)
		return;
	for (i = 0; i < UVDPA_VHOST_MAX_VRINGS; i++) {
		const struct held_ring *h = &fake.rings[i];

		if (!h->on)
			continue;
		check_in_memory(vu, h->desc, h->desc_len);
		check_in_memory(vu, h->avail, h->avail_len);
		check_in_memory(vu, h->used, h->used_len);
		touch_ends(h->desc, h->desc_len);
		touch_ends(h->avail, h->avail_len);
		touch_ends(h->used, h->used_len);
		if (h->kickfd >= 0)
			FUZZ_CHECK(fcntl(h->kickfd, F_GETFD) >= 0);
		if (h->callfd >= 0)
			FUZZ_CHECK(fcntl(h->callfd, F_GETFD) >= 0);
	}
}

static int fd_get_queue_num(struct uvdpa_device *d, uint32_t *n)
{
	*n = 2;
	return 0;
}

static int fd_get_features(struct uvdpa_device *d, uint64_t *f)
{
	if (fake.cfg & CFG_BLK)
		*f = (1ull << 1) | (1ull << 2) | (1ull << 6) | (1ull << 9) | (1ull << 11) |
		     ((fake.cfg & CFG_NARROW) ? 0 : 1ull << 12);
	else
		*f = (1ull << 0) | (1ull << 1) | (1ull << 5) | (1ull << 7) | (1ull << 11) |
		     (1ull << 15) | (1ull << 16) | (1ull << 17) | (1ull << 21) |
		     ((fake.cfg & CFG_NARROW) ? 0 : 1ull << 22);
	*f |= (1ull << UVDPA_VHOST_F_LOG_ALL) | (1ull << 29) | (1ull << UVDPA_VHOST_USER_F_PROTOCOL_FEATURES) |
	      (1ull << VIRTIO_F_VERSION_1_BIT);
	return 0;
}

static int fd_get_protocol_features(struct uvdpa_device *d, uint64_t *f)
{
	/* *f comes in as what the library implements. */
	if (fake.cfg & CFG_NARROW)
		*f &= ~((1ull << UVDPA_VHOST_USER_PROTOCOL_F_MQ) | (1ull << UVDPA_VHOST_USER_PROTOCOL_F_CONFIG));
	else if (!(fake.cfg & CFG_BLK))
		*f &= ~(1ull << UVDPA_VHOST_USER_PROTOCOL_F_CONFIG);
	return 0;
}

static int fd_get_dev_type(struct uvdpa_device *d, enum uvdpa_dev_type *t)
{
	*t = (fake.cfg & CFG_BLK) ? UVDPA_TYPE_BLK : UVDPA_TYPE_NET;
	return 0;
}

static int fd_get_config(struct uvdpa_device *d, uint8_t *buf, uint32_t off, uint32_t len)
{
	FUZZ_CHECK(off <= sizeof(fake.config_space) && len <= sizeof(fake.config_space) - off);
	memcpy(buf, fake.config_space + off, len);
	return 0;
}

static int fd_set_config(struct uvdpa_device *d, const uint8_t *buf, uint32_t off, uint32_t len,
			 uint32_t flags)
{
	FUZZ_CHECK(off <= sizeof(fake.config_space) && len <= sizeof(fake.config_space) - off);
	memcpy(fake.config_space + off, buf, len);
	return 0;
}

static int fd_dev_conf(struct uvdpa_device *d, struct uvdpa_session *s)
{
	struct uvdpa_vhost *vu = fuzz_vu;
	uint16_t i;

	FUZZ_CHECK(s == vu_dev_session(vu));

	FUZZ_CHECK(!fake.configured);
	FUZZ_CHECK(vu_get_vring_num(vu) >= ((fake.cfg & CFG_BLK) ? 1 : 2));
	walk_rings(vu);
	for (i = 0; i < vu_get_vring_num(vu); i++) {
		struct vu_vring_info vi;

		vu_get_vring(vu, i, &vi);
		if (i < ((fake.cfg & CFG_BLK) ? 1 : 2))
			FUZZ_CHECK(vi.ready && vi.desc);
		if (vi.ready)
			vu_vring_call(vu, i);
	}
	if (fake.cfg & CFG_CONF_FAILS)
		return -EIO;
	for (i = 0; i < vu_get_vring_num(vu); i++) {
		struct vu_vring_info vi;

		vu_get_vring(vu, i, &vi);
		if (vi.ready)
			hold_ring(vu, i);
	}
	if (fake.cfg & CFG_NOTIFY) {
		vu_host_notifier_ctrl(vu, VU_ALL_VRINGS, true);
		vu_config_change(vu);
	}
	fake.configured = true;
	return 0;
}

static int fd_dev_close(struct uvdpa_device *d)
{
	struct uvdpa_vhost *vu = fuzz_vu;
	uint16_t i;

	FUZZ_CHECK(fake.configured);
	/* A real driver hands the ring state back before it lets go. */
	for (i = 0; i < vu_get_vring_num(vu); i++) {
		uint16_t a, u;

		FUZZ_CHECK(vu_get_vring_base(vu, i, &a, &u) == 0);
		vu_set_vring_base(vu, i, a, u);
	}
	if (fake.cfg & CFG_NOTIFY)
		vu_host_notifier_ctrl(vu, VU_ALL_VRINGS, false);
	/* Until this returns the device may still touch its rings. */
	check_held(vu);
	memset(fake.rings, 0, sizeof(fake.rings));
	fake.configured = false;
	return 0;
}

static int fd_set_vring_state(struct uvdpa_device *d, uint16_t idx, bool enable)
{
	struct uvdpa_vhost *vu = fuzz_vu;
	struct vu_vring_info vi;

	FUZZ_CHECK(fake.configured);
	FUZZ_CHECK(idx < vu_get_vring_num(vu));
	FUZZ_CHECK(vu_get_vring(vu, idx, &vi) == 0);
	/* Told exactly once per change. */
	FUZZ_CHECK(fake.rings[idx].on != enable);
	if (enable) {
		hold_ring(vu, idx);
		walk_rings(vu);
	} else {
		check_held(vu);
		fake.rings[idx].on = false;
	}
	return 0;
}

static int fd_set_features(struct uvdpa_device *d, uint64_t features)
{
	uint64_t offered;

	fd_get_features(d, &offered);
	FUZZ_CHECK(features == uvdpa_vhost_features(fuzz_vu));
	FUZZ_CHECK(!(features & ~offered));
	return 0;
}

static int fd_migration_done(struct uvdpa_device *d, const uint8_t *mac)
{
	return 0;
}

static int fd_get_notify_area(struct uvdpa_device *d, uint16_t vring, int *fd, uint64_t *offset,
			      uint64_t *size)
{
	return -ENOTSUP;
}

static const struct uvdpa_device_ops fake_ops = {
	.get_queue_num = fd_get_queue_num,
	.get_features = fd_get_features,
	.get_protocol_features = fd_get_protocol_features,
	.get_dev_type = fd_get_dev_type,
	.get_config = fd_get_config,
	.set_config = fd_set_config,
	.dev_conf = fd_dev_conf,
	.dev_close = fd_dev_close,
	.set_vring_state = fd_set_vring_state,
	.set_features = fd_set_features,
	.migration_done = fd_migration_done,
	.get_notify_area = fd_get_notify_area,
};

static struct uvdpa_device fake_vdpa = {
	.name = "fuzz0",
	.type = UVDPA_TYPE_NET,
	.ops = &fake_ops,
};

/* ---- Simulated fds ---- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* The file size the message asks of its fd number i. */
static uint64_t claimed_size(const struct vhost_user_msg *m, int i)
{
	const union vhost_user_payload *p = &m->payload;

	switch (m->hdr.request) {
	case VHOST_USER_SET_MEM_TABLE:
		if (i < VHOST_USER_MAX_REGIONS)
			return sat_add(p->memory.regions[i].mmap_offset,
				       p->memory.regions[i].memory_size);
		break;
	case VHOST_USER_ADD_MEM_REG:
		return sat_add(p->mem_reg.region.mmap_offset, p->mem_reg.region.memory_size);
	case VHOST_USER_SET_LOG_BASE:
		return sat_add(p->log.mmap_offset, p->log.mmap_size);
	case VHOST_USER_SET_INFLIGHT_FD:
		return sat_add(p->inflight.mmap_offset, p->inflight.mmap_size);
	}
	return PAGE;
}

static int make_memfd(uint64_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size > MEMFD_CAP)
		size = MEMFD_CAP;
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int make_fd(struct fuzz_in *in, const struct vhost_user_msg *m, int i)
{
	uint8_t kind = fin_u8(in);
	uint64_t want;
	int fd;

	switch (kind & 7) {
	case 0:
		fd = make_memfd(fin_u32(in));
		break;
	case 2:
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case 3:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	case 4:
		fd = make_memfd(PAGE);
		break;
	default:
		want = claimed_size(m, i);
		want = want > (uint64_t)(kind >> 3) * PAGE ? want - (uint64_t)(kind >> 3) * PAGE : 0;
		fd = make_memfd(want);
		break;
	}
	if (fd >= 0 && ntracked < MAX_TRACKED_FDS)
		tracked[ntracked++] = fd;
	return fd;
}

/* ---- Records ---- */

static bool request_always_replies(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
	case VHOST_USER_SET_LOG_BASE:
		return true;
	}
	return false;
}

static void do_message(struct uvdpa_vhost *dev, struct fuzz_in *in, uint8_t tag)
{
	struct vhost_user_msg msg, reply;
	int made[VHOST_USER_MAX_FDS], nmade;
	uint8_t fdspec;
	bool need_reply;
	uint32_t n;
	int i, ret;

	memset(&msg, 0, sizeof(msg));
	if (tag & 0x40) {
		msg.hdr.request = fin_u32(in);
		msg.hdr.flags = fin_u32(in);
		msg.hdr.size = fin_u32(in);
	} else {
		msg.hdr.request = tag & 0x3f;
		msg.hdr.flags = fin_u8(in);
		msg.hdr.size = fin_u16(in);
	}
	n = msg.hdr.size < VHOST_USER_PAYLOAD_MAX ? msg.hdr.size : VHOST_USER_PAYLOAD_MAX;
	fin_bytes(in, &msg.payload, n);
	fdspec = fin_u8(in);
	msg.nfds = 0;
	for (i = 0; i < (fdspec & 0xf) && i < VHOST_USER_MAX_FDS; i++) {
		int fd = make_fd(in, &msg, i);

		if (fd >= 0)
			msg.fds[msg.nfds++] = fd;
	}
	for (i = msg.nfds; i < VHOST_USER_MAX_FDS; i++)
		msg.fds[i] = -1;
	nmade = msg.nfds;
	memcpy(made, msg.fds, sizeof(made));
	/* A caller's bad count (the transport never makes one) must be refused
	 * without touching anything past fds[]. */
	if ((fdspec & 0xf0) == 0xf0 && (fdspec & 0xf) > VHOST_USER_MAX_FDS)
		msg.nfds = (fdspec & 0x1) ? -1 : (fdspec & 0xf);

	if (fuzz_log_verbose)
		fprintf(stderr, "fuzz: message %u flags 0x%x size %u nfds %d\n", msg.hdr.request,
			msg.hdr.flags, msg.hdr.size, msg.nfds);
	need_reply = (msg.hdr.flags & VHOST_USER_NEED_REPLY_FLAG) &&
		     ((vu_get_protocol_features(dev) >> UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK) & 1);
	ret = vu_dev_handle_msg(dev, &msg, &reply);
	if (fuzz_log_verbose)
		fprintf(stderr, "fuzz: -> %d, reply flags 0x%x size %u nfds %d\n", ret,
			reply.hdr.flags, reply.hdr.size, reply.nfds);

	/* The reply must be one QEMU accepts. */
	if (reply.hdr.flags & VHOST_USER_REPLY_FLAG) {
		FUZZ_CHECK(reply.hdr.flags == (VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG));
		FUZZ_CHECK(reply.hdr.request == msg.hdr.request);
		FUZZ_CHECK(reply.hdr.size <= VHOST_USER_PAYLOAD_MAX);
		FUZZ_CHECK(reply.nfds >= 0 && reply.nfds <= VHOST_USER_MAX_FDS);
		for (i = 0; i < reply.nfds; i++)
			FUZZ_CHECK(fcntl(reply.fds[i], F_GETFD) >= 0);
		if (msg.hdr.request == VHOST_USER_GET_FEATURES ||
		    msg.hdr.request == VHOST_USER_GET_PROTOCOL_FEATURES) {
			FUZZ_CHECK(reply.hdr.size == 8);
		}
	} else {
		FUZZ_CHECK(!need_reply);
		FUZZ_CHECK(ret < 0 || !request_always_replies(msg.hdr.request));
	}
	if (msg.nfds < 0) {
		/* Nothing was handed over: the fds are still the harness's. */
		FUZZ_CHECK(ret < 0);
		for (i = 0; i < nmade; i++) {
			FUZZ_CHECK(fcntl(made[i], F_GETFD) >= 0);
			close(made[i]);
		}
	}
	if (ret < 0) {
		/* What the transport does when it drops the connection. */
		vu_dev_reset_session(dev);
		FUZZ_CHECK(!fake.configured);
	} else {
		/* What the transport does once the reply is out. */
		vu_dev_after_reply(dev);
	}
}

static uint64_t region_relative(struct uvdpa_vhost *dev, struct fuzz_in *in, bool uva)
{
	uint8_t sel = fin_u8(in);
	uint64_t v = fin_u64(in);
	const struct vu_mem_region *t;
	unsigned int n;

	t = vu_get_mem_table(dev, &n);
	if (!(sel & 0x80) || !n)
		return v;
	/* Near a region's start or end, so lookups mostly hit. */
	t = &t[sel % n];
	if (sel & 0x40)
		return (uva ? t->uaddr : t->gpa) + t->size - (v & 0xffff);
	return (uva ? t->uaddr : t->gpa) + (v % t->size);
}

static void do_translate(struct uvdpa_vhost *dev, struct fuzz_in *in, bool uva)
{
	uint64_t addr = region_relative(dev, in, uva);
	uint64_t want = fin_u32(in), len = want;
	void *h = uva ? vu_uva_to_hva(dev, addr, &len) : vu_gpa_to_hva(dev, addr, &len);

	if (!h)
		return;
	FUZZ_CHECK(len <= want);
	check_in_memory(dev, h, len);
	touch_ends(h, len);
	if (!uva && len) {
		uint64_t back = 0;

		FUZZ_CHECK(vu_hva_to_gpa(dev, h, &back) == 0 && back == addr);
	}
}

static void do_op(struct uvdpa_vhost *dev, struct fuzz_in *in, uint8_t tag)
{
	switch ((tag & 0x7f) % OP_COUNT) {
	case OP_LOG_WRITE: {
		uint64_t gpa = region_relative(dev, in, false);
		uint64_t len = fin_u32(in);

		vu_log_write(dev, gpa, len);
		break;
	}
	case OP_LOG_USED_RING: {
		uint16_t idx = fin_u8(in);
		uint64_t off = fin_u32(in);
		uint64_t len = fin_u16(in);

		vu_log_used_ring(dev, idx, off, len);
		break;
	}
	case OP_GPA_TO_HVA:
		do_translate(dev, in, false);
		break;
	case OP_UVA_TO_HVA:
		do_translate(dev, in, true);
		break;
	case OP_HVA_TO_GPA: {
		const struct vu_mem_region *t;
		unsigned int n;
		uint8_t sel = fin_u8(in);
		uint64_t off = fin_u64(in), gpa = 0;

		t = vu_get_mem_table(dev, &n);
		if (!n)
			break;
		t = &t[sel % n];
		off %= t->size;
		FUZZ_CHECK(vu_hva_to_gpa(dev, (uint8_t *)t->host + off, &gpa) == 0);
		FUZZ_CHECK(gpa == t->gpa + off);
		break;
	}
	case OP_RESET_SESSION:
		vu_dev_reset_session(dev);
		FUZZ_CHECK(!fake.configured);
		break;
	case OP_VRING_CALL:
		vu_vring_call(dev, fin_u8(in));
		break;
	case OP_WALK:
		walk_rings(dev);
		break;
	case OP_VRING_BASE: {
		uint16_t idx = fin_u8(in), a = fin_u16(in), u = fin_u16(in), ra, ru;

		if (vu_set_vring_base(dev, idx, a, u) == 0) {
			FUZZ_CHECK(vu_get_vring_base(dev, idx, &ra, &ru) == 0);
			FUZZ_CHECK(ra == a && ru == u);
		}
		break;
	}
	case OP_BACKEND: {
		uint8_t b = fin_u8(in);

		/* The backend fd is never a socket here: these fail fast. */
		if (b & 1)
			vu_config_change(dev);
		else
			vu_host_notifier_ctrl(dev, (b & 2) ? VU_ALL_VRINGS : (uint16_t)(b >> 2),
					      b & 4);
		break;
	}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *d = getenv("UVDPA_FUZZ_DEBUG");

	fuzz_common_init();
	debug_fds = d && *d && *d != '0';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct uvdpa_vhost *dev;
	unsigned int records, i;
	int fds_before = debug_fds ? uvdpa_count_open_fds() : 0;

	memset(&fake, 0, sizeof(fake));
	fake.cfg = fin_u8(&in);
	for (i = 0; i < sizeof(fake.config_space); i++)
		fake.config_space[i] = (uint8_t)i;
	fake_vdpa.type = (fake.cfg & CFG_BLK) ? UVDPA_TYPE_BLK : UVDPA_TYPE_NET;
	ntracked = 0;

	dev = vu_dev_new_detached(&fake_vdpa);
	fuzz_vu = dev;
	if (!dev)
		return 0;
	for (records = 0; records < MAX_RECORDS && !fin_empty(&in); records++) {
		uint8_t tag = fin_u8(&in);

		if (tag < 0x80)
			do_message(dev, &in, tag);
		else
			do_op(dev, &in, tag);
		check_held(dev);
	}
	uvdpa_vhost_free(dev);
	FUZZ_CHECK(!fake.configured);

	/* Whatever the library took it must have closed by now. */
	for (i = 0; i < ntracked; i++)
		FUZZ_CHECK(fcntl(tracked[i], F_GETFD) < 0);
	if (debug_fds)
		FUZZ_CHECK(uvdpa_count_open_fds() == fds_before);
	return 0;
}
