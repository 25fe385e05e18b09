/* Unit tests for the VFIO access layer's refusals, on a fake sysfs and
 * /dev/vfio tree (no VFIO on the build machines): each says what to change,
 * and no fd is leaked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pci/vfio.h"

#define assert_contains(haystack, needle)                                                  \
	do {                                                                               \
		if (!strstr((haystack), (needle)))                                         \
			fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle)); \
	} while (0)

#define ADDR "0000:00:03.0"

struct tree {
	char root[64];
	char sysfs[PATH_MAX];
	char dev[PATH_MAX];
	struct pci_vfio_paths paths;
};

static void mkdirs(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	mkdir(buf, 0755);
}

static void pathf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

static void rm_rf(const char *path)
{
	char cmd[PATH_MAX + 16];

	pathf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static void add_function(struct tree *t, const char *addr, int group, const char *driver)
{
	char p[PATH_MAX], target[PATH_MAX];

	pathf(p, sizeof(p), "%s/bus/pci/devices/%s", t->sysfs, addr);
	mkdirs(p);
	if (group >= 0) {
		pathf(p, sizeof(p), "%s/kernel/iommu_groups/%d/devices", t->sysfs, group);
		mkdirs(p);
		pathf(p, sizeof(p), "%s/bus/pci/devices/%s/iommu_group", t->sysfs, addr);
		pathf(target, sizeof(target), "../../../../kernel/iommu_groups/%d", group);
		assert_int_equal(symlink(target, p), 0);
		pathf(p, sizeof(p), "%s/kernel/iommu_groups/%d/devices/%s", t->sysfs, group, addr);
		pathf(target, sizeof(target), "../../../../bus/pci/devices/%s", addr);
		assert_int_equal(symlink(target, p), 0);
	}
	if (driver) {
		pathf(p, sizeof(p), "%s/bus/pci/drivers/%s", t->sysfs, driver);
		mkdirs(p);
		pathf(p, sizeof(p), "%s/bus/pci/devices/%s/driver", t->sysfs, addr);
		pathf(target, sizeof(target), "../../../../bus/pci/drivers/%s", driver);
		assert_int_equal(symlink(target, p), 0);
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int tree_up(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->root, sizeof(t->root), "/tmp/uvdpa-vfio-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	pathf(t->sysfs, sizeof(t->sysfs), "%s/sys", t->root);
	pathf(t->dev, sizeof(t->dev), "%s/dev/vfio", t->root);
	mkdirs(t->sysfs);
	mkdirs(t->dev);
	t->paths.sysfs = t->sysfs;
	t->paths.dev_vfio = t->dev;
	*state = t;
	return 0;
}

static int tree_down(void **state)
{
	struct tree *t = *state;

	rm_rf(t->root);
	free(t);
	return 0;
}

/* Opens ADDR expecting a refusal; returns the message. */
static const char *refused(struct tree *t, const char *addr, int want_errno)
{
	static char err[1024];
	int fds = count_fds();

	err[0] = '\0';
	errno = 0;
	assert_null(pci_vfio_open_at(&t->paths, addr, err, sizeof(err)));
	assert_int_equal(errno, want_errno);
	assert_int_equal(count_fds(), fds);
	assert_true(err[0] != '\0');
	return err;
}

static void test_addr_normalize(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(pci_vfio_addr_normalize("0000:06:00.3", out, sizeof(out)), 0);
	assert_string_equal(out, "0000:06:00.3");
	assert_int_equal(pci_vfio_addr_normalize("06:1F.7", out, sizeof(out)), 0);
	assert_string_equal(out, "0000:06:1f.7");
	assert_int_equal(pci_vfio_addr_normalize("ABCD:ef:01.0", out, sizeof(out)), 0);
	assert_string_equal(out, "abcd:ef:01.0");
	assert_int_equal(pci_vfio_addr_normalize("0000:06:00.8", out, sizeof(out)), -EINVAL);
	assert_int_equal(pci_vfio_addr_normalize("0000:06:20.0", out, sizeof(out)), -EINVAL);
	assert_int_equal(pci_vfio_addr_normalize("0000:6:00.3", out, sizeof(out)), -EINVAL);
	assert_int_equal(pci_vfio_addr_normalize("0000:06:00.3 ", out, sizeof(out)), -EINVAL);
	assert_int_equal(pci_vfio_addr_normalize("../../etc", out, sizeof(out)), -EINVAL);
	assert_int_equal(pci_vfio_addr_normalize("", out, sizeof(out)), -EINVAL);
	assert_int_equal(pci_vfio_addr_normalize(NULL, out, sizeof(out)), -EINVAL);
	assert_int_equal(pci_vfio_addr_normalize("+000:06:00.3", out, sizeof(out)), -EINVAL);
}

static void test_bad_address_and_missing_function(void **state)
{
	struct tree *t = *state;

	assert_contains(refused(t, "06:00", EINVAL), "is not a PCI address");
	assert_contains(refused(t, "0000:00:09.0", ENODEV), "no PCI function 0000:00:09.0");
}

static void test_no_iommu_group(void **state)
{
	struct tree *t = *state;
	const char *e;

	add_function(t, ADDR, -1, "vfio-pci");
	e = refused(t, ADDR, ENODEV);
	assert_contains(e, "no IOMMU group");
	assert_contains(e, "intel_iommu=on");
}

static void test_not_bound(void **state)
{
	struct tree *t = *state;
	const char *e;

	add_function(t, ADDR, 5, NULL);
	e = refused(t, ADDR, ENODEV);
	assert_contains(e, "not bound to any driver");
	assert_contains(e, "driver_override");
}

static void test_bound_to_another_driver(void **state)
{
	struct tree *t = *state;
	const char *e;

	add_function(t, ADDR, 5, "virtio-pci");
	e = refused(t, "00:03.0", ENODEV);	/* the short form works too */
	assert_contains(e, "bound to virtio-pci, not vfio-pci");
	assert_contains(e, "drivers/virtio-pci/unbind");
}

static void test_no_vfio_container(void **state)
{
	struct tree *t = *state;

	add_function(t, ADDR, 5, "vfio-pci");
	assert_contains(refused(t, ADDR, ENOENT), "modprobe vfio-pci");
}

static void test_container_not_vfio(void **state)
{
	struct tree *t = *state;
	char p[PATH_MAX];
	int fd;

	add_function(t, ADDR, 5, "vfio-pci");
	pathf(p, sizeof(p), "%s/vfio", t->dev);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_contains(refused(t, ADDR, ENODEV), "is not a VFIO container");
}

static void test_container_no_permission(void **state)
{
	struct tree *t = *state;
	char p[PATH_MAX];
	int fd;

	add_function(t, ADDR, 5, "vfio-pci");
	pathf(p, sizeof(p), "%s/vfio", t->dev);
	fd = open(p, O_CREAT | O_WRONLY, 0);
	assert_true(fd >= 0);
	close(fd);
	if (geteuid() != 0) {
		assert_contains(refused(t, ADDR, EACCES), "no permission");
		return;
	}
	/* Root opens anything: try as nobody, in a child. */
	assert_int_equal(chmod(t->root, 0755), 0);
	{
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			char err[1024] = "";
			struct uvdpa_pci_dev *d;

			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(2);
			errno = 0;
			d = pci_vfio_open_at(&t->paths, ADDR, err, sizeof(err));
			_exit(!d && errno == EACCES && strstr(err, "no permission") ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

static void test_group_describe(void **state)
{
	struct tree *t = *state;
	char buf[512];

	add_function(t, "0000:00:03.0", 9, "vfio-pci");
	add_function(t, "0000:00:03.1", 9, NULL);
	add_function(t, "0000:00:04.0", 10, "e1000e");
	pci_vfio_group_describe(&t->paths, 9, buf, sizeof(buf));
	assert_contains(buf, "0000:00:03.0 (vfio-pci)");
	assert_contains(buf, "0000:00:03.1 (no driver)");
	assert_null(strstr(buf, "0000:00:04.0"));
	pci_vfio_group_describe(&t->paths, 11, buf, sizeof(buf));
	assert_contains(buf, "iommu_groups/11/devices");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_normalize),
		cmocka_unit_test_setup_teardown(test_bad_address_and_missing_function, tree_up,
						tree_down),
		cmocka_unit_test_setup_teardown(test_no_iommu_group, tree_up, tree_down),
		cmocka_unit_test_setup_teardown(test_not_bound, tree_up, tree_down),
		cmocka_unit_test_setup_teardown(test_bound_to_another_driver, tree_up, tree_down),
		cmocka_unit_test_setup_teardown(test_no_vfio_container, tree_up, tree_down),
		cmocka_unit_test_setup_teardown(test_container_not_vfio, tree_up, tree_down),
		cmocka_unit_test_setup_teardown(test_container_no_permission, tree_up, tree_down),
		cmocka_unit_test_setup_teardown(test_group_describe, tree_up, tree_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
