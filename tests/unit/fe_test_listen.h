/* Shared by the frontend unit tests that script a backend (declarations;
 * fe_test_listen.c holds the code): a listening unix socket in a fresh
 * temporary directory, and its removal. */
#ifndef UVDPA_TESTS_FE_TEST_LISTEN_H
#define UVDPA_TESTS_FE_TEST_LISTEN_H

#include <stddef.h>

struct fe_test_listener {
	int fd;
	char dir[64], path[96];
};

/* Listens on DIR/be.sock, DIR a new /tmp/uvdpa-NAME.XXXXXX (asserts). */
void fe_test_listen(struct fe_test_listener *l, const char *name);
/* Closes the socket, removes the file and the directory. */
void fe_test_unlisten(struct fe_test_listener *l);

#endif
