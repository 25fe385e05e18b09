/* uvdpa-frontend: what the option parser (uvdpa-frontend.c) hands the block
 * mode (uvdpa-frontend-blk.c). */
#ifndef UVDPA_TOOLS_FRONTEND_H
#define UVDPA_TOOLS_FRONTEND_H

#include <stdbool.h>

#include "frontend/frontend.h"

struct blk_options {
	struct fe_blk_config load;
	enum fe_blk_bad_kind bad[FE_BLK_BAD_KINDS];	/* --blk-bad, in order */
	unsigned int nbad;
	bool json;
};

/* Connects, negotiates, runs the load or the --blk-bad checks, reports.
 * Returns the exit status: 0 when everything passed. */
int run_blk(const struct blk_options *o, struct fe_dev *dev);

#endif
