/* Events: what happens to devices and their sessions, for whoever watches
 * (`uvdpa monitor`, an embedder's agent). The framework emits them from any
 * thread; subscribers get them in order, on the event loop given to
 * uvdpa_events_attach(), one callback per event. The queue between the two
 * is bounded: when subscribers fall behind by more than
 * UVDPA_EVENTS_QUEUE_MAX events, newer ones are dropped and counted
 * (uvdpa_events_lost()), never blocking the emitter. */
#ifndef UVDPA_EVENTS_H
#define UVDPA_EVENTS_H

#include <stdint.h>

#include "uvdpa/vdpa.h"

#define UVDPA_EVENTS_QUEUE_MAX 4096u
#define UVDPA_EVENT_DETAIL_MAX 256u

enum uvdpa_event_type {
	UVDPA_EVENT_DEV_ADD,		/* a device was registered */
	UVDPA_EVENT_DEV_DEL,		/* a device was unregistered */
	UVDPA_EVENT_CONNECT,		/* a driver attached: a vhost-user frontend, a tap binding */
	UVDPA_EVENT_DISCONNECT,		/* ... and went away */
	UVDPA_EVENT_DRIVER_OK,		/* the device runs the driver's rings (dev_conf done) */
	UVDPA_EVENT_NEEDS_RESET,	/* the device reported DEVICE_NEEDS_RESET */
	UVDPA_EVENT_LOG_START,		/* dirty logging on (live migration) */
	UVDPA_EVENT_LOG_STOP,		/* dirty logging off */
	UVDPA_EVENT_NUM
};

struct uvdpa_event {
	enum uvdpa_event_type type;
	uint64_t seq;				/* 1, 2, ...: a gap is lost events */
	uint64_t time_ns;			/* CLOCK_REALTIME when emitted */
	char dev[UVDPA_NAME_MAX];		/* the device's name ("" for none) */
	char detail[UVDPA_EVENT_DETAIL_MAX];	/* "key value ..." words, may be "" */
};

struct uvdpa_loop;

typedef void (*uvdpa_event_cb)(const struct uvdpa_event *ev, void *opaque);

/* "dev_add", "dev_del", "connect", "disconnect", "driver_ok", "needs_reset",
 * "log_start", "log_stop"; NULL for anything else. */
const char *uvdpa_event_type_name(enum uvdpa_event_type type);

/* Any thread, never blocks for long; detail is printf-style (NULL: none). */
void uvdpa_event_emit(enum uvdpa_event_type type, const char *dev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Delivery: events emitted while no loop is attached are dropped (and not
 * counted as lost). Control thread (the loop's). -EBUSY when attached. */
int uvdpa_events_attach(struct uvdpa_loop *loop);
void uvdpa_events_detach(void);

/* A subscriber; returns an id > 0 for unsubscribe, or a negative errno. */
int uvdpa_events_subscribe(uvdpa_event_cb cb, void *opaque);
void uvdpa_events_unsubscribe(int id);

/* Events dropped because the queue was full. */
uint64_t uvdpa_events_lost(void);

#endif
