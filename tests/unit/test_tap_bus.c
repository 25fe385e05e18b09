/* The tap bus driver against the fake device: what its relay-pool watches do
 * while a binding comes and goes, and what it does with used entries the
 * test writes as the device. Needs /dev/net/tun and CAP_NET_ADMIN (CI and
 * tests/run-all.sh run as root); skipped without them.
 *
 * The test is linked with relay_watch_add and relay_watch_del wrapped: each
 * returns 2 ms late, so the relay thread runs between any two of the
 * driver's adds or deletes, as it may when the control thread is
 * preempted. writev is wrapped too: the frames the driver hands the TAP
 * are kept for the test to look at. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/if_packet.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/relay.h"
#include "testing/fakedev.h"
#include "uvdpa/event_loop.h"
#include "uvdpa/vdpa.h"

#define BINDS 5
#define RELAY_DELAY_US 2000

struct relay_watch *__real_relay_watch_add(int fd, relay_cb cb, void *opaque);
void __real_relay_watch_del(struct relay_watch *w);
struct relay_watch *__wrap_relay_watch_add(int fd, relay_cb cb, void *opaque);
void __wrap_relay_watch_del(struct relay_watch *w);

struct relay_watch *__wrap_relay_watch_add(int fd, relay_cb cb, void *opaque)
{
	struct relay_watch *w = __real_relay_watch_add(fd, cb, opaque);

	usleep(RELAY_DELAY_US);
	return w;
}

void __wrap_relay_watch_del(struct relay_watch *w)
{
	__real_relay_watch_del(w);
	usleep(RELAY_DELAY_US);
}

/* Frames written to a TAP while capture is on (the driver's RX path is the
 * only writev caller in these tests). */
#define CAP_FRAMES 8
#define CAP_LEN 4096
static atomic_bool capture;
static atomic_uint captured;
static uint8_t cap_frame[CAP_FRAMES][CAP_LEN];
static size_t cap_len[CAP_FRAMES];

ssize_t __real_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt);

ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt)
{
	unsigned int n;
	size_t len = 0;

	if (!atomic_load(&capture))
		return __real_writev(fd, iov, iovcnt);
	n = atomic_load(&captured);
	for (int i = 0; i < iovcnt; i++) {
		if (n < CAP_FRAMES && len + iov[i].iov_len <= CAP_LEN)
			memcpy(cap_frame[n] + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (n < CAP_FRAMES)
		cap_len[n] = len;
	atomic_store(&captured, n + 1);
	return (ssize_t)len;
}

/* A device that signals its RX and TX interrupts without pause from dev_conf
 * on, as a busy device (or one sending spurious interrupts) may. */
struct hammer {
	struct fakedev *fake;
	pthread_t tid;
	bool started;
	atomic_bool stop;
	int fd[2];	/* our duplicates of the RX and TX vrings' callfds */
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t one = 1;

	for (unsigned int i = 0; !atomic_load(&h->stop); i++) {
		if (write(h->fd[i & 1], &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
		usleep(10);
	}
	return NULL;
}

static void on_record(void *opaque, const char *line)
{
	struct hammer *h = opaque;
	struct uvdpa_session *s;
	struct uvdpa_vring r;

	if (strcmp(line, "dev_conf") != 0)
		return;
	s = fakedev_session(h->fake);
	assert_non_null(s);
	for (uint16_t i = 0; i < 2; i++) {
		assert_int_equal(uvdpa_session_vring_get(s, i, &r), 0);
		assert_true(r.callfd >= 0);
		h->fd[i] = dup(r.callfd);
		assert_true(h->fd[i] >= 0);
	}
	atomic_store(&h->stop, false);
	assert_int_equal(pthread_create(&h->tid, NULL, hammer_main, h), 0);
	h->started = true;
}

static void hammer_stop(struct hammer *h)
{
	if (!h->started)
		return;
	atomic_store(&h->stop, true);
	pthread_join(h->tid, NULL);
	close(h->fd[0]);
	close(h->fd[1]);
	h->started = false;
}

static bool can_tap(void)
{
	return access("/dev/net/tun", R_OK | W_OK) == 0 && geteuid() == 0;
}

/* Bind and unbind while the interrupts fire all the time. The TX
 * interrupt's watch resumes the TAP's watch: it must neither run before
 * the TAP's watch exists (a NULL watch) nor after the TAP's watch was
 * deleted and freed (ASan: heap-use-after-free in relay_watch_pause). */
static void test_bind_unbind_under_interrupts(void **state)
{
	struct hammer h = { .fd = { -1, -1 } };
	struct fakedev_params p = {
		.name = "tapt0",
		.type = UVDPA_TYPE_NET,
		.features = 1ull << VIRTIO_F_VERSION_1,
		.queues = 1,
		.record = on_record,
		.record_opaque = &h,
	};
	struct uvdpa_bind_args args = { 0 };
	char ifname[16], err[256];
	struct uvdpa_device *dev;
	struct uvdpa_loop *loop;

	(void)state;
	if (!can_tap())
		skip();
	snprintf(ifname, sizeof(ifname), "uvtb%u", (unsigned int)getpid() % 100000u);
	loop = uvdpa_loop_new();
	assert_non_null(loop);
	assert_int_equal(uvdpa_bus_tap_register(), 0);
	h.fake = fakedev_new(&p);
	assert_non_null(h.fake);
	dev = fakedev_vdpa(h.fake);
	assert_int_equal(uvdpa_device_register(dev), 0);
	args.path = ifname;
	args.loop = loop;
	for (unsigned int i = 0; i < BINDS; i++) {
		if (uvdpa_device_bind(dev, "tap", &args, err, sizeof(err)) < 0)
			fail_msg("bind %u: %s", i, err);
		usleep(RELAY_DELAY_US);
		assert_int_equal(uvdpa_device_unbind(dev), 0);
		hammer_stop(&h);
	}
	uvdpa_device_unregister(dev);
	fakedev_free(h.fake);
	relay_pool_fini();
	uvdpa_loop_free(loop);
}

/* A bound tap interface on a fake device, the test playing the device. */
struct tap_rig {
	struct fakedev *fake;
	struct uvdpa_device *dev;
	struct uvdpa_loop *loop;
	struct uvdpa_session *s;
	char ifname[16];
};

static void rig_up(struct tap_rig *g, const char *name, unsigned int n, uint64_t features)
{
	struct fakedev_params p = {
		.name = name,
		.type = UVDPA_TYPE_NET,
		.features = features,
		.queues = 1,
	};
	struct uvdpa_bind_args args = { 0 };
	char err[256];

	snprintf(g->ifname, sizeof(g->ifname), "uvtr%u.%u", (unsigned int)getpid() % 100000u, n);
	g->loop = uvdpa_loop_new();
	assert_non_null(g->loop);
	assert_int_equal(uvdpa_bus_tap_register(), 0);
	g->fake = fakedev_new(&p);
	assert_non_null(g->fake);
	g->dev = fakedev_vdpa(g->fake);
	assert_int_equal(uvdpa_device_register(g->dev), 0);
	args.path = g->ifname;
	args.loop = g->loop;
	if (uvdpa_device_bind(g->dev, "tap", &args, err, sizeof(err)) < 0)
		fail_msg("bind: %s", err);
	g->s = fakedev_session(g->fake);
	assert_non_null(g->s);
}

static void rig_down(struct tap_rig *g)
{
	assert_int_equal(uvdpa_device_unbind(g->dev), 0);
	uvdpa_device_unregister(g->dev);
	fakedev_free(g->fake);
	relay_pool_fini();
	uvdpa_loop_free(g->loop);
}

/* Waits up to 2 s for *v to reach want. */
static bool wait_uint(atomic_uint *v, unsigned int want)
{
	for (int i = 0; i < 2000 && atomic_load(v) < want; i++)
		usleep(1000);
	return atomic_load(v) >= want;
}

static bool wait_u16(const uint16_t *v, uint16_t want)
{
	for (int i = 0; i < 2000 && __atomic_load_n(v, __ATOMIC_ACQUIRE) != want; i++)
		usleep(1000);
	return __atomic_load_n(v, __ATOMIC_ACQUIRE) == want;
}

/* As the device: the buffer of the avail ring's entry i, and its size. */
static uint8_t *rx_buf(struct tap_rig *g, const struct uvdpa_vring *r, uint16_t i, uint16_t *head,
		       uint32_t *size)
{
	const struct vring_avail *avail = r->avail;
	const struct vring_desc *desc = r->desc;
	uint64_t len;
	uint8_t *p;

	*head = avail->ring[i % r->size];
	*size = desc[*head].len;
	len = *size;
	p = uvdpa_session_gpa_to_hva(g->s, desc[*head].addr, &len);
	assert_non_null(p);
	assert_true(len >= *size);
	return p;
}

/* As the device: a virtio-net header saying nb buffers, then n bytes of c. */
static uint32_t put_frame_part(uint8_t *p, bool header, uint16_t nb, uint8_t c, uint32_t n)
{
	uint32_t off = 0;

	if (header) {
		struct virtio_net_hdr_v1 h = { .num_buffers = htole16(nb) };

		memcpy(p, &h, sizeof(h));
		off = sizeof(h);
	}
	memset(p + off, c, n);
	return off + n;
}

/* A buffer the device says is longer than it is (a buggy or hostile device)
 * drops the frame it belongs to, whole: the frame's other buffers are
 * neither merged into the next frame nor taken for the start of one. */
static void test_rx_bad_buffer_drops_its_frame(void **state)
{
	struct tap_rig g = { 0 };
	struct uvdpa_vring r;
	struct vring_used *used;
	uint32_t len[7], size;
	uint16_t head[7], i;
	uint8_t *b[7];

	(void)state;
	if (!can_tap())
		skip();
	rig_up(&g, "taprx0", 0, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MRG_RXBUF);
	assert_int_equal(uvdpa_session_vring_get(g.s, 0, &r), 0);
	assert_true(wait_u16(&((struct vring_avail *)r.avail)->idx, r.size));
	for (i = 0; i < 7; i++)
		b[i] = rx_buf(&g, &r, i, &head[i], &size);
	/* A: 2 buffers, the second's length not believable. */
	len[0] = put_frame_part(b[0], true, 2, 'A', 100);
	len[1] = size + 100;
	/* B: 2 good buffers. */
	len[2] = put_frame_part(b[2], true, 2, 'B', 100);
	len[3] = put_frame_part(b[3], false, 0, 'b', 50);
	/* C: its first buffer not believable, its second looks like a header. */
	len[4] = size + 1;
	put_frame_part(b[4], true, 2, 'C', 10);
	len[5] = put_frame_part(b[5], true, 1, 'c', 40);
	/* D: 1 good buffer. */
	len[6] = put_frame_part(b[6], true, 1, 'D', 60);

	atomic_store(&captured, 0);
	atomic_store(&capture, true);
	used = r.used;
	for (i = 0; i < 7; i++)
		used->ring[i] = (struct vring_used_elem){ .id = head[i], .len = len[i] };
	__atomic_store_n(&used->idx, 7, __ATOMIC_RELEASE);
	assert_int_equal(uvdpa_session_vring_call(g.s, 0), 0);
	assert_true(wait_uint(&captured, 2));
	usleep(50 * 1000);
	atomic_store(&capture, false);

	assert_int_equal(atomic_load(&captured), 2);
	assert_int_equal(cap_len[0], 12 + 100 + 50);	/* B alone */
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)cap_frame[0])->num_buffers), 2);
	for (i = 12; i < 112; i++)
		assert_int_equal(cap_frame[0][i], 'B');
	for (; i < 162; i++)
		assert_int_equal(cap_frame[0][i], 'b');
	assert_int_equal(cap_len[1], 12 + 60);		/* then D */
	assert_int_equal(cap_frame[1][12], 'D');
	rig_down(&g);
}

static void if_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

/* TX interrupts are on only while the ring is full: once the device has
 * completed frames and the TAP is read again, they are off again (without
 * EVENT_IDX they would otherwise stay on, one per frame from then on). */
static void test_tx_interrupts_off_after_full(void **state)
{
	struct tap_rig g = { 0 };
	struct sockaddr_ll to = { .sll_family = AF_PACKET };
	uint8_t frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5 };
	struct vring_avail *avail;
	struct vring_used *used;
	struct uvdpa_vring r;
	uint16_t i, full;
	int fd;

	(void)state;
	if (!can_tap())
		skip();
	rig_up(&g, "taptx0", 1, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(uvdpa_session_vring_get(g.s, 1, &r), 0);
	avail = r.avail;
	used = r.used;
	if_up(g.ifname);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	to.sll_ifindex = (int)if_nametoindex(g.ifname);
	to.sll_halen = 6;
	memset(to.sll_addr, 0xff, 6);
	/* More frames than the ring holds: the rest wait in the TAP. */
	for (i = 0; i < r.size + 40u; i++)
		assert_int_equal(sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&to,
					sizeof(to)), (ssize_t)sizeof(frame));
	full = r.size;
	assert_true(wait_u16(&avail->idx, full));
	usleep(20 * 1000);
	/* Full: the driver waits for the device with interrupts on. */
	assert_int_equal(__atomic_load_n(&avail->flags, __ATOMIC_ACQUIRE) & VRING_AVAIL_F_NO_INTERRUPT, 0);
	for (i = 0; i < full; i++)
		used->ring[i] = (struct vring_used_elem){ .id = avail->ring[i], .len = 0 };
	__atomic_store_n(&used->idx, full, __ATOMIC_RELEASE);
	assert_int_equal(uvdpa_session_vring_call(g.s, 1), 0);
	/* The frames that waited are taken... */
	for (i = 0; i < 2000 && (uint16_t)(__atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE) - full) < 40; i++)
		usleep(1000);
	assert_true((uint16_t)(__atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE) - full) >= 40);
	/* ... with interrupts off again. */
	assert_int_equal(__atomic_load_n(&avail->flags, __ATOMIC_ACQUIRE) & VRING_AVAIL_F_NO_INTERRUPT,
			 VRING_AVAIL_F_NO_INTERRUPT);
	close(fd);
	rig_down(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_unbind_under_interrupts),
		cmocka_unit_test(test_rx_bad_buffer_drops_its_frame),
		cmocka_unit_test(test_tx_interrupts_off_after_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
