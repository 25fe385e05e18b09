/* uvdpa-testdev: fake vDPA net devices (src/testing/fakedev.c) served over
 * vhost-user. Every device-op call is recorded, with the session's rings and
 * features, to a file so that integration tests can check the lifecycle;
 * with --loopback each TX queue's packets go to the RX queue of the same
 * pair, so frontends can exchange real traffic with it. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "testing/fakedev.h"
#include "uvdpa/event_loop.h"
#include "core/log.h"
#include "uvdpa/vdpa.h"
#include "uvdpa/vhost_user.h"

#define MAX_DEVS 8

static FILE *record;
static struct uvdpa_loop *loop;

static void record_line(void *opaque, const char *line)
{
	(void)opaque;
	if (!record)
		return;
	fprintf(record, "%s\n", line);
	fflush(record);
}

#define PF(name) (1ull << UVDPA_VHOST_USER_PROTOCOL_F_##name)
static const uint64_t protocol_features =
	PF(MQ) | PF(LOG_SHMFD) | PF(REPLY_ACK) | PF(BACKEND_REQ) | PF(BACKEND_SEND_FD) |
	PF(HOST_NOTIFIER) | PF(RARP) | PF(NET_MTU) | PF(INFLIGHT_SHMFD) | PF(RESET_DEVICE) |
	PF(CONFIGURE_MEM_SLOTS) | PF(STATUS);

/* ---- Program ---- */
static void on_signal(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct signalfd_siginfo si;

	(void)w;
	(void)events;
	(void)opaque;
	if (read(fd, &si, sizeof(si)) == sizeof(si))
		uvdpa_loop_stop(loop);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uvdpa-testdev --socket PATH [--socket PATH ...] [--client] [--queues N]\n"
		"                     [--loopback] [--record FILE] [--features-mask HEX] [-v]\n"
		"Serves one software vDPA net test device per socket. --record writes every\n"
		"device-op call; --loopback moves each TX queue's packets to its RX queue.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "client", no_argument, NULL, 'c' },
		{ "queues", required_argument, NULL, 'q' },
		{ "loopback", no_argument, NULL, 'l' },
		{ "record", required_argument, NULL, 'r' },
		{ "features-mask", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sockets[MAX_DEVS];
	struct fakedev *devs[MAX_DEVS] = { 0 };
	int nsock = 0, i, c, sfd, rc = 1;
	unsigned long queues = 1;
	uint64_t mask = ~0ull;
	bool client = false, loopback = false;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "s:cq:lr:m:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (nsock == MAX_DEVS) {
				fprintf(stderr, "at most %d sockets\n", MAX_DEVS);
				return 2;
			}
			sockets[nsock++] = optarg;
			break;
		case 'c':
			client = true;
			break;
		case 'q':
			queues = strtoul(optarg, NULL, 0);
			if (queues < 1 || queues > UVDPA_VHOST_MAX_VRINGS / 2) {
				fprintf(stderr, "--queues must be 1..%d\n", UVDPA_VHOST_MAX_VRINGS / 2);
				return 2;
			}
			break;
		case 'l':
			loopback = true;
			break;
		case 'r':
			record = fopen(optarg, "w");
			if (!record) {
				fprintf(stderr, "cannot write %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'm':
			mask = strtoull(optarg, NULL, 16);
			break;
		case 'v':
			uvdpa_log_set_level(UVDPA_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!nsock) {
		usage(stderr);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	loop = uvdpa_loop_new();
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!loop || sfd < 0 || !uvdpa_watch_add(loop, sfd, EPOLLIN, on_signal, NULL))
		return 1;
	uvdpa_bus_vhost_user_register();

	for (i = 0; i < nsock; i++) {
		struct uvdpa_bind_args args = { .path = sockets[i], .client = client, .loop = loop };
		uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
		uint8_t config[FAKEDEV_CONFIG_MAX];
		char name[UVDPA_NAME_MAX], err[256];
		struct fakedev_params p = {
			.name = name,
			.type = UVDPA_TYPE_NET,
			.features = ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
				     (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
				     (1ull << VIRTIO_RING_F_EVENT_IDX) |
				     (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
				     (1ull << VIRTIO_F_ANY_LAYOUT) | (1ull << UVDPA_VHOST_F_LOG_ALL) |
				     (queues > 1 ? 1ull << VIRTIO_NET_F_MQ : 0)) & mask,
			.protocol_features = protocol_features,
			.queues = (uint32_t)queues,
			.config = config,
			.config_len = fakedev_net_config(config, mac, (uint16_t)queues, 1500),
			.loop = loopback ? loop : NULL,
			.record = record_line,
			.record_detail = true,
		};

		snprintf(name, sizeof(name), "testdev%d", i);
		devs[i] = fakedev_new(&p);
		if (!devs[i] || uvdpa_device_register(fakedev_vdpa(devs[i])) < 0)
			goto out;
		if (uvdpa_device_bind(fakedev_vdpa(devs[i]), "vhost-user", &args, err,
				     sizeof(err)) < 0) {
			fprintf(stderr, "uvdpa-testdev: %s\n", err);
			goto out;
		}
	}
	if (record) {
		fprintf(record, "ready pid=%d\n", (int)getpid());
		fflush(record);
	}
	printf("uvdpa-testdev: serving %d device(s)\n", nsock);
	fflush(stdout);
	rc = uvdpa_loop_run(loop) < 0;
out:
	for (i = 0; i < nsock; i++) {
		if (!devs[i])
			continue;
		uvdpa_device_unregister(fakedev_vdpa(devs[i]));
		fakedev_free(devs[i]);
	}
	record_line(NULL, "exit");
	if (record)
		fclose(record);
	close(sfd);
	uvdpa_loop_free(loop);
	return rc;
}
