/* serve-emulated-vf: serves one emulated IFCVF net VF (in loopback: what the
 * frontend sends comes back to it) on a vhost-user socket until SIGINT or
 * SIGTERM, using only the installed library (pkg-config uvdpa).
 *
 *   serve-emulated-vf SOCKET [client]
 *
 * Try it with uvdpa-frontend --socket SOCKET --count 10000, or give QEMU the
 * socket (-chardev socket,id=c0,path=SOCKET -netdev vhost-user,...). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <uvdpa/event_loop.h>
#include <uvdpa/ifcvf.h>
#include <uvdpa/log.h>
#include <uvdpa/vdpa.h>

static void on_signal(struct uvdpa_watch *w, int fd, uint32_t events, void *loop)
{
	struct signalfd_siginfo si;

	(void)w;
	(void)events;
	if (read(fd, &si, sizeof(si)) == sizeof(si)) {
		fprintf(stderr, "serve-emulated-vf: signal %u, stopping\n", si.ssi_signo);
		uvdpa_loop_stop(loop);
	}
}

/* Adds vf0 on emu/ifcvf-net (port loopback) and binds it to vhost-user. */
static int serve(struct uvdpa_loop *loop, const char *path, bool client, char *err, size_t errlen)
{
	struct uvdpa_dev_add_config cfg = { .attrs = UVDPA_ATTR_PORT };
	struct uvdpa_bind_args args = { .path = path, .client = client, .loop = loop };
	struct uvdpa_mgmtdev *m = uvdpa_mgmtdev_find("emu/ifcvf-net");
	struct uvdpa_device *dev;
	int ret;

	if (!m) {
		uvdpa_errf(err, errlen, "no emu/ifcvf-net mgmtdev");
		return -ENODEV;
	}
	snprintf(cfg.name, sizeof(cfg.name), "vf0");
	snprintf(cfg.port, sizeof(cfg.port), "loopback");
	ret = uvdpa_mgmtdev_dev_add(m, &cfg, err, errlen);
	if (ret < 0)
		return ret;
	dev = uvdpa_device_find("vf0");
	ret = dev ? uvdpa_device_bind(dev, "vhost-user", &args, err, errlen) : -ENODEV;
	if (ret < 0 && dev)
		uvdpa_mgmtdev_dev_del(dev, NULL, 0);
	return ret;
}

int main(int argc, char **argv)
{
	struct uvdpa_loop *loop;
	struct uvdpa_device *dev;
	char err[256] = "";
	int sfd, ret = 1;
	sigset_t set;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "client"))) {
		fprintf(stderr, "usage: serve-emulated-vf SOCKET [client]\n");
		return 2;
	}
	/* Blocked before any thread starts, so only the signalfd sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	loop = uvdpa_loop_new();
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!loop || sfd < 0 || !uvdpa_watch_add(loop, sfd, EPOLLIN, on_signal, loop)) {
		fprintf(stderr, "serve-emulated-vf: event loop: %s\n", strerror(errno));
		goto out;
	}
	if (uvdpa_bus_vhost_user_register() < 0 || uvdpa_ifcvf_init(NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "serve-emulated-vf: %s\n", err[0] ? err : "cannot register vhost-user");
		goto out;
	}
	if (serve(loop, argv[1], argc == 3, err, sizeof(err)) < 0) {
		fprintf(stderr, "serve-emulated-vf: %s\n", err);
		goto fini;
	}
	printf("serve-emulated-vf: vf0 on %s\n", argv[1]);
	fflush(stdout);
	ret = uvdpa_loop_run(loop) < 0;
	dev = uvdpa_device_find("vf0");
	if (dev)
		uvdpa_mgmtdev_dev_del(dev, NULL, 0);	/* unbinds: the socket goes */
fini:
	uvdpa_ifcvf_fini();
out:
	if (sfd >= 0)
		close(sfd);
	if (loop)
		uvdpa_loop_free(loop);
	return ret;
}
