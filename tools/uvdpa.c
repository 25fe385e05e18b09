/* uvdpa: the management tool. Sends one command (or a batch file of them)
 * to uvdpad over its control socket and prints the answer: output on
 * stdout, errors on stderr as "uvdpa: message", non-zero exit on error.
 * Same grammar as the kernel's `vdpa` tool, plus binding. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/commands.h"
#include "daemon/control.h"

#define CALL_TIMEOUT_MS 120000

static void usage(FILE *f)
{
	fputs(cmd_usage(), f);
	fputs("\nOptions:\n"
	      "  -j, --json      JSON output (the kernel vdpa tool's keys)\n"
	      "  -p, --pretty    indented JSON\n"
	      "  -s, --socket S  uvdpad's control socket (default $UVDPA_SOCKET or "
	      CTL_DEFAULT_SOCKET ")\n"
	      "  -b, --batch F   run the commands in file F, one per line (- for stdin);\n"
	      "                  stop at the first error\n",
	      f);
}

static bool is_help(const char *word)
{
	size_t n = strlen(word);

	return n && !strncmp(word, "help", n);
}

struct session {
	const char *socket;
	struct ctl_client *client;
	bool json, pretty;
};

/* Returns 0, or 1 after printing the error (prefixed with where, if any). */
static int run(struct session *s, int argc, char *const argv[], const char *where)
{
	struct ctl_response resp;
	char err[512];
	int ret;

	if (!s->client) {
		ret = ctl_client_connect(s->socket, &s->client, err, sizeof(err));
		if (ret < 0) {
			fprintf(stderr, "uvdpa: %s\n", err);
			return 1;
		}
	}
	ret = ctl_client_call(s->client, argc, argv, s->json, s->pretty, CALL_TIMEOUT_MS, &resp, err,
			      sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "uvdpa: %s%s%s\n", where ? where : "", where ? ": " : "", err);
		return 1;
	}
	fputs(resp.output, stdout);
	fflush(stdout);
	if (resp.status) {
		fprintf(stderr, "uvdpa: %s%s%s\n", where ? where : "", where ? ": " : "",
			resp.error[0] ? resp.error : strerror(resp.status));
		ret = 1;
	}
	ctl_response_free(&resp);
	return ret;
}

/* "monitor" or an abbreviation of it that no other command shares. */
static bool is_monitor(const char *word)
{
	size_t n = strlen(word);

	return n >= 2 && !strncmp(word, "monitor", n);
}

/* One event line from uvdpad as text: "[event] dev detail", or
 * "[lost] N events" when uvdpad had to drop some for this monitor. */
static void print_event_text(const char *line)
{
	json_t *obj = json_loads(line, 0, NULL);
	json_t *lost = obj ? json_object_get(obj, "lost") : NULL;
	const char *ev = obj ? json_string_value(json_object_get(obj, "event")) : NULL;
	const char *dev = obj ? json_string_value(json_object_get(obj, "dev")) : NULL;
	const char *detail = obj ? json_string_value(json_object_get(obj, "detail")) : NULL;

	if (json_is_integer(lost))
		printf("[lost] %" JSON_INTEGER_FORMAT " events\n", json_integer_value(lost));
	else if (ev)
		printf("[%s] %s%s%s\n", ev, dev ? dev : "", detail && detail[0] ? " " : "",
		       detail ? detail : "");
	else
		printf("%s\n", line);	/* newer uvdpad: show it as it came */
	json_decref(obj);
}

/* `uvdpa monitor`: the events uvdpad streams, one per line, until it stops
 * or the user interrupts. */
static int run_monitor(struct session *s, int argc, char *const argv[])
{
	struct ctl_response resp;
	char err[512], *line;
	int ret;

	ret = ctl_client_connect(s->socket, &s->client, err, sizeof(err));
	if (ret == 0)
		ret = ctl_client_call(s->client, argc, argv, s->json, false, CALL_TIMEOUT_MS, &resp,
				      err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "uvdpa: %s\n", err);
		return 1;
	}
	if (resp.status) {
		fprintf(stderr, "uvdpa: %s\n", resp.error[0] ? resp.error : strerror(resp.status));
		ctl_response_free(&resp);
		return 1;
	}
	ctl_response_free(&resp);
	while ((ret = ctl_client_next_line(s->client, 0, &line, err, sizeof(err))) == 0) {
		if (s->json)
			printf("%s\n", line);
		else
			print_event_text(line);
		fflush(stdout);
		free(line);
	}
	if (ret == -ECONNRESET)
		return 0;	/* uvdpad stopped */
	fprintf(stderr, "uvdpa: %s\n", err);
	return 1;
}

static int run_batch_line(void *opaque, int argc, char **argv, const char *where)
{
	if (is_help(argv[0])) {
		fputs(cmd_usage(), stdout);
		return 0;
	}
	if (is_monitor(argv[0])) {
		fprintf(stderr, "uvdpa: %s: monitor runs until interrupted: not in a batch\n", where);
		return 1;
	}
	return run(opaque, argc, argv, where);
}

/* Exit status 1 on the first error, as for a single command. */
static int run_batch(struct session *s, const char *path)
{
	return ctl_run_file("uvdpa", path, run_batch_line, s) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct session s = { 0 };
	const char *batch = NULL;
	int c, rc;

	s.socket = getenv("UVDPA_SOCKET");
	if (!s.socket || !s.socket[0])
		s.socket = CTL_DEFAULT_SOCKET;
	/* '+': options only before the command, so its words stay its own. */
	while ((c = getopt_long(argc, argv, "+jps:b:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			s.json = true;
			break;
		case 'p':
			s.pretty = true;
			break;
		case 's':
			s.socket = optarg;
			break;
		case 'b':
			batch = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (batch && argc) {
		fprintf(stderr, "uvdpa: -b FILE takes its commands from FILE: drop \"%s\"\n",
			argv[0]);
		return 2;
	}
	if (batch) {
		rc = run_batch(&s, batch);
	} else if (!argc) {
		usage(stderr);
		return 2;
	} else if (is_help(argv[0])) {
		fputs(cmd_usage(), stdout);
		return 0;
	} else if (is_monitor(argv[0])) {
		rc = run_monitor(&s, argc, argv);
	} else {
		rc = run(&s, argc, argv, NULL);
	}
	ctl_client_close(s.client);
	return rc;
}
