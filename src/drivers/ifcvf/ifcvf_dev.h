/* The ifcvf driver's device state, shared by its files: ifcvf_vdpa.c (device
 * ops, rings, interrupts, probe) and ifcvf_lm.c (live migration). Private. */
#ifndef UVDPA_IFCVF_DEV_H
#define UVDPA_IFCVF_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/relay.h"
#include "drivers/ifcvf/ifcvf_hw.h"
#include "uvdpa/vdpa.h"
#include "virtio/virtq.h"

/* Used ring bytes: flags, idx, size entries of 8 bytes, avail_event. */
#define IFCVF_USED_RING_LEN(size) ((uint64_t)(size) * 8 + 6)

struct ifcvf_dev;
struct ifcvf_shadow;

/* A device-written ring during software-assisted migration: the device
 * writes used entries into a ring in daemon memory and interrupts irqfd;
 * the relay copies them to the guest's used ring. */
struct ifcvf_mediated {
	void *used;			/* daemon memory, DMA-mapped at iova */
	uint64_t iova, map_len;
	int irqfd;			/* the ring's MSI-X vector meanwhile */
	struct relay_watch *irq;
	uint16_t next;			/* next index to copy to the guest */
	uint16_t size;
	struct virtq gvq;		/* the guest's ring: chains read, used ring written */
	struct virtq_elem_buf *elem;
};

/* Driver-side state of one vring. */
struct ifcvf_ring {
	struct ifcvf_dev *d;
	uint16_t idx;
	bool started;			/* the device runs it */
	int callfd;			/* our dup of the frontend's, wired to vector idx + 1 */
	struct relay_watch *kick;	/* kickfd -> doorbell */
	bool notifier;			/* host notifier installed */
	const void *avail;		/* our mappings of the guest's rings */
	void *used;
	const void *desc;
	uint64_t kicks;			/* atomic: written by the relay thread */
	uint16_t avail_base, used_base;	/* stats baselines */
	struct ifcvf_mediated *med;	/* software-assisted migration: non-NULL while mediated */
	struct ifcvf_shadow *shadow;	/* shadow virtqueue (ifcvf_svq.c) */
	uint64_t relayed;		/* atomic: used entries the relay copied */
	uint64_t logged_pages;		/* atomic: pages the relay marked dirty */
};

#define IFCVF_MAX_DMA_MAPS 64	/* guest memory regions mapped into the IOMMU */
#define IFCVF_INFLIGHT_AREA_OFF (IFCVF_RING_AREA / 2)	/* inflight region: ring_iova + this */

/* The driver's own DMA areas in the function's IOMMU: the dirty log (two
 * 2 GiB slots in one 4 GiB window) and the relayed or shadow rings (1 GiB:
 * 16 MiB per vring). */
#define IFCVF_LOG_AREA (4ull << 30)
#define IFCVF_RING_AREA (1ull << 30)

struct ifcvf_dma_map {
	uint64_t iova, size;
};

/* Our own mapping of the frontend's dirty log, DMA-mapped for the function. */
struct ifcvf_log_map {
	void *map;
	uint64_t map_size;
	uint64_t iova;			/* where map is in the function's IOMMU */
	void *src;			/* the session's log this is a mapping of */
};

struct ifcvf_dev {
	struct uvdpa_device vdpa;
	struct ifcvf_hw hw;
	struct uvdpa_pci_dev *pdev;
	bool generic;			/* matched "virtio-pci", not "ifcvf" */
	enum uvdpa_migration_mode lm_mode;	/* fixed at probe */
	uint64_t features;		/* offered to the frontend */
	uint64_t log_iova, ring_iova;	/* the driver's DMA areas (ifcvf_lm_place_areas) */
	uint64_t protocol_features;
	uint32_t queue_num;		/* pairs (net) or queues (blk) */
	int config_efd;			/* MSI-X vector 0 */
	bool notify_area_warned;

	/* Between dev_conf and dev_close. */
	struct uvdpa_session *sess;
	struct relay_watch *config_watch;
	uint16_t nr_vring;		/* vrings the device knows of */
	unsigned int msix_nvec;
	uint64_t hw_features;		/* what the function runs with */
	uint64_t negotiated;		/* the session's features (kept after it ends) */
	struct ifcvf_vring hwr[IFCVF_MAX_VRINGS];	/* what the device got */
	struct ifcvf_ring rings[IFCVF_MAX_VRINGS];
	struct ifcvf_dma_map maps[IFCVF_MAX_DMA_MAPS];
	unsigned int nmaps;
	bool needs_reset_seen;		/* DEVICE_NEEDS_RESET logged since dev_conf */

	/* Live migration (ifcvf_lm.c). */
	bool logging;			/* LOG_ALL is in effect on the device */
	struct ifcvf_log_map log;	/* hardware mode */
	bool relay_avail_event;		/* software mode with an EVENT_IDX guest: the
					 * kick relay keeps avail_event (fixed while
					 * kicks are relayed) */
	bool guest_event_idx;		/* the session negotiated EVENT_IDX */
	unsigned int drain_timeouts;	/* software mode: drains given up */

	/* Shadow virtqueues (ifcvf_svq.c). */
	bool shadow_forced;		/* devargs shadow-vq=1: always */
	bool svq_running;		/* the device runs on shadow rings */
	uint16_t svq_nq;		/* ... this many */
	int svq_poll_fd;		/* timerfd: kicks that may hit a doorbell page */
	struct relay_watch *svq_poll;
};

/* The guest's memory for src/virtio, opaque = the ring: translation
 * through the session, and dirty logging that counts the ring's pages. */
void *ifcvf_guest_translate(void *opaque, uint64_t addr, uint64_t len, bool write,
			    uint64_t *contig);
void ifcvf_guest_log(void *opaque, uint64_t addr, uint64_t len);
/* Interrupts the guest of ring r (its call eventfd), from a relay. */
void ifcvf_call_guest(struct ifcvf_ring *r);
/* A struct virtq over the session's ring i, resumed at its state. */
int ifcvf_guest_vq_setup(struct ifcvf_dev *d, uint16_t i, struct virtq *vq);

/* ifcvf_vdpa.c, for ifcvf_lm.c (control thread). */
int ifcvf_msix_rewire(struct ifcvf_dev *d);
int ifcvf_kick_start(struct ifcvf_dev *d, uint16_t i);
void ifcvf_kick_stop(struct ifcvf_ring *r);
uint16_t ifcvf_ring_idx_read(const void *ring);

/* ---- ifcvf_svq.c ---- */

/* Starts the device on shadow rings (every queue it has, at index 0) and
 * attaches the session's started rings; the rings' state was handed to the
 * session, which it resumes from. */
int ifcvf_svq_start(struct ifcvf_dev *d);
/* Resets the device and hands every attached ring's state back. */
void ifcvf_svq_stop(struct ifcvf_dev *d);
int ifcvf_svq_ring_enable(struct ifcvf_dev *d, uint16_t i);
void ifcvf_svq_ring_disable(struct ifcvf_dev *d, uint16_t i);
/* The eventfd ring r's vector must signal, -1 when r has no shadow. */
int ifcvf_svq_irqfd(const struct ifcvf_ring *r);
/* Doorbell pages were mapped before the switch: poll the guest's rings. */
int ifcvf_svq_poll_kicks(struct ifcvf_dev *d);

/* ---- ifcvf_lm.c ---- */

/* Places the driver's DMA areas: DPDK's IOVAs (docs/ifcvf.md) when the
 * function's IOMMU reaches them, else the top of its range. At probe. */
void ifcvf_lm_place_areas(struct ifcvf_dev *d);
/* The mode a function gets: hardware logging where it has the LM BAR,
 * software with sw-live-migration=1 (which needs the ring-state registers
 * too), shadow virtqueues without them or with shadow-vq=1. */
enum uvdpa_migration_mode ifcvf_lm_select(const struct ifcvf_hw *hw, bool sw_lm, bool shadow);
/* The features the function runs with for negotiated ones: while the
 * relay mediates rings the device runs without EVENT_IDX, so it
 * interrupts on every completion and the relay decides for the guest. */
uint64_t ifcvf_lm_hw_features(const struct ifcvf_dev *d, uint64_t hw_features);
/* LOG_ALL turned on or off (dev_conf and set_features). */
int ifcvf_lm_set_logging(struct ifcvf_dev *d, bool on);
/* The session's log was replaced while logging. */
int ifcvf_lm_log_replaced(struct ifcvf_dev *d);
/* The device stopped (hw_stop done, ring state in hwr): the relay copies
 * what is left, logging ends and every used ring is logged. */
void ifcvf_lm_device_stopped(struct ifcvf_dev *d);
/* Ring i starts (before the device gets hwr[i]) or stopped (after its ring
 * state was read) while the device runs. */
int ifcvf_lm_ring_starting(struct ifcvf_dev *d, uint16_t i);
void ifcvf_lm_ring_started(struct ifcvf_dev *d, uint16_t i);
void ifcvf_lm_ring_stopped(struct ifcvf_dev *d, uint16_t i);
/* Kick relay hook (relay thread): keeps an EVENT_IDX guest kicking while
 * the device runs without EVENT_IDX. */
void ifcvf_lm_kicked(struct ifcvf_ring *r);

#endif
