/* The vhost-user library's private API: what its own files share with the
 * unit tests and fuzzers that drive a session without a socket. Drivers use
 * the bus-neutral session (vdpa.h) instead; embedders use vhost_user.h. */
#ifndef UVDPA_VU_PRIVATE_H
#define UVDPA_VU_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "uvdpa/vhost_user.h"
#include "vhost/vhost_user_proto.h"

#define VU_MAX_MEM_SLOTS 32	/* GET_MAX_MEM_SLOTS answer */
#define VU_MAX_QUEUE_SIZE 32768
#define VU_ALL_VRINGS UVDPA_ALL_VRINGS

/* ---- A session with no socket (tests, fuzzers) ---- */

/* Messages are fed with vu_dev_handle_msg(); freed with uvdpa_vhost_free(). */
struct uvdpa_vhost *vu_dev_new_detached(struct uvdpa_device *vdpa);
/* Handles one received message (fds owned by the callee from here on; every
 * fd not kept is closed) and fills the reply: one must be sent when
 * reply->hdr.flags has VHOST_USER_REPLY_FLAG (reply->fds stay the session's).
 * Returns 0, or a negative errno when the connection must be failed: send
 * the reply, then vu_dev_reset_session() (as on disconnect). On 0, a device
 * the message made startable was started (dev_conf), and
 * vu_dev_after_reply() must follow the reply. */
int vu_dev_handle_msg(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply);
/* What follows the reply: starts or stops rings of a running device,
 * reports migration done, then sends the backend-channel messages the
 * device asked for meanwhile. */
void vu_dev_after_reply(struct uvdpa_vhost *dev);
/* Resets the session as on disconnect (dev_close, release everything). */
void vu_dev_reset_session(struct uvdpa_vhost *dev);
/* The session a bound device's driver is given (vdpa.h). */
struct uvdpa_session *vu_dev_session(struct uvdpa_vhost *dev);

/* ---- Accessors (what the session ops are built on) ---- */

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

/* Regions in no particular order; *n set to their count. */
const struct vu_mem_region *vu_get_mem_table(struct uvdpa_vhost *dev, unsigned int *n);
/* Translates a guest physical address; *len in: bytes wanted, out: bytes
 * contiguous from gpa in one region (<= in). NULL when gpa is unmapped. */
void *vu_gpa_to_hva(struct uvdpa_vhost *dev, uint64_t gpa, uint64_t *len);
/* Same for a frontend virtual address (ring addresses use these). */
void *vu_uva_to_hva(struct uvdpa_vhost *dev, uint64_t uva, uint64_t *len);
/* Our host pointer back to a guest physical address; -EFAULT when the
 * pointer is in no region. */
int vu_hva_to_gpa(struct uvdpa_vhost *dev, const void *hva, uint64_t *gpa);

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

uint16_t vu_get_vring_num(struct uvdpa_vhost *dev);	/* vrings the frontend set up */
int vu_get_vring(struct uvdpa_vhost *dev, uint16_t idx, struct vu_vring_info *info);
int vu_get_vring_base(struct uvdpa_vhost *dev, uint16_t idx, uint16_t *last_avail, uint16_t *last_used);
int vu_set_vring_base(struct uvdpa_vhost *dev, uint16_t idx, uint16_t last_avail, uint16_t last_used);
uint64_t vu_get_protocol_features(struct uvdpa_vhost *dev);

int vu_get_log_base(struct uvdpa_vhost *dev, void **base, uint64_t *size, int *fd, uint64_t *mmap_offset);
/* Any thread, at any time. */
void vu_log_write(struct uvdpa_vhost *dev, uint64_t gpa, uint64_t len);
/* Logs [offset, offset+len) of ring idx's used ring (when its LOG flag is
 * set). Same rule as vu_vring_call. */
void vu_log_used_ring(struct uvdpa_vhost *dev, uint16_t idx, uint64_t offset, uint64_t len);
bool vu_log_enabled(struct uvdpa_vhost *dev);

/* Signals ring idx's call fd (no-op without one). Any thread, while the
 * device runs the ring: the library replaces or closes a ring's fds only
 * after set_vring_state(idx, false) or dev_close. */
int vu_vring_call(struct uvdpa_vhost *dev, uint16_t idx);
/* Backend channel: CONFIG_CHANGE_MSG. Waits (bounded) for the frontend's ack
 * when REPLY_ACK was negotiated, except on the thread that handles the
 * session's messages, which never waits for the frontend. */
int vu_config_change(struct uvdpa_vhost *dev);
/* Installs (enable) or removes host notifiers via VRING_HOST_NOTIFIER_MSG,
 * for one ring or all (VU_ALL_VRINGS), from get_notify_area. Asynchronous:
 * during message handling the messages are queued and sent after the reply;
 * otherwise sent at once. Acks are never awaited (a refusal is logged). */
int vu_host_notifier_ctrl(struct uvdpa_vhost *dev, uint16_t idx, bool enable);

/* Inflight region (blk reconnect): base and size, NULL when none. */
void *vu_get_inflight(struct uvdpa_vhost *dev, uint64_t *size, uint16_t *num_queues, uint16_t *queue_size);

/* ---- Pure helpers ---- */

/* Dirty-log bit math: sets the bits for [gpa, gpa+len) in a log of log_size
 * bytes; bits beyond the log are ignored. Returns the number of pages set. */
uint64_t vu_log_set_bits(uint8_t *log, uint64_t log_size, uint64_t gpa, uint64_t len);

/* Finds the region holding addr by key (gpa or uaddr); *contig gets the
 * bytes of [addr, addr+len) contiguous in it. */
enum vu_addr_kind { VU_ADDR_GPA, VU_ADDR_UVA };
const struct vu_mem_region *vu_mem_lookup(const struct vu_mem_region *regions, unsigned int n,
					  enum vu_addr_kind kind, uint64_t addr, uint64_t len,
					  uint64_t *contig);

#endif
