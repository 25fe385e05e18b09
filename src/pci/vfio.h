/* VFIO access layer internals exposed for unit tests: the sysfs and /dev
 * roots are parameters, so error paths can be exercised on a fake tree. */
#ifndef UVDPA_PCI_VFIO_H
#define UVDPA_PCI_VFIO_H

#include <stddef.h>

#include "uvdpa/pci.h"

struct pci_vfio_paths {
	const char *sysfs;	/* "/sys" */
	const char *dev_vfio;	/* "/dev/vfio" */
};

/* uvdpa_pci_vfio_open() with other roots. */
struct uvdpa_pci_dev *pci_vfio_open_at(const struct pci_vfio_paths *paths, const char *addr, char *err,
				 size_t errlen);

/* "DDDD:BB:DD.F" (or "BB:DD.F", domain 0) into its canonical lower-case
 * form. -EINVAL for anything else. */
int pci_vfio_addr_normalize(const char *in, char *out, size_t outlen);

/* "0000:00:02.0 (vfio-pci), 0000:00:02.1 (no driver)": the members of IOMMU
 * group and their drivers, for the "group not viable" message. */
void pci_vfio_group_describe(const struct pci_vfio_paths *paths, int group, char *buf,
			     size_t buflen);

#endif
