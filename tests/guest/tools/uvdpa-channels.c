/* uvdpa-channels IFNAME [COMBINED]
 *
 * Guest helper (busybox has no ethtool): prints the combined channel count
 * of a network interface as "current max" and, with COMBINED, sets it first
 * (ETHTOOL_SCHANNELS). virtio_net activates min(queue pairs, vCPUs) pairs at
 * probe; this turns the others on, as `ethtool -L IFNAME combined N` would.
 * Exit 0 on success, 1 on an ioctl error, 2 on a usage error. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>

static int channels_ioctl(int fd, const char *ifname, struct ethtool_channels *ch)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)ch;
	return ioctl(fd, SIOCETHTOOL, &ifr);
}

int main(int argc, char **argv)
{
	struct ethtool_channels ch;
	unsigned long want = 0;
	char *end;
	int fd;

	if (argc < 2 || argc > 3 || strlen(argv[1]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: uvdpa-channels IFNAME [COMBINED]\n");
		return 2;
	}
	if (argc == 3) {
		errno = 0;
		want = strtoul(argv[2], &end, 10);
		if (errno || *end || want == 0 || want > 1024) {
			fprintf(stderr, "uvdpa-channels: bad channel count '%s'\n", argv[2]);
			return 2;
		}
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("uvdpa-channels: socket");
		return 1;
	}
	memset(&ch, 0, sizeof(ch));
	ch.cmd = ETHTOOL_GCHANNELS;
	if (channels_ioctl(fd, argv[1], &ch) < 0) {
		fprintf(stderr, "uvdpa-channels: %s: ETHTOOL_GCHANNELS: %s\n", argv[1], strerror(errno));
		close(fd);
		return 1;
	}
	if (want) {
		ch.cmd = ETHTOOL_SCHANNELS;
		ch.combined_count = (unsigned int)want;
		if (channels_ioctl(fd, argv[1], &ch) < 0) {
			fprintf(stderr, "uvdpa-channels: %s: ETHTOOL_SCHANNELS combined %lu: %s\n",
				argv[1], want, strerror(errno));
			close(fd);
			return 1;
		}
		memset(&ch, 0, sizeof(ch));
		ch.cmd = ETHTOOL_GCHANNELS;
		if (channels_ioctl(fd, argv[1], &ch) < 0) {
			fprintf(stderr, "uvdpa-channels: %s: ETHTOOL_GCHANNELS: %s\n", argv[1],
				strerror(errno));
			close(fd);
			return 1;
		}
	}
	printf("%u %u\n", ch.combined_count, ch.max_combined);
	close(fd);
	return 0;
}
