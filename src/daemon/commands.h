/* The management command interpreter: `uvdpa` grammar (the kernel's `vdpa`
 * plus binding) run against the vDPA core registries, with output in the
 * kernel tool's text or JSON format. Runs on the control thread. */
#ifndef UVDPA_DAEMON_COMMANDS_H
#define UVDPA_DAEMON_COMMANDS_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

struct uvdpa_loop;

struct cmd_env {
	struct uvdpa_loop *loop;	/* bindings register their sockets here */
};

struct cmd_result {
	char *output;		/* malloc'd text for the terminal, or NULL */
	char error[1024];	/* what went wrong and what to change */
	bool stream;		/* `monitor`: the connection now streams events */
};

/* Runs one command, argv without the program name. Returns 0 or a negative
 * errno with res->error filled. res->output must be freed by the caller
 * (cmd_result_free), on success and on failure. */
int cmd_execute(const struct cmd_env *env, int argc, char *const argv[], bool json, bool pretty,
		struct cmd_result *res);
void cmd_result_free(struct cmd_result *res);

/* A device's virtqueue count and type name ("network", "block"), as `dev
 * show` reports them, and a queue's type ("rx", "tx", "control_vq"; NULL
 * but for net), as `dev vstats show` does. Control thread. */
struct uvdpa_device;
uint32_t cmd_device_max_vqs(struct uvdpa_device *dev);
const char *cmd_device_type_name(struct uvdpa_device *dev);
const char *cmd_queue_type_name(struct uvdpa_device *dev, uint32_t qidx);

/* The usage text (`uvdpa help`). */
const char *cmd_usage(void);

#endif
