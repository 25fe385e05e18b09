/* The management devices uvdpad offers: emulated IFCVF functions
 * (mgmt_emu.c), VFIO-bound PCI functions a driver matches (mgmt_pci.c) and
 * the test-only null devices (mgmt_test.c). All run on the control thread. */
#ifndef UVDPA_DAEMON_MGMT_H
#define UVDPA_DAEMON_MGMT_H

#include <stdbool.h>
#include <stddef.h>

/* Starts the emulated devices' engine pool (engines threads; poll: pure busy
 * polling instead of event-driven with an adaptive poll window). */
int mgmt_emu_init(unsigned int engines, bool poll, char *err, size_t errlen);
/* Registers emu/ifcvf-net and emu/ifcvf-blk. */
int mgmt_emu_register(char *err, size_t errlen);
/* Deletes their devices, unregisters them, stops the engine pool. */
void mgmt_emu_fini(void);

/* Starts the drivers' relay pool (relays threads) and registers the PCI
 * drivers so that mgmt_pci_scan() can match functions. */
int mgmt_pci_init(unsigned int relays, char *err, size_t errlen);
/* Registers a pci/DDDD:BB:DD.F mgmtdev for each function bound to vfio-pci
 * (under sysfs_root, normally "/sys") that a registered driver matches.
 * Returns how many, or a negative errno. */
int mgmt_pci_scan(const char *sysfs_root, char *err, size_t errlen);
void mgmt_pci_fini(void);

/* test/null (net) and test/null-blk: devices with config space and stats
 * but no datapath, so the CLI can be tested without any model or hardware. */
int mgmt_test_register(void);
void mgmt_test_unregister(void);

#endif
