/* The vhost-user bus driver (uvdpa's vhost-vDPA): binding a device serves it
 * on a vhost-user socket, in server or client mode. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "uvdpa/vhost_user.h"
#include "uvdpa/vdpa.h"

static int vhost_user_bind(struct vdpa_device *dev, const struct vdpa_bind_args *args, char *err,
			   size_t errlen)
{
	struct vu_dev *vu;

	if (!args->path || !args->path[0]) {
		snprintf(err, errlen, "vhost-user binding needs a socket path");
		return -EINVAL;
	}
	if (!args->loop) {
		snprintf(err, errlen, "vhost-user binding needs an event loop");
		return -EINVAL;
	}
	vu = vu_dev_new(args->loop, args->path, args->client ? VU_CLIENT : 0, dev);
	if (!vu) {
		int e = errno;

		snprintf(err, errlen, "cannot %s vhost-user socket %s: %s",
			 args->client ? "connect to" : "listen on", args->path, strerror(e));
		return -e;
	}
	dev->bus_priv = vu;
	return 0;
}

static void vhost_user_unbind(struct vdpa_device *dev)
{
	vu_dev_free(dev->bus_priv);
	dev->bus_priv = NULL;
}

static struct vdpa_bus_driver vhost_user_bus = {
	.name = "vhost-user",
	.bind = vhost_user_bind,
	.unbind = vhost_user_unbind,
};

int vdpa_bus_vhost_user_register(void)
{
	if (vdpa_bus_driver_find(vhost_user_bus.name))
		return 0;
	return vdpa_bus_driver_register(&vhost_user_bus);
}
