/* uvdpad --metrics: see metrics.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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

static long proc_rss_bytes(void)
{
	unsigned long size, rss;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "%lu %lu", &size, &rss);
	fclose(f);
	return n == 2 ? (long)(rss * (unsigned long)sysconf(_SC_PAGESIZE)) : -1;
}

struct dev_snap {
	struct uvdpa_device *dev;
	bool bound, connected, has_status, has_mig;
	uint8_t status;
	struct uvdpa_migration_state mig;
	uint32_t nq;
	struct uvdpa_vq_stats *vq;	/* nq entries; valid 0 where unreadable */
};

static void snap_device(struct uvdpa_device *dev, struct dev_snap *s)
{
	struct uvdpa_bind_status bs;
	uint32_t q;

	memset(s, 0, sizeof(*s));
	s->dev = dev;
	s->bound = dev->bus != NULL;
	memset(&bs, 0, sizeof(bs));
	if (dev->bus && dev->bus->status && dev->bus->status(dev, &bs) == 0)
		s->connected = bs.connected;
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
	for (q = 0; q < s->nq; q++)
		if (dev->ops->get_vq_stats(dev, (uint16_t)q, &s->vq[q]) < 0)
			s->vq[q].valid = 0;
}

static void render_vq(FILE *f, struct dev_snap *snaps, size_t n)
{
	char name[96], help[160];
	size_t i;
	uint32_t q;
	int st;

	for (st = 0; st < UVDPA_VQ_STAT_NUM; st++) {
		const char *sn = uvdpa_vq_stat_name((enum uvdpa_vq_stat)st);
		bool gauge = st == UVDPA_VQ_STAT_IN_FLIGHT, any = false;

		for (i = 0; i < n && !any; i++)
			for (q = 0; q < snaps[i].nq && !any; q++)
				any = snaps[i].vq[q].valid & (1ull << st);
		if (!any || !sn)
			continue;
		snprintf(name, sizeof(name), "uvdpa_vq_%s%s", sn, gauge ? "" : "_total");
		snprintf(help, sizeof(help), "Per-virtqueue %s%s (dev vstats show).", sn,
			 gauge ? ", now" : ", since the device was created or its stats reset");
		family(f, name, gauge ? "gauge" : "counter", help);
		for (i = 0; i < n; i++)
			for (q = 0; q < snaps[i].nq; q++) {
				if (!(snaps[i].vq[q].valid & (1ull << st)))
					continue;
				fprintf(f, "%s{device=", name);
				put_label(f, snaps[i].dev->name);
				fprintf(f, ",queue=\"%" PRIu32 "\"} %" PRIu64 "\n", q,
					snaps[i].vq[q].value[st]);
			}
	}
}

char *metrics_render(const struct metrics_daemon_info *info, uint64_t start_ns, size_t *len)
{
	struct dev_snap *snaps = NULL;
	struct uvdpa_device *dev;
	size_t n = 0, i, sessions = 0;
	char *buf = NULL;
	long v;
	FILE *f;

	uvdpa_device_foreach(dev)
		n++;
	if (n) {
		snaps = calloc(n, sizeof(*snaps));
		if (!snaps)
			return NULL;
	}
	i = 0;
	uvdpa_device_foreach(dev) {
		if (i == n)
			break;
		snap_device(dev, &snaps[i]);
		sessions += snaps[i].connected;
		i++;
	}
	n = i;
	f = open_memstream(&buf, len);
	if (!f)
		goto out;

	family(f, "uvdpa_build_info", "gauge", "uvdpad's version; always 1.");
	fprintf(f, "uvdpa_build_info{version=\"%s\"} 1\n", UVDPA_VERSION_STR);
	family(f, "uvdpa_uptime_seconds", "gauge", "Seconds since uvdpad started.");
	fprintf(f, "uvdpa_uptime_seconds %.3f\n", (double)(uvdpa_now_ns() - start_ns) / 1e9);
	family(f, "uvdpa_devices", "gauge", "vDPA devices registered.");
	fprintf(f, "uvdpa_devices %zu\n", n);
	family(f, "uvdpa_sessions_connected", "gauge",
	       "Bound devices with a driver attached (vhost-user frontend, tap).");
	fprintf(f, "uvdpa_sessions_connected %zu\n", sessions);
	family(f, "uvdpa_events_lost_total", "counter",
	       "Events dropped because the event queue was full.");
	fprintf(f, "uvdpa_events_lost_total %" PRIu64 "\n", uvdpa_events_lost());
	if (info && info->requests) {
		family(f, "uvdpa_control_requests_total", "counter",
		       "Requests served on the control socket.");
		fprintf(f, "uvdpa_control_requests_total %" PRIu64 "\n",
			info->requests(info->opaque));
	}
	v = proc_rss_bytes();
	if (v >= 0) {
		family(f, "uvdpa_process_resident_memory_bytes", "gauge",
		       "uvdpad's resident memory.");
		fprintf(f, "uvdpa_process_resident_memory_bytes %ld\n", v);
	}
	v = uvdpa_count_open_fds();
	if (v >= 0) {
		family(f, "uvdpa_process_open_fds", "gauge", "uvdpad's open file descriptors.");
		fprintf(f, "uvdpa_process_open_fds %ld\n", v);
	}

	if (n) {
		family(f, "uvdpa_device_info", "gauge",
		       "One per device: type, management device, driver, bus; always 1.");
		for (i = 0; i < n; i++) {
			dev = snaps[i].dev;
			fputs("uvdpa_device_info{device=", f);
			put_label(f, dev->name);
			fputs(",type=", f);
			put_label(f, cmd_device_type_name(dev));
			fputs(",mgmtdev=", f);
			put_label(f, dev->mgmtdev ? dev->mgmtdev->name : "");
			fputs(",driver=", f);
			put_label(f, dev->driver ? dev->driver->name : "");
			fputs(",bus=", f);
			put_label(f, dev->bus ? dev->bus->name : "");
			fputs("} 1\n", f);
		}
		family(f, "uvdpa_device_connected", "gauge",
		       "1 when the device's bus has a driver attached.");
		for (i = 0; i < n; i++) {
			fputs("uvdpa_device_connected{device=", f);
			put_label(f, snaps[i].dev->name);
			fprintf(f, "} %d\n", snaps[i].connected);
		}
		family(f, "uvdpa_device_status", "gauge", "The device's virtio status byte.");
		for (i = 0; i < n; i++) {
			if (!snaps[i].has_status)
				continue;
			fputs("uvdpa_device_status{device=", f);
			put_label(f, snaps[i].dev->name);
			fprintf(f, "} %u\n", snaps[i].status);
		}
		family(f, "uvdpa_device_migration_logging", "gauge",
		       "1 while dirty logging (LOG_ALL) is on; mode: none, hw, sw, shadow.");
		for (i = 0; i < n; i++) {
			if (!snaps[i].has_mig)
				continue;
			fputs("uvdpa_device_migration_logging{device=", f);
			put_label(f, snaps[i].dev->name);
			fputs(",mode=", f);
			put_label(f, uvdpa_migration_mode_name(snaps[i].mig.mode));
			fprintf(f, "} %d\n", snaps[i].mig.logging);
		}
		render_vq(f, snaps, n);
	}
	if (fclose(f) != 0) {
		free(buf);
		buf = NULL;
	}
out:
	for (i = 0; i < n; i++)
		free(snaps[i].vq);
	free(snaps);
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
	body = metrics_render(&m->info, m->start_ns, &len);
	if (!body)
		return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", 14);
	ret = queue_text(conn, MHD_HTTP_OK, body, len);
	free(body);
	return ret;
}

/* MHD work then its next deadline: a connection's timeout, or 0 when it
 * has work it did not finish this round. */
static void metrics_run(struct metrics_server *m)
{
	MHD_UNSIGNED_LONG_LONG to;

	MHD_run(m->mhd);
	if (MHD_get_timeout(m->mhd, &to) == MHD_YES)
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
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = addr, *hend;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	uint64_t p;

	memset(ss, 0, sizeof(*ss));
	if (addr[0] == '[') {
		hend = strchr(addr, ']');
		if (!hend || hend[1] != ':')
			goto bad;
		h = addr + 1;
		colon = hend + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			goto bad;
		hend = colon;
	}
	if (uvdpa_parse_u64(colon + 1, 10, 1, 65535, &p) < 0)
		goto bad;
	*port = (uint16_t)p;
	*any = hend == h;
	if (*any)
		return 0;
	if ((size_t)(hend - h) >= sizeof(host))
		goto bad;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	if (addr[0] != '[' && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(*port);
		return 0;
	}
	if (addr[0] == '[' && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(*port);
		return 0;
	}
bad:
	snprintf(err, errlen, "--metrics %s: use IPV4:PORT, [IPV6]:PORT or :PORT", addr);
	return -EINVAL;
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
					  MHD_OPTION_END);
	else
		m->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, m,
					  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					  MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNECTIONS,
					  MHD_OPTION_CONNECTION_TIMEOUT, METRICS_CONN_TIMEOUT_S,
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
