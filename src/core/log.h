/* The logging macros uvdpa's own code uses (private: LOG_ERR and friends
 * would collide with <syslog.h> in an embedder). */
#ifndef UVDPA_CORE_LOG_H
#define UVDPA_CORE_LOG_H

#include "uvdpa/log.h"

#define LOG_ERR(tag, ...) uvdpa_log(UVDPA_LOG_ERR, tag, __VA_ARGS__)
#define LOG_WARN(tag, ...) uvdpa_log(UVDPA_LOG_WARN, tag, __VA_ARGS__)
#define LOG_INFO(tag, ...) uvdpa_log(UVDPA_LOG_INFO, tag, __VA_ARGS__)
#define LOG_DEBUG(tag, ...)                                            \
	do {                                                           \
		if (uvdpa_log_get_level() >= UVDPA_LOG_DEBUG)          \
			uvdpa_log(UVDPA_LOG_DEBUG, tag, __VA_ARGS__);  \
	} while (0)

#endif
