/* The virtio 1.0 modern PCI interface of an IFCVF function over uvdpa_pci_dev ops
 * (docs/ifcvf.md). Everything a device reports is checked before it
 * is used: capability ranges against BAR sizes, queue counts, notify offsets
 * and ring sizes. Waits for the device are bounded. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "drivers/ifcvf/ifcvf_hw.h"
#include "core/log.h"
#include "core/util.h"

#define TAG "ifcvf"

#define PCI_CFG_SPACE_SIZE_STD 256
#define CAP_WALK_MAX 48		/* 192 bytes of capability space / 4 */
#define COMMON_CFG_MIN_LEN 0x38	/* through queue_used_hi */
#define RESET_TIMEOUT_US 1000000u
#define QUEUE_STOP_TIMEOUT_US 100000u
#define CONFIG_GEN_TRIES 16

/* Polling a register until the device has done what was asked: the first
 * looks come after a few microseconds (an emulated function, or hardware
 * that is quick, answers in well under a millisecond), then the waits double
 * up to 1 ms, until timeout_us have passed. */
struct hw_poll {
	uint64_t deadline_ns;
	unsigned int wait_us;
};

static struct hw_poll poll_start(unsigned int timeout_us)
{
	return (struct hw_poll){ .deadline_ns = uvdpa_now_ns() + (uint64_t)timeout_us * 1000,
				 .wait_us = 5 };
}

/* Waits before the next look; false once the time is up. */
static bool poll_wait(struct hw_poll *p)
{
	struct timespec ts;

	if (uvdpa_now_ns() >= p->deadline_ns)
		return false;
	ts = (struct timespec){ .tv_sec = 0, .tv_nsec = (long)p->wait_us * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	if (p->wait_us < 1000)
		p->wait_us *= 2;
	return true;
}

/* ---- Register access ---- */

static uint8_t common_read8(struct ifcvf_hw *hw, uint32_t reg)
{
	return uvdpa_pci_bar_read8(hw->pdev, hw->caps.common.bar, hw->caps.common.off + reg);
}

static uint16_t common_read16(struct ifcvf_hw *hw, uint32_t reg)
{
	return uvdpa_pci_bar_read16(hw->pdev, hw->caps.common.bar, hw->caps.common.off + reg);
}

static uint32_t common_read32(struct ifcvf_hw *hw, uint32_t reg)
{
	return uvdpa_pci_bar_read32(hw->pdev, hw->caps.common.bar, hw->caps.common.off + reg);
}

static void common_write8(struct ifcvf_hw *hw, uint32_t reg, uint8_t v)
{
	uvdpa_pci_bar_write8(hw->pdev, hw->caps.common.bar, hw->caps.common.off + reg, v);
}

static void common_write16(struct ifcvf_hw *hw, uint32_t reg, uint16_t v)
{
	uvdpa_pci_bar_write16(hw->pdev, hw->caps.common.bar, hw->caps.common.off + reg, v);
}

static void common_write32(struct ifcvf_hw *hw, uint32_t reg, uint32_t v)
{
	uvdpa_pci_bar_write32(hw->pdev, hw->caps.common.bar, hw->caps.common.off + reg, v);
}

/* A 64-bit register as two 32-bit writes, low half first. */
static void common_write64(struct ifcvf_hw *hw, uint32_t reg_lo, uint64_t v)
{
	common_write32(hw, reg_lo, (uint32_t)v);
	common_write32(hw, reg_lo + 4, (uint32_t)(v >> 32));
}

static uint32_t lm_read32(struct ifcvf_hw *hw, uint32_t off)
{
	return uvdpa_pci_bar_read32(hw->pdev, IFCVF_LM_BAR, off);
}

static void lm_write32(struct ifcvf_hw *hw, uint32_t off, uint32_t v)
{
	uvdpa_pci_bar_write32(hw->pdev, IFCVF_LM_BAR, off, v);
}

/* ---- Identity and capabilities ---- */


unsigned int ifcvf_ring_state_off(int virtio_id, unsigned int q)
{
	if (virtio_id == IFCVF_VIRTIO_ID_BLK)
		return ifcvf_ring_state_off_blk(q);
	return ifcvf_ring_state_off_net(q);
}

static const char *cap_type_name(uint8_t type)
{
	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG:
		return "COMMON";
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		return "NOTIFY";
	case VIRTIO_PCI_CAP_ISR_CFG:
		return "ISR";
	case VIRTIO_PCI_CAP_DEVICE_CFG:
		return "DEVICE";
	default:
		return "?";
	}
}

/* Why the first rejected capability of each required type was rejected. */
struct cap_rejects {
	char why[VIRTIO_PCI_CAP_DEVICE_CFG + 1][96];
};

static struct ifcvf_region *cap_slot(struct ifcvf_caps *caps, uint8_t type)
{
	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG:
		return &caps->common;
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		return &caps->notify;
	case VIRTIO_PCI_CAP_ISR_CFG:
		return &caps->isr;
	case VIRTIO_PCI_CAP_DEVICE_CFG:
		return &caps->device;
	case IFCVF_PCI_CAP_INFLIGHT:
		return &caps->inflight;
	default:
		return NULL;
	}
}

/* One vendor capability at pos; keeps it when it is the first usable one of
 * its type. Returns a negative errno only when config space can't be read. */
static int cap_consider(struct uvdpa_pci_dev *pdev, uint8_t pos, struct ifcvf_caps *caps,
			struct cap_rejects *rej)
{
	struct virtio_pci_cap cap;
	struct ifcvf_region *slot;
	uint32_t off, len, mult = 0;
	uint64_t bar_size;
	char *why, optional_why[sizeof(rej->why[0])] = "";
	int ret;

	if (pos + sizeof(cap) > PCI_CFG_SPACE_SIZE_STD)
		return 0;
	ret = uvdpa_pci_cfg_read(pdev, pos, &cap, sizeof(cap));
	if (ret < 0)
		return ret;
	slot = cap_slot(caps, cap.cfg_type);
	if (!slot || slot->present)
		return 0;	/* PCI_CFG, shared memory, or a later duplicate */
	/* Reasons are kept for the required types only. */
	why = cap.cfg_type <= VIRTIO_PCI_CAP_DEVICE_CFG ? rej->why[cap.cfg_type] : optional_why;
	off = le32toh(cap.offset);
	len = le32toh(cap.length);
	if (cap.cap_len < sizeof(cap)) {
		if (!why[0])
			snprintf(why, sizeof(rej->why[0]), "at 0x%02x: cap_len %u < %zu", pos,
				 cap.cap_len, sizeof(cap));
		return 0;
	}
	if (cap.bar >= UVDPA_PCI_NUM_BARS) {
		if (!why[0])
			snprintf(why, sizeof(rej->why[0]), "at 0x%02x: bar %u > 5", pos, cap.bar);
		return 0;
	}
	bar_size = pdev->ops->bar_size(pdev, cap.bar);
	if ((uint64_t)off + len > bar_size || len == 0) {
		if (!why[0])
			snprintf(why, sizeof(rej->why[0]),
				 "at 0x%02x: [0x%x, +0x%x) is outside BAR%u (0x%" PRIx64 " bytes)",
				 pos, off, len, cap.bar, bar_size);
		return 0;
	}
	if (cap.cfg_type == VIRTIO_PCI_CAP_COMMON_CFG && len < COMMON_CFG_MIN_LEN) {
		if (!why[0])
			snprintf(why, sizeof(rej->why[0]), "at 0x%02x: length 0x%x < 0x%x", pos, len,
				 COMMON_CFG_MIN_LEN);
		return 0;
	}
	if (cap.cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		if (cap.cap_len < sizeof(struct virtio_pci_notify_cap) ||
		    pos + sizeof(struct virtio_pci_notify_cap) > PCI_CFG_SPACE_SIZE_STD) {
			if (!why[0])
				snprintf(why, sizeof(rej->why[0]),
					 "at 0x%02x: too short for notify_off_multiplier", pos);
			return 0;
		}
		ret = uvdpa_pci_cfg_read(pdev, pos + VIRTIO_PCI_NOTIFY_CAP_MULT, &mult, sizeof(mult));
		if (ret < 0)
			return ret;
		caps->notify_off_multiplier = le32toh(mult);
	}
	slot->present = true;
	slot->bar = cap.bar;
	slot->off = off;
	slot->len = len;
	slot->cap_pos = pos;
	return 0;
}

int ifcvf_caps_parse(struct uvdpa_pci_dev *pdev, struct ifcvf_caps *caps, char *err, size_t errlen)
{
	static const uint8_t required[] = { VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG,
					    VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_DEVICE_CFG };
	uint64_t visited[PCI_CFG_SPACE_SIZE_STD / 64] = { 0 };
	struct cap_rejects rej;
	uint16_t status = 0;
	uint8_t pos = 0;
	unsigned int steps;
	int ret;

	memset(caps, 0, sizeof(*caps));
	memset(&rej, 0, sizeof(rej));
	if (uvdpa_pci_cfg_read(pdev, PCI_STATUS, &status, sizeof(status)) < 0 ||
	    uvdpa_pci_cfg_read(pdev, PCI_CAPABILITY_LIST, &pos, sizeof(pos)) < 0) {
		uvdpa_errf(err, errlen, "%s: cannot read PCI config space", pdev->addr);
		return -EIO;
	}
	if (!(le16toh(status) & PCI_STATUS_CAP_LIST)) {
		uvdpa_errf(err, errlen, "%s: no PCI capability list: not a virtio 1.0 function",
			pdev->addr);
		return -ENODEV;
	}
	for (steps = 0; pos; steps++) {
		uint8_t hdr[2];

		pos &= ~3u;
		if (pos < 0x40) {
			uvdpa_errf(err, errlen, "%s: capability pointer 0x%02x is inside the header",
				pdev->addr, pos);
			return -ENODEV;
		}
		if (steps >= CAP_WALK_MAX || (visited[pos / 64] >> (pos % 64)) & 1) {
			uvdpa_errf(err, errlen, "%s: the capability list loops (at 0x%02x)",
				pdev->addr, pos);
			return -ENODEV;
		}
		visited[pos / 64] |= 1ull << (pos % 64);
		ret = uvdpa_pci_cfg_read(pdev, pos, hdr, sizeof(hdr));
		if (ret < 0) {
			uvdpa_errf(err, errlen, "%s: cannot read capability at 0x%02x", pdev->addr, pos);
			return ret;
		}
		if (hdr[0] == PCI_CAP_ID_VNDR) {
			ret = cap_consider(pdev, pos, caps, &rej);
			if (ret < 0) {
				uvdpa_errf(err, errlen, "%s: cannot read capability at 0x%02x",
					pdev->addr, pos);
				return ret;
			}
		}
		pos = hdr[1];
	}
	for (size_t i = 0; i < sizeof(required); i++) {
		uint8_t type = required[i];

		if (cap_slot(caps, type)->present)
			continue;
		if (rej.why[type][0])
			uvdpa_errf(err, errlen, "%s: virtio %s capability unusable: %s", pdev->addr,
				cap_type_name(type), rej.why[type]);
		else
			uvdpa_errf(err, errlen, "%s: no virtio %s capability", pdev->addr,
				cap_type_name(type));
		return -ENODEV;
	}
	return 0;
}

/* ---- Bring-up ---- */

uint64_t ifcvf_hw_read_features(struct ifcvf_hw *hw)
{
	uint64_t lo, hi;

	common_write32(hw, VIRTIO_PCI_COMMON_DFSELECT, 0);
	lo = common_read32(hw, VIRTIO_PCI_COMMON_DF);
	common_write32(hw, VIRTIO_PCI_COMMON_DFSELECT, 1);
	hi = common_read32(hw, VIRTIO_PCI_COMMON_DF);
	return lo | hi << 32;
}

static void write_driver_features(struct ifcvf_hw *hw, uint64_t features)
{
	common_write32(hw, VIRTIO_PCI_COMMON_GFSELECT, 0);
	common_write32(hw, VIRTIO_PCI_COMMON_GF, (uint32_t)features);
	common_write32(hw, VIRTIO_PCI_COMMON_GFSELECT, 1);
	common_write32(hw, VIRTIO_PCI_COMMON_GF, (uint32_t)(features >> 32));
}

uint8_t ifcvf_hw_get_status(struct ifcvf_hw *hw)
{
	return common_read8(hw, VIRTIO_PCI_COMMON_STATUS);
}

static void set_status(struct ifcvf_hw *hw, uint8_t status)
{
	common_write8(hw, VIRTIO_PCI_COMMON_STATUS, status);
}

static void add_status(struct ifcvf_hw *hw, uint8_t bits)
{
	set_status(hw, (uint8_t)(ifcvf_hw_get_status(hw) | bits));
}

int ifcvf_hw_reset(struct ifcvf_hw *hw)
{
	struct hw_poll p = poll_start(RESET_TIMEOUT_US);

	set_status(hw, 0);
	do {
		if (ifcvf_hw_get_status(hw) == 0)
			return 0;
	} while (poll_wait(&p));
	if (ifcvf_hw_get_status(hw) == 0)
		return 0;
	LOG_ERR(TAG, "%s: device status still 0x%02x %u ms after reset", hw->pdev->addr,
		ifcvf_hw_get_status(hw), RESET_TIMEOUT_US / 1000);
	return -ETIMEDOUT;
}

int ifcvf_hw_init(struct ifcvf_hw *hw, struct uvdpa_pci_dev *pdev, bool lm_capable, char *err,
		  size_t errlen)
{
	uint16_t nq;
	int ret;

	memset(hw, 0, sizeof(*hw));
	hw->pdev = pdev;
	hw->virtio_id = uvdpa_pci_virtio_device_id(&pdev->id);
	if (hw->virtio_id != IFCVF_VIRTIO_ID_NET && hw->virtio_id != IFCVF_VIRTIO_ID_BLK) {
		uvdpa_errf(err, errlen, "%s: %04x:%04x (subsystem %04x:%04x) is not a virtio net or "
			"blk function", pdev->addr, pdev->id.vendor, pdev->id.device,
			pdev->id.subsys_vendor, pdev->id.subsys_device);
		return -ENODEV;
	}
	ret = ifcvf_caps_parse(pdev, &hw->caps, err, errlen);
	if (ret < 0)
		return ret;
	ret = ifcvf_hw_reset(hw);
	if (ret < 0) {
		uvdpa_errf(err, errlen, "%s: the device does not complete a reset", pdev->addr);
		return ret;
	}
	hw->device_features = ifcvf_hw_read_features(hw);
	if (!(hw->device_features & (1ull << VIRTIO_F_VERSION_1))) {
		uvdpa_errf(err, errlen, "%s: the device does not offer VIRTIO_F_VERSION_1", pdev->addr);
		return -ENODEV;
	}
	nq = common_read16(hw, VIRTIO_PCI_COMMON_NUMQ);
	if (nq == 0 || nq == 0xffff) {
		uvdpa_errf(err, errlen, "%s: the device reports %u queues", pdev->addr, nq);
		return -EIO;
	}
	if (nq > IFCVF_MAX_VRINGS) {
		LOG_WARN(TAG, "%s: %u queues, using the first %u", pdev->addr, nq, IFCVF_MAX_VRINGS);
		nq = IFCVF_MAX_VRINGS;
	}
	hw->num_queues = nq;
	for (uint16_t q = 0; q < nq; q++) {
		uint64_t off;

		common_write16(hw, VIRTIO_PCI_COMMON_Q_SELECT, q);
		hw->queue_size_max[q] = common_read16(hw, VIRTIO_PCI_COMMON_Q_SIZE);
		off = (uint64_t)common_read16(hw, VIRTIO_PCI_COMMON_Q_NOFF) *
		      hw->caps.notify_off_multiplier;
		if (off + 2 > hw->caps.notify.len) {
			uvdpa_errf(err, errlen, "%s: queue %u's doorbell (0x%" PRIx64 ") is outside the "
				"notify structure (0x%x bytes)", pdev->addr, q, off,
				hw->caps.notify.len);
			return -EIO;
		}
		hw->notify_addr[q] = hw->caps.notify.off + off;
	}

	if (lm_capable && pdev->ops->bar_size(pdev, IFCVF_LM_BAR)) {
		uint64_t need = ifcvf_ring_state_off(hw->virtio_id, nq - 1u) + 4u;
		uint64_t size = pdev->ops->bar_size(pdev, IFCVF_LM_BAR);
		const struct ifcvf_region *r[] = { &hw->caps.common, &hw->caps.notify,
						   &hw->caps.isr, &hw->caps.device };

		if (need < IFCVF_LM_MQ + 4u)
			need = IFCVF_LM_MQ + 4u;
		for (size_t i = 0; i < 4; i++) {
			if (r[i]->bar == IFCVF_LM_BAR) {
				uvdpa_errf(err, errlen, "%s: BAR%u holds virtio structures, it is not "
					"an IFCVF live-migration BAR", pdev->addr, IFCVF_LM_BAR);
				return -ENODEV;
			}
		}
		if (size < need) {
			uvdpa_errf(err, errlen, "%s: live-migration BAR%u has 0x%" PRIx64 " bytes, "
				"%u queues need 0x%" PRIx64, pdev->addr, IFCVF_LM_BAR, size, nq, need);
			return -ENODEV;
		}
		hw->has_lm = true;
	}
	return 0;
}

/* ---- Queues ---- */

static int queue_program(struct ifcvf_hw *hw, unsigned int q, const struct ifcvf_vring *r)
{
	uint16_t vector = (uint16_t)(q + 1);

	if (!r->size || (r->size & (r->size - 1)) || r->size > hw->queue_size_max[q]) {
		LOG_ERR(TAG, "%s: queue %u: size %u is not a power of two <= %u", hw->pdev->addr, q,
			r->size, hw->queue_size_max[q]);
		return -EINVAL;
	}
	common_write16(hw, VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)q);
	common_write64(hw, VIRTIO_PCI_COMMON_Q_DESCLO, r->desc);
	common_write64(hw, VIRTIO_PCI_COMMON_Q_AVAILLO, r->avail);
	common_write64(hw, VIRTIO_PCI_COMMON_Q_USEDLO, r->used);
	common_write16(hw, VIRTIO_PCI_COMMON_Q_SIZE, r->size);
	if (hw->has_lm)
		lm_write32(hw, ifcvf_ring_state_off(hw->virtio_id, q),
			   ifcvf_ring_state_encode(r->last_avail_idx, r->last_used_idx));
	common_write16(hw, VIRTIO_PCI_COMMON_Q_MSIX, vector);
	if (common_read16(hw, VIRTIO_PCI_COMMON_Q_MSIX) == VIRTIO_MSI_NO_VECTOR) {
		LOG_ERR(TAG, "%s: queue %u: the device refused MSI-X vector %u", hw->pdev->addr, q,
			vector);
		return -EIO;
	}
	common_write16(hw, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	return 0;
}

/* Writes queue_enable = 0 and waits for the device to stop the queue. */
static void queue_stop(struct ifcvf_hw *hw, unsigned int q)
{
	struct hw_poll p = poll_start(QUEUE_STOP_TIMEOUT_US);

	common_write16(hw, VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)q);
	common_write16(hw, VIRTIO_PCI_COMMON_Q_ENABLE, 0);
	common_write16(hw, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
	do {
		if (common_read16(hw, VIRTIO_PCI_COMMON_Q_ENABLE) == 0)
			return;
	} while (poll_wait(&p));
	if (common_read16(hw, VIRTIO_PCI_COMMON_Q_ENABLE) == 0)
		return;
	LOG_WARN(TAG, "%s: queue %u still enabled after %u ms; its saved ring state may be stale",
		 hw->pdev->addr, q, QUEUE_STOP_TIMEOUT_US / 1000);
}

static void ring_state_read(struct ifcvf_hw *hw, unsigned int q, struct ifcvf_vring *r)
{
	uint32_t v = lm_read32(hw, ifcvf_ring_state_off(hw->virtio_id, q));

	/* The low half is what the device fetched, the high half what it
	 * completed. A net queue resumes at the used index: descriptors it
	 * fetched but did not complete (a frame half placed, buffers cached
	 * ahead) are still the driver's and are fetched again. Blk drains its
	 * requests before a stop, and resumes where it fetched. */
	r->last_used_idx = (uint16_t)(v >> 16);
	r->last_avail_idx = hw->virtio_id == IFCVF_VIRTIO_ID_NET ? r->last_used_idx : (uint16_t)v;
}

void ifcvf_hw_ring_state_raw(struct ifcvf_hw *hw, unsigned int q, struct ifcvf_vring *r)
{
	uint32_t v = hw->has_lm ? lm_read32(hw, ifcvf_ring_state_off(hw->virtio_id, q)) : 0;

	r->last_avail_idx = (uint16_t)v;
	r->last_used_idx = (uint16_t)(v >> 16);
}

void ifcvf_hw_set_mq(struct ifcvf_hw *hw, unsigned int enabled_vrings)
{
	uint32_t v = enabled_vrings;

	if (!hw->has_lm)
		return;
	if (hw->virtio_id == IFCVF_VIRTIO_ID_NET)
		v = enabled_vrings / 2 ? enabled_vrings / 2 : 1;
	lm_write32(hw, IFCVF_LM_MQ, v);
}

int ifcvf_hw_start(struct ifcvf_hw *hw, uint64_t features, const struct ifcvf_vring *rings,
		   unsigned int nrings)
{
	unsigned int q, enabled = 0;
	int ret;

	if (nrings > hw->num_queues) {
		LOG_ERR(TAG, "%s: %u vrings requested, the device has %u", hw->pdev->addr, nrings,
			hw->num_queues);
		return -EINVAL;
	}
	ret = ifcvf_hw_reset(hw);
	if (ret < 0)
		return ret;
	set_status(hw, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	add_status(hw, VIRTIO_CONFIG_S_DRIVER);
	write_driver_features(hw, features);
	add_status(hw, VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(ifcvf_hw_get_status(hw) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		LOG_ERR(TAG, "%s: the device refused features 0x%" PRIx64, hw->pdev->addr, features);
		ret = -EIO;
		goto fail;
	}
	common_write16(hw, VIRTIO_PCI_COMMON_MSIX, 0);
	if (common_read16(hw, VIRTIO_PCI_COMMON_MSIX) == VIRTIO_MSI_NO_VECTOR) {
		LOG_ERR(TAG, "%s: the device refused MSI-X vector 0 for config changes",
			hw->pdev->addr);
		ret = -EIO;
		goto fail;
	}
	for (q = 0; q < nrings; q++) {
		if (!rings[q].enabled)
			continue;
		ret = queue_program(hw, q, &rings[q]);
		if (ret < 0)
			goto fail;
		enabled++;
	}
	ifcvf_hw_set_mq(hw, enabled);
	add_status(hw, VIRTIO_CONFIG_S_DRIVER_OK);
	return 0;
fail:
	set_status(hw, VIRTIO_CONFIG_S_FAILED);
	ifcvf_hw_reset(hw);
	return ret;
}

static void inflight_w32(struct ifcvf_hw *hw, uint32_t reg, uint32_t v)
{
	uvdpa_pci_bar_write32(hw->pdev, hw->caps.inflight.bar, hw->caps.inflight.off + reg, v);
}

int ifcvf_hw_inflight_set(struct ifcvf_hw *hw, uint64_t iova, uint32_t stride, uint16_t queue_size,
			  uint16_t num_queues)
{
	if (!hw->caps.inflight.present || hw->caps.inflight.len < IFCVF_INFLIGHT_REGS_LEN)
		return -ENOTSUP;
	inflight_w32(hw, IFCVF_INFLIGHT_BASE_LOW, (uint32_t)iova);
	inflight_w32(hw, IFCVF_INFLIGHT_BASE_HIGH, (uint32_t)(iova >> 32));
	inflight_w32(hw, IFCVF_INFLIGHT_STRIDE, stride);
	inflight_w32(hw, IFCVF_INFLIGHT_QUEUE_SIZE, queue_size);
	inflight_w32(hw, IFCVF_INFLIGHT_NUM_QUEUES, num_queues);
	inflight_w32(hw, IFCVF_INFLIGHT_CTRL, 1);
	return 0;
}

void ifcvf_hw_inflight_off(struct ifcvf_hw *hw)
{
	if (hw->caps.inflight.present && hw->caps.inflight.len >= IFCVF_INFLIGHT_REGS_LEN)
		inflight_w32(hw, IFCVF_INFLIGHT_CTRL, 0);
}

void ifcvf_hw_stop(struct ifcvf_hw *hw, struct ifcvf_vring *rings, unsigned int nrings)
{
	unsigned int q;

	if (nrings > hw->num_queues)
		nrings = hw->num_queues;
	common_write16(hw, VIRTIO_PCI_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	/* Last queue first: a net pair's TX stops before its RX, so nothing is
	 * sent (and completed) toward a receiver that already stopped. */
	for (q = nrings; q-- > 0;) {
		if (!rings[q].enabled)
			continue;
		if (hw->has_lm) {
			queue_stop(hw, q);
			ring_state_read(hw, q, &rings[q]);
		} else {
			/* A plain virtio 1.0 device may not have a queue disabled
			 * (QEMU flags it as broken): the reset below stops it. */
			common_write16(hw, VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)q);
			common_write16(hw, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
		}
	}
	ifcvf_hw_reset(hw);
}

int ifcvf_hw_queue_enable(struct ifcvf_hw *hw, unsigned int q, const struct ifcvf_vring *r)
{
	if (!hw->has_lm)
		return -ENOTSUP;
	if (q >= hw->num_queues)
		return -EINVAL;
	return queue_program(hw, q, r);
}

int ifcvf_hw_queue_disable(struct ifcvf_hw *hw, unsigned int q, struct ifcvf_vring *r)
{
	if (!hw->has_lm)
		return -ENOTSUP;
	if (q >= hw->num_queues)
		return -EINVAL;
	queue_stop(hw, q);
	ring_state_read(hw, q, r);
	return 0;
}

void ifcvf_hw_notify(struct ifcvf_hw *hw, unsigned int q)
{
	if (q >= hw->num_queues)
		return;
	uvdpa_pci_bar_write16(hw->pdev, hw->caps.notify.bar, hw->notify_addr[q], (uint16_t)q);
}

/* ---- Device config ---- */

static bool config_range_ok(struct ifcvf_hw *hw, uint32_t off, uint32_t len)
{
	return len && (uint64_t)off + len <= hw->caps.device.len;
}

/* Natural-width accesses: 4 bytes where aligned, then 2, then 1. */
static void config_copy_in(struct ifcvf_hw *hw, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct uvdpa_pci_dev *p = hw->pdev;
	uint8_t bar = hw->caps.device.bar;
	uint64_t base = hw->caps.device.off;

	while (len) {
		if (len >= 4 && !(off & 3)) {
			uint32_t v = uvdpa_pci_bar_read32(p, bar, base + off);

			memcpy(buf, &v, 4);
			off += 4, buf += 4, len -= 4;
		} else if (len >= 2 && !(off & 1)) {
			uint16_t v = uvdpa_pci_bar_read16(p, bar, base + off);

			memcpy(buf, &v, 2);
			off += 2, buf += 2, len -= 2;
		} else {
			*buf = uvdpa_pci_bar_read8(p, bar, base + off);
			off += 1, buf += 1, len -= 1;
		}
	}
}

int ifcvf_hw_config_read(struct ifcvf_hw *hw, uint32_t off, void *buf, uint32_t len)
{
	if (!config_range_ok(hw, off, len))
		return -EINVAL;
	for (unsigned int i = 0; i < CONFIG_GEN_TRIES; i++) {
		uint8_t gen = common_read8(hw, VIRTIO_PCI_COMMON_CFGGENERATION);

		config_copy_in(hw, off, buf, len);
		if (common_read8(hw, VIRTIO_PCI_COMMON_CFGGENERATION) == gen)
			return 0;
	}
	LOG_WARN(TAG, "%s: device config kept changing over %u reads", hw->pdev->addr,
		 CONFIG_GEN_TRIES);
	return -EAGAIN;
}

int ifcvf_hw_config_write(struct ifcvf_hw *hw, uint32_t off, const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	uint8_t bar = hw->caps.device.bar;
	uint64_t base = hw->caps.device.off;

	if (!config_range_ok(hw, off, len))
		return -EINVAL;
	while (len) {
		if (len >= 4 && !(off & 3)) {
			uint32_t v;

			memcpy(&v, p, 4);
			uvdpa_pci_bar_write32(hw->pdev, bar, base + off, v);
			off += 4, p += 4, len -= 4;
		} else if (len >= 2 && !(off & 1)) {
			uint16_t v;

			memcpy(&v, p, 2);
			uvdpa_pci_bar_write16(hw->pdev, bar, base + off, v);
			off += 2, p += 2, len -= 2;
		} else {
			uvdpa_pci_bar_write8(hw->pdev, bar, base + off, *p);
			off += 1, p += 1, len -= 1;
		}
	}
	return 0;
}

/* ---- Hardware dirty logging ---- */

void ifcvf_hw_log_start(struct ifcvf_hw *hw, uint64_t base_iova, uint64_t size)
{
	uint64_t end = base_iova + size;

	if (!hw->has_lm)
		return;
	lm_write32(hw, IFCVF_LM_BASE_ADDR_LOW, (uint32_t)base_iova);
	lm_write32(hw, IFCVF_LM_BASE_ADDR_HIGH, (uint32_t)(base_iova >> 32));
	lm_write32(hw, IFCVF_LM_END_ADDR_LOW, (uint32_t)end);
	lm_write32(hw, IFCVF_LM_END_ADDR_HIGH, (uint32_t)(end >> 32));
	lm_write32(hw, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_ENABLE_VF);
}

void ifcvf_hw_log_move(struct ifcvf_hw *hw, uint64_t old_base, uint64_t base_iova, uint64_t size)
{
	uint64_t end = base_iova + size;

	if (!hw->has_lm)
		return;
	/* Logging stays on. The caller keeps both bitmaps mapped and places
	 * them in one 4 GiB window, so each half written leaves a valid range
	 * for every page both logs cover: towards a higher base the end
	 * moves first, towards a lower one the base. */
	if (base_iova > old_base) {
		lm_write32(hw, IFCVF_LM_END_ADDR_LOW, (uint32_t)end);
		lm_write32(hw, IFCVF_LM_BASE_ADDR_LOW, (uint32_t)base_iova);
	} else {
		lm_write32(hw, IFCVF_LM_BASE_ADDR_LOW, (uint32_t)base_iova);
		lm_write32(hw, IFCVF_LM_END_ADDR_LOW, (uint32_t)end);
	}
}

void ifcvf_hw_log_stop(struct ifcvf_hw *hw)
{
	if (!hw->has_lm)
		return;
	lm_write32(hw, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_DISABLE);
}
