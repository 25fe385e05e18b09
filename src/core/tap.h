/* TAP interfaces: opening one (creating it when it does not exist) and the
 * few settings uvdpa makes on it. Shared by the emulated VF's tap port (the
 * wire side of a model) and the tap bus driver (the host side of a device).
 * Private to the library. */
#ifndef UVDPA_CORE_TAP_H
#define UVDPA_CORE_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UVDPA_TAP_VNET_HDR 1u	/* a struct virtio_net_hdr_v1 before every frame */
#define UVDPA_TAP_MULTI_QUEUE 2u	/* IFF_MULTI_QUEUE: each open adds a queue */

/* Opens /dev/net/tun non-blocking and attaches it to the TAP named by the
 * len bytes at name (created when missing), without packet information,
 * with UVDPA_TAP_* flags. Returns the fd, or a negative errno with err
 * saying why ("cannot attach to tap NAME: ..."). */
int uvdpa_tap_open(const char *name, size_t len, unsigned int flags, char *err, size_t errlen);

/* TUN_F_* offloads the reader takes (frames read may then carry them). */
int uvdpa_tap_set_offload(int fd, unsigned int tun_flags);
/* The interface's MAC address and carrier (TUNSETCARRIER). */
int uvdpa_tap_set_mac(int fd, const uint8_t mac[6]);
int uvdpa_tap_set_carrier(int fd, bool up);
/* The interface's MTU (SIOCSIFMTU through a socket of the caller's network
 * namespace: call it while the interface is still there). */
int uvdpa_tap_set_mtu(const char *ifname, unsigned int mtu);

#endif
