/* The relay pool: a fixed number of epoll threads shared by all devices.
 *
 * Deleting a watch is synchronous. Each thread publishes the watch whose
 * callback it is running; relay_watch_del() marks the watch dead, removes it
 * from epoll and waits until the thread is no longer running it. The watch's
 * memory is only freed by its thread between two epoll_wait() batches, since
 * the batch being dispatched may still hold its pointer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/relay.h"

#define TAG "relay"
#define RELAY_BATCH 32

struct relay_thread;

struct relay_watch {
	struct relay_thread *t;	/* NULL once the pool was stopped under it */
	int fd;			/* the pool's duplicate */
	relay_cb cb;
	void *opaque;
	bool dead;		/* under t->lock */
	bool paused;		/* under t->lock: fd out of the epoll set */
	struct relay_watch *next;	/* t->watches, t->graveyard or orphans */
};

struct relay_thread {
	pthread_t tid;
	unsigned int index;
	int epfd;
	int stop_efd;		/* readable when the thread must exit */
	/* Protects watches, graveyard, nwatches, running and every watch's dead
	 * flag. Never held while a callback runs. */
	pthread_mutex_t lock;
	pthread_cond_t idle;	/* broadcast whenever running is cleared */
	struct relay_watch *watches;	/* live watches */
	struct relay_watch *graveyard;	/* deleted, freed after the batch */
	struct relay_watch *running;	/* whose callback runs now, or NULL */
	unsigned int nwatches;
};

static struct {
	/* Protects threads, nthreads and orphans, and serialises pool start
	 * and stop with the choice of a thread in relay_watch_add(). Taken
	 * before a thread's lock, never after. */
	pthread_mutex_t lock;
	struct relay_thread *threads;
	unsigned int nthreads;
	struct relay_watch *orphans;	/* left registered at relay_pool_fini */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned int default_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus > 2 ? 2 : 1;
}

static void free_list(struct relay_watch *w)
{
	while (w) {
		struct relay_watch *next = w->next;

		if (w->fd >= 0)
			close(w->fd);
		free(w);
		w = next;
	}
}

static void reap_graveyard(struct relay_thread *t)
{
	struct relay_watch *dead;

	pthread_mutex_lock(&t->lock);
	dead = t->graveyard;
	t->graveyard = NULL;
	pthread_mutex_unlock(&t->lock);
	free_list(dead);
}

static void dispatch(struct relay_thread *t, struct relay_watch *w)
{
	pthread_mutex_lock(&t->lock);
	if (w->dead) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	t->running = w;
	pthread_mutex_unlock(&t->lock);

	w->cb(w->fd, w->opaque);

	pthread_mutex_lock(&t->lock);
	t->running = NULL;
	pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
}

static void *relay_thread_main(void *arg)
{
	struct relay_thread *t = arg;
	struct epoll_event evs[RELAY_BATCH];
	struct sched_param sp = { 0 };
	bool stop = false;

	/* SCHED_BATCH: a relay woken while a device engine runs on its core
	 * does not preempt it, it waits for the engine to yield (an idle poll
	 * round) and then takes everything that arrived meanwhile in one
	 * pass. Waking it per device interrupt cost two context switches each
	 * (bench/migration_relay.sh). On a core of its own it runs at once. */
	pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	while (!stop) {
		int n = epoll_wait(t->epfd, evs, RELAY_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			LOG_ERR(TAG, "relay thread %u: epoll_wait: %s; the thread stops", t->index,
				strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				stop = true;
				continue;
			}
			dispatch(t, evs[i].data.ptr);
		}
		reap_graveyard(t);
	}
	return NULL;
}

static void thread_destroy(struct relay_thread *t)
{
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->stop_efd >= 0)
		close(t->stop_efd);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
}

static int thread_start(struct relay_thread *t, unsigned int index)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	sigset_t all, old;
	char name[16];
	int ret;

	t->index = index;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->idle, NULL);
	if (t->epfd < 0 || t->stop_efd < 0) {
		ret = -errno;
		goto fail;
	}
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->stop_efd, &ev) < 0) {
		ret = -errno;
		goto fail;
	}
	/* Signals belong to the control thread (the daemon's signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&t->tid, NULL, relay_thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0)
		goto fail;
	snprintf(name, sizeof(name), "uvdpa-relay%u", index);
	pthread_setname_np(t->tid, name);
	return 0;
fail:
	thread_destroy(t);
	return ret;
}

static void thread_stop(struct relay_thread *t)
{
	uint64_t one = 1;

	if (write(t->stop_efd, &one, sizeof(one)) != sizeof(one))
		LOG_ERR(TAG, "relay thread %u: cannot signal stop: %s", t->index, strerror(errno));
	pthread_join(t->tid, NULL);
}

/* Called with pool.lock held. */
static int pool_start_locked(unsigned int nthreads)
{
	struct relay_thread *threads;
	unsigned int i;
	int ret;

	if (pool.nthreads)
		return -EALREADY;
	if (nthreads > RELAY_POOL_MAX_THREADS)
		return -EINVAL;
	if (nthreads == 0)
		nthreads = default_threads();
	threads = calloc(nthreads, sizeof(*threads));
	if (!threads)
		return -ENOMEM;
	for (i = 0; i < nthreads; i++) {
		ret = thread_start(&threads[i], i);
		if (ret < 0) {
			LOG_ERR(TAG, "cannot start relay thread %u: %s", i, strerror(-ret));
			while (i--) {
				thread_stop(&threads[i]);
				thread_destroy(&threads[i]);
			}
			free(threads);
			return ret;
		}
	}
	pool.threads = threads;
	pool.nthreads = nthreads;
	LOG_DEBUG(TAG, "relay pool started with %u thread(s)", nthreads);
	return 0;
}

int relay_pool_init(unsigned int nthreads)
{
	int ret;

	pthread_mutex_lock(&pool.lock);
	ret = pool_start_locked(nthreads);
	pthread_mutex_unlock(&pool.lock);
	return ret;
}

void relay_pool_fini(void)
{
	struct relay_thread *threads;
	unsigned int i, n, left = 0;

	pthread_mutex_lock(&pool.lock);
	threads = pool.threads;
	n = pool.nthreads;
	pool.threads = NULL;
	pool.nthreads = 0;
	pthread_mutex_unlock(&pool.lock);

	/* Joined without pool.lock: a callback may still be taking it. */
	for (i = 0; i < n; i++)
		thread_stop(&threads[i]);
	pthread_mutex_lock(&pool.lock);
	for (i = 0; i < n; i++) {
		struct relay_thread *t = &threads[i];

		/* The thread is gone: nothing runs callbacks any more. */
		free_list(t->graveyard);
		while (t->watches) {
			struct relay_watch *w = t->watches;

			t->watches = w->next;
			w->t = NULL;
			close(w->fd);
			w->fd = -1;
			w->next = pool.orphans;
			pool.orphans = w;
			left++;
		}
		thread_destroy(t);
	}
	pthread_mutex_unlock(&pool.lock);
	free(threads);
	if (left)
		LOG_WARN(TAG, "relay pool stopped with %u watch(es) still registered", left);
}

unsigned int relay_pool_threads(void)
{
	unsigned int n;

	pthread_mutex_lock(&pool.lock);
	n = pool.nthreads;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

unsigned int relay_pool_thread_load(unsigned int i)
{
	unsigned int load = 0;

	pthread_mutex_lock(&pool.lock);
	if (i < pool.nthreads) {
		struct relay_thread *t = &pool.threads[i];

		pthread_mutex_lock(&t->lock);
		load = t->nwatches;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&pool.lock);
	return load;
}

struct relay_watch *relay_watch_add(int fd, relay_cb cb, void *opaque)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct relay_thread *t = NULL;
	struct relay_watch *w;
	unsigned int i, best = UINT32_MAX;
	int ret;

	if (fd < 0 || !cb) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (w->fd < 0) {
		ret = -errno;
		free(w);
		errno = -ret;
		return NULL;
	}
	w->cb = cb;
	w->opaque = opaque;

	pthread_mutex_lock(&pool.lock);
	if (!pool.nthreads) {
		ret = pool_start_locked(0);
		if (ret < 0)
			goto fail_unlock;
	}
	for (i = 0; i < pool.nthreads; i++) {
		struct relay_thread *c = &pool.threads[i];
		unsigned int load;

		pthread_mutex_lock(&c->lock);
		load = c->nwatches;
		pthread_mutex_unlock(&c->lock);
		if (load < best) {
			best = load;
			t = c;
		}
	}
	w->t = t;
	pthread_mutex_lock(&t->lock);
	w->next = t->watches;
	t->watches = w;
	t->nwatches++;
	pthread_mutex_unlock(&t->lock);
	/* From here the thread may run cb: w is complete. */
	ev.data.ptr = w;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
		struct relay_watch **link;

		ret = -errno;
		pthread_mutex_lock(&t->lock);
		for (link = &t->watches; *link != w; link = &(*link)->next)
			;
		*link = w->next;
		t->nwatches--;
		pthread_mutex_unlock(&t->lock);
		goto fail_unlock;
	}
	pthread_mutex_unlock(&pool.lock);
	return w;

fail_unlock:
	pthread_mutex_unlock(&pool.lock);
	close(w->fd);
	free(w);
	errno = -ret;
	return NULL;
}

void relay_watch_del(struct relay_watch *w)
{
	struct relay_thread *t;
	struct relay_watch **link;

	if (!w)
		return;
	t = w->t;
	if (!t) {
		/* Orphaned by relay_pool_fini. */
		pthread_mutex_lock(&pool.lock);
		for (link = &pool.orphans; *link && *link != w; link = &(*link)->next)
			;
		if (*link)
			*link = w->next;
		pthread_mutex_unlock(&pool.lock);
		free(w);
		return;
	}

	pthread_mutex_lock(&t->lock);
	w->dead = true;
	if (!w->paused && epoll_ctl(t->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0)
		LOG_ERR(TAG, "relay thread %u: EPOLL_CTL_DEL fd %d: %s", t->index, w->fd,
			strerror(errno));
	for (link = &t->watches; *link && *link != w; link = &(*link)->next)
		;
	if (*link) {
		*link = w->next;
		t->nwatches--;
	}
	/* Wait for a callback in progress, unless it is the caller itself,
	 * whose fd must stay open until it returns (the reaper closes it). */
	if (!pthread_equal(pthread_self(), t->tid)) {
		while (t->running == w)
			pthread_cond_wait(&t->idle, &t->lock);
		close(w->fd);
		w->fd = -1;
	}
	w->next = t->graveyard;
	t->graveyard = w;
	pthread_mutex_unlock(&t->lock);
}

/* A paused fd leaves the epoll set: an empty event mask would not do, as
 * epoll reports EPOLLERR and EPOLLHUP whatever the mask (a TAP whose
 * interface was deleted, a pipe whose writer closed), and the callback would
 * run without end. */
int relay_watch_pause(struct relay_watch *w, bool paused)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
	struct relay_thread *t = w->t;
	int ret = -ENOENT;

	if (!t)
		return ret;
	pthread_mutex_lock(&t->lock);
	if (!w->dead) {
		ret = 0;
		if (w->paused != paused &&
		    epoll_ctl(t->epfd, paused ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, w->fd, &ev) < 0)
			ret = -errno;
		else
			w->paused = paused;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}
