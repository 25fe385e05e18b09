/* Logging to stderr: "uvdpa[pid] LEVEL tag: message". */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "core/log.h"

static enum uvdpa_log_level log_level = UVDPA_LOG_INFO;

void uvdpa_log_set_level(enum uvdpa_log_level level)
{
	log_level = level;
}

enum uvdpa_log_level uvdpa_log_get_level(void)
{
	return log_level;
}

void uvdpa_log(enum uvdpa_log_level level, const char *tag, const char *fmt, ...)
{
	static const char *const names[] = { "ERR", "WARN", "INFO", "DEBUG" };
	char line[1024];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "uvdpa[%d] %s %s: ", (int)getpid(), names[level], tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}

void uvdpa_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
