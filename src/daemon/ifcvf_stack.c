/* uvdpa_ifcvf_init / uvdpa_ifcvf_fini (include/uvdpa/ifcvf.h): the IFCVF
 * drivers, the relay pool and the emulated IFCVF's mgmtdevs in one call, for
 * uvdpad and for programs that embed the library. It lives with the daemon,
 * the layer that may wire drivers and the model together. */
#include <errno.h>
#include <string.h>

#include "core/relay.h"
#include "drivers/ifcvf/ifcvf_vdpa.h"
#include "models/ifcvf/ifcvf_mgmtdev.h"
#include "uvdpa/ifcvf.h"
#include "uvdpa/log.h"

int uvdpa_ifcvf_init(const struct uvdpa_ifcvf_options *opts, char *err, size_t errlen)
{
	struct uvdpa_ifcvf_options o = { 0 };
	int ret;

	if (opts)
		o = *opts;
	ret = relay_pool_init(o.relays);
	if (ret < 0 && ret != -EALREADY) {
		uvdpa_errf(err, errlen, "cannot start %u relay thread(s): %s", o.relays,
			   strerror(-ret));
		return ret;
	}
	ret = ifcvf_drivers_register();
	if (ret < 0) {
		uvdpa_errf(err, errlen, "cannot register the ifcvf drivers: %s", strerror(-ret));
		relay_pool_fini();
		return ret;
	}
	ret = ifcvf_mgmtdevs_register(o.engines, o.poll, err, errlen);
	if (ret < 0) {
		ifcvf_drivers_unregister();
		relay_pool_fini();
	}
	return ret;
}

void uvdpa_ifcvf_fini(void)
{
	ifcvf_mgmtdevs_unregister();
	ifcvf_drivers_unregister();
	relay_pool_fini();
}
