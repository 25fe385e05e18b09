/* The control protocol: JSON-lines encoding, the daemon's non-blocking
 * server on the event loop, the tool's blocking client, and batch-line
 * splitting. See control.h for the wire format. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "daemon/control.h"
#include "uvdpa/event_loop.h"
#include "core/log.h"

#define TAG "control"
#define CTL_MAX_RESPONSE (64u << 20)	/* what the client accepts */


/* ---- Encoding ---- */

static char *dump_line(json_t *obj)
{
	char *s, *line;
	size_t n;

	if (!obj)
		return NULL;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return NULL;
	/* Compact JSON escapes control characters: no newline inside. */
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *ctl_request_encode(int argc, char *const argv[], bool json, bool pretty)
{
	json_t *obj = json_object(), *args = json_array();
	int i;

	if (!obj || !args)
		goto fail;
	for (i = 0; i < argc; i++) {
		json_t *s = json_string(argv[i]);

		/* NULL for an argument that is not UTF-8: JSON cannot carry it. */
		if (!s || json_array_append_new(args, s) < 0)
			goto fail;
	}
	if (json_object_set_new(obj, "argv", args) < 0) {
		args = NULL;
		goto fail;
	}
	args = NULL;
	if (json_object_set_new(obj, "json", json_boolean(json)) < 0 ||
	    json_object_set_new(obj, "pretty", json_boolean(pretty)) < 0)
		goto fail;
	return dump_line(obj);
fail:
	json_decref(args);
	json_decref(obj);
	return NULL;
}

char *ctl_response_encode(int status, const char *output, const char *error)
{
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	if (json_object_set_new(obj, "status", json_integer(status)) < 0 ||
	    json_object_set_new(obj, "output", json_string(output ? output : "")) < 0 ||
	    json_object_set_new(obj, "error", json_string(error ? error : "")) < 0) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj);
}

static json_t *parse_line(const char *line, size_t len, const char *what, char *err,
			  size_t errlen)
{
	json_error_t jerr;
	json_t *obj;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		uvdpa_errf(err, errlen, "malformed %s: %s (column %d)", what, jerr.text, jerr.column);
		return NULL;
	}
	if (!json_is_object(obj)) {
		uvdpa_errf(err, errlen, "malformed %s: expected a JSON object", what);
		json_decref(obj);
		return NULL;
	}
	return obj;
}

void ctl_request_free(struct ctl_request *req)
{
	if (!req)
		return;
	ctl_argv_free(req->argc, req->argv);
	req->argc = 0;
	req->argv = NULL;
}

int ctl_request_decode(const char *line, size_t len, struct ctl_request *req, char *err,
		       size_t errlen)
{
	json_t *obj, *args, *v;
	const char *key;
	size_t i, n;

	memset(req, 0, sizeof(*req));
	obj = parse_line(line, len, "request", err, errlen);
	if (!obj)
		return -EINVAL;
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "argv") && strcmp(key, "json") && strcmp(key, "pretty")) {
			uvdpa_errf(err, errlen,
				"malformed request: unknown field \"%s\" (fields: argv, json, pretty)",
				key);
			goto fail;
		}
	}
	args = json_object_get(obj, "argv");
	if (!json_is_array(args)) {
		uvdpa_errf(err, errlen, "malformed request: \"argv\" must be an array of strings");
		goto fail;
	}
	n = json_array_size(args);
	if (n > CTL_MAX_ARGS) {
		uvdpa_errf(err, errlen, "malformed request: %zu arguments, at most %d", n,
			CTL_MAX_ARGS);
		goto fail;
	}
	req->argv = calloc(n + 1, sizeof(char *));
	if (!req->argv) {
		uvdpa_errf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach(args, i, v) {
		const char *s = json_string_value(v);

		if (!s || strlen(s) != json_string_length(v)) {
			uvdpa_errf(err, errlen,
				"malformed request: argv[%zu] must be a string without NUL bytes", i);
			goto fail;
		}
		req->argv[i] = strdup(s);
		if (!req->argv[i]) {
			uvdpa_errf(err, errlen, "out of memory");
			goto fail;
		}
		req->argc = (int)i + 1;
	}
	v = json_object_get(obj, "json");
	if (v && !json_is_boolean(v)) {
		uvdpa_errf(err, errlen, "malformed request: \"json\" must be true or false");
		goto fail;
	}
	req->json = json_is_true(v);
	v = json_object_get(obj, "pretty");
	if (v && !json_is_boolean(v)) {
		uvdpa_errf(err, errlen, "malformed request: \"pretty\" must be true or false");
		goto fail;
	}
	req->pretty = json_is_true(v);
	json_decref(obj);
	return 0;
fail:
	json_decref(obj);
	ctl_request_free(req);
	return -EINVAL;
}

void ctl_response_free(struct ctl_response *resp)
{
	if (!resp)
		return;
	free(resp->output);
	free(resp->error);
	resp->output = resp->error = NULL;
}

int ctl_response_decode(const char *line, size_t len, struct ctl_response *resp, char *err,
			size_t errlen)
{
	json_t *obj, *status, *output, *error;

	memset(resp, 0, sizeof(*resp));
	obj = parse_line(line, len, "response", err, errlen);
	if (!obj)
		return -EINVAL;
	status = json_object_get(obj, "status");
	output = json_object_get(obj, "output");
	error = json_object_get(obj, "error");
	if (!json_is_integer(status) || json_integer_value(status) < 0 ||
	    json_integer_value(status) > 4095 || (output && !json_is_string(output)) ||
	    (error && !json_is_string(error))) {
		uvdpa_errf(err, errlen, "malformed response from uvdpad");
		json_decref(obj);
		return -EINVAL;
	}
	resp->status = (int)json_integer_value(status);
	resp->output = strdup(output ? json_string_value(output) : "");
	resp->error = strdup(error ? json_string_value(error) : "");
	json_decref(obj);
	if (!resp->output || !resp->error) {
		ctl_response_free(resp);
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- Server ---- */

struct ctl_conn {
	struct ctl_server *srv;
	int fd;
	struct uvdpa_watch *watch;
	char *in;		/* request bytes received, not yet handled */
	size_t in_len;
	char *out;		/* response bytes not yet written */
	size_t out_len, out_off;
	bool closing;		/* close once out is flushed */
	bool discarding;	/* dropping an oversized request up to its newline */
	bool stream;		/* gets broadcast lines; its input is ignored */
	uint64_t lost;		/* broadcast lines dropped since the last one queued */
	struct ctl_conn *next;
};

struct ctl_server {
	struct uvdpa_loop *loop;
	char *path;
	int fd;
	dev_t dev;		/* the socket file we created, to unlink only ours */
	ino_t ino;
	struct uvdpa_watch *watch;
	ctl_handler_fn fn;
	void *opaque;
	struct ctl_conn *conns;
	unsigned int nconns;
};

static void conn_free(struct ctl_conn *c)
{
	struct ctl_server *srv = c->srv;
	struct ctl_conn **link = &srv->conns;

	while (*link && *link != c)
		link = &(*link)->next;
	if (*link) {
		*link = c->next;
		srv->nconns--;
	}
	if (c->watch)
		uvdpa_watch_del(c->watch);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Appends a response line to the output queue. */
static int conn_queue(struct ctl_conn *c, const char *line)
{
	size_t n = strlen(line);
	char *out;

	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	out = realloc(c->out, c->out_len + n);
	if (!out)
		return -ENOMEM;
	memcpy(out + c->out_len, line, n);
	c->out = out;
	c->out_len += n;
	return 0;
}

static void conn_queue_response(struct ctl_conn *c, int status, const char *output,
				const char *error)
{
	char *line = ctl_response_encode(status, output, error);

	if (!line) {
		/* Last resort: a fixed line that needs no allocation. */
		static const char oom[] = "{\"status\":12,\"output\":\"\",\"error\":\"uvdpad: out of memory\"}\n";

		if (conn_queue(c, oom) < 0)
			c->closing = true;
		return;
	}
	if (conn_queue(c, line) < 0)
		c->closing = true;
	free(line);
}

static void conn_handle_line(struct ctl_conn *c, const char *line, size_t len)
{
	struct ctl_response resp = { 0 };
	struct ctl_request req;
	char err[256];

	if (ctl_request_decode(line, len, &req, err, sizeof(err)) < 0) {
		LOG_DEBUG(TAG, "client fd %d: %s", c->fd, err);
		conn_queue_response(c, EINVAL, "", err);
		return;
	}
	c->srv->fn(c->srv->opaque, &req, &resp);
	if (resp.status < 0)
		resp.status = -resp.status;
	conn_queue_response(c, resp.status, resp.output, resp.error);
	if (resp.stream && resp.status == 0)
		c->stream = true;
	ctl_response_free(&resp);
	ctl_request_free(&req);
}

/* Handles every complete line in the input buffer. An oversized request
 * is answered with an error and dropped up to its newline, so the
 * connection stays usable and memory stays bounded. */
static void conn_handle_input(struct ctl_conn *c)
{
	size_t start = 0;
	char *nl;

	if (c->discarding) {
		nl = memchr(c->in, '\n', c->in_len);
		if (!nl) {
			c->in_len = 0;
			return;
		}
		start = (size_t)(nl - c->in) + 1;
		c->discarding = false;
	}
	if (c->stream) {
		/* A monitor only listens: what it sends is dropped. */
		c->in_len = 0;
		return;
	}
	while (start < c->in_len && !c->closing &&
	       (nl = memchr(c->in + start, '\n', c->in_len - start))) {
		size_t len = (size_t)(nl - (c->in + start));

		conn_handle_line(c, c->in + start, len);
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (!c->closing && c->in_len >= CTL_MAX_REQUEST) {
		char msg[96];

		uvdpa_errf(msg, sizeof(msg), "request too large: more than %d bytes without a newline",
			   CTL_MAX_REQUEST - 1);
		LOG_DEBUG(TAG, "client fd %d: %s", c->fd, msg);
		conn_queue_response(c, EMSGSIZE, "", msg);
		c->discarding = true;
		c->in_len = 0;
	}
}

/* Writes what it can; returns false when the connection is gone. */
static bool conn_flush(struct ctl_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			LOG_DEBUG(TAG, "client fd %d: send: %s", c->fd, strerror(errno));
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return true;
}

/* A stream that dropped lines says how many as soon as it has room. */
static void stream_report_lost(struct ctl_conn *c)
{
	char lost[64];

	if (!c->stream || !c->lost ||
	    c->out_len - c->out_off + sizeof(lost) > CTL_STREAM_MAX_PENDING)
		return;
	snprintf(lost, sizeof(lost), "{\"lost\":%" PRIu64 "}\n", c->lost);
	if (conn_queue(c, lost) == 0)
		c->lost = 0;
}

static void conn_event(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque);

/* After reading or writing: closes, or waits for the right event. While a
 * response is pending the connection is not read (back-pressure). */
static void conn_update(struct ctl_conn *c)
{
	bool pending;

	if (!conn_flush(c)) {
		conn_free(c);
		return;
	}
	if (c->lost && c->out_off == c->out_len) {
		stream_report_lost(c);
		if (!conn_flush(c)) {
			conn_free(c);
			return;
		}
	}
	pending = c->out_off < c->out_len;
	if (!pending && c->closing) {
		conn_free(c);
		return;
	}
	/* A stream is read while output is pending too, to see its client go. */
	if (uvdpa_watch_modify(c->watch, pending ? (c->stream ? EPOLLOUT | EPOLLIN : EPOLLOUT) :
					   EPOLLIN) < 0)
		conn_free(c);
}

static void conn_event(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct ctl_conn *c = opaque;

	(void)w;
	if ((events & EPOLLOUT) && !(c->stream && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))) {
		conn_update(c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = read(fd, c->in + c->in_len, CTL_MAX_REQUEST - c->in_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_free(c);
			return;
		}
		if (n == 0) {
			/* The client is done sending: answer what is complete,
			 * drop a partial request, close after the answers. */
			conn_handle_input(c);
			c->closing = true;
			c->in_len = 0;
			break;
		}
		c->in_len += (size_t)n;
		conn_handle_input(c);
		if (c->closing || c->out_len > c->out_off)
			break;
	}
	conn_update(c);
}

static void server_accept(struct uvdpa_watch *w, int fd, uint32_t events, void *opaque)
{
	struct ctl_server *srv = opaque;

	(void)w;
	(void)events;
	for (;;) {
		struct ctl_conn *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				LOG_WARN(TAG, "accept on %s: %s", srv->path, strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(CTL_MAX_REQUEST);
		if (!c || !c->in) {
			if (c)
				free(c);
			close(cfd);
			LOG_WARN(TAG, "out of memory accepting a control client");
			continue;
		}
		c->srv = srv;
		c->fd = cfd;
		c->watch = uvdpa_watch_add(srv->loop, cfd, EPOLLIN, conn_event, c);
		if (!c->watch) {
			free(c->in);
			free(c);
			close(cfd);
			continue;
		}
		c->next = srv->conns;
		srv->conns = c;
		srv->nconns++;
		LOG_DEBUG(TAG, "client fd %d connected", cfd);
	}
}

/* mkdir -p for path's parent directories, each new one 0700. */
static int make_parents(const char *path, char *err, size_t errlen)
{
	char *dir = strdup(path);
	char *p;
	int ret = 0;

	if (!dir)
		return -ENOMEM;
	p = strrchr(dir, '/');
	if (!p || p == dir) {
		free(dir);
		return 0;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			ret = -errno;
			uvdpa_errf(err, errlen, "cannot create directory %s for the control socket: %s",
				dir, strerror(errno));
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(dir);
	return ret;
}

/* An existing file at path: a socket nobody listens on is stale and goes;
 * anything else stays and is an error. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		uvdpa_errf(err, errlen, "%s exists and is not a socket: remove it or choose another "
			"path with -s", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (ret == 0) {
		uvdpa_errf(err, errlen, "another uvdpad is already listening on %s: stop it or "
			"choose another path with -s", path);
		return -EADDRINUSE;
	}
	if (errno != ECONNREFUSED) {
		uvdpa_errf(err, errlen, "cannot tell whether %s is in use: %s", path, strerror(errno));
		return -EEXIST;
	}
	LOG_INFO(TAG, "removing stale control socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		uvdpa_errf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

struct ctl_server *ctl_server_new(struct uvdpa_loop *loop, const char *path, ctl_handler_fn fn,
				  void *opaque, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *srv;
	struct stat st;
	mode_t old_umask;
	int ret;

	if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path)) {
		uvdpa_errf(err, errlen, "control socket path %s: use 1..%zu bytes",
			path && path[0] ? "is too long" : "is empty", sizeof(sa.sun_path) - 1);
		errno = EINVAL;
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->path = strdup(path))) {
		free(srv);
		uvdpa_errf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	srv->loop = loop;
	srv->fn = fn;
	srv->opaque = opaque;
	srv->fd = -1;

	if (err && errlen)
		err[0] = '\0';
	ret = make_parents(path, err, errlen);
	if (ret == 0)
		ret = clear_stale(path, &sa, err, errlen);
	if (ret < 0)
		goto fail;
	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->fd < 0) {
		ret = -errno;
		goto fail;
	}
	/* The socket file is born 0600: no window where others could connect. */
	old_umask = umask(0177);
	ret = bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (ret < 0) {
		ret = -errno;
		goto fail;
	}
	if (stat(path, &st) == 0) {
		srv->dev = st.st_dev;
		srv->ino = st.st_ino;
	}
	if (chmod(path, 0600) < 0 || listen(srv->fd, 64) < 0) {
		ret = -errno;
		unlink(path);
		goto fail;
	}
	srv->watch = uvdpa_watch_add(loop, srv->fd, EPOLLIN, server_accept, srv);
	if (!srv->watch) {
		ret = -errno;
		unlink(path);
		goto fail;
	}
	LOG_INFO(TAG, "listening on %s", path);
	return srv;
fail:
	if (err && errlen && !err[0])
		uvdpa_errf(err, errlen, "cannot listen on control socket %s: %s", path,
			strerror(-ret));
	if (srv->fd >= 0)
		close(srv->fd);
	free(srv->path);
	free(srv);
	errno = -ret;
	return NULL;
}

void ctl_server_free(struct ctl_server *srv)
{
	struct stat st;

	if (!srv)
		return;
	while (srv->conns)
		conn_free(srv->conns);
	if (srv->watch)
		uvdpa_watch_del(srv->watch);
	if (srv->fd >= 0)
		close(srv->fd);
	/* Only remove the file if it is still the socket we created. */
	if (stat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
		unlink(srv->path);
	free(srv->path);
	free(srv);
}

unsigned int ctl_server_clients(const struct ctl_server *srv)
{
	return srv ? srv->nconns : 0;
}

void ctl_server_broadcast(struct ctl_server *srv, const char *line)
{
	size_t n = strlen(line);
	struct ctl_conn *c, *next;

	for (c = srv->conns; c; c = next) {
		next = c->next;		/* conn_update may free c */
		if (!c->stream || c->closing)
			continue;
		if (c->out_len - c->out_off + n + 64 > CTL_STREAM_MAX_PENDING) {
			c->lost++;
			continue;
		}
		stream_report_lost(c);
		if (conn_queue(c, line) < 0)
			c->lost++;
		conn_update(c);
	}
}

unsigned int ctl_server_streams(const struct ctl_server *srv)
{
	unsigned int n = 0;

	for (const struct ctl_conn *c = srv->conns; c; c = c->next)
		n += c->stream;
	return n;
}

/* ---- Client ---- */

struct ctl_client {
	int fd;
	char *path;
	char *buf;		/* bytes received after the last response */
	size_t len, cap;
};

int ctl_client_connect(const char *path, struct ctl_client **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_client *c;
	int fd, e;

	*out = NULL;
	if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path)) {
		uvdpa_errf(err, errlen, "control socket path %s: use 1..%zu bytes",
			path && path[0] ? "is too long" : "is empty", sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		uvdpa_errf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		uvdpa_errf(err, errlen,
			"cannot reach uvdpad at %s: %s \xe2\x80\x94 is uvdpad running? (uvdpad -s PATH)",
			path, strerror(e));
		return -e;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		close(fd);
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->fd = fd;
	*out = c;
	return 0;
}

static int client_send_all(struct ctl_client *c, const char *p, size_t n, char *err,
			   size_t errlen)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			uvdpa_errf(err, errlen, "lost uvdpad at %s while sending: %s", c->path,
				strerror(errno));
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Waits until c->buf holds a whole line (at most timeout_ms; <= 0:
 * forever); *len is its length without the '\n'. */
static int client_wait_line(struct ctl_client *c, int timeout_ms, size_t *len, char *err,
			    size_t errlen)
{
	int64_t deadline = timeout_ms > 0 ? (int64_t)(uvdpa_now_ns() / 1000000) + timeout_ms : 0;
	char *nl;
	int ret;

	while (!(nl = c->len ? memchr(c->buf, '\n', c->len) : NULL)) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int wait = -1;
		ssize_t r;

		if (deadline) {
			int64_t left = deadline - (int64_t)(uvdpa_now_ns() / 1000000);

			if (left <= 0) {
				uvdpa_errf(err, errlen, "uvdpad at %s did not answer within %d ms",
					c->path, timeout_ms);
				return -ETIMEDOUT;
			}
			wait = (int)left;
		}
		ret = poll(&pfd, 1, wait);
		if (ret < 0 && errno != EINTR) {
			uvdpa_errf(err, errlen, "poll: %s", strerror(errno));
			return -errno;
		}
		if (ret <= 0)
			continue;
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 8192;
			char *b;

			if (cap > CTL_MAX_RESPONSE) {
				uvdpa_errf(err, errlen, "response from uvdpad is too large");
				return -EMSGSIZE;
			}
			b = realloc(c->buf, cap);
			if (!b) {
				uvdpa_errf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			c->buf = b;
			c->cap = cap;
		}
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			uvdpa_errf(err, errlen, "lost uvdpad at %s: %s", c->path, strerror(errno));
			return -errno;
		}
		if (r == 0) {
			uvdpa_errf(err, errlen, "uvdpad at %s closed the connection", c->path);
			return -ECONNRESET;
		}
		c->len += (size_t)r;
	}
	*len = (size_t)(nl - c->buf);
	return 0;
}

/* Drops the line of len bytes (and its '\n') at the start of c->buf. */
static void client_consume(struct ctl_client *c, size_t len)
{
	memmove(c->buf, c->buf + len + 1, c->len - len - 1);
	c->len -= len + 1;
}

int ctl_client_call(struct ctl_client *c, int argc, char *const argv[], bool json, bool pretty,
		    int timeout_ms, struct ctl_response *resp, char *err, size_t errlen)
{
	char *line;
	size_t n;
	int ret;

	line = ctl_request_encode(argc, argv, json, pretty);
	if (!line) {
		uvdpa_errf(err, errlen, "cannot encode the request (arguments must be UTF-8)");
		return -EINVAL;
	}
	n = strlen(line);
	if (n > CTL_MAX_REQUEST) {
		free(line);
		uvdpa_errf(err, errlen, "request too large: %zu bytes, at most %d", n, CTL_MAX_REQUEST);
		return -EMSGSIZE;
	}
	ret = client_send_all(c, line, n, err, errlen);
	free(line);
	if (ret < 0)
		return ret;
	ret = client_wait_line(c, timeout_ms, &n, err, errlen);
	if (ret < 0)
		return ret;
	ret = ctl_response_decode(c->buf, n, resp, err, errlen);
	client_consume(c, n);
	return ret;
}

int ctl_client_next_line(struct ctl_client *c, int timeout_ms, char **line, char *err,
			 size_t errlen)
{
	size_t n;
	int ret = client_wait_line(c, timeout_ms, &n, err, errlen);

	if (ret < 0)
		return ret;
	*line = strndup(c->buf, n);
	client_consume(c, n);
	if (!*line) {
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void ctl_client_close(struct ctl_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c->path);
	free(c);
}

/* ---- Batch lines ---- */

void ctl_argv_free(int argc, char **argv)
{
	int i;

	if (!argv)
		return;
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int ctl_split_line(const char *line, int *argc_out, char ***argv_out, char *err, size_t errlen)
{
	size_t len = strlen(line);
	char **argv = calloc(CTL_MAX_ARGS + 1, sizeof(char *));
	char *word = malloc(len + 1);
	const char *p = line;
	int argc = 0, ret = 0;

	*argc_out = 0;
	*argv_out = NULL;
	if (!argv || !word) {
		free(argv);
		free(word);
		uvdpa_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		size_t wl = 0;
		char quote = 0;

		while (*p && is_blank(*p))
			p++;
		if (!*p || *p == '#')
			break;
		while (*p && (quote || !is_blank(*p))) {
			char ch = *p++;

			if (quote == '\'') {
				if (ch == '\'')
					quote = 0;
				else
					word[wl++] = ch;
			} else if (ch == '\\') {
				if (!*p) {
					uvdpa_errf(err, errlen, "a backslash ends the line: "
						"remove it or escape it as \\\\");
					ret = -EINVAL;
					goto out;
				}
				word[wl++] = *p++;
			} else if (quote == '"') {
				if (ch == '"')
					quote = 0;
				else
					word[wl++] = ch;
			} else if (ch == '\'' || ch == '"') {
				quote = ch;
			} else {
				word[wl++] = ch;
			}
		}
		if (quote) {
			uvdpa_errf(err, errlen, "unterminated %c quote: close it", quote);
			ret = -EINVAL;
			goto out;
		}
		if (argc == CTL_MAX_ARGS) {
			uvdpa_errf(err, errlen, "too many words (at most %d)", CTL_MAX_ARGS);
			ret = -E2BIG;
			goto out;
		}
		argv[argc] = strndup(word, wl);
		if (!argv[argc]) {
			uvdpa_errf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		argc++;
	}
out:
	free(word);
	if (ret < 0) {
		ctl_argv_free(argc, argv);
		return ret;
	}
	*argc_out = argc;
	*argv_out = argv;
	return 0;
}

/* uvdpa -b FILE and uvdpad -c FILE read commands the same way, so a file
 * that works for one works for the other and errors point at FILE:LINE
 * alike. */
int ctl_run_file(const char *prog, const char *path, ctl_line_fn run, void *opaque)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	const char *shown = strcmp(path, "-") ? path : "<stdin>";
	unsigned int lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;

	if (!f) {
		ret = -errno;
		fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
		return ret;
	}
	while (!ret && getline(&line, &cap, f) >= 0) {
		char where[PATH_MAX + 32], err[256];
		char **argv;
		int argc;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", shown, lineno);
		ret = ctl_split_line(line, &argc, &argv, err, sizeof(err));
		if (ret < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, where, err);
			break;
		}
		if (argc)
			ret = run(opaque, argc, argv, where);
		ctl_argv_free(argc, argv);
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		fprintf(stderr, "%s: error reading %s\n", prog, shown);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return ret;
}
