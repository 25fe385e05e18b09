/* See fe_test_listen.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fe_test_listen.h"

void fe_test_listen(struct fe_test_listener *l, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(l->dir, sizeof(l->dir), "/tmp/uvdpa-%s.XXXXXX", name);
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/be.sock", l->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l->fd, 1), 0);
}

void fe_test_unlisten(struct fe_test_listener *l)
{
	close(l->fd);
	unlink(l->path);
	rmdir(l->dir);
}
