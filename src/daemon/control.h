/* The control protocol between uvdpa (the tool) and uvdpad (the daemon): a
 * unix stream socket carrying one JSON request per line,
 *   {"argv": ["dev", "show"], "json": false, "pretty": false}
 * answered by one JSON response per line,
 *   {"status": 0, "output": "text for the terminal", "error": ""}
 * where status is 0 or a positive errno. Also the `ip -batch` style line
 * splitting shared by `uvdpad -c FILE` and `uvdpa -b FILE`. */
#ifndef UVDPA_DAEMON_CONTROL_H
#define UVDPA_DAEMON_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct uvdpa_loop;

#define CTL_DEFAULT_SOCKET "/run/uvdpa/control.sock"
#define CTL_MAX_REQUEST (64 * 1024)	/* bytes per request line, newline included */
#define CTL_MAX_ARGS 256

struct ctl_request {
	int argc;
	char **argv;	/* argc strings and a NULL */
	bool json, pretty;
};

struct ctl_response {
	int status;	/* 0 or a positive errno */
	char *output;	/* never NULL after decode */
	char *error;	/* never NULL after decode */
	bool stream;	/* server side: after this response the connection
			 * receives ctl_server_broadcast() lines until it closes */
};

/* Encoders return a malloc'd line ending in '\n', or NULL on ENOMEM. */
char *ctl_request_encode(int argc, char *const argv[], bool json, bool pretty);
char *ctl_response_encode(int status, const char *output, const char *error);
/* Decoders take one line (without or with its '\n'); -EINVAL with err filled. */
int ctl_request_decode(const char *line, size_t len, struct ctl_request *req, char *err,
		       size_t errlen);
int ctl_response_decode(const char *line, size_t len, struct ctl_response *resp, char *err,
			size_t errlen);
void ctl_request_free(struct ctl_request *req);
void ctl_response_free(struct ctl_response *resp);

/* ---- Server (the daemon's side, driven by its event loop) ---- */

/* Fills resp (status, malloc'd output and error or NULL for none). */
typedef void (*ctl_handler_fn)(void *opaque, const struct ctl_request *req,
			       struct ctl_response *resp);

struct ctl_server;

/* Listens on path: creates missing parent directories (0700), replaces a
 * stale socket only if nothing listens on it, and leaves the socket 0600. */
struct ctl_server *ctl_server_new(struct uvdpa_loop *loop, const char *path, ctl_handler_fn fn,
				  void *opaque, char *err, size_t errlen);
/* Drops every client, closes the socket and removes its file. */
void ctl_server_free(struct ctl_server *srv);
unsigned int ctl_server_clients(const struct ctl_server *srv);

/* Each streaming connection holds at most this many bytes not yet read by
 * its client; lines beyond are dropped and counted, and the client gets
 * {"lost": N} before the next line that fits. */
#define CTL_STREAM_MAX_PENDING (256 * 1024)

/* Queues line (one JSON object and its '\n') to every streaming
 * connection. Never blocks. */
void ctl_server_broadcast(struct ctl_server *srv, const char *line);
unsigned int ctl_server_streams(const struct ctl_server *srv);

/* ---- Client (the tool's side, blocking) ---- */

struct ctl_client;

/* -errno with err filled ("cannot reach uvdpad at PATH: ..."). */
int ctl_client_connect(const char *path, struct ctl_client **out, char *err, size_t errlen);
/* Sends one request and waits for its response (at most timeout_ms; <= 0:
 * forever). resp must be freed with ctl_response_free on success. */
int ctl_client_call(struct ctl_client *c, int argc, char *const argv[], bool json, bool pretty,
		    int timeout_ms, struct ctl_response *resp, char *err, size_t errlen);
void ctl_client_close(struct ctl_client *c);
/* The next line the server sends (after a streaming response), malloc'd
 * without its '\n', waiting at most timeout_ms (<= 0: forever). -ECONNRESET
 * when uvdpad closed the connection, -ETIMEDOUT, else -errno; err filled. */
int ctl_client_next_line(struct ctl_client *c, int timeout_ms, char **line, char *err,
			 size_t errlen);

/* ---- Batch lines ---- */

/* Splits a line into words: blanks separate, '...' and "..." group (\ escapes
 * inside "..." and outside quotes), '#' at the start of a word comments out
 * the rest. A blank or comment line gives *argc 0. */
int ctl_split_line(const char *line, int *argc, char ***argv, char *err, size_t errlen);
void ctl_argv_free(int argc, char **argv);

/* Runs one command of a file; where is "FILE:LINE" for messages. Non-zero
 * stops the file. */
typedef int (*ctl_line_fn)(void *opaque, int argc, char **argv, const char *where);

/* Runs the file at path ("-": stdin) line by line (ctl_split_line; blank
 * and comment lines skipped) until run returns non-zero. Problems with the
 * file itself go to stderr after "prog: ". Returns 0, run's first non-zero
 * value, or a negative errno (unreadable file, a line that does not split). */
int ctl_run_file(const char *prog, const char *path, ctl_line_fn run, void *opaque);

#endif
