/* A single-threaded epoll event loop with fd watches and timers. The daemon,
 * the vhost-user library's users and the tests all drive it. */
#ifndef UVDPA_EVENT_LOOP_H
#define UVDPA_EVENT_LOOP_H

#include <stdint.h>

struct uvdpa_loop;
struct uvdpa_watch;
struct uvdpa_timer;

/* events: EPOLLIN/EPOLLOUT/... as returned by epoll. */
typedef void (*uvdpa_watch_cb)(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque);
typedef void (*uvdpa_timer_cb)(struct uvdpa_timer *t, void *opaque);

struct uvdpa_loop *uvdpa_loop_new(void);
/* Frees the loop; every watch and timer still registered is released. */
void uvdpa_loop_free(struct uvdpa_loop *loop);

/* Watches are safe to remove from inside any callback, including their own. */
struct uvdpa_watch *uvdpa_watch_add(struct uvdpa_loop *loop, int fd, uint32_t events, uvdpa_watch_cb cb,
			      void *opaque);
int uvdpa_watch_modify(struct uvdpa_watch *w, uint32_t events);
void uvdpa_watch_del(struct uvdpa_watch *w);

/* One-shot timer, re-armable; ms from now. */
struct uvdpa_timer *uvdpa_timer_new(struct uvdpa_loop *loop, uvdpa_timer_cb cb, void *opaque);
void uvdpa_timer_arm(struct uvdpa_timer *t, unsigned int ms);
void uvdpa_timer_disarm(struct uvdpa_timer *t);
void uvdpa_timer_free(struct uvdpa_timer *t);

/* Runs one round: waits at most timeout_ms (-1 forever); returns the number
 * of callbacks run or a negative errno. */
int uvdpa_loop_run_once(struct uvdpa_loop *loop, int timeout_ms);
/* Runs until uvdpa_loop_stop(); returns 0 or a negative errno. */
int uvdpa_loop_run(struct uvdpa_loop *loop);
void uvdpa_loop_stop(struct uvdpa_loop *loop);

#endif
