/* Copying between flat buffers and the iovecs of a descriptor chain, and
 * dirty logging of what the device wrote into guest memory. */
#include <string.h>

#include "virtio/virtq.h"

/* Finds the iovec holding byte offset; *skip gets the offset inside it. */
static uint32_t iov_seek(const struct iovec *iov, uint32_t cnt, size_t offset, size_t *skip)
{
	uint32_t i = 0;

	while (i < cnt && offset >= iov[i].iov_len) {
		offset -= iov[i].iov_len;
		i++;
	}
	*skip = offset;
	return i;
}

size_t virtq_iov_to_buf(const struct iovec *iov, uint32_t iov_cnt, size_t offset, void *buf,
			size_t len)
{
	uint8_t *out = buf;
	size_t skip, done = 0;
	uint32_t i;

	for (i = iov_seek(iov, iov_cnt, offset, &skip); i < iov_cnt && done < len; i++) {
		size_t n = iov[i].iov_len - skip;

		if (n > len - done)
			n = len - done;
		if (n == 0) {
			skip = 0;
			continue;
		}
		memcpy(out + done, (const uint8_t *)iov[i].iov_base + skip, n);
		done += n;
		skip = 0;
	}
	return done;
}

size_t virtq_buf_to_iov(const struct iovec *iov, uint32_t iov_cnt, size_t offset, const void *buf,
			size_t len)
{
	const uint8_t *in = buf;
	size_t skip, done = 0;
	uint32_t i;

	for (i = iov_seek(iov, iov_cnt, offset, &skip); i < iov_cnt && done < len; i++) {
		size_t n = iov[i].iov_len - skip;

		if (n > len - done)
			n = len - done;
		if (n == 0) {
			skip = 0;
			continue;
		}
		memcpy((uint8_t *)iov[i].iov_base + skip, in + done, n);
		done += n;
		skip = 0;
	}
	return done;
}

size_t virtq_elem_read(const struct virtq_elem *elem, size_t offset, void *buf, size_t len)
{
	return virtq_iov_to_buf(elem->iov, elem->out_num, offset, buf, len);
}

void virtq_elem_log_write(struct virtq *vq, const struct virtq_elem *elem, size_t offset,
			  size_t len)
{
	const struct iovec *iov = virtq_elem_in_iov(elem);
	const uint64_t *addr = virtq_elem_in_addr(elem);
	uint64_t run_addr = 0, run_len = 0;
	size_t skip, done = 0;
	uint32_t i;

	if (!vq->log || len == 0)
		return;
	/* The data must be visible before its pages are reported dirty. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = iov_seek(iov, elem->in_num, offset, &skip); i < elem->in_num && done < len; i++) {
		size_t n = iov[i].iov_len - skip;
		uint64_t a = addr[i] + skip;

		if (n > len - done)
			n = len - done;
		/* A descriptor split at a host-mapping boundary is still one
		 * guest range: report it once. */
		if (run_len && run_addr + run_len == a) {
			run_len += n;
		} else {
			if (run_len)
				vq->log(vq->opaque, run_addr, run_len);
			run_addr = a;
			run_len = n;
		}
		done += n;
		skip = 0;
	}
	if (run_len)
		vq->log(vq->opaque, run_addr, run_len);
}

size_t virtq_elem_write(struct virtq *vq, const struct virtq_elem *elem, size_t offset,
			const void *buf, size_t len)
{
	size_t done = virtq_buf_to_iov(virtq_elem_in_iov(elem), elem->in_num, offset, buf, len);

	virtq_elem_log_write(vq, elem, offset, done);
	return done;
}
