/* Logging: one line per event to stderr, with a level and a subsystem tag;
 * the level is the embedder's to set. */
#ifndef UVDPA_LOG_H
#define UVDPA_LOG_H

#include <stddef.h>

enum uvdpa_log_level { UVDPA_LOG_ERR, UVDPA_LOG_WARN, UVDPA_LOG_INFO, UVDPA_LOG_DEBUG };

void uvdpa_log_set_level(enum uvdpa_log_level level);
enum uvdpa_log_level uvdpa_log_get_level(void);
void uvdpa_log(enum uvdpa_log_level level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes a message for the user into err (errlen bytes; NULL/0: nothing):
 * how functions that fail explain what to change. */
void uvdpa_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
