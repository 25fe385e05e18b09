/* The ifcvf vDPA driver: probes an IFCVF (or a generic virtio-pci) function
 * reached through struct uvdpa_pci_dev and registers it as a vDPA device whose
 * datapath runs in hardware. Called from the control thread only. */
#ifndef UVDPA_IFCVF_VDPA_H
#define UVDPA_IFCVF_VDPA_H

#include <stddef.h>
#include <stdint.h>

#include "uvdpa/pci.h"
#include "uvdpa/vdpa.h"

/* Registers the "ifcvf" driver (the four IFCVF ids of docs/ifcvf.md#pci-identity, tried
 * first) and the "virtio-pci" driver (0x1AF4:0x1041/0x1042, any subsystem;
 * no live-migration BAR). Idempotent. */
int ifcvf_drivers_register(void);
void ifcvf_drivers_unregister(void);

/* The feature bits the stack implements for a device type: what the driver
 * offers is the function's bits within these (plus the vhost bits). */
uint64_t ifcvf_implemented_features(enum uvdpa_dev_type type);

#endif
