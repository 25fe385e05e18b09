/* uvdpa-frontend --blk: a verified block load, or malformed requests, over
 * a vhost-user-blk port; per-queue lines and one summary line for scripts. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "uvdpa-frontend.h"

#define NS_PER_US 1000.0

static double per_second(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static double pct_us(const struct fe_lat_hist *h, double pct)
{
	return (double)fe_lat_percentile(h, pct) / NS_PER_US;
}

static void print_device(const struct fe_dev *dev, const struct fe_blk_geometry *g)
{
	char f[512];

	printf("features: 0x%016" PRIx64 " (%s)\n", dev->features,
	       fe_dev_features_str(FE_DEV_BLK, dev->features, f, sizeof(f)));
	printf("protocol features: 0x%" PRIx64 " (backend offered 0x%" PRIx64 ")\n",
	       dev->protocol_features, dev->backend_protocol_features);
	printf("device: blk capacity=%" PRIu64 " sectors (%" PRIu64 " MiB) blk_size=%u "
	       "size_max=%u seg_max=%u num_queues=%u ro=%s flush=%s wce=%s discard=%s "
	       "write_zeroes=%s\n", g->capacity, g->capacity >> 11, g->blk_size, g->size_max,
	       g->seg_max, g->num_queues, g->ro ? "yes" : "no", g->flush ? "yes" : "no",
	       g->has_wce ? (g->wce ? "1" : "0") : "n/a", g->discard ? "yes" : "no",
	       g->write_zeroes ? "yes" : "no");
	if (g->discard || g->write_zeroes)
		printf("limits: max_discard_sectors=%u max_discard_seg=%u "
		       "discard_sector_alignment=%u max_write_zeroes_sectors=%u "
		       "max_write_zeroes_seg=%u write_zeroes_may_unmap=%u\n", g->max_discard_sectors,
		       g->max_discard_seg, g->discard_sector_alignment, g->max_write_zeroes_sectors,
		       g->max_write_zeroes_seg, g->write_zeroes_may_unmap);
	printf("rings: %u queue(s) x %u entries, %u memory region(s)\n", dev->nvrings,
	       dev->cfg.queue_size, dev->mem.nregions);
}

/* "iops=... mbps=... lat_p50_us=..." of one job or of the run. */
static void print_figures(FILE *f, const struct fe_blk_job_stats *s)
{
	uint64_t ios = s->reads + s->writes;

	fprintf(f, "ios=%" PRIu64 " reads=%" PRIu64 " writes=%" PRIu64 " flushes=%" PRIu64
		" seconds=%.3f iops=%.0f mbps=%.1f lat_avg_us=%.1f lat_p50_us=%.1f"
		" lat_p99_us=%.1f lat_p999_us=%.1f lat_max_us=%.1f", ios, s->reads, s->writes,
		s->flushes, (double)s->ns / 1e9, per_second(ios, s->ns),
		per_second(s->read_bytes + s->write_bytes, s->ns) / 1e6,
		fe_lat_mean(&s->lat) / NS_PER_US, pct_us(&s->lat, 50), pct_us(&s->lat, 99),
		pct_us(&s->lat, 99.9), (double)s->lat.max / NS_PER_US);
	if (s->flushes)
		fprintf(f, " flush_p50_us=%.1f flush_p99_us=%.1f", pct_us(&s->flush_lat, 50),
			pct_us(&s->flush_lat, 99));
	fprintf(f, " errors=%" PRIu64 " bad_sectors=%" PRIu64 " verified=%" PRIu64
		" unverified=%" PRIu64 " len_mismatch=%" PRIu64, s->errors, s->bad_sectors,
		s->verified, s->unverified, s->len_mismatch);
}

static void print_json(const struct blk_options *o, const struct fe_blk_job_stats *s, bool pass,
		       unsigned int queues)
{
	uint64_t ios = s->reads + s->writes;

	printf("{\"result\":\"%s\",\"rw\":\"%s\",\"bs\":%u,\"qd\":%u,\"queues\":%u"
	       ",\"ios\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"writes\":%" PRIu64
	       ",\"flushes\":%" PRIu64 ",\"iops\":%.0f,\"mbps\":%.1f,\"lat_p50_us\":%.1f"
	       ",\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"errors\":%" PRIu64
	       ",\"bad_sectors\":%" PRIu64 ",\"verified\":%" PRIu64 ",\"unverified\":%" PRIu64 "}\n",
	       pass ? "pass" : "fail", fe_blk_rw_name(o->load.rw), o->load.bs, o->load.iodepth,
	       queues, ios, s->reads, s->writes, s->flushes, per_second(ios, s->ns),
	       per_second(s->read_bytes + s->write_bytes, s->ns) / 1e6, pct_us(&s->lat, 50),
	       pct_us(&s->lat, 99), pct_us(&s->lat, 99.9), s->errors, s->bad_sectors, s->verified,
	       s->unverified);
}

static const char *run_error(int r)
{
	switch (r) {
	case -ETIMEDOUT: return "a queue stalled";
	case -EIO: return "the device broke a ring";
	case -ECONNRESET: return "the backend closed the session";
	case -EROFS: return "writes to a read-only device";
	}
	return "the load failed";
}

static int run_load(const struct blk_options *o, struct fe_blk *b, unsigned int queues)
{
	struct fe_blk_job_stats st;
	const char *why = NULL;
	bool pass;
	int r = fe_blk_run(b);

	if (r == -EROFS) {
		printf("result: FAIL: %s\n", run_error(r));
		return 1;
	}
	for (unsigned int i = 0; i < queues; i++) {
		fe_blk_get_stats(b, (int)i, &st);
		printf("job q%u: rw=%s bs=%u qd=%u ", i, fe_blk_rw_name(o->load.rw), o->load.bs,
		       o->load.iodepth);
		print_figures(stdout, &st);
		printf("\n");
	}
	fe_blk_get_stats(b, -1, &st);
	if (r < 0)
		why = run_error(r);
	else if (st.errors)
		why = "requests failed or data did not verify";
	else if (st.reads + st.writes == 0)
		why = "no request completed";
	pass = why == NULL;
	printf("blk: rw=%s bs=%u qd=%u queues=%u ", fe_blk_rw_name(o->load.rw), o->load.bs,
	       o->load.iodepth, queues);
	print_figures(stdout, &st);
	printf(" tag=0x%08x result=%s\n", fe_blk_run_tag(b), pass ? "PASS" : "FAIL");
	if (why)
		printf("result: FAIL: %s\n", why);
	if (o->json)
		print_json(o, &st, pass, queues);
	return pass ? 0 : 1;
}

static int run_bad(const struct blk_options *o, struct fe_blk *b)
{
	unsigned int passed = 0, failed = 0, na = 0;

	for (unsigned int i = 0; i < o->nbad; i++) {
		int r = fe_blk_bad_run(b, o->bad[i], stdout);

		if (r == FE_BLK_BAD_PASS)
			passed++;
		else if (r == FE_BLK_BAD_NA)
			na++;
		else
			failed++;
		if (r < 0) {
			printf("blk-bad: the session is lost (%s): the remaining kinds are not run\n",
			       strerror(-r));
			failed += o->nbad - i - 1;
			break;
		}
	}
	printf("blk-bad: kinds=%u passed=%u failed=%u na=%u result=%s\n", o->nbad, passed, failed,
	       na, failed ? "FAIL" : "PASS");
	return failed ? 1 : 0;
}

int run_blk(const struct blk_options *o, struct fe_dev *dev)
{
	struct fe_blk *b;
	int r = fe_dev_connect(dev), rc;

	if (r == 0)
		r = fe_dev_negotiate(dev);
	if (r < 0) {
		printf("result: FAIL: negotiation failed\n");
		return 1;
	}
	b = fe_blk_new(dev, &o->load);
	if (!b) {
		printf("result: FAIL: the load cannot run on this device\n");
		fe_dev_disconnect(dev);
		return 1;
	}
	print_device(dev, fe_blk_get_geometry(b));
	fflush(stdout);
	rc = o->nbad ? run_bad(o, b) : run_load(o, b, dev->nvrings);
	/* The rings stop as QEMU stops them; a lost session has none to stop. */
	if (dev->running && !dev->conn.peer_closed && fe_dev_stop(dev) < 0) {
		printf("result: FAIL: GET_VRING_BASE failed\n");
		rc = 1;
	}
	fflush(stdout);
	fe_blk_free(b);
	fe_dev_disconnect(dev);
	return rc;
}
