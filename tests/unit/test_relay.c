/* Unit tests for the relay pool: callbacks run on pool threads, the pool
 * balances watches over a fixed number of threads, and relay_watch_del() is
 * synchronous even while the fd keeps firing. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/relay.h"

struct counter {
	int efd;
	pthread_t self;		/* thread the callback last ran on */
	uint64_t calls;		/* atomic */
	uint64_t events;	/* atomic: sum of eventfd values read */
	int running;		/* atomic: inside the callback */
	int policy;		/* atomic: scheduling policy the callback ran under */
	unsigned int sleep_us;
	struct relay_watch *w;	/* for self-deletion */
	bool delete_self;
};

static void sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void count_cb(int fd, void *opaque)
{
	struct counter *c = opaque;
	uint64_t v;

	__atomic_store_n(&c->running, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->self, pthread_self(), __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->policy, sched_getscheduler(0), __ATOMIC_SEQ_CST);
	if (read(fd, &v, sizeof(v)) == sizeof(v))
		__atomic_add_fetch(&c->events, v, __ATOMIC_SEQ_CST);
	if (c->sleep_us)
		sleep_us(c->sleep_us);
	__atomic_add_fetch(&c->calls, 1, __ATOMIC_SEQ_CST);
	if (c->delete_self) {
		relay_watch_del(__atomic_load_n(&c->w, __ATOMIC_SEQ_CST));
		__atomic_store_n(&c->w, NULL, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&c->running, 0, __ATOMIC_SEQ_CST);
}

static void kick(int efd, uint64_t n)
{
	assert_int_equal(write(efd, &n, sizeof(n)), sizeof(n));
}

static bool wait_events(struct counter *c, uint64_t want)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(&c->events, __ATOMIC_SEQ_CST) >= want)
			return true;
		sleep_us(1000);
	}
	return false;
}

static unsigned int task_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	unsigned int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int pool_up(void **state)
{
	(void)state;
	return relay_pool_init(2);
}

static int pool_down(void **state)
{
	(void)state;
	relay_pool_fini();
	return 0;
}

static void counter_init(struct counter *c)
{
	memset(c, 0, sizeof(*c));
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(c->efd >= 0);
}

/* ---- tests ---- */

static void test_callback_runs_on_pool_thread(void **state)
{
	struct counter c;
	struct relay_watch *w;

	(void)state;
	counter_init(&c);
	w = relay_watch_add(c.efd, count_cb, &c);
	assert_non_null(w);
	kick(c.efd, 3);
	assert_true(wait_events(&c, 3));
	assert_false(pthread_equal(__atomic_load_n(&c.self, __ATOMIC_SEQ_CST), pthread_self()));
	/* Relays run as SCHED_BATCH: they do not preempt a device engine
	 * sharing their core on each wake-up (src/core/relay.c). */
	assert_int_equal(__atomic_load_n(&c.policy, __ATOMIC_SEQ_CST), SCHED_BATCH);
	kick(c.efd, 4);
	assert_true(wait_events(&c, 7));
	relay_watch_del(w);
	close(c.efd);
}

static void test_caller_may_close_its_fd(void **state)
{
	struct counter c;
	struct relay_watch *w;
	int dup_fd;

	(void)state;
	counter_init(&c);
	dup_fd = dup(c.efd);
	w = relay_watch_add(dup_fd, count_cb, &c);
	assert_non_null(w);
	close(dup_fd);	/* the pool keeps its own reference */
	kick(c.efd, 1);
	assert_true(wait_events(&c, 1));
	relay_watch_del(w);
	close(c.efd);
}

/* A paused watch's callback does not run although its fd is readable; a
 * resumed one runs for what arrived meanwhile; a deleted one says -ENOENT. */
static void test_pause_resume(void **state)
{
	struct counter c;
	struct relay_watch *w;

	(void)state;
	counter_init(&c);
	w = relay_watch_add(c.efd, count_cb, &c);
	assert_non_null(w);
	kick(c.efd, 1);
	assert_true(wait_events(&c, 1));
	assert_int_equal(relay_watch_pause(w, true), 0);
	kick(c.efd, 2);
	sleep_us(50000);
	assert_int_equal(__atomic_load_n(&c.events, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(relay_watch_pause(w, false), 0);
	assert_true(wait_events(&c, 3));
	relay_watch_del(w);
	close(c.efd);
}

/* An fd that reports EPOLLHUP for good (a pipe whose writer closed), as a
 * TAP whose interface was deleted reports EPOLLERR: paused, its callback
 * stops running (epoll reports HUP and ERR whatever the event mask); resumed,
 * it runs again; deleted while paused, no error. */
static void test_pause_hangup(void **state)
{
	struct counter c;
	struct relay_watch *w;
	uint64_t calls;
	int pfd[2];

	(void)state;
	counter_init(&c);
	assert_int_equal(pipe(pfd), 0);
	close(pfd[1]);
	w = relay_watch_add(pfd[0], count_cb, &c);
	assert_non_null(w);
	for (int i = 0; i < 2000 && __atomic_load_n(&c.calls, __ATOMIC_SEQ_CST) < 10; i++)
		sleep_us(1000);
	assert_true(__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST) >= 10);
	assert_int_equal(relay_watch_pause(w, true), 0);
	assert_int_equal(relay_watch_pause(w, true), 0);	/* twice: still paused */
	sleep_us(20000);	/* a round in flight may still run */
	calls = __atomic_load_n(&c.calls, __ATOMIC_SEQ_CST);
	sleep_us(50000);
	assert_int_equal(__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST), calls);
	assert_int_equal(relay_watch_pause(w, false), 0);
	assert_int_equal(relay_watch_pause(w, false), 0);	/* twice: still watched */
	for (int i = 0; i < 2000 && __atomic_load_n(&c.calls, __ATOMIC_SEQ_CST) < calls + 10; i++)
		sleep_us(1000);
	assert_true(__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST) >= calls + 10);
	assert_int_equal(relay_watch_pause(w, true), 0);
	relay_watch_del(w);
	close(pfd[0]);
	close(c.efd);
}

static void test_bad_arguments(void **state)
{
	struct counter c;

	(void)state;
	counter_init(&c);
	errno = 0;
	assert_null(relay_watch_add(-1, count_cb, &c));
	assert_int_equal(errno, EINVAL);
	assert_null(relay_watch_add(c.efd, NULL, &c));
	errno = 0;
	assert_null(relay_watch_add(1000000, count_cb, &c));
	assert_int_equal(errno, EBADF);
	relay_watch_del(NULL);
	close(c.efd);
}

static void test_thread_count_fixed_and_balanced(void **state)
{
	enum { N = 64 };
	struct counter *c = calloc(N, sizeof(*c));
	struct relay_watch *w[N];
	unsigned int before, i;

	(void)state;
	assert_non_null(c);
	assert_int_equal(relay_pool_threads(), 2);
	before = task_count();
	for (i = 0; i < N; i++) {
		counter_init(&c[i]);
		w[i] = relay_watch_add(c[i].efd, count_cb, &c[i]);
		assert_non_null(w[i]);
	}
	assert_int_equal(task_count(), before);
	assert_int_equal(relay_pool_threads(), 2);
	assert_int_equal(relay_pool_thread_load(0), N / 2);
	assert_int_equal(relay_pool_thread_load(1), N / 2);
	assert_int_equal(relay_pool_thread_load(2), 0);
	for (i = 0; i < N; i++)
		kick(c[i].efd, 1);
	for (i = 0; i < N; i++)
		assert_true(wait_events(&c[i], 1));
	/* Deleting from thread 0's set makes it the least loaded. */
	for (i = 0; i < N; i += 2)
		relay_watch_del(w[i]);
	assert_int_equal(relay_pool_thread_load(0) + relay_pool_thread_load(1), N / 2);
	for (i = 1; i < N; i += 2)
		relay_watch_del(w[i]);
	assert_int_equal(relay_pool_thread_load(0), 0);
	assert_int_equal(relay_pool_thread_load(1), 0);
	for (i = 0; i < N; i++)
		close(c[i].efd);
	free(c);
}

struct hammer {
	int efd;
	bool stop;	/* atomic */
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t one = 1;

	while (!__atomic_load_n(&h->stop, __ATOMIC_SEQ_CST)) {
		if (write(h->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	return NULL;
}

/* The fd keeps firing from another thread while the watch is deleted: once
 * relay_watch_del returns, the callback is not running and never runs
 * again, so its state can be freed (ASan would flag a later use). */
static void test_del_is_synchronous_under_load(void **state)
{
	(void)state;
	for (int iter = 0; iter < 40; iter++) {
		struct counter *c = malloc(sizeof(*c));
		struct hammer h;
		pthread_t tid;
		struct relay_watch *w;
		uint64_t calls;

		assert_non_null(c);
		counter_init(c);
		c->sleep_us = (unsigned int)(iter % 4) * 200;	/* 0..600 us inside the callback */
		h.efd = c->efd;
		h.stop = false;
		w = relay_watch_add(c->efd, count_cb, c);
		assert_non_null(w);
		assert_int_equal(pthread_create(&tid, NULL, hammer_main, &h), 0);
		assert_true(wait_events(c, 1));
		sleep_us((unsigned int)(iter % 5) * 100);
		relay_watch_del(w);
		assert_int_equal(__atomic_load_n(&c->running, __ATOMIC_SEQ_CST), 0);
		calls = __atomic_load_n(&c->calls, __ATOMIC_SEQ_CST);
		sleep_us(2000);
		assert_int_equal(__atomic_load_n(&c->calls, __ATOMIC_SEQ_CST), calls);
		__atomic_store_n(&h.stop, true, __ATOMIC_SEQ_CST);
		pthread_join(tid, NULL);
		close(c->efd);
		memset(c, 0xa5, sizeof(*c));
		free(c);
	}
}

static void test_del_from_own_callback(void **state)
{
	struct counter c;
	struct relay_watch *w;
	uint64_t calls;

	(void)state;
	counter_init(&c);
	c.delete_self = true;
	w = relay_watch_add(c.efd, count_cb, &c);
	assert_non_null(w);
	__atomic_store_n(&c.w, w, __ATOMIC_SEQ_CST);
	kick(c.efd, 1);
	assert_true(wait_events(&c, 1));
	for (int i = 0; i < 1000 && __atomic_load_n(&c.running, __ATOMIC_SEQ_CST); i++)
		sleep_us(1000);
	calls = __atomic_load_n(&c.calls, __ATOMIC_SEQ_CST);
	assert_int_equal(calls, 1);
	kick(c.efd, 1);
	sleep_us(5000);
	assert_int_equal(__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST), 1);
	assert_null(__atomic_load_n(&c.w, __ATOMIC_SEQ_CST));
	close(c.efd);
}

static void test_init_rules(void **state)
{
	(void)state;
	assert_int_equal(relay_pool_init(1), -EALREADY);
	relay_pool_fini();
	assert_int_equal(relay_pool_threads(), 0);
	assert_int_equal(relay_pool_init(RELAY_POOL_MAX_THREADS + 1), -EINVAL);
	assert_int_equal(relay_pool_init(3), 0);
	assert_int_equal(relay_pool_threads(), 3);
	relay_pool_fini();
	/* relay_watch_add starts a default-sized pool when nobody did. */
	{
		struct counter c;
		struct relay_watch *w;

		counter_init(&c);
		w = relay_watch_add(c.efd, count_cb, &c);
		assert_non_null(w);
		assert_true(relay_pool_threads() >= 1 && relay_pool_threads() <= 2);
		kick(c.efd, 1);
		assert_true(wait_events(&c, 1));
		relay_watch_del(w);
		close(c.efd);
	}
}

static void test_fini_with_watches_left(void **state)
{
	struct counter c;
	struct relay_watch *w;

	(void)state;
	counter_init(&c);
	w = relay_watch_add(c.efd, count_cb, &c);
	assert_non_null(w);
	relay_pool_fini();	/* warns; the watch is orphaned, not freed */
	kick(c.efd, 1);
	sleep_us(2000);
	assert_int_equal(__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST), 0);
	relay_watch_del(w);	/* frees the orphan */
	close(c.efd);
	assert_int_equal(relay_pool_init(2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_callback_runs_on_pool_thread, pool_up, pool_down),
		cmocka_unit_test_setup_teardown(test_caller_may_close_its_fd, pool_up, pool_down),
		cmocka_unit_test_setup_teardown(test_bad_arguments, pool_up, pool_down),
		cmocka_unit_test_setup_teardown(test_pause_resume, pool_up, pool_down),
		cmocka_unit_test_setup_teardown(test_pause_hangup, pool_up, pool_down),
		cmocka_unit_test_setup_teardown(test_thread_count_fixed_and_balanced, pool_up,
						pool_down),
		cmocka_unit_test_setup_teardown(test_del_is_synchronous_under_load, pool_up,
						pool_down),
		cmocka_unit_test_setup_teardown(test_del_from_own_callback, pool_up, pool_down),
		cmocka_unit_test_setup_teardown(test_init_rules, pool_up, pool_down),
		cmocka_unit_test_setup_teardown(test_fini_with_watches_left, pool_up, pool_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
