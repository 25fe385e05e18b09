/* The emulated IFCVF: a register-accurate model of the Intel FPGA 100G VF
 * (docs/ifcvf.md) behind an emulated PCI function (src/pci/emu.h),
 * so the ifcvf driver drives it exactly as it drives hardware. uvdpa's
 * equivalent of the kernel's vdpa_sim: one engine, device types as records
 * (net, blk). Datapath work runs on a fixed pool of engine threads
 * shared by every emulated device. */
#ifndef UVDPA_MODELS_IFCVF_MODEL_H
#define UVDPA_MODELS_IFCVF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvdpa/pci.h"
#include "uvdpa/vdpa.h"

struct ifcvf_model_config {
	enum uvdpa_dev_type type;	/* UVDPA_TYPE_NET or UVDPA_TYPE_BLK */
	uint64_t device_features;	/* 0: the type's default set; else a subset of
					 * ifcvf_model_supported_features() */
	bool transitional;		/* transitional PCI ids (0x1000/0x0001 for net) */
	bool plain_virtio;		/* a plain virtio 1.0 function: virtio ids
					 * (0x1AF4:0x1041, subsystem 0x1AF4:0x1100, as
					 * QEMU's), no live-migration BAR */
	bool drop_dirty_log;		/* fault injection: the device writes no dirty
					 * bits (shows that a migration check can fail) */
	/* net */
	bool offloads;			/* also offer the checksum and TSO offloads */
	uint8_t mac[6];			/* all zero: 02:1a:f4:00:NN:NN from the function index */
	uint16_t mtu;			/* 0: 1500; else 68..65535 */
	uint16_t max_vqp;		/* 0: 1; else 1..IFCVF_MAX_QUEUE_PAIRS */
	/* "" or "loopback", "pair:NAME", "tap:IFNAME[,vnet_hdr]", "sink",
	 * "source[:FRAME_LEN]" (60..1514, default 60) */
	char port[128];
	/* blk (for the blk type) */
	char file[256];			/* absolute path: regular file or block device */
	uint64_t capacity;		/* bytes; 0: the file's size. A missing file is
					 * created sparse with it, a shorter one extended */
	uint16_t num_queues;
	bool readonly;
	bool reorder_completions;	/* fault injection: every 8th request
					 * completes 20 ms late, overtaken by later
					 * ones (shows what crash recovery must
					 * handle) */
	uint32_t reorder_delay_ms;	/* 0: 20; longer delays play a stuck disk */
	bool shared_storage;		/* the file is shared storage that a migration
					 * destination's device opens while the source's
					 * runs: a shared lock instead of an exclusive one */
};

/* Creates the model and its emulated function "emu:N"; uvdpa_pci_dev release
 * destroys both. NULL on error, with errno set (EINVAL bad configuration,
 * EOPNOTSUPP device type not implemented, EBUSY pair already has two ends,
 * EPERM/ENOENT... from the tap, ENOMEM) and a message for the user in err. Starts
 * the engine pool with its defaults if ifcvf_engine_pool_init() was not
 * called. */
struct uvdpa_pci_dev *ifcvf_model_create(const struct ifcvf_model_config *cfg, char *err, size_t errlen);

/* Features a type can offer, and what it offers when device_features is 0
 * (net default: VERSION_1, ANY_LAYOUT, MAC, STATUS, MTU, MRG_RXBUF,
 * EVENT_IDX, INDIRECT_DESC, IOMMU_PLATFORM, and MQ when max_vqp > 1; CTRL_VQ
 * with CTRL_RX, CTRL_MAC_ADDR and GUEST_ANNOUNCE only on request). 0 for a
 * type the model does not implement. */
uint64_t ifcvf_model_supported_features(enum uvdpa_dev_type type);
uint64_t ifcvf_model_default_features(enum uvdpa_dev_type type, uint16_t max_vqp);

/* ---- Run-time control (any thread; pdev must be an ifcvf model's function) ---- */

/* Link state and MAC in the net config space; a change bumps
 * config_generation and raises the config-change interrupt. -ENODEV when
 * pdev is not an ifcvf model, -EOPNOTSUPP for a non-net model. */
int ifcvf_model_set_link(struct uvdpa_pci_dev *pdev, bool up);
int ifcvf_model_set_mac(struct uvdpa_pci_dev *pdev, const uint8_t mac[6]);
/* Sets VIRTIO_NET_S_ANNOUNCE (acked by the driver through the control
 * queue) and raises the config interrupt. -EOPNOTSUPP unless GUEST_ANNOUNCE
 * was negotiated. */
int ifcvf_model_announce(struct uvdpa_pci_dev *pdev);
/* Grows a blk device to bytes (a multiple of 512): the regular backing file
 * is extended (sparse), the capacity in the config space changes and the
 * config interrupt tells the driver. Shrinking is refused (-EINVAL), as is
 * a non-blk model (-EOPNOTSUPP); err gets a message for the user. */
int ifcvf_model_set_capacity(struct uvdpa_pci_dev *pdev, uint64_t bytes, char *err, size_t errlen);

/* Per-vring counters, typed: an RX vring (even index) keeps packets, bytes,
 * errors, overruns and drops; a TX vring packets, bytes, errors and drops;
 * the control vring requests, successes and errors; every vring its DMA
 * faults. -EINVAL for qidx >= num_queues, -ENODEV. */
int ifcvf_model_get_stats(struct uvdpa_pci_dev *pdev, uint16_t qidx, struct uvdpa_vq_stats *st);
int ifcvf_model_reset_stats(struct uvdpa_pci_dev *pdev, uint16_t qidx);

struct ifcvf_model_info {
	enum uvdpa_dev_type type;
	uint16_t num_vrings;
	uint64_t device_features;	/* offered */
	uint64_t driver_features;	/* as written by the driver */
	uint8_t status;			/* device_status as the driver reads it */
	uint64_t queue_faults;		/* queues stopped by a DMA fault or a malformed ring */
	uint64_t dma_faults;		/* translations that hit no IOMMU mapping */
	uint64_t dirty_pages;		/* pages marked in the dirty log (bits set,
					 * counting a page once per write) */
	bool link_up;			/* net */
	char port[128];
};
int ifcvf_model_get_info(struct uvdpa_pci_dev *pdev, struct ifcvf_model_info *info);

/* ---- Engine pool: the threads that run every emulated datapath ---- */

/* Starts nthreads engine threads (0: 1). Event-driven with an adaptive
 * busy-poll window after work (ifcvf_engine_pool_set_poll_window), or pure
 * polling when poll_mode is set (benchmarks). -EALREADY when running. */
int ifcvf_engine_pool_init(unsigned int nthreads, bool poll_mode);
/* Stops the threads. Every model must have been destroyed (else it logs and
 * does nothing). */
void ifcvf_engine_pool_fini(void);
/* Microseconds an engine keeps polling after its last work before sleeping
 * on eventfds (default 50; 0: never poll, notifications always on). */
void ifcvf_engine_pool_set_poll_window(unsigned int usec);
unsigned int ifcvf_engine_pool_threads(void);	/* 0 when not running */

#endif
