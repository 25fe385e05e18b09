/* The relay pool: a fixed set of threads, shared by every device, that wait
 * on eventfds (guest kicks, device config interrupts, ...) and run a short
 * callback when one becomes readable. Adding devices adds watches, never
 * threads. */
#ifndef UVDPA_RELAY_H
#define UVDPA_RELAY_H

#include <stdbool.h>

#define RELAY_POOL_MAX_THREADS 16

struct relay_watch;

/* Runs on a relay thread while fd is readable (level-triggered EPOLLIN, also
 * on EPOLLERR/EPOLLHUP): it must consume what made fd readable (read the
 * eventfd) or it is called again at once. fd is the pool's own duplicate of
 * the fd given to relay_watch_add, valid for the whole call. */
typedef void (*relay_cb)(int fd, void *opaque);

/* Starts nthreads relay threads (0: the default, 1 on machines with at most
 * two CPUs, else 2). -EALREADY when the pool runs (relay_watch_add starts it
 * with the default size when nobody did), -EINVAL for nthreads >
 * RELAY_POOL_MAX_THREADS, else a negative errno. */
int relay_pool_init(unsigned int nthreads);
/* Stops and joins the threads. Must not race with add/del. Watches still
 * registered are orphaned with a warning: their callbacks never run again,
 * their fds are closed, and relay_watch_del() still frees them. */
void relay_pool_fini(void);
/* Threads running (0 when the pool is stopped). */
unsigned int relay_pool_threads(void);
/* Watches on thread i (for tests and `dev show`); 0 for a bad index. */
unsigned int relay_pool_thread_load(unsigned int i);

/* Watches fd for EPOLLIN on the least-loaded thread; cb runs there. The pool
 * keeps a duplicate of fd, so the caller may close its own at any time.
 * Returns NULL with errno set. */
struct relay_watch *relay_watch_add(int fd, relay_cb cb, void *opaque);
/* Synchronous: when it returns, cb is not running and never runs again for
 * this watch, so the caller may free opaque. May be called from the watch's
 * own callback (it then returns without waiting for itself). Must not be
 * called from a relay callback for a watch of another relay thread while
 * that thread may delete one of this thread's watches (the two would wait
 * for each other). NULL is a no-op. */
void relay_watch_del(struct relay_watch *w);

/* Stops (paused) or resumes watching fd, e.g. while the work fd announces
 * cannot be taken (a full ring); paused, not even EPOLLERR or EPOLLHUP runs
 * the callback. Pausing a paused watch (or resuming a watched one) does
 * nothing. Any thread, also from a callback;
 * a callback running now is not waited for. -ENOENT for a deleted or
 * orphaned watch, else 0 or epoll's negative errno. */
int relay_watch_pause(struct relay_watch *w, bool paused);

#endif
