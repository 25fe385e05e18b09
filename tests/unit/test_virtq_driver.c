/* Unit tests for the driver side of split virtqueues (src/virtio/virtq_driver.c):
 * ring layout and alignment, chain building and publication, kick and
 * interrupt suppression with and without EVENT_IDX, 16-bit index wrap, and
 * rejection of impossible used entries. The test plays the device by writing
 * used entries by hand, then drives the same rings with the device-side
 * library (uvdpa/virtq.h) to show the two sides interoperate. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_config.h>

#include "virtio/virtq.h"
#include "virtio/virtq_driver.h"

#define EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)

/* ---- One block of "device memory": device address BASE + offset ---- */

#define BASE 0x40000000ull
#define MEM_SIZE (1u << 20)
#define BUF_OFF 0x40000u	/* buffers live from here on */

static uint8_t *mem;
static struct virtq_driver drv;

static void *host(uint64_t addr)
{
	return mem + (addr - BASE);
}

static void *translate(void *opaque, uint64_t addr, uint64_t len, bool write, uint64_t *contig)
{
	(void)opaque;
	(void)write;
	if (addr < BASE || len > MEM_SIZE || addr - BASE > MEM_SIZE - len)
		return NULL;
	*contig = len;
	return host(addr);
}

static int mem_setup(void **state)
{
	(void)state;
	mem = aligned_alloc(4096, MEM_SIZE);
	assert_non_null(mem);
	memset(mem, 0xee, MEM_SIZE);
	return 0;
}

static int mem_teardown(void **state)
{
	(void)state;
	virtq_drv_fini(&drv);
	free(mem);
	mem = NULL;
	return 0;
}

/* A queue of size entries in one area at the start of memory. */
static void drv_start(uint16_t size, uint64_t features)
{
	struct virtq_drv_rings r;

	assert_int_equal(virtq_drv_rings_in_area(&r, mem, BASE, size, 4096), 0);
	assert_int_equal(virtq_drv_init(&drv, size, &r), 0);
	virtq_drv_reset(&drv, features);
}

static uint64_t buf_addr(unsigned int i)
{
	return BASE + BUF_OFF + (uint64_t)i * 4096;
}

/* The device's half, by hand: one used entry, then the index. */
static void dev_use(uint16_t id, uint32_t len)
{
	uint16_t idx = drv.used->idx;

	drv.used->ring[idx & (drv.size - 1)].id = id;
	drv.used->ring[idx & (drv.size - 1)].len = len;
	__atomic_store_n(&drv.used->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static uint16_t *avail_event(void)
{
	return (uint16_t *)&drv.used->ring[drv.size];
}

static uint16_t used_event(void)
{
	return drv.avail->ring[drv.size];
}

static uint16_t add_one(bool device_writes, uint32_t len)
{
	struct virtq_drv_buf b = { buf_addr(0), len, device_writes };
	uint16_t head;

	assert_int_equal(virtq_drv_add_chain(&drv, &b, 1, &head), 0);
	return head;
}

/* ---- Layout ---- */

static void test_layout_sizes(void **state)
{
	struct virtq_drv_rings r;

	(void)state;
	assert_int_equal(virtq_drv_desc_bytes(256), 4096);
	assert_int_equal(virtq_drv_avail_bytes(256), 6 + 2 * 256);
	assert_int_equal(virtq_drv_used_bytes(256), 6 + 8 * 256);
	/* Legacy layout: used on the next page after desc + avail. */
	assert_int_equal(virtq_drv_area_bytes(256, 4096), 8192 + 6 + 8 * 256);
	assert_int_equal(virtq_drv_rings_in_area(&r, mem, BASE, 256, 4096), 0);
	assert_ptr_equal(r.avail, mem + 4096);
	assert_ptr_equal(r.used, mem + 8192);
	assert_int_equal(r.used_addr, BASE + 8192);
	/* Tight layout: used only 4-aligned. */
	assert_int_equal(virtq_drv_rings_in_area(&r, mem, BASE, 2, 4), 0);
	assert_int_equal(r.avail_addr, BASE + 32);
	assert_int_equal(r.used_addr, BASE + 32 + 12);
	assert_int_equal(virtq_drv_area_bytes(2, 4), 44 + 22);
	assert_int_equal(virtq_drv_rings_in_area(&r, mem, BASE, 3, 4), -EINVAL);
	assert_int_equal(virtq_drv_rings_in_area(&r, mem, BASE, 4, 2), -EINVAL);
	assert_int_equal(virtq_drv_rings_in_area(&r, mem, BASE + 8, 4, 4), -EINVAL);
}

static void test_init_rejects_bad_rings(void **state)
{
	struct virtq_drv_rings ok, r;

	(void)state;
	assert_int_equal(virtq_drv_rings_in_area(&ok, mem, BASE, 8, 4), 0);
	r = ok;
	r.desc = mem + 8;		/* desc must be 16-aligned */
	assert_int_equal(virtq_drv_init(&drv, 8, &r), -EINVAL);
	r = ok;
	r.avail_addr += 1;		/* avail 2-aligned, as the device sees it */
	assert_int_equal(virtq_drv_init(&drv, 8, &r), -EINVAL);
	r = ok;
	r.used = (uint8_t *)r.used + 2;	/* used 4-aligned */
	assert_int_equal(virtq_drv_init(&drv, 8, &r), -EINVAL);
	assert_int_equal(virtq_drv_init(&drv, 12, &ok), -EINVAL);
	assert_int_equal(virtq_drv_init(&drv, 0, &ok), -EINVAL);
	assert_int_equal(virtq_drv_init(&drv, 8, &ok), 0);
}

/* ---- Chains ---- */

static void test_chain_build_and_publish(void **state)
{
	struct virtq_drv_buf bufs[3] = {
		{ buf_addr(0), 12, false }, { buf_addr(1), 100, false }, { buf_addr(2), 2048, true },
	};
	uint16_t head, id, i, len;
	uint32_t ulen;

	(void)state;
	drv_start(8, 0);
	assert_int_equal(virtq_drv_add_chain(&drv, bufs, 3, &head), 0);
	assert_int_equal(drv.num_free, 5);
	assert_int_equal(virtq_drv_chain_len(&drv, head), 3);
	/* Nothing visible before publish. */
	assert_int_equal(drv.avail->idx, 0);
	assert_true(virtq_drv_publish(&drv));	/* no NO_NOTIFY: kick */
	assert_int_equal(drv.avail->idx, 1);
	assert_int_equal(drv.avail->ring[0], head);
	/* The table says what we built. */
	for (i = 0, id = head; i < 3; i++) {
		struct vring_desc *d = &drv.desc[id];

		assert_int_equal(d->addr, bufs[i].addr);
		assert_int_equal(d->len, bufs[i].len);
		assert_int_equal(!!(d->flags & VRING_DESC_F_NEXT), i < 2);
		assert_int_equal(!!(d->flags & VRING_DESC_F_WRITE), i == 2);
		if (i < 2)
			assert_int_equal(d->next, virtq_drv_chain_next(&drv, id));
		id = virtq_drv_chain_next(&drv, id);
	}
	assert_false(virtq_drv_publish(&drv));	/* nothing new: no kick */

	dev_use(head, 1500);
	assert_int_equal(virtq_drv_used_pending(&drv), 1);
	assert_int_equal(virtq_drv_pop(&drv, &len, &ulen), 1);
	assert_int_equal(len, head);
	assert_int_equal(ulen, 1500);
	assert_int_equal(virtq_drv_pop(&drv, &len, &ulen), 0);
	assert_int_equal(virtq_drv_chain_release(&drv, head), 0);
	assert_int_equal(drv.num_free, 8);
}

static void test_chain_limits(void **state)
{
	struct virtq_drv_buf wrong_order[2] = {
		{ buf_addr(0), 64, true }, { buf_addr(1), 64, false },
	};
	uint16_t ids[8], head;

	(void)state;
	drv_start(4, 0);
	assert_int_equal(virtq_drv_add_chain(&drv, wrong_order, 2, &head), -EINVAL);
	assert_int_equal(drv.num_free, 4);
	assert_int_equal(virtq_drv_desc_take(&drv, 0, ids), -EINVAL);
	assert_int_equal(virtq_drv_desc_take(&drv, 5, ids), -ENOSPC);
	assert_int_equal(virtq_drv_desc_take(&drv, 3, ids), 0);
	assert_int_equal(virtq_drv_desc_take(&drv, 2, ids + 3), -ENOSPC);
	/* A chain built and never pushed goes back whole. */
	assert_int_equal(virtq_drv_chain_release(&drv, ids[0]), 0);
	assert_int_equal(drv.num_free, 4);
	assert_int_equal(virtq_drv_chain_release(&drv, ids[0]), -EINVAL);	/* free */
	assert_int_equal(virtq_drv_push(&drv, ids[0]), -EINVAL);	/* not built */
	head = add_one(false, 64);
	assert_int_equal(virtq_drv_chain_release(&drv, head), -EINVAL);	/* in flight */
}

/* ---- Notifications ---- */

static void test_kick_without_event_idx(void **state)
{
	(void)state;
	drv_start(8, 0);
	add_one(false, 64);
	drv.used->flags = VRING_USED_F_NO_NOTIFY;
	assert_false(virtq_drv_publish(&drv));
	add_one(false, 64);
	drv.used->flags = 0;
	assert_true(virtq_drv_publish(&drv));
}

static void test_kick_with_event_idx(void **state)
{
	(void)state;
	drv_start(8, EVENT_IDX);
	/* The device wants a kick when avail idx passes 2 (entry 2 added). */
	*avail_event() = 2;
	add_one(false, 64);
	assert_false(virtq_drv_publish(&drv));	/* idx 0 -> 1 */
	add_one(false, 64);
	assert_false(virtq_drv_publish(&drv));	/* idx 1 -> 2 */
	add_one(false, 64);
	add_one(false, 64);
	assert_true(virtq_drv_publish(&drv));	/* idx 2 -> 4 steps over 2 */
	/* A stale avail_event far behind: no kick. */
	add_one(false, 64);
	assert_false(virtq_drv_publish(&drv));
}

static void test_interrupt_suppression(void **state)
{
	uint16_t head, id;
	uint32_t len;

	(void)state;
	drv_start(8, EVENT_IDX);
	head = add_one(true, 64);
	virtq_drv_publish(&drv);
	virtq_drv_disable_interrupts(&drv);
	assert_int_equal(used_event(), 0x8000);	/* parked half the space away */
	dev_use(head, 10);
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), 1);
	assert_false(virtq_drv_enable_interrupts(&drv));
	assert_int_equal(used_event(), 1);	/* interrupt at the next entry */
	/* The device completed while we re-armed: we must look now. */
	virtq_drv_chain_release(&drv, id);
	head = add_one(true, 64);
	virtq_drv_publish(&drv);
	dev_use(head, 10);
	assert_true(virtq_drv_enable_interrupts(&drv));

	virtq_drv_fini(&drv);
	drv_start(8, 0);
	virtq_drv_disable_interrupts(&drv);
	assert_int_equal(drv.avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
	assert_false(virtq_drv_enable_interrupts(&drv));
	assert_int_equal(drv.avail->flags, 0);
}

/* 16-bit indices wrap many times on a ring of 4 with chains in flight. */
static void test_index_wrap(void **state)
{
	uint16_t heads[3], id;
	uint32_t len, round, k;

	(void)state;
	drv_start(4, EVENT_IDX);
	for (round = 0; round < 70000; round++) {
		for (k = 0; k < 3; k++)
			heads[k] = add_one(true, 64);
		virtq_drv_publish(&drv);
		for (k = 0; k < 3; k++)
			dev_use(heads[2 - k], k);	/* out of order */
		for (k = 0; k < 3; k++) {
			assert_int_equal(virtq_drv_pop(&drv, &id, &len), 1);
			assert_int_equal(id, heads[2 - k]);
			assert_int_equal(len, k);
			assert_int_equal(virtq_drv_chain_release(&drv, id), 0);
		}
	}
	assert_int_equal(drv.avail_idx, (uint16_t)(70000u * 3));
	assert_int_equal(drv.last_used_idx, (uint16_t)(70000u * 3));
	assert_int_equal(drv.num_free, 4);
	assert_false(virtq_drv_is_broken(&drv));
}

/* ---- Untrusted used entries ---- */

/* A ring of 8 with two published chains of one descriptor (heads 0, 1);
 * the first is device-writable, the second as asked. */
static uint16_t start_two_in_flight(bool second_writable)
{
	uint16_t head;

	drv_start(8, 0);
	head = add_one(true, 64);
	add_one(second_writable, 64);
	virtq_drv_publish(&drv);
	return head;
}

static void test_bad_used_id(void **state)
{
	uint16_t id;
	uint32_t len;

	(void)state;
	drv_start(8, 0);
	add_one(true, 64);
	virtq_drv_publish(&drv);
	dev_use(8, 0);			/* out of range */
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EIO);
	assert_true(virtq_drv_is_broken(&drv));
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EIO);
	assert_int_equal(drv.num_free, 7);	/* free list untouched */
}

static void test_used_id_not_in_flight(void **state)
{
	uint16_t id;
	uint32_t len;

	(void)state;
	start_two_in_flight(true);
	dev_use(5, 0);			/* a free descriptor */
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EIO);
	assert_int_equal(drv.num_free, 6);
}

static void test_double_completion(void **state)
{
	uint16_t id, head;
	uint32_t len;

	(void)state;
	head = start_two_in_flight(true);
	dev_use(head, 1);
	dev_use(head, 1);
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), 1);
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EIO);
	/* Even after the caller released it (free again), still refused. */
	assert_int_equal(virtq_drv_chain_release(&drv, head), 0);
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EIO);
	assert_int_equal(drv.num_free, 7);
}

static void test_used_idx_past_in_flight(void **state)
{
	uint16_t id;
	uint32_t len;

	(void)state;
	drv_start(8, 0);
	add_one(true, 64);
	virtq_drv_publish(&drv);
	add_one(true, 64);		/* pushed, not published */
	dev_use(0, 0);
	dev_use(1, 0);
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EIO);
	assert_int_equal(drv.last_used_idx, 0);
}

static void test_used_len_too_long(void **state)
{
	uint16_t id, head;
	uint32_t len;

	(void)state;
	head = start_two_in_flight(false);	/* head 1: nothing writable */
	dev_use(head, 65);
	dev_use(1, 1);
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EMSGSIZE);
	assert_int_equal(id, head);
	assert_int_equal(len, 65);
	assert_int_equal(virtq_drv_chain_release(&drv, id), 0);
	assert_int_equal(virtq_drv_pop(&drv, &id, &len), -EMSGSIZE);
	assert_int_equal(virtq_drv_chain_release(&drv, id), 0);
	assert_false(virtq_drv_is_broken(&drv));
	assert_int_equal(drv.num_free, 8);
}

/* ---- Both libraries on the same rings ---- */

static void device_setup(struct virtq *vq, uint64_t features)
{
	struct virtq_config cfg = {
		.size = drv.size, .features = features | (1ull << VIRTIO_F_VERSION_1),
		.desc_addr = drv.desc_addr, .avail_addr = drv.avail_addr,
		.used_addr = drv.used_addr, .translate = translate,
	};

	assert_int_equal(virtq_setup(vq, &cfg), 0);
	virtq_set_base(vq, 0, 0);
	assert_false(virtq_enable_notify(vq));
}

/* The device echoes each request's bytes, upper-cased, into its reply. */
static void device_serve(struct virtq *vq, struct virtq_elem_buf *eb)
{
	while (virtq_pop(vq, &eb->elem) == 0) {
		char req[64] = { 0 };
		size_t n = virtq_elem_read(&eb->elem, 0, req, sizeof(req));
		size_t i;

		for (i = 0; i < n; i++)
			if (req[i] >= 'a' && req[i] <= 'z')
				req[i] = (char)(req[i] - 'a' + 'A');
		assert_int_equal(virtq_elem_write(vq, &eb->elem, 0, req, n), n);
		assert_int_equal(virtq_push(vq, eb->elem.head, (uint32_t)n), 0);
	}
}

static void post_request(unsigned int slot, const char *text)
{
	struct virtq_drv_buf b[2] = {
		{ buf_addr(2 * slot), (uint32_t)strlen(text), false },
		{ buf_addr(2 * slot + 1), 64, true },
	};
	uint16_t head;

	memcpy(host(b[0].addr), text, strlen(text));
	assert_int_equal(virtq_drv_add_chain(&drv, b, 2, &head), 0);
}

static void test_interop_with_device_side(void **state)
{
	struct virtq_elem_buf *eb = calloc(1, sizeof(*eb));
	static const char *const words[] = { "alpha", "bravo", "charlie", "delta" };
	struct virtq vq;
	unsigned int round, i;

	(void)state;
	assert_non_null(eb);
	virtq_elem_buf_init(eb);
	drv_start(8, EVENT_IDX);
	device_setup(&vq, EVENT_IDX);
	for (round = 0; round < 20000; round++) {
		/* Everything was popped: nothing pending at re-arm. */
		assert_false(virtq_drv_enable_interrupts(&drv));
		for (i = 0; i < 2; i++)
			post_request(i, words[(round + i) % 4]);
		/* The device enabled kicks from its last_avail_idx on. */
		assert_true(virtq_drv_publish(&drv));
		virtq_disable_notify(&vq);
		device_serve(&vq, eb);
		/* The driver asked for interrupts: the device must notify. */
		assert_true(virtq_should_notify(&vq));
		for (i = 0; i < 2; i++) {
			const char *w = words[(round + i) % 4];
			uint16_t head;
			uint32_t len;
			char want[16];
			size_t k;

			assert_int_equal(virtq_drv_pop(&drv, &head, &len), 1);
			assert_int_equal(len, strlen(w));
			for (k = 0; k <= len; k++)
				want[k] = (char)(w[k] >= 'a' ? w[k] - 'a' + 'A' : w[k]);
			assert_memory_equal(host(drv.desc[virtq_drv_chain_next(&drv, head)].addr),
					    want, len);
			assert_int_equal(virtq_drv_chain_release(&drv, head), 0);
		}
		assert_false(virtq_enable_notify(&vq));
	}
	/* Interrupts off: the device sees used_event parked and stays quiet. */
	virtq_drv_disable_interrupts(&drv);
	post_request(0, "echo");
	virtq_drv_publish(&drv);
	device_serve(&vq, eb);
	assert_false(virtq_should_notify(&vq));
	/* Kicks off on the device side: avail_event stops following what the
	 * device takes, so the driver kicks once and then no more. */
	virtq_disable_notify(&vq);
	post_request(1, "once");
	assert_true(virtq_drv_publish(&drv));
	device_serve(&vq, eb);
	post_request(0, "quiet");
	assert_false(virtq_drv_publish(&drv));
	assert_false(virtq_is_broken(&vq));
	free(eb);
}

#define T(f) cmocka_unit_test_setup_teardown(f, mem_setup, mem_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_layout_sizes),
		T(test_init_rejects_bad_rings),
		T(test_chain_build_and_publish),
		T(test_chain_limits),
		T(test_kick_without_event_idx),
		T(test_kick_with_event_idx),
		T(test_interrupt_suppression),
		T(test_index_wrap),
		T(test_bad_used_id),
		T(test_used_id_not_in_flight),
		T(test_double_completion),
		T(test_used_idx_past_in_flight),
		T(test_used_len_too_long),
		T(test_interop_with_device_side),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
