/* Core-to-core cache-line round trip between CPU A and CPU B, in ns.
 *
 *   c2c_pingpong [CPU_A CPU_B [ROUND_TRIPS]]    (default 0 1 200000)
 *
 * compare_dpdk.sh runs it before every measurement: every figure it takes is
 * bound by how fast ring cache lines move between the two forwarding cores,
 * and on a VM that depends on where the host runs the two vCPUs (SMT
 * siblings, same CCX, other CCX), which can change from one minute to the
 * next. Prints the median of 5 rounds. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Alignas(64) volatile uint64_t ball;
static long trips = 200000;
static int cpu_b = 1;

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *pong(void *arg)
{
	uint64_t v = 1;
	long rounds = *(long *)arg;

	pin(cpu_b);
	for (long r = 0; r < rounds; r++)
		for (long i = 0; i < trips; i++, v += 2) {
			while (__atomic_load_n(&ball, __ATOMIC_ACQUIRE) != v)
				;
			__atomic_store_n(&ball, v + 1, __ATOMIC_RELEASE);
		}
	return NULL;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int cpu_a = argc > 1 ? atoi(argv[1]) : 0;
	long rounds = 5;
	double res[5];
	uint64_t v = 0;
	pthread_t t;

	cpu_b = argc > 2 ? atoi(argv[2]) : 1;
	trips = argc > 3 ? atol(argv[3]) : trips;
	pin(cpu_a);
	if (pthread_create(&t, NULL, pong, &rounds))
		return 1;
	for (long r = 0; r < rounds; r++) {
		double t0 = now_ns();

		for (long i = 0; i < trips; i++, v += 2) {
			__atomic_store_n(&ball, v + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&ball, __ATOMIC_ACQUIRE) != v + 2)
				;
		}
		res[r] = (now_ns() - t0) / trips;
	}
	pthread_join(t, NULL);
	qsort(res, 5, sizeof(res[0]), cmp);
	printf("%.0f\n", res[2]);
	return 0;
}
