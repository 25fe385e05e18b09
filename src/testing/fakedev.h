/* The one fake vDPA device of the tests: it records every device-op call as
 * a line of text, keeps a config space and typed per-queue statistics, and
 * (net, given an event loop) loops each TX ring's packets back to the RX
 * ring of its pair on the device-side virtqueue library. uvdpad's test/null
 * mgmtdevs, the uvdpa-testdev program and the unit tests' recording device
 * are built on it. Private header: nothing here is public API. */
#ifndef UVDPA_TESTING_FAKEDEV_H
#define UVDPA_TESTING_FAKEDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "uvdpa/vdpa.h"

#define FAKEDEV_MAX_VRINGS 64

struct uvdpa_loop;
struct fakedev;

/* Gets each recorded line (no newline), on the thread that called the op. */
typedef void fakedev_record_fn(void *opaque, const char *line);

struct fakedev_params {
	const char *name;
	enum uvdpa_dev_type type;	/* UVDPA_TYPE_NET or UVDPA_TYPE_BLK */
	uint64_t features;		/* offered virtio features */
	uint64_t protocol_features;	/* offered vhost-user protocol features (0: all
					 * the bus implements) */
	uint32_t queues;		/* queue pairs (net) or queues (blk), >= 1 */
	const void *config;		/* initial config space (NULL: zeroes) */
	uint32_t config_len;		/* its size, <= FAKEDEV_CONFIG_MAX */
	/* Net only: run the loopback datapath on this loop (NULL: no datapath;
	 * the rings are only recorded). */
	struct uvdpa_loop *loop;
	fakedev_record_fn *record;	/* NULL: record nothing */
	void *record_opaque;
	/* Also record what the session looked like (after dev_conf: "conf ..."
	 * and one "vring ..." line per ring; after dev_close: "close ..." with
	 * the loopback counters; "get_queue_num N"). */
	bool record_detail;
};
#define FAKEDEV_CONFIG_MAX 256

/* Lines recorded for each op, always:
 *   get_config OFF LEN | set_config OFF LEN | dev_conf | dev_close |
 *   set_vring_state IDX 0|1 | set_features 0xHEX | migration_done [MAC] |
 *   get_notify_area IDX | vring_broken IDX WHY (loopback only)
 * With record_detail, in addition (before the dev_conf / dev_close line, so
 * that a reader who saw that line finds them):
 *   conf n=N nr_vring=N features=0xHEX regions=N
 *   vring I ready=0 | vring I ready=1 size=N desc_gpa=0x.. avail_gpa=0x..
 *        used_gpa=0x.. base=N kickfd=0|1 callfd=0|1 gpa_ok=0|1
 *   close n=N looped_pkts=N looped_bytes=N dropped=N
 *   get_queue_num N */

/* A new device, not registered (uvdpa_device_register(fakedev_vdpa(f))).
 * NULL with errno set on bad parameters or no memory. */
struct fakedev *fakedev_new(const struct fakedev_params *p);
/* Frees an unregistered device (dev_close must have run, if dev_conf did). */
void fakedev_free(struct fakedev *f);

struct uvdpa_device *fakedev_vdpa(struct fakedev *f);
/* The fake device behind dev (dev->priv), NULL if dev is not one. */
struct fakedev *fakedev_of(struct uvdpa_device *dev);

/* The device's config space (get_config reads it, set_config writes it). */
uint8_t *fakedev_config(struct fakedev *f, uint32_t *len);
/* The session between dev_conf and dev_close, else NULL. */
struct uvdpa_session *fakedev_session(struct fakedev *f);

/* Knobs for unit tests. */
/* What get_features / get_protocol_features (0: all the bus implements) /
 * get_queue_num return from now on. -EINVAL: more rings than
 * FAKEDEV_MAX_VRINGS. */
void fakedev_set_features(struct fakedev *f, uint64_t features);
void fakedev_set_protocol_features(struct fakedev *f, uint64_t features);
int fakedev_set_queues(struct fakedev *f, uint32_t queues);
/* get_notify_area returns fd, offset + vring * 4096, size (fd < 0: -ENOTSUP,
 * the default). */
void fakedev_set_notify_area(struct fakedev *f, int fd, uint64_t offset, uint64_t size);
/* What set_features returns after recording (default 0). */
void fakedev_set_features_result(struct fakedev *f, int ret);
/* dev_close hands back last_avail = avail + ring, last_used = used + ring
 * for every ring of the session (uvdpa_session_vring_set_base). */
void fakedev_set_hand_back(struct fakedev *f, uint16_t avail, uint16_t used);

struct fakedev_counters {
	unsigned int dev_conf, dev_close;	/* calls so far */
	uint64_t looped_pkts, looped_bytes, dropped;
};
void fakedev_get_counters(const struct fakedev *f, struct fakedev_counters *c);

/* Default config spaces: a net config (MAC, link up, queues, MTU) and a blk
 * config (capacity in bytes, 512-byte blocks, queues). Return the size. */
uint32_t fakedev_net_config(void *buf, const uint8_t mac[6], uint16_t queue_pairs, uint16_t mtu);
uint32_t fakedev_blk_config(void *buf, uint64_t capacity_bytes, uint16_t queues);

#endif
