/* Unit tests for the ifcvf driver against a fake PCI function (config space
 * bytes, BAR memory and a small common-config register model that records
 * every BAR write): capability parsing, device type, ring-state layout,
 * devargs and probe rules, the start/stop sequences register by register,
 * refusals by the device, doorbells, config reads and dirty logging. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "drivers/ifcvf/ifcvf_dev.h"
#include "drivers/ifcvf/ifcvf_hw.h"
#include "drivers/ifcvf/ifcvf_vdpa.h"
#include "drivers/ifcvf/ifcvf_regs.h"
#include "core/registry.h"
#include "uvdpa/vdpa.h"

/* Probes pdev through the core, as the mgmtdevs do. */
static int drv_probe(struct uvdpa_pci_dev *pdev, const char *devargs, const char *name,
		     struct uvdpa_device **out, char *err, size_t errlen)
{
	struct uvdpa_probe_args args = { .name = name, .devargs = devargs };
	int ret = ifcvf_drivers_register();

	return ret < 0 ? ret : uvdpa_pci_probe(pdev, &args, out, err, errlen);
}

#define assert_contains(haystack, needle)                                                  \
	do {                                                                               \
		if (!strstr((haystack), (needle)))                                         \
			fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle)); \
	} while (0)

/* ---- The fake function ---- */

#define COMMON_BAR 0
#define COMMON_OFF 0x0000
#define NOTIFY_OFF 0x1000
#define NOTIFY_MULT 4
#define ISR_OFF 0x2000
#define DEVICE_OFF 0x3000
#define BAR0_SIZE 0x4000
#define MAX_REC 1024

struct rec {
	unsigned int bar;
	uint64_t off;
	uint32_t len;
	uint64_t val;
};

struct fake_queue {
	uint16_t size_max, size, vector, enable, notify_off;
	uint64_t desc, avail, used;
};

struct fake {
	struct uvdpa_pci_dev pdev;
	uint8_t cfg[256];
	uint64_t bar_size[UVDPA_PCI_NUM_BARS];
	uint8_t *bar[UVDPA_PCI_NUM_BARS];
	/* common config */
	uint64_t dev_features, drv_features;
	uint32_t dfselect, gfselect;
	uint8_t status, generation;
	uint16_t msix_config, num_queues, qsel;
	struct fake_queue q[IFCVF_MAX_VRINGS];
	/* misbehaviour */
	bool refuse_features, refuse_vector, stuck_enable;
	unsigned int gen_flips;		/* generation changes on the next reads */
	/* recording */
	struct rec writes[MAX_REC];
	unsigned int nwrites;
	unsigned int msix_count;
	bool released;
	bool has_iova_range;		/* iova_range answers [iova_first, iova_last] */
	uint64_t iova_first, iova_last;
};

static struct fake *to_fake(struct uvdpa_pci_dev *p)
{
	return p->priv;
}

static uint64_t get_le(const void *buf, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, buf, len);
	return v;
}

static void put_le(void *buf, uint32_t len, uint64_t v)
{
	memcpy(buf, &v, len);
}

static int f_cfg_read(struct uvdpa_pci_dev *p, uint32_t off, void *buf, uint32_t len)
{
	if (off + len > 256)
		return -EINVAL;
	memcpy(buf, to_fake(p)->cfg + off, len);
	return 0;
}

static int f_cfg_write(struct uvdpa_pci_dev *p, uint32_t off, const void *buf, uint32_t len)
{
	if (off + len > 256)
		return -EINVAL;
	memcpy(to_fake(p)->cfg + off, buf, len);
	return 0;
}

static bool in_common(unsigned int bar, uint64_t off)
{
	return bar == COMMON_BAR && off - COMMON_OFF < 0x38;
}

static uint64_t common_read(struct fake *f, uint32_t reg)
{
	struct fake_queue *q = &f->q[f->qsel % IFCVF_MAX_VRINGS];

	switch (reg) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return f->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return f->dfselect == 0 ? (uint32_t)f->dev_features :
		       f->dfselect == 1 ? (uint32_t)(f->dev_features >> 32) : 0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return f->gfselect;
	case VIRTIO_PCI_COMMON_MSIX:
		return f->msix_config;
	case VIRTIO_PCI_COMMON_NUMQ:
		return f->num_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return f->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		if (f->gen_flips) {
			f->gen_flips--;
			f->generation++;
		}
		return f->generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return f->qsel;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return q->size;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return q->vector;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return q->enable;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return q->notify_off;
	default:
		return 0;
	}
}

static void common_write(struct fake *f, uint32_t reg, uint64_t v)
{
	struct fake_queue *q = &f->q[f->qsel % IFCVF_MAX_VRINGS];

	switch (reg) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		f->dfselect = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		f->gfselect = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GF:
		if (f->gfselect < 2) {
			unsigned int shift = f->gfselect * 32;

			f->drv_features &= ~(0xffffffffull << shift);
			f->drv_features |= (v & 0xffffffffull) << shift;
		}
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		f->msix_config = f->refuse_vector ? VIRTIO_MSI_NO_VECTOR : (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		if (v == 0) {
			f->status = 0;
			f->drv_features = 0;
			for (unsigned int i = 0; i < IFCVF_MAX_VRINGS; i++) {
				f->q[i].enable = 0;
				f->q[i].size = f->q[i].size_max;
				f->q[i].vector = VIRTIO_MSI_NO_VECTOR;
			}
		} else if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && f->refuse_features) {
			f->status = (uint8_t)(v & ~VIRTIO_CONFIG_S_FEATURES_OK);
		} else {
			f->status = (uint8_t)v;
		}
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		f->qsel = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		q->size = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		q->vector = f->refuse_vector ? VIRTIO_MSI_NO_VECTOR : (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		q->enable = (f->stuck_enable && v == 0) ? 1 : (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		q->desc = (q->desc & ~0xffffffffull) | v;
		break;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		q->desc = (q->desc & 0xffffffffull) | v << 32;
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		q->avail = (q->avail & ~0xffffffffull) | v;
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		q->avail = (q->avail & 0xffffffffull) | v << 32;
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		q->used = (q->used & ~0xffffffffull) | v;
		break;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		q->used = (q->used & 0xffffffffull) | v << 32;
		break;
	default:
		break;
	}
}

static int f_bar_read(struct uvdpa_pci_dev *p, unsigned int bar, uint64_t off, void *buf, uint32_t len)
{
	struct fake *f = to_fake(p);

	if (bar >= UVDPA_PCI_NUM_BARS || !f->bar[bar] || off + len > f->bar_size[bar])
		return -EINVAL;
	if (in_common(bar, off))
		put_le(buf, len, common_read(f, (uint32_t)(off - COMMON_OFF)));
	else
		memcpy(buf, f->bar[bar] + off, len);
	return 0;
}

static int f_bar_write(struct uvdpa_pci_dev *p, unsigned int bar, uint64_t off, const void *buf,
		       uint32_t len)
{
	struct fake *f = to_fake(p);
	uint64_t v = get_le(buf, len);

	if (bar >= UVDPA_PCI_NUM_BARS || !f->bar[bar] || off + len > f->bar_size[bar])
		return -EINVAL;
	if (f->nwrites < MAX_REC)
		f->writes[f->nwrites++] = (struct rec){ bar, off, len, v };
	if (in_common(bar, off))
		common_write(f, (uint32_t)(off - COMMON_OFF), v);
	else
		memcpy(f->bar[bar] + off, buf, len);
	return 0;
}

static uint64_t f_bar_size(struct uvdpa_pci_dev *p, unsigned int bar)
{
	return bar < UVDPA_PCI_NUM_BARS ? to_fake(p)->bar_size[bar] : 0;
}

static int f_msix_set(struct uvdpa_pci_dev *p, const int *efds, unsigned int nvec)
{
	return nvec <= to_fake(p)->msix_count ? 0 : -EINVAL;
}

static unsigned int f_msix_count(struct uvdpa_pci_dev *p)
{
	return to_fake(p)->msix_count;
}

static int f_dma_map(struct uvdpa_pci_dev *p, uint64_t iova, void *vaddr, uint64_t size)
{
	return 0;
}

static int f_dma_unmap(struct uvdpa_pci_dev *p, uint64_t iova, uint64_t size)
{
	return 0;
}

static int f_iova_range(struct uvdpa_pci_dev *p, uint64_t *first, uint64_t *last)
{
	struct fake *f = p->priv;

	if (!f->has_iova_range)
		return -ENOTSUP;
	*first = f->iova_first;
	*last = f->iova_last;
	return 0;
}

static void f_release(struct uvdpa_pci_dev *p)
{
	to_fake(p)->released = true;
}

static const struct uvdpa_pci_dev_ops fake_ops = {
	.cfg_read = f_cfg_read,
	.cfg_write = f_cfg_write,
	.bar_read = f_bar_read,
	.bar_write = f_bar_write,
	.bar_size = f_bar_size,
	.msix_set = f_msix_set,
	.msix_count = f_msix_count,
	.dma_map = f_dma_map,
	.dma_unmap = f_dma_unmap,
	.iova_range = f_iova_range,
	.release = f_release,
};

/* A virtio capability at pos; next links the list. */
static void put_cap(struct fake *f, uint8_t pos, uint8_t next, uint8_t type, uint8_t bar,
		    uint32_t off, uint32_t len, uint32_t mult)
{
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_next = next,
		.cap_len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16,
		.cfg_type = type,
		.bar = bar,
		.offset = off,
		.length = len,
	};

	memcpy(f->cfg + pos, &cap, sizeof(cap));
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		memcpy(f->cfg + pos + 16, &mult, 4);
}

#define CAP_COMMON 0x40
#define CAP_NOTIFY 0x50
#define CAP_ISR 0x64
#define CAP_DEVICE 0x74
#define CAP_MSIX 0x84

static struct fake *fake_new(uint16_t device, uint16_t subsys_vendor, uint16_t subsys_device,
			     bool lm_bar, uint16_t num_queues)
{
	struct fake *f = calloc(1, sizeof(*f));
	uint16_t status = PCI_STATUS_CAP_LIST;

	assert_non_null(f);
	snprintf(f->pdev.addr, sizeof(f->pdev.addr), "fake:0");
	f->pdev.id = (struct uvdpa_pci_id){ 0x1AF4, device, subsys_vendor, subsys_device };
	f->pdev.ops = &fake_ops;
	f->pdev.priv = f;
	memcpy(f->cfg + PCI_STATUS, &status, 2);
	f->cfg[PCI_CAPABILITY_LIST] = CAP_COMMON;
	put_cap(f, CAP_COMMON, CAP_NOTIFY, VIRTIO_PCI_CAP_COMMON_CFG, 0, COMMON_OFF, 0x38, 0);
	put_cap(f, CAP_NOTIFY, CAP_ISR, VIRTIO_PCI_CAP_NOTIFY_CFG, 0, NOTIFY_OFF, 0x1000,
		NOTIFY_MULT);
	put_cap(f, CAP_ISR, CAP_DEVICE, VIRTIO_PCI_CAP_ISR_CFG, 0, ISR_OFF, 4, 0);
	put_cap(f, CAP_DEVICE, CAP_MSIX, VIRTIO_PCI_CAP_DEVICE_CFG, 0, DEVICE_OFF, 0x40, 0);
	/* A non-vendor capability ends the list. */
	f->cfg[CAP_MSIX] = PCI_CAP_ID_MSIX;
	f->cfg[CAP_MSIX + 1] = 0;
	f->bar_size[0] = BAR0_SIZE;
	f->bar[0] = calloc(1, BAR0_SIZE);
	if (lm_bar) {
		f->bar_size[IFCVF_LM_BAR] = IFCVF_LM_BAR_SIZE;
		f->bar[IFCVF_LM_BAR] = calloc(1, IFCVF_LM_BAR_SIZE);
	}
	f->dev_features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) |
			  (1ull << 5) /* MAC */ | (1ull << 16) /* STATUS */;
	f->num_queues = num_queues;
	for (unsigned int i = 0; i < IFCVF_MAX_VRINGS; i++) {
		f->q[i].size_max = 256;
		f->q[i].size = 256;
		f->q[i].vector = VIRTIO_MSI_NO_VECTOR;
		f->q[i].notify_off = (uint16_t)i;
	}
	f->msix_count = 65;
	return f;
}

static struct fake *fake_ifcvf_net(void)
{
	return fake_new(IFCVF_NET_MODERN_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID, IFCVF_NET_SUBSYS_MODERN,
			true, 4);
}

static void fake_free(struct fake *f)
{
	for (unsigned int i = 0; i < UVDPA_PCI_NUM_BARS; i++)
		free(f->bar[i]);
	free(f);
}

static int registry_reset(void **state)
{
	(void)state;
	vdpa_registry_reset();
	return 0;
}

/* ---- Capabilities ---- */

static void test_caps_valid_chain(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_caps caps;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), 0);
	assert_true(caps.common.present && caps.notify.present && caps.isr.present &&
		    caps.device.present);
	assert_int_equal(caps.common.bar, 0);
	assert_int_equal(caps.common.off, COMMON_OFF);
	assert_int_equal(caps.common.len, 0x38);
	assert_int_equal(caps.notify.off, NOTIFY_OFF);
	assert_int_equal(caps.notify_off_multiplier, NOTIFY_MULT);
	assert_int_equal(caps.isr.off, ISR_OFF);
	assert_int_equal(caps.device.off, DEVICE_OFF);
	assert_int_equal(caps.device.len, 0x40);
	assert_int_equal(caps.device.cap_pos, CAP_DEVICE);
	fake_free(f);
}

static void test_caps_missing_notify(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_caps caps;
	char err[256] = "";

	(void)state;
	f->cfg[CAP_COMMON + 1] = CAP_ISR;	/* skip the NOTIFY capability */
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "no virtio NOTIFY capability");
	fake_free(f);
}

static void test_caps_bar_above_5(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_caps caps;
	char err[256] = "";

	(void)state;
	f->cfg[CAP_COMMON + 4] = 6;
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "COMMON");
	assert_contains(err, "bar 6 > 5");
	fake_free(f);
}

static void test_caps_outside_bar(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_caps caps;
	char err[256] = "";
	uint32_t len = 0x1001;	/* 0x3000 + 0x1001 > 0x4000 */

	(void)state;
	memcpy(f->cfg + CAP_DEVICE + 12, &len, 4);
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "DEVICE");
	assert_contains(err, "outside BAR0");

	/* offset + length overflowing 32 bits is outside too. */
	len = 0x40;
	memcpy(f->cfg + CAP_DEVICE + 12, &len, 4);
	{
		uint32_t off = 0xfffffff0u;

		memcpy(f->cfg + CAP_DEVICE + 8, &off, 4);
	}
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "outside BAR0");

	/* A BAR that does not exist has size 0. */
	f->cfg[CAP_ISR + 4] = 3;
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	fake_free(f);
}

static void test_caps_duplicate_uses_first_usable(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_caps caps;
	char err[256] = "";

	(void)state;
	/* A broken COMMON first, a good one at 0x90 later. */
	f->cfg[CAP_COMMON + 4] = 7;
	f->cfg[CAP_MSIX + 1] = 0x90;
	put_cap(f, 0x90, 0, VIRTIO_PCI_CAP_COMMON_CFG, 0, COMMON_OFF, 0x38, 0);
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), 0);
	assert_int_equal(caps.common.cap_pos, 0x90);
	fake_free(f);
}

static void test_caps_loop(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_caps caps;
	char err[256] = "";

	(void)state;
	f->cfg[CAP_MSIX + 1] = CAP_NOTIFY;	/* back into the list */
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "loops");

	f->cfg[CAP_MSIX + 1] = CAP_MSIX;	/* onto itself */
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "loops");

	f->cfg[CAP_MSIX + 1] = 0x10;		/* into the header */
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "inside the header");
	fake_free(f);
}

static void test_caps_no_list(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_caps caps;
	char err[256] = "";

	(void)state;
	memset(f->cfg + PCI_STATUS, 0, 2);
	assert_int_equal(ifcvf_caps_parse(&f->pdev, &caps, err, sizeof(err)), -ENODEV);
	assert_contains(err, "no PCI capability list");
	fake_free(f);
}

/* ---- Identity and layout ---- */

static void test_device_type_from_ids(void **state)
{
	static const struct {
		struct uvdpa_pci_id id;
		int type;
	} rows[] = {
		{ { 0x1AF4, 0x1041, 0x8086, 0x001A }, 1 },
		{ { 0x1AF4, 0x1000, 0x8086, 0x0001 }, 1 },
		{ { 0x1AF4, 0x1042, 0x8086, 0x0002 }, 2 },
		{ { 0x1AF4, 0x1001, 0x8086, 0x0002 }, 2 },
		{ { 0x1AF4, 0x1041, 0x1AF4, 0x1100 }, 1 },	/* QEMU virtio-net-pci */
		{ { 0x1AF4, 0x1043, 0x1AF4, 0x1100 }, 3 },	/* console: not ours */
		{ { 0x1AF4, 0x0fff, 0x8086, 0x0001 }, 0 },	/* below the virtio range */
		{ { 0x1AF4, 0x1080, 0x8086, 0x0001 }, 0 },	/* above it */
		{ { 0x8086, 0x1041, 0x8086, 0x001A }, 0 },	/* not the virtio vendor */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(uvdpa_pci_virtio_device_id(&rows[i].id), rows[i].type);
}

static void test_ring_state_layout(void **state)
{
	(void)state;
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_NET, 0), 0x20);
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_NET, 1), 0x24);
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_NET, 2), 0x60);
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_NET, 3), 0x64);
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_NET, 63), 0x20 + 31 * 0x40 + 4);
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_BLK, 0), 0x20);
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_BLK, 1), 0x60);
	assert_int_equal(ifcvf_ring_state_off(IFCVF_VIRTIO_ID_BLK, 5), 0x20 + 5 * 0x40);
	assert_int_equal(ifcvf_ring_state_encode(0x1234, 0xabcd), 0xabcd1234u);
	assert_int_equal(ifcvf_ring_state_encode(0xffff, 0), 0xffffu);
	assert_int_equal(ifcvf_ring_state_encode(0, 0xffff), 0xffff0000u);
}

/* ---- hw_init ---- */

static void test_hw_init_ifcvf(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_hw hw;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	assert_int_equal(hw.virtio_id, IFCVF_VIRTIO_ID_NET);
	assert_true(hw.has_lm);
	assert_int_equal(hw.num_queues, 4);
	assert_int_equal(hw.device_features, f->dev_features);
	assert_int_equal(hw.notify_addr[3], NOTIFY_OFF + 3 * NOTIFY_MULT);
	assert_int_equal(hw.queue_size_max[0], 256);

	/* The same function through the generic driver: BAR4 is not LM. */
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, false, err, sizeof(err)), 0);
	assert_false(hw.has_lm);
	fake_free(f);
}

static void test_hw_init_refusals(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_hw hw;
	char err[256] = "";

	(void)state;
	f->dev_features &= ~(1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), -ENODEV);
	assert_contains(err, "VERSION_1");
	f->dev_features |= 1ull << VIRTIO_F_VERSION_1;

	f->q[2].notify_off = 0x1000;	/* * 4 is far outside the notify structure */
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), -EIO);
	assert_contains(err, "doorbell");
	f->q[2].notify_off = 2;

	f->bar_size[IFCVF_LM_BAR] = 0x40;	/* too small for 4 queues' slots */
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), -ENODEV);
	assert_contains(err, "live-migration BAR4");
	f->bar_size[IFCVF_LM_BAR] = IFCVF_LM_BAR_SIZE;

	f->pdev.id.device = 0x1043;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), -ENODEV);
	assert_contains(err, "not a virtio net or blk");
	fake_free(f);
}

/* ---- Start / stop sequences ---- */

struct expect {
	unsigned int bar;
	uint64_t off;
	uint32_t len;
	uint64_t val;
};

#define C(reg, l, v) { COMMON_BAR, COMMON_OFF + (reg), l, v }
#define LM(off, v) { IFCVF_LM_BAR, off, 4, v }

static void assert_writes(const struct fake *f, unsigned int from, const struct expect *e, size_t n)
{
	if (f->nwrites - from != n) {
		for (unsigned int i = from; i < f->nwrites; i++)
			print_message("write %u: bar %u off 0x%llx len %u val 0x%llx\n", i - from,
				      f->writes[i].bar, (unsigned long long)f->writes[i].off,
				      f->writes[i].len, (unsigned long long)f->writes[i].val);
		fail_msg("%u writes, expected %zu", f->nwrites - from, n);
	}
	for (size_t i = 0; i < n; i++) {
		const struct rec *r = &f->writes[from + i];

		if (r->bar != e[i].bar || r->off != e[i].off || r->len != e[i].len ||
		    r->val != e[i].val)
			fail_msg("write %zu: got bar %u off 0x%llx len %u val 0x%llx, expected bar %u "
				 "off 0x%llx len %u val 0x%llx", i, r->bar,
				 (unsigned long long)r->off, r->len, (unsigned long long)r->val,
				 e[i].bar, (unsigned long long)e[i].off, e[i].len,
				 (unsigned long long)e[i].val);
	}
}

static void rings_init(struct ifcvf_vring *r)
{
	memset(r, 0, 4 * sizeof(*r));
	r[0] = (struct ifcvf_vring){ 0x100000, 0x101000, 0x102000, 256, 7, 5, true };
	r[1] = (struct ifcvf_vring){ 0x1200000000ull, 0x1200001000ull, 0x1200002000ull, 128, 0, 0,
				     true };
	r[2] = (struct ifcvf_vring){ 0x300000, 0x301000, 0x302000, 64, 0, 0, false };
	r[3] = (struct ifcvf_vring){ 0x400000, 0x401000, 0x402000, 64, 0xfffe, 0xfff0, true };
}

static void test_start_sequence(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_vring r[4];
	struct ifcvf_hw hw;
	char err[256] = "";
	uint64_t feat = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) | (1ull << 5);
	unsigned int from;
	const struct expect e[] = {
		C(VIRTIO_PCI_COMMON_STATUS, 1, 0),
		C(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE),
		C(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER),
		C(VIRTIO_PCI_COMMON_GFSELECT, 4, 0),
		C(VIRTIO_PCI_COMMON_GF, 4, (uint32_t)feat),
		C(VIRTIO_PCI_COMMON_GFSELECT, 4, 1),
		C(VIRTIO_PCI_COMMON_GF, 4, feat >> 32),
		C(VIRTIO_PCI_COMMON_STATUS, 1, 0xB),
		C(VIRTIO_PCI_COMMON_MSIX, 2, 0),
		/* queue 0 */
		C(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0),
		C(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x100000),
		C(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0),
		C(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, 0x101000),
		C(VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0),
		C(VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0x102000),
		C(VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0),
		C(VIRTIO_PCI_COMMON_Q_SIZE, 2, 256),
		LM(0x20, 0x00050007),
		C(VIRTIO_PCI_COMMON_Q_MSIX, 2, 1),
		C(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1),
		/* queue 1 */
		C(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1),
		C(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0),
		C(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0x12),
		C(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, 0x1000),
		C(VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0x12),
		C(VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0x2000),
		C(VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0x12),
		C(VIRTIO_PCI_COMMON_Q_SIZE, 2, 128),
		LM(0x24, 0),
		C(VIRTIO_PCI_COMMON_Q_MSIX, 2, 2),
		C(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1),
		/* queue 2 is disabled: untouched; queue 3 */
		C(VIRTIO_PCI_COMMON_Q_SELECT, 2, 3),
		C(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x400000),
		C(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0),
		C(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, 0x401000),
		C(VIRTIO_PCI_COMMON_Q_AVAILHI, 4, 0),
		C(VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0x402000),
		C(VIRTIO_PCI_COMMON_Q_USEDHI, 4, 0),
		C(VIRTIO_PCI_COMMON_Q_SIZE, 2, 64),
		LM(0x64, 0xfff0fffe),
		C(VIRTIO_PCI_COMMON_Q_MSIX, 2, 4),
		C(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1),
		LM(IFCVF_LM_MQ, 1),	/* 3 vrings enabled: 1 pair */
		C(VIRTIO_PCI_COMMON_STATUS, 1, 0xF),
	};

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	rings_init(r);
	from = f->nwrites;
	assert_int_equal(ifcvf_hw_start(&hw, feat, r, 4), 0);
	assert_writes(f, from, e, sizeof(e) / sizeof(e[0]));
	assert_int_equal(f->drv_features, feat);
	assert_int_equal(f->status, 0xF);
	assert_int_equal(f->q[1].desc, 0x1200000000ull);
	assert_int_equal(f->q[0].enable, 1);
	assert_int_equal(f->q[2].enable, 0);
	fake_free(f);
}

static void test_start_features_ok_not_sticking(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_vring r[4];
	struct ifcvf_hw hw;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	rings_init(r);
	f->refuse_features = true;
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 4), -EIO);
	assert_int_equal(f->status, 0);	/* left reset */
	assert_int_equal(f->q[0].enable, 0);
	fake_free(f);
}

static void test_start_vector_refused(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_vring r[4];
	struct ifcvf_hw hw;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	rings_init(r);
	f->refuse_vector = true;
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 4), -EIO);
	assert_int_equal(f->status, 0);
	fake_free(f);
}

static void test_start_bad_ring_size(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_vring r[4];
	struct ifcvf_hw hw;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	rings_init(r);
	r[1].size = 512;	/* above the device's 256 */
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 4), -EINVAL);
	r[1].size = 100;	/* not a power of two */
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 4), -EINVAL);
	r[1].size = 128;
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 5), -EINVAL);
	fake_free(f);
}

static void test_stop_sequence_reads_ring_state(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_vring r[4];
	struct ifcvf_hw hw;
	char err[256] = "";
	uint32_t st0 = ifcvf_ring_state_encode(100, 98), st3 = ifcvf_ring_state_encode(3, 1);
	unsigned int from;
	const struct expect e[] = {
		/* Last queue first: TX before RX. */
		C(VIRTIO_PCI_COMMON_MSIX, 2, VIRTIO_MSI_NO_VECTOR),
		C(VIRTIO_PCI_COMMON_Q_SELECT, 2, 3),
		C(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0),
		C(VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR),
		C(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1),
		C(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0),
		C(VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR),
		C(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0),
		C(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0),
		C(VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_MSI_NO_VECTOR),
		C(VIRTIO_PCI_COMMON_STATUS, 1, 0),
	};

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	rings_init(r);
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 4), 0);
	/* The device moved on while running. */
	memcpy(f->bar[IFCVF_LM_BAR] + 0x20, &st0, 4);
	memcpy(f->bar[IFCVF_LM_BAR] + 0x64, &st3, 4);
	from = f->nwrites;
	ifcvf_hw_stop(&hw, r, 4);
	assert_writes(f, from, e, sizeof(e) / sizeof(e[0]));
	/* A net queue resumes at its used index (the high half): what the
	 * device fetched beyond it is fetched again. */
	assert_int_equal(r[0].last_avail_idx, 98);
	assert_int_equal(r[0].last_used_idx, 98);
	assert_int_equal(r[1].last_avail_idx, 0);
	assert_int_equal(r[3].last_avail_idx, 1);
	assert_int_equal(r[3].last_used_idx, 1);
	assert_int_equal(r[2].last_avail_idx, 0);	/* disabled: untouched */
	assert_int_equal(f->status, 0);
	fake_free(f);
}

/* Blk drains before a stop: it resumes where it fetched (the low half),
 * net where it completed (test_stop_sequence_reads_ring_state). */
static void test_blk_ring_state_halves(void **state)
{
	struct fake *f = fake_new(IFCVF_BLK_MODERN_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID,
				  IFCVF_BLK_SUBSYS, true, 2);
	uint32_t st = ifcvf_ring_state_encode(7, 5);
	struct ifcvf_vring r[4], saved;
	struct ifcvf_hw hw;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	assert_int_equal(hw.virtio_id, IFCVF_VIRTIO_ID_BLK);
	rings_init(r);
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 2), 0);
	memcpy(f->bar[IFCVF_LM_BAR] + ifcvf_ring_state_off(IFCVF_VIRTIO_ID_BLK, 1), &st, 4);
	saved = r[1];
	assert_int_equal(ifcvf_hw_queue_disable(&hw, 1, &saved), 0);
	assert_int_equal(saved.last_avail_idx, 7);
	assert_int_equal(saved.last_used_idx, 5);
	/* The raw read gives both halves of either type. */
	ifcvf_hw_ring_state_raw(&hw, 1, &saved);
	assert_int_equal(saved.last_avail_idx, 7);
	assert_int_equal(saved.last_used_idx, 5);
	fake_free(f);
}

static void test_stop_generic_skips_queue_disable(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_vring r[4];
	struct ifcvf_hw hw;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, false, err, sizeof(err)), 0);
	rings_init(r);
	r[0].last_avail_idx = r[0].last_used_idx = 0;
	r[3].last_avail_idx = r[3].last_used_idx = 0;
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 4), 0);
	for (unsigned int i = 0; i < f->nwrites; i++)
		assert_int_not_equal(f->writes[i].bar, IFCVF_LM_BAR);
	f->nwrites = 0;
	ifcvf_hw_stop(&hw, r, 4);
	for (unsigned int i = 0; i < f->nwrites; i++)
		assert_false(f->writes[i].off == VIRTIO_PCI_COMMON_Q_ENABLE &&
			     f->writes[i].bar == COMMON_BAR);
	assert_int_equal(f->status, 0);
	fake_free(f);
}

static void test_queue_disable_enable(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_vring r[4], saved;
	struct ifcvf_hw hw;
	char err[256] = "";
	uint32_t st = ifcvf_ring_state_encode(42, 40);

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	rings_init(r);
	assert_int_equal(ifcvf_hw_start(&hw, 1ull << VIRTIO_F_VERSION_1, r, 4), 0);
	memcpy(f->bar[IFCVF_LM_BAR] + 0x24, &st, 4);
	saved = r[1];
	assert_int_equal(ifcvf_hw_queue_disable(&hw, 1, &saved), 0);
	assert_int_equal(saved.last_avail_idx, 40);	/* net: from the used half */
	assert_int_equal(saved.last_used_idx, 40);
	assert_int_equal(f->q[1].enable, 0);
	assert_int_equal(f->q[0].enable, 1);	/* the others keep running */
	assert_int_equal(f->q[3].enable, 1);
	assert_int_equal(f->status, 0xF);
	assert_int_equal(ifcvf_hw_queue_enable(&hw, 2, &r[2]), 0);
	assert_int_equal(f->q[2].enable, 1);
	assert_int_equal(f->q[2].vector, 3);
	assert_int_equal(ifcvf_hw_queue_enable(&hw, 4, &r[2]), -EINVAL);

	/* A queue that never stops still ends (bounded wait). */
	f->stuck_enable = true;
	assert_int_equal(ifcvf_hw_queue_disable(&hw, 0, &saved), 0);

	/* Generic functions can't do it. */
	hw.has_lm = false;
	assert_int_equal(ifcvf_hw_queue_disable(&hw, 1, &saved), -ENOTSUP);
	assert_int_equal(ifcvf_hw_queue_enable(&hw, 1, &saved), -ENOTSUP);
	fake_free(f);
}

static void test_notify_and_config(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_hw hw;
	char err[256] = "";
	uint8_t mac[6] = { 0x02, 0x1a, 0xf4, 0, 0, 9 }, buf[12];
	unsigned int from;
	const struct expect e[] = { { 0, NOTIFY_OFF + 3 * NOTIFY_MULT, 2, 3 } };

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	from = f->nwrites;
	ifcvf_hw_notify(&hw, 3);
	ifcvf_hw_notify(&hw, 99);	/* ignored */
	assert_writes(f, from, e, 1);

	memcpy(f->bar[0] + DEVICE_OFF, mac, 6);
	f->bar[0][DEVICE_OFF + 6] = 1;	/* status: link up */
	f->bar[0][DEVICE_OFF + 8] = 2;	/* max_virtqueue_pairs */
	f->gen_flips = 3;		/* changes under the first reads */
	assert_int_equal(ifcvf_hw_config_read(&hw, 0, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, mac, 6);
	assert_int_equal(buf[6], 1);
	assert_int_equal(buf[8], 2);
	f->gen_flips = 1000;		/* never settles */
	assert_int_equal(ifcvf_hw_config_read(&hw, 0, buf, 4), -EAGAIN);
	f->gen_flips = 0;
	assert_int_equal(ifcvf_hw_config_read(&hw, 0x3e, buf, 4), -EINVAL);
	assert_int_equal(ifcvf_hw_config_read(&hw, 0, buf, 0), -EINVAL);
	assert_int_equal(ifcvf_hw_config_read(&hw, 0x3c, buf, 4), 0);
	fake_free(f);
}

static void test_dirty_logging_registers(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct ifcvf_hw hw;
	char err[256] = "";
	unsigned int from;
	const struct expect e[] = {
		LM(IFCVF_LM_BASE_ADDR_LOW, 0x80),
		LM(IFCVF_LM_BASE_ADDR_HIGH, 0x1000),
		LM(IFCVF_LM_END_ADDR_LOW, 0x10080),
		LM(IFCVF_LM_END_ADDR_HIGH, 0x1000),
		LM(IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_ENABLE_VF),
		LM(IFCVF_LM_LOGGING_CTRL, IFCVF_LM_LOGGING_DISABLE),
	};

	(void)state;
	assert_int_equal(ifcvf_hw_init(&hw, &f->pdev, true, err, sizeof(err)), 0);
	from = f->nwrites;
	ifcvf_hw_log_start(&hw, IFCVF_LOG_IOVA + 0x80, 0x10000);
	ifcvf_hw_log_stop(&hw);
	assert_writes(f, from, e, sizeof(e) / sizeof(e[0]));
	fake_free(f);
}

/* ---- devargs and probe ---- */

static void test_probe_devargs(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct uvdpa_device *dev = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(ifcvf_drivers_register(), 0);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1,bogus=1", "n0", &dev, err,
				     sizeof(err)), -EINVAL);
	assert_contains(err, "unknown key \"bogus\"");
	assert_int_equal(drv_probe(&f->pdev, "vdpa=0", "n0", &dev, err, sizeof(err)),
			 -ENODEV);
	assert_contains(err, "plain virtio driver");
	assert_int_equal(drv_probe(&f->pdev, "", "n0", &dev, err, sizeof(err)), -ENODEV);
	assert_int_equal(drv_probe(&f->pdev, "sw-live-migration=1", "n0", &dev, err,
				     sizeof(err)), -ENODEV);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=2", "n0", &dev, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1,vdpa=1", "n0", &dev, err,
				     sizeof(err)), -EINVAL);
	assert_null(dev);
	assert_null(uvdpa_device_first());

	assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)), 0);
	assert_non_null(dev);
	assert_ptr_equal(uvdpa_device_find("n0"), dev);
	assert_int_equal(dev->type, UVDPA_TYPE_NET);
	assert_string_equal(dev->driver->name, "ifcvf");
	uvdpa_device_remove(dev);
	assert_true(f->released);
	assert_null(uvdpa_device_first());
	ifcvf_drivers_unregister();
	fake_free(f);
}

static void test_probe_lm_bar_rules(void **state)
{
	struct fake *f = fake_new(IFCVF_NET_MODERN_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID,
				  IFCVF_NET_SUBSYS_MODERN, false, 2);
	struct fake *g = fake_new(0x1041, 0x1AF4, 0x1100, true, 2);	/* QEMU-like */
	struct uvdpa_device *dev = NULL;
	struct uvdpa_migration_state ms;
	char err[256] = "";
	uint64_t feat;

	(void)state;
	/* No LM BAR: no ring state, so it migrates on shadow virtqueues, with
	 * or without sw-live-migration. */
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)), 0);
	assert_int_equal(dev->ops->get_features(dev, &feat), 0);
	assert_true(feat & (1ull << 26));
	assert_int_equal(dev->ops->get_migration(dev, &ms), 0);
	assert_int_equal(ms.mode, UVDPA_MIGRATION_SHADOW);
	uvdpa_device_remove(dev);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1,sw-live-migration=1", "n0", &dev,
				     err, sizeof(err)), 0);
	assert_int_equal(dev->ops->get_migration(dev, &ms), 0);
	assert_int_equal(ms.mode, UVDPA_MIGRATION_SHADOW);
	uvdpa_device_remove(dev);

	/* A generic virtio-pci function: its BAR4 is not an LM BAR. */
	assert_int_equal(drv_probe(&g->pdev, "vdpa=1", "g0", &dev, err, sizeof(err)), 0);
	assert_string_equal(dev->driver->name, "virtio-pci");
	assert_int_equal(dev->ops->get_migration(dev, &ms), 0);
	assert_int_equal(ms.mode, UVDPA_MIGRATION_SHADOW);
	uvdpa_device_remove(dev);
	/* shadow-vq=1 on an IFCVF with its LM BAR; a bad value is refused. */
	f->bar_size[IFCVF_LM_BAR] = IFCVF_LM_BAR_SIZE;
	f->bar[IFCVF_LM_BAR] = calloc(1, IFCVF_LM_BAR_SIZE);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)), 0);
	assert_int_equal(dev->ops->get_migration(dev, &ms), 0);
	assert_int_equal(ms.mode, UVDPA_MIGRATION_HW);
	uvdpa_device_remove(dev);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1,shadow-vq=1", "n0", &dev, err, sizeof(err)), 0);
	assert_int_equal(dev->ops->get_migration(dev, &ms), 0);
	assert_int_equal(ms.mode, UVDPA_MIGRATION_SHADOW);
	uvdpa_device_remove(dev);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1,shadow-vq=2", "n0", &dev, err, sizeof(err)),
			 -EINVAL);

	/* Ids nobody drives. */
	g->pdev.id.device = 0x1043;
	assert_int_equal(drv_probe(&g->pdev, "vdpa=1,sw-live-migration=1", "g0", &dev,
				     err, sizeof(err)), -ENODEV);
	assert_contains(err, "no driver");
	fake_free(f);
	fake_free(g);
}

/* Where the driver puts its dirty log and relayed rings in the function's
 * IOMMU: DPDK's IOVAs when the IOMMU reaches them, else the top of its
 * range (a vIOMMU with 39 bits), 4 GiB-aligned for the two log slots. */
static void test_probe_iova_areas(void **state)
{
	static const struct {
		bool has;
		uint64_t first, last, log, ring;
	} cases[] = {
		{ false, 0, 0, IFCVF_LOG_IOVA, IFCVF_MEDIATED_VRING_IOVA },
		{ true, 0, (1ull << 48) - 1, IFCVF_LOG_IOVA, IFCVF_MEDIATED_VRING_IOVA },
		{ true, 0, (1ull << 39) - 1, 0x7e00000000ull, 0x7f00000000ull },
		{ true, 0x1000, (1ull << 39) + 0x12345, 0x7e00000000ull, 0x7f00000000ull },
		/* No room at all: the defaults stay (migration will fail, said). */
		{ true, 0, (4ull << 30) - 1, IFCVF_LOG_IOVA, IFCVF_MEDIATED_VRING_IOVA },
	};
	char err[256] = "";

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake *f = fake_ifcvf_net();
		struct uvdpa_device *dev = NULL;
		const struct ifcvf_dev *d;

		f->has_iova_range = cases[i].has;
		f->iova_first = cases[i].first;
		f->iova_last = cases[i].last;
		assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)), 0);
		d = dev->priv;
		assert_int_equal(d->log_iova, cases[i].log);
		assert_int_equal(d->ring_iova, cases[i].ring);
		uvdpa_device_remove(dev);
		fake_free(f);
	}
}

static void test_probe_features_and_queues(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct fake *b = fake_new(IFCVF_BLK_MODERN_DEVICE_ID, IFCVF_SUBSYS_VENDOR_ID,
				  IFCVF_BLK_SUBSYS, true, 3);
	struct uvdpa_device *dev = NULL, *bdev = NULL;
	char err[256] = "";
	uint64_t feat, proto;
	uint32_t qn;
	uint8_t cfg[12];
	enum uvdpa_dev_type type;

	(void)state;
	f->dev_features |= 1ull << 22;		/* MQ */
	f->dev_features &= ~(1ull << 16);	/* no STATUS in the device */
	f->bar[0][DEVICE_OFF + 8] = 8;		/* max_vqp 8, but only 4 queues */
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)), 0);
	assert_int_equal(dev->ops->get_features(dev, &feat), 0);
	assert_false(feat & (1ull << VIRTIO_F_ACCESS_PLATFORM));
	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	assert_true(feat & (1ull << 21));	/* GUEST_ANNOUNCE */
	assert_true(feat & (1ull << 16));	/* STATUS */
	assert_false(feat & (1ull << 17));	/* no CTRL_VQ: the device has none */
	assert_true(feat & (1ull << 30));	/* PROTOCOL_FEATURES */
	assert_true(feat & (1ull << 26));	/* LOG_ALL */
	assert_int_equal(dev->ops->get_protocol_features(dev, &proto), 0);
	assert_int_equal(proto, (1ull << 3) | (1ull << 5) | (1ull << 10) | (1ull << 11) |
				(1ull << 1) | (1ull << 0) | (1ull << 16) | (1ull << 2) /* RARP */);
	assert_int_equal(dev->ops->get_queue_num(dev, &qn), 0);
	assert_int_equal(qn, 2);
	assert_int_equal(dev->ops->get_dev_type(dev, &type), 0);
	assert_int_equal(type, UVDPA_TYPE_NET);
	/* Config: the link reads up although the device has no STATUS. */
	f->bar[0][DEVICE_OFF] = 0x02;
	assert_int_equal(dev->ops->get_config(dev, cfg, 0, sizeof(cfg)), 0);
	assert_int_equal(cfg[0], 0x02);
	assert_int_equal(cfg[6], 1);
	assert_int_equal(cfg[8], 8);
	assert_int_equal(dev->ops->get_config(dev, cfg, 10, 4), -EINVAL);
	assert_int_equal(dev->ops->set_config(dev, cfg, 0, 6, 0), -ENOTSUP);
	/* Stats before any session: the driver's three counters, at zero. */
	{
		struct uvdpa_vq_stats st;

		assert_int_equal(dev->ops->get_vq_stats(dev, 0, &st), 0);
		assert_int_equal(st.valid, (1ull << UVDPA_VQ_STAT_RECEIVED_DESC) |
					   (1ull << UVDPA_VQ_STAT_COMPLETED_DESC) |
					   (1ull << UVDPA_VQ_STAT_KICKS));
		assert_int_equal(st.value[UVDPA_VQ_STAT_KICKS], 0);
		assert_int_equal(dev->ops->get_vq_stats(dev, 4, &st), -EINVAL);
		assert_int_equal(dev->ops->reset_vq_stats(dev, 4), -EINVAL);
		assert_string_equal(uvdpa_vq_stat_name(UVDPA_VQ_STAT_KICKS), "kicks");
		assert_null(uvdpa_vq_stat_name(UVDPA_VQ_STAT_NUM));
	}
	/* The same name twice. */
	assert_int_equal(drv_probe(&b->pdev, "vdpa=1", "n0", &bdev, err, sizeof(err)),
			 -EEXIST);
	assert_contains(err, "exists");

	assert_int_equal(drv_probe(&b->pdev, "vdpa=1", "b0", &bdev, err, sizeof(err)), 0);
	assert_int_equal(bdev->type, UVDPA_TYPE_BLK);
	assert_int_equal(bdev->ops->get_queue_num(bdev, &qn), 0);
	assert_int_equal(qn, 3);
	assert_int_equal(bdev->ops->get_protocol_features(bdev, &proto), 0);
	assert_true(proto & (1ull << 9));	/* CONFIG for blk */
	assert_int_equal(bdev->ops->get_features(bdev, &feat), 0);
	assert_false(feat & (1ull << 21));
	assert_int_equal(bdev->ops->set_config(bdev, cfg, 0x20, 1, 0), 0);
	uvdpa_device_remove(dev);
	uvdpa_device_remove(bdev);
	fake_free(f);
	fake_free(b);
}

/* A function that advertises what the stack does not implement (packed
 * rings, notification data, per-queue reset) does not get it offered. */
static void test_probe_offers_implemented_features_only(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct uvdpa_device *dev = NULL;
	char err[256] = "";
	uint64_t feat, unimplemented = (1ull << VIRTIO_F_RING_PACKED) |
				       (1ull << 38 /* NOTIFICATION_DATA */) | (1ull << 40) |
				       (1ull << VIRTIO_F_SR_IOV);

	(void)state;
	f->dev_features |= unimplemented | (1ull << 29 /* EVENT_IDX */);
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)), 0);
	assert_int_equal(dev->ops->get_features(dev, &feat), 0);
	assert_int_equal(feat & unimplemented, 0);
	assert_false(feat & (1ull << VIRTIO_F_ACCESS_PLATFORM));
	assert_true(feat & (1ull << 29 /* EVENT_IDX */));
	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	assert_int_equal(ifcvf_implemented_features(UVDPA_TYPE_NET) & unimplemented, 0);
	uvdpa_device_remove(dev);
	fake_free(f);
}

/* The core gives a function to the first driver whose table matches; a
 * function no driver matches is refused with its ids. */
static void test_core_probe_matching(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct fake *g = fake_new(0x1041, 0x1AF4, 0x1100, true, 2);
	struct fake *x = fake_new(0x1041, 0x1AF4, 0x1100, true, 2);
	struct uvdpa_device *dev = NULL, *gdev = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)), 0);
	assert_string_equal(dev->driver->name, "ifcvf");
	assert_int_equal(drv_probe(&g->pdev, "vdpa=1,sw-live-migration=1", "g0", &gdev, err,
				   sizeof(err)), 0);
	assert_string_equal(gdev->driver->name, "virtio-pci");
	x->pdev.id.vendor = 0x8086;
	x->pdev.id.device = 0x1572;
	assert_int_equal(drv_probe(&x->pdev, "vdpa=1", "x0", &dev, err, sizeof(err)), -ENODEV);
	assert_contains(err, "no driver for 8086:1572");
	uvdpa_device_remove(uvdpa_device_find("n0"));
	uvdpa_device_remove(gdev);
	assert_true(f->released);
	assert_true(g->released);
	assert_null(uvdpa_device_first());
	fake_free(f);
	fake_free(g);
	fake_free(x);
}

static void test_probe_too_few_vectors(void **state)
{
	struct fake *f = fake_ifcvf_net();
	struct uvdpa_device *dev = NULL;
	char err[256] = "";

	(void)state;
	f->msix_count = 2;
	assert_int_equal(drv_probe(&f->pdev, "vdpa=1", "n0", &dev, err, sizeof(err)),
			 -ENODEV);
	assert_contains(err, "MSI-X");
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_valid_chain),
		cmocka_unit_test(test_caps_missing_notify),
		cmocka_unit_test(test_caps_bar_above_5),
		cmocka_unit_test(test_caps_outside_bar),
		cmocka_unit_test(test_caps_duplicate_uses_first_usable),
		cmocka_unit_test(test_caps_loop),
		cmocka_unit_test(test_caps_no_list),
		cmocka_unit_test(test_device_type_from_ids),
		cmocka_unit_test(test_ring_state_layout),
		cmocka_unit_test(test_hw_init_ifcvf),
		cmocka_unit_test(test_hw_init_refusals),
		cmocka_unit_test(test_start_sequence),
		cmocka_unit_test(test_start_features_ok_not_sticking),
		cmocka_unit_test(test_start_vector_refused),
		cmocka_unit_test(test_start_bad_ring_size),
		cmocka_unit_test(test_stop_sequence_reads_ring_state),
		cmocka_unit_test(test_blk_ring_state_halves),
		cmocka_unit_test(test_stop_generic_skips_queue_disable),
		cmocka_unit_test(test_queue_disable_enable),
		cmocka_unit_test(test_notify_and_config),
		cmocka_unit_test(test_dirty_logging_registers),
		cmocka_unit_test_setup_teardown(test_probe_devargs, registry_reset, registry_reset),
		cmocka_unit_test_setup_teardown(test_probe_lm_bar_rules, registry_reset,
						registry_reset),
		cmocka_unit_test_setup_teardown(test_probe_iova_areas, registry_reset, registry_reset),
		cmocka_unit_test_setup_teardown(test_probe_features_and_queues, registry_reset,
						registry_reset),
		cmocka_unit_test_setup_teardown(test_probe_too_few_vectors, registry_reset,
						registry_reset),
		cmocka_unit_test_setup_teardown(test_probe_offers_implemented_features_only,
						registry_reset, registry_reset),
		cmocka_unit_test_setup_teardown(test_core_probe_matching, registry_reset,
						registry_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
