/* Test frontend private helpers: framing of one vhost-user message on a
 * stream socket, shared by the session socket and the backend channel. */
#ifndef UVDPA_FE_WIRE_H
#define UVDPA_FE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vhost/vhost_user_proto.h"

/* Monotonic clock in milliseconds. */
int64_t fe_now_ms(void);

/* Writes header, payload_len bytes of payload and nfds fds as one message.
 * 0, -ECONNRESET when the peer is gone, or -errno. */
int fe_wire_write(int fd, const struct vhost_user_header *hdr, const void *payload,
		  size_t payload_len, const int *fds, int nfds);
/* Reads one message, waiting up to timeout_ms for it to start. Fds beyond
 * VHOST_USER_MAX_FDS are closed and reported as -EPROTO. 0, -ETIMEDOUT,
 * -ECONNRESET (EOF), -EPROTO (cannot frame), or -errno. */
int fe_wire_read(int fd, struct vhost_user_msg *msg, int timeout_ms);
void fe_wire_close_fds(struct vhost_user_msg *msg);

#endif
