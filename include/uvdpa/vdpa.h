/* The vDPA core: devices and their ops (the contract between the framework
 * and drivers), drivers with PCI match tables, management devices, and the
 * bus drivers a device is bound to (vhost-user, tap). The registry functions
 * take no locks: call them from the control thread only. */
#ifndef UVDPA_VDPA_H
#define UVDPA_VDPA_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VDPA_NAME_MAX 64

struct vdpa_device;
struct vdpa_session;
struct ev_loop;

enum vdpa_dev_type { VDPA_TYPE_NONE = 0, VDPA_TYPE_NET = 1, VDPA_TYPE_BLK = 2 };

/* ---- The session interface ----
 *
 * What a bus driver gives a device for one session: the memory the device
 * will DMA (guest memory of a VM, or daemon memory for the tap bus driver),
 * the rings, the dirty log, and the way back to the driver of the rings
 * (call, config change, host notifiers). vhost-user implements it for a
 * frontend; any other bus driver implements the same ops. Valid from
 * dev_conf until dev_close returns. */

/* One region of the session's memory: what the device sees at [gpa,
 * gpa+size) is host memory at host. */
struct vdpa_mem_region {
	uint64_t gpa;		/* guest physical address (the device's IOVA) */
	uint64_t size;
	void *host;		/* our mapping of gpa */
	int fd;			/* the memory's fd (-1: none) and where the region is in it */
	uint64_t fd_offset;
};

/* One ring as the session's driver set it up. */
struct vdpa_vring {
	uint16_t size;				/* 0: not set up */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	void *desc, *avail, *used;		/* our mappings (NULL when unmapped) */
	uint16_t last_avail_idx, last_used_idx;	/* where the device resumes */
	int kickfd, callfd;			/* -1: none (the driver polls / is polled) */
	bool log_used;				/* log used-ring writes (live migration) */
	uint64_t log_used_gpa;			/* ... at this address */
	bool ready;				/* complete and enabled: the device may run it */
};

/* The dirty log (live migration): one bit per 4 KiB guest page. */
struct vdpa_dirty_log {
	void *base;		/* the bitmap, mapped */
	uint64_t size;		/* bytes of bitmap */
	int fd;			/* its fd and where the bitmap starts in it */
	uint64_t fd_offset;
};

/* A session's ops, called by the device's driver on the control thread
 * unless said otherwise. Negative errno on failure. */
struct vdpa_session_ops {
	/* Fills up to max regions; returns how many the session has. */
	unsigned int (*mem_table)(struct vdpa_session *s, struct vdpa_mem_region *out,
				  unsigned int max);
	/* Host pointer for gpa; *len in: bytes wanted, out: bytes contiguous
	 * (<= in). NULL when unmapped. Any thread while the device runs. */
	void *(*gpa_to_hva)(struct vdpa_session *s, uint64_t gpa, uint64_t *len);
	uint64_t (*features)(struct vdpa_session *s);	/* negotiated virtio features */
	uint16_t (*vring_count)(struct vdpa_session *s);	/* rings the driver set up */
	int (*vring_get)(struct vdpa_session *s, uint16_t idx, struct vdpa_vring *ring);
	/* Where the device stopped: the session reports it to its driver. */
	int (*vring_set_base)(struct vdpa_session *s, uint16_t idx, uint16_t last_avail,
			      uint16_t last_used);
	/* -ENOENT when there is no dirty log. */
	int (*log_get)(struct vdpa_session *s, struct vdpa_dirty_log *log);
	/* Marks [gpa, gpa+len) dirty when logging is on. Any thread, any time. */
	void (*log_write)(struct vdpa_session *s, uint64_t gpa, uint64_t len);
	/* Marks [offset, offset+len) of ring idx's used ring dirty. Any thread
	 * while the device runs the ring. */
	void (*log_used_ring)(struct vdpa_session *s, uint16_t idx, uint64_t offset, uint64_t len);
	/* Interrupts the driver of ring idx. Any thread while the device runs
	 * the ring. */
	int (*vring_call)(struct vdpa_session *s, uint16_t idx);
	/* Tells the driver the device config changed. Any thread. -ENOTSUP when
	 * the session cannot. */
	int (*config_change)(struct vdpa_session *s);
	/* Maps (enable) or unmaps the doorbell page of ring idx (or of every
	 * ring: VDPA_ALL_VRINGS) into the driver, from get_notify_area.
	 * Asynchronous: the bus driver sends it after the reply that triggered
	 * the op. -ENOTSUP when the session has no such thing. */
	int (*host_notifier_ctrl)(struct vdpa_session *s, uint16_t idx, bool enable);
};
#define VDPA_ALL_VRINGS 0xffffu

struct vdpa_session {
	const struct vdpa_session_ops *ops;
};

static inline unsigned int vdpa_session_mem_table(struct vdpa_session *s,
						  struct vdpa_mem_region *out, unsigned int max)
{
	return s->ops->mem_table(s, out, max);
}
static inline void *vdpa_session_gpa_to_hva(struct vdpa_session *s, uint64_t gpa, uint64_t *len)
{
	return s->ops->gpa_to_hva(s, gpa, len);
}
static inline uint64_t vdpa_session_features(struct vdpa_session *s)
{
	return s->ops->features(s);
}
static inline uint16_t vdpa_session_vring_count(struct vdpa_session *s)
{
	return s->ops->vring_count(s);
}
static inline int vdpa_session_vring_get(struct vdpa_session *s, uint16_t idx,
					 struct vdpa_vring *ring)
{
	return s->ops->vring_get(s, idx, ring);
}
static inline int vdpa_session_vring_set_base(struct vdpa_session *s, uint16_t idx,
					      uint16_t last_avail, uint16_t last_used)
{
	return s->ops->vring_set_base(s, idx, last_avail, last_used);
}
static inline int vdpa_session_log_get(struct vdpa_session *s, struct vdpa_dirty_log *log)
{
	return s->ops->log_get(s, log);
}
static inline void vdpa_session_log_write(struct vdpa_session *s, uint64_t gpa, uint64_t len)
{
	s->ops->log_write(s, gpa, len);
}
static inline void vdpa_session_log_used_ring(struct vdpa_session *s, uint16_t idx,
					      uint64_t offset, uint64_t len)
{
	s->ops->log_used_ring(s, idx, offset, len);
}
static inline int vdpa_session_vring_call(struct vdpa_session *s, uint16_t idx)
{
	return s->ops->vring_call(s, idx);
}
static inline int vdpa_session_config_change(struct vdpa_session *s)
{
	return s->ops->config_change ? s->ops->config_change(s) : -ENOTSUP;
}
static inline int vdpa_session_host_notifier_ctrl(struct vdpa_session *s, uint16_t idx,
						  bool enable)
{
	return s->ops->host_notifier_ctrl ? s->ops->host_notifier_ctrl(s, idx, enable) : -ENOTSUP;
}

/* ---- Per-queue statistics ----
 * A fixed set of counters; a device fills those it keeps and says which in
 * valid. `dev vstats` prints them in this order, by vdpa_vq_stat_name(). */
enum vdpa_vq_stat {
	VDPA_VQ_STAT_RECEIVED_DESC,	/* descriptors the driver made available */
	VDPA_VQ_STAT_COMPLETED_DESC,	/* descriptors the device used */
	VDPA_VQ_STAT_KICKS,		/* doorbells relayed */
	VDPA_VQ_STAT_PACKETS,		/* frames (net) */
	VDPA_VQ_STAT_BYTES,
	VDPA_VQ_STAT_ERRORS,
	VDPA_VQ_STAT_OVERRUNS,		/* no buffer for a frame */
	VDPA_VQ_STAT_DROPS,
	VDPA_VQ_STAT_REQUESTS,		/* control or blk requests */
	VDPA_VQ_STAT_SUCCESSES,
	VDPA_VQ_STAT_FAULTS,		/* DMA faults: a buffer the device could not reach */
	VDPA_VQ_STAT_NUM
};

struct vdpa_vq_stats {
	uint64_t valid;			/* 1ull << enum vdpa_vq_stat, per counter kept */
	uint64_t value[VDPA_VQ_STAT_NUM];
};

/* "received_desc", "completed_desc", "kicks", "packets", ...; NULL past the end. */
const char *vdpa_vq_stat_name(enum vdpa_vq_stat stat);

/* ---- Device ops: the contract between the framework and drivers ----
 *
 * Called by the bus driver a device is bound to, on the control thread, at
 * the moments DPDK's vhost library calls its vDPA ops. A return < 0 is a
 * negative errno. */
struct vdpa_device_ops {
	/* Virtio ops. */
	int (*get_queue_num)(struct vdpa_device *dev, uint32_t *queue_num); /* queue pairs (net) or queues (blk) */
	int (*get_features)(struct vdpa_device *dev, uint64_t *features);
	int (*get_protocol_features)(struct vdpa_device *dev, uint64_t *features);
	int (*get_dev_type)(struct vdpa_device *dev, enum vdpa_dev_type *type);
	int (*get_config)(struct vdpa_device *dev, uint8_t *buf, uint32_t offset, uint32_t len);
	int (*set_config)(struct vdpa_device *dev, const uint8_t *buf, uint32_t offset, uint32_t len,
			  uint32_t flags);
	/* Lifecycle: dev_conf once every enabled ring is ready; the session
	 * stays valid until dev_close returns. */
	int (*dev_conf)(struct vdpa_device *dev, struct vdpa_session *s);
	int (*dev_close)(struct vdpa_device *dev);
	/* A ring became ready (enable) or stopped after dev_conf. */
	int (*set_vring_state)(struct vdpa_device *dev, uint16_t vring, bool enable);
	/* On every feature negotiation with the features the driver accepted,
	 * also before dev_conf; and again, with the same features, when the
	 * dirty log is replaced while LOG_ALL is on. A negative return refuses
	 * the change (dirty logging the device cannot do). */
	int (*set_features)(struct vdpa_device *dev, uint64_t features);
	/* Migration. */
	int (*migration_done)(struct vdpa_device *dev);
	/* Doorbell: the page a host notifier maps into the driver. */
	int (*get_notify_area)(struct vdpa_device *dev, uint16_t vring, int *fd, uint64_t *offset,
			       uint64_t *size);
	/* The function's virtio device status (DEVICE_NEEDS_RESET after a fault). */
	int (*get_status)(struct vdpa_device *dev, uint8_t *status);
	/* Statistics, per queue: typed counters (see struct vdpa_vq_stats). */
	int (*get_vq_stats)(struct vdpa_device *dev, uint16_t vring, struct vdpa_vq_stats *st);
	int (*reset_vq_stats)(struct vdpa_device *dev, uint16_t vring);
};

struct vdpa_mgmtdev;
struct vdpa_bus_driver;
struct vdpa_driver;

struct vdpa_device {
	char name[VDPA_NAME_MAX];
	enum vdpa_dev_type type;
	const struct vdpa_device_ops *ops;
	void *priv;			/* the driver's */
	struct vdpa_mgmtdev *mgmtdev;	/* may be NULL */
	const struct vdpa_driver *driver; /* may be NULL */
	/* Bus-driver binding: at most one. */
	const struct vdpa_bus_driver *bus;
	void *bus_priv;
	/* What `dev show` reports; 0 when the driver does not know. */
	uint32_t vendor_id;		/* virtio vendor id, e.g. 0x1af4 */
	uint16_t max_vq_size;		/* largest ring the device takes */
	struct vdpa_device *next;	/* registry list */
};

/* name: 1..VDPA_NAME_MAX-1 characters from [A-Za-z0-9_.:-]. -EEXIST, -EINVAL */
int vdpa_device_register(struct vdpa_device *dev);
void vdpa_device_unregister(struct vdpa_device *dev);	/* unbinds first */
struct vdpa_device *vdpa_device_find(const char *name);
struct vdpa_device *vdpa_device_first(void);
#define vdpa_device_foreach(d) for ((d) = vdpa_device_first(); (d); (d) = (d)->next)

/* PCI ids; VDPA_PCI_ANY matches anything. */
#define VDPA_PCI_ANY 0xffffu
struct vdpa_pci_id {
	uint16_t vendor, device, subsys_vendor, subsys_device;
};

struct pci_dev;

/* What a driver is asked to create on a function it matched. */
struct vdpa_probe_args {
	const char *name;		/* the vDPA device's name */
	const char *devargs;		/* "vdpa=1[,...]": the driver parses its own keys */
	struct vdpa_mgmtdev *mgmtdev;	/* who asked (pci/..., emu/...) */
};

struct vdpa_driver {
	const char *name;
	const struct vdpa_pci_id *id_table;	/* terminated by vendor == 0 */
	/* Creates and registers a device on pdev. On success the device owns
	 * pdev and *out is set; on failure the caller keeps pdev and err says
	 * what to change (-ENODEV: not for this driver after all). */
	int (*probe)(struct pci_dev *pdev, const struct vdpa_probe_args *args,
		     struct vdpa_device **out, char *err, size_t errlen);
	/* Unregisters (which unbinds and closes), releases pdev, frees. */
	void (*remove)(struct vdpa_device *dev);
	struct vdpa_driver *next;
};

/* The core's match: pdev goes to the first registered driver whose id table
 * matches it, and that driver's answer is final. -ENODEV (with err) when no
 * driver matches. */
int vdpa_pci_probe(struct pci_dev *pdev, const struct vdpa_probe_args *args,
		   struct vdpa_device **out, char *err, size_t errlen);
/* dev->driver->remove(dev). */
void vdpa_device_remove(struct vdpa_device *dev);

int vdpa_driver_register(struct vdpa_driver *drv);
void vdpa_driver_unregister(struct vdpa_driver *drv);
struct vdpa_driver *vdpa_driver_find(const char *name);
/* The first registered driver whose table matches id (registration order). */
struct vdpa_driver *vdpa_driver_match(const struct vdpa_pci_id *id);
bool vdpa_pci_id_match(const struct vdpa_pci_id *table, const struct vdpa_pci_id *id);

/* dev add attributes (the kernel's vdpa tool plus uvdpa's). */
enum vdpa_attr {
	VDPA_ATTR_MAC = 1u << 0,
	VDPA_ATTR_MTU = 1u << 1,
	VDPA_ATTR_MAX_VQP = 1u << 2,
	VDPA_ATTR_FEATURES = 1u << 3,
	VDPA_ATTR_DEVARGS = 1u << 4,
	VDPA_ATTR_PORT = 1u << 5,
	VDPA_ATTR_FILE = 1u << 6,
	VDPA_ATTR_CAPACITY = 1u << 7,
	VDPA_ATTR_NUM_QUEUES = 1u << 8,
	VDPA_ATTR_READONLY = 1u << 9,
};

struct vdpa_dev_add_config {
	char name[VDPA_NAME_MAX];
	uint32_t attrs;	/* enum vdpa_attr bits that were given */
	uint8_t mac[6];
	uint16_t mtu;
	uint16_t max_vqp;
	uint64_t device_features;
	char devargs[256];
	char port[128];
	char file[256];
	uint64_t capacity;	/* bytes */
	uint16_t num_queues;
	bool readonly;
};

/* dev set attributes (`uvdpa dev set name NAME mac MAC | capacity SIZE | link up|down`). */
enum vdpa_set_attr {
	VDPA_SET_MAC = 1u << 0,
	VDPA_SET_CAPACITY = 1u << 1,
	VDPA_SET_LINK = 1u << 2,
};

struct vdpa_dev_set_config {
	uint32_t attrs;		/* enum vdpa_set_attr bits that were given */
	uint8_t mac[6];
	uint64_t capacity;	/* bytes */
	bool link_up;
};

struct vdpa_mgmtdev_ops {
	/* Creates and registers a device; err gets a message for the user. */
	int (*dev_add)(struct vdpa_mgmtdev *m, const struct vdpa_dev_add_config *cfg, char *err,
		       size_t errlen);
	/* Called unbound; must unregister the device, and may free it. */
	int (*dev_del)(struct vdpa_mgmtdev *m, struct vdpa_device *dev);
	/* Optional: changes attributes of a live device (and signals a config
	 * change to its driver); err gets a message for the user. */
	int (*dev_set)(struct vdpa_mgmtdev *m, struct vdpa_device *dev,
		       const struct vdpa_dev_set_config *cfg, char *err, size_t errlen);
};

struct vdpa_mgmtdev {
	char name[VDPA_NAME_MAX];	/* "pci/0000:06:00.3", "emu/ifcvf-net" */
	const struct vdpa_mgmtdev_ops *ops;
	uint32_t supported_classes;	/* 1u << VDPA_TYPE_* */
	uint32_t config_attrs;		/* enum vdpa_attr bits it accepts */
	uint64_t supported_features;
	uint32_t max_supported_vqs;
	void *priv;
	struct vdpa_mgmtdev *next;
};

int vdpa_mgmtdev_register(struct vdpa_mgmtdev *m);
/* Deletes the mgmtdev's devices (dev_del) first. */
void vdpa_mgmtdev_unregister(struct vdpa_mgmtdev *m);
struct vdpa_mgmtdev *vdpa_mgmtdev_find(const char *name);
struct vdpa_mgmtdev *vdpa_mgmtdev_first(void);
/* Validates cfg against the mgmtdev's attributes and the kernel tool's rules
 * (mtu >= 68, max_vqp >= 1, mac/mtu/max_vqp need MAC/MTU/MQ in
 * device_features when both are given), then calls dev_add and sets the new
 * device's mgmtdev if dev_add left it NULL. -EOPNOTSUPP for attributes not in
 * config_attrs, -EEXIST for a taken name, -EINVAL for the other rules,
 * -ENODEV for an unregistered mgmtdev, else dev_add's error. */
int vdpa_mgmtdev_dev_add(struct vdpa_mgmtdev *m, const struct vdpa_dev_add_config *cfg, char *err,
			 size_t errlen);
/* Unbinds, then calls dev_del. -EOPNOTSUPP for a device no mgmtdev created
 * (or a mgmtdev without dev_del), -ENODEV for an unregistered device. */
int vdpa_mgmtdev_dev_del(struct vdpa_device *dev, char *err, size_t errlen);

/* Calls the mgmtdev's dev_set. -EOPNOTSUPP for a device no mgmtdev created or
 * a mgmtdev without dev_set, -EINVAL for an empty cfg, -ENODEV for an
 * unregistered device, else dev_set's error. */
int vdpa_mgmtdev_dev_set(struct vdpa_device *dev, const struct vdpa_dev_set_config *cfg, char *err,
			 size_t errlen);

/* Bus drivers: what a device is exposed through. */
struct vdpa_bind_args {
	const char *path;	/* vhost-user socket path or tap ifname */
	bool client;		/* vhost-user: connect instead of listen */
	struct ev_loop *loop;
};

/* What a binding looks like from outside, for `dev show` / `dev config show`. */
struct vdpa_bind_status {
	char path[256];			/* socket path or interface name */
	bool connected;			/* a frontend / driver is attached */
	bool features_ok;		/* negotiated_features is valid */
	uint64_t negotiated_features;	/* virtio features the driver accepted */
};

struct vdpa_bus_driver {
	const char *name;	/* "vhost-user", "tap" */
	int (*bind)(struct vdpa_device *dev, const struct vdpa_bind_args *args, char *err, size_t errlen);
	void (*unbind)(struct vdpa_device *dev);
	/* Optional: fills st for a bound device. */
	int (*status)(struct vdpa_device *dev, struct vdpa_bind_status *st);
	struct vdpa_bus_driver *next;
};

int vdpa_bus_driver_register(struct vdpa_bus_driver *bd);
struct vdpa_bus_driver *vdpa_bus_driver_find(const char *name);
/* -EBUSY when already bound, -ENOENT for an unknown bus driver, -ENODEV for
 * an unregistered device, else bind's error. args may be NULL. */
int vdpa_device_bind(struct vdpa_device *dev, const char *bus, const struct vdpa_bind_args *args,
		     char *err, size_t errlen);
int vdpa_device_unbind(struct vdpa_device *dev);	/* -ENOTCONN when not bound */
/* -ENOTCONN when not bound, -EOPNOTSUPP when the bus driver cannot tell. */
int vdpa_device_bind_status(struct vdpa_device *dev, struct vdpa_bind_status *st);

/* Registers the vhost-user bus driver (src/bus/vhost_user_bus.c). */
int vdpa_bus_vhost_user_register(void);


#endif
