/* The daemon's own test-only management devices (mgmt_test.c); the others
 * live next to what they create (src/pci, src/models/ifcvf). */
#ifndef UVDPA_DAEMON_MGMT_H
#define UVDPA_DAEMON_MGMT_H

#include <stdbool.h>
#include <stddef.h>

/* test/null (net) and test/null-blk: devices with config space and stats
 * but no datapath, so the CLI can be tested without any model or hardware. */
int mgmt_test_register(void);
void mgmt_test_unregister(void);

#endif
