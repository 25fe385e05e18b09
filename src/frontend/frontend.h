/* Test frontend library: the VM side of a vhost-user port (memory, connection,
 * negotiation, split-ring driver, verified net traffic) for tools and tests. */
#ifndef UVDPA_FRONTEND_H
#define UVDPA_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vhost/vhost_user_proto.h"
#include "virtio/virtq_driver.h"

#define FE_MAX_QUEUE_PAIRS 32
#define FE_MAX_VRINGS (2 * FE_MAX_QUEUE_PAIRS)
#define FE_MAX_REGIONS 32		/* with CONFIGURE_MEM_SLOTS; 8 otherwise */
#define FE_MAX_QUEUE_SIZE 32768
#define FE_RAW_MAX_FDS 64		/* raw API may exceed the protocol's 8 */
#define FE_SOCK_PATH_MAX 108

/* ------------------------------------------------------------------ */
/* Guest memory (fe_mem.c)                                             */
/* ------------------------------------------------------------------ */

struct fe_mem_region {
	uint64_t gpa;		/* guest physical start */
	uint64_t size;
	uint64_t uaddr;		/* our VA: the userspace_addr we send */
	uint64_t mmap_offset;	/* offset in the memfd */
	uint64_t used;		/* bump allocator: bytes handed out */
	bool mapped;		/* announced to the current backend session */
};

struct fe_mem {
	int fd;			/* memfd backing all regions */
	uint8_t *base;
	uint64_t size;
	unsigned int nregions;
	struct fe_mem_region regions[FE_MAX_REGIONS];
};

/* Creates a memfd of size bytes split into nregions regions, each with a
 * distinct, non-adjacent guest-physical range. */
int fe_mem_init(struct fe_mem *mem, uint64_t size, unsigned int nregions);
void fe_mem_fini(struct fe_mem *mem);
/* Carves size bytes aligned to align from region (or, when it is full, from
 * any other region). Returns our VA and the guest physical address. */
void *fe_mem_alloc(struct fe_mem *mem, unsigned int region, uint64_t size, uint64_t align,
		   uint64_t *gpa);
/* Our VA for [gpa, gpa+len) when one region covers it whole, else NULL. */
void *fe_mem_gpa_to_va(const struct fe_mem *mem, uint64_t gpa, uint64_t len);
/* The region as vhost-user describes it. */
void fe_mem_region_describe(const struct fe_mem *mem, unsigned int idx,
			    struct vhost_user_mem_region *out);

/* ------------------------------------------------------------------ */
/* Transport (fe_conn.c) and backend channel (fe_backend_channel.c)    */
/* ------------------------------------------------------------------ */

struct fe_backend_stats {
	uint64_t config_change;		/* CONFIG_CHANGE_MSG served */
	uint64_t host_notifier;		/* VRING_HOST_NOTIFIER_MSG served */
	uint64_t unknown;		/* other or malformed requests */
	uint64_t replies;		/* acks we sent */
};

/* A doorbell page the backend mapped for a vring (VRING_HOST_NOTIFIER_MSG):
 * kicks are written there, as a guest writes its device's notify area. */
struct fe_notifier {
	void *page;		/* NULL: none, kicks use the eventfd */
	uint64_t size;
};

struct fe_conn {
	struct fe_notifier notifiers[FE_MAX_VRINGS];
	int sock;		/* session socket, -1 when not connected */
	int listen_fd;		/* server mode, -1 otherwise */
	int backend_fd;		/* our end of the backend channel, -1 none */
	bool server;
	bool peer_closed;	/* the backend closed (or reset) the session */
	char path[FE_SOCK_PATH_MAX];
	int reply_timeout_ms;
	struct fe_backend_stats backend;
	uint64_t msgs_sent, msgs_received;
};

/* Unmaps a vring's doorbell page, if any (fe_backend_channel.c). */
void fe_notifier_unmap(struct fe_notifier *n);

/* Initialises an unconnected conn. Server mode also binds and listens,
 * replacing a stale socket file. */
int fe_conn_init(struct fe_conn *c, const char *path, bool server);
/* Client: connects, retrying with back-off until timeout_ms. Server: waits
 * up to timeout_ms for the backend and accepts it. */
int fe_conn_establish(struct fe_conn *c, int timeout_ms);
/* Closes the session socket and the backend channel (listener kept). */
void fe_conn_close(struct fe_conn *c);
/* Closes everything; server mode removes the socket file. */
void fe_conn_fini(struct fe_conn *c);

/* Sends one message; payload_len bytes follow the header whatever hdr->size
 * says, so a lying size can be sent on purpose. At most FE_RAW_MAX_FDS. */
int fe_conn_send(struct fe_conn *c, const struct vhost_user_header *hdr, const void *payload,
		 size_t payload_len, const int *fds, int nfds);
/* Receives one message from the session socket, serving the backend channel
 * meanwhile. Returns 0, -ETIMEDOUT, -ECONNRESET when the backend closed
 * (peer_closed set), or -EPROTO for a message we cannot frame. Received fds
 * land in msg->fds (the caller owns them). */
int fe_conn_recv(struct fe_conn *c, struct vhost_user_msg *msg, int timeout_ms);
/* Serves backend-channel requests until timeout_ms passes (0: only what is
 * queued). Also notices a closed session. Returns 0 or -ECONNRESET. */
int fe_conn_poll(struct fe_conn *c, int timeout_ms);

/* Backend channel: creates the socketpair, returns the end to send (the
 * caller closes it after sending) and keeps the other in c->backend_fd. */
int fe_backend_channel_open(struct fe_conn *c);
/* Handles every request queued on the backend channel. 0, or -errno when
 * the channel broke (it is then closed; the session goes on). */
int fe_backend_channel_serve(struct fe_conn *c);

/* ---- Raw message API (tests send anything, including malformed) ----
 *
 * Typical use, on a bare connection or on a negotiated fe_dev's conn:
 *
 *	struct fe_conn c;
 *	struct vhost_user_msg reply;
 *	uint64_t v = 0;
 *
 *	fe_conn_init(&c, path, false);
 *	fe_conn_establish(&c, 2000);
 *	// SET_FEATURES announcing 4096 payload bytes but carrying 8:
 *	fe_raw_send(&c, VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 4096,
 *		    &v, sizeof(v), NULL, 0);
 *	if (fe_raw_wait_closed(&c, 1000)) ...	// backend dropped us: good
 *	// or expect a reply: fe_raw_recv(&c, &reply, 1000) == 1
 *	fe_conn_fini(&c);
 */

/* Sends header {request, flags, size_field} followed by payload_len bytes
 * of payload and nfds fds (fds are not closed). */
int fe_raw_send(struct fe_conn *c, uint32_t request, uint32_t flags, uint32_t size_field,
		const void *payload, size_t payload_len, const int *fds, int nfds);
/* Reads one message within timeout_ms: 1 when one arrived, 0 on timeout,
 * -ECONNRESET when the backend closed the connection, -EPROTO otherwise. */
int fe_raw_recv(struct fe_conn *c, struct vhost_user_msg *msg, int timeout_ms);
/* True when the backend closes the session within timeout_ms; stray
 * messages that arrive meanwhile are discarded. */
bool fe_raw_wait_closed(struct fe_conn *c, int timeout_ms);

/* ------------------------------------------------------------------ */
/* Rings in guest memory (fe_vring.c): the split-ring driver of        */
/* src/virtio/virtq_driver.h plus the session's kick and call eventfds */
/* ------------------------------------------------------------------ */

struct fe_vring {
	unsigned int index;
	struct virtq_driver vq;
	int kick_fd, call_fd;
	bool irq;		/* ask the device for calls (else suppress) */
	uint64_t kicks, calls;
	uint64_t notifier_kicks;	/* of kicks: written to the doorbell page */
	const struct fe_notifier *notifier;	/* the conn's slot for this vring */
	uint32_t stop_base;	/* GET_VRING_BASE reply at the last stop */
};

/* Allocates the ring in guest memory (region chosen by index) and its
 * bookkeeping; size must be a power of two <= FE_MAX_QUEUE_SIZE. */
int fe_vring_alloc(struct fe_vring *vr, struct fe_mem *mem, unsigned int index,
		   uint16_t size);
void fe_vring_free(struct fe_vring *vr);
/* Empties the ring (indexes 0, all descriptors free) and opens fresh kick
 * and call eventfds. */
int fe_vring_reset(struct fe_vring *vr, uint64_t features, bool irq);
void fe_vring_close_fds(struct fe_vring *vr);
/* Publishes pushed heads and kicks the device when it asked for it. */
void fe_vring_publish(struct fe_vring *vr);
/* Drains the call eventfd; returns how many calls it counted. */
uint64_t fe_vring_call_drain(struct fe_vring *vr);

/* ------------------------------------------------------------------ */
/* Device session: negotiation, memory messages, teardown (fe_dev.c)   */
/* ------------------------------------------------------------------ */

/* The dirty log as QEMU keeps it during a migration (fe_log.c): one bit per
 * 4 KiB guest-physical page, in a memfd shared with the backend; and our own
 * record of what the device wrote, to check the log against.
 *
 * Timing is in stamps: the stamp moves on at every sync (QEMU's read-and-
 * clear of the log) and every LOG_ALL change. A buffer made available at
 * stamp s can only be written, and its bits only set, after s; so a page
 * the device wrote into such a buffer must be found set by a sync at stamp
 * s or later. The check is exact for a correct backend whatever the timing
 * (no false failure) and catches a bit set only before the write, a bit
 * set once and never again after a sync cleared it, or no bit at all. */
#define FE_LOG_PAGE_SHIFT 12
#define FE_LOG_SHOW_MISSING 8

struct fe_log {
	int fd;				/* -1: no log */
	uint8_t *map;			/* shared with the backend */
	uint64_t size;			/* bytes of bitmap: ceil(max_gpa / 4 KiB / 8) */
	uint32_t *need;			/* per page: latest stamp it was written at, 0 none */
	uint32_t *seen;			/* per page: latest stamp a sync found its bit */
	bool on;			/* LOG_ALL in effect */
	uint32_t stamp;			/* now; starts at 1 */
	uint32_t since;			/* logging (re)started at this stamp */
	unsigned int base_messages;	/* SET_LOG_BASE sent, all logs */
	unsigned int logs;		/* logs made (a retry makes a new one) */
	unsigned int syncs;		/* read-and-clear passes, the final one included */
	unsigned int changes;		/* LOG_ALL switched off or on again */
};

struct fe_log_result {
	uint64_t pages_written;		/* pages the device wrote since logging (re)started */
	uint64_t pages_logged;		/* pages a sync found set in that time (any reason) */
	uint64_t pages_missing;		/* written and not set by a sync after the write */
	uint64_t pages_stale;		/* of the missing: set, but only before the write */
	uint64_t first_missing[FE_LOG_SHOW_MISSING];	/* guest physical addresses */
	bool first_stale[FE_LOG_SHOW_MISSING];
	unsigned int base_messages, syncs, changes;
};

/* ---- The bookkeeping alone (no messages; what the unit tests drive) ---- */

/* A log for every page below the highest guest-physical address of mem,
 * empty, logging off. */
int fe_log_init(struct fe_log *l, const struct fe_mem *mem);
/* Logging (re)starts: the log and the record are cleared. */
void fe_log_begin(struct fe_log *l);
/* Logging stops (a cancelled migration): nothing before counts any more. */
void fe_log_end(struct fe_log *l);
/* The stamp to give a buffer made available now; 0 while not logging. */
uint32_t fe_log_stamp(const struct fe_log *l);
/* The device wrote [gpa, gpa + len) into a buffer made available at stamp:
 * recorded when logging and the buffer is from this logging period. */
void fe_log_record(struct fe_log *l, uint64_t gpa, uint64_t len, uint32_t stamp);
/* QEMU's sync: reads and clears the log word by word (atomically, the
 * backend writes meanwhile), then the stamp moves on. */
void fe_log_sync(struct fe_log *l);
/* Compares the record with what the syncs found (sync first, after the
 * rings stopped, for QEMU's final pass). */
void fe_log_compare(const struct fe_log *l, struct fe_log_result *res);
void fe_log_fini(struct fe_log *l);

/* ---- QEMU's messages (need a negotiated session) ---- */

struct fe_dev;

/* What --log-check needs of the backend: LOG_ALL offered and LOG_SHMFD
 * negotiated. -ENOTSUP (and why, in the log) otherwise. */
int fe_log_supported(const struct fe_dev *dev);
/* Logging on, as QEMU's log_global_start does it, once per queue pair
 * (vhost device): SET_LOG_BASE (the reply read), SET_FEATURES with
 * LOG_ALL, SET_VRING_ADDR with the LOG flag and the used ring's address on
 * the pair's two rings. The log is new when there is none or new_log (each
 * pair gets its own fd of it, as QEMU's sends do); otherwise the current
 * one, cleared, is kept and no SET_LOG_BASE is sent. */
int fe_log_start(struct fe_dev *dev, bool new_log);
/* Logging off, as a cancelled migration does: per pair SET_FEATURES
 * without LOG_ALL and SET_VRING_ADDR without LOG. The log stays mapped. */
int fe_log_stop(struct fe_dev *dev);
/* After the rings stopped (GET_VRING_BASE): the final sync, then compare. */
void fe_log_check(struct fe_dev *dev, struct fe_log_result *res);

/* What the session drives: the rings it sets up and the MQ bit it needs. */
enum fe_dev_kind {
	FE_DEV_NET = 0,		/* queue_pairs pairs: vrings RX 2i, TX 2i + 1 */
	FE_DEV_BLK,		/* queue_pairs request queues: vring i each */
};

struct fe_dev_config {
	enum fe_dev_kind kind;
	const char *socket_path;
	bool server;
	int connect_timeout_ms;
	int reply_timeout_ms;
	unsigned int queue_pairs;	/* blk: request queues */
	uint16_t queue_size;
	uint64_t features;		/* driver's wish, ANDed with the backend's */
	uint64_t protocol_features;	/* same */
	bool need_reply;		/* NEED_REPLY on requests without a reply */
	bool mem_slots;			/* ADD_MEM_REG instead of SET_MEM_TABLE */
	bool set_status;		/* negotiate STATUS (then SET_STATUS is sent) */
	bool irq;			/* event-driven completions */
	uint64_t mem_size;
	unsigned int mem_regions;
};

struct fe_dev {
	struct fe_dev_config cfg;
	struct fe_conn conn;
	struct fe_mem mem;
	uint64_t backend_features, backend_protocol_features;
	uint64_t features, protocol_features;	/* negotiated */
	uint64_t backend_queue_num, max_mem_slots;
	uint64_t status;			/* last SET_STATUS value */
	unsigned int nvrings;
	struct fe_vring vrings[FE_MAX_VRINGS];
	unsigned int net_hdr_len;		/* 10 or 12 */
	bool running;				/* negotiated, rings started */
	unsigned int sessions;			/* successful negotiations */
	/* The last request: when it was sent, and when its reply or ack came
	 * (0: none); and for the last start, those of its last message (the
	 * one that made the device startable: DRIVER_OK, or the last ring's). */
	uint64_t req_sent_ns, req_reply_ns;
	uint64_t start_sent_ns, start_reply_ns;
	unsigned int backend_disconnects;	/* sessions the backend ended */
	struct fe_log log;			/* live migration (fe_log.c) */
};

/* Default driver feature wish for net (modern, MRG_RXBUF, EVENT_IDX, ...). */
uint64_t fe_default_features(unsigned int queue_pairs);
uint64_t fe_default_protocol_features(void);

/* Sets up memory, rings and the socket (server: listening). */
int fe_dev_init(struct fe_dev *dev, const struct fe_dev_config *cfg);
void fe_dev_fini(struct fe_dev *dev);
/* Connects (client) or accepts (server) within cfg.connect_timeout_ms. */
int fe_dev_connect(struct fe_dev *dev);
/* Full handshake up to rings enabled and DRIVER_OK; rings start empty. */
int fe_dev_negotiate(struct fe_dev *dev);
/* GET_VRING_BASE on every ring (stop_base filled). */
int fe_dev_stop(struct fe_dev *dev);
/* Closes the session (socket, backend channel, ring fds). */
void fe_dev_disconnect(struct fe_dev *dev);
/* disconnect + connect + negotiate, rings emptied. */
int fe_dev_reconnect(struct fe_dev *dev);

/* SET_VRING_ADDR for vr, with the LOG flag and the used ring's address
 * when log. */
int fe_dev_set_vring_addr(struct fe_dev *dev, const struct fe_vring *vr, bool log);
/* Sends one request and, when it has one or NEED_REPLY is used, checks the
 * reply. reply may be NULL. The request's own NEED_REPLY choice follows
 * cfg.need_reply once REPLY_ACK is negotiated. */
int fe_dev_request(struct fe_dev *dev, uint32_t request, const void *payload, size_t len,
		   const int *fds, int nfds, struct vhost_user_msg *reply);
/* A request without payload whose reply is one u64 (GET_FEATURES,
 * GET_STATUS, ...): -EPROTO for a reply of another size. */
int fe_dev_request_u64(struct fe_dev *dev, uint32_t request, uint64_t *out);
/* Memory hot-plug with CONFIGURE_MEM_SLOTS. */
int fe_dev_mem_add_region(struct fe_dev *dev, unsigned int idx);
int fe_dev_mem_remove_region(struct fe_dev *dev, unsigned int idx);

/* GET_CONFIG (the CONFIG protocol feature): size bytes of the device's
 * config space from offset into buf. The reply must echo offset and size;
 * -EREMOTEIO when the backend answers with its error (an empty payload). */
int fe_dev_get_config(struct fe_dev *dev, uint32_t offset, void *buf, uint32_t size);

/* "VERSION_1|MRG_RXBUF|..." into buf: the bit names of a device of kind. */
const char *fe_dev_features_str(enum fe_dev_kind kind, uint64_t features, char *buf, size_t len);
/* The same for net. */
const char *fe_features_str(uint64_t features, char *buf, size_t len);

/* ------------------------------------------------------------------ */
/* Verifiable packet pattern (fe_pattern.c)                            */
/* ------------------------------------------------------------------ */

/* Frame layout (little-endian): dst MAC 02:75:76:64:70:61, src MAC
 * 02:75:76:64:70:62, ethertype 0x88b5, u32 magic 0x50445655 ("UVDP"),
 * u16 queue pair, u16 frame length, u64 sequence number, then a byte stream
 * seeded by (queue, seq) as fe_pattern.c defines. A traffic source may
 * generate the same frames by linking these functions. */
#define FE_PATTERN_HDR_LEN 30u		/* ethernet + magic/queue/len/seq */
#define FE_FRAME_MIN 60u
#define FE_FRAME_MAX 65535u
#define FE_PATTERN_MAGIC 0x50445655u

/* Frame size for seq in [min, max], deterministic. */
uint32_t fe_pattern_size(uint64_t seq, uint32_t min, uint32_t max);
void fe_pattern_fill(uint8_t *frame, uint32_t len, uint16_t queue, uint64_t seq);
/* 0 when frame is a well-formed pattern frame of length len; *queue, *seq
 * filled when the header part is readable. -EBADMSG otherwise. */
int fe_pattern_check(const uint8_t *frame, uint32_t len, uint16_t *queue, uint64_t *seq);

/* The splitmix64 finaliser the patterns are made of (every input bit moves
 * every output bit); also a cheap random number step: x = fe_mix64(s += odd). */
uint64_t fe_mix64(uint64_t x);

/* 512-byte sectors of a block device (little-endian): u32 magic
 * FE_BLK_SECTOR_MAGIC ("UVBK"), u32 seed, u64 LBA, u64 generation (never 0),
 * u32 check of those four, u32 zero, then 480 bytes of a stream seeded by
 * (seed, LBA, generation). Another process that knows the seed can check a
 * sector without knowing what else was written. */
#define FE_BLK_SECTOR 512u
#define FE_BLK_SECTOR_MAGIC 0x4b425655u

enum fe_blk_check {
	FE_BLK_SECTOR_OK = 0,
	FE_BLK_SECTOR_ZERO,		/* all zeros */
	FE_BLK_SECTOR_NO_MAGIC,		/* not a pattern sector */
	FE_BLK_SECTOR_BAD_HEADER,	/* the header's check fails: torn or corrupt */
	FE_BLK_SECTOR_WRONG_SEED,
	FE_BLK_SECTOR_WRONG_LBA,	/* another LBA's sector: misdirected I/O */
	FE_BLK_SECTOR_WRONG_GEN,	/* an older (or newer) write of this LBA */
	FE_BLK_SECTOR_BAD_DATA,		/* header right, payload not */
};

void fe_blk_sector_fill(uint8_t *sector, uint32_t seed, uint64_t lba, uint64_t gen);
/* Checks one sector against (seed, lba, gen); gen 0 accepts any generation
 * (a sector another run wrote). *found_gen: the generation its header
 * holds (0 when it has none). */
enum fe_blk_check fe_blk_sector_check(const uint8_t *sector, uint32_t seed, uint64_t lba,
				      uint64_t gen, uint64_t *found_gen);
const char *fe_blk_check_str(enum fe_blk_check c);
bool fe_blk_is_zero(const uint8_t *p, size_t len);

/* ------------------------------------------------------------------ */
/* Latency histogram (fe_lat.c)                                        */
/* ------------------------------------------------------------------ */

/* Log-linear: exact below 128, then 64 buckets per power of two, so a
 * percentile is within 1/64 (1.6 %) of the true sample. */
#define FE_LAT_SUB_BITS 6
#define FE_LAT_BUCKETS ((64 - FE_LAT_SUB_BITS + 1) << FE_LAT_SUB_BITS)

struct fe_lat_hist {
	uint64_t count, sum, min, max;
	uint64_t bucket[FE_LAT_BUCKETS];
};

void fe_lat_reset(struct fe_lat_hist *h);
void fe_lat_add(struct fe_lat_hist *h, uint64_t v);
void fe_lat_merge(struct fe_lat_hist *into, const struct fe_lat_hist *from);
/* Nearest-rank percentile (pct in 0..100; 0 gives the minimum, 100 the
 * maximum), clamped to [min, max]; 0 for an empty histogram. */
uint64_t fe_lat_percentile(const struct fe_lat_hist *h, double pct);
double fe_lat_mean(const struct fe_lat_hist *h);

/* ------------------------------------------------------------------ */
/* Block load over vhost-user-blk (fe_blk.c, fe_blk_bad.c)             */
/* ------------------------------------------------------------------ */

/* Config bytes read with GET_CONFIG: struct virtio_blk_config up to
 * write_zeroes_may_unmap and its padding (QEMU's layout; backends refuse
 * more than they know). */
#define FE_BLK_CONFIG_LEN 60u
#define FE_BLK_MAX_SEGS 4096u

/* The device as its negotiated features and config describe it. */
struct fe_blk_geometry {
	uint64_t capacity;		/* 512-byte sectors */
	uint32_t size_max;		/* bytes per data segment, 0: no limit */
	uint32_t seg_max;		/* data segments per request, 0: no limit */
	uint32_t blk_size;		/* logical block: 512 when not offered */
	uint16_t num_queues;		/* 1 without MQ */
	bool ro, flush, has_wce, discard, write_zeroes;
	uint8_t wce;
	uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
};

/* Default driver feature wish for blk: VERSION_1, EVENT_IDX, SIZE_MAX,
 * SEG_MAX, BLK_SIZE, FLUSH, CONFIG_WCE, RO, DISCARD, WRITE_ZEROES, MQ and
 * PROTOCOL_FEATURES; protocol: the net defaults plus CONFIG. */
uint64_t fe_blk_default_features(void);
uint64_t fe_blk_default_protocol_features(void);

/* Decodes len bytes of config under the negotiated features. -EINVAL, with
 * *why, for a device no request can be built for (capacity 0, a block size
 * that is not a power of two of at least 512, a 1-sector size_max, ...). */
int fe_blk_geometry_parse(struct fe_blk_geometry *g, const void *config, size_t len,
			  uint64_t features, const char **why);

/* The data segment size for requests of bs bytes: want (0: as large as the
 * device takes) capped by size_max and rounded down to 512; -E2BIG when bs
 * would then need more than seg_max (or FE_BLK_MAX_SEGS) segments, -EINVAL
 * for a bs that is 0 or not a multiple of 512. */
int fe_blk_seg_size(const struct fe_blk_geometry *g, uint32_t bs, uint32_t want,
		    uint32_t *seg_size);

/* One request's descriptor chain: the 16-byte header (device-readable),
 * data_len bytes of data in segments of at most seg_size (device-writable
 * when data_in), then the status byte (device-writable) unless no_status. */
struct fe_blk_chain {
	uint64_t hdr_addr;
	uint64_t data_addr;
	uint32_t data_len;		/* 0: no data descriptor */
	uint32_t seg_size;		/* 0: one segment */
	bool data_in;
	uint64_t status_addr;
	bool no_status;
};

/* Fills bufs with the chain; returns how many, -E2BIG beyond max. */
int fe_blk_chain_bufs(const struct fe_blk_chain *c, struct virtq_drv_buf *bufs, unsigned int max);
/* struct virtio_blk_outhdr at p: type, ioprio 0, sector (little-endian). */
void fe_blk_hdr_put(uint8_t *p, uint32_t type, uint64_t sector);
/* "OK", "IOERR", "UNSUPP" or "0x.." for a status byte. */
const char *fe_blk_status_str(uint8_t status, char *buf, size_t len);

enum fe_blk_rw {
	FE_BLK_RW_READ, FE_BLK_RW_WRITE, FE_BLK_RW_RANDREAD, FE_BLK_RW_RANDWRITE,
	FE_BLK_RW_RANDRW, FE_BLK_RW_RW,
};

int fe_blk_rw_parse(const char *s, enum fe_blk_rw *rw);
const char *fe_blk_rw_name(enum fe_blk_rw rw);

struct fe_blk_config {
	enum fe_blk_rw rw;
	unsigned int rwmix_read;	/* randrw, rw: percent of requests that read */
	uint32_t bs;			/* bytes per request, a multiple of 512 */
	uint32_t seg_size;		/* 0: the largest segment the device takes */
	unsigned int iodepth;		/* requests in flight per queue */
	uint64_t count;			/* reads and writes, all queues; 0 with seconds
					 * 0: one pass over the span */
	double seconds;
	uint64_t offset, span;		/* bytes; span 0: to the end of the device */
	bool verify;			/* pattern writes, every read checked */
	bool verify_fill;		/* sectors this run did not write carry
					 * fill_seed's pattern (another run wrote them) */
	uint32_t fill_seed;
	uint32_t seed;			/* of the data written and of the offsets */
	uint64_t fsync_every;		/* a FLUSH on a queue after each N of its writes
					 * completed (and one at the end); 0: none */
	int stall_ms;			/* a queue with requests and no completion for
					 * so long fails the run */
	int bad_timeout_ms;		/* --blk-bad: wait for one request */
};

struct fe_blk_job_stats {
	uint64_t reads, writes, flushes;
	uint64_t read_bytes, write_bytes;
	uint64_t errors;		/* requests that failed: bad status, impossible
					 * used entry, or read data that did not verify */
	uint64_t bad_sectors;		/* of those reads: sectors that did not verify */
	uint64_t verified;		/* sectors read and found as expected */
	uint64_t unverified;		/* sectors read with nothing to expect */
	uint64_t len_mismatch;		/* used lengths other than the bytes the device
					 * had to write (drivers ignore them: no error) */
	uint64_t ns;			/* first submission to last completion */
	struct fe_lat_hist lat;		/* reads and writes, ns */
	struct fe_lat_hist flush_lat;
};

struct fe_blk;

/* Guest memory a load of cfg needs on queues rings of qsize entries (its
 * buffers and rings, with room for --blk-bad): size fe_dev_config.mem_size. */
uint64_t fe_blk_mem_bytes(const struct fe_blk_config *cfg, unsigned int queues, uint16_t qsize);
/* On a negotiated FE_DEV_BLK device: reads the config (GET_CONFIG), checks
 * cfg against it and lays out every request in guest memory. NULL (logged)
 * when the load cannot run on this device. */
struct fe_blk *fe_blk_new(struct fe_dev *dev, const struct fe_blk_config *cfg);
void fe_blk_free(struct fe_blk *b);
const struct fe_blk_geometry *fe_blk_get_geometry(const struct fe_blk *b);
/* After each (re)negotiation: every request slot free on the fresh rings. */
void fe_blk_start(struct fe_blk *b);
/* Runs the load. 0 when it ran to the end (failed requests and data
 * mismatches are counted in the stats), -ETIMEDOUT when a queue stalled,
 * -EIO when the device broke a ring, -ECONNRESET when it left. */
int fe_blk_run(struct fe_blk *b);
/* The high half of the generation of every sector this run writes (a
 * per-run random tag, so runs that use the same seed write apart). */
uint32_t fe_blk_run_tag(const struct fe_blk *b);
/* Figures of queue q, or of the whole run for q < 0. */
void fe_blk_get_stats(const struct fe_blk *b, int q, struct fe_blk_job_stats *st);

/* --blk-bad: one malformed request of each kind, its status checked, then a
 * normal write and read (read only on a read-only device). */
enum fe_blk_bad_kind {
	FE_BLK_BAD_PAST_END, FE_BLK_BAD_NO_STATUS, FE_BLK_BAD_TOO_MANY_SEGS,
	FE_BLK_BAD_RO_WRITE, FE_BLK_BAD_UNKNOWN_TYPE, FE_BLK_BAD_GET_ID,
	FE_BLK_BAD_DISCARD, FE_BLK_BAD_WRITE_ZEROES,
	FE_BLK_BAD_KINDS
};

#define FE_BLK_BAD_FAIL 0		/* the device answered wrong */
#define FE_BLK_BAD_PASS 1		/* as it must, and it served normal I/O after */
#define FE_BLK_BAD_NA 2			/* does not apply (feature not negotiated, ...) */

int fe_blk_bad_parse(const char *s, enum fe_blk_bad_kind *kind);
const char *fe_blk_bad_name(enum fe_blk_bad_kind kind);
/* Runs one kind on queue 0 (after fe_blk_start, nothing in flight) at the
 * load's offset (--offset: the check writes there), printing a line per step
 * to out ("blk-bad: kind=K step=S ... result=ok|FAIL|accepted|n/a", then
 * "blk-bad: kind=K result=PASS|FAIL|n/a"). Returns FE_BLK_BAD_*, or -errno
 * when the session was lost for good (no reconnect served). A device that
 * stops serving after a request without status is reset by reconnecting. */
int fe_blk_bad_run(struct fe_blk *b, enum fe_blk_bad_kind kind, FILE *out);

/* ------------------------------------------------------------------ */
/* Net traffic (fe_net.c)                                              */
/* ------------------------------------------------------------------ */

struct fe_net_config {
	uint32_t min_size, max_size;	/* ethernet frame, no virtio header */
	uint64_t count;			/* packets to send (rx-only: receive); 0 = by time */
	double seconds;			/* when count == 0 */
	bool tx, rx;
	bool verify;			/* check every received frame's pattern */
	bool split_hdr;			/* virtio-net header in its own descriptor */
	uint32_t rx_buf_size;		/* per RX descriptor */
	unsigned int window;		/* max packets in flight per pair; 0 = auto */
	unsigned int burst;
	uint64_t pps;			/* frames per second per pair; 0 = as fast as it goes */
	int drain_ms;			/* wait for stragglers after the last TX */
	bool reconnect;			/* on backend disconnect: reconnect, go on */
	uint64_t max_lost;		/* rx-only: frames the wire may drop (a device
					 * reset drops what arrives meanwhile) */
	/* Called from the traffic loop, between two rounds over the rings,
	 * each time tick_every more frames were sent (all pairs; rx-only:
	 * received) or tick_ms passed (0: not by that measure), with that
	 * total: what a test does under traffic (dirty logging on, syncs, off
	 * and on again). A negative return ends the run. */
	int (*tick)(void *arg, uint64_t sent);
	void *tick_arg;
	uint64_t tick_every;
	unsigned int tick_ms;
};

struct fe_net_stats {
	uint64_t tx_pkts, tx_bytes;
	uint64_t rx_pkts, rx_bytes;	/* verified good */
	uint64_t rx_bad;		/* header, length or pattern wrong */
	uint64_t rx_lost;		/* expected and never arrived */
	uint64_t rx_ooo;		/* arrived behind a later sequence number */
	uint64_t reset_drops;		/* in flight when the backend went away */
	uint64_t ring_errors;		/* device returned impossible used entries */
	uint64_t kicks, calls;		/* calls: call-eventfd signals counted */
	uint64_t tx_ns, rx_ns;		/* first TX to last TX / last RX */
	uint64_t first_rx_ns;		/* when the first good frame arrived (0: none) */
	unsigned int reconnects;
};

/* One queue pair's share. Frames and bytes count what this pair's TX ring
 * sent and what arrived good on its RX ring. Calls are call-eventfd signals
 * counted on each ring (in interrupt mode: the interrupts that let the
 * frontend look at the ring); catch-ups are the times a ring had completed
 * entries when interrupts were re-armed, so it was looked at without a call,
 * as the virtio re-enable protocol requires. */
struct fe_net_queue_stats {
	uint64_t tx_pkts, tx_bytes;
	uint64_t rx_pkts, rx_bytes;
	uint64_t tx_kicks, rx_kicks;
	uint64_t tx_notifier_kicks, rx_notifier_kicks;	/* of the kicks: via the doorbell page */
	uint64_t tx_calls, rx_calls;
	uint64_t tx_catchups, rx_catchups;
};

struct fe_net;

/* Buffers for every queue pair in guest memory; call once per device. */
struct fe_net *fe_net_new(struct fe_dev *dev, const struct fe_net_config *cfg);
void fe_net_free(struct fe_net *net);
/* Posts RX buffers on the freshly started rings (after each negotiate). */
int fe_net_start(struct fe_net *net);
/* Runs traffic as configured (cfg.count packets or cfg.seconds). Can be
 * called again with more to send; stats accumulate. */
int fe_net_run(struct fe_net *net, uint64_t count, double seconds);
void fe_net_get_stats(const struct fe_net *net, struct fe_net_stats *st);
/* Pair pair's figures; -EINVAL when there is no such pair. */
int fe_net_get_queue_stats(const struct fe_net *net, unsigned int pair,
			   struct fe_net_queue_stats *qs);
/* True when everything sent was received and verified (loopback), or
 * everything expected arrived (rx-only), with no bad frame. */
bool fe_net_verified(const struct fe_net *net);

#endif
