/* uvdpad: the uvdpa daemon. One event loop serves the control socket (the
 * uvdpa tool) and every vhost-user socket; the management devices (emulated
 * IFCVF functions, VFIO-bound PCI functions) create vDPA devices on request.
 * Start-up commands come from -c FILE (ip -batch style) or --demo. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef UVDPA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "core/util.h"
#include "daemon/commands.h"
#include "daemon/control.h"
#include "daemon/metrics.h"
#include "daemon/mgmt.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/events.h"
#include "uvdpa/ifcvf.h"
#include "core/log.h"
#include "uvdpa/pci.h"
#include "uvdpa/vdpa.h"

#define TAG "uvdpad"
#define DEMO_SOCKET "/tmp/uvdpa-demo.sock"
#define MAX_ENGINES 64
#define MAX_RELAYS 16

struct options {
	const char *config;		/* -c FILE, "-" for stdin */
	const char *socket;		/* -s */
	bool foreground, verbose, poll, test_mgmtdev, demo;
	const char *demo_socket;
	unsigned int engines, relays;
	const char *sysfs;
	const char *metrics;		/* --metrics ADDR */
};

static struct cmd_env cmd_env;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvdpad [-c FILE] [-s CONTROL_SOCKET] [-f] [-v] [--engines N] [--poll]\n"
		"              [--relays N] [--demo[=SOCKET]] [--test-mgmtdev] [--metrics ADDR]\n"
		"  -c, --config FILE     run the uvdpa commands in FILE at start (- for stdin)\n"
		"  -s, --socket PATH     control socket (default " CTL_DEFAULT_SOCKET ")\n"
		"  -f, --foreground      do not daemonize; log to stderr\n"
		"  -v, --verbose         debug logging\n"
		"      --engines N       engine threads for emulated devices (default 1)\n"
		"      --poll            engines busy-poll (benchmarks)\n"
		"      --relays N        relay threads for kicks and interrupts (default: 1 or 2)\n"
		"      --demo[=SOCKET]   create demo0, an emulated net VF in loopback, bound to\n"
		"                        vhost-user SOCKET (default " DEMO_SOCKET ")\n"
		"      --test-mgmtdev    also offer test/null and test/null-blk (no datapath)\n"
		"      --metrics ADDR    serve Prometheus metrics at http://ADDR/metrics\n"
		"                        (127.0.0.1:9464, [::1]:9464, :9464 for every address)\n"
		"      --sysfs DIR       look for vfio-pci functions under DIR, not /sys (tests)\n"
		"  -h, --help            this text\n");
}

static int parse_count(const char *opt, const char *s, unsigned int max, unsigned int *out)
{
	uint64_t v;

	if (uvdpa_parse_u64(s, 10, 1, max, &v) < 0) {
		fprintf(stderr, "uvdpad: %s %s: use 1..%u\n", opt, s, max);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_ENGINES = 256, OPT_POLL, OPT_RELAYS, OPT_DEMO, OPT_TEST, OPT_SYSFS, OPT_METRICS };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "engines", required_argument, NULL, OPT_ENGINES },
		{ "poll", no_argument, NULL, OPT_POLL },
		{ "relays", required_argument, NULL, OPT_RELAYS },
		{ "demo", optional_argument, NULL, OPT_DEMO },
		{ "test-mgmtdev", no_argument, NULL, OPT_TEST },
		{ "sysfs", required_argument, NULL, OPT_SYSFS },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	int c;

	memset(o, 0, sizeof(*o));
	o->socket = CTL_DEFAULT_SOCKET;
	o->engines = 1;
	o->sysfs = "/sys";
	while ((c = getopt_long(argc, argv, "c:s:fvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_ENGINES:
			if (parse_count("--engines", optarg, MAX_ENGINES, &o->engines) < 0)
				return 2;
			break;
		case OPT_POLL:
			o->poll = true;
			break;
		case OPT_RELAYS:
			if (parse_count("--relays", optarg, MAX_RELAYS, &o->relays) < 0)
				return 2;
			break;
		case OPT_DEMO:
			o->demo = true;
			o->demo_socket = optarg ? optarg : DEMO_SOCKET;
			break;
		case OPT_TEST:
			o->test_mgmtdev = true;
			break;
		case OPT_SYSFS:
			o->sysfs = optarg;
			break;
		case OPT_METRICS:
			if (metrics_addr_check(optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "uvdpad: %s\n", err);
				return 2;
			}
			o->metrics = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uvdpad: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

/* ---- Daemonizing ----
 * The parent waits on a pipe until the daemon (a grandchild, in its own
 * session) has started or failed, and exits with its status: start-up errors
 * reach the terminal and the exit status. Forking first matters: threads
 * (engines, relays) do not survive a fork. */

static int daemon_start(int *ready_fd)
{
	int fds[2];
	pid_t pid;
	char status;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		fprintf(stderr, "uvdpad: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "uvdpad: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		int st;

		close(fds[1]);
		waitpid(pid, &st, 0);
		/* EOF without a byte: the daemon died before it was ready. */
		if (read(fds[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(fds[0]);
	if (setsid() < 0)
		_exit(1);
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	*ready_fd = fds[1];
	return 0;
}

static void daemon_ready(int ready_fd, char status)
{
	int fd;

	if (ready_fd < 0)
		return;
	if (status == 0) {
		if (chdir("/") < 0)
			status = 1;
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
	}
	if (write(ready_fd, &status, 1) != 1)
		status = 1;
	close(ready_fd);
}

/* Tells systemd (Type=notify) that uvdpad is ready (READY=1, with its pid
 * for a daemonized uvdpad) or stopping (STOPPING=1). Nothing happens when
 * NOTIFY_SOCKET is unset or uvdpad was built without libsystemd. */
static void notify_systemd(const char *state)
{
#ifdef UVDPA_HAVE_SYSTEMD
	int ret = sd_notifyf(0, "%s\nMAINPID=%ld", state, (long)getpid());

	if (ret < 0)
		LOG_WARN(TAG, "sd_notify %s: %s", state, strerror(-ret));
#else
	(void)state;
#endif
}

/* ---- Commands at start ---- */

static int run_command(int argc, char **argv, const char *where, bool print)
{
	struct cmd_result res;
	int ret = cmd_execute(&cmd_env, argc, argv, false, false, &res);

	if (ret < 0)
		fprintf(stderr, "uvdpad: %s: %s\n", where, res.error);
	else if (print && res.output)
		fputs(res.output, stdout);
	cmd_result_free(&res);
	return ret;
}

static int run_config_line(void *print, int argc, char **argv, const char *where)
{
	return run_command(argc, argv, where, *(bool *)print);
}

static int run_config(const char *path, bool print)
{
	return ctl_run_file("uvdpad", path, run_config_line, &print);
}

static int run_demo(const char *socket_path)
{
	char abs[PATH_MAX];
	char *add[] = { "dev", "add", "name", "demo0", "mgmtdev", "emu/ifcvf-net", "port",
			"loopback", NULL };
	char *bind[] = { "dev", "bind", "demo0", "vhost-user", abs, NULL };
	int ret;

	if (socket_path[0] == '/') {
		snprintf(abs, sizeof(abs), "%s", socket_path);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd))) {
			fprintf(stderr, "uvdpad: --demo: getcwd: %s\n", strerror(errno));
			return -errno;
		}
		if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, socket_path) >= sizeof(abs))
			return -ENAMETOOLONG;
	}
	ret = run_command(8, add, "--demo", false);
	if (ret == 0)
		ret = run_command(5, bind, "--demo", false);
	return ret;
}

/* ---- Control requests ---- */

static uint64_t requests_served;

static uint64_t get_requests_served(void *opaque)
{
	(void)opaque;
	return requests_served;
}

static void handle_request(void *opaque, const struct ctl_request *req, struct ctl_response *resp)
{
	struct cmd_result res;
	int ret;

	requests_served++;

	if (uvdpa_log_get_level() >= UVDPA_LOG_DEBUG) {
		char line[512];

		LOG_DEBUG(TAG, "request: %s%s",
			  uvdpa_join(line, sizeof(line), " ", (const char *const *)req->argv,
				     (size_t)req->argc),
			  req->json ? " (json)" : "");
	}
	ret = cmd_execute(opaque, req->argc, req->argv, req->json, req->pretty, &res);
	resp->status = ret < 0 ? -ret : 0;
	resp->output = res.output;	/* handed over */
	resp->stream = res.stream;
	resp->error = ret < 0 ? strdup(res.error) : NULL;
	if (ret < 0)
		LOG_DEBUG(TAG, "request failed: %s", res.error);
}

/* ---- Events: `uvdpa monitor` ---- */

/* One JSON line per event to every monitor:
 * {"event":"dev_add","dev":"vf0","detail":"type net ...","seq":1,"time":"...Z"} */
static void broadcast_event(const struct uvdpa_event *ev, void *opaque)
{
	struct ctl_server *srv = opaque;
	char stamp[40], frac[16];
	time_t sec = (time_t)(ev->time_ns / 1000000000ull);
	struct tm tm;
	json_t *obj;
	char *json, *line = NULL;

	if (!ctl_server_streams(srv))
		return;
	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(frac, sizeof(frac), ".%06uZ", (unsigned int)(ev->time_ns % 1000000000ull / 1000));
	strncat(stamp, frac, sizeof(stamp) - strlen(stamp) - 1);
	obj = json_pack("{s:s, s:s, s:s, s:I, s:s}", "event", uvdpa_event_type_name(ev->type),
			"dev", ev->dev, "detail", ev->detail, "seq", (json_int_t)ev->seq,
			"time", stamp);
	json = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	/* Compact JSON escapes control characters: one line. */
	if (!json || asprintf(&line, "%s\n", json) < 0) {
		free(json);
		LOG_WARN(TAG, "cannot encode event %" PRIu64 " for the monitors", ev->seq);
		return;
	}
	free(json);
	ctl_server_broadcast(srv, line);
	free(line);
}

/* ---- Shutdown ---- */

static void delete_all_devices(void)
{
	struct uvdpa_device *d;
	char err[256];

	/* Unbind everything first: every frontend sees its socket close
	 * before any device is reset. */
	uvdpa_device_foreach(d)
		if (d->bus)
			uvdpa_device_unbind(d);
	while ((d = uvdpa_device_first())) {
		char name[UVDPA_NAME_MAX];

		snprintf(name, sizeof(name), "%s", d->name);
		if (uvdpa_mgmtdev_dev_del(d, err, sizeof(err)) < 0) {
			LOG_WARN(TAG, "%s: %s", name, err);
			uvdpa_device_unregister(d);
		} else if (uvdpa_device_first() == d) {
			uvdpa_device_unregister(d);
		}
	}
}

static void on_signal(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct signalfd_siginfo si;

	(void)w;
	(void)events;
	if (read(fd, &si, sizeof(si)) == sizeof(si)) {
		LOG_INFO(TAG, "signal %u: shutting down", si.ssi_signo);
		notify_systemd("STOPPING=1");
		uvdpa_loop_stop(opaque);
	}
}

int main(int argc, char **argv)
{
	struct ctl_server *srv = NULL;
	struct metrics_server *metrics = NULL;
	struct uvdpa_loop *loop = NULL;
	struct options o;
	char err[512];
	int ready_fd = -1, sfd = -1, rc = 1, ret, events_sub = 0;
	sigset_t set;

	ret = parse_options(argc, argv, &o);
	if (ret)
		return ret;
	if (!o.foreground && daemon_start(&ready_fd) < 0)
		return 1;
	/* Before any thread exists, so that every thread inherits the mask
	 * and only the signalfd sees these. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (o.verbose)
		uvdpa_log_set_level(UVDPA_LOG_DEBUG);
	else if (!o.foreground)
		uvdpa_log_set_level(UVDPA_LOG_WARN);	/* errors only, before detaching */

	loop = uvdpa_loop_new();
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!loop || sfd < 0 || !uvdpa_watch_add(loop, sfd, EPOLLIN, on_signal, loop)) {
		fprintf(stderr, "uvdpad: cannot set up the event loop: %s\n", strerror(errno));
		goto out;
	}
	cmd_env.loop = loop;
	ret = uvdpa_events_attach(loop);
	if (ret < 0) {
		fprintf(stderr, "uvdpad: cannot set up events: %s\n", strerror(-ret));
		goto out;
	}

	ret = uvdpa_bus_vhost_user_register();
	if (ret == 0)
		ret = uvdpa_bus_tap_register();
	if (ret < 0) {
		fprintf(stderr, "uvdpad: cannot register the bus drivers: %s\n", strerror(-ret));
		goto out;
	}
	err[0] = '\0';
	if (uvdpa_ifcvf_init(&(const struct uvdpa_ifcvf_options){ .engines = o.engines,
				.poll = o.poll, .relays = o.relays }, err, sizeof(err)) < 0 ||
	    uvdpa_pci_mgmtdev_scan(o.sysfs, err, sizeof(err)) < 0 ||
	    (o.test_mgmtdev && mgmt_test_register() < 0)) {
		fprintf(stderr, "uvdpad: %s\n", err[0] ? err : "cannot register the test mgmtdevs");
		goto out;
	}

	srv = ctl_server_new(loop, o.socket, handle_request, &cmd_env, err, sizeof(err));
	if (!srv) {
		fprintf(stderr, "uvdpad: %s\n", err);
		goto out;
	}
	events_sub = uvdpa_events_subscribe(broadcast_event, srv);
	if (events_sub < 0) {
		fprintf(stderr, "uvdpad: cannot subscribe to events: %s\n", strerror(-events_sub));
		goto out;
	}
	if (o.metrics) {
		metrics = metrics_server_new(loop, o.metrics, &(const struct metrics_daemon_info){
					     .requests = get_requests_served }, err, sizeof(err));
		if (!metrics) {
			fprintf(stderr, "uvdpad: %s\n", err);
			goto out;
		}
	}
	if (o.demo && run_demo(o.demo_socket) < 0)
		goto out;
	if (o.config && run_config(o.config, o.foreground) < 0)
		goto out;

	LOG_INFO(TAG, "ready (control socket %s)", o.socket);
	daemon_ready(ready_fd, 0);
	ready_fd = -1;
	notify_systemd("READY=1");
	ret = uvdpa_loop_run(loop);
	rc = ret < 0 ? 1 : 0;
	if (ret < 0)
		LOG_ERR(TAG, "event loop failed: %s", strerror(-ret));
out:
	metrics_server_free(metrics);
	delete_all_devices();
	uvdpa_events_unsubscribe(events_sub);
	ctl_server_free(srv);
	if (o.test_mgmtdev)
		mgmt_test_unregister();
	uvdpa_pci_mgmtdev_fini();
	uvdpa_ifcvf_fini();
	if (sfd >= 0)
		close(sfd);
	uvdpa_events_detach();
	uvdpa_loop_free(loop);
	daemon_ready(ready_fd, (char)rc);
	return rc;
}
