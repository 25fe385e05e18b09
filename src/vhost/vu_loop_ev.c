/* Adapter: runs the vhost-user library on uvdpa's own event loop
 * (event_loop.h) through struct uvdpa_vhost_loop_ops. Each watch and timer carries
 * the library's callback beside the loop's handle. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "uvdpa/event_loop.h"
#include "uvdpa/vhost_user.h"

struct ev_adapter_watch {
	struct uvdpa_watch *w;
	uvdpa_vhost_watch_cb cb;
	void *opaque;
};

struct ev_adapter_timer {
	struct uvdpa_timer *t;
	uvdpa_vhost_timer_cb cb;
	void *opaque;
};

static void watch_fired(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct ev_adapter_watch *aw = opaque;

	(void)w;
	(void)events;
	/* Last: the callback may remove this watch. */
	aw->cb(fd, aw->opaque);
}

static void *ev_adapter_watch_add(void *loop, int fd, uvdpa_vhost_watch_cb cb, void *opaque)
{
	struct ev_adapter_watch *aw = calloc(1, sizeof(*aw));

	if (!aw)
		return NULL;
	aw->cb = cb;
	aw->opaque = opaque;
	aw->w = uvdpa_watch_add(loop, fd, EPOLLIN, watch_fired, aw);
	if (!aw->w) {
		free(aw);
		return NULL;
	}
	return aw;
}

static void ev_adapter_watch_del(void *loop, void *watch)
{
	struct ev_adapter_watch *aw = watch;

	(void)loop;
	uvdpa_watch_del(aw->w);
	free(aw);
}

static void timer_fired(struct uvdpa_timer *t, void *opaque)
{
	struct ev_adapter_timer *at = opaque;

	(void)t;
	at->cb(at->opaque);
}

static void *ev_adapter_timer_new(void *loop, uvdpa_vhost_timer_cb cb, void *opaque)
{
	struct ev_adapter_timer *at = calloc(1, sizeof(*at));

	if (!at)
		return NULL;
	at->cb = cb;
	at->opaque = opaque;
	at->t = uvdpa_timer_new(loop, timer_fired, at);
	if (!at->t) {
		free(at);
		return NULL;
	}
	return at;
}

static void ev_adapter_timer_arm(void *loop, void *timer, unsigned int ms)
{
	(void)loop;
	uvdpa_timer_arm(((struct ev_adapter_timer *)timer)->t, ms);
}

static void ev_adapter_timer_free(void *loop, void *timer)
{
	struct ev_adapter_timer *at = timer;

	(void)loop;
	uvdpa_timer_free(at->t);
	free(at);
}

static const struct uvdpa_vhost_loop_ops ev_adapter_ops = {
	.watch_add = ev_adapter_watch_add,
	.watch_del = ev_adapter_watch_del,
	.timer_new = ev_adapter_timer_new,
	.timer_arm = ev_adapter_timer_arm,
	.timer_free = ev_adapter_timer_free,
};

void uvdpa_vhost_loop_ev(struct uvdpa_vhost_loop *out, struct uvdpa_loop *loop)
{
	out->ops = &ev_adapter_ops;
	out->loop = loop;
}
