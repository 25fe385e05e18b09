/* Test frontend latency histogram: log-linear buckets (64 per power of two,
 * exact below 128), so percentiles come out within 1/64 of the value from a
 * fixed 30 KB table whatever the number of samples. */
#include <string.h>

#include "frontend/frontend.h"

#define SUB (1u << FE_LAT_SUB_BITS)

static unsigned int bucket_of(uint64_t v)
{
	unsigned int msb, shift;

	if (v < 2 * SUB)
		return (unsigned int)v;
	msb = 63u - (unsigned int)__builtin_clzll(v);
	shift = msb - FE_LAT_SUB_BITS;
	return (shift + 1) * SUB + (unsigned int)((v >> shift) - SUB);
}

/* The smallest and largest values bucket idx holds. */
static void bucket_range(unsigned int idx, uint64_t *lo, uint64_t *hi)
{
	unsigned int shift;
	uint64_t sub;

	if (idx < 2 * SUB) {
		*lo = *hi = idx;
		return;
	}
	shift = idx / SUB - 1;
	sub = idx % SUB + SUB;
	*lo = sub << shift;
	*hi = *lo + ((1ull << shift) - 1);
}

void fe_lat_reset(struct fe_lat_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void fe_lat_add(struct fe_lat_hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->bucket[bucket_of(v)]++;
}

void fe_lat_merge(struct fe_lat_hist *into, const struct fe_lat_hist *from)
{
	if (from->count == 0)
		return;
	if (into->count == 0 || from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
	into->count += from->count;
	into->sum += from->sum;
	for (unsigned int i = 0; i < FE_LAT_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
}

uint64_t fe_lat_percentile(const struct fe_lat_hist *h, double pct)
{
	uint64_t milli, rank, seen = 0, lo, hi, v;

	if (h->count == 0)
		return 0;
	if (!(pct > 0))
		return h->min;
	if (pct >= 100)
		return h->max;
	/* Nearest rank, ceil(pct / 100 * count), in integers (pct to 1/1000 of
	 * a percent) so that 99.9 % of 1000 samples is rank 999 exactly. */
	milli = (uint64_t)(pct * 1000.0 + 0.5);
	rank = h->count / 100000 * milli + (h->count % 100000 * milli + 99999) / 100000;
	if (rank == 0)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned int i = 0; i < FE_LAT_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen < rank)
			continue;
		bucket_range(i, &lo, &hi);
		v = lo + (hi - lo) / 2;
		return v < h->min ? h->min : v > h->max ? h->max : v;
	}
	return h->max;
}

double fe_lat_mean(const struct fe_lat_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
