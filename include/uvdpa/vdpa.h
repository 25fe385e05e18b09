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

#define UVDPA_NAME_MAX 64

struct uvdpa_device;
struct uvdpa_session;
struct uvdpa_loop;

enum uvdpa_dev_type { UVDPA_TYPE_NONE = 0, UVDPA_TYPE_NET = 1, UVDPA_TYPE_BLK = 2 };

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
struct uvdpa_mem_region {
	uint64_t gpa;		/* guest physical address (the device's IOVA) */
	uint64_t size;
	void *host;		/* our mapping of gpa */
	int fd;			/* the memory's fd (-1: none) and where the region is in it */
	uint64_t fd_offset;
};

/* One ring as the session's driver set it up. */
struct uvdpa_vring {
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
struct uvdpa_dirty_log {
	void *base;		/* the bitmap, mapped */
	uint64_t size;		/* bytes of bitmap */
	int fd;			/* its fd and where the bitmap starts in it */
	uint64_t fd_offset;
};

/* The frontend's inflight region (vhost-user INFLIGHT_SHMFD): per queue,
 * queue_stride bytes at base + q * queue_stride in the virtio split layout
 * (a header, then one record per descriptor). A device that records the
 * requests it holds there can, after a crash of the daemon, process exactly
 * those again when the frontend reconnects. */
struct uvdpa_inflight {
	void *base;
	uint64_t size;		/* bytes: num_queues * queue_stride */
	uint64_t queue_stride;
	uint16_t num_queues;
	uint16_t queue_size;	/* descriptors per queue */
};

/* A session's ops, called by the device's driver on the control thread
 * unless said otherwise. Negative errno on failure. */
struct uvdpa_session_ops {
	/* Fills up to max regions; returns how many the session has. */
	unsigned int (*mem_table)(struct uvdpa_session *s, struct uvdpa_mem_region *out,
				  unsigned int max);
	/* Host pointer for gpa; *len in: bytes wanted, out: bytes contiguous
	 * (<= in). NULL when unmapped. Any thread while the device runs. */
	void *(*gpa_to_hva)(struct uvdpa_session *s, uint64_t gpa, uint64_t *len);
	uint64_t (*features)(struct uvdpa_session *s);	/* negotiated virtio features */
	uint16_t (*vring_count)(struct uvdpa_session *s);	/* rings the driver set up */
	int (*vring_get)(struct uvdpa_session *s, uint16_t idx, struct uvdpa_vring *ring);
	/* Where the device stopped: the session reports it to its driver. */
	int (*vring_set_base)(struct uvdpa_session *s, uint16_t idx, uint16_t last_avail,
			      uint16_t last_used);
	/* -ENOENT when there is no dirty log. */
	int (*log_get)(struct uvdpa_session *s, struct uvdpa_dirty_log *log);
	/* Marks [gpa, gpa+len) dirty when logging is on. Any thread, any time. */
	void (*log_write)(struct uvdpa_session *s, uint64_t gpa, uint64_t len);
	/* Marks [offset, offset+len) of ring idx's used ring dirty. Any thread
	 * while the device runs the ring. */
	void (*log_used_ring)(struct uvdpa_session *s, uint16_t idx, uint64_t offset, uint64_t len);
	/* Interrupts the driver of ring idx. Any thread while the device runs
	 * the ring. */
	int (*vring_call)(struct uvdpa_session *s, uint16_t idx);
	/* Tells the driver the device config changed. Any thread. -ENOTSUP when
	 * the session cannot. */
	int (*config_change)(struct uvdpa_session *s);
	/* Maps (enable) or unmaps the doorbell page of ring idx (or of every
	 * ring: UVDPA_ALL_VRINGS) into the driver, from get_notify_area.
	 * Asynchronous: the bus driver sends it after the reply that triggered
	 * the op. -ENOTSUP when the session has no such thing. */
	int (*host_notifier_ctrl)(struct uvdpa_session *s, uint16_t idx, bool enable);
	/* The inflight region, stable while the device runs (the session stops
	 * the device before it replaces the region); -ENOENT when there is
	 * none. Optional (NULL). */
	int (*inflight_get)(struct uvdpa_session *s, struct uvdpa_inflight *out);
};
#define UVDPA_ALL_VRINGS 0xffffu

struct uvdpa_session {
	const struct uvdpa_session_ops *ops;
};

static inline unsigned int uvdpa_session_mem_table(struct uvdpa_session *s,
						  struct uvdpa_mem_region *out, unsigned int max)
{
	return s->ops->mem_table(s, out, max);
}
static inline void *uvdpa_session_gpa_to_hva(struct uvdpa_session *s, uint64_t gpa, uint64_t *len)
{
	return s->ops->gpa_to_hva(s, gpa, len);
}
static inline uint64_t uvdpa_session_features(struct uvdpa_session *s)
{
	return s->ops->features(s);
}
static inline uint16_t uvdpa_session_vring_count(struct uvdpa_session *s)
{
	return s->ops->vring_count(s);
}
static inline int uvdpa_session_vring_get(struct uvdpa_session *s, uint16_t idx,
					 struct uvdpa_vring *ring)
{
	return s->ops->vring_get(s, idx, ring);
}
static inline int uvdpa_session_vring_set_base(struct uvdpa_session *s, uint16_t idx,
					      uint16_t last_avail, uint16_t last_used)
{
	return s->ops->vring_set_base(s, idx, last_avail, last_used);
}
static inline int uvdpa_session_log_get(struct uvdpa_session *s, struct uvdpa_dirty_log *log)
{
	return s->ops->log_get(s, log);
}
static inline void uvdpa_session_log_write(struct uvdpa_session *s, uint64_t gpa, uint64_t len)
{
	s->ops->log_write(s, gpa, len);
}
static inline void uvdpa_session_log_used_ring(struct uvdpa_session *s, uint16_t idx,
					      uint64_t offset, uint64_t len)
{
	s->ops->log_used_ring(s, idx, offset, len);
}
static inline int uvdpa_session_inflight_get(struct uvdpa_session *s, struct uvdpa_inflight *out)
{
	return s->ops->inflight_get ? s->ops->inflight_get(s, out) : -ENOENT;
}
static inline int uvdpa_session_vring_call(struct uvdpa_session *s, uint16_t idx)
{
	return s->ops->vring_call(s, idx);
}
static inline int uvdpa_session_config_change(struct uvdpa_session *s)
{
	return s->ops->config_change ? s->ops->config_change(s) : -ENOTSUP;
}
static inline int uvdpa_session_host_notifier_ctrl(struct uvdpa_session *s, uint16_t idx,
						  bool enable)
{
	return s->ops->host_notifier_ctrl ? s->ops->host_notifier_ctrl(s, idx, enable) : -ENOTSUP;
}

/* ---- Per-queue statistics ----
 * A fixed set of counters; a device fills those it keeps and says which in
 * valid. `dev vstats` prints them in this order, by uvdpa_vq_stat_name(). */
enum uvdpa_vq_stat {
	UVDPA_VQ_STAT_RECEIVED_DESC,	/* descriptors the driver made available */
	UVDPA_VQ_STAT_COMPLETED_DESC,	/* descriptors the device used */
	UVDPA_VQ_STAT_KICKS,		/* doorbells relayed */
	UVDPA_VQ_STAT_PACKETS,		/* frames (net) */
	UVDPA_VQ_STAT_BYTES,
	UVDPA_VQ_STAT_ERRORS,
	UVDPA_VQ_STAT_OVERRUNS,		/* no buffer for a frame */
	UVDPA_VQ_STAT_DROPS,
	UVDPA_VQ_STAT_REQUESTS,		/* control or blk requests */
	UVDPA_VQ_STAT_SUCCESSES,
	UVDPA_VQ_STAT_FAULTS,		/* DMA faults: a buffer the device could not reach */
	UVDPA_VQ_STAT_RELAYED,		/* used entries a migration relay copied to the driver */
	UVDPA_VQ_STAT_LOGGED_PAGES,	/* pages a migration relay marked dirty */
	UVDPA_VQ_STAT_READ_BYTES,	/* blk: bytes read into the driver's buffers */
	UVDPA_VQ_STAT_WRITE_BYTES,	/* blk: bytes written from them */
	UVDPA_VQ_STAT_IN_FLIGHT,	/* blk: requests taken and not yet completed (a gauge) */
	UVDPA_VQ_STAT_NUM
};

struct uvdpa_vq_stats {
	uint64_t valid;			/* 1ull << enum uvdpa_vq_stat, per counter kept */
	uint64_t value[UVDPA_VQ_STAT_NUM];
};

/* "received_desc", "completed_desc", "kicks", "packets", ...; NULL past the end. */
const char *uvdpa_vq_stat_name(enum uvdpa_vq_stat stat);

/* ---- Device ops: the contract between the framework and drivers ----
 *
 * Called by the bus driver a device is bound to, on the control thread, at
 * the moments DPDK's vhost library calls its vDPA ops. A return < 0 is a
 * negative errno. */
/* Live migration: how a device keeps the dirty log. */
enum uvdpa_migration_mode {
	UVDPA_MIGRATION_NONE,		/* not migratable (LOG_ALL not offered) */
	UVDPA_MIGRATION_HW,		/* the function logs what it writes */
	UVDPA_MIGRATION_SW,		/* a relay logs what device-written rings complete */
	UVDPA_MIGRATION_SHADOW,		/* the device runs on rings a relay shadows */
};

struct uvdpa_migration_state {
	enum uvdpa_migration_mode mode;
	bool logging;			/* LOG_ALL in effect */
};

/* "none", "hw", "sw", "shadow". */
const char *uvdpa_migration_mode_name(enum uvdpa_migration_mode mode);

struct uvdpa_device_ops {
	/* Virtio ops. */
	int (*get_queue_num)(struct uvdpa_device *dev, uint32_t *queue_num); /* queue pairs (net) or queues (blk) */
	int (*get_features)(struct uvdpa_device *dev, uint64_t *features);
	int (*get_protocol_features)(struct uvdpa_device *dev, uint64_t *features);
	int (*get_dev_type)(struct uvdpa_device *dev, enum uvdpa_dev_type *type);
	int (*get_config)(struct uvdpa_device *dev, uint8_t *buf, uint32_t offset, uint32_t len);
	int (*set_config)(struct uvdpa_device *dev, const uint8_t *buf, uint32_t offset, uint32_t len,
			  uint32_t flags);
	/* Lifecycle: dev_conf once every enabled ring is ready; the session
	 * stays valid until dev_close returns. */
	int (*dev_conf)(struct uvdpa_device *dev, struct uvdpa_session *s);
	int (*dev_close)(struct uvdpa_device *dev);
	/* A ring became ready (enable) or stopped after dev_conf. */
	int (*set_vring_state)(struct uvdpa_device *dev, uint16_t vring, bool enable);
	/* On every feature negotiation with the features the driver accepted,
	 * also before dev_conf; and again, with the same features, when the
	 * dirty log is replaced while LOG_ALL is on. A negative return refuses
	 * the change (dirty logging the device cannot do). */
	int (*set_features)(struct uvdpa_device *dev, uint64_t features);
	/* Migration. */
	/* The frontend says the device now runs on the destination; mac: the
	 * guest's (net, from the frontend's RARP request), else NULL. */
	int (*migration_done)(struct uvdpa_device *dev, const uint8_t *mac);
	/* Doorbell: the page a host notifier maps into the driver. */
	int (*get_notify_area)(struct uvdpa_device *dev, uint16_t vring, int *fd, uint64_t *offset,
			       uint64_t *size);
	/* The function's virtio device status (DEVICE_NEEDS_RESET after a fault). */
	int (*get_status)(struct uvdpa_device *dev, uint8_t *status);
	/* How the device migrates and whether it logs now. */
	int (*get_migration)(struct uvdpa_device *dev, struct uvdpa_migration_state *st);
	/* Statistics, per queue: typed counters (see struct uvdpa_vq_stats). */
	int (*get_vq_stats)(struct uvdpa_device *dev, uint16_t vring, struct uvdpa_vq_stats *st);
	int (*reset_vq_stats)(struct uvdpa_device *dev, uint16_t vring);
};

struct uvdpa_mgmtdev;
struct uvdpa_bus_driver;
struct uvdpa_driver;

struct uvdpa_device {
	char name[UVDPA_NAME_MAX];
	enum uvdpa_dev_type type;
	const struct uvdpa_device_ops *ops;
	void *priv;			/* the driver's */
	struct uvdpa_mgmtdev *mgmtdev;	/* may be NULL */
	const struct uvdpa_driver *driver; /* may be NULL */
	/* Bus-driver binding: at most one. */
	const struct uvdpa_bus_driver *bus;
	void *bus_priv;
	/* What `dev show` reports; 0 when the driver does not know. */
	uint32_t vendor_id;		/* virtio vendor id, e.g. 0x1af4 */
	uint16_t max_vq_size;		/* largest ring the device takes */
	struct uvdpa_device *next;	/* registry list */
};

/* name: 1..UVDPA_NAME_MAX-1 characters from [A-Za-z0-9_.:-]. -EEXIST, -EINVAL */
int uvdpa_device_register(struct uvdpa_device *dev);
void uvdpa_device_unregister(struct uvdpa_device *dev);	/* unbinds first */
struct uvdpa_device *uvdpa_device_find(const char *name);
struct uvdpa_device *uvdpa_device_first(void);
#define uvdpa_device_foreach(d) for ((d) = uvdpa_device_first(); (d); (d) = (d)->next)

/* PCI ids; UVDPA_PCI_ANY matches anything. */
#define UVDPA_PCI_ANY 0xffffu
struct uvdpa_pci_id {
	uint16_t vendor, device, subsys_vendor, subsys_device;
};

struct uvdpa_pci_dev;

/* What a driver is asked to create on a function it matched. */
struct uvdpa_probe_args {
	const char *name;		/* the vDPA device's name */
	const char *devargs;		/* "vdpa=1[,...]": the driver parses its own keys */
	struct uvdpa_mgmtdev *mgmtdev;	/* who asked (pci/..., emu/...) */
};

struct uvdpa_driver {
	const char *name;
	const struct uvdpa_pci_id *id_table;	/* terminated by vendor == 0 */
	/* Creates and registers a device on pdev. On success the device owns
	 * pdev and *out is set; on failure the caller keeps pdev and err says
	 * what to change (-ENODEV: not for this driver after all). */
	int (*probe)(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *args,
		     struct uvdpa_device **out, char *err, size_t errlen);
	/* Unregisters (which unbinds and closes), releases pdev, frees. */
	void (*remove)(struct uvdpa_device *dev);
	struct uvdpa_driver *next;
};

/* The core's match: pdev goes to the first registered driver whose id table
 * matches it, and that driver's answer is final. -ENODEV (with err) when no
 * driver matches. */
int uvdpa_pci_probe(struct uvdpa_pci_dev *pdev, const struct uvdpa_probe_args *args,
		   struct uvdpa_device **out, char *err, size_t errlen);
/* dev->driver->remove(dev). */
void uvdpa_device_remove(struct uvdpa_device *dev);

int uvdpa_driver_register(struct uvdpa_driver *drv);
void uvdpa_driver_unregister(struct uvdpa_driver *drv);
struct uvdpa_driver *uvdpa_driver_find(const char *name);
/* The first registered driver whose table matches id (registration order). */
struct uvdpa_driver *uvdpa_driver_match(const struct uvdpa_pci_id *id);
bool uvdpa_pci_id_match(const struct uvdpa_pci_id *table, const struct uvdpa_pci_id *id);

/* dev add attributes (the kernel's vdpa tool plus uvdpa's). */
enum uvdpa_attr {
	UVDPA_ATTR_MAC = 1u << 0,
	UVDPA_ATTR_MTU = 1u << 1,
	UVDPA_ATTR_MAX_VQP = 1u << 2,
	UVDPA_ATTR_FEATURES = 1u << 3,
	UVDPA_ATTR_DEVARGS = 1u << 4,
	UVDPA_ATTR_PORT = 1u << 5,
	UVDPA_ATTR_FILE = 1u << 6,
	UVDPA_ATTR_CAPACITY = 1u << 7,
	UVDPA_ATTR_NUM_QUEUES = 1u << 8,
	UVDPA_ATTR_READONLY = 1u << 9,
};

struct uvdpa_dev_add_config {
	char name[UVDPA_NAME_MAX];
	uint32_t attrs;	/* enum uvdpa_attr bits that were given */
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
enum uvdpa_set_attr {
	UVDPA_SET_MAC = 1u << 0,
	UVDPA_SET_CAPACITY = 1u << 1,
	UVDPA_SET_LINK = 1u << 2,
};

struct uvdpa_dev_set_config {
	uint32_t attrs;		/* enum uvdpa_set_attr bits that were given */
	uint8_t mac[6];
	uint64_t capacity;	/* bytes */
	bool link_up;
};

struct uvdpa_mgmtdev_ops {
	/* Creates and registers a device; err gets a message for the user. */
	int (*dev_add)(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
		       size_t errlen);
	/* Called unbound; must unregister the device, and may free it. */
	int (*dev_del)(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev);
	/* Optional: changes attributes of a live device (and signals a config
	 * change to its driver); err gets a message for the user. */
	int (*dev_set)(struct uvdpa_mgmtdev *m, struct uvdpa_device *dev,
		       const struct uvdpa_dev_set_config *cfg, char *err, size_t errlen);
};

struct uvdpa_mgmtdev {
	char name[UVDPA_NAME_MAX];	/* "pci/0000:06:00.3", "emu/ifcvf-net" */
	const struct uvdpa_mgmtdev_ops *ops;
	uint32_t supported_classes;	/* 1u << UVDPA_TYPE_* */
	uint32_t config_attrs;		/* enum uvdpa_attr bits it accepts */
	uint64_t supported_features;
	uint32_t max_supported_vqs;
	void *priv;
	struct uvdpa_mgmtdev *next;
};

int uvdpa_mgmtdev_register(struct uvdpa_mgmtdev *m);
/* Deletes the mgmtdev's devices (dev_del) first. */
void uvdpa_mgmtdev_unregister(struct uvdpa_mgmtdev *m);
struct uvdpa_mgmtdev *uvdpa_mgmtdev_find(const char *name);
struct uvdpa_mgmtdev *uvdpa_mgmtdev_first(void);
/* Validates cfg against the mgmtdev's attributes and the kernel tool's rules
 * (mtu >= 68, max_vqp >= 1, mac/mtu/max_vqp need MAC/MTU/MQ in
 * device_features when both are given), then calls dev_add and sets the new
 * device's mgmtdev if dev_add left it NULL. -EOPNOTSUPP for attributes not in
 * config_attrs, -EEXIST for a taken name, -EINVAL for the other rules,
 * -ENODEV for an unregistered mgmtdev, else dev_add's error. */
int uvdpa_mgmtdev_dev_add(struct uvdpa_mgmtdev *m, const struct uvdpa_dev_add_config *cfg, char *err,
			 size_t errlen);
/* Unbinds, then calls dev_del. -EOPNOTSUPP for a device no mgmtdev created
 * (or a mgmtdev without dev_del), -ENODEV for an unregistered device. */
int uvdpa_mgmtdev_dev_del(struct uvdpa_device *dev, char *err, size_t errlen);

/* Calls the mgmtdev's dev_set. -EOPNOTSUPP for a device no mgmtdev created or
 * a mgmtdev without dev_set, -EINVAL for an empty cfg, -ENODEV for an
 * unregistered device, else dev_set's error. */
int uvdpa_mgmtdev_dev_set(struct uvdpa_device *dev, const struct uvdpa_dev_set_config *cfg, char *err,
			 size_t errlen);

/* Bus drivers: what a device is exposed through. */
struct uvdpa_bind_args {
	const char *path;	/* vhost-user socket path or tap ifname */
	bool client;		/* vhost-user: connect instead of listen */
	struct uvdpa_loop *loop;
};

/* How long a bus driver's calls of one device op took since the binding
 * (monotonic clock, microseconds): how many, the last, the extremes, the
 * sum, and a histogram whose bucket i (i < UVDPA_OP_TIMING_BUCKETS - 1)
 * counts the calls of under 2^i us, the last bucket the rest. */
#define UVDPA_OP_TIMING_BUCKETS 21
struct uvdpa_op_timing {
	uint64_t count, last_us, min_us, max_us, sum_us;
	uint64_t hist[UVDPA_OP_TIMING_BUCKETS];
};

/* What a binding looks like from outside, for `dev show` / `dev config show`. */
struct uvdpa_bind_status {
	char path[256];			/* socket path or interface name */
	bool connected;			/* a frontend / driver is attached */
	bool features_ok;		/* negotiated_features is valid */
	uint64_t negotiated_features;	/* virtio features the driver accepted */
	/* Bus drivers that time the device's start and stop fill these (count
	 * 0 otherwise). dev_conf: from the arrival of what made the device
	 * startable to dev_conf returning; dev_close: the dev_close call. */
	struct uvdpa_op_timing dev_conf, dev_close;
};

struct uvdpa_bus_driver {
	const char *name;	/* "vhost-user", "tap" */
	int (*bind)(struct uvdpa_device *dev, const struct uvdpa_bind_args *args, char *err, size_t errlen);
	void (*unbind)(struct uvdpa_device *dev);
	/* Optional: fills st for a bound device. */
	int (*status)(struct uvdpa_device *dev, struct uvdpa_bind_status *st);
	struct uvdpa_bus_driver *next;
};

int uvdpa_bus_driver_register(struct uvdpa_bus_driver *bd);
struct uvdpa_bus_driver *uvdpa_bus_driver_find(const char *name);
/* -EBUSY when already bound, -ENOENT for an unknown bus driver, -ENODEV for
 * an unregistered device, else bind's error. args may be NULL. */
int uvdpa_device_bind(struct uvdpa_device *dev, const char *bus, const struct uvdpa_bind_args *args,
		     char *err, size_t errlen);
int uvdpa_device_unbind(struct uvdpa_device *dev);	/* -ENOTCONN when not bound */
/* -ENOTCONN when not bound, -EOPNOTSUPP when the bus driver cannot tell. */
int uvdpa_device_bind_status(struct uvdpa_device *dev, struct uvdpa_bind_status *st);

/* Registers the vhost-user bus driver (src/bus/vhost_user_bus.c). */
int uvdpa_bus_vhost_user_register(void);
/* Registers the tap bus driver (src/bus/tap_bus.c): a bound net device
 * becomes a host network interface, uvdpa being its virtio driver. */
int uvdpa_bus_tap_register(void);


#endif
