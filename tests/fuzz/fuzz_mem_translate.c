/* libFuzzer target for the pure helpers behind translation and dirty
 * logging: vu_mem_lookup() over a region table built from the input, and
 * vu_log_set_bits() on a real bitmap of an input-chosen size. Each result is
 * checked against an independent model; a violation traps.
 *
 * Input format (little endian; gen_seeds.py writes it):
 *   u8 nregions (mod VU_MAX_MEM_SLOTS + 1)
 *   per region: u64 gpa, u64 size, u64 uaddr (size trimmed so that neither
 *               gpa + size nor uaddr + size wraps, as SET_MEM_TABLE ensures)
 *   u16 log_size (& 0x7ff bytes), u8 fill byte for the bitmap
 *   queries until the input ends (at most MAX_QUERIES), u8 op:
 *     op & 1 == 0: lookup. bit 1: by uaddr (else gpa); bit 3: contig NULL;
 *       bit 2: u8 sel, u64 v: addr near region sel (bit 4: its end - (v &
 *       0xffff), else its start + (v & 0xffff)); else u64 addr. Then u64 len.
 *     op & 1 == 1: log. u64 gpa, u64 len; bit 1: gpa &= 0xffffff (inside a
 *       small log); bit 2: len = UINT64_MAX - (len & 0xffff) (wraps).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "uvdpa/vhost_user.h"
#include "vhost/vu_private.h"

#define MAX_QUERIES 128
#define LOG_SIZE_MASK 0x7ffu

static uint64_t key_of(const struct vu_mem_region *r, enum vu_addr_kind kind)
{
	return kind == VU_ADDR_GPA ? r->gpa : r->uaddr;
}

static bool contains(const struct vu_mem_region *r, enum vu_addr_kind kind, uint64_t addr)
{
	uint64_t k = key_of(r, kind);

	return addr >= k && addr - k < r->size;
}

static void check_lookup(const struct vu_mem_region *t, unsigned int n, enum vu_addr_kind kind,
			 uint64_t addr, uint64_t len, bool want_contig)
{
	uint64_t contig = 0xdeadbeefdeadbeefull;
	const struct vu_mem_region *r;
	unsigned int i;

	r = vu_mem_lookup(t, n, kind, addr, len, want_contig ? &contig : NULL);
	if (!r) {
		for (i = 0; i < n; i++)
			FUZZ_CHECK(!contains(&t[i], kind, addr));
		return;
	}
	FUZZ_CHECK(r >= t && r < t + n);
	FUZZ_CHECK(contains(r, kind, addr));
	if (want_contig) {
		uint64_t off = addr - key_of(r, kind), avail = r->size - off;

		FUZZ_CHECK(contig <= len);
		/* The whole [addr, addr + contig) lies in the region ... */
		FUZZ_CHECK(contig <= avail);
		/* ... and nothing available in it was withheld. */
		FUZZ_CHECK(contig == (len < avail ? len : avail));
	}
}

static void check_log(uint8_t *log, uint8_t *before, uint64_t log_size, uint64_t gpa, uint64_t len)
{
	uint64_t nbits = log_size * 8, first = gpa / VHOST_LOG_PAGE, last, expect = 0, got, b;
	unsigned __int128 end = (unsigned __int128)gpa + len - 1;

	memcpy(before, log, log_size);
	got = vu_log_set_bits(log, log_size, gpa, len);
	if (len == 0 || first >= nbits) {
		first = 1;
		last = 0;	/* empty */
	} else {
		if (end > UINT64_MAX)
			end = UINT64_MAX;
		last = (uint64_t)end / VHOST_LOG_PAGE;
		if (last >= nbits)
			last = nbits - 1;
		expect = last - first + 1;
	}
	FUZZ_CHECK(got == expect);
	/* Exactly the pages in range gained their bit; no other bit changed. */
	if (first > last) {
		FUZZ_CHECK(!memcmp(log, before, log_size));
		return;
	}
	FUZZ_CHECK(!memcmp(log, before, first / 8));
	FUZZ_CHECK(!memcmp(log + last / 8 + 1, before + last / 8 + 1, log_size - last / 8 - 1));
	for (b = first / 8; b <= last / 8; b++) {
		uint8_t mask = 0xff;

		if (b == first / 8)
			mask &= (uint8_t)(0xff << (first % 8));
		if (b == last / 8)
			mask &= (uint8_t)(0xff >> (7 - last % 8));
		FUZZ_CHECK(log[b] == (before[b] | mask));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_common_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vu_mem_region t[VU_MAX_MEM_SLOTS];
	struct fuzz_in in = { data, size };
	unsigned int n, i, q;
	uint64_t log_size;
	uint8_t *log, *before;

	memset(t, 0, sizeof(t));
	n = fin_u8(&in) % (VU_MAX_MEM_SLOTS + 1);
	for (i = 0; i < n; i++) {
		uint64_t room;

		t[i].gpa = fin_u64(&in);
		t[i].size = fin_u64(&in);
		t[i].uaddr = fin_u64(&in);
		room = UINT64_MAX - (t[i].gpa > t[i].uaddr ? t[i].gpa : t[i].uaddr);
		if (t[i].size > room)
			t[i].size = room;
		t[i].host = (void *)(uintptr_t)(0x100000000000ull + (uint64_t)i * 0x10000000000ull);
		t[i].fd = -1;
	}
	log_size = fin_u16(&in) & LOG_SIZE_MASK;
	/* Exactly log_size bytes, so ASan sees any write past the log. */
	log = malloc(log_size ? log_size : 1);
	before = malloc(log_size ? log_size : 1);
	if (!log || !before) {
		free(log);
		free(before);
		return 0;
	}
	memset(log, fin_u8(&in), log_size);

	for (q = 0; q < MAX_QUERIES && !fin_empty(&in); q++) {
		uint8_t op = fin_u8(&in);

		if (!(op & 1)) {
			enum vu_addr_kind kind = (op & 2) ? VU_ADDR_UVA : VU_ADDR_GPA;
			uint64_t addr, len;

			if ((op & 4) && n) {
				const struct vu_mem_region *r = &t[fin_u8(&in) % n];
				uint64_t v = fin_u64(&in) & 0xffff;

				addr = (op & 0x10) ? key_of(r, kind) + r->size - v : key_of(r, kind) + v;
			} else {
				addr = fin_u64(&in);
			}
			len = fin_u64(&in);
			check_lookup(t, n, kind, addr, len, !(op & 8));
		} else {
			uint64_t gpa = fin_u64(&in), len = fin_u64(&in);

			if (op & 2)
				gpa &= 0xffffff;
			if (op & 4)
				len = UINT64_MAX - (len & 0xffff);
			check_log(log, before, log_size, gpa, len);
		}
	}
	free(log);
	free(before);
	return 0;
}
