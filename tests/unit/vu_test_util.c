/* The vhost-user unit tests' shared helpers (see vu_test_util.h). */
#include "vu_test_util.h"

void td_record(struct tdev *td, const char *fmt, ...)
{
	va_list ap;

	assert_true(td->ncalls < TD_MAX_CALLS);
	va_start(ap, fmt);
	vsnprintf(td->calls[td->ncalls++], TD_CALL_LEN, fmt, ap);
	va_end(ap);
}

/* The fake device's record of each op call. */
static void td_record_line(void *opaque, const char *line)
{
	struct tdev *td = opaque;

	if (!strcmp(line, "dev_conf"))
		assert_ptr_equal(fakedev_session(td->fake), vu_dev_session(td->vu));
	td_record(td, "%s", line);
}

struct tdev *td_new(enum uvdpa_dev_type type)
{
	struct tdev *td = calloc(1, sizeof(*td));
	uint8_t config[FAKEDEV_CONFIG_MAX];
	uint32_t len;
	struct fakedev_params p = {
		.name = type == UVDPA_TYPE_BLK ? "tblk" : "tnet",
		.type = type,
		.features = TD_FEATURES,
		.queues = TD_QUEUES,
		.config = config,
		.config_len = sizeof(config),
		.record = td_record_line,
	};

	assert_non_null(td);
	for (unsigned int i = 0; i < sizeof(config); i++)
		config[i] = (uint8_t)(i ^ 0x5a);
	p.record_opaque = td;
	td->fake = fakedev_new(&p);
	assert_non_null(td->fake);
	td->vdpa = fakedev_vdpa(td->fake);
	td->config = fakedev_config(td->fake, &len);
	assert_int_equal(len, sizeof(config));
	td->notify_fd = -1;
	td->vu = vu_dev_new_detached(td->vdpa);
	assert_non_null(td->vu);
	return td;
}

void td_set_notify(struct tdev *td, int fd, uint64_t offset, uint64_t size)
{
	td->notify_fd = fd;
	fakedev_set_notify_area(td->fake, fd, offset, size);
}

void td_free(struct tdev *td)
{
	uvdpa_vhost_free(td->vu);
	fakedev_free(td->fake);
	free(td);
}

void td_clear_calls(struct tdev *td)
{
	td->ncalls = 0;
}

int td_find_from(const struct tdev *td, const char *s, unsigned int from)
{
	for (unsigned int i = from; i < td->ncalls; i++)
		if (!strcmp(td->calls[i], s))
			return (int)i;
	return -1;
}

int td_find(const struct tdev *td, const char *s)
{
	return td_find_from(td, s, 0);
}

unsigned int td_count(const struct tdev *td, const char *s)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < td->ncalls; i++)
		n += !strcmp(td->calls[i], s);
	return n;
}

unsigned int td_count_prefix(const struct tdev *td, const char *prefix)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < td->ncalls; i++)
		n += !strncmp(td->calls[i], prefix, strlen(prefix));
	return n;
}

bool fd_closed(int fd)
{
	errno = 0;
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

int count_fds(void)
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

int count_maps(const char *needle)
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

int memfd_sized(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(fd >= 0);
	return fd;
}

void msg_init(struct vhost_user_msg *m, uint32_t req, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	m->hdr.request = req;
	m->hdr.flags = VHOST_USER_VERSION;
	m->hdr.size = size;
	for (int i = 0; i < VHOST_USER_MAX_FDS; i++)
		m->fds[i] = -1;
	m->nfds = 0;
}

void msg_add_fd(struct vhost_user_msg *m, int fd)
{
	assert_true(m->nfds < VHOST_USER_MAX_FDS);
	m->fds[m->nfds++] = fd;
}

int td_send(struct tdev *td, struct vhost_user_msg *m, struct vhost_user_msg *r)
{
	int ret = vu_dev_handle_msg(td->vu, m, r);

	/* As the transport does once the reply is out. */
	if (ret == 0)
		vu_dev_after_reply(td->vu);
	return ret;
}

int td_noarg(struct tdev *td, uint32_t req, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, 0);
	return td_send(td, &m, r);
}

int td_u64(struct tdev *td, uint32_t req, uint64_t v, struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, 8);
	m.payload.u64 = v;
	return td_send(td, &m, r);
}

int td_state(struct tdev *td, uint32_t req, uint32_t idx, uint32_t num,
			   struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(m.payload.state));
	m.payload.state.index = idx;
	m.payload.state.num = num;
	return td_send(td, &m, r);
}

int td_vring_fd(struct tdev *td, uint32_t req, uint32_t idx, int fd,
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

int td_vring_addr(struct tdev *td, uint32_t idx, uint64_t uva, uint32_t flags,
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

struct vhost_user_mem_region mem_region(uint64_t gpa, uint64_t size, uint64_t uva,
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

int td_mem_table(struct tdev *td, const struct vhost_user_mem_region *regs,
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

int td_mem_reg(struct tdev *td, uint32_t req, struct vhost_user_mem_region d, int fd,
			     struct vhost_user_msg *r)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(m.payload.mem_reg));
	m.payload.mem_reg.region = d;
	if (fd >= 0)
		msg_add_fd(&m, fd);
	return td_send(td, &m, r);
}

int td_log_base(struct tdev *td, uint64_t size, uint64_t offset, int fd,
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

void assert_reply_u64(const struct vhost_user_msg *r, uint32_t req, uint64_t v)
{
	assert_int_equal(r->hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_FLAG);
	assert_int_equal(r->hdr.request, req);
	assert_int_equal(r->hdr.size, 8);
	assert_int_equal(r->payload.u64, v);
}

void assert_no_reply(const struct vhost_user_msg *r)
{
	assert_false(r->hdr.flags & VHOST_USER_REPLY_FLAG);
}

void td_negotiate(struct tdev *td, uint64_t features, uint64_t proto)
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
	assert_int_equal(uvdpa_vhost_features(td->vu), features);
}

uint8_t *td_guest_mem(struct tdev *td)
{
	struct vhost_user_mem_region d = mem_region(GUEST_GPA, GUEST_SIZE, GUEST_UVA, 0);
	struct vhost_user_msg r;
	int fd = memfd_sized("uvt-guest", GUEST_SIZE);
	uint8_t *p = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(td_mem_table(td, &d, 1, &fd, &r), 0);
	return p;
}

void td_setup_ring(struct tdev *td, uint16_t idx)
{
	struct vhost_user_msg r;

	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_NUM, idx, RING_SIZE, &r), 0);
	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_BASE, idx, 0, &r), 0);
	assert_int_equal(td_vring_addr(td, idx, GUEST_UVA + idx * RING_STRIDE, 0, 0, &r), 0);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_KICK, idx, new_eventfd(), &r), 0);
	assert_int_equal(td_vring_fd(td, VHOST_USER_SET_VRING_CALL, idx, new_eventfd(), &r), 0);
}

void td_enable(struct tdev *td, uint16_t idx, bool on)
{
	struct vhost_user_msg r;

	assert_int_equal(td_state(td, VHOST_USER_SET_VRING_ENABLE, idx, on, &r), 0);
}

uint8_t *td_start_net(struct tdev *td, uint64_t proto)
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

/* Reads one whole message at the frontend's end of a socket (fds kept in
 * m->fds for the caller). */
void fe_recv_msg(int fd, struct vhost_user_msg *m)
{
	char control[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = sizeof(m->hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	assert_int_equal(poll(&p, 1, 1000), 1);
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	assert_int_equal(n, sizeof(m->hdr));
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		assert_int_equal(c->cmsg_type, SCM_RIGHTS);
		assert_true(m->nfds + k <= VHOST_USER_MAX_FDS);
		memcpy(&m->fds[m->nfds], CMSG_DATA(c), k * sizeof(int));
		m->nfds += (int)k;
	}
	assert_true(m->hdr.size <= VHOST_USER_PAYLOAD_MAX);
	if (m->hdr.size)
		assert_int_equal(recv(fd, &m->payload, m->hdr.size, MSG_DONTWAIT), m->hdr.size);
}
