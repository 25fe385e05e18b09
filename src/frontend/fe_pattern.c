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
static uint64_t mix64(uint64_t x)
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
	return mix64(seq ^ ((uint64_t)queue << 48) ^ 0x5556445050415454ull);
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
	return min + (uint32_t)(mix64(seq * GOLDEN) % ((uint64_t)max - min + 1));
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
