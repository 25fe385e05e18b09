/* Events (see uvdpa/events.h): a bounded queue under a mutex from any
 * emitting thread to the attached loop, where an eventfd wakes the
 * delivery. Subscribers are the control thread's: only delivery reads them. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/events.h"

#define TAG "events"
#define EVENTS_MAX_SUBSCRIBERS 64
#define EVENTS_DELIVER_BATCH 256u	/* per loop round; the rest next round */

struct subscriber {
	int id;				/* 0: free slot */
	uvdpa_event_cb cb;
	void *opaque;
};

static struct {
	pthread_mutex_t lock;		/* ring, head, count, seq, lost, attached */
	struct uvdpa_event *ring;	/* UVDPA_EVENTS_QUEUE_MAX entries while attached */
	unsigned int head, count;
	uint64_t seq, lost;
	bool attached;
	/* The control thread's. */
	int efd;
	struct uvdpa_watch *watch;
	struct subscriber subs[EVENTS_MAX_SUBSCRIBERS];
	int next_id;
} ev = { .lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

static const char *const type_names[UVDPA_EVENT_NUM] = {
	[UVDPA_EVENT_DEV_ADD] = "dev_add",
	[UVDPA_EVENT_DEV_DEL] = "dev_del",
	[UVDPA_EVENT_CONNECT] = "connect",
	[UVDPA_EVENT_DISCONNECT] = "disconnect",
	[UVDPA_EVENT_DRIVER_OK] = "driver_ok",
	[UVDPA_EVENT_NEEDS_RESET] = "needs_reset",
	[UVDPA_EVENT_LOG_START] = "log_start",
	[UVDPA_EVENT_LOG_STOP] = "log_stop",
};

const char *uvdpa_event_type_name(enum uvdpa_event_type type)
{
	return (unsigned int)type < UVDPA_EVENT_NUM ? type_names[type] : NULL;
}

void uvdpa_event_emit(enum uvdpa_event_type type, const char *dev, const char *fmt, ...)
{
	struct uvdpa_event e = { .type = type };
	struct timespec ts;
	bool wake = false;

	if ((unsigned int)type >= UVDPA_EVENT_NUM)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	e.time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	snprintf(e.dev, sizeof(e.dev), "%s", dev ? dev : "");
	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(e.detail, sizeof(e.detail), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_lock(&ev.lock);
	if (ev.attached) {
		e.seq = ++ev.seq;
		if (ev.count == UVDPA_EVENTS_QUEUE_MAX) {
			ev.lost++;
		} else {
			ev.ring[(ev.head + ev.count) % UVDPA_EVENTS_QUEUE_MAX] = e;
			wake = ev.count++ == 0;
		}
	}
	pthread_mutex_unlock(&ev.lock);
	if (wake && uvdpa_efd_signal(ev.efd) < 0)
		LOG_WARN(TAG, "cannot wake the event delivery");
}

static bool pop(struct uvdpa_event *out)
{
	bool got = false;

	pthread_mutex_lock(&ev.lock);
	if (ev.count) {
		*out = ev.ring[ev.head];
		ev.head = (ev.head + 1) % UVDPA_EVENTS_QUEUE_MAX;
		ev.count--;
		got = true;
	}
	pthread_mutex_unlock(&ev.lock);
	return got;
}

static void deliver(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct uvdpa_event e;
	unsigned int n = 0;

	(void)w;
	(void)events;
	(void)opaque;
	uvdpa_efd_drain(fd);
	while (n < EVENTS_DELIVER_BATCH && pop(&e)) {
		/* A subscriber may unsubscribe (itself or another) from its
		 * callback: the slot is then free and skipped. */
		for (int i = 0; i < EVENTS_MAX_SUBSCRIBERS; i++)
			if (ev.subs[i].id)
				ev.subs[i].cb(&e, ev.subs[i].opaque);
		n++;
	}
	if (n == EVENTS_DELIVER_BATCH)
		uvdpa_efd_signal(fd);	/* the rest after the loop's other work */
}

int uvdpa_events_attach(struct uvdpa_loop *loop)
{
	struct uvdpa_event *ring;
	int ret;

	if (ev.watch)
		return -EBUSY;
	ring = calloc(UVDPA_EVENTS_QUEUE_MAX, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	ev.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ev.efd < 0) {
		ret = -errno;
		free(ring);
		return ret;
	}
	ev.watch = uvdpa_watch_add(loop, ev.efd, EPOLLIN, deliver, NULL);
	if (!ev.watch) {
		ret = -errno;
		close(ev.efd);
		ev.efd = -1;
		free(ring);
		return ret ? ret : -ENOMEM;
	}
	pthread_mutex_lock(&ev.lock);
	ev.ring = ring;
	ev.head = ev.count = 0;
	ev.attached = true;
	pthread_mutex_unlock(&ev.lock);
	return 0;
}

void uvdpa_events_detach(void)
{
	struct uvdpa_event *ring;

	if (!ev.watch)
		return;
	pthread_mutex_lock(&ev.lock);
	ev.attached = false;
	ring = ev.ring;
	ev.ring = NULL;
	ev.count = 0;
	pthread_mutex_unlock(&ev.lock);
	free(ring);
	uvdpa_watch_del(ev.watch);
	ev.watch = NULL;
	close(ev.efd);
	ev.efd = -1;
}

int uvdpa_events_subscribe(uvdpa_event_cb cb, void *opaque)
{
	if (!cb)
		return -EINVAL;
	for (int i = 0; i < EVENTS_MAX_SUBSCRIBERS; i++) {
		if (ev.subs[i].id)
			continue;
		if (++ev.next_id <= 0)
			ev.next_id = 1;
		ev.subs[i] = (struct subscriber){ .id = ev.next_id, .cb = cb, .opaque = opaque };
		return ev.subs[i].id;
	}
	return -ENOSPC;
}

void uvdpa_events_unsubscribe(int id)
{
	for (int i = 0; id > 0 && i < EVENTS_MAX_SUBSCRIBERS; i++)
		if (ev.subs[i].id == id)
			ev.subs[i] = (struct subscriber){ 0 };
}

uint64_t uvdpa_events_lost(void)
{
	uint64_t n;

	pthread_mutex_lock(&ev.lock);
	n = ev.lost;
	pthread_mutex_unlock(&ev.lock);
	return n;
}
