/* uvdpad --metrics: see metrics.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/util.h"
#include "daemon/commands.h"
#include "daemon/metrics.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/events.h"
#include "uvdpa/vdpa.h"

#ifndef UVDPA_VERSION_STR
#define UVDPA_VERSION_STR "unknown"
#endif

#define METRICS_MAX_CONNECTIONS 16u
#define METRICS_CONN_TIMEOUT_S 10u

struct metrics_server {
	struct MHD_Daemon *mhd;
	struct uvdpa_watch *watch;
	struct uvdpa_timer *timer;
	struct metrics_daemon_info info;
	uint64_t start_ns;
	uint64_t scrapes;	/* GET/HEAD /metrics answered */
	uint64_t closed;	/* connections MHD closed */
};

/* ---- Rendering ---- */

/* Label values: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct vq_snap {
	struct uvdpa_vq_stats st;	/* valid 0 where unreadable */
	const char *type;		/* "rx", "tx", "control_vq", "request" */
};

struct dev_snap {
	struct uvdpa_device *dev;
	struct uvdpa_bind_status bs;	/* path "" when unbound */
	bool has_status, has_mig;
	uint8_t status;
	struct uvdpa_migration_state mig;
	uint32_t nq;
	struct vq_snap *vq;		/* nq entries */
};

/* What one scrape reads, before any of it is printed. */
struct scrape {
	const struct metrics_server *m;
	struct dev_snap *devs;
	size_t n, sessions;
};

/* ---- Daemon health: one sample each, no labels ----
 * Add a family here: its name, type, help and a reader that returns false
 * when the value cannot be had (the family is then left out). */

static bool rd_devices(const struct scrape *s, uint64_t *v)
{
	*v = s->n;
	return true;
}

static bool rd_sessions(const struct scrape *s, uint64_t *v)
{
	*v = s->sessions;
	return true;
}

static bool rd_scrapes(const struct scrape *s, uint64_t *v)
{
	*v = s->m->scrapes;
	return true;
}

static bool rd_requests(const struct scrape *s, uint64_t *v)
{
	if (!s->m->info.requests)
		return false;
	*v = s->m->info.requests(s->m->info.opaque);
	return true;
}

static bool rd_events_lost(const struct scrape *s, uint64_t *v)
{
	*v = uvdpa_events_lost();
	return true;
}

static bool rd_rss(const struct scrape *s, uint64_t *v)
{
	unsigned long size, rss;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (!f)
		return false;
	n = fscanf(f, "%lu %lu", &size, &rss);
	fclose(f);
	*v = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
	return n == 2;
}

static bool rd_fds(const struct scrape *s, uint64_t *v)
{
	int n = uvdpa_count_open_fds();

	*v = n >= 0 ? (uint64_t)n : 0;
	return n >= 0;
}

static bool rd_threads(const struct scrape *s, uint64_t *v)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");
	bool ok = false;

	if (!f)
		return false;
	while (!ok && fgets(line, sizeof(line), f))
		ok = sscanf(line, "Threads: %" SCNu64, v) == 1;
	fclose(f);
	return ok;
}

static const struct daemon_metric {
	const char *name, *type, *help;
	bool (*read)(const struct scrape *s, uint64_t *v);
} daemon_metrics[] = {
	{ "uvdpa_devices", "gauge", "vDPA devices registered.", rd_devices },
	{ "uvdpa_sessions_connected", "gauge",
	  "Bound devices with a driver attached (vhost-user frontend, tap).", rd_sessions },
	{ "uvdpa_metrics_scrapes_total", "counter", "Scrapes of /metrics served.", rd_scrapes },
	{ "uvdpa_control_requests_total", "counter", "Requests served on the control socket.",
	  rd_requests },
	{ "uvdpa_events_lost_total", "counter", "Events dropped because the event queue was full.",
	  rd_events_lost },
	{ "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rd_rss },
	{ "process_open_fds", "gauge", "Number of open file descriptors.", rd_fds },
	{ "process_threads", "gauge", "Number of OS threads in the process.", rd_threads },
};

static void render_daemon(FILE *f, const struct scrape *s)
{
	uint64_t v;
	size_t i;

	family(f, "uvdpa_build_info", "gauge", "uvdpad's version; always 1.");
	fprintf(f, "uvdpa_build_info{version=\"%s\"} 1\n", UVDPA_VERSION_STR);
	family(f, "uvdpa_uptime_seconds", "gauge", "Seconds since uvdpad started.");
	fprintf(f, "uvdpa_uptime_seconds %.3f\n",
		(double)(uvdpa_now_ns() - s->m->start_ns) / 1e9);
	for (i = 0; i < sizeof(daemon_metrics) / sizeof(daemon_metrics[0]); i++) {
		const struct daemon_metric *d = &daemon_metrics[i];

		if (!d->read(s, &v))
			continue;
		family(f, d->name, d->type, d->help);
		fprintf(f, "%s %" PRIu64 "\n", d->name, v);
	}
}

/* ---- Per device ---- */

static void snap_device(struct uvdpa_device *dev, struct dev_snap *s)
{
	bool blk;
	uint32_t q;

	memset(s, 0, sizeof(*s));
	s->dev = dev;
	if (dev->bus && dev->bus->status && dev->bus->status(dev, &s->bs) < 0)
		memset(&s->bs, 0, sizeof(s->bs));
	s->bs.path[sizeof(s->bs.path) - 1] = '\0';
	if (dev->ops && dev->ops->get_status && dev->ops->get_status(dev, &s->status) == 0)
		s->has_status = true;
	if (dev->ops && dev->ops->get_migration && dev->ops->get_migration(dev, &s->mig) == 0)
		s->has_mig = true;
	if (!dev->ops || !dev->ops->get_vq_stats)
		return;
	s->nq = cmd_device_max_vqs(dev);
	if (s->nq > 65536)
		s->nq = 65536;
	s->vq = s->nq ? calloc(s->nq, sizeof(*s->vq)) : NULL;
	if (!s->vq) {
		s->nq = 0;
		return;
	}
	blk = strcmp(cmd_device_type_name(dev), "block") == 0;
	for (q = 0; q < s->nq; q++) {
		if (dev->ops->get_vq_stats(dev, (uint16_t)q, &s->vq[q].st) < 0)
			s->vq[q].st.valid = 0;
		s->vq[q].type = cmd_queue_type_name(dev, q);
		if (!s->vq[q].type)
			s->vq[q].type = blk ? "request" : "unknown";
	}
}

#define for_each_dev(s, i) for ((i) = 0; (i) < (s)->n; (i)++)

/* A sample's start: NAME{device="DEV"; the caller adds the rest. */
static void dev_sample(FILE *f, const char *name, const struct dev_snap *d)
{
	fprintf(f, "%s{device=", name);
	put_label(f, d->dev->name);
}

static void render_devices(FILE *f, const struct scrape *s)
{
	const struct dev_snap *d;
	size_t i;

	family(f, "uvdpa_device_info", "gauge",
	       "One per device: type, management device, driver, bus and bound path; always 1.");
	for_each_dev(s, i) {
		d = &s->devs[i];
		dev_sample(f, "uvdpa_device_info", d);
		fputs(",type=", f);
		put_label(f, cmd_device_type_name(d->dev));
		fputs(",mgmtdev=", f);
		put_label(f, d->dev->mgmtdev ? d->dev->mgmtdev->name : "");
		fputs(",driver=", f);
		put_label(f, d->dev->driver ? d->dev->driver->name : "");
		fputs(",bus=", f);
		put_label(f, d->dev->bus ? d->dev->bus->name : "");
		fputs(",path=", f);
		put_label(f, d->bs.path);
		fputs("} 1\n", f);
	}
	family(f, "uvdpa_device_connected", "gauge",
	       "1 when the device's bus has a driver attached (a vhost-user frontend, a tap).");
	for_each_dev(s, i) {
		dev_sample(f, "uvdpa_device_connected", &s->devs[i]);
		fprintf(f, "} %d\n", s->devs[i].bs.connected);
	}
	family(f, "uvdpa_device_status", "gauge", "The device's virtio status byte.");
	for_each_dev(s, i)
		if (s->devs[i].has_status) {
			dev_sample(f, "uvdpa_device_status", &s->devs[i]);
			fprintf(f, "} %u\n", s->devs[i].status);
		}
	family(f, "uvdpa_device_needs_reset", "gauge",
	       "1 when the device reports DEVICE_NEEDS_RESET (it faulted).");
	for_each_dev(s, i)
		if (s->devs[i].has_status) {
			dev_sample(f, "uvdpa_device_needs_reset", &s->devs[i]);
			fprintf(f, "} %d\n", !!(s->devs[i].status & VIRTIO_CONFIG_S_NEEDS_RESET));
		}
	family(f, "uvdpa_device_migration_info", "gauge",
	       "How the device migrates (mode: none, hw, sw, shadow); always 1.");
	for_each_dev(s, i)
		if (s->devs[i].has_mig) {
			dev_sample(f, "uvdpa_device_migration_info", &s->devs[i]);
			fputs(",mode=", f);
			put_label(f, uvdpa_migration_mode_name(s->devs[i].mig.mode));
			fputs("} 1\n", f);
		}
	family(f, "uvdpa_device_logging", "gauge", "1 while dirty page logging is on.");
	for_each_dev(s, i)
		if (s->devs[i].has_mig) {
			dev_sample(f, "uvdpa_device_logging", &s->devs[i]);
			fprintf(f, "} %d\n", s->devs[i].mig.logging ? 1 : 0);
		}
}

/* uvdpa_vq_<stat>_total per counter (uvdpa_vq_in_flight, a gauge), for the
 * stats at least one queue keeps. */
static void render_vq(FILE *f, const struct scrape *s)
{
	char name[96], help[160];
	const struct dev_snap *d;
	size_t i;
	uint32_t q;
	int st;

	for (st = 0; st < UVDPA_VQ_STAT_NUM; st++) {
		const char *sn = uvdpa_vq_stat_name((enum uvdpa_vq_stat)st);
		bool gauge = st == UVDPA_VQ_STAT_IN_FLIGHT, any = false;
		uint64_t bit = 1ull << st;

		for (i = 0; i < s->n && !any; i++)
			for (q = 0; q < s->devs[i].nq && !any; q++)
				any = s->devs[i].vq[q].st.valid & bit;
		if (!any || !sn)
			continue;
		snprintf(name, sizeof(name), "uvdpa_vq_%s%s", sn, gauge ? "" : "_total");
		snprintf(help, sizeof(help), "Per-virtqueue %s%s (dev vstats show).", sn,
			 gauge ? ", now" : ", since the device was created");
		family(f, name, gauge ? "gauge" : "counter", help);
		for_each_dev(s, i) {
			d = &s->devs[i];
			for (q = 0; q < d->nq; q++) {
				if (!(d->vq[q].st.valid & bit))
					continue;
				dev_sample(f, name, d);
				fprintf(f, ",queue=\"%" PRIu32 "\",type=", q);
				put_label(f, d->vq[q].type);
				fprintf(f, "} %" PRIu64 "\n", d->vq[q].st.value[st]);
			}
		}
	}
}

/* The exposition text (malloc'd, NUL-terminated; *len its length) or NULL. */
static char *metrics_render(const struct metrics_server *m, size_t *len)
{
	struct scrape s = { .m = m };
	struct uvdpa_device *dev;
	char *buf = NULL;
	size_t i, n = 0;
	FILE *f;

	uvdpa_device_foreach(dev)
		n++;
	if (n && !(s.devs = calloc(n, sizeof(*s.devs))))
		return NULL;
	uvdpa_device_foreach(dev) {
		if (s.n == n)
			break;
		snap_device(dev, &s.devs[s.n]);
		s.sessions += s.devs[s.n].bs.connected;
		s.n++;
	}
	f = open_memstream(&buf, len);
	if (f) {
		render_daemon(f, &s);
		if (s.n) {
			render_devices(f, &s);
			render_vq(f, &s);
		}
		if (fclose(f) != 0) {
			free(buf);
			buf = NULL;
		}
	}
	for (i = 0; i < s.n; i++)
		free(s.devs[i].vq);
	free(s.devs);
	return buf;
}

/* ---- HTTP ---- */

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned int code,
				  const char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				code == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
						    : "text/plain; charset=utf-8");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	static const char not_found[] = "not found: try /metrics\n";
	static const char not_allowed[] = "GET or HEAD only\n";
	struct metrics_server *m = cls;
	enum MHD_Result ret;
	size_t len = 0;
	char *body;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		*upload_data_size = 0;	/* a body is ignored */
		return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
				  sizeof(not_allowed) - 1);
	}
	if (!*con_cls) {	/* the headers: answer on the next call */
		*con_cls = m;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return queue_text(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1);
	m->scrapes++;	/* this one included */
	body = metrics_render(m, &len);
	if (!body)
		return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", 14);
	ret = queue_text(conn, MHD_HTTP_OK, body, len);
	free(body);
	return ret;
}

static void on_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			   enum MHD_ConnectionNotificationCode code)
{
	struct metrics_server *m = cls;

	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		m->closed++;
}

/* MHD work then its next deadline: a connection's timeout, or 0 when it
 * has work it did not finish this round.
 *
 * At METRICS_MAX_CONNECTIONS, MHD takes the listening socket out of its
 * epoll set, and puts it back only at the start of a later MHD_run. When
 * the connections close in the run that frees them all, no fd of MHD's
 * becomes readable again and no connection has a timeout: the clients in
 * the listen backlog, and every later scrape, would wait for good. So a
 * run that closed connections is followed by another at once. */
static void metrics_run(struct metrics_server *m)
{
	MHD_UNSIGNED_LONG_LONG to;
	uint64_t closed = m->closed;

	MHD_run(m->mhd);
	if (m->closed != closed)
		uvdpa_timer_arm(m->timer, 0);
	else if (MHD_get_timeout(m->mhd, &to) == MHD_YES)
		uvdpa_timer_arm(m->timer, to > 60000 ? 60000u : (unsigned int)to);
	else
		uvdpa_timer_disarm(m->timer);
}

static void on_mhd_fd(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	(void)w;
	(void)fd;
	(void)events;
	metrics_run(opaque);
}

static void on_mhd_timer(struct uvdpa_timer *t, void *opaque)
{
	(void)t;
	metrics_run(opaque);
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *any, uint16_t *port,
		      char *err, size_t errlen)
{
	static const char forms[] = "use IPV4:PORT, [IPV6]:PORT or :PORT (every address)";
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = addr, *hend;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	bool v6 = addr[0] == '[';
	uint64_t p;

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		h = addr + 1;
		hend = strchr(h, ']');
		colon = hend ? hend + 1 : NULL;
	} else {
		colon = strrchr(addr, ':');
		hend = colon;
		if (colon && memchr(addr, ':', (size_t)(colon - addr))) {
			snprintf(err, errlen, "--metrics %s: an IPv6 address goes in brackets: %s",
				 addr, forms);
			return -EINVAL;
		}
	}
	if (!colon || *colon != ':' || (v6 && hend == h)) {
		snprintf(err, errlen, "--metrics %s: %s", addr, forms);
		return -EINVAL;
	}
	if (uvdpa_parse_u64(colon + 1, 10, 1, 65535, &p) < 0) {
		snprintf(err, errlen, "--metrics %s: the port must be a number in 1..65535", addr);
		return -EINVAL;
	}
	*port = (uint16_t)p;
	*any = hend == h;
	if (*any)
		return 0;
	if ((size_t)(hend - h) < sizeof(host)) {
		memcpy(host, h, (size_t)(hend - h));
		host[hend - h] = '\0';
		if (!v6 && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(*port);
			return 0;
		}
		if (v6 && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(*port);
			return 0;
		}
	}
	snprintf(err, errlen, "--metrics %s: \"%.*s\" is not an IPv%c address (no host names): %s",
		 addr, (int)(hend - h > 64 ? 64 : hend - h), h, v6 ? '6' : '4', forms);
	return -EINVAL;
}

int metrics_addr_check(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	uint16_t port;
	bool any;

	return parse_addr(addr, &ss, &any, &port, err, errlen);
}

struct metrics_server *metrics_server_new(struct uvdpa_loop *loop, const char *addr,
					  const struct metrics_daemon_info *info, char *err,
					  size_t errlen)
{
	const union MHD_DaemonInfo *di;
	struct sockaddr_storage ss;
	struct metrics_server *m;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_TURBO;
	uint16_t port;
	bool any;

	if (parse_addr(addr, &ss, &any, &port, err, errlen) < 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (info)
		m->info = *info;
	m->start_ns = uvdpa_now_ns();
	if (any)
		flags |= MHD_USE_DUAL_STACK;
	else if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (any)
		m->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, m,
					  MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNECTIONS,
					  MHD_OPTION_CONNECTION_TIMEOUT, METRICS_CONN_TIMEOUT_S,
					  MHD_OPTION_NOTIFY_CONNECTION, on_conn_notify, m,
					  MHD_OPTION_END);
	else
		m->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, m,
					  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					  MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNECTIONS,
					  MHD_OPTION_CONNECTION_TIMEOUT, METRICS_CONN_TIMEOUT_S,
					  MHD_OPTION_NOTIFY_CONNECTION, on_conn_notify, m,
					  MHD_OPTION_END);
	if (!m->mhd) {
		snprintf(err, errlen, "--metrics %s: cannot listen: %s", addr, strerror(errno));
		goto fail;
	}
	di = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	m->timer = uvdpa_timer_new(loop, on_mhd_timer, m);
	if (!di || !m->timer ||
	    !(m->watch = uvdpa_watch_add(loop, di->epoll_fd, EPOLLIN, on_mhd_fd, m))) {
		snprintf(err, errlen, "--metrics %s: cannot watch the server", addr);
		goto fail;
	}
	return m;
fail:
	metrics_server_free(m);
	return NULL;
}

void metrics_server_free(struct metrics_server *m)
{
	if (!m)
		return;
	if (m->watch)
		uvdpa_watch_del(m->watch);
	if (m->timer)
		uvdpa_timer_free(m->timer);
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	free(m);
}
