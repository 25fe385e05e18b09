/* vhost-user backend library. It has no threads of its own: the caller's
 * event loop drives it. One vu_dev serves one socket (server: listen, one
 * frontend at a time; client: connect with back-off and reconnect) for one
 * vDPA device, and calls that device's ops at the points docs/design.md names. */
#ifndef UVDPA_VHOST_USER_H
#define UVDPA_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvdpa/vdpa.h"
#include "uvdpa/vhost_user_proto.h"

struct ev_loop;
struct vu_dev;

#define VU_MAX_VRINGS 64	/* 32 queue pairs */
#define VU_MAX_MEM_SLOTS 32	/* GET_MAX_MEM_SLOTS answer */
#define VU_MAX_QUEUE_SIZE 32768

enum vu_flags {
	VU_CLIENT = 1u << 0,	/* connect to the frontend's socket */
};

/* Creates the endpoint and registers it with the loop. Server mode removes a
 * stale socket file first. Returns NULL with errno set. */
struct vu_dev *vu_dev_new(struct ev_loop *loop, const char *path, unsigned int flags,
			  struct vdpa_device *vdpa);
/* A session with no socket, for fuzzers and unit tests: messages are fed with
 * vu_dev_handle_msg(). */
struct vu_dev *vu_dev_new_detached(struct vdpa_device *vdpa);
/* Closes the connection (dev_close if configured), the socket and every
 * resource; server mode unlinks the socket file. */
void vu_dev_free(struct vu_dev *dev);

/* Handles one received message (fds owned by the callee from here on; every
 * fd not kept is closed). A reply must be sent when reply->hdr.flags has
 * VHOST_USER_REPLY_FLAG (reply->fds stay owned by the session). Returns 0, or
 * a negative errno when the connection must be failed (after the reply). */
int vu_dev_handle_msg(struct vu_dev *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply);
/* Resets the session as on disconnect (dev_close, release everything). */
void vu_dev_reset_session(struct vu_dev *dev);

/* The session a bound device's driver is given (vdpa.h). */
struct vdpa_session *vu_dev_session(struct vu_dev *dev);

bool vu_dev_connected(const struct vu_dev *dev);
const char *vu_dev_path(const struct vu_dev *dev);
struct vdpa_device *vu_dev_vdpa(const struct vu_dev *dev);
/* Counters for tests and `dev show`. */
struct vu_dev_stats {
	uint64_t connects, disconnects, refused, msgs, bad_msgs;
};
void vu_dev_get_stats(const struct vu_dev *dev, struct vu_dev_stats *st);

/* ---- Accessors for drivers (valid from dev_conf until dev_close) ---- */

struct vu_mem_region {
	uint64_t gpa;		/* guest physical address */
	uint64_t size;
	uint64_t uaddr;		/* the frontend's virtual address */
	uint64_t mmap_offset;
	void *host;		/* our mapping of gpa (already offset) */
	void *mmap_addr;	/* what mmap returned */
	uint64_t mmap_size;
	int fd;
};

/* Regions sorted by nothing in particular; *n set to their count. */
const struct vu_mem_region *vu_get_mem_table(struct vu_dev *dev, unsigned int *n);

/* Translates a guest physical address; *len in: bytes wanted, out: bytes
 * contiguous from gpa in one region (<= in). NULL when gpa is unmapped. */
void *vu_gpa_to_hva(struct vu_dev *dev, uint64_t gpa, uint64_t *len);
/* Same for a frontend virtual address (ring addresses use these). */
void *vu_uva_to_hva(struct vu_dev *dev, uint64_t uva, uint64_t *len);
/* Our host pointer back to a guest physical address: 0, or -EFAULT when the
 * pointer is in no region. */
int vu_hva_to_gpa(struct vu_dev *dev, const void *hva, uint64_t *gpa);

struct vu_vring_info {
	uint16_t size;
	void *desc, *avail, *used;		/* our mappings */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint64_t desc_uva, avail_uva, used_uva;	/* as the frontend gave them */
	uint64_t log_guest_addr;		/* used ring GPA for logging */
	bool log_enabled;			/* VHOST_VRING_F_LOG */
	uint16_t last_avail_idx, last_used_idx;
	int kickfd, callfd, errfd;		/* -1: none (NOFD or unset) */
	bool enabled, ready;
};

uint16_t vu_get_vring_num(struct vu_dev *dev);	/* vrings the frontend set up */
int vu_get_vring(struct vu_dev *dev, uint16_t idx, struct vu_vring_info *info);
int vu_get_vring_base(struct vu_dev *dev, uint16_t idx, uint16_t *last_avail, uint16_t *last_used);
int vu_set_vring_base(struct vu_dev *dev, uint16_t idx, uint16_t last_avail, uint16_t last_used);
uint64_t vu_get_features(struct vu_dev *dev);		/* negotiated virtio features */
uint64_t vu_get_protocol_features(struct vu_dev *dev);
uint8_t vu_get_status(struct vu_dev *dev);

/* Dirty log. */
int vu_get_log_base(struct vu_dev *dev, void **base, uint64_t *size, int *fd, uint64_t *mmap_offset);
void vu_log_write(struct vu_dev *dev, uint64_t gpa, uint64_t len);
/* Logs [offset, offset+len) of ring idx's used ring (when its LOG flag is set). */
void vu_log_used_ring(struct vu_dev *dev, uint16_t idx, uint64_t offset, uint64_t len);
bool vu_log_enabled(struct vu_dev *dev);

/* Signals ring idx's call fd (no-op without one). Any thread, while the
 * driver runs the ring: the library replaces or closes a ring's fds only
 * after set_vring_state(idx, false) or dev_close, which must stop every
 * thread that uses them before returning. vu_log_used_ring follows the same
 * rule; vu_log_write may be called from any thread at any time. */
int vu_vring_call(struct vu_dev *dev, uint16_t idx);
/* Backend channel: CONFIG_CHANGE_MSG, waits for the frontend's ack. */
int vu_config_change(struct vu_dev *dev);
/* Installs (enable) or removes host notifiers via VRING_HOST_NOTIFIER_MSG,
 * for one ring or for all (idx = VU_ALL_VRINGS), using get_notify_area. */
#define VU_ALL_VRINGS 0xffffu
int vu_host_notifier_ctrl(struct vu_dev *dev, uint16_t idx, bool enable);

/* Inflight region (blk reconnect): base and size, NULL when none. */
void *vu_get_inflight(struct vu_dev *dev, uint64_t *size, uint16_t *num_queues, uint16_t *queue_size);

/* ---- Pure helpers, exposed for unit tests and the fuzzer ---- */

/* Dirty-log bit math: sets the bits for [gpa, gpa+len) in a log of log_size
 * bytes; bits beyond the log are ignored. Returns the number of pages set. */
uint64_t vu_log_set_bits(uint8_t *log, uint64_t log_size, uint64_t gpa, uint64_t len);

/* Region lookup used by translation: finds the region holding [addr, addr+len)
 * by key (gpa or uaddr); *contig gets the contiguous bytes available. */
enum vu_addr_kind { VU_ADDR_GPA, VU_ADDR_UVA };
const struct vu_mem_region *vu_mem_lookup(const struct vu_mem_region *regions, unsigned int n,
					  enum vu_addr_kind kind, uint64_t addr, uint64_t len,
					  uint64_t *contig);

#endif
