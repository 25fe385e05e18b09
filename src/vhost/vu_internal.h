/* Private state of a vhost-user session and the interfaces between the
 * library's parts (transport, message dispatch, memory, rings, log, backend
 * channel, inflight). */
#ifndef UVDPA_VU_INTERNAL_H
#define UVDPA_VU_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "uvdpa/vhost_user.h"

#define VU_TAG "vhost-user"

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

/* A backend-channel request that the frontend is to ack. */
#define VU_BACKEND_MAX_PENDING 128
struct vu_backend_pending {
	uint32_t req;
	uint64_t seq;
	bool waited;		/* someone waits for it (else a refusal is logged) */
};

struct vu_dev {
	struct vdpa_session session;	/* what the device's driver sees */
	struct ev_loop *loop;
	struct vdpa_device *vdpa;
	char path[108];
	unsigned int flags;

	/* Transport. */
	int listen_fd;			/* server mode */
	int conn_fd;			/* the frontend, -1 when none */
	struct ev_watch *listen_watch, *conn_watch;
	struct ev_timer *reconnect_timer;	/* client mode */
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

	struct vu_vring vrings[VU_MAX_VRINGS];
	uint16_t nr_vring;		/* highest touched index + 1 */

	struct vu_log log;
	struct vu_inflight inflight;
	int backend_fd;			/* backend channel, -1 when none */
	struct ev_watch *backend_watch;
	/* Serialises backend-channel requests and ack reads; protects what
	 * follows. */
	pthread_mutex_t backend_lock;
	struct vu_backend_pending pending[VU_BACKEND_MAX_PENDING];	/* oldest first */
	unsigned int npending;
	uint64_t backend_seq;

	bool configured;		/* dev_conf succeeded and no dev_close since */
	bool in_dispatch;

	struct vu_dev_stats stats;
};

/* vu_session.c */
extern const struct vdpa_session_ops vu_session_ops;

/* vu_message.c: handles one message and fills the reply; what starts the
 * device is left for vu_lifecycle_start_changes() after the reply. */
int vu_msg_dispatch(struct vu_dev *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply);

/* vu_lifecycle.c: when the device's ops run. */
void vu_device_close(struct vu_dev *dev, const char *why);
/* Ring idx is about to change (size, addresses, base, fds): a running ring
 * is reported stopped first; it is restarted once ready again. */
void vu_lifecycle_vring_changed(struct vu_dev *dev, uint16_t idx);
/* After a message, before its reply: rings no longer ready are stopped. */
void vu_lifecycle_stop_changes(struct vu_dev *dev);
/* After the reply: dev_conf when the device became ready, or rings that
 * became ready are started. */
void vu_lifecycle_start_changes(struct vu_dev *dev);
/* set_features with the negotiated features; < 0: the device refuses. */
int vu_lifecycle_features(struct vu_dev *dev);
void vu_lifecycle_migration_done(struct vu_dev *dev);

/* vu_memory.c */
int vu_mem_set_table(struct vu_dev *dev, struct vhost_user_msg *msg);
int vu_mem_add_region(struct vu_dev *dev, struct vhost_user_msg *msg);
int vu_mem_rem_region(struct vu_dev *dev, struct vhost_user_msg *msg);
void vu_mem_release(struct vu_dev *dev);
/* mmap()s size bytes of fd read-write shared, refusing an fd shorter than
 * size (SIGBUS guard); NULL with a negative errno in *err. */
void *vu_map_fd(int fd, uint64_t size, const char *what, int *err);

/* vu_vring.c */
void vu_vring_init(struct vu_vring *vq);
void vu_vring_release(struct vu_vring *vq);
void vu_vrings_release(struct vu_dev *dev);
bool vu_vring_translate(struct vu_dev *dev, struct vu_vring *vq, uint16_t idx);
int vu_vring_set_num(struct vu_dev *dev, struct vhost_user_msg *msg);
int vu_vring_set_addr(struct vu_dev *dev, struct vhost_user_msg *msg);
int vu_vring_set_base(struct vu_dev *dev, struct vhost_user_msg *msg);
int vu_vring_get_base(struct vu_dev *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply);
int vu_vring_set_fd(struct vu_dev *dev, struct vhost_user_msg *msg);
int vu_vring_set_enable(struct vu_dev *dev, struct vhost_user_msg *msg);

/* vu_log.c */
void vu_log_init(struct vu_log *log);
int vu_log_set_base(struct vu_dev *dev, struct vhost_user_msg *msg);
void vu_log_release(struct vu_log *log);
void vu_log_destroy(struct vu_log *log);

/* vu_inflight.c */
int vu_inflight_get(struct vu_dev *dev, struct vhost_user_msg *msg, struct vhost_user_msg *reply);
int vu_inflight_set(struct vu_dev *dev, struct vhost_user_msg *msg);
void vu_inflight_release(struct vu_inflight *inf);

/* vu_backend.c */
int vu_backend_set_fd(struct vu_dev *dev, struct vhost_user_msg *msg);
void vu_backend_release(struct vu_dev *dev);

/* vu_transport.c */
void vu_transport_disconnect(struct vu_dev *dev);
/* Sends a message with fds; used for replies and the backend channel. */
int vu_send_msg(int fd, const struct vhost_user_msg *msg, const int *fds, int nfds);
/* Blocking receive of one whole message with a timeout (backend replies). */
int vu_recv_msg_timeout(int fd, struct vhost_user_msg *msg, int timeout_ms);

/* Closes every fd in msg->fds and marks them taken. */
void vu_msg_close_fds(struct vhost_user_msg *msg);
/* Takes fds[i] out of the message (caller owns it). */
int vu_msg_take_fd(struct vhost_user_msg *msg, int i);

static inline bool vu_has_protocol(const struct vu_dev *dev, unsigned int bit)
{
	return (dev->protocol_features >> bit) & 1;
}

static inline bool vu_has_feature(const struct vu_dev *dev, unsigned int bit)
{
	return (dev->features >> bit) & 1;
}

/* A ring the device may run: sized, mapped, kick and call set, enabled. */
static inline bool vu_vring_is_ready(const struct vu_dev *dev, uint16_t idx)
{
	const struct vu_vring *vq = &dev->vrings[idx];

	return vq->size && vq->desc && vq->kick_set && vq->call_set && vq->enabled;
}

static inline bool vu_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

#endif
