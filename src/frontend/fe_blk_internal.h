/* Test frontend block load, private: the request slots and run state that
 * fe_blk.c (the load) and fe_blk_bad.c (malformed requests) share. */
#ifndef UVDPA_FE_BLK_INTERNAL_H
#define UVDPA_FE_BLK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/frontend.h"

/* Per request, in guest memory: the header, the status byte the device
 * writes, and a discard/write-zeroes range (each in its own 16 bytes). */
#define BLK_CTL_BYTES 64u
#define BLK_CTL_HDR 0u
#define BLK_CTL_STATUS 16u
#define BLK_CTL_RANGE 32u
#define BLK_STATUS_POISON 0xffu		/* what no device writes */

/* Per-sector generation of this run: 0 never written by it, BLK_GEN_UNKNOWN
 * after a failed write (contents undefined), else the write's sequence. */
#define BLK_GEN_UNKNOWN UINT32_MAX

enum blk_op { BLK_OP_READ, BLK_OP_WRITE, BLK_OP_FLUSH };

struct blk_slot {
	uint8_t *ctl, *data;
	uint64_t ctl_gpa, data_gpa;
	bool busy;
	enum blk_op op;
	uint16_t head;
	uint64_t block;		/* in bs units from the span's start */
	uint32_t wseq;		/* writes: the generation it writes */
	uint64_t t_submit;
};

struct blk_queue {
	unsigned int idx;
	struct fe_vring *vr;
	struct blk_slot *slots;
	uint16_t *free_slots;
	unsigned int nfree;
	uint16_t *slot_of_head;	/* per descriptor head: slot, UINT16_MAX none */
	uint64_t target;	/* reads and writes to submit (count mode) */
	uint64_t submitted;
	uint64_t seq_first, seq_end, seq_next;	/* sequential: this queue's blocks */
	uint64_t writes_unflushed;
	bool flush_wanted;
	uint64_t t_progress;	/* last completion, or start of a busy stretch */
	struct fe_blk_job_stats st;
};

struct fe_blk {
	struct fe_dev *dev;
	struct fe_blk_config cfg;
	struct fe_blk_geometry geo;
	unsigned int nq;
	struct blk_queue q[FE_MAX_QUEUE_PAIRS];
	uint32_t seg_size, nsegs;
	uint64_t first_lba;		/* the span's first sector */
	uint64_t span_sectors, nblocks;
	uint32_t block_sectors;		/* bs / 512 */
	uint32_t *gen;			/* per span sector (verify), see BLK_GEN_* */
	uint8_t *block_busy;		/* per block: a request on it is in flight */
	uint32_t wseq;			/* last write sequence handed out */
	uint32_t run_tag;		/* high half of every generation this run writes */
	uint64_t rng;
	uint64_t errors_logged;
	uint64_t t_start, t_end;
	uint64_t t_stop;		/* by time: no submission from then on; 0 by count */
	struct virtq_drv_buf *bufs;	/* chain scratch: queue size entries */
	/* --blk-bad: its own header and data area */
	uint8_t *bad_ctl, *bad_data;
	uint64_t bad_ctl_gpa, bad_data_gpa;
	uint32_t bad_data_len;
	unsigned int bad_stuck;		/* its requests the device never completed */
};

/* The generation written in the sector header for write sequence wseq. */
uint64_t blk_gen_value(const struct fe_blk *b, uint32_t wseq);
/* Sectors of one logical block. */
uint32_t blk_lb_sectors(const struct fe_blk *b);

#endif
