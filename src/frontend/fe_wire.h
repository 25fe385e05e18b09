/* Test frontend private helpers: framing of one vhost-user message on a
 * stream socket, shared by the session socket and the backend channel. */
#ifndef UVDPA_FE_WIRE_H
#define UVDPA_FE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vhost/vhost_user_proto.h"

/* Monotonic clock in milliseconds. */
int64_t fe_now_ms(void);
/* The deadline timeout_ms from now (-1: none), and the milliseconds left to
 * it for poll() (-1: none, 0: passed). */
int64_t fe_deadline_after(int timeout_ms);
int fe_remaining_ms(int64_t deadline);
/* Waits up to timeout_ms for fd to be readable: 0, -ETIMEDOUT or -errno. */
int fe_wait_readable(int fd, int timeout_ms);

/* Writes header, payload_len bytes of payload and nfds fds as one message.
 * 0, -ECONNRESET when the peer is gone, or -errno. */
int fe_wire_write(int fd, const struct vhost_user_header *hdr, const void *payload,
		  size_t payload_len, const int *fds, int nfds);
/* Reads one message, waiting up to timeout_ms for it to start. Fds beyond
 * VHOST_USER_MAX_FDS are closed and reported as -EPROTO. 0, -ETIMEDOUT,
 * -ECONNRESET (EOF), -EPROTO (cannot frame), or -errno. */
int fe_wire_read(int fd, struct vhost_user_msg *msg, int timeout_ms);
void fe_wire_close_fds(struct vhost_user_msg *msg);
/* A reply to request (REPLY flag, version 1) carrying size bytes of payload,
 * no fds: what a backend answers, and our acks on the backend channel. */
int fe_wire_reply(int fd, uint32_t request, const void *payload, uint32_t size);

#endif
