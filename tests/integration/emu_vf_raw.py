#!/usr/bin/env python3
"""Raw vhost-user frontend for test_emu_vf_fault.sh and
test_emu_vf_barrage.sh: the things uvdpa-frontend cannot do on purpose.

  emu_vf_raw.py fault SOCKET --kind tx|rx [--good-seconds S] [--hold S]
      Negotiates a 1-queue-pair net device (VERSION_1, no MRG_RXBUF, no
      EVENT_IDX), runs verified loopback traffic for S seconds, then hands
      the device a descriptor whose buffer lies at a guest-physical address
      no memory region covers (a TX packet, or an RX buffer), so its DMA
      faults. Reports what the frontend saw (the faulting descriptor never
      completes, the ring stops, CONFIG_CHANGE_MSG on the backend channel)
      and holds the session for --hold seconds before closing it.

  emu_vf_raw.py barrage SOCKET
      One connection per malformed message (bad header flags, oversize
      payload claim, unknown requests, SET_MEM_TABLE with 9 regions, too many
      fds, ...). Each connection first proves it is the served one (a valid
      GET_FEATURES gets its reply), then sends the bad message and must be
      closed by the backend or nacked. Every fd sent is ours to close: the
      backend must not keep any (the shell checks uvdpad's fd count).

Output: human-readable lines, then one line `RESULT {json}`. Exit status 0
when every check passed.
"""
import argparse
import ctypes
import json
import mmap
import os
import select
import socket
import struct
import sys
import time

HDR = struct.Struct("<III")
VERSION = 0x1
REPLY = 0x4
NEED_REPLY = 0x8

GET_FEATURES, SET_FEATURES, SET_OWNER = 1, 2, 3
SET_MEM_TABLE = 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES = 15, 16
SET_VRING_ENABLE = 18
SET_BACKEND_REQ_FD = 21
SET_STATUS, GET_STATUS = 39, 40
BACKEND_CONFIG_CHANGE_MSG = 2

F_VERSION_1 = 1 << 32
F_PROTOCOL_FEATURES = 1 << 30
PF_REPLY_ACK, PF_BACKEND_REQ, PF_CONFIG, PF_STATUS = 3, 5, 9, 16

VRING_DESC_F_NEXT, VRING_DESC_F_WRITE = 1, 2
VRING_AVAIL_F_NO_INTERRUPT = 1

QSIZE = 256
NET_HDR = 12			# VERSION_1 without MRG_RXBUF: num_buffers present
MEM_SIZE = 16 << 20
GPA_BASE = 0x100000000		# guest-physical base of the one region
BAD_GPA = 0x7f0000000000	# no region covers it
BUF = 2048


class Closed(Exception):
    pass


def mkframe(seq, size):
    """A frame of `size` bytes whose content follows from seq alone."""
    head = bytes.fromhex("027576647061" "027576647062" "88b5") + struct.pack("<IQ", 0x50445655, seq)
    body = bytes(((seq * 131 + i * 7) & 0xFF) for i in range(min(size - len(head), 64)))
    frame = head + body
    while len(frame) < size:
        frame += frame[len(head):len(head) + min(size - len(frame), 1024)] or b"\0"
    return frame[:size]


class Conn:
    def __init__(self, path, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.timeout = timeout

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, req, payload=b"", fds=(), flags=VERSION, size=None):
        if size is None:
            size = len(payload)
        data = HDR.pack(req, flags, size) + payload
        try:
            if fds:
                socket.send_fds(self.s, [data], list(fds))
            else:
                self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def recv_exact(self, n, timeout):
        buf = b""
        self.s.settimeout(timeout)
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except ConnectionResetError:
                raise Closed("reset")
            if not chunk:
                raise Closed("eof")
            buf += chunk
        return buf

    def recv(self, timeout=None):
        t = self.timeout if timeout is None else timeout
        req, flags, size = HDR.unpack(self.recv_exact(12, t))
        payload = self.recv_exact(size, t) if size else b""
        return req, flags, payload

    def wait_closed(self, timeout):
        """'closed', ('reply', req, flags, payload) or 'open' (timeout)."""
        try:
            req, flags, payload = self.recv(timeout)
            return ("reply", req, flags, payload)
        except socket.timeout:
            return "open"
        except Closed:
            return "closed"


class Ring:
    def __init__(self, mem, idx, off):
        self.mem, self.idx = mem, idx
        self.desc_off, self.avail_off, self.used_off = off, off + 0x1000, off + 0x2000
        self.avail_idx = 0
        self.last_used = 0
        self.kick = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.call = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        mem.mm[self.avail_off:self.avail_off + 2] = struct.pack("<H", VRING_AVAIL_F_NO_INTERRUPT)

    def set_desc(self, i, gpa, length, flags):
        o = self.desc_off + 16 * i
        self.mem.mm[o:o + 16] = struct.pack("<QIHH", gpa, length, flags, 0)

    def push(self, head):
        o = self.avail_off + 4 + 2 * (self.avail_idx % QSIZE)
        self.mem.mm[o:o + 2] = struct.pack("<H", head)
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF

    def publish(self):
        self.mem.mm[self.avail_off + 2:self.avail_off + 4] = struct.pack("<H", self.avail_idx)
        os.write(self.kick, struct.pack("<Q", 1))

    def used_idx(self):
        return struct.unpack_from("<H", self.mem.mm, self.used_off + 2)[0]

    def pop(self):
        if self.last_used == self.used_idx():
            return None
        o = self.used_off + 4 + 8 * (self.last_used % QSIZE)
        head, length = struct.unpack_from("<II", self.mem.mm, o)
        self.last_used = (self.last_used + 1) & 0xFFFF
        return head, length

    def close(self):
        os.close(self.kick)
        os.close(self.call)


class Mem:
    def __init__(self):
        self.fd = os.memfd_create("emu-vf-raw", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, MEM_SIZE)
        self.mm = mmap.mmap(self.fd, MEM_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.uaddr = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))

    def gpa(self, off):
        return GPA_BASE + off

    def uva(self, off):
        return self.uaddr + off


class Device:
    """A 1-queue-pair vhost-user net session with REPLY_ACK when offered."""

    def __init__(self, path):
        self.c = Conn(path)
        self.mem = Mem()
        self.rx = Ring(self.mem, 0, 0x0000)
        self.tx = Ring(self.mem, 1, 0x4000)
        self.rx_buf_off = 0x10000
        self.tx_buf_off = 0x10000 + QSIZE * BUF
        self.reply_ack = False
        self.backend = None
        self.config_change = 0
        self.backend_other = 0

    def req(self, req, payload=b"", fds=(), want_reply=False):
        flags = VERSION | (NEED_REPLY if self.reply_ack and not want_reply else 0)
        self.c.send(req, payload, fds, flags)
        if want_reply or flags & NEED_REPLY:
            rreq, rflags, rpl = self.c.recv()
            if rreq != req or not rflags & REPLY:
                raise RuntimeError("reply to %d: got request %d flags 0x%x" % (req, rreq, rflags))
            if not want_reply and struct.unpack("<Q", rpl)[0] != 0:
                raise RuntimeError("request %d nacked" % req)
            return rpl
        return None

    def negotiate(self):
        self.req(SET_OWNER)
        feats = struct.unpack("<Q", self.req(GET_FEATURES, want_reply=True))[0]
        if not feats & F_VERSION_1 or not feats & F_PROTOCOL_FEATURES:
            raise RuntimeError("backend features 0x%x lack VERSION_1/PROTOCOL_FEATURES" % feats)
        pf = struct.unpack("<Q", self.req(GET_PROTOCOL_FEATURES, want_reply=True))[0]
        want = pf & ((1 << PF_REPLY_ACK) | (1 << PF_BACKEND_REQ) | (1 << PF_CONFIG) | (1 << PF_STATUS))
        self.pf = want
        self.req(SET_PROTOCOL_FEATURES, struct.pack("<Q", want))
        self.reply_ack = bool(want & (1 << PF_REPLY_ACK))
        self.features = F_VERSION_1 | F_PROTOCOL_FEATURES
        self.req(SET_FEATURES, struct.pack("<Q", self.features))
        if want & (1 << PF_BACKEND_REQ):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.req(SET_BACKEND_REQ_FD, fds=[theirs.fileno()])
            theirs.close()
            self.backend = ours
        region = struct.pack("<QQQQ", GPA_BASE, MEM_SIZE, self.mem.uaddr, 0)
        self.req(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region, fds=[self.mem.fd])
        for r in (self.rx, self.tx):
            self.req(SET_VRING_NUM, struct.pack("<II", r.idx, QSIZE))
            self.req(SET_VRING_BASE, struct.pack("<II", r.idx, 0))
            self.req(SET_VRING_ADDR, struct.pack("<IIQQQQ", r.idx, 0, self.mem.uva(r.desc_off),
                                                 self.mem.uva(r.used_off),
                                                 self.mem.uva(r.avail_off), 0))
            self.req(SET_VRING_KICK, struct.pack("<Q", r.idx), fds=[r.kick])
            self.req(SET_VRING_CALL, struct.pack("<Q", r.idx), fds=[r.call])
            self.req(SET_VRING_ENABLE, struct.pack("<II", r.idx, 1))
        # RX buffers before DRIVER_OK, as a driver does.
        for i in range(QSIZE):
            self.rx.set_desc(i, self.mem.gpa(self.rx_buf_off + i * BUF), BUF, VRING_DESC_F_WRITE)
            self.rx.push(i)
        self.rx.publish()
        if want & (1 << PF_STATUS):
            self.req(SET_STATUS, struct.pack("<Q", 0xF))

    def serve_backend(self, timeout=0.0):
        """Acks backend-channel requests; counts CONFIG_CHANGE_MSG."""
        if not self.backend:
            return
        while True:
            r, _, _ = select.select([self.backend], [], [], timeout)
            if not r:
                return
            timeout = 0
            data = self.backend.recv(12)
            if len(data) < 12:
                self.backend.close()
                self.backend = None
                return
            req, flags, size = HDR.unpack(data)
            if size:
                self.backend.recv(size)
            if req == BACKEND_CONFIG_CHANGE_MSG:
                self.config_change += 1
            else:
                self.backend_other += 1
            if flags & NEED_REPLY:
                self.backend.sendall(HDR.pack(req, VERSION | REPLY, 8) + struct.pack("<Q", 0))

    def close(self):
        self.c.close()
        if self.backend:
            self.backend.close()
        self.rx.close()
        self.tx.close()


class Traffic:
    """Loopback traffic on a Device: every frame sent comes back, in order,
    byte for byte."""

    def __init__(self, dev):
        self.d = dev
        self.free_tx = list(range(QSIZE))
        self.seq_tx = 0
        self.seq_rx = 0
        self.sent_frames = {}
        self.bad = 0
        self.repost_rx = True
        self.rx_outstanding = QSIZE

    def send_burst(self, n=32):
        d = self.d
        k = 0
        while k < n and self.free_tx:
            i = self.free_tx.pop()
            size = 60 + (self.seq_tx * 97) % (1514 - 60 + 1)
            frame = mkframe(self.seq_tx, size)
            off = d.tx_buf_off + i * BUF
            d.mem.mm[off:off + NET_HDR + size] = bytes(NET_HDR) + frame
            d.tx.set_desc(i, d.mem.gpa(off), NET_HDR + size, 0)
            d.tx.push(i)
            self.sent_frames[self.seq_tx] = frame
            self.seq_tx += 1
            k += 1
        if k:
            d.tx.publish()
        return k

    def reap(self):
        d = self.d
        got = 0
        while True:
            e = d.tx.pop()
            if e is None:
                break
            self.free_tx.append(e[0])
        while True:
            e = d.rx.pop()
            if e is None:
                break
            head, length = e
            off = d.rx_buf_off + head * BUF
            frame = bytes(d.mem.mm[off + NET_HDR:off + length])
            want = self.sent_frames.pop(self.seq_rx, None)
            if want is None or frame != want:
                self.bad += 1
            self.seq_rx += 1
            got += 1
            self.rx_outstanding -= 1
            if self.repost_rx:
                d.rx.push(head)
                self.rx_outstanding += 1
        if got and self.repost_rx:
            d.rx.publish()
        return got

    def run(self, seconds):
        end = time.monotonic() + seconds
        idle_since = None
        while time.monotonic() < end:
            if len(self.sent_frames) < QSIZE // 2:
                self.send_burst()
            if self.reap() == 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 2.0:
                    raise RuntimeError("loopback stalled: sent %d, received %d"
                                       % (self.seq_tx, self.seq_rx))
                time.sleep(0.0002)
            else:
                idle_since = None
            self.d.serve_backend()
        # Drain what is in flight.
        t = time.monotonic()
        while self.sent_frames and time.monotonic() - t < 2.0:
            if not self.reap():
                time.sleep(0.001)
        return self.seq_tx, self.seq_rx


def wait_used(ring, want_idx, secs):
    t = time.monotonic()
    while time.monotonic() - t < secs:
        if ring.used_idx() == want_idx:
            return True
        time.sleep(0.01)
    return ring.used_idx() == want_idx


def cmd_fault(a):
    out = {"kind": a.kind}
    ok = True
    dev = Device(a.socket)
    dev.negotiate()
    out["protocol_features"] = hex(dev.pf)
    tr = Traffic(dev)
    sent, recvd = tr.run(a.good_seconds)
    out.update(good_sent=sent, good_received=recvd, good_bad=tr.bad)
    print("good phase: %d frames sent, %d received, %d bad" % (sent, recvd, tr.bad))
    if recvd != sent or tr.bad or sent < 100:
        ok = False
        print("error: the good phase did not verify")

    if a.kind == "tx":
        # A TX packet whose buffer is at an unmapped guest-physical address.
        i = tr.free_tx.pop()
        before = dev.tx.used_idx()
        dev.tx.set_desc(i, BAD_GPA, NET_HDR + 60, 0)
        dev.tx.push(i)
        dev.tx.publish()
        completed = wait_used(dev.tx, (before + 1) & 0xFFFF, 1.5)
        out["bad_desc_completed"] = completed
        # The queue must stay stopped: a good packet after it goes nowhere.
        tr.send_burst(1)
        time.sleep(1.0)
        later = dev.tx.used_idx() != before
        out["ring_after_fault_moved"] = later
    else:
        # Let the device use up every posted RX buffer, then offer one at an
        # unmapped address and send a packet to land in it.
        tr.repost_rx = False
        t = time.monotonic()
        while tr.rx_outstanding > 0 and time.monotonic() - t < 5:
            if len(tr.sent_frames) < tr.rx_outstanding:
                tr.send_burst(min(32, tr.rx_outstanding - len(tr.sent_frames)))
            if not tr.reap():
                time.sleep(0.0005)
        out["rx_drained"] = tr.rx_outstanding == 0
        before = dev.rx.used_idx()
        dev.rx.set_desc(0, BAD_GPA, BUF, VRING_DESC_F_WRITE)
        dev.rx.push(0)
        dev.rx.publish()
        tr.send_burst(1)
        completed = wait_used(dev.rx, (before + 1) & 0xFFFF, 1.5)
        out["bad_desc_completed"] = completed
        # A good buffer after it stays unused: the queue stopped.
        dev.rx.set_desc(1, dev.mem.gpa(dev.rx_buf_off + BUF), BUF, VRING_DESC_F_WRITE)
        dev.rx.push(1)
        dev.rx.publish()
        tr.send_burst(1)
        time.sleep(1.0)
        later = dev.rx.used_idx() != before
        out["ring_after_fault_moved"] = later
    if completed:
        ok = False
        print("error: the device completed a descriptor at an unmapped address")
    if later:
        ok = False
        print("error: the faulted ring kept running")
    dev.serve_backend(1.0)
    out["config_change_msgs"] = dev.config_change
    # The session itself stays up: a GET_FEATURES still gets its reply.
    try:
        dev.req(GET_FEATURES, want_reply=True)
        out["session_alive"] = True
    except (Closed, RuntimeError, socket.timeout) as e:
        out["session_alive"] = False
        print("note: session after the fault: %s" % e)
    print("fault (%s): bad descriptor completed=%s, ring moved after it=%s, "
          "CONFIG_CHANGE_MSG=%d, session alive=%s" %
          (a.kind, completed, later, dev.config_change, out["session_alive"]))
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        dev.serve_backend(0.1)
    dev.close()
    out["pass"] = ok
    print("RESULT " + json.dumps(out))
    return 0 if ok else 1


# ---- barrage ----

def served_conn(path):
    """A connection the backend serves (not refused as a second frontend
    while the previous one is still being torn down)."""
    last = None
    for _ in range(50):
        c = Conn(path, timeout=3.0)
        try:
            c.send(GET_FEATURES)
            req, flags, pl = c.recv(3.0)
            if req == GET_FEATURES and flags & REPLY and len(pl) == 8:
                return c
            last = "unexpected reply %d/0x%x" % (req, flags)
        except (Closed, socket.timeout) as e:
            last = str(e)
        c.close()
        time.sleep(0.1)
    raise RuntimeError("no served connection: %s" % last)


def memfd(size=1 << 20):
    fd = os.memfd_create("emu-vf-barrage", os.MFD_CLOEXEC)
    os.ftruncate(fd, size)
    return fd


def barrage_cases():
    region = lambda gpa, size, off: struct.pack("<QQQQ", gpa, size, 0x7f0000000000, off)
    # name, request, flags, size field (None: len(payload)), payload, nfds,
    # allowed outcomes
    cases = [
        ("flags-version-0", GET_FEATURES, 0x0, None, b"", 0, {"closed"}),
        ("flags-version-2", GET_FEATURES, 0x2, None, b"", 0, {"closed"}),
        ("flags-reply-on-request", GET_FEATURES, VERSION | REPLY, None, b"", 0, {"closed"}),
        ("oversize-claim-4GiB", SET_FEATURES, VERSION, 0xFFFFFFF0, b"", 0, {"closed"}),
        ("oversize-claim-64KiB-sent", SET_FEATURES, VERSION, None, bytes(65536), 0, {"closed"}),
        ("size-mismatch-set-features-4", SET_FEATURES, VERSION, None, b"\0" * 4, 0, {"closed"}),
        ("unknown-request-999", 999, VERSION, None, b"", 0, {"closed", "nack"}),
        ("unknown-request-0", 0, VERSION, None, b"", 0, {"closed", "nack"}),
        ("unknown-request-41", 41, VERSION, None, struct.pack("<Q", 0), 0, {"closed", "nack"}),
        ("mem-table-nregions-9", SET_MEM_TABLE, VERSION, None,
         struct.pack("<II", 9, 0) + region(0, 1 << 20, 0) * 8, 1, {"closed", "nack"}),
        ("mem-table-nregions-9-9fds", SET_MEM_TABLE, VERSION, None,
         struct.pack("<II", 9, 0) + region(0, 1 << 20, 0) * 9, 9, {"closed", "nack"}),
        ("mem-table-offset-past-eof", SET_MEM_TABLE, VERSION, None,
         struct.pack("<II", 1, 0) + region(0, 1 << 20, 1 << 30), 1, {"closed", "nack"}),
        ("mem-table-size-zero", SET_MEM_TABLE, VERSION, None,
         struct.pack("<II", 1, 0) + region(0, 0, 0), 1, {"closed", "nack"}),
        ("too-many-fds-16", GET_FEATURES, VERSION, None, b"", 16, {"closed"}),
        ("too-many-fds-set-owner-9", SET_OWNER, VERSION, None, b"", 9, {"closed"}),
        ("fds-on-get-features", GET_FEATURES, VERSION, None, b"", 1, {"closed", "nack"}),
        ("vring-call-index-200", SET_VRING_CALL, VERSION, None, struct.pack("<Q", 200), 1,
         {"closed", "nack"}),
        ("vring-kick-2-fds", SET_VRING_KICK, VERSION, None, struct.pack("<Q", 0), 2,
         {"closed", "nack"}),
        ("vring-num-index-300", SET_VRING_NUM, VERSION, None, struct.pack("<II", 300, 256), 0,
         {"closed", "nack"}),
        ("vring-num-not-pow2", SET_VRING_NUM, VERSION, None, struct.pack("<II", 0, 255), 0,
         {"closed", "nack"}),
        ("vring-addr-unmapped", SET_VRING_ADDR, VERSION, None,
         struct.pack("<IIQQQQ", 0, 0, 0x1000, 0x2000, 0x3000, 0), 0, {"closed", "nack", "open"}),
        ("get-vring-base-index-999", GET_VRING_BASE, VERSION, None, struct.pack("<II", 999, 0), 0,
         {"closed", "nack"}),
        ("set-status-unnegotiated", SET_STATUS, VERSION, None, struct.pack("<Q", 0xF), 0,
         {"closed", "nack"}),
    ]
    return cases


def one_case(path, case):
    name, req, flags, size, payload, nfds, allowed = case
    c = served_conn(path)
    fds = [memfd() for _ in range(nfds)]
    try:
        try:
            c.send(req, payload, fds, flags, size)
        except Closed:
            pass
        res = c.wait_closed(3.0)
    finally:
        for fd in fds:
            os.close(fd)
    if isinstance(res, tuple):
        _, rreq, rflags, rpl = res
        if rflags & REPLY and len(rpl) == 8 and struct.unpack("<Q", rpl)[0] != 0:
            outcome = "nack"
            # A nacked connection must still serve: GET_FEATURES round trip.
            try:
                c.send(GET_FEATURES)
                r2 = c.recv(3.0)
                outcome = "nack" if r2[0] == GET_FEATURES else "nack-then-garbage"
            except (Closed, socket.timeout):
                outcome = "nack-then-closed"
        else:
            outcome = "reply(req=%d flags=0x%x len=%d)" % (rreq, rflags, len(rpl))
    else:
        # "open": accepted and kept (e.g. ring addresses translated later).
        outcome = res
    c.close()
    ok = outcome in allowed or (outcome == "nack-then-closed" and "closed" in allowed)
    return name, outcome, ok


def raw_partial_cases(path):
    """Connections that die mid-message."""
    results = []
    c = served_conn(path)
    c.s.sendall(HDR.pack(SET_FEATURES, VERSION, 8)[:7])
    c.close()
    results.append(("truncated-header-then-eof", "sent", True))
    c = served_conn(path)
    fd = memfd()
    socket.send_fds(c.s, [HDR.pack(SET_MEM_TABLE, VERSION, 40) + b"\1\0\0\0"], [fd])
    os.close(fd)
    c.close()
    results.append(("short-payload-with-fd-then-eof", "sent", True))
    c = served_conn(path)
    c.s.sendall(os.urandom(4096))
    res = c.wait_closed(3.0)
    c.close()
    results.append(("4KiB-random-bytes", res if isinstance(res, str) else "reply",
                    res in ("closed",) or isinstance(res, tuple)))
    return results


def running_session_case(path):
    """A malformed message in the middle of a running session: the device
    must be stopped and the connection closed (no traffic after it)."""
    dev = None
    for _ in range(50):
        try:
            dev = Device(path)
            dev.negotiate()
            break
        except (Closed, socket.timeout, RuntimeError):
            if dev:
                dev.close()
            dev = None
            time.sleep(0.1)
    if dev is None:
        return ("running-session-bad-flags", "no session", False)
    tr = Traffic(dev)
    sent, recvd = tr.run(0.5)
    moved = recvd == sent and sent > 0 and tr.bad == 0
    dev.c.send(GET_FEATURES, flags=0x2)
    res = dev.c.wait_closed(3.0)
    dev.close()
    outcome = res if isinstance(res, str) else "reply"
    return ("running-session-bad-flags", "%s after %d frames" % (outcome, recvd),
            moved and outcome == "closed")


def cmd_barrage(a):
    results = []
    for case in barrage_cases():
        results.append(one_case(a.socket, case))
    results.extend(raw_partial_cases(a.socket))
    results.append(running_session_case(a.socket))
    bad = 0
    for name, outcome, ok in results:
        print("  %-34s %-18s %s" % (name, outcome, "ok" if ok else "UNEXPECTED"))
        bad += 0 if ok else 1
    # The port still serves a well-behaved frontend afterwards.
    c = served_conn(a.socket)
    c.close()
    out = {"cases": len(results), "unexpected": bad,
           "outcomes": {n: o for n, o, _ in results}, "pass": bad == 0}
    print("RESULT " + json.dumps(out))
    return 0 if bad == 0 else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fault")
    f.add_argument("socket")
    f.add_argument("--kind", choices=("tx", "rx"), default="tx")
    f.add_argument("--good-seconds", type=float, default=2.0)
    f.add_argument("--hold", type=float, default=1.0)
    b = sub.add_parser("barrage")
    b.add_argument("socket")
    a = p.parse_args()
    try:
        return cmd_fault(a) if a.cmd == "fault" else cmd_barrage(a)
    except (RuntimeError, Closed, socket.timeout, OSError) as e:
        print("error: %s: %s" % (type(e).__name__, e))
        print("RESULT " + json.dumps({"pass": False, "error": str(e)}))
        return 1


if __name__ == "__main__":
    sys.exit(main())
