/* What a PCI function's ids say about it: the one rule that turns virtio
 * PCI ids into a virtio device type, used by the PCI mgmtdev scan and the
 * drivers alike. */
#include "uvdpa/pci.h"

#define VIRTIO_PCI_VENDOR 0x1af4

int uvdpa_pci_virtio_device_id(const struct uvdpa_pci_id *id)
{
	/* Virtio 1.0, 4.1.2: 0x1000..0x103f are transitional (the subsystem
	 * device is the type), 0x1040..0x107f modern (0x1040 + type). */
	if (id->vendor != VIRTIO_PCI_VENDOR || id->device < 0x1000 || id->device > 0x107f)
		return 0;
	if (id->device < 0x1040)
		return id->subsys_device;
	return id->device - 0x1040;
}
