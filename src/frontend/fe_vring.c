/* Test frontend rings: places a split-ring driver (src/virtio/virtq_driver.c)
 * in guest memory and gives it the session's kick and call eventfds. */
#include <endian.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "core/log.h"

#define TAG "fe-vring"
#define RING_PART_ALIGN 4096	/* each part on its own page: see alloc */

int fe_vring_alloc(struct fe_vring *vr, struct fe_mem *mem, unsigned int index, uint16_t size)
{
	unsigned int region = mem->nregions ? index % mem->nregions : 0;
	struct virtq_drv_rings rings;

	vr->index = index;
	vr->kick_fd = vr->call_fd = -1;
	if (size == 0 || (size & (size - 1)) || size > FE_MAX_QUEUE_SIZE)
		return -EINVAL;
	/* Page-aligned pieces, each placed separately: backends must not
	 * assume the legacy contiguous layout. */
	rings.desc = fe_mem_alloc(mem, region, virtq_drv_desc_bytes(size), RING_PART_ALIGN,
				  &rings.desc_addr);
	rings.avail = fe_mem_alloc(mem, region, virtq_drv_avail_bytes(size), RING_PART_ALIGN,
				   &rings.avail_addr);
	rings.used = fe_mem_alloc(mem, region, virtq_drv_used_bytes(size), RING_PART_ALIGN,
				  &rings.used_addr);
	if (!rings.desc || !rings.avail || !rings.used) {
		LOG_ERR(TAG, "guest memory too small for vring %u of size %u", index, size);
		return -ENOMEM;
	}
	return virtq_drv_init(&vr->vq, size, &rings);
}

void fe_vring_close_fds(struct fe_vring *vr)
{
	if (vr->kick_fd >= 0)
		close(vr->kick_fd);
	if (vr->call_fd >= 0)
		close(vr->call_fd);
	vr->kick_fd = vr->call_fd = -1;
}

void fe_vring_free(struct fe_vring *vr)
{
	fe_vring_close_fds(vr);
	virtq_drv_fini(&vr->vq);
}

int fe_vring_reset(struct fe_vring *vr, uint64_t features, bool irq)
{
	fe_vring_close_fds(vr);
	virtq_drv_reset(&vr->vq, features);
	vr->irq = irq;
	/* Polling: calls would only cost the device work. */
	if (!irq)
		virtq_drv_disable_interrupts(&vr->vq);
	vr->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vr->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vr->kick_fd < 0 || vr->call_fd < 0) {
		int err = -errno;

		fe_vring_close_fds(vr);
		return err;
	}
	return 0;
}

void fe_vring_publish(struct fe_vring *vr)
{
	uint64_t one = 1;

	if (!virtq_drv_publish(&vr->vq))
		return;
	if (vr->notifier && vr->notifier->page) {
		/* The modern virtio-pci doorbell: the queue index, 16 bits, at
		 * the start of the queue's notify page. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		*(volatile uint16_t *)vr->notifier->page = htole16((uint16_t)vr->index);
		vr->kicks++;
		vr->notifier_kicks++;
		return;
	}
	if (write(vr->kick_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		vr->kicks++;
}

uint64_t fe_vring_call_drain(struct fe_vring *vr)
{
	uint64_t v = 0;

	if (vr->call_fd >= 0 && read(vr->call_fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		vr->calls += v;
		return v;
	}
	return 0;
}
