/* The emulated IFCVF tests' harness (ifcvf_model_harness.c): the test plays
 * the ifcvf driver, reaching the function only through struct uvdpa_pci_dev
 * ops, with split rings in malloc'd guest memory behind the function's
 * IOMMU. Shared by test_ifcvf_model*.c. */
#ifndef UVDPA_TEST_IFCVF_MODEL_HARNESS_H
#define UVDPA_TEST_IFCVF_MODEL_HARNESS_H

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "models/ifcvf/ifcvf_model.h"
#include "models/ifcvf/ifcvf_model_internal.h"
#include "pci/emu.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "uvdpa/pci.h"

#define BIT(n) (1ull << (n))


#define GUEST_IOVA 0x40000000ull
#define GUEST_SIZE 0x400000ull			/* 4 MiB */
#define RING_AREA(q) (GUEST_IOVA + (uint64_t)(q) * 0x10000)
#define BUF_AREA (GUEST_IOVA + 0x200000)
#define BUF_IOVA(i) (BUF_AREA + (uint64_t)(i) * 0x1000)
#define QSIZE 256
#define MAX_TEST_VQ 8
#define TIMEOUT_MS 2000
#define BASE_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | \
		       BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_RING_F_EVENT_IDX))

struct cap {
	bool found;
	uint8_t bar;
	uint32_t off, len;
};

struct drv_vq {
	uint16_t size;
	uint64_t desc_iova, avail_iova, used_iova;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx, last_used;
	uint16_t next_desc;		/* drv_add_chain's descriptor cursor */
};

struct drv {
	struct uvdpa_pci_dev *pdev;
	struct cap common, notify, isr, device;
	uint32_t notify_mult;
	unsigned int msix_cap;
	uint16_t nvrings;
	unsigned int nvec;
	int efd[IFCVF_MAX_VRINGS + 2];
	uint8_t *mem;
	uint64_t features;
	struct drv_vq vq[MAX_TEST_VQ];
};



void *gpa(struct drv *d, uint64_t iova);
uint8_t cfg8(struct drv *d, uint32_t off);
uint16_t cfg16(struct drv *d, uint32_t off);
uint32_t cfg32(struct drv *d, uint32_t off);
uint8_t common_r8(struct drv *d, uint32_t off);
uint16_t common_r16(struct drv *d, uint32_t off);
uint32_t common_r32(struct drv *d, uint32_t off);
void common_w8(struct drv *d, uint32_t off, uint8_t v);
void common_w16(struct drv *d, uint32_t off, uint16_t v);
void common_w32(struct drv *d, uint32_t off, uint32_t v);
uint32_t lm_r32(struct drv *d, uint32_t off);
void lm_w32(struct drv *d, uint32_t off, uint32_t v);
uint64_t device_features(struct drv *d);
void write_features(struct drv *d, uint64_t f);
uint8_t status(struct drv *d);
void walk_caps(struct drv *d);
struct drv *drv_attach(struct uvdpa_pci_dev *pdev);
struct drv *drv_open(const struct ifcvf_model_config *cfg);
void drv_close(struct drv *d);
struct ifcvf_model_config net_cfg(const char *port);
bool drv_negotiate(struct drv *d, uint64_t features);
void drv_queue_setup(struct drv *d, uint16_t q, uint32_t ring_state);
void drv_driver_ok(struct drv *d);
void drv_start(struct drv *d, uint64_t features, unsigned int nvrings);
void drv_kick(struct drv *d, uint16_t q);
void drv_add_buf(struct drv *d, uint16_t q, uint64_t iova, uint32_t len, bool writable);
/* A chain of n descriptors (iova, len, writable each) from a cursor that
 * wraps around the table; returns its head. */
uint16_t drv_add_chain(struct drv *d, uint16_t q, unsigned int n, const uint64_t *iova,
		       const uint32_t *len, const bool *writable);
bool drv_get_used(struct drv *d, uint16_t q, uint32_t *id, uint32_t *len);
bool wait_vector(struct drv *d, unsigned int v, int timeout_ms);
void drain_vector(struct drv *d, unsigned int v);
uint64_t stat_of(struct drv *d, uint16_t q, enum uvdpa_vq_stat k);
void make_tx(struct drv *d, uint64_t iova, size_t hdr_len, size_t frame_len, uint8_t seed);
bool check_frame(const uint8_t *p, size_t frame_len, uint8_t seed);
int thread_count(void);

int group_setup(void **state);
int group_teardown(void **state);

#endif
