/* The device-side virtqueue tests' harness (virtq_harness.c): a fake guest
 * memory of discontiguous regions with guard bytes, the driver's view of the
 * rings, and the queue under test. Shared by test_virtq*.c. */
#ifndef UVDPA_TEST_VIRTQ_HARNESS_H
#define UVDPA_TEST_VIRTQ_HARNESS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_config.h>

#include "virtio/virtio_net_hdr.h"
#include "virtio/virtq.h"


#define GUARD 256		/* canary bytes on both sides of every region */
#define GUARD_BYTE 0xA5
#define NREGIONS 4
/* Guest layout: rings in R0; R1 and R2 adjacent in guest space but separate
 * host allocations (a buffer can cross from one to the other); R3 read-only;
 * everything else is a hole. */
#define R0 0x10000ull
#define R0_SIZE 0x10000ull
#define R1 0x100000ull
#define R1_SIZE 0x10000ull
#define R2 (R1 + R1_SIZE)
#define R2_SIZE 0x10000ull
#define R3 0x200000ull
#define R3_SIZE 0x1000ull
#define HOLE 0x150000ull
#define DESC_GPA R0
#define AVAIL_GPA (R0 + 0x8000)
#define USED_GPA (R0 + 0xa000)
/* Ring addresses seen through ring_translate in the "frontend VA" test. */
#define UVA_OFFSET 0x7f0000000000ull
#define MAX_RECORDS 8192
#define F(bit) (1ull << (bit))
#define F_DEFAULT (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC))

struct region {
	uint64_t gpa, size;
	bool writable;
	uint8_t *alloc;		/* GUARD + size + GUARD */
	uint8_t *host;
};

struct range {
	uint64_t addr, len;
	bool write;
};

struct fake_mem {
	struct region r[NREGIONS];
	/* translate calls made by the library */
	unsigned int ntr;
	struct range tr[MAX_RECORDS];
	/* log calls */
	unsigned int nlog;
	struct range log[MAX_RECORDS];
	bool overreport;	/* report contig beyond len (clamping test) */
	/* Called inside translate, to change guest memory mid-walk. */
	void (*hook)(uint64_t addr, uint64_t len);
};

extern struct fake_mem mem;
extern struct virtq vq;
extern struct virtq_elem_buf *eb;
extern uint16_t drv_avail_idx;
extern uint16_t qsize;

struct region *find_region(uint64_t addr);
void *fake_translate(void *opaque, uint64_t addr, uint64_t len, bool write, uint64_t *contig);
void *fake_ring_translate(void *opaque, uint64_t uva, uint64_t len, bool write,
				 uint64_t *contig);
void fake_log(void *opaque, uint64_t addr, uint64_t len);
void region_init(struct region *r, uint64_t gpa, uint64_t size, bool writable);
void assert_guards_intact(void);
void guest_write(uint64_t gpa, const void *src, size_t len);
void guest_read(uint64_t gpa, void *dst, size_t len);
void *host_of(uint64_t gpa);
void w16(uint64_t gpa, uint16_t v);
uint16_t r16(uint64_t gpa);
uint32_t r32(uint64_t gpa);
void desc_at(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next);
void drv_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
void drv_set_avail_idx(uint16_t idx);
void drv_avail(uint16_t head);
void drv_set_avail_flags(uint16_t flags);
void drv_set_used_event(uint16_t v);
uint16_t drv_used_idx(void);
uint16_t drv_used_flags(void);
uint16_t drv_avail_event(void);
void drv_used_elem(uint16_t slot, uint32_t *id, uint32_t *len);
struct virtq_config make_cfg(uint16_t size, uint64_t features);
void vq_init(uint16_t size, uint64_t features);
void reset_records(void);
void assert_logged(unsigned int i, uint64_t addr, uint64_t len);
bool was_translated(uint64_t addr, uint64_t len);
uint8_t *snapshot(void);
void assert_unchanged(uint8_t *snap);
void expect_pop_breaks(int err, enum virtq_error reason);
int setup(void **state);
int teardown(void **state);

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#endif
