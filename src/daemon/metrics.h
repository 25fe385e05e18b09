/* uvdpad --metrics ADDR: GET /metrics in the Prometheus text format.
 * libmicrohttpd runs without a thread of its own: its epoll fd is a watch
 * on the control loop, so every registry and device op it reaches runs on
 * the control thread, like a control request. */
#ifndef UVDPA_DAEMON_METRICS_H
#define UVDPA_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct uvdpa_loop;
struct metrics_server;

/* What only uvdpad knows; read at each scrape. */
struct metrics_daemon_info {
	uint64_t (*requests)(void *opaque);	/* control requests served */
	void *opaque;
};

/* 0, or -EINVAL with err set when addr is not an ADDR metrics_server_new
 * takes (for the command line, before anything starts). */
int metrics_addr_check(const char *addr, char *err, size_t errlen);

/* addr: "HOST:PORT", "[V6]:PORT" or ":PORT" (every address). NULL and err
 * set on failure. */
struct metrics_server *metrics_server_new(struct uvdpa_loop *loop, const char *addr,
					  const struct metrics_daemon_info *info, char *err,
					  size_t errlen);
void metrics_server_free(struct metrics_server *m);

#endif
