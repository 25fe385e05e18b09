/* vhost-user backend library: serves one vDPA device on a vhost-user socket
 * (server: listen, one frontend at a time; client: connect with back-off and
 * reconnect). It has no threads of its own and no loop of its own: the
 * embedder's event loop drives it through struct uvdpa_vhost_loop_ops (uvdpa's own
 * loop through uvdpa_vhost_loop_ev()). The device's ops run at the points
 * docs/design.md names, on the loop's thread, and see the session interface
 * of vdpa.h. */
#ifndef UVDPA_VHOST_USER_H
#define UVDPA_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "uvdpa/vdpa.h"

struct uvdpa_vhost;
struct uvdpa_loop;

/* The feature bits a device's get_features / get_protocol_features speak in
 * vhost-user terms (QEMU's docs/interop/vhost-user.rst). */
/* Protocol feature bits. */
#define UVDPA_VHOST_USER_PROTOCOL_F_MQ 0
#define UVDPA_VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define UVDPA_VHOST_USER_PROTOCOL_F_RARP 2
#define UVDPA_VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define UVDPA_VHOST_USER_PROTOCOL_F_NET_MTU 4
#define UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define UVDPA_VHOST_USER_PROTOCOL_F_CROSS_ENDIAN 6
#define UVDPA_VHOST_USER_PROTOCOL_F_CRYPTO_SESSION 7
#define UVDPA_VHOST_USER_PROTOCOL_F_PAGEFAULT 8
#define UVDPA_VHOST_USER_PROTOCOL_F_CONFIG 9
#define UVDPA_VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define UVDPA_VHOST_USER_PROTOCOL_F_HOST_NOTIFIER 11
#define UVDPA_VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define UVDPA_VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define UVDPA_VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define UVDPA_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define UVDPA_VHOST_USER_PROTOCOL_F_STATUS 16

/* Virtio feature bits the protocol itself cares about. */
#define UVDPA_VHOST_F_LOG_ALL 26
#define UVDPA_VHOST_USER_F_PROTOCOL_FEATURES 30

#define UVDPA_VHOST_MAX_VRINGS 64	/* 32 queue pairs */

/* ---- The embedder's event loop ---- */

/* Called when fd is readable or hung up, until the watch is removed. */
typedef void (*uvdpa_vhost_watch_cb)(int fd, void *opaque);
typedef void (*uvdpa_vhost_timer_cb)(void *opaque);

struct uvdpa_vhost_loop_ops {
	/* Starts calling cb(fd, opaque) whenever fd is readable; a handle, or
	 * NULL with errno set. */
	void *(*watch_add)(void *loop, int fd, uvdpa_vhost_watch_cb cb, void *opaque);
	/* Stops the watch; may be called from inside its own callback. */
	void (*watch_del)(void *loop, void *watch);
	/* One-shot timers, needed only for client mode (reconnect). */
	void *(*timer_new)(void *loop, uvdpa_vhost_timer_cb cb, void *opaque);
	void (*timer_arm)(void *loop, void *timer, unsigned int ms);
	void (*timer_free)(void *loop, void *timer);
};

struct uvdpa_vhost_loop {
	const struct uvdpa_vhost_loop_ops *ops;
	void *loop;		/* passed back to every op */
};

/* Fills *out for uvdpa's own event loop (event_loop.h). */
void uvdpa_vhost_loop_ev(struct uvdpa_vhost_loop *out, struct uvdpa_loop *loop);

/* ---- Endpoints ---- */

enum uvdpa_vhost_flags {
	UVDPA_VHOST_CLIENT = 1u << 0,	/* connect to the frontend's socket */
};

/* Creates the endpoint and registers it with the loop (copied). Server mode
 * removes a stale socket file first. Returns NULL with errno set. */
struct uvdpa_vhost *uvdpa_vhost_new(const struct uvdpa_vhost_loop *loop, const char *path, unsigned int flags,
			  struct uvdpa_device *vdpa);
/* Closes the connection (dev_close if configured), the socket and every
 * resource; server mode unlinks the socket file. */
void uvdpa_vhost_free(struct uvdpa_vhost *dev);

bool uvdpa_vhost_connected(const struct uvdpa_vhost *dev);
const char *uvdpa_vhost_path(const struct uvdpa_vhost *dev);
struct uvdpa_device *uvdpa_vhost_vdpa(const struct uvdpa_vhost *dev);
/* What the frontend negotiated: virtio features as sent by SET_FEATURES (0
 * before and after a reset; vhost-user-only bits included) and the status
 * byte of SET_STATUS. */
uint64_t uvdpa_vhost_features(const struct uvdpa_vhost *dev);
uint8_t uvdpa_vhost_status(const struct uvdpa_vhost *dev);

/* Counters for tests and `dev show`. */
struct uvdpa_vhost_stats {
	uint64_t connects, disconnects, refused, msgs, bad_msgs;
};
void uvdpa_vhost_get_stats(const struct uvdpa_vhost *dev, struct uvdpa_vhost_stats *st);
/* How long starting and stopping the device took, over every session since
 * uvdpa_vhost_new: dev_conf from the arrival of the message that made the
 * device startable to dev_conf returning (the device runs), dev_close the
 * call itself. Either pointer may be NULL. */
void uvdpa_vhost_get_op_timing(const struct uvdpa_vhost *dev, struct uvdpa_op_timing *dev_conf,
			       struct uvdpa_op_timing *dev_close);

#endif
