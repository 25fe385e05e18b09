/* epoll event loop. Watches removed during dispatch are only marked dead and
 * freed after the round, so a callback may delete any watch safely. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "uvdpa/event_loop.h"

struct ev_watch {
	struct ev_loop *loop;
	int fd;
	ev_fd_cb cb;
	void *opaque;
	bool dead;
	struct ev_watch *next;		/* all watches */
	struct ev_watch *next_dead;
};

struct ev_timer {
	struct ev_watch *w;
	int tfd;
	ev_timer_cb cb;
	void *opaque;
};

struct ev_loop {
	int epfd;
	bool stop;
	bool dispatching;
	struct ev_watch *watches;
	struct ev_watch *dead;
};

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

static void reap_dead(struct ev_loop *loop)
{
	while (loop->dead) {
		struct ev_watch *w = loop->dead;

		loop->dead = w->next_dead;
		free(w);
	}
}

void ev_loop_free(struct ev_loop *loop)
{
	if (!loop)
		return;
	while (loop->watches) {
		struct ev_watch *w = loop->watches;

		loop->watches = w->next;
		free(w);
	}
	reap_dead(loop);
	close(loop->epfd);
	free(loop);
}

struct ev_watch *ev_watch_add(struct ev_loop *loop, int fd, uint32_t events, ev_fd_cb cb,
			      void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct ev_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->loop = loop;
	w->fd = fd;
	w->cb = cb;
	w->opaque = opaque;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		free(w);
		errno = err;
		return NULL;
	}
	w->next = loop->watches;
	loop->watches = w;
	return w;
}

int ev_watch_modify(struct ev_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void ev_watch_del(struct ev_watch *w)
{
	struct ev_loop *loop;
	struct ev_watch **pp;

	if (!w || w->dead)
		return;
	loop = w->loop;
	/* The fd may already be closed by the owner; ignore errors. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	for (pp = &loop->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	w->dead = true;
	w->next_dead = loop->dead;
	loop->dead = w;
	if (!loop->dispatching)
		reap_dead(loop);
}

static void timer_fired(struct ev_watch *w, int fd, uint32_t events, void *opaque)
{
	struct ev_timer *t = opaque;
	uint64_t n;

	(void)w;
	(void)events;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	t->cb(t, t->opaque);
}

struct ev_timer *ev_timer_new(struct ev_loop *loop, ev_timer_cb cb, void *opaque)
{
	struct ev_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->tfd < 0)
		goto fail;
	t->cb = cb;
	t->opaque = opaque;
	t->w = ev_watch_add(loop, t->tfd, EPOLLIN, timer_fired, t);
	if (!t->w)
		goto fail;
	return t;
fail:
	if (t->tfd >= 0)
		close(t->tfd);
	free(t);
	return NULL;
}

void ev_timer_arm(struct ev_timer *t, unsigned int ms)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ms == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(t->tfd, 0, &its, NULL);
}

void ev_timer_disarm(struct ev_timer *t)
{
	struct itimerspec its = { 0 };

	timerfd_settime(t->tfd, 0, &its, NULL);
}

void ev_timer_free(struct ev_timer *t)
{
	if (!t)
		return;
	ev_watch_del(t->w);
	close(t->tfd);
	free(t);
}

int ev_loop_run_once(struct ev_loop *loop, int timeout_ms)
{
	struct epoll_event evs[32];
	int n, i, ran = 0;

	n = epoll_wait(loop->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->dispatching = true;
	for (i = 0; i < n; i++) {
		struct ev_watch *w = evs[i].data.ptr;

		if (w->dead)
			continue;
		w->cb(w, w->fd, evs[i].events, w->opaque);
		ran++;
	}
	loop->dispatching = false;
	reap_dead(loop);
	return ran;
}

int ev_loop_run(struct ev_loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int r = ev_loop_run_once(loop, -1);

		if (r < 0)
			return r;
	}
	return 0;
}

void ev_loop_stop(struct ev_loop *loop)
{
	loop->stop = true;
}
