/* Shared by the vhost-user unit tests: a vDPA device whose ops record every
 * call, message builders that feed a detached session, guest memory on
 * memfds, and counters for fds and mappings (leak checks). */
#ifndef UVDPA_TESTS_VU_TEST_UTIL_H
#define UVDPA_TESTS_VU_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "uvdpa/log.h"
#include "uvdpa/vdpa.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/vhost_user.h"
#include "vhost/vu_internal.h"

#define BIT(n) ((uint64_t)1 << (n))
#define F_EVENT_IDX BIT(29)
#define F_VERSION_1 BIT(VIRTIO_F_VERSION_1_BIT)
#define F_LOG_ALL BIT(VHOST_F_LOG_ALL)
#define F_PROTOCOL BIT(VHOST_USER_F_PROTOCOL_FEATURES)
#define PF(name) BIT(VHOST_USER_PROTOCOL_F_##name)
#define DRIVER_OK 4u

/* The standard guest: one memfd region of GUEST_SIZE at GUEST_GPA/GUEST_UVA;
 * ring i lives at GUEST_UVA + i * RING_STRIDE (desc, avail +0x1000, used
 * +0x2000), enough for 256-entry rings. */
#define GUEST_GPA 0x100000ull
#define GUEST_UVA 0x7f0000000000ull
#define GUEST_SIZE 0x100000ull
#define RING_STRIDE 0x4000ull
#define RING_SIZE 256u

#define TD_MAX_CALLS 256
#define TD_CALL_LEN 64

struct tdev {
	struct vdpa_device vdpa;
	struct vu_dev *vu;
	uint64_t features;	/* offered virtio features */
	uint64_t proto;		/* offered protocol features */
	uint32_t queue_num;
	uint8_t config[VHOST_USER_MAX_CONFIG_SIZE];
	/* dev_close hands back last_avail = hb_avail + ring, used = hb_used + ring. */
	bool hand_back;
	uint16_t hb_avail, hb_used;
	int notify_fd;
	uint64_t notify_offset, notify_size;
	/* Socket mode (td_connect): messages go over a real connection served
	 * by loop; peek_fd >= 0 makes dev_conf record whether a reply is
	 * waiting on it. */
	int sock, peek_fd;
	struct ev_loop *loop;
	int set_features_ret;	/* what set_features returns (after recording) */
	char calls[TD_MAX_CALLS][TD_CALL_LEN];
	unsigned int ncalls;
};

static inline struct tdev *td_of(struct vdpa_device *d)
{
	return (struct tdev *)((char *)d - offsetof(struct tdev, vdpa));
}

static inline void td_record(struct tdev *td, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void td_record(struct tdev *td, const char *fmt, ...)
{
	va_list ap;

	assert_true(td->ncalls < TD_MAX_CALLS);
	va_start(ap, fmt);
	vsnprintf(td->calls[td->ncalls++], TD_CALL_LEN, fmt, ap);
	va_end(ap);
}

static inline int td_get_queue_num(struct vdpa_device *d, uint32_t *n)
{
	*n = td_of(d)->queue_num;
	return 0;
}

static inline int td_get_features(struct vdpa_device *d, uint64_t *f)
{
	*f = td_of(d)->features;
	return 0;
}

static inline int td_get_protocol_features(struct vdpa_device *d, uint64_t *f)
{
	*f = td_of(d)->proto;
	return 0;
}

static inline int td_get_config(struct vdpa_device *d, uint8_t *buf, uint32_t offset, uint32_t len)
{
	struct tdev *td = td_of(d);

	td_record(td, "get_config %u %u", offset, len);
	assert_true((uint64_t)offset + len <= sizeof(td->config));
	memcpy(buf, td->config + offset, len);
	return 0;
}

static inline int td_set_config(struct vdpa_device *d, const uint8_t *buf, uint32_t offset,
				uint32_t len, uint32_t flags)
{
	struct tdev *td = td_of(d);

	td_record(td, "set_config %u %u", offset, len);
	assert_true((uint64_t)offset + len <= sizeof(td->config));
	memcpy(td->config + offset, buf, len);
	return 0;
}

static inline int td_dev_conf(struct vdpa_device *d, struct vdpa_session *s)
{
	struct tdev *td = td_of(d);

	assert_ptr_equal(s, vu_dev_session(td->vu));
	td_record(td, "dev_conf");
	if (td->loop && td->peek_fd >= 0) {
		struct pollfd p = { .fd = td->peek_fd, .events = POLLIN };

		td_record(td, "reply_pending %d", poll(&p, 1, 0) == 1);
	}
	return 0;
}

static inline int td_dev_close(struct vdpa_device *d)
{
	struct tdev *td = td_of(d);
	struct vu_dev *vu = td->vu;
	uint16_t i;

	td_record(td, "dev_close");
	if (td->hand_back)
		for (i = 0; i < vu_get_vring_num(vu); i++)
			assert_int_equal(vu_set_vring_base(vu, i, (uint16_t)(td->hb_avail + i),
							   (uint16_t)(td->hb_used + i)), 0);
	return 0;
}

static inline int td_set_vring_state(struct vdpa_device *d, uint16_t vring, bool enable)
{
	td_record(td_of(d), "set_vring_state %u %d", vring, enable);
	return 0;
}

static inline int td_set_features(struct vdpa_device *d, uint64_t features)
{
	td_record(td_of(d), "set_features 0x%" PRIx64, features);
	return td_of(d)->set_features_ret;
}

static inline int td_migration_done(struct vdpa_device *d)
{
	td_record(td_of(d), "migration_done");
	return 0;
}

static inline int td_get_notify_area(struct vdpa_device *d, uint16_t vring, int *fd,
				     uint64_t *offset, uint64_t *size)
{
	struct tdev *td = td_of(d);

	td_record(td, "get_notify_area %u", vring);
	if (td->notify_fd < 0)
		return -ENOTSUP;
	*fd = td->notify_fd;
	*offset = td->notify_offset + vring * 4096ull;
	*size = td->notify_size;
	return 0;
}

static const struct vdpa_device_ops td_ops = {
	.get_queue_num = td_get_queue_num,
	.get_features = td_get_features,
	.get_protocol_features = td_get_protocol_features,
	.get_config = td_get_config,
	.set_config = td_set_config,
	.dev_conf = td_dev_conf,
	.dev_close = td_dev_close,
	.set_vring_state = td_set_vring_state,
	.set_features = td_set_features,
	.migration_done = td_migration_done,
	.get_notify_area = td_get_notify_area,
};

static inline struct tdev *td_new(enum vdpa_dev_type type)
{
	struct tdev *td = calloc(1, sizeof(*td));

	assert_non_null(td);
	snprintf(td->vdpa.name, sizeof(td->vdpa.name), "%s", type == VDPA_TYPE_BLK ? "tblk" : "tnet");
	td->vdpa.type = type;
	td->vdpa.ops = &td_ops;
	td->features = F_VERSION_1 | F_LOG_ALL | F_EVENT_IDX;
	td->proto = ~0ull;	/* whatever the library implements */
	td->queue_num = 4;
	td->notify_fd = -1;
	td->sock = td->peek_fd = -1;
	for (unsigned int i = 0; i < sizeof(td->config); i++)
		td->config[i] = (uint8_t)(i ^ 0x5a);
	td->vu = vu_dev_new_detached(&td->vdpa);
	assert_non_null(td->vu);
	return td;
}

static inline void td_free(struct tdev *td)
{
	vu_dev_free(td->vu);
	free(td);
}

static inline void td_clear_calls(struct tdev *td)
{
	td->ncalls = 0;
}

/* Index of the first recorded call equal to s at or after from, or -1. */
static inline int td_find_from(const struct tdev *td, const char *s, unsigned int from)
{
	for (unsigned int i = from; i < td->ncalls; i++)
		if (!strcmp(td->calls[i], s))
			return (int)i;
	return -1;
}

static inline int td_find(const struct tdev *td, const char *s)
{
	return td_find_from(td, s, 0);
}

static inline unsigned int td_count(const struct tdev *td, const char *s)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < td->ncalls; i++)
		n += !strcmp(td->calls[i], s);
	return n;
}

/* Counts calls starting with prefix. */
static inline unsigned int td_count_prefix(const struct tdev *td, const char *prefix)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < td->ncalls; i++)
		n += !strncmp(td->calls[i], prefix, strlen(prefix));
	return n;
}

/* ---- fds and mappings ---- */

static inline bool fd_closed(int fd)
{
	errno = 0;
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Lines of /proc/self/maps that contain needle (memfd names show there). */
static inline int count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static inline int memfd_sized(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static inline int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(fd >= 0);
	return fd;
}

/* ---- messages ---- */

static inline void msg_init(struct vhost_user_msg *m, uint32_t req, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	m->hdr.request = req;
	m->hdr.flags = VHOST_USER_VERSION;
	m->hdr.size = size;
	for (int i = 0; i < VHOST_USER_MAX_FDS; i++)
		m->fds[i] = -1;
	m->nfds = 0;
}

static inline void msg_add_fd(struct vhost_user_msg *m, int fd)
{
	assert_true(m->nfds < VHOST_USER_MAX_FDS);
	m->fds[m->nfds++] = fd;
}

/* Socket mode: sends m on the connection, lets the loop serve it, and takes
 * the reply if one comes within 100 ms. */
static inline int td_send_sock(struct tdev *td, struct vhost_user_msg *m, struct vhost_user_msg *r)
{
	struct pollfd p = { .fd = td->sock, .events = POLLIN };

	memset(r, 0, sizeof(*r));
	m->hdr.flags |= VHOST_USER_NEED_REPLY_FLAG;
	assert_int_equal(vu_send_msg(td->sock, m, m->fds, m->nfds), 0);
	vu_msg_close_fds(m);
	for (int i = 0; i < 10; i++) {
		ev_loop_run_once(td->loop, 10);
		if (poll(&p, 1, 0) == 1)
			return vu_recv_msg_timeout(td->sock, r, 1000);
	}
	return 0;
}

static inline int td_send(struct tdev *td, struct vhost_user_msg *m, struct vhost_user_msg *r)
{
	if (td->loop && td->sock >= 0)
		return td_send_sock(td, m, r);
	return vu_dev_handle_msg(td->vu, m, r);
}

static inline int td_noarg(struct tdev *td, uint32_t req, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, 0);
	return td_send(td, &m, r);
}

static inline int td_u64(struct tdev *td, uint32_t req, uint64_t v, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, 8);
	m.payload.u64 = v;
	return td_send(td, &m, r);
}

static inline int td_state(struct tdev *td, uint32_t req, uint32_t idx, uint32_t num,
			   struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(m.payload.state));
	m.payload.state.index = idx;
	m.payload.state.num = num;
	return td_send(td, &m, r);
}

/* SET_VRING_KICK/CALL/ERR; fd < 0 sends NOFD. */
static inline int td_vring_fd(struct tdev *td, uint32_t req, uint32_t idx, int fd,
			      struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, 8);
	m.payload.u64 = idx;
	if (fd >= 0)
		msg_add_fd(&m, fd);
	else
		m.payload.u64 |= VHOST_USER_VRING_NOFD_MASK;
	return td_send(td, &m, r);
}

static inline int td_vring_addr(struct tdev *td, uint32_t idx, uint64_t uva, uint32_t flags,
				uint64_t log_gpa, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_VRING_ADDR, sizeof(m.payload.addr));
	m.payload.addr.index = idx;
	m.payload.addr.flags = flags;
	m.payload.addr.desc_user_addr = uva;
	m.payload.addr.avail_user_addr = uva + 0x1000;
	m.payload.addr.used_user_addr = uva + 0x2000;
	m.payload.addr.log_guest_addr = log_gpa;
	return td_send(td, &m, r);
}

static inline struct vhost_user_mem_region mem_region(uint64_t gpa, uint64_t size, uint64_t uva,
						      uint64_t offset)
{
	struct vhost_user_mem_region d = {
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = uva,
		.mmap_offset = offset,
	};
	return d;
}

/* SET_MEM_TABLE with n regions and their fds (consumed). */
static inline int td_mem_table(struct tdev *td, const struct vhost_user_mem_region *regs,
			       unsigned int n, const int *fds, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_MEM_TABLE, 8 + n * (uint32_t)sizeof(regs[0]));
	m.payload.memory.nregions = n;
	for (unsigned int i = 0; i < n; i++) {
		m.payload.memory.regions[i] = regs[i];
		msg_add_fd(&m, fds[i]);
	}
	return td_send(td, &m, r);
}

/* ADD_MEM_REG / REM_MEM_REG with one region; fd < 0 sends none. */
static inline int td_mem_reg(struct tdev *td, uint32_t req, struct vhost_user_mem_region d, int fd,
			     struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(m.payload.mem_reg));
	m.payload.mem_reg.region = d;
	if (fd >= 0)
		msg_add_fd(&m, fd);
	return td_send(td, &m, r);
}

static inline int td_log_base(struct tdev *td, uint64_t size, uint64_t offset, int fd,
			      struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_LOG_BASE, sizeof(m.payload.log));
	m.payload.log.mmap_size = size;
	m.payload.log.mmap_offset = offset;
	if (fd >= 0)
		msg_add_fd(&m, fd);
	return td_send(td, &m, r);
}

static inline void assert_reply_u64(const struct vhost_user_msg *r, uint32_t req, uint64_t v)
{
	assert_int_equal(r->hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG);
	assert_int_equal(r->hdr.request, req);
	assert_int_equal(r->hdr.size, 8);
	assert_int_equal(r->payload.u64, v);
}

static inline void assert_no_reply(const struct vhost_user_msg *r)
{
	assert_false(r->hdr.flags & VHOST_USER_REPLY_FLAG);
}

/* ---- session set-up ---- */

/* SET_OWNER, GET_FEATURES, [GET/SET_PROTOCOL_FEATURES], SET_FEATURES. */
static inline void td_negotiate(struct tdev *td, uint64_t features, uint64_t proto)
{
	struct vhost_user_msg r;

	assert_int_equal(td_noarg(td, VHOST_USER_SET_OWNER, &r), 0);
	assert_int_equal(td_noarg(td, VHOST_USER_GET_FEATURES, &r), 0);
	assert_int_equal(r.hdr.size, 8);
	assert_int_equal(r.payload.u64 & features, features);
	if (features & F_PROTOCOL) {
		assert_int_equal(td_noarg(td, VHOST_USER_GET_PROTOCOL_FEATURES, &r), 0);
		assert_int_equal(r.payload.u64 & proto, proto);
		assert_int_equal(td_u64(td, VHOST_USER_SET_PROTOCOL_FEATURES, proto, &r), 0);
	}
	assert_int_equal(td_u64(td, VHOST_USER_SET_FEATURES, features, &r), 0);
	assert_int_equal(vu_get_features(td->vu), features);
}

/* The standard guest memory; returns the test's own mapping of it. */
static inline uint8_t *td_guest_mem(struct tdev *td)
{
	struct vhost_user_mem_region d = mem_region(GUEST_GPA, GUEST_SIZE, GUEST_UVA, 0);
	struct vhost_user_msg r;
	int fd = memfd_sized("uvt-guest", GUEST_SIZE);
	uint8_t *p = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(td_mem_table(td, &d, 1, &fd, &r), 0);
	return p;
}

/* NUM, BASE, ADDR, KICK, CALL for ring idx (not ENABLE). */
static inline void td_setup_ring(struct tdev *td, uint16_t idx)
{
	struct vhost_user_msg r;

	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, idx, RING_SIZE, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_BASE, idx, 0, &r), 0);
	assert_int_equal(td_vring_addr(td, idx, GUEST_UVA + idx * RING_STRIDE, 0, 0, &r), 0);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_KICK, idx, new_eventfd(), &r), 0);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_CALL, idx, new_eventfd(), &r), 0);
}

static inline void td_enable(struct tdev *td, uint16_t idx, bool on)
{
	struct vhost_user_msg r;

	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_ENABLE, idx, on, &r), 0);
}

/* A net device running on rings 0 and 1 (dev_conf done, calls cleared).
 * Returns the test's mapping of guest memory (GUEST_SIZE bytes). */
static inline uint8_t *td_start_net(struct tdev *td, uint64_t proto)
{
	uint8_t *mem;

	td_negotiate(td, F_VERSION_1 | F_PROTOCOL, proto);
	mem = td_guest_mem(td);
	td_setup_ring(td, 0);
	td_setup_ring(td, 1);
	td_enable(td, 0, true);
	td_enable(td, 1, true);
	assert_int_equal(td_count(td, "dev_conf"), 1);
	td_clear_calls(td);
	return mem;
}

#endif
