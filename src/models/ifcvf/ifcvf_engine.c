/* The engine pool: a fixed number of threads that run the datapath of every
 * emulated device. Each engine owns a list of works (queue pairs, control
 * queues, wires) and runs all of them in rounds. Event-driven: after its
 * last work an engine keeps polling for a short window (notifications
 * suppressed), then re-arms notifications and sleeps in epoll on its wake
 * eventfd and the fds its works watch (tap). Poll mode never sleeps. The
 * number of threads never depends on the number of devices. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "models/ifcvf/ifcvf_model_internal.h"
#include "core/log.h"
#include "core/util.h"

#define TAG "ifcvf-engine"
#define ENGINE_DEFAULT_THREADS 1
#define ENGINE_MAX_THREADS 64
#define ENGINE_DEFAULT_POLL_US 50
#define ENGINE_MAX_EVENTS 32
#define WAKE_KEY 0			/* epoll key of the wake eventfd */

struct ifcvf_engine {
	unsigned int id;
	pthread_t thread;
	int epfd;
	int wakefd;
	/* Protects works, nwatch, stop, and the state of every work on the
	 * list (see ifcvf_model_internal.h): held by the engine thread for a
	 * round, by control threads through ifcvf_work_lock(). */
	pthread_mutex_t lock;
	struct ifcvf_work *works;
	unsigned int nworks;
	uint64_t round;			/* rounds run (works' round says which ran them) */
	uint64_t list_gen;		/* bumped when works changes */
	unsigned int nwatch;
	bool stop;
	/* Atomics. */
	int ctl_waiters;		/* control threads waiting for lock: the engine yields */
	int sleeping;			/* in (or about to enter) a blocking epoll_wait */
};

static struct {
	/* Protects every field below except poll_window_us and next_watch_id
	 * (atomics), and the choice of an engine in attach. */
	pthread_mutex_t lock;
	struct ifcvf_engine *engines;
	unsigned int nengines;
	bool running;
	bool poll_mode;
	unsigned int nworks;		/* attached works, all engines */
	unsigned int poll_window_us;
	uint64_t next_watch_id;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.poll_window_us = ENGINE_DEFAULT_POLL_US,
	.next_watch_id = WAKE_KEY,
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The engine thread's side of the lock: control threads go first, so that a
 * polling engine cannot starve them. */
static void engine_lock(struct ifcvf_engine *e)
{
	while (__atomic_load_n(&e->ctl_waiters, __ATOMIC_ACQUIRE))
		sched_yield();
	pthread_mutex_lock(&e->lock);
}

static void engine_wake(struct ifcvf_engine *e)
{
	int ret = uvdpa_efd_signal(e->wakefd);

	if (ret < 0)
		LOG_WARN(TAG, "engine %u: wake: %s", e->id, strerror(-ret));
}

/* Waits for events (timeout_ms -1: forever) and marks the works whose fds
 * became readable. */
static void engine_collect_events(struct ifcvf_engine *e, int timeout_ms)
{
	struct epoll_event evs[ENGINE_MAX_EVENTS];
	bool have_fd_events = false;
	int n, i;

	n = epoll_wait(e->epfd, evs, ENGINE_MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			LOG_ERR(TAG, "engine %u: epoll_wait: %s", e->id, strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		if (evs[i].data.u64 == WAKE_KEY) {
			uint64_t v;

			if (read(e->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				LOG_WARN(TAG, "engine %u: wake read: %s", e->id, strerror(errno));
		} else {
			have_fd_events = true;
		}
	}
	if (!have_fd_events)
		return;
	/* Keys, not pointers: a watch removed meanwhile is simply not found. */
	engine_lock(e);
	for (i = 0; i < n; i++) {
		struct ifcvf_work *w;

		if (evs[i].data.u64 == WAKE_KEY)
			continue;
		for (w = e->works; w; w = w->next) {
			if (w->watch && w->watch->id == evs[i].data.u64) {
				__atomic_store_n(&w->watch->ready, 1, __ATOMIC_RELAXED);
				__atomic_store_n(&w->pending, 1, __ATOMIC_RELAXED);
				break;
			}
		}
	}
	pthread_mutex_unlock(&e->lock);
}

/* Re-arms every work's notifications, then publishes that the engine sleeps.
 * Returns true when it must not sleep: a work has something waiting, or was
 * kicked before the kicker could see the sleeping flag. */
static bool engine_prepare_sleep(struct ifcvf_engine *e)
{
	struct ifcvf_work *w;
	bool busy = false;

	engine_lock(e);
	for (w = e->works; w; w = w->next)
		if (w->ops->arm && w->ops->arm(w))
			busy = true;
	/* Pairs with the fence in ifcvf_work_kick(): either the kicker sees
	 * sleeping, or we see its pending flag. */
	__atomic_store_n(&e->sleeping, 1, __ATOMIC_SEQ_CST);
	for (w = e->works; w && !busy; w = w->next)
		if (__atomic_load_n(&w->pending, __ATOMIC_SEQ_CST))
			busy = true;
	pthread_mutex_unlock(&e->lock);
	return busy;
}

/* One round over e's works, with e->lock held. A control thread waiting for
 * the lock (a device starting or stopping) gets it between two works, not
 * after the whole round: with 2,048 queues on one engine a round is long,
 * and a start waited for it (dev_conf p99 58 ms while 1,024 sessions
 * started). If the list changed meanwhile, the round goes on from its head
 * with the works it has not run yet. */
static unsigned int engine_round(struct ifcvf_engine *e, bool polling)
{
	uint64_t round = ++e->round;
	struct ifcvf_work *w = e->works;
	unsigned int did = 0;

	while (w) {
		w->round = round;
		__atomic_store_n(&w->pending, 0, __ATOMIC_RELAXED);
		did += w->ops->run(w, polling);
		if (__atomic_load_n(&e->ctl_waiters, __ATOMIC_ACQUIRE)) {
			uint64_t gen = e->list_gen;

			pthread_mutex_unlock(&e->lock);
			engine_lock(e);
			if (e->list_gen != gen) {
				for (w = e->works; w && w->round == round; w = w->next)
					;
				continue;
			}
		}
		w = w->next;
	}
	return did;
}

static void *engine_main(void *arg)
{
	struct ifcvf_engine *e = arg;
	bool poll_mode = pool.poll_mode;	/* fixed while the pool runs */
	uint64_t last_work = uvdpa_now_ns() / 1000;

	for (;;) {
		uint64_t window = __atomic_load_n(&pool.poll_window_us, __ATOMIC_RELAXED);
		bool polling = poll_mode || window > 0;
		unsigned int did = 0, nwatch;
		uint64_t t;

		engine_lock(e);
		if (e->stop) {
			pthread_mutex_unlock(&e->lock);
			break;
		}
		did = engine_round(e, polling);
		nwatch = e->nwatch;
		pthread_mutex_unlock(&e->lock);

		t = uvdpa_now_ns() / 1000;
		if (did)
			last_work = t;
		/* While polling, fd readiness is harvested without blocking. */
		if (nwatch && polling)
			engine_collect_events(e, 0);
		if (poll_mode || did || t - last_work < window) {
			/* An idle round yields the CPU: what the engine waits
			 * for is often made by a thread on its own core (the
			 * io_uring worker that writes a blk request to the
			 * page cache, a migration relay), and spinning would
			 * only delay it. Measured on 2 cores: blk 4 KiB random
			 * writes 27 -> 60 k IOPS, 1 MiB writes 8.2 -> 14.4
			 * GB/s, the sw relay 1.75 -> 2.56 Mpps; the direct net
			 * path unchanged (bench/blk_compare.sh,
			 * bench/migration_relay.sh). */
			if (!did) {
				cpu_relax();
				sched_yield();
			}
			continue;
		}
		if (!engine_prepare_sleep(e))
			engine_collect_events(e, -1);
		__atomic_store_n(&e->sleeping, 0, __ATOMIC_RELAXED);
		last_work = uvdpa_now_ns() / 1000;	/* a new poll window after each wake-up */
	}
	return NULL;
}

static void engine_cleanup(struct ifcvf_engine *e)
{
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wakefd >= 0)
		close(e->wakefd);
	pthread_mutex_destroy(&e->lock);
}

static int engine_start(struct ifcvf_engine *e, unsigned int id)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_KEY };
	char name[16];
	int rc;

	memset(e, 0, sizeof(*e));
	e->id = id;
	e->epfd = -1;
	pthread_mutex_init(&e->lock, NULL);
	e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->wakefd < 0 || e->epfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev) < 0) {
		rc = -errno;
		engine_cleanup(e);
		return rc;
	}
	rc = pthread_create(&e->thread, NULL, engine_main, e);
	if (rc) {
		engine_cleanup(e);
		return -rc;
	}
	snprintf(name, sizeof(name), "ifcvf-eng%u", id);
	pthread_setname_np(e->thread, name);
	return 0;
}

static void engine_stop(struct ifcvf_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_mutex_unlock(&e->lock);
	engine_wake(e);
	pthread_join(e->thread, NULL);
	engine_cleanup(e);
}

/* pool.lock held. */
static int pool_start_locked(unsigned int nthreads, bool poll_mode)
{
	unsigned int i;
	int rc;

	if (nthreads == 0)
		nthreads = ENGINE_DEFAULT_THREADS;
	if (nthreads > ENGINE_MAX_THREADS)
		return -EINVAL;
	pool.engines = calloc(nthreads, sizeof(*pool.engines));
	if (!pool.engines)
		return -ENOMEM;
	pool.poll_mode = poll_mode;
	for (i = 0; i < nthreads; i++) {
		rc = engine_start(&pool.engines[i], i);
		if (rc < 0) {
			LOG_ERR(TAG, "cannot start engine thread %u: %s", i, strerror(-rc));
			while (i--)
				engine_stop(&pool.engines[i]);
			free(pool.engines);
			pool.engines = NULL;
			return rc;
		}
	}
	pool.nengines = nthreads;
	pool.running = true;
	LOG_DEBUG(TAG, "%u engine thread(s), %s", nthreads, poll_mode ? "poll mode" : "event mode");
	return 0;
}

int ifcvf_engine_pool_init(unsigned int nthreads, bool poll_mode)
{
	int rc;

	pthread_mutex_lock(&pool.lock);
	rc = pool.running ? -EALREADY : pool_start_locked(nthreads, poll_mode);
	pthread_mutex_unlock(&pool.lock);
	return rc;
}

void ifcvf_engine_pool_fini(void)
{
	unsigned int i;

	pthread_mutex_lock(&pool.lock);
	if (!pool.running) {
		pthread_mutex_unlock(&pool.lock);
		return;
	}
	if (pool.nworks) {
		LOG_ERR(TAG, "engine pool still serves %u works: destroy the emulated devices first",
			pool.nworks);
		pthread_mutex_unlock(&pool.lock);
		return;
	}
	for (i = 0; i < pool.nengines; i++)
		engine_stop(&pool.engines[i]);
	free(pool.engines);
	pool.engines = NULL;
	pool.nengines = 0;
	pool.running = false;
	pthread_mutex_unlock(&pool.lock);
}

void ifcvf_engine_pool_set_poll_window(unsigned int usec)
{
	__atomic_store_n(&pool.poll_window_us, usec, __ATOMIC_RELAXED);
}

unsigned int ifcvf_engine_pool_threads(void)
{
	unsigned int n;

	pthread_mutex_lock(&pool.lock);
	n = pool.running ? pool.nengines : 0;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

/* ---- Works ---- */

void ifcvf_work_lock(struct ifcvf_work *w)
{
	struct ifcvf_engine *e = w->engine;

	__atomic_add_fetch(&e->ctl_waiters, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&e->lock);
	__atomic_sub_fetch(&e->ctl_waiters, 1, __ATOMIC_ACQ_REL);
}

void ifcvf_work_unlock(struct ifcvf_work *w)
{
	pthread_mutex_unlock(&w->engine->lock);
}

int ifcvf_work_attach(struct ifcvf_work *w)
{
	struct ifcvf_engine *e;
	unsigned int i;
	int rc = 0;

	pthread_mutex_lock(&pool.lock);
	if (!pool.running)
		rc = pool_start_locked(ENGINE_DEFAULT_THREADS, false);
	if (rc < 0) {
		pthread_mutex_unlock(&pool.lock);
		return rc;
	}
	e = &pool.engines[0];
	for (i = 1; i < pool.nengines; i++)
		if (pool.engines[i].nworks < e->nworks)
			e = &pool.engines[i];
	w->engine = e;
	w->watch = NULL;
	w->pending = 1;
	ifcvf_work_lock(w);
	w->next = e->works;
	e->works = w;
	e->list_gen++;
	e->nworks++;
	ifcvf_work_unlock(w);
	pool.nworks++;
	pthread_mutex_unlock(&pool.lock);
	ifcvf_work_kick(w);
	return 0;
}

void ifcvf_work_detach(struct ifcvf_work *w)
{
	struct ifcvf_engine *e = w->engine;
	struct ifcvf_work **pp;

	if (!e)
		return;
	ifcvf_work_unwatch_fd(w);
	pthread_mutex_lock(&pool.lock);
	ifcvf_work_lock(w);
	for (pp = &e->works; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			e->list_gen++;
			e->nworks--;
			pool.nworks--;
			break;
		}
	}
	ifcvf_work_unlock(w);
	pthread_mutex_unlock(&pool.lock);
	w->next = NULL;
	w->engine = NULL;
}

void ifcvf_work_kick(struct ifcvf_work *w)
{
	struct ifcvf_engine *e = w->engine;

	if (!e)
		return;
	__atomic_store_n(&w->pending, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->sleeping, __ATOMIC_SEQ_CST))
		engine_wake(e);
}

int ifcvf_work_watch_fd(struct ifcvf_work *w, struct ifcvf_fd_watch *watch, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	int rc = 0;

	if (!w->engine)
		return -EINVAL;
	watch->fd = fd;
	watch->id = __atomic_add_fetch(&pool.next_watch_id, 1, __ATOMIC_RELAXED);
	/* Read once: data may predate the registration. Atomic: the work may
	 * already be running and looking at it. */
	__atomic_store_n(&watch->ready, 1, __ATOMIC_RELAXED);
	ev.data.u64 = watch->id;
	ifcvf_work_lock(w);
	if (w->watch) {
		rc = -EBUSY;
	} else if (epoll_ctl(w->engine->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = -errno;
	} else {
		w->watch = watch;
		w->engine->nwatch++;
	}
	ifcvf_work_unlock(w);
	if (rc == 0)
		ifcvf_work_kick(w);
	return rc;
}

void ifcvf_work_unwatch_fd(struct ifcvf_work *w)
{
	if (!w->engine)
		return;
	ifcvf_work_lock(w);
	if (w->watch) {
		epoll_ctl(w->engine->epfd, EPOLL_CTL_DEL, w->watch->fd, NULL);
		w->watch = NULL;
		w->engine->nwatch--;
	}
	ifcvf_work_unlock(w);
}
