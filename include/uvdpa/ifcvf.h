/* The IFCVF stack for an embedding program: the ifcvf and virtio-pci
 * drivers, the relay pool they share, and the emulated IFCVF's management
 * devices (emu/ifcvf-net, emu/virtio-net, emu/ifcvf-blk) with their engine
 * pool. After uvdpa_ifcvf_init, `uvdpa_mgmtdev_find("emu/ifcvf-net")` and
 * uvdpa_mgmtdev_dev_add create emulated VFs, and uvdpa_pci_mgmtdev_scan
 * finds real functions bound to vfio-pci. Control thread only. */
#ifndef UVDPA_IFCVF_H
#define UVDPA_IFCVF_H

#include <stdbool.h>
#include <stddef.h>

struct uvdpa_ifcvf_options {
	unsigned int engines;	/* engine threads of the emulated functions (0: 1) */
	bool poll;		/* engines busy-poll instead of sleeping when idle */
	unsigned int relays;	/* relay threads (0: 1 with at most 2 CPUs, else 2) */
};

/* opts may be NULL (the defaults). Returns 0, or a negative errno with err
 * saying what failed; on failure nothing stays registered. */
int uvdpa_ifcvf_init(const struct uvdpa_ifcvf_options *opts, char *err, size_t errlen);
/* Deletes the emulated devices, unregisters the mgmtdevs and the drivers,
 * stops the engine and relay threads. Call uvdpa_pci_mgmtdev_fini first when
 * uvdpa_pci_mgmtdev_scan was used. */
void uvdpa_ifcvf_fini(void);

#endif
