/* A single-threaded epoll event loop with fd watches and timers. The daemon,
 * the vhost-user library's users and the tests all drive it. */
#ifndef UVDPA_EVENT_LOOP_H
#define UVDPA_EVENT_LOOP_H

#include <stdint.h>

struct ev_loop;
struct ev_watch;
struct ev_timer;

/* events: EPOLLIN/EPOLLOUT/... as returned by epoll. */
typedef void (*ev_fd_cb)(struct ev_watch *w, int fd, uint32_t events, void *opaque);
typedef void (*ev_timer_cb)(struct ev_timer *t, void *opaque);

struct ev_loop *ev_loop_new(void);
/* Frees the loop; every watch and timer still registered is released. */
void ev_loop_free(struct ev_loop *loop);

/* Watches are safe to remove from inside any callback, including their own. */
struct ev_watch *ev_watch_add(struct ev_loop *loop, int fd, uint32_t events, ev_fd_cb cb,
			      void *opaque);
int ev_watch_modify(struct ev_watch *w, uint32_t events);
void ev_watch_del(struct ev_watch *w);

/* One-shot timer, re-armable; ms from now. */
struct ev_timer *ev_timer_new(struct ev_loop *loop, ev_timer_cb cb, void *opaque);
void ev_timer_arm(struct ev_timer *t, unsigned int ms);
void ev_timer_disarm(struct ev_timer *t);
void ev_timer_free(struct ev_timer *t);

/* Runs one round: waits at most timeout_ms (-1 forever); returns the number
 * of callbacks run or a negative errno. */
int ev_loop_run_once(struct ev_loop *loop, int timeout_ms);
/* Runs until ev_loop_stop(); returns 0 or a negative errno. */
int ev_loop_run(struct ev_loop *loop);
void ev_loop_stop(struct ev_loop *loop);

#endif
