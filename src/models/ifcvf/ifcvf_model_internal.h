/* Inside the emulated IFCVF: the engine pool (ifcvf_engine.c), the device
 * core that owns PCI config space, BAR0/BAR4 registers and the virtqueues
 * (ifcvf_model.c), and the record a device type plugs into the core
 * (ifcvf_net.c, ifcvf_blk.c).
 *
 * Locking, in the order they may be taken:
 *   models_lock (ifcvf_model.c)  the list of live models, for pdev lookups
 *   ifcvf_model.lock             driver-visible register state, queue programming
 *   engine lock                  everything an engine thread touches: its work
 *                                list and, through ifcvf_work_lock(), the
 *                                struct virtq and datapath state of each queue
 *                                its works serve
 *   type leaf locks (e.g. the net config lock), emu IOMMU/MSI-X locks
 * Engine threads hold only their engine lock (and leaf locks): state they
 * share with the control thread outside of it is atomic (status
 * NEEDS_RESET, ISR, msix vectors, config generation, logging registers). */
#ifndef UVDPA_MODELS_IFCVF_MODEL_INTERNAL_H
#define UVDPA_MODELS_IFCVF_MODEL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "models/ifcvf/ifcvf_model.h"
#include "virtio/virtq.h"

/* ---- Engine pool (ifcvf_engine.c) ---- */

struct ifcvf_engine;
struct ifcvf_work;

/* What an engine calls, always with its lock held. */
struct ifcvf_work_ops {
	/* Processes one bounded batch; returns the items handled (0: idle).
	 * polling: the engine is busy-polling, so the work should suppress the
	 * driver's notifications (kicks) while it runs. */
	unsigned int (*run)(struct ifcvf_work *w, bool polling);
	/* Before the engine sleeps: re-enable notifications. Returns true when
	 * work is already waiting (no kick will come for it). NULL: never. */
	bool (*arm)(struct ifcvf_work *w);
};

/* An fd whose readability makes a work runnable (edge-triggered). */
struct ifcvf_fd_watch {
	int fd;
	uint64_t id;			/* epoll key, unique for the process */
	int ready;			/* atomic: readable since the work last saw EAGAIN */
};

/* A unit of datapath work: a queue pair, a control queue, a wire between
 * two functions. Runs on one engine for its whole life. */
struct ifcvf_work {
	const struct ifcvf_work_ops *ops;
	void *ctx;
	struct ifcvf_engine *engine;	/* set by attach, fixed until detach */
	int pending;			/* atomic: kicked since the engine last ran it */
	struct ifcvf_fd_watch *watch;	/* engine lock */
	struct ifcvf_work *next;	/* engine lock: the engine's list */
	uint64_t round;			/* engine lock: the engine round that last ran it */
};

/* Places w on the least loaded engine (starting the pool with its defaults
 * when it is not running). The engine may run w as soon as this returns. */
int ifcvf_work_attach(struct ifcvf_work *w);
/* After return the engine never touches w again. */
void ifcvf_work_detach(struct ifcvf_work *w);
/* Excludes w's engine thread (control thread); waits for the work the
 * engine runs (the engine lets control threads in between works). */
void ifcvf_work_lock(struct ifcvf_work *w);
void ifcvf_work_unlock(struct ifcvf_work *w);
/* Makes w runnable and wakes its engine if it sleeps. Any thread, no lock. */
void ifcvf_work_kick(struct ifcvf_work *w);
/* Runs w when fd becomes readable; watch->ready tells the work to read. */
int ifcvf_work_watch_fd(struct ifcvf_work *w, struct ifcvf_fd_watch *watch, int fd);
void ifcvf_work_unwatch_fd(struct ifcvf_work *w);

/* ---- Device core (ifcvf_model.c) ---- */

struct ifcvf_model;

/* One vring. */
struct ifcvf_vq {
	struct ifcvf_model *model;
	uint16_t index;
	struct ifcvf_work *work;	/* set by the type at create: the work serving it */
	void *type_priv;		/* the type's per-vring state */

	/* Programmed by the driver: model lock. */
	uint16_t size;
	uint16_t msix_vector;		/* also read atomically by the engine */
	bool enabled;			/* queue_enable as the driver reads it */
	uint64_t desc_addr, avail_addr, used_addr;
	uint32_t ring_state;		/* BAR4 RING_STATE while not set up */

	/* Engine side: work lock (written by the control thread only while it
	 * also holds the model lock). */
	bool setup;			/* vq holds ring state (running, or stopped by a fault) */
	bool running;			/* buffers may be processed */
	uint64_t faults;		/* times this vring stopped on bad input (atomic) */
	uint64_t logged_pages;		/* pages it marked dirty (single writer: the work) */
	struct virtq vq;
};

/* A device type: everything that differs between net and blk. */
struct ifcvf_dev_type {
	const char *name;			/* "net" */
	enum uvdpa_dev_type type;
	uint16_t device_id, subsys_id;		/* modern */
	uint16_t transitional_device_id, transitional_subsys_id;
	uint32_t class_code;			/* 24-bit PCI class */
	uint32_t config_size;			/* bytes of device config space */
	uint16_t max_queue_size;
	uint64_t supported_features;
	uint64_t (*default_features)(uint16_t max_vqp);
	uint64_t offload_features;		/* what offloads=1 adds (0: none) */
	/* BAR4 RING_STATE offset of vring q. */
	unsigned int (*ring_state_off)(unsigned int q);
	/* Validates cfg against the offered features: the number of vrings, or
	 * a negative errno with a message in err. */
	int (*num_vrings)(const struct ifcvf_model_config *cfg, uint64_t features, char *err,
			  size_t errlen);
	/* Builds the type's state: sets m->type_priv, every vq's work (attached
	 * to the engine pool) and type_priv. The core frees on failure with
	 * destroy only when create succeeded. */
	int (*create)(struct ifcvf_model *m, const struct ifcvf_model_config *cfg, char *err,
		      size_t errlen);
	/* Every queue stopped; detaches the works and frees the type's state. */
	void (*destroy)(struct ifcvf_model *m);
	/* Device config space (model lock held): bytes [off, off + len) inside
	 * config_size. */
	void (*config_read)(struct ifcvf_model *m, uint32_t off, void *buf, uint32_t len);
	void (*config_write)(struct ifcvf_model *m, uint32_t off, const void *buf, uint32_t len);
	/* A vring starts (q->vq is set up) or stops (its indices are about to
	 * become the ring state: chains taken but not completed stay counted
	 * as fetched, like the hardware's). Model lock and work lock held. */
	void (*queue_start)(struct ifcvf_vq *q);
	void (*queue_stop)(struct ifcvf_vq *q);
	/* Device reset, every queue stopped (model lock held). */
	void (*reset)(struct ifcvf_model *m);
	/* Counters of vring q (see ifcvf_model_get_stats). */
	void (*get_stats)(struct ifcvf_model *m, uint16_t q, struct uvdpa_vq_stats *st);
	void (*reset_stats)(struct ifcvf_model *m, uint16_t q);
	/* Optional: puts a RARP for mac on the device's wire (any thread). */
	int (*announce)(struct ifcvf_model *m, const uint8_t mac[6]);
	/* ifcvf_model_get_info extras (model lock held). */
	void (*get_info)(struct ifcvf_model *m, struct ifcvf_model_info *info);
};

extern const struct ifcvf_dev_type ifcvf_net_type;
extern const struct ifcvf_dev_type ifcvf_blk_type;

/* The core state a type may read. */
struct ifcvf_model {
	const struct ifcvf_dev_type *type;
	void *type_priv;
	struct uvdpa_pci_dev *pdev;
	unsigned int index;		/* N of "emu:N" */
	uint64_t device_features;	/* offered; fixed at create */
	uint16_t nvrings;
	uint16_t nvec;			/* MSI-X table size: nvrings + 1 */
	struct ifcvf_vq *vqs;
	struct ifcvf_model *next;	/* models_lock */

	/* Driver-visible register state. */
	pthread_mutex_t lock;
	uint8_t cfg[256];		/* PCI config space image */
	uint8_t cfg_wmask[256];		/* its writable bits */
	uint8_t *msix_table;		/* nvec * 16 bytes in BAR0 */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;	/* stable while DRIVER_OK */
	uint16_t queue_select;
	uint8_t status;			/* as written by the driver, without NEEDS_RESET */
	uint32_t lm_mq;
	/* uvdpa's inflight extension (ifcvf_regs.h); read at queue start. */
	uint32_t inflight_ctrl, inflight_stride, inflight_qsize, inflight_nq;
	uint64_t inflight_base;

	/* Atomics shared with the engine threads. */
	uint8_t needs_reset;
	uint8_t isr;
	uint16_t msix_config;
	uint32_t config_generation;
	uint32_t log_ctrl;
	uint64_t log_base, log_end;
	bool drop_dirty_log;		/* fixed at create */
	bool plain_virtio;		/* fixed at create: no BAR4, virtio ids */
	uint64_t dirty_pages;
	uint64_t queue_faults;
};

/* Looks a model up by its function and holds models_lock until put, so the
 * model cannot be destroyed meanwhile. NULL (and nothing held) if pdev is
 * not an ifcvf model. */
struct ifcvf_model *ifcvf_model_get(struct uvdpa_pci_dev *pdev);
void ifcvf_model_put(struct ifcvf_model *m);

/* For the types (engine threads, work lock held unless said otherwise). */

/* virtq translate and prefetch callbacks; opaque is the model. */
void ifcvf_model_prefetch(void *opaque, uint64_t addr, bool write);
void *ifcvf_model_translate(void *opaque, uint64_t addr, uint64_t len, bool write,
			    uint64_t *contig);
/* The queue hit a DMA fault or a malformed ring: it stops, the device sets
 * DEVICE_NEEDS_RESET and raises the config vector. */
void ifcvf_vq_fault(struct ifcvf_vq *q);
/* After used-ring updates: interrupts the driver if virtq_should_notify(). */
void ifcvf_vq_interrupt(struct ifcvf_vq *q);
/* Dirty logging of what the device wrote into the writable part of elem
 * (bytes [off, off + len)); no-op unless BAR4 logging is enabled. The used
 * ring is not logged: the driver does it at stop (IFCVF behaviour). */
void ifcvf_vq_log_write(struct ifcvf_vq *q, const struct virtq_elem *elem, size_t off,
			size_t len);
/* Device config changed (any thread, no lock needed): bumps
 * config_generation; with interrupt, also ISR bit 1 and the config vector. */
void ifcvf_model_config_changed(struct ifcvf_model *m, bool interrupt);

static inline bool ifcvf_has_feature(uint64_t features, unsigned int bit)
{
	return features & (1ull << bit);
}

/* Single-writer counters: the writer holds the work lock; readers load
 * without locks. */
static inline void ifcvf_counter_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t ifcvf_counter_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
