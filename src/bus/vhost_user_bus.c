/* The vhost-user bus driver (uvdpa's vhost-vDPA): binding a device serves it
 * on a vhost-user socket, in server or client mode. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "core/log.h"
#include "uvdpa/vdpa.h"
#include "uvdpa/vhost_user.h"
#include "vhost/vhost_user_proto.h"

static int vhost_user_bind(struct uvdpa_device *dev, const struct uvdpa_bind_args *args, char *err,
			   size_t errlen)
{
	struct uvdpa_vhost_loop loop;
	struct uvdpa_vhost *vu;

	if (!args->path || !args->path[0]) {
		uvdpa_errf(err, errlen, "vhost-user binding needs a socket path");
		return -EINVAL;
	}
	if (!args->loop) {
		uvdpa_errf(err, errlen, "vhost-user binding needs an event loop");
		return -EINVAL;
	}
	uvdpa_vhost_loop_ev(&loop, args->loop);
	vu = uvdpa_vhost_new(&loop, args->path, args->client ? UVDPA_VHOST_CLIENT : 0, dev);
	if (!vu) {
		int e = errno;

		uvdpa_errf(err, errlen, "cannot %s vhost-user socket %s: %s",
			 args->client ? "connect to" : "listen on", args->path, strerror(e));
		return -e;
	}
	dev->bus_priv = vu;
	return 0;
}

static void vhost_user_unbind(struct uvdpa_device *dev)
{
	uvdpa_vhost_free(dev->bus_priv);
	dev->bus_priv = NULL;
}

/* Features count as negotiated once the frontend sent SET_FEATURES (the
 * session keeps 0 until then and after a reset) or set FEATURES_OK. The
 * vhost-user-only bits are not virtio features: leave them out. */
static int vhost_user_status(struct uvdpa_device *dev, struct uvdpa_bind_status *st)
{
	struct uvdpa_vhost *vu = dev->bus_priv;
	uint64_t f;

	if (!vu)
		return -ENOTCONN;
	snprintf(st->path, sizeof(st->path), "%s", uvdpa_vhost_path(vu));
	st->connected = uvdpa_vhost_connected(vu);
	uvdpa_vhost_get_op_timing(vu, &st->dev_conf, &st->dev_close);
	if (!st->connected)
		return 0;
	f = uvdpa_vhost_features(vu);
	st->features_ok = f != 0 || (uvdpa_vhost_status(vu) & VIRTIO_CONFIG_S_FEATURES_OK);
	st->negotiated_features =
		f & ~((1ull << UVDPA_VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << UVDPA_VHOST_F_LOG_ALL));
	return 0;
}

static struct uvdpa_bus_driver vhost_user_bus = {
	.name = "vhost-user",
	.bind = vhost_user_bind,
	.unbind = vhost_user_unbind,
	.status = vhost_user_status,
};

int uvdpa_bus_vhost_user_register(void)
{
	if (uvdpa_bus_driver_find(vhost_user_bus.name))
		return 0;
	return uvdpa_bus_driver_register(&vhost_user_bus);
}
