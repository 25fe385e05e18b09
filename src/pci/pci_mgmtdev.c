/* pci/DDDD:BB:DD.F management devices, the PCI layer's: one per PCI
 * function bound to vfio-pci that a registered vDPA driver matches (found in
 * sysfs by a scan). `dev add` opens the function through VFIO and hands it
 * to the core, which probes it with the matching driver; `dev del` removes
 * the device through its driver. One vDPA device per function. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pci/vfio.h"
#include "core/log.h"
#include "uvdpa/pci.h"
#include "uvdpa/vdpa.h"

#define TAG "mgmt-pci"
#define PCI_MGMT_MAX_VQS 64	/* what a matched function may have: 32 queue pairs */
#define PCI_ADDR_LEN 12		/* "0000:06:00.3" */

struct pci_mgmtdev {
	struct uvdpa_mgmtdev m;
	char addr[PCI_ADDR_LEN + 1];
	struct uvdpa_pci_id id;
	const struct uvdpa_driver *drv;
	struct uvdpa_device *dev;	/* the one device on this function, or NULL */
	struct pci_mgmtdev *next;
};

static struct pci_mgmtdev *pci_mgmtdevs;

static int pci_dev_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
		       size_t errlen)
{
	struct pci_mgmtdev *pm = (struct pci_mgmtdev *)m;
	const char *devargs = "vdpa=1";	/* asking for a vDPA device means vdpa=1 */
	struct uvdpa_device *dev = NULL;
	struct uvdpa_pci_dev *pdev;
	int ret;

	if (pm->dev) {
		uvdpa_errf(err, errlen, "%s already has device %s: delete it first (uvdpa dev del %s)",
			 m->name, pm->dev->name, pm->dev->name);
		return -EBUSY;
	}
	if (cfg->attrs & UVDPA_ATTR_DEVARGS)
		devargs = cfg->devargs;
	errno = 0;
	pdev = uvdpa_pci_vfio_open(pm->addr, err, errlen);
	if (!pdev)
		return errno ? -errno : -EIO;
	ret = uvdpa_pci_probe(pdev, &(struct uvdpa_probe_args){ .name = cfg->name, .devargs = devargs,
						       .mgmtdev = &pm->m }, &dev, err, errlen);
	if (ret < 0) {
		uvdpa_pci_dev_release(pdev);
		return ret;
	}
	if (!dev->vendor_id)
		dev->vendor_id = pdev->id.vendor;
	pm->dev = dev;
	return 0;
}

static int pci_dev_del(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev)
{
	struct pci_mgmtdev *pm = (struct pci_mgmtdev *)m;

	uvdpa_device_remove(dev);
	if (pm->dev == dev)
		pm->dev = NULL;
	return 0;
}

static const struct uvdpa_mgmtdev_ops pci_ops = {
	.dev_add = pci_dev_add,
	.dev_del = pci_dev_del,
};

/* ---- sysfs scan ---- */

/* A function's sysfs name: the canonical "DDDD:BB:DD.F" form of the one PCI
 * address grammar (vfio.c). */
static bool pci_addr_valid(const char *s)
{
	char canon[PCI_ADDR_LEN + 1];

	return pci_vfio_addr_normalize(s, canon, sizeof(canon)) == 0 && !strcmp(canon, s);
}

static int read_id(const char *root, const char *addr, const char *attr, uint16_t *out)
{
	char path[512], buf[32];
	uint64_t v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/%s", root, addr, attr);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	if (uvdpa_parse_u64n(buf, strcspn(buf, "\n"), 16, 0, 0xffff, &v) < 0)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static enum uvdpa_dev_type type_from_ids(const struct uvdpa_pci_id *id)
{
	int t = uvdpa_pci_virtio_device_id(id);

	return t == UVDPA_TYPE_NET || t == UVDPA_TYPE_BLK ? (enum uvdpa_dev_type)t : UVDPA_TYPE_NONE;
}

static bool already_registered(const char *addr)
{
	for (struct pci_mgmtdev *pm = pci_mgmtdevs; pm; pm = pm->next)
		if (!strcmp(pm->addr, addr))
			return true;
	return false;
}

static int register_function(const char *root, const char *addr)
{
	struct uvdpa_pci_id id;
	const struct uvdpa_driver *drv;
	struct pci_mgmtdev *pm;
	enum uvdpa_dev_type type;
	int ret;

	if (read_id(root, addr, "vendor", &id.vendor) < 0 ||
	    read_id(root, addr, "device", &id.device) < 0 ||
	    read_id(root, addr, "subsystem_vendor", &id.subsys_vendor) < 0 ||
	    read_id(root, addr, "subsystem_device", &id.subsys_device) < 0) {
		LOG_WARN(TAG, "%s: cannot read its PCI ids from sysfs: skipped", addr);
		return 0;
	}
	drv = uvdpa_driver_match(&id);
	type = type_from_ids(&id);
	if (!drv || type == UVDPA_TYPE_NONE) {
		LOG_DEBUG(TAG, "%s: %04x:%04x (%04x:%04x) has no vDPA driver", addr, id.vendor,
			  id.device, id.subsys_vendor, id.subsys_device);
		return 0;
	}
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	memcpy(pm->addr, addr, PCI_ADDR_LEN + 1);
	pm->id = id;
	pm->drv = drv;
	snprintf(pm->m.name, sizeof(pm->m.name), "pci/%s", pm->addr);
	pm->m.ops = &pci_ops;
	pm->m.supported_classes = 1u << type;
	/* The driver provisions nothing but its devargs: the function's own
	 * features and queues are what the device gets. */
	pm->m.config_attrs = UVDPA_ATTR_DEVARGS;
	pm->m.max_supported_vqs = PCI_MGMT_MAX_VQS;
	ret = uvdpa_mgmtdev_register(&pm->m);
	if (ret < 0) {
		free(pm);
		return ret;
	}
	pm->next = pci_mgmtdevs;
	pci_mgmtdevs = pm;
	LOG_INFO(TAG, "%s: %04x:%04x (%04x:%04x) matched by driver %s", pm->m.name, id.vendor,
		 id.device, id.subsys_vendor, id.subsys_device, drv->name);
	return 1;
}

int uvdpa_pci_mgmtdev_scan(const char *sysfs_root, char *err, size_t errlen)
{
	char path[512];
	struct dirent *de;
	int count = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/bus/pci/drivers/vfio-pci", sysfs_root);
	dir = opendir(path);
	if (!dir) {
		if (errno == ENOENT) {
			LOG_DEBUG(TAG, "%s: vfio-pci not loaded, no PCI functions", path);
			return 0;
		}
		uvdpa_errf(err, errlen, "cannot list %s: %s", path, strerror(errno));
		return -errno;
	}
	while ((de = readdir(dir))) {
		int ret;

		if (!pci_addr_valid(de->d_name) || already_registered(de->d_name))
			continue;
		ret = register_function(sysfs_root, de->d_name);
		if (ret < 0) {
			uvdpa_errf(err, errlen, "cannot register mgmtdev pci/%s: %s", de->d_name,
				 strerror(-ret));
			closedir(dir);
			return ret;
		}
		count += ret;
	}
	closedir(dir);
	return count;
}

void uvdpa_pci_mgmtdev_fini(void)
{
	while (pci_mgmtdevs) {
		struct pci_mgmtdev *pm = pci_mgmtdevs;

		pci_mgmtdevs = pm->next;
		uvdpa_mgmtdev_unregister(&pm->m);
		free(pm);
	}
}
