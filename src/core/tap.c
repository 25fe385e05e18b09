/* TAP interfaces (see tap.h). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "core/tap.h"
#include "uvdpa/log.h"

#define TAP_VNET_HDR_LEN 12	/* struct virtio_net_hdr_v1 */

int uvdpa_tap_open(const char *name, size_t len, unsigned int flags, char *err, size_t errlen)
{
	bool vnet_hdr = flags & UVDPA_TAP_VNET_HDR;
	struct ifreq ifr;
	int fd, rc;

	if (len == 0 || len >= IFNAMSIZ) {
		uvdpa_errf(err, errlen, "tap interface name of %zu bytes: use 1..%d", len,
			   IFNAMSIZ - 1);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		uvdpa_errf(err, errlen, "/dev/net/tun: %s", strerror(errno));
		return rc;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, len);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0) |
			((flags & UVDPA_TAP_MULTI_QUEUE) ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		uvdpa_errf(err, errlen, "cannot attach to tap %.*s: %s%s", (int)len, name,
			   strerror(errno), errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
		close(fd);
		return rc;
	}
	if (vnet_hdr) {
		int sz = TAP_VNET_HDR_LEN;

		if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
			rc = -errno;
			uvdpa_errf(err, errlen, "tap %.*s: TUNSETVNETHDRSZ: %s", (int)len, name,
				   strerror(errno));
			close(fd);
			return rc;
		}
	}
	return fd;
}

int uvdpa_tap_set_offload(int fd, unsigned int tun_flags)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)tun_flags) < 0 ? -errno : 0;
}

int uvdpa_tap_set_mac(int fd, const uint8_t mac[6])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	return ioctl(fd, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
}

int uvdpa_tap_set_carrier(int fd, bool up)
{
	int on = up;

	return ioctl(fd, TUNSETCARRIER, &on) < 0 ? -errno : 0;
}

int uvdpa_tap_set_mtu(const char *ifname, unsigned int mtu)
{
	struct ifreq ifr;
	int s, rc = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		rc = -errno;
	close(s);
	return rc;
}
