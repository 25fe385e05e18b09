/* vhost-user backend library: serves one vDPA device on a vhost-user socket
 * (server: listen, one frontend at a time; client: connect with back-off and
 * reconnect). It has no threads of its own and no loop of its own: the
 * embedder's event loop drives it through struct vu_loop_ops (uvdpa's own
 * loop through vu_loop_ev()). The device's ops run at the points
 * docs/design.md names, on the loop's thread, and see the session interface
 * of vdpa.h. */
#ifndef UVDPA_VHOST_USER_H
#define UVDPA_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "uvdpa/vdpa.h"

struct vu_dev;
struct ev_loop;

#define VU_MAX_VRINGS 64	/* 32 queue pairs */

/* ---- The embedder's event loop ---- */

/* Called when fd is readable or hung up, until the watch is removed. */
typedef void (*vu_watch_cb)(int fd, void *opaque);
typedef void (*vu_timer_cb)(void *opaque);

struct vu_loop_ops {
	/* Starts calling cb(fd, opaque) whenever fd is readable; a handle, or
	 * NULL with errno set. */
	void *(*watch_add)(void *loop, int fd, vu_watch_cb cb, void *opaque);
	/* Stops the watch; may be called from inside its own callback. */
	void (*watch_del)(void *loop, void *watch);
	/* One-shot timers, needed only for client mode (reconnect). */
	void *(*timer_new)(void *loop, vu_timer_cb cb, void *opaque);
	void (*timer_arm)(void *loop, void *timer, unsigned int ms);
	void (*timer_free)(void *loop, void *timer);
};

struct vu_loop {
	const struct vu_loop_ops *ops;
	void *loop;		/* passed back to every op */
};

/* Fills *out for uvdpa's own event loop (event_loop.h). */
void vu_loop_ev(struct vu_loop *out, struct ev_loop *loop);

/* ---- Endpoints ---- */

enum vu_flags {
	VU_CLIENT = 1u << 0,	/* connect to the frontend's socket */
};

/* Creates the endpoint and registers it with the loop (copied). Server mode
 * removes a stale socket file first. Returns NULL with errno set. */
struct vu_dev *vu_dev_new(const struct vu_loop *loop, const char *path, unsigned int flags,
			  struct vdpa_device *vdpa);
/* Closes the connection (dev_close if configured), the socket and every
 * resource; server mode unlinks the socket file. */
void vu_dev_free(struct vu_dev *dev);

bool vu_dev_connected(const struct vu_dev *dev);
const char *vu_dev_path(const struct vu_dev *dev);
struct vdpa_device *vu_dev_vdpa(const struct vu_dev *dev);
/* What the frontend negotiated: virtio features as sent by SET_FEATURES (0
 * before and after a reset; vhost-user-only bits included) and the status
 * byte of SET_STATUS. */
uint64_t vu_dev_features(const struct vu_dev *dev);
uint8_t vu_dev_status(const struct vu_dev *dev);

/* Counters for tests and `dev show`. */
struct vu_dev_stats {
	uint64_t connects, disconnects, refused, msgs, bad_msgs;
};
void vu_dev_get_stats(const struct vu_dev *dev, struct vu_dev_stats *st);

#endif
