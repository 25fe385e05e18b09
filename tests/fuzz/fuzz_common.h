/* Helpers shared by the libFuzzer targets: a little-endian reader over the
 * fuzz input (zero-filled once the input runs out) and a log sink that keeps
 * the library quiet unless UVDPA_FUZZ_VERBOSE is set. */
#ifndef UVDPA_FUZZ_COMMON_H
#define UVDPA_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant the library promises: stop here so libFuzzer records it. */
#define FUZZ_CHECK(cond)                                                            \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                   \
			__builtin_trap();                                           \
		}                                                                   \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline bool fin_empty(const struct fuzz_in *in)
{
	return in->left == 0;
}

static inline void fin_bytes(struct fuzz_in *in, void *dst, size_t n)
{
	size_t k = n < in->left ? n : in->left;

	if (k)
		memcpy(dst, in->p, k);
	if (k < n)
		memset((uint8_t *)dst + k, 0, n - k);
	in->p += k;
	in->left -= k;
}

static inline uint8_t fin_u8(struct fuzz_in *in)
{
	uint8_t v;

	fin_bytes(in, &v, 1);
	return v;
}

static inline uint16_t fin_u16(struct fuzz_in *in)
{
	uint8_t b[2];

	fin_bytes(in, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fin_u32(struct fuzz_in *in)
{
	uint8_t b[4];

	fin_bytes(in, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t fin_u64(struct fuzz_in *in)
{
	uint64_t lo = fin_u32(in);

	return lo | (uint64_t)fin_u32(in) << 32;
}

/* The library logs every refused message at ERR level; at fuzzing speed that
 * is megabytes a second of noise. These replace src/core/log.c (the linker
 * then never pulls log.o out of the archive). */
static bool fuzz_log_verbose;
static enum uvdpa_log_level fuzz_log_level = UVDPA_LOG_DEBUG;

void uvdpa_log_set_level(enum uvdpa_log_level level)
{
	fuzz_log_level = level;
}

enum uvdpa_log_level uvdpa_log_get_level(void)
{
	/* LOG_DEBUG's format arguments are evaluated only when asked for: keep
	 * them evaluated (they are part of what is fuzzed) but print nothing. */
	return fuzz_log_level;
}

void uvdpa_log(enum uvdpa_log_level level, const char *tag, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);	/* formats are fuzzed too */
	va_end(ap);
	if (fuzz_log_verbose && level <= fuzz_log_level)
		fprintf(stderr, "uvdpa %s: %s\n", tag, line);
}

static inline void fuzz_common_init(void)
{
	const char *v = getenv("UVDPA_FUZZ_VERBOSE");

	fuzz_log_verbose = v && *v && *v != '0';
}

#endif
