/* The emulated IFCVF's management devices, emu/ifcvf-net and emu/ifcvf-blk:
 * `dev add` on them creates an emulated function and probes it through the
 * core like a real one. Control thread only. */
#ifndef UVDPA_IFCVF_MGMTDEV_H
#define UVDPA_IFCVF_MGMTDEV_H

#include <stdbool.h>
#include <stddef.h>

/* Starts the model's engine pool (engines threads; poll: pure busy polling
 * instead of event-driven with an adaptive poll window) and registers the
 * two mgmtdevs. err says what failed. */
int ifcvf_mgmtdevs_register(unsigned int engines, bool poll, char *err, size_t errlen);
/* Deletes their devices, unregisters them, stops the engine pool. */
void ifcvf_mgmtdevs_unregister(void);

#endif
