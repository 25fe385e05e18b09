#!/usr/bin/env python3
"""Writes the seed corpora for the libFuzzer targets in tests/fuzz/.

    python3 tests/fuzz/gen_seeds.py [tests/fuzz/corpus]

corpus/vhost_msg/: message sequences as QEMU sends them (negotiation, start,
stop, migration, mem slots, blk inflight, reconnect) plus the malformed input
classes that produced CVEs in other backends. corpus/mem_translate/: region
tables and log bitmaps for the pure helpers. The input formats are described
at the top of fuzz_vhost_msg.c and fuzz_mem_translate.c. Files named crash-*
or regress-* (regression inputs from fuzzing) are left alone.
"""
import os
import struct
import sys

# ---- vhost-user constants (include/uvdpa/vhost_user_proto.h) ----
GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_LOG_BASE, SET_LOG_FD, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 6, 7, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 11, 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM = 15, 16, 17
SET_VRING_ENABLE, SEND_RARP, NET_SET_MTU, SET_BACKEND_REQ_FD, IOTLB_MSG = 18, 19, 20, 21, 22
GET_CONFIG, SET_CONFIG, GET_INFLIGHT_FD, SET_INFLIGHT_FD = 24, 25, 31, 32
RESET_DEVICE, GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG = 34, 36, 37, 38
SET_STATUS, GET_STATUS = 39, 40

VERSION, REPLY, NEED_REPLY = 0x1, 0x4, 0x8
PAYLOAD_MAX = 12 + 256  # sizeof(union vhost_user_payload): the config payload
NOFD = 1 << 8

P_MQ, P_LOG_SHMFD, P_RARP, P_REPLY_ACK, P_NET_MTU, P_BACKEND_REQ = 0, 1, 2, 3, 4, 5
P_CONFIG, P_BACKEND_SEND_FD, P_HOST_NOTIFIER, P_INFLIGHT_SHMFD = 9, 10, 11, 12
P_RESET_DEVICE, P_CONFIGURE_MEM_SLOTS, P_STATUS = 13, 15, 16

F_LOG_ALL, F_EVENT_IDX, F_PROTOCOL_FEATURES, F_VERSION_1 = 26, 29, 30, 32
NET_FEATURES = sum(1 << b for b in (0, 1, 5, 15, 16, 17, 21, 22)) | (1 << F_VERSION_1)
BLK_FEATURES = sum(1 << b for b in (1, 2, 6, 9, 11, 12)) | (1 << F_VERSION_1)

# fd kinds (fdspec bytes)
AUTO, EVENTFD, DEVNULL, PAGE4K = 1, 2, 3, 4


def sized(n):
    """A memfd of exactly n bytes."""
    return (0, n)


def auto_minus(pages):
    """A memfd that many pages smaller than the message claims."""
    return AUTO | (pages << 3)


# cfg byte
CFG_BLK, CFG_NARROW, CFG_CONF_FAILS, CFG_NOTIFY = 1, 2, 4, 8

# ops (enum fuzz_op)
OP_LOG_WRITE, OP_LOG_USED_RING, OP_GPA_TO_HVA, OP_UVA_TO_HVA, OP_HVA_TO_GPA = 0, 1, 2, 3, 4
OP_RESET_SESSION, OP_VRING_CALL, OP_WALK, OP_VRING_BASE, OP_BACKEND = 5, 6, 7, 8, 9

u8 = lambda v: struct.pack('<B', v & 0xff)
u16 = lambda v: struct.pack('<H', v & 0xffff)
u32 = lambda v: struct.pack('<I', v & 0xffffffff)
u64 = lambda v: struct.pack('<Q', v & 0xffffffffffffffff)


class Seq:
    def __init__(self, cfg=0, need_reply=False):
        self.out = bytearray(u8(cfg))
        self.need_reply = need_reply

    def msg(self, req, payload=b'', fds=(), flags=None, size=None):
        if flags is None:
            flags = VERSION | (NEED_REPLY if self.need_reply else 0)
        if size is None:
            size = len(payload)
        if req < 0x40 and flags < 0x100 and size < 0x10000:
            self.out += u8(req) + u8(flags) + u16(size)
        else:
            self.out += u8(0x40) + u32(req) + u32(flags) + u32(size)
        # The harness reads min(size, payload max) payload bytes.
        n = min(size, PAYLOAD_MAX)
        self.out += (bytes(payload) + bytes(n))[:n]
        self.out += u8(len(fds))
        for fd in fds:
            if isinstance(fd, tuple):
                self.out += u8(fd[0]) + u32(fd[1])
            else:
                self.out += u8(fd)
        return self

    def op(self, code, args=b''):
        self.out += u8(0x80 | code) + args
        return self

    # payload helpers
    def u64msg(self, req, v, **kw):
        return self.msg(req, u64(v), **kw)

    def state(self, req, idx, num, **kw):
        return self.msg(req, u32(idx) + u32(num), **kw)

    def vring_addr(self, idx, desc, used, avail, log=0, flags=0, **kw):
        return self.msg(SET_VRING_ADDR, u32(idx) + u32(flags) + u64(desc) + u64(used) +
                        u64(avail) + u64(log), **kw)

    def mem_table(self, regions, fds=None, nregions=None, **kw):
        n = len(regions) if nregions is None else nregions
        body = u32(n) + u32(0)
        for gpa, size, uaddr, off in regions:
            body += u64(gpa) + u64(size) + u64(uaddr) + u64(off)
        return self.msg(SET_MEM_TABLE, body, fds=[AUTO] * len(regions) if fds is None else fds,
                        **kw)

    def mem_reg(self, req, region, fds=(AUTO,), **kw):
        gpa, size, uaddr, off = region
        return self.msg(req, u64(0) + u64(gpa) + u64(size) + u64(uaddr) + u64(off), fds=fds,
                        **kw)

    def log_base(self, size, off=0, fds=(AUTO,), **kw):
        return self.msg(SET_LOG_BASE, u64(size) + u64(off), fds=fds, **kw)

    def inflight(self, req, size, off, nq, qs, fds=(), **kw):
        return self.msg(req, u64(size) + u64(off) + u16(nq) + u16(qs), fds=fds, **kw)

    def config(self, req, off, data, size=None, **kw):
        n = len(data) if size is None else size
        return self.msg(req, u32(off) + u32(n) + u32(0) + data, **kw)

    def bytes(self):
        return bytes(self.out)


# Guest layout: 1 MiB at gpa 0 and 256 KiB above 4 GiB (mapped at an offset).
REG0 = (0x0, 0x100000, 0x7f0000000000, 0x0)
REG1 = (0x100000000, 0x40000, 0x7f0000200000, 0x1000)
RING_BASE_UVA = REG0[2] + 0x10000
RING_BASE_GPA = REG0[0] + 0x10000
QSIZE = 256


def ring_uva(i):
    base = RING_BASE_UVA + i * 0x4000
    return base, base + 0x2000, base + 0x1000   # desc, used, avail


def negotiate(s, proto, features, queue_num=True, slots=False):
    s.msg(SET_OWNER)
    s.msg(GET_FEATURES)
    s.msg(GET_PROTOCOL_FEATURES)
    s.u64msg(SET_PROTOCOL_FEATURES, proto)
    if queue_num and proto & (1 << P_MQ):
        s.msg(GET_QUEUE_NUM)
    if slots:
        s.msg(GET_MAX_MEM_SLOTS)
    if proto & (1 << P_BACKEND_REQ):
        s.msg(SET_BACKEND_REQ_FD, fds=[EVENTFD])
    s.u64msg(SET_FEATURES, features)


def start_ring(s, i, base=0, log=False, call=EVENTFD):
    desc, used, avail = ring_uva(i)
    s.state(SET_VRING_NUM, i, QSIZE)
    s.state(SET_VRING_BASE, i, base)
    if log:
        s.vring_addr(i, desc, used, avail, log=RING_BASE_GPA + i * 0x4000 + 0x2000, flags=1)
    else:
        s.vring_addr(i, desc, used, avail)
    s.u64msg(SET_VRING_KICK, i, fds=[EVENTFD])
    if call is None:
        s.u64msg(SET_VRING_CALL, i | NOFD)
    else:
        s.u64msg(SET_VRING_CALL, i, fds=[call])


NET_PROTO = sum(1 << b for b in (P_MQ, P_LOG_SHMFD, P_RARP, P_REPLY_ACK, P_NET_MTU, P_BACKEND_REQ,
                                 P_BACKEND_SEND_FD, P_HOST_NOTIFIER, P_RESET_DEVICE, P_STATUS))
NET_ACK = NET_FEATURES | (1 << F_EVENT_IDX) | (1 << F_PROTOCOL_FEATURES)


def net_start(s, rings=2, proto=NET_PROTO, features=NET_ACK, log=False, regions=(REG0, REG1)):
    negotiate(s, proto, features)
    if proto & (1 << P_NET_MTU):
        s.u64msg(NET_SET_MTU, 1500)
    if proto & (1 << P_STATUS):
        s.u64msg(SET_STATUS, 0x0b)  # ACK | DRIVER | FEATURES_OK
    s.mem_table(list(regions))
    for i in range(rings):
        start_ring(s, i, log=log)
    for i in range(rings):
        s.state(SET_VRING_ENABLE, i, 1)
    if proto & (1 << P_STATUS):
        s.u64msg(SET_STATUS, 0x0f)  # + DRIVER_OK: dev_conf runs here
    return s


def net_stop(s, rings=2):
    for i in range(rings):
        s.state(GET_VRING_BASE, i, 0)
    return s


def log_bytes():
    last_page = (REG1[0] + REG1[1]) // 4096
    return ((last_page + 7) // 8 + 4095) & ~4095


def seeds_vhost_msg():
    out = {}

    s = Seq()
    net_start(s).op(OP_WALK)
    net_stop(s)
    out['s01_net_start_stop'] = s

    s = Seq(need_reply=True)
    net_start(s).op(OP_WALK).op(OP_VRING_CALL, u8(0))
    net_stop(s)
    out['s02_net_start_reply_ack'] = s

    # QEMU repeats the per-device part for every queue pair.
    s = Seq()
    negotiate(s, NET_PROTO, NET_ACK)
    s.u64msg(SET_STATUS, 0x0b)
    s.mem_table([REG0, REG1])
    for pair in range(2):
        if pair:
            s.msg(GET_FEATURES)
            s.u64msg(SET_FEATURES, NET_ACK)
            s.mem_table([REG0, REG1])
        for i in (2 * pair, 2 * pair + 1):
            start_ring(s, i)
            s.state(SET_VRING_ENABLE, i, 1)
    s.u64msg(SET_STATUS, 0x0f).op(OP_WALK)
    net_stop(s, 4)
    out['s03_net_mq_repeated'] = s

    # Migration source: log base, LOG_ALL, ring log addresses, dirty writes.
    s = Seq(need_reply=True)
    net_start(s)
    s.log_base(log_bytes())
    s.u64msg(SET_FEATURES, NET_ACK | (1 << F_LOG_ALL))
    for i in range(2):
        desc, used, avail = ring_uva(i)
        s.vring_addr(i, desc, used, avail, log=RING_BASE_GPA + i * 0x4000 + 0x2000, flags=1)
    s.op(OP_LOG_WRITE, u8(0x80) + u64(0x1234) + u32(0x3000))
    s.op(OP_LOG_WRITE, u8(0x81) + u64(0x10) + u32(0x10000))
    s.op(OP_LOG_USED_RING, u8(0) + u32(4) + u16(8))
    s.op(OP_LOG_USED_RING, u8(1) + u32(0) + u16(2054))
    s.op(OP_WALK)
    s.u64msg(SET_FEATURES, NET_ACK)
    net_stop(s)
    s.msg(SEND_RARP, u64(0x5254001234560000))
    out['s04_net_migration'] = s

    # Stop, restart from the saved bases, disconnect, reconnect.
    s = Seq()
    net_start(s)
    net_stop(s)
    for i in range(2):
        start_ring(s, i, base=17)
        s.state(SET_VRING_ENABLE, i, 1)
    s.op(OP_WALK).op(OP_RESET_SESSION)
    net_start(s)
    s.op(OP_VRING_BASE, u8(1) + u16(5) + u16(4))
    net_stop(s)
    out['s05_net_restart_reconnect'] = s

    # CONFIGURE_MEM_SLOTS: regions come and go while rings run.
    s = Seq(need_reply=True)
    proto = NET_PROTO | (1 << P_CONFIGURE_MEM_SLOTS)
    negotiate(s, proto, NET_ACK, slots=True)
    s.u64msg(SET_STATUS, 0x0b)
    s.mem_reg(ADD_MEM_REG, REG0)
    s.mem_reg(ADD_MEM_REG, REG1)
    s.mem_reg(ADD_MEM_REG, REG1)  # exact repeat
    for i in range(2):
        start_ring(s, i)
        s.state(SET_VRING_ENABLE, i, 1)
    s.u64msg(SET_STATUS, 0x0f).op(OP_WALK)
    s.mem_reg(REM_MEM_REG, REG1, fds=())
    s.mem_reg(ADD_MEM_REG, (0x200000000, 0x10000, 0x7f0000400000, 0))
    s.mem_reg(ADD_MEM_REG, REG1).op(OP_WALK)
    s.mem_reg(REM_MEM_REG, REG0, fds=[DEVNULL])  # rings lose their memory
    s.op(OP_WALK)
    s.mem_reg(ADD_MEM_REG, REG0).op(OP_WALK)
    s.op(OP_GPA_TO_HVA, u8(0x81) + u64(0x20) + u32(0x100))
    out['s06_mem_slots'] = s

    # Every slot taken, then one more; removal of unknown regions.
    s = Seq()
    negotiate(s, NET_PROTO | (1 << P_CONFIGURE_MEM_SLOTS), NET_ACK, slots=True)
    for i in range(33):
        s.mem_reg(ADD_MEM_REG, (i * 0x10000, 0x10000, 0x7f0000000000 + i * 0x10000, 0))
    s.mem_reg(REM_MEM_REG, (0x5000000, 0x1000, 0x1000, 0), fds=())
    s.mem_reg(REM_MEM_REG, (0, 0x10000, 0x7f0000000000, 0), fds=())
    s.mem_reg(ADD_MEM_REG, (0x1000000, 0x1000, 0x7f0001000000, 0), fds=[EVENTFD])
    s.op(OP_WALK)
    out['s17_mem_slots_full'] = s

    # blk: config space, inflight region, one queue, stop and device reset.
    s = Seq(cfg=CFG_BLK, need_reply=True)
    proto = sum(1 << b for b in (P_MQ, P_LOG_SHMFD, P_REPLY_ACK, P_BACKEND_REQ, P_CONFIG,
                                 P_INFLIGHT_SHMFD, P_RESET_DEVICE, P_STATUS))
    negotiate(s, proto, BLK_FEATURES | (1 << F_PROTOCOL_FEATURES))
    s.config(GET_CONFIG, 0, bytes(60))
    s.config(SET_CONFIG, 0x20, b'\x01')
    s.inflight(GET_INFLIGHT_FD, 0, 0, 1, 128)
    s.u64msg(SET_STATUS, 0x0b)
    s.mem_table([REG0])
    need = ((16 + 128 * 16 + 63) // 64) * 64
    s.inflight(SET_INFLIGHT_FD, need, 0, 1, 128, fds=[AUTO])
    start_ring(s, 0)
    s.state(SET_VRING_ENABLE, 0, 1)
    s.u64msg(SET_STATUS, 0x0f).op(OP_WALK)
    s.state(SET_VRING_ENABLE, 0, 0)
    s.state(GET_VRING_BASE, 0, 0)
    s.inflight(GET_INFLIGHT_FD, 0, 0, 1, 128)
    s.msg(RESET_DEVICE)
    s.msg(GET_STATUS)
    out['s07_blk_inflight_config'] = s

    # A frontend without PROTOCOL_FEATURES: rings start enabled on kick.
    s = Seq()
    s.msg(SET_OWNER)
    s.msg(GET_FEATURES)
    s.u64msg(SET_FEATURES, NET_FEATURES)
    s.mem_table([REG0])
    for i in range(2):
        start_ring(s, i, call=None if i else EVENTFD)
    s.u64msg(SET_VRING_ERR, 0, fds=[EVENTFD])
    s.op(OP_WALK)
    net_stop(s)
    out['s08_legacy_no_protocol_features'] = s

    # Memory tables the library must refuse (each drops the connection).
    s = Seq()
    negotiate(s, NET_PROTO, NET_ACK)
    s.mem_table([REG0] * 9, fds=[AUTO] * 8)                       # nregions > 8
    s.mem_table([REG0, REG1], fds=[AUTO])                         # fewer fds
    s.mem_table([REG0], nregions=2, fds=[AUTO, AUTO])             # nregions beyond size
    s.mem_table([REG0], fds=[sized(0x80000)])                     # memfd too small
    s.mem_table([REG0], fds=[auto_minus(1)])
    s.mem_table([(0xfffffffffffff000, 0x2000, 0x1000, 0)])        # gpa wraps
    s.mem_table([(0, 0x1000, 0xfffffffffffff000, 0x10000)])       # uaddr wraps
    s.mem_table([(0, 0x1000, 0x1000, 0xfffffffffffff000)])        # offset wraps
    s.mem_table([(0, 0, 0x1000, 0)])                              # empty region
    s.mem_table([REG0, (0x80000, 0x100000, 0x7f1000000000, 0)])   # gpa overlap
    s.mem_table([REG0, (0x4000000, 0x1000, REG0[2] + 0x1000, 0)])  # uaddr overlap
    s.mem_table([REG0], fds=[EVENTFD])
    s.mem_table([REG0], fds=[DEVNULL])
    negotiate(s, NET_PROTO, NET_ACK)
    s.mem_table([REG0, REG1]).op(OP_WALK)
    out['s09_bad_mem_tables'] = s

    # Ring and log messages the library must refuse.
    s = Seq(need_reply=True)
    net_start(s)
    s.state(SET_VRING_NUM, 256, 256)           # index truncated to u8 elsewhere
    s.state(SET_VRING_NUM, 0x10000, 256)
    s.state(SET_VRING_NUM, 2, 3)
    s.state(SET_VRING_NUM, 2, 65536)
    net_start(s)
    s.u64msg(SET_VRING_KICK, 0x1ff00)          # reserved bits
    s.u64msg(SET_VRING_KICK, 0 | NOFD, fds=[EVENTFD])
    net_start(s)
    desc, used, avail = ring_uva(0)
    s.vring_addr(0, desc + 1, used, avail)     # unaligned
    net_start(s)
    s.vring_addr(0, REG0[2] + REG0[1] - 0x800, used, avail)  # runs off the region
    net_start(s)
    s.state(SET_VRING_BASE, 0, 0x10000)
    net_start(s)
    s.log_base(0xffffffffffff0000, 0x20000)    # size + offset wraps
    net_start(s)
    s.log_base(0x20000, 0x1000, fds=[auto_minus(1)])
    net_start(s)
    s.log_base(0x20000, 0, fds=[EVENTFD])
    s.state(SET_VRING_ENABLE, 70, 1)
    out['s10_bad_ring_and_log'] = s

    # Unknown requests, bad headers, unexpected fds.
    s = Seq()
    s.msg(GET_FEATURES, fds=[EVENTFD, DEVNULL])                # fds on a fd-less message
    s.msg(IOTLB_MSG, bytes(40), fds=[EVENTFD])
    s.msg(99, u64(0), fds=[PAGE4K])
    s.msg(0xffffffff, b'', flags=VERSION)
    s.msg(GET_FEATURES, flags=0x2)                              # bad version
    s.msg(GET_FEATURES, flags=VERSION | REPLY)
    s.msg(SET_FEATURES, u64(0), size=0x1000)                    # claims a huge payload
    s.msg(SET_LOG_FD, b'', fds=[EVENTFD])
    s.msg(SET_OWNER, fds=[EVENTFD] * 8)
    negotiate(s, NET_PROTO, NET_ACK)
    s.msg(GET_QUEUE_NUM, u64(0))                                # payload on a GET
    negotiate(s, NET_PROTO, NET_ACK)
    s.u64msg(NET_SET_MTU, 9)                                    # refused, connection stays
    s.u64msg(SET_STATUS, 0x100)
    out['s11_unknown_and_bad_headers'] = s

    # Status resets, RESET_OWNER, feature changes while running.
    s = Seq(need_reply=True)
    net_start(s)
    s.u64msg(SET_FEATURES, NET_ACK & ~(1 << F_EVENT_IDX))      # refused: device runs
    net_start(s)
    s.u64msg(SET_STATUS, 0)
    s.u64msg(SET_STATUS, 0x0f)
    s.msg(RESET_OWNER)
    net_start(s)
    s.msg(RESET_DEVICE)
    net_start(s)
    s.state(SET_VRING_NUM, 0, 128)                              # resize a running ring
    s.state(SET_VRING_NUM, 0, 256)
    s.state(SET_VRING_ENABLE, 1, 0)
    s.state(SET_VRING_ENABLE, 1, 1)
    out['s12_status_and_reset_cycles'] = s

    # Backend channel: host notifiers and config change (fd is no socket).
    s = Seq(cfg=CFG_NOTIFY, need_reply=True)
    net_start(s)
    s.op(OP_BACKEND, u8(2 | 4)).op(OP_BACKEND, u8(1)).op(OP_BACKEND, u8(0))
    s.msg(SET_BACKEND_REQ_FD, fds=[DEVNULL])
    s.op(OP_BACKEND, u8(4 | (1 << 2)))
    net_stop(s)
    out['s13_backend_channel'] = s

    # Translation around region boundaries once memory is set.
    s = Seq()
    net_start(s, rings=2)
    for sel, off, ln in ((0x80, 0, 0x1000), (0xc0, 0x10, 0x100), (0x81, 0x3ffff, 2),
                         (0xc1, 0x1, 0x10), (0x00, 0x100000, 0x10)):
        s.op(OP_GPA_TO_HVA, u8(sel) + u64(off) + u32(ln))
        s.op(OP_UVA_TO_HVA, u8(sel) + u64(off) + u32(ln))
    s.op(OP_HVA_TO_GPA, u8(0) + u64(0x1234)).op(OP_HVA_TO_GPA, u8(1) + u64(0x3ffff))
    s.op(OP_LOG_WRITE, u8(0) + u64(0) + u32(0x1000))           # no LOG_ALL: no-op
    out['s14_translate_ops'] = s

    # dev_conf failing, then EVENT_IDX changing ring sizes before start.
    s = Seq(cfg=CFG_CONF_FAILS)
    negotiate(s, NET_PROTO & ~(1 << P_STATUS), NET_ACK & ~(1 << F_EVENT_IDX))
    s.mem_table([REG0])
    for i in range(2):
        start_ring(s, i)
        s.state(SET_VRING_ENABLE, i, 1)
    s.u64msg(SET_FEATURES, NET_ACK)
    s.op(OP_WALK)
    net_stop(s)
    out['s15_conf_fails_event_idx'] = s

    # A device without MQ: GET_QUEUE_NUM is refused.
    s = Seq(cfg=CFG_NARROW)
    s.msg(GET_PROTOCOL_FEATURES)
    s.u64msg(SET_PROTOCOL_FEATURES, 1 << P_REPLY_ACK)
    s.msg(GET_QUEUE_NUM)
    out['s16_narrow_device'] = s
    return {k: v.bytes() for k, v in out.items()}


# ---- mem_translate ----

def mt_seed(regions, log_size, fill, queries):
    b = bytearray(u8(len(regions)))
    for gpa, size, uaddr in regions:
        b += u64(gpa) + u64(size) + u64(uaddr)
    b += u16(log_size) + u8(fill)
    for q in queries:
        b += q
    return bytes(b)


def lookup(addr, ln, uva=False, no_contig=False):
    return u8((2 if uva else 0) | (8 if no_contig else 0)) + u64(addr) + u64(ln)


def lookup_rel(sel, v, ln, uva=False, end=False):
    return u8(4 | (2 if uva else 0) | (0x10 if end else 0)) + u8(sel) + u64(v) + u64(ln)


def logq(gpa, ln, small=False, wrap=False):
    return u8(1 | (2 if small else 0) | (4 if wrap else 0)) + u64(gpa) + u64(ln)


def seeds_mem_translate():
    out = {}
    qemu = [(0x0, 0xa0000, 0x7f0000000000), (0xc0000, 0x7ff40000, 0x7f00000c0000),
            (0x100000000, 0x80000000, 0x7f0080000000)]
    out['m01_qemu_layout'] = mt_seed(qemu, 0x1000, 0, [
        lookup(0x1000, 0x1000), lookup(0x9f000, 0x2000), lookup(0xa0000, 1),
        lookup(0x7f00000c0000, 0x100, uva=True), lookup(0x17fffffff, 0x10),
        lookup_rel(2, 0, 0x80000000), lookup_rel(1, 1, 0x10, end=True),
        lookup_rel(0, 0x10, 0x10, uva=True), lookup(0, 0), lookup(0x100000000, 16, no_contig=True),
        logq(0x1000, 0x1000), logq(0xfff, 2), logq(0x7ffff000, 0x2000)])
    tiles = [(i * 0x10000, 0x10000, 0x7f0000000000 + i * 0x10000) for i in range(32)]
    out['m02_32_slots'] = mt_seed(tiles, 0x20, 0xa5, [
        lookup(0xfff0, 0x20), lookup(0x1fffff, 0x10), lookup(0x200000, 1),
        lookup_rel(31, 0, 0x20000), lookup_rel(5, 8, 8, uva=True, end=True),
        logq(0, 0x200000), logq(0x1000, 1, small=True)])
    top = [(0xfffffffffffff000, 0xfff, 0x1000), (0, 0, 0x10000), (0x5000, 0x1000, 0xffffffffffff0000)]
    out['m03_edges'] = mt_seed(top, 0, 0, [
        lookup(0xfffffffffffff800, 0xffffffffffffffff), lookup(0xffffffffffffffff, 1),
        lookup(0, 1), lookup(0xffffffffffff0100, 0x100000, uva=True),
        logq(0xffffffffffffffff, 0xffffffffffffffff), logq(0, 0), logq(0x10, 0, wrap=True)])
    out['m04_log_bits'] = mt_seed([], 0x7ff, 0x81, [
        logq(0, 1), logq(4095, 2), logq(0x3000, 0x5001), logq(0xffe000, 0x3000, small=True),
        logq(0x123456, 0x10, small=True, wrap=True), logq(0x8000000, 0x1000),
        logq(0xfffe000, 0x10000)])
    overl = [(0x1000, 0x4000, 0x10000), (0x2000, 0x1000, 0x20000), (0x0, 0x100000, 0x11000)]
    out['m05_overlapping'] = mt_seed(overl, 8, 0xff, [
        lookup(0x2800, 0x10000), lookup(0x10, 0x10), lookup(0x11800, 0x100, uva=True),
        lookup_rel(1, 0xfff, 0x2), logq(0, 0x40000)])
    return out


def write(dirpath, seeds):
    os.makedirs(dirpath, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(dirpath, name), 'wb') as f:
            f.write(data)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    write(os.path.join(root, 'vhost_msg'), seeds_vhost_msg())
    write(os.path.join(root, 'mem_translate'), seeds_mem_translate())


if __name__ == '__main__':
    main()
