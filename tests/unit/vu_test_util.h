/* Shared by the vhost-user unit tests (declarations; vu_test_util.c holds
 * the code): a vDPA device whose ops record every call, message builders
 * that feed a detached session, guest memory on memfds, and counters for fds
 * and mappings (leak checks). */
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "testing/fakedev.h"
#include "uvdpa/vdpa.h"
#include "uvdpa/vhost_user.h"
#include "vhost/vhost_user_proto.h"
#include "vhost/vu_private.h"

#define BIT(n) ((uint64_t)1 << (n))
#define F_EVENT_IDX BIT(29)
#define F_VERSION_1 BIT(VIRTIO_F_VERSION_1_BIT)
#define F_LOG_ALL BIT(UVDPA_VHOST_F_LOG_ALL)
#define F_PROTOCOL BIT(UVDPA_VHOST_USER_F_PROTOCOL_FEATURES)
#define PF(name) BIT(UVDPA_VHOST_USER_PROTOCOL_F_##name)
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

/* The unit tests' device: the fake device of src/testing, recording each op
 * call as a line in calls. Its knobs are fakedev_set_*(td->fake, ...). */
#define TD_FEATURES (F_VERSION_1 | F_LOG_ALL | F_EVENT_IDX)	/* offered at first */
#define TD_QUEUES 4u
struct tdev {
	struct fakedev *fake;
	struct uvdpa_device *vdpa;
	struct uvdpa_vhost *vu;
	uint8_t *config;	/* the fake's config space (FAKEDEV_CONFIG_MAX bytes) */
	int notify_fd;		/* what td_set_notify gave, for the test to close */
	char calls[TD_MAX_CALLS][TD_CALL_LEN];
	unsigned int ncalls;
};

void td_record(struct tdev *td, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct tdev *td_new(enum uvdpa_dev_type type);

void td_free(struct tdev *td);
/* get_notify_area answers fd, offset + ring * 4096, size (fd < 0: none). */
void td_set_notify(struct tdev *td, int fd, uint64_t offset, uint64_t size);

void td_clear_calls(struct tdev *td);

/* Index of the first recorded call equal to s at or after from, or -1. */
int td_find_from(const struct tdev *td, const char *s, unsigned int from);

int td_find(const struct tdev *td, const char *s);

unsigned int td_count(const struct tdev *td, const char *s);

/* Counts calls starting with prefix. */
unsigned int td_count_prefix(const struct tdev *td, const char *prefix);

/* ---- fds and mappings ---- */

bool fd_closed(int fd);

int count_fds(void);

/* Lines of /proc/self/maps that contain needle (memfd names show there). */
int count_maps(const char *needle);

int memfd_sized(const char *name, uint64_t size);

int new_eventfd(void);

/* ---- messages ---- */

void msg_init(struct vhost_user_msg *m, uint32_t req, uint32_t size);

void msg_add_fd(struct vhost_user_msg *m, int fd);

int td_send(struct tdev *td, struct vhost_user_msg *m, struct vhost_user_msg *r);

int td_noarg(struct tdev *td, uint32_t req, struct vhost_user_msg *r);

int td_u64(struct tdev *td, uint32_t req, uint64_t v, struct vhost_user_msg *r);

int td_state(struct tdev *td, uint32_t req, uint32_t idx, uint32_t num,
			   struct vhost_user_msg *r);

/* SET_VRING_KICK/CALL/ERR; fd < 0 sends NOFD. */
int td_vring_fd(struct tdev *td, uint32_t req, uint32_t idx, int fd,
			      struct vhost_user_msg *r);

int td_vring_addr(struct tdev *td, uint32_t idx, uint64_t uva, uint32_t flags,
				uint64_t log_gpa, struct vhost_user_msg *r);

struct vhost_user_mem_region mem_region(uint64_t gpa, uint64_t size, uint64_t uva,
						      uint64_t offset);

/* SET_MEM_TABLE with n regions and their fds (consumed). */
int td_mem_table(struct tdev *td, const struct vhost_user_mem_region *regs,
			       unsigned int n, const int *fds, struct vhost_user_msg *r);

/* ADD_MEM_REG / REM_MEM_REG with one region; fd < 0 sends none. */
int td_mem_reg(struct tdev *td, uint32_t req, struct vhost_user_mem_region d, int fd,
			     struct vhost_user_msg *r);

int td_log_base(struct tdev *td, uint64_t size, uint64_t offset, int fd,
			      struct vhost_user_msg *r);

void assert_reply_u64(const struct vhost_user_msg *r, uint32_t req, uint64_t v);

void assert_no_reply(const struct vhost_user_msg *r);

/* ---- session set-up ---- */

/* SET_OWNER, GET_FEATURES, [GET/SET_PROTOCOL_FEATURES], SET_FEATURES. */
void td_negotiate(struct tdev *td, uint64_t features, uint64_t proto);

/* The standard guest memory; returns the test's own mapping of it. */
uint8_t *td_guest_mem(struct tdev *td);

/* NUM, BASE, ADDR, KICK, CALL for ring idx (not ENABLE). */
void td_setup_ring(struct tdev *td, uint16_t idx);

void td_enable(struct tdev *td, uint16_t idx, bool on);

/* A net device running on rings 0 and 1 (dev_conf done, calls cleared).
 * Returns the test's mapping of guest memory (GUEST_SIZE bytes). */
uint8_t *td_start_net(struct tdev *td, uint64_t proto);

/* Reads one whole message at the frontend's end of a socket (fds kept in
 * m->fds for the caller). */
void fe_recv_msg(int fd, struct vhost_user_msg *m);

#endif
