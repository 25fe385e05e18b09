/* Test frontend packet pattern: frames derived from (queue pair, sequence,
 * length) so a receiver verifies every byte and sees loss and reordering. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "frontend/frontend.h"

#define FE_ETHERTYPE 0x88b5	/* IEEE 802 local experimental */
#define GOLDEN 0x9e3779b97f4a7c15ull

static const uint8_t dst_mac[6] = { 0x02, 0x75, 0x76, 0x64, 0x70, 0x61 };
static const uint8_t src_mac[6] = { 0x02, 0x75, 0x76, 0x64, 0x70, 0x62 };

/* splitmix64 finaliser: cheap, and every input bit moves every output bit. */
uint64_t fe_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t stream_seed(uint16_t queue, uint64_t seq)
{
	return fe_mix64(seq ^ ((uint64_t)queue << 48) ^ 0x5556445050415454ull);
}

/* Word k of the payload stream (little-endian when laid out as bytes). */
static uint64_t stream_word(uint64_t seed, uint64_t k)
{
	uint64_t w = seed + k * GOLDEN;

	return w ^ (w >> 29);
}

uint32_t fe_pattern_size(uint64_t seq, uint32_t min, uint32_t max)
{
	if (max <= min)
		return min;
	return min + (uint32_t)(fe_mix64(seq * GOLDEN) % ((uint64_t)max - min + 1));
}

static void put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static uint16_t get_le16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

void fe_pattern_fill(uint8_t *frame, uint32_t len, uint16_t queue, uint64_t seq)
{
	uint64_t seed = stream_seed(queue, seq), k = 0;
	uint8_t *p = frame + FE_PATTERN_HDR_LEN;
	uint32_t left;

	if (len < FE_PATTERN_HDR_LEN)
		return;
	memcpy(frame, dst_mac, 6);
	memcpy(frame + 6, src_mac, 6);
	frame[12] = FE_ETHERTYPE >> 8;
	frame[13] = FE_ETHERTYPE & 0xff;
	put_le32(frame + 14, FE_PATTERN_MAGIC);
	put_le16(frame + 18, queue);
	put_le16(frame + 20, (uint16_t)len);
	put_le64(frame + 22, seq);

	left = len - FE_PATTERN_HDR_LEN;
	for (; left >= 8; left -= 8, p += 8)
		put_le64(p, stream_word(seed, k++));
	if (left) {
		uint8_t tail[8];

		put_le64(tail, stream_word(seed, k));
		memcpy(p, tail, left);
	}
}

int fe_pattern_check(const uint8_t *frame, uint32_t len, uint16_t *queue, uint64_t *seq)
{
	const uint8_t *p = frame + FE_PATTERN_HDR_LEN;
	uint64_t seed, k = 0;
	uint32_t left;

	if (len < FE_PATTERN_HDR_LEN || len > FE_FRAME_MAX)
		return -EBADMSG;
	if (memcmp(frame, dst_mac, 6) || memcmp(frame + 6, src_mac, 6) ||
	    frame[12] != (FE_ETHERTYPE >> 8) || frame[13] != (FE_ETHERTYPE & 0xff) ||
	    get_le32(frame + 14) != FE_PATTERN_MAGIC)
		return -EBADMSG;
	*queue = get_le16(frame + 18);
	*seq = get_le64(frame + 22);
	if (get_le16(frame + 20) != (uint16_t)len)
		return -EBADMSG;

	seed = stream_seed(*queue, *seq);
	left = len - FE_PATTERN_HDR_LEN;
	for (; left >= 8; left -= 8, p += 8)
		if (get_le64(p) != stream_word(seed, k++))
			return -EBADMSG;
	if (left) {
		uint8_t tail[8];

		put_le64(tail, stream_word(seed, k));
		if (memcmp(p, tail, left))
			return -EBADMSG;
	}
	return 0;
}

/* ---- 512-byte sectors of a block device ----
 *
 * Layout (little-endian): u32 magic, u32 seed, u64 LBA, u64 generation,
 * u32 check of those four, u32 zero, then 480 bytes of a stream seeded by
 * (seed, LBA, generation). */
#define SECT_MAGIC_OFF 0
#define SECT_SEED_OFF 4
#define SECT_LBA_OFF 8
#define SECT_GEN_OFF 16
#define SECT_CHECK_OFF 24
#define SECT_PAD_OFF 28
#define SECT_FILL_OFF 32

static uint64_t sector_stream_seed(uint32_t seed, uint64_t lba, uint64_t gen)
{
	return fe_mix64(fe_mix64(lba ^ ((uint64_t)seed << 32)) ^ gen ^ 0x554256424c4b5345ull);
}

static uint32_t sector_hdr_check(uint32_t seed, uint64_t lba, uint64_t gen)
{
	return (uint32_t)fe_mix64(FE_BLK_SECTOR_MAGIC ^ ((uint64_t)seed << 32) ^ fe_mix64(lba) ^
			       (gen * GOLDEN));
}

void fe_blk_sector_fill(uint8_t *sector, uint32_t seed, uint64_t lba, uint64_t gen)
{
	uint64_t s = sector_stream_seed(seed, lba, gen);

	put_le32(sector + SECT_MAGIC_OFF, FE_BLK_SECTOR_MAGIC);
	put_le32(sector + SECT_SEED_OFF, seed);
	put_le64(sector + SECT_LBA_OFF, lba);
	put_le64(sector + SECT_GEN_OFF, gen);
	put_le32(sector + SECT_CHECK_OFF, sector_hdr_check(seed, lba, gen));
	put_le32(sector + SECT_PAD_OFF, 0);
	for (uint32_t off = SECT_FILL_OFF, k = 0; off < FE_BLK_SECTOR; off += 8, k++)
		put_le64(sector + off, stream_word(s, k));
}

bool fe_blk_is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

enum fe_blk_check fe_blk_sector_check(const uint8_t *sector, uint32_t seed, uint64_t lba,
				      uint64_t gen, uint64_t *found_gen)
{
	uint64_t s_lba, s_gen, s;
	uint32_t s_seed;

	*found_gen = 0;
	if (get_le32(sector + SECT_MAGIC_OFF) != FE_BLK_SECTOR_MAGIC)
		return fe_blk_is_zero(sector, FE_BLK_SECTOR) ? FE_BLK_SECTOR_ZERO :
		       FE_BLK_SECTOR_NO_MAGIC;
	s_seed = get_le32(sector + SECT_SEED_OFF);
	s_lba = get_le64(sector + SECT_LBA_OFF);
	s_gen = get_le64(sector + SECT_GEN_OFF);
	if (get_le32(sector + SECT_CHECK_OFF) != sector_hdr_check(s_seed, s_lba, s_gen) ||
	    get_le32(sector + SECT_PAD_OFF) != 0 || s_gen == 0)
		return FE_BLK_SECTOR_BAD_HEADER;
	*found_gen = s_gen;
	if (s_seed != seed)
		return FE_BLK_SECTOR_WRONG_SEED;
	if (s_lba != lba)
		return FE_BLK_SECTOR_WRONG_LBA;
	if (gen && s_gen != gen)
		return FE_BLK_SECTOR_WRONG_GEN;
	s = sector_stream_seed(s_seed, s_lba, s_gen);
	for (uint32_t off = SECT_FILL_OFF, k = 0; off < FE_BLK_SECTOR; off += 8, k++)
		if (get_le64(sector + off) != stream_word(s, k))
			return FE_BLK_SECTOR_BAD_DATA;
	return FE_BLK_SECTOR_OK;
}

const char *fe_blk_check_str(enum fe_blk_check c)
{
	switch (c) {
	case FE_BLK_SECTOR_OK: return "ok";
	case FE_BLK_SECTOR_ZERO: return "zeros (never written?)";
	case FE_BLK_SECTOR_NO_MAGIC: return "no pattern header";
	case FE_BLK_SECTOR_BAD_HEADER: return "corrupt header";
	case FE_BLK_SECTOR_WRONG_SEED: return "written with another seed";
	case FE_BLK_SECTOR_WRONG_LBA: return "data of another LBA";
	case FE_BLK_SECTOR_WRONG_GEN: return "stale data (another generation)";
	case FE_BLK_SECTOR_BAD_DATA: return "payload differs";
	}
	return "?";
}
