/* The ifcvf vDPA driver: probes an IFCVF (or a generic virtio-pci) function
 * reached through struct pci_dev and registers it as a vDPA device whose
 * datapath runs in hardware. Called from the control thread only. */
#ifndef UVDPA_IFCVF_VDPA_H
#define UVDPA_IFCVF_VDPA_H

#include <stddef.h>
#include <stdint.h>

#include "uvdpa/pci.h"
#include "uvdpa/vdpa.h"

/* Registers the "ifcvf" driver (the four IFCVF ids of REFERENCE.md, tried
 * first) and the "virtio-pci" driver (0x1AF4:0x1041/0x1042, any subsystem;
 * no live-migration BAR). Idempotent. */
int ifcvf_drivers_register(void);
void ifcvf_drivers_unregister(void);

/* Probes pdev and registers a vDPA device called name (type net or blk).
 * devargs: "vdpa=1[,sw-live-migration=1]", nothing else. On success the
 * device owns pdev (ifcvf_remove releases it) and *out is set; on failure the
 * caller keeps pdev and err says what to change:
 *   -ENODEV  vdpa absent or 0 (left to a plain virtio driver), ids no driver
 *            matches, or a function that is not usable virtio 1.0;
 *   -EINVAL  bad devargs, or no live-migration BAR without sw-live-migration;
 *   -EEXIST  name taken; other negative errnos from the device. */
int ifcvf_probe(struct pci_dev *pdev, const char *devargs, const char *name,
		struct vdpa_mgmtdev *mgmt, struct vdpa_device **out, char *err, size_t errlen);
/* Unregisters (which unbinds and closes), releases the PCI function, frees. */
void ifcvf_remove(struct vdpa_device *dev);
/* The function a device was probed on. */
struct pci_dev *ifcvf_pci_dev(struct vdpa_device *dev);

/* Extra per-vring statistics from whoever knows more than the driver (the
 * emulated model: packets, bytes, errors). They follow the driver's own
 * counters in get_stats_names/get_stats. names/get return how many they
 * filled (at most n), or the total when names is NULL. */
struct ifcvf_stats_ops {
	int (*names)(void *opaque, struct vdpa_stat_name *names, unsigned int n);
	int (*get)(void *opaque, uint16_t vring, uint64_t *values, unsigned int n);
	int (*reset)(void *opaque, uint16_t vring);
};
void ifcvf_set_stats_provider(struct vdpa_device *dev, const struct ifcvf_stats_ops *ops,
			      void *opaque);

/* The driver's own per-vring counters, in get_stats order. */
enum ifcvf_stat {
	IFCVF_STAT_RECEIVED_DESC,	/* avail index advance since start or reset */
	IFCVF_STAT_COMPLETED_DESC,	/* used index advance since start or reset */
	IFCVF_STAT_KICKS,		/* kicks relayed to the doorbell */
	IFCVF_STAT_NUM,
};

#endif
