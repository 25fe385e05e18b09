/* Private state of a vhost-user session and the interfaces between the
 * library's files. The files form layers; each calls only the layers below
 * it, never one above (so there is no include or call cycle):
 *
 *   vu_transport.c   socket, loop watches, receive/reply/after-reply order
 *   vu_message.c     dispatch: the handler table (size, fds, protocol
 *                    feature and ring-index kind checked once) and handlers
 *   vu_lifecycle.c   every device-lifecycle decision (dev_conf, dev_close,
 *                    set_vring_state, set_features, migration_done) and the
 *                    session's creation, reset and release
 *   vu_session.c     the bus-neutral session ops drivers see (vdpa.h)
 *   vu_memory.c  vu_vring.c  vu_log.c  vu_inflight.c  vu_backend.c
 *                    per-concern state; vu_vring.c uses vu_memory.c's lookup
 *   vu_io.c          message send/receive, fd ownership, fd mapping
 *   vu_names.c       request names
 *
 * uvdpa_vhost_loop_ev.c is apart: it adapts event_loop.h to struct uvdpa_vhost_loop_ops and
 * knows nothing of sessions. */
#ifndef UVDPA_VU_INTERNAL_H
#define UVDPA_VU_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vu_private.h"

#define VU_TAG "vhost-user"
#define VU_BACKEND_MAX_PENDING 128	/* queued or unacked backend requests */

struct vu_vring {
	uint16_t size;			/* 0: not set */
	struct vhost_user_vring_addr addr;
	bool addr_set;
	/* Translated from addr when memory allows; NULL otherwise. */
	void *desc, *avail, *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail_idx, last_used_idx;
	int kickfd, callfd, errfd;	/* -1 when none */
	bool kick_set, call_set;	/* a SET_VRING_KICK/CALL arrived (fd or NOFD) */
	bool enabled;
	bool ready;			/* last readiness reported */
};

struct vu_log {
	/* Taken for reading by log writers (any thread), for writing when the
	 * log is replaced or dropped (control thread). */
	pthread_rwlock_t lock;
	uint8_t *base;			/* base of the bitmap (mmap + offset) */
	uint64_t size;			/* bytes of bitmap */
	void *mmap_addr;
	uint64_t mmap_size;
	uint64_t mmap_offset;
	int fd;
};

struct vu_inflight {
	void *addr;
	uint64_t size;
	uint64_t offset;
	int fd;
	uint16_t num_queues, queue_size;
};

/* A host-notifier message waiting for the reply to go out first. */
struct vu_backend_queued {
	struct vhost_user_vring_area area;
	int fd;				/* our dup of the notify fd, or -1 */
};

struct vu_backend {
	/* Serialises the channel: requests, acks, the queue and the fd. Not
	 * held while an ack is awaited (see wait_ack). */
	pthread_mutex_t lock;
	int fd;				/* -1 when none */
	/* Requests sent with NEED_REPLY whose ack has not been read, oldest
	 * first: acks come in order, so each one read is matched to the head. */
	uint32_t unacked[VU_BACKEND_MAX_PENDING];
	unsigned int unacked_head, nunacked;
	struct vu_backend_queued queue[VU_BACKEND_MAX_PENDING];
	unsigned int nqueued;
	bool deferring;			/* queue instead of sending (message in progress) */
	bool waiting;			/* a thread reads acks with the lock dropped */
	pthread_t handler_thread;	/* the thread that handles messages */
	bool handler_known;
};

/* A memory change prepared (validated and mapped) but not yet installed:
 * the device is stopped between the two steps. */
struct vu_mem_change {
	struct vu_mem_region fresh[VU_MAX_MEM_SLOTS];
	unsigned int nfresh;
	int remove;			/* region index to remove, or -1 */
	bool replace;			/* fresh replaces the table (else: appended) */
};

struct uvdpa_vhost {
	struct uvdpa_session session;	/* what the device's driver sees */
	struct uvdpa_device *vdpa;
	char path[108];
	unsigned int flags;

	/* Transport. */
	struct uvdpa_vhost_loop loop;
	int listen_fd;			/* server mode */
	int conn_fd;			/* the frontend, -1 when none */
	void *listen_watch, *conn_watch;
	void *reconnect_timer;		/* client mode */
	unsigned int reconnect_ms;
	/* Receive state for one message. */
	uint8_t rx_buf[sizeof(struct vhost_user_header) + sizeof(union vhost_user_payload)];
	size_t rx_len;
	int rx_fds[VHOST_USER_MAX_FDS];
	int rx_nfds;

	/* Negotiation. */
	uint64_t features;		/* acked virtio features */
	bool features_set;
	uint64_t protocol_features;	/* acked protocol features */
	uint8_t status;
	bool owner;
	uint16_t mtu;

	/* Memory. */
	struct vu_mem_region regions[VU_MAX_MEM_SLOTS];
	unsigned int nregions;

	struct vu_vring vrings[UVDPA_VHOST_MAX_VRINGS];
	uint16_t nr_vring;		/* highest touched index + 1 */

	struct vu_log log;
	struct vu_inflight inflight;
	struct vu_backend backend;

	/* Lifecycle. */
	bool configured;		/* dev_conf succeeded and no dev_close since */
	bool rarp_pending;		/* SEND_RARP: migration_done after the reply */
	uint8_t rarp_mac[6];		/* ... for this guest MAC */

	struct uvdpa_vhost_stats stats;
	/* Control-path timing: when the message being handled arrived, how
	 * long this connection's last dev_close took (-1: none yet), and every
	 * dev_conf and dev_close since the device was bound. */
	uint64_t msg_ns;
	int64_t close_us;
	struct uvdpa_op_timing conf_timing, close_timing;
};

/* ---- vu_lifecycle.c ---- */
struct uvdpa_vhost *vu_lc_alloc(struct uvdpa_device *vdpa);
void vu_lc_free(struct uvdpa_vhost *dev);
/* Stops the device if it runs (dev_close). */
void vu_lc_stop(struct uvdpa_vhost *dev, const char *why);
/* A ring's configuration is about to change: reports it stopped first. */
void vu_lc_vring_quiesce(struct uvdpa_vhost *dev, uint16_t idx);
/* Back to a fresh connection, keeping protocol features, ownership and the
 * backend channel (RESET_OWNER / RESET_DEVICE). */
void vu_lc_reset_device(struct uvdpa_vhost *dev, const char *why);
/* The memory table changes: stop, install, retranslate rings. */
void vu_lc_change_memory(struct uvdpa_vhost *dev, struct vu_mem_change *c, const char *why);
/* SET_FEATURES / a new log under LOG_ALL: tells the device (its answer
 * decides the reply). */
int vu_lc_set_features(struct uvdpa_vhost *dev, uint64_t features);
int vu_lc_log_replaced(struct uvdpa_vhost *dev);
/* SET_STATUS. */
void vu_lc_set_status(struct uvdpa_vhost *dev, uint8_t status);
/* After the reply: set_vring_state of a running device, migration_done. */
void vu_lc_after_reply(struct uvdpa_vhost *dev);
/* The message handled made the device startable: dev_conf, before the
 * reply (backend requests stay queued until after it). */
void vu_lc_start(struct uvdpa_vhost *dev);
uint64_t vu_lc_offered_features(struct uvdpa_vhost *dev);
uint64_t vu_lc_offered_protocol_features(struct uvdpa_vhost *dev);

/* ---- vu_session.c ---- */
extern const struct uvdpa_session_ops vu_session_ops;

/* ---- vu_memory.c ---- */
/* Each returns 1 with *c prepared when the table changes, 0 when the message
 * changes nothing, or a negative errno. */
int vu_mem_prepare_table(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vu_mem_change *c);
int vu_mem_prepare_add(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vu_mem_change *c);
int vu_mem_prepare_remove(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vu_mem_change *c);
void vu_mem_commit(struct uvdpa_vhost *dev, struct vu_mem_change *c);
void vu_mem_release(struct uvdpa_vhost *dev);

/* ---- vu_vring.c ---- */
void vu_vring_init(struct vu_vring *vq);
void vu_vrings_release(struct uvdpa_vhost *dev);
/* Records that the frontend addressed ring idx (< UVDPA_VHOST_MAX_VRINGS). */
void vu_vrings_touch(struct uvdpa_vhost *dev, uint16_t idx);
void vu_vrings_translate(struct uvdpa_vhost *dev);
bool vu_vring_is_ready(struct uvdpa_vhost *dev, uint16_t idx);
/* Each returns 1 when the ring's configuration changes (so it must be
 * quiesced first by the caller), 0 when not, or a negative errno. */
int vu_vring_num_changes(struct uvdpa_vhost *dev, uint16_t idx, uint32_t num);
int vu_vring_addr_changes(struct uvdpa_vhost *dev, uint16_t idx, const struct vhost_user_vring_addr *a);
int vu_vring_set_num(struct uvdpa_vhost *dev, uint16_t idx, uint32_t num);
int vu_vring_set_addr(struct uvdpa_vhost *dev, uint16_t idx, const struct vhost_user_vring_addr *a);
int vu_vring_set_base(struct uvdpa_vhost *dev, uint16_t idx, uint32_t base);
/* Ring stopped by GET_VRING_BASE: drops fds and addresses. */
void vu_vring_stop(struct uvdpa_vhost *dev, uint16_t idx);
/* SET_VRING_KICK / CALL / ERR: fd may be -1 (NOFD). Takes fd. */
void vu_vring_set_fd(struct uvdpa_vhost *dev, uint16_t idx, uint32_t req, int fd);
void vu_vring_set_enable(struct uvdpa_vhost *dev, uint16_t idx, bool on);

/* ---- vu_log.c ---- */
void vu_log_init(struct vu_log *log);
/* 0: a new log is in place; VU_LOG_SAME: msg repeats the current log (its
 * fd is left in msg); negative errno. */
#define VU_LOG_SAME 1
int vu_log_set_base(struct uvdpa_vhost *dev, struct vhost_user_msg *msg);
void vu_log_release(struct vu_log *log);
void vu_log_destroy(struct vu_log *log);

/* ---- vu_inflight.c ---- */
int vu_inflight_get(struct uvdpa_vhost *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply);
int vu_inflight_set(struct uvdpa_vhost *dev, struct vhost_user_msg *msg);
void vu_inflight_release(struct vu_inflight *inf);

/* ---- vu_backend.c ---- */
void vu_backend_init(struct vu_backend *b);
void vu_backend_destroy(struct vu_backend *b);
void vu_backend_set_fd(struct uvdpa_vhost *dev, int fd);
void vu_backend_release(struct uvdpa_vhost *dev);
/* From here until vu_backend_flush(), requests are queued (message in
 * progress on this thread). */
void vu_backend_defer(struct uvdpa_vhost *dev);
/* Sends what was queued, without waiting for acks. */
void vu_backend_flush(struct uvdpa_vhost *dev);

/* ---- vu_io.c ---- */
/* Sends a message with fds (non-blocking; replies and backend channel). */
int vu_send_msg(int fd, const struct vhost_user_msg *msg, const int *fds, int nfds);
/* Blocking receive of one whole message with a timeout (backend acks). */
int vu_recv_msg_timeout(int fd, struct vhost_user_msg *msg, int timeout_ms);
/* Collects SCM_RIGHTS fds into fds[*nfds..]; false when more came than fit
 * or the control data was truncated (the extra fds are closed). */
struct msghdr;
bool vu_collect_fds(struct msghdr *mh, int *fds, int *nfds);
/* Closes every fd in msg->fds and marks them taken. */
void vu_msg_close_fds(struct vhost_user_msg *msg);
/* Takes fds[i] out of the message (caller owns it). */
int vu_msg_take_fd(struct vhost_user_msg *msg, int i);
/* mmap()s size bytes of fd read-write shared, refusing an fd shorter than
 * size (SIGBUS guard); NULL with a negative errno in *err. */
void *vu_map_fd(int fd, uint64_t size, const char *what, int *err);
void vu_close_fd(int *fd);

static inline bool vu_has_protocol(const struct uvdpa_vhost *dev, unsigned int bit)
{
	return (dev->protocol_features >> bit) & 1;
}

static inline bool vu_has_feature(const struct uvdpa_vhost *dev, unsigned int bit)
{
	return (dev->features >> bit) & 1;
}

static inline bool vu_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

#endif
