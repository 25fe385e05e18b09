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

struct uvdpa_watch {
	struct uvdpa_loop *loop;
	int fd;
	uvdpa_watch_cb cb;
	void *opaque;
	bool dead;
	struct uvdpa_watch *next;		/* all watches */
	struct uvdpa_watch *next_dead;
};

struct uvdpa_timer {
	struct uvdpa_watch *w;
	int tfd;
	uvdpa_timer_cb cb;
	void *opaque;
};

struct uvdpa_loop {
	int epfd;
	bool stop;
	bool dispatching;
	struct uvdpa_watch *watches;
	struct uvdpa_watch *dead;
};

struct uvdpa_loop *uvdpa_loop_new(void)
{
	struct uvdpa_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

static void reap_dead(struct uvdpa_loop *loop)
{
	while (loop->dead) {
		struct uvdpa_watch *w = loop->dead;

		loop->dead = w->next_dead;
		free(w);
	}
}

void uvdpa_loop_free(struct uvdpa_loop *loop)
{
	if (!loop)
		return;
	while (loop->watches) {
		struct uvdpa_watch *w = loop->watches;

		loop->watches = w->next;
		free(w);
	}
	reap_dead(loop);
	close(loop->epfd);
	free(loop);
}

struct uvdpa_watch *uvdpa_watch_add(struct uvdpa_loop *loop, int fd, uint32_t events, uvdpa_watch_cb cb,
			      void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct uvdpa_watch *w = calloc(1, sizeof(*w));

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

int uvdpa_watch_modify(struct uvdpa_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void uvdpa_watch_del(struct uvdpa_watch *w)
{
	struct uvdpa_loop *loop;
	struct uvdpa_watch **pp;

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

static void timer_fired(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct uvdpa_timer *t = opaque;
	uint64_t n;

	(void)w;
	(void)events;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	t->cb(t, t->opaque);
}

struct uvdpa_timer *uvdpa_timer_new(struct uvdpa_loop *loop, uvdpa_timer_cb cb, void *opaque)
{
	struct uvdpa_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->tfd < 0)
		goto fail;
	t->cb = cb;
	t->opaque = opaque;
	t->w = uvdpa_watch_add(loop, t->tfd, EPOLLIN, timer_fired, t);
	if (!t->w)
		goto fail;
	return t;
fail:
	if (t->tfd >= 0)
		close(t->tfd);
	free(t);
	return NULL;
}

void uvdpa_timer_arm(struct uvdpa_timer *t, unsigned int ms)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ms == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(t->tfd, 0, &its, NULL);
}

void uvdpa_timer_disarm(struct uvdpa_timer *t)
{
	struct itimerspec its = { 0 };

	timerfd_settime(t->tfd, 0, &its, NULL);
}

void uvdpa_timer_free(struct uvdpa_timer *t)
{
	if (!t)
		return;
	uvdpa_watch_del(t->w);
	close(t->tfd);
	free(t);
}

int uvdpa_loop_run_once(struct uvdpa_loop *loop, int timeout_ms)
{
	struct epoll_event evs[32];
	int n, i, ran = 0;

	n = epoll_wait(loop->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->dispatching = true;
	for (i = 0; i < n; i++) {
		struct uvdpa_watch *w = evs[i].data.ptr;

		if (w->dead)
			continue;
		w->cb(w, w->fd, evs[i].events, w->opaque);
		ran++;
	}
	loop->dispatching = false;
	reap_dead(loop);
	return ran;
}

int uvdpa_loop_run(struct uvdpa_loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int r = uvdpa_loop_run_once(loop, -1);

		if (r < 0)
			return r;
	}
	return 0;
}

void uvdpa_loop_stop(struct uvdpa_loop *loop)
{
	loop->stop = true;
}
