/* The core's registries, private part: what only tests need. */
#ifndef UVDPA_CORE_REGISTRY_H
#define UVDPA_CORE_REGISTRY_H

/* Drops every registration (frees nothing): each unit test starts from an
 * empty core. The registries are control-thread state of one process; an
 * embedder never needs to forget them. */
void vdpa_registry_reset(void);

#endif
