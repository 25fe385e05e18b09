#!/usr/bin/env python3
"""Live migration of QEMU TCG guests whose virtio-net device is served by
uvdpad (or by DPDK's vhost PMD), checked by comparing guest RAM page by page.

Every guest keeps its RAM in a file (memory-backend-file, share=on) and runs
tests/guest/scripts/rx-watch.sh, which prints its eth0 receive counter once a
second. The device behind it keeps writing frames into the guest's RX
buffers the whole time (an emulated VF with `port source`, or testpmd in
txonly mode), so it dirties guest pages during the whole migration. The
destination QEMU starts with -incoming and -S; when the source reports
`completed` the source and its devices are stopped, and once the destination
has left `inmigrate` both RAM files must be equal, 4 KiB page by 4 KiB page:
a page the device wrote without marking it in the dirty log differs. Then
the destination is continued and must keep receiving.

Scenarios (--only NAME,... selects some; all by default). MODES below lists
uvdpad's migration modes (hw: the function's dirty logging; sw: the
software relay, sw-live-migration=1; shadow: emu/virtio-net on shadow
virtqueues); both VFs of a migration are created in the same mode.
  MODE     one guest lifetime, three result rows: MODE/cancel, a migration
           cancelled while the device logs (the source must keep running and
           receiving); MODE, the real migration (0 differing pages, the
           destination receives after cont); MODE/back, from the destination
           to a third instance on a fresh VF of a third uvdpad (0 pages again)
  dpdk     the same comparison with DPDK's vhost PMD (testpmd txonly) on both sides
  fault    a hw source VF with devargs drop-dirty-log=1: the comparison must
           find differing pages (it shows the check can fail)
  mq:MODE      4 queue pairs (max_vqp 4, queues=4, 2 vCPUs, 4 channels in the
               guest); every RX queue must deliver on both sides
  legacy:MODE  a virtio 0.95 guest (disable-modern=on)
  rarp:MODE    a guest without GUEST_ANNOUNCE whose destination VF's port is a
               TAP: a RARP (ethertype 0x8035) with the guest's MAC must appear
               on the TAP, and frames sent into the TAP reach the guest
  (--only mq runs mq:MODE for every MODE)

A failed scenario (or one left unrun because an earlier step of its chain
failed) is a FAIL; nothing is skipped. Exit status 0 when every scenario
passed, 1 otherwise, 2 on a usage or setup error. Python 3 standard library
only; needs root (TAP, AF_PACKET).
"""

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# uvdpad's migration modes exercised by the MODE scenarios: one place to add
# or drop one. Each maps to (mgmtdev, devargs, the `migration` dev show reports).
MODES = ["hw", "sw", "shadow"]
MODE_DEV = {
    "hw": ("emu/ifcvf-net", None, "hw"),
    "sw": ("emu/ifcvf-net", "sw-live-migration=1", "sw"),
    "shadow": ("emu/virtio-net", None, "shadow"),
}
# Run once: DPDK's backend; the fault needs the function's own (hw) logging.
SINGLE_SCENARIOS = ["dpdk", "fault"]
# Run in every mode of MODES, as NAME:MODE (--only NAME runs all modes of it).
MODAL_SCENARIOS = ["mq", "legacy", "rarp"]


def all_scenarios():
    return (list(MODES) + SINGLE_SCENARIOS +
            ["%s:%s" % (n, m) for n in MODAL_SCENARIOS for m in MODES])

# Guest RAM: not a multiple of 2 MiB, so QEMU 7.2's TCG takes its per-page
# dirty path (otherwise guest stores after a dirty sync are lost and even a
# correct backend shows differing pages: docs in tests/guest/README.md).
GUEST_MEM = "262152K"
PAGE = 4096
GUEST_APPEND = ["init_on_alloc=0"]   # no zeroing of pages at allocation (hides missing logs)

BANDWIDTH = 1 << 30          # max-bandwidth for real migrations, bytes/s
CANCEL_BANDWIDTH = 4 << 20   # slow enough that the migration is still running when cancelled
DOWNTIME_LIMIT = 500         # ms

BOOT_TIMEOUT = 90            # QEMU start -> watch_start
RX_TIMEOUT = 30
MIGRATE_TIMEOUT = 150
RARP_TIMEOUT = 15

ETH_P_ALL = 0x0003
ETH_P_RARP = 0x8035
PACKET_OUTGOING = 4
INJECT_ETHERTYPE = 0x88b5


def load_run_guest():
    """run-guest.py is the one place that builds the QEMU command line."""
    spec = importlib.util.spec_from_file_location("run_guest", os.path.join(HERE, "run-guest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RG = load_run_guest()
T0 = time.monotonic()


def say(msg):
    print("[%6.1f] %s" % (time.monotonic() - T0, msg), flush=True)


class Fail(Exception):
    pass


class Timeout(Fail):
    pass


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Timeout("timeout after %g s waiting for %s" % (timeout, what))
        time.sleep(interval)


def preexec_pdeath():
    RG.die_with_parent()


def stop_process(proc, grace=5.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def reap_stale(shm):
    """Directories and TAPs of earlier runs whose process is gone (a run
    killed with SIGKILL, e.g. by meson after its timeout, cannot clean up)."""
    def owner(rest):
        pid = rest.split(".", 1)[0]
        return int(pid) if pid.isdigit() else None
    for base, prefix in (("/tmp", "uvdpa-mig."), (shm, "uvdpa-mig-ram.")):
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for n in names:
            if n.startswith(prefix):
                pid = owner(n[len(prefix):])
                if pid and not pid_alive(pid):
                    shutil.rmtree(os.path.join(base, n), ignore_errors=True)
    try:
        for n in os.listdir("/var/run/dpdk"):
            if n.startswith("uvdpa-mig-"):
                pid = owner(n[len("uvdpa-mig-"):].split("-", 1)[0])
                if pid and not pid_alive(pid):
                    shutil.rmtree(os.path.join("/var/run/dpdk", n), ignore_errors=True)
    except OSError:
        pass
    try:
        nets = os.listdir("/sys/class/net")
    except OSError:
        nets = []
    for n in nets:
        if n.startswith("uvm") and "-" in n:
            pid = owner(n[3:].split("-", 1)[0])
            if pid and not pid_alive(pid):
                subprocess.call(["ip", "link", "del", n], stderr=subprocess.DEVNULL)


class Env:
    def __init__(self, a):
        self.build = os.path.abspath(a.build)
        self.work = os.path.abspath(a.work)
        self.cache = os.path.abspath(a.cache)
        self.initrd = os.path.abspath(a.initrd)
        self.uvdpad = os.path.join(self.build, "tools", "uvdpad")
        self.uvdpa = os.path.join(self.build, "tools", "uvdpa")
        # Sockets need short paths; guest RAM files want tmpfs. Names carry
        # the pid, so a run killed with SIGKILL is cleaned up by the next one.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
        reap_stale(shm)
        self.tmp = tempfile.mkdtemp(prefix="uvdpa-mig.%d." % os.getpid(), dir="/tmp")
        self.ramdir = tempfile.mkdtemp(prefix="uvdpa-mig-ram.%d." % os.getpid(), dir=shm)
        self.cleanups = []
        self.taps = []

    # Scenario names hold ':' (mq:hw): kept out of paths (QEMU's URIs split on it).
    def path(self, name):
        return os.path.join(self.tmp, name.replace(":", "-"))

    def ram(self, name):
        return os.path.join(self.ramdir, name.replace(":", "-") + ".ram")

    def log(self, name):
        return os.path.join(self.work, "mig-" + name.replace(":", "-") + ".log")

    def close(self):
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as e:  # cleanup goes on
                say("cleanup: %s" % e)
        for t in self.taps:
            subprocess.call(["ip", "link", "del", t], stderr=subprocess.DEVNULL)
        self.taps = []
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.ramdir, ignore_errors=True)


# ---- uvdpad ------------------------------------------------------------------

class Daemon:
    """One uvdpad: stands for one host."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.ctl = env.path(name + ".ctl")
        self.logpath = env.log(name + ".uvdpad")
        self.logf = open(self.logpath, "w")
        self.proc = subprocess.Popen([env.uvdpad, "-f", "-s", self.ctl], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec_pdeath)
        env.cleanups.append(self.stop)

        def up():
            if self.proc.poll() is not None:
                raise Fail("uvdpad %s exited at start (status %s, log %s)" %
                           (name, self.proc.returncode, self.logpath))
            return os.path.exists(self.ctl)
        wait_for(up, 15, "uvdpad %s's control socket %s" % (name, self.ctl))

    def u(self, *args, as_json=False):
        cmd = [self.env.uvdpa, "-s", self.ctl] + (["-j"] if as_json else []) + list(args)
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Fail("%s: uvdpa %s: exit %d: %s" % (self.name, " ".join(args), r.returncode,
                                                      (r.stderr or r.stdout).strip()))
        return json.loads(r.stdout) if as_json else r.stdout

    def check_alive(self):
        if self.proc.poll() is not None:
            raise Fail("uvdpad %s died (status %s, log %s)" % (self.name, self.proc.returncode,
                                                               self.logpath))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.logf.closed:
            self.logf.close()

    def shutdown_check(self):
        """SIGTERM; uvdpad must exit 0 with no sanitizer report in its log.
        Returns (problem or None, the log's ERR/WARN lines)."""
        self.stop()
        with open(self.logpath, errors="replace") as f:
            lines = f.read().splitlines()
        san = [l for l in lines if "Sanitizer" in l or "runtime error:" in l]
        errs = [l for l in lines if " ERR " in l or " WARN " in l]
        if san:
            return "uvdpad %s: sanitizer report: %s (log %s)" % (self.name, san[0], self.logpath), errs
        if self.proc.returncode != 0:
            return "uvdpad %s exited with status %s after SIGTERM (log %s)" % (
                self.name, self.proc.returncode, self.logpath), errs
        return None, errs


class UvdpaVf:
    """An emulated function on one uvdpad, bound to a vhost-user socket."""

    def __init__(self, daemon, name, mgmtdev, mac, port, devargs=None, max_vqp=None):
        self.daemon = daemon
        self.name = name
        self.qpairs = max_vqp or 1
        self.sock = daemon.env.path(name + ".vu")
        args = ["dev", "add", "name", name, "mgmtdev", mgmtdev, "mac", mac, "port", port]
        if max_vqp:
            args += ["max_vqp", str(max_vqp)]
        if devargs:
            args += ["devargs", devargs]
        self.add_and_bind(args)
        self.label = "uvdpad %s %s%s port %s" % (mgmtdev, name, " " + devargs if devargs else "", port)
        self.kind = "uvdpad " + mgmtdev

    def add_and_bind(self, add_args):
        """`uvdpa dev add` with add_args, then bind the device to self.sock."""
        self.daemon.u(*add_args)
        self.added = True
        try:
            self.daemon.u("dev", "bind", self.name, "vhost-user", self.sock)
        except Fail:
            self.delete()
            raise

    def guest_args(self):
        return ["--vhost-user", self.sock]

    def show(self):
        return self.daemon.u("dev", "show", self.name, as_json=True)["dev"][self.name]

    def mode(self):
        return self.show().get("migration")

    def logging(self):
        return self.show().get("logging")

    def connected(self):
        return self.show().get("connected")

    def vstats(self, q):
        return self.daemon.u("dev", "vstats", "show", self.name, "qidx", str(q),
                             as_json=True)["vstats"][self.name]

    def rx_per_queue(self):
        return [int(self.vstats(2 * i).get("packets", 0)) for i in range(self.qpairs)]

    def rx_packets(self):
        return sum(self.rx_per_queue())

    def log_counts(self):
        """(used entries relayed, pages logged) summed over the rings: the
        function counts what it logs itself (hw), the driver's relay what it
        relays and logs (sw, shadow)."""
        relayed = logged = 0
        for q in range(2 * self.qpairs):
            st = self.vstats(q)
            relayed += int(st.get("relayed", 0))
            logged += int(st.get("logged_pages", 0))
        return relayed, logged

    def faults(self):
        n = 0
        for q in range(2 * self.qpairs):
            n += int(self.vstats(q).get("faults", 0))
        return n

    def delete(self):
        if self.added:
            self.added = False
            try:
                self.daemon.u("dev", "del", self.name)
            except Fail as e:
                say("cleanup: %s" % e)


class DpdkVhost:
    """dpdk-testpmd with a net_vhost0 port (vhost-user server), txonly: it
    sends to the guest as fast as the guest posts buffers."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.sock = env.path(name + ".vu")
        self.prefix = "uvdpa-mig-%d-%s" % (os.getpid(), name)
        self.logpath = env.log(name + ".testpmd")
        self.logf = open(self.logpath, "w")
        self.label = "dpdk-testpmd net_vhost0 txonly"
        self.kind = "dpdk vhost"
        # Both testpmds forward on lcore 1 (they idle-spin): core 0 stays for QEMU.
        cmd = ["dpdk-testpmd", "-l", "0,1", "--no-pci", "--no-huge", "-m", "512",
               "--file-prefix=" + self.prefix,
               "--vdev", "net_vhost0,iface=%s,queues=1,client=0" % self.sock, "--",
               "--auto-start", "--forward-mode=txonly", "--stats-period=10",
               "--total-num-mbufs=16384"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, preexec_fn=preexec_pdeath)
        env.cleanups.append(self.delete)

        def up():
            if self.proc.poll() is not None:
                raise Fail("dpdk-testpmd %s exited at start (log %s)" % (name, self.logpath))
            return os.path.exists(self.sock)
        wait_for(up, 60, "dpdk-testpmd %s's socket %s" % (name, self.sock))

    def guest_args(self):
        return ["--vhost-user", self.sock]

    def mode(self):
        return "-"

    def logging(self):
        return None

    def connected(self):
        return None

    def rx_packets(self):
        return None

    def rx_per_queue(self):
        return None

    def log_counts(self):
        return None

    def faults(self):
        return 0

    def delete(self):
        if self.proc.poll() is None:
            stop_process(self.proc, 10)
        if not self.logf.closed:
            self.logf.close()
        shutil.rmtree("/var/run/dpdk/" + self.prefix, ignore_errors=True)
        try:
            os.unlink(self.sock)
        except OSError:
            pass


# ---- QEMU --------------------------------------------------------------------

class Qmp:
    def __init__(self, path, check_alive, timeout=30):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                check_alive()
                if time.monotonic() > deadline:
                    raise Fail("cannot connect to QMP %s" % path)
                time.sleep(0.1)
        self.sock.settimeout(60)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                raise Fail("QMP %s: no answer in 60 s" % self.path)
            if not d:
                raise Fail("QMP %s: connection closed" % self.path)
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise Fail("QMP %s: %s" % (name, r["error"].get("desc", r["error"])))
            return r.get("return")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Guest:
    """One QEMU instance running guest script `test` on the device
    backend.guest_args() adds; the serial console is logged and its markers
    collected (rx-watch's rx markers parsed). With console_input the serial
    port reads what send_console() writes."""

    def __init__(self, env, name, backend, guest_opts, incoming=False, test="rx-watch",
                 console_input=False):
        self.env = env
        self.name = name
        self.backend = backend
        self.mem = env.ram(name)
        self.qmp_path = env.path(name + ".qmp")
        self.incoming = ("unix:" + env.path(name + ".mig")) if incoming else None
        args = ["--cache", env.cache, "--initrd", env.initrd, "--test", test,
                "--mem", GUEST_MEM, "--mem-file", self.mem, "--qmp", self.qmp_path
                ] + backend.guest_args() + list(guest_opts)
        for ap in GUEST_APPEND:
            args += ["--append", ap]
        if incoming:
            args += ["--incoming", self.incoming, "--paused"]
        cmd, _, _ = RG.build_cmd(RG.parse_args(args))
        self.logpath = env.log(name)
        self.logf = open(self.logpath, "w", encoding="utf-8", errors="replace")
        self.lock = threading.Lock()
        self.markers = []   # (host monotonic time, key, value)
        self.rx = []        # (host monotonic time, tick, rx_packets, rx_dropped, rx_errors)
        self.stderr = []
        self.done_rc = None  # the guest script's rc (UVDPA-GUEST-DONE)
        self._log("# " + " ".join(cmd))
        stdin = subprocess.PIPE if console_input else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=preexec_pdeath)
        self.qmp = None
        self.closed = False
        env.cleanups.append(self.close)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self.qmp = Qmp(self.qmp_path, self.check_alive)

    def _log(self, s):
        with self.lock:
            if not self.logf.closed:
                self.logf.write(s + "\n")
                self.logf.flush()

    def _read_err(self):
        for raw in self.proc.stderr:
            s = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.stderr.append(s)
            self._log("[qemu] " + s)

    def _read_out(self):
        for raw in self.proc.stdout:
            s = raw.decode("utf-8", "replace").replace("\r", "").rstrip("\n")
            self._log(s)
            m = RG.DONE_RE.search(s)
            if m:
                self.done_rc = int(m.group(1))
                continue
            m = RG.MARK_RE.search(s)
            if not m:
                continue
            now = time.monotonic()
            k, v = m.group(1), m.group(2).strip()
            with self.lock:
                self.markers.append((now, k, v))
                if k == "rx":
                    f = v.split()
                    try:
                        self.rx.append((now, int(f[0]), int(f[1]), int(f[2]), int(f[3])))
                    except (ValueError, IndexError):
                        pass

    def send_console(self, text):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except (AttributeError, OSError) as e:
            raise Fail("%s: cannot write to the console: %s" % (self.name, e))

    def markers_of(self, key):
        with self.lock:
            return [v for _, k, v in self.markers if k == key]

    def marker(self, key):
        with self.lock:
            for _, k, v in reversed(self.markers):
                if k == key:
                    return v
        return None

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            tail = "; ".join(self.stderr[-3:])
            raise Fail("QEMU %s exited (status %s%s; log %s)" % (
                self.name, self.proc.returncode, ": " + tail if tail else "", self.logpath))

    def wait_marker(self, key, timeout):
        def got():
            self.check_alive()
            return self.marker(key)
        return wait_for(got, timeout, "marker '%s' from %s (log %s)" % (key, self.name, self.logpath))

    def rx_since(self, t):
        with self.lock:
            return [r for r in self.rx if r[0] > t]

    def last_rx(self):
        with self.lock:
            return self.rx[-1] if self.rx else None

    def wait_rx_growth(self, since, samples=3, timeout=RX_TIMEOUT):
        """samples rx markers printed after host time `since`, each with more
        packets than the one before; returns (first, last)."""
        def got():
            self.check_alive()
            r = self.rx_since(since)
            return r if len(r) >= samples else None
        try:
            r = wait_for(got, timeout, "%d rx markers from %s" % (samples, self.name))
        except Timeout:
            r = self.rx_since(since)
            raise Fail("%s: %d rx marker(s) in %g s after %.1f (log %s)" % (
                self.name, len(r), timeout, since - T0, self.logpath))
        for a, b in zip(r, r[1:]):
            if b[2] <= a[2]:
                raise Fail("%s: rx_packets stopped growing: tick %d %d -> tick %d %d (log %s)" % (
                    self.name, a[1], a[2], b[1], b[2], self.logpath))
        return r[0], r[-1]

    def status(self):
        return self.qmp.cmd("query-status")["status"]

    def cont(self):
        self.qmp.cmd("cont")

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.alive() and self.qmp:
            try:
                self.qmp.cmd("quit")
            except Fail:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.qmp:
            self.qmp.close()
        stop_process(self.proc)
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        with self.lock:
            self.logf.close()
        try:
            os.unlink(self.mem)
        except OSError:
            pass


# ---- checks ------------------------------------------------------------------

def compare_ram(a, b):
    """(pages, differing pages, [first differing offsets])"""
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    if sa != sb:
        raise Fail("RAM files differ in size: %s %d, %s %d" % (a, sa, b, sb))
    chunk = 256 * PAGE
    diff = 0
    first = []
    with open(a, "rb") as fa, open(b, "rb") as fb:
        off = 0
        while True:
            x = fa.read(chunk)
            y = fb.read(chunk)
            if not x:
                break
            if x != y:
                for p in range(0, len(x), PAGE):
                    if x[p:p + PAGE] != y[p:p + PAGE]:
                        diff += 1
                        if len(first) < 8:
                            first.append(off + p)
            off += len(x)
    return sa // PAGE, diff, first


def sname(base, mode):
    return "%s:%s" % (base, mode)


def set_params(guest, bandwidth):
    guest.qmp.cmd("migrate-set-parameters",
                  {"max-bandwidth": bandwidth, "downtime-limit": DOWNTIME_LIMIT})


def start_migration(src, dst, bandwidth):
    set_params(src, bandwidth)
    src.qmp.cmd("migrate", {"uri": dst.incoming})


def migrate(src, dst, watch=None, bandwidth=BANDWIDTH):
    """Migrate src -> dst to completion; returns query-migrate's answer. The
    source must end in postmigrate and the destination leave inmigrate for
    paused (started with -S)."""
    start_migration(src, dst, bandwidth)
    deadline = time.monotonic() + MIGRATE_TIMEOUT
    while True:
        info = src.qmp.cmd("query-migrate")
        st = info.get("status")
        if watch:
            watch()
        if st == "completed":
            break
        if st in ("failed", "cancelled"):
            raise Fail("migration %s -> %s %s: %s" % (src.name, dst.name, st,
                                                    info.get("error-desc", "")))
        if time.monotonic() > deadline:
            raise Fail("migration %s -> %s still '%s' after %d s (ram %s)" % (
                src.name, dst.name, st, MIGRATE_TIMEOUT, info.get("ram")))
        dst.check_alive()
        time.sleep(0.1)
    # The source reports completed before the destination has loaded everything.
    st = wait_for(lambda: (dst.check_alive(), dst.status())[1] != "inmigrate" and dst.status(),
                  60, "%s to leave inmigrate" % dst.name)
    if st != "paused":
        raise Fail("destination %s is '%s' after the migration, expected paused" % (dst.name, st))
    st = src.status()
    if st != "postmigrate":
        raise Fail("source %s is '%s' after the migration, expected postmigrate" % (src.name, st))
    return info


class Row:
    def __init__(self, name, backend, mode):
        self.name = name
        self.backend = backend
        self.mode = mode
        self.ok = None
        self.msg = ""
        self.info = None
        self.diff = None
        self.pages = None
        self.dev_frames = None
        self.logged = None
        self.rx_after = None
        self.notes = []

    def figures(self):
        i = self.info or {}
        ram = i.get("ram", {})
        return {"total_ms": i.get("total-time"), "downtime_ms": i.get("downtime"),
                "setup_ms": i.get("setup-time"),
                "ram_mib": round(ram["transferred"] / 1048576, 1) if "transferred" in ram else None,
                "syncs": ram.get("dirty-sync-count")}

    def line(self):
        f = self.figures()
        parts = []
        if f["total_ms"] is not None:
            parts.append("total %s ms, downtime %s ms" % (f["total_ms"], f["downtime_ms"]))
        if self.diff is not None:
            parts.append("%d differing pages of %d" % (self.diff, self.pages))
        if self.dev_frames is not None:
            parts.append("device frames during migration %d" % self.dev_frames)
        if self.rx_after:
            parts.append(self.rx_after)
        parts += self.notes
        s = "%s %s [%s, mode %s]: %s" % ("PASS" if self.ok else "FAIL", self.name, self.backend,
                                         self.mode, "; ".join(parts))
        if self.msg:
            s += " -- " + self.msg
        return s


class Runner:
    def __init__(self, env):
        self.env = env
        self.rows = []
        self.hosts = {}
        self.seq = 0

    def host(self, name):
        if name not in self.hosts:
            self.hosts[name] = Daemon(self.env, name)
        return self.hosts[name]

    def mac(self):
        self.seq += 1
        return "52:54:00:4d:%02x:%02x" % (os.getpid() & 0xff, self.seq & 0xff)

    def row(self, name, backend, mode):
        r = Row(name, backend, mode)
        self.rows.append(r)
        return r

    def finish(self, row, ok, msg=""):
        row.ok = ok
        row.msg = msg
        say(row.line())

    def fail_chain(self, name, current, rows, e):
        """A step of chain `name` failed with e while on row current: the rows
        after it did not run."""
        self.finish(current, False, str(e))
        for r in rows:
            if r.ok is None:
                self.finish(r, False, "not run: an earlier step of the %s chain failed" % name)

    # -- building blocks --

    def boot(self, name, backend, guest_opts):
        g = Guest(self.env, name, backend, guest_opts)
        t = time.monotonic()
        g.wait_marker("watch_start", BOOT_TIMEOUT)
        first, last = g.wait_rx_growth(t, samples=2)
        say("%s: booted in %.1f s (%s, %s), receiving: rx_packets %d -> %d" % (
            name, time.monotonic() - t, g.marker("transport"), backend.label, first[2], last[2]))
        return g

    def check_mode(self, row, vf, expected):
        got = vf.mode()
        if got != expected:
            raise Fail("%s reports migration '%s', expected '%s'" % (vf.name, got, expected))

    def migrate_and_compare(self, row, src, dst, src_vf, expect_logged=True):
        """The real migration, the RAM comparison and the figures into row.
        With expect_logged, a uvdpad VF that delivered frames while migrating
        must have logged pages (dev vstats logged_pages)."""
        seen_logging = []

        def watch():
            if not seen_logging and src_vf.logging():
                seen_logging.append(True)
        before = src_vf.rx_packets()
        log0 = src_vf.log_counts()
        say("%s: migrating %s -> %s" % (row.name, src.name, dst.name))
        row.info = migrate(src, dst, watch)
        after = src_vf.rx_packets()
        if before is not None:
            row.dev_frames = after - before
        log1 = src_vf.log_counts()
        if log0 is not None:
            relayed, logged = log1[0] - log0[0], log1[1] - log0[1]
            row.logged = logged
            row.notes.append("%d pages logged%s" % (
                logged, ", %d used entries relayed" % relayed if relayed else ""))
            if expect_logged and row.dev_frames and not logged:
                raise Fail("%s (migration %s) delivered %d frames while migrating but logged no "
                           "page" % (src_vf.name, src_vf.mode(), row.dev_frames))
        row.pages, row.diff, first = compare_ram(src.mem, dst.mem)
        if first:
            row.notes.append("first differing offsets " +
                             " ".join("0x%x" % o for o in first))
        if src_vf.logging() is not None and not seen_logging:
            row.notes.append("logging not seen on (migration too short to sample)")
        f = row.figures()
        say("%s: completed: total %s ms, downtime %s ms, setup %s ms, %s MiB sent, %s dirty syncs;"
            " RAM compared: %d of %d pages differ" % (
                row.name, f["total_ms"], f["downtime_ms"], f["setup_ms"], f["ram_mib"], f["syncs"],
                row.diff, row.pages))

    def cont_and_receive(self, row, g, vf, src):
        """cont the destination g: its rx markers must go on from the last one
        the source printed (the counter is guest memory) and keep growing, and
        its device must deliver."""
        t = time.monotonic()
        before = src.last_rx()
        dev0 = vf.rx_packets()
        g.cont()
        first, last = g.wait_rx_growth(t, samples=3)
        if before and (first[2] < before[2] or first[1] <= before[1]):
            raise Fail("%s: rx marker tick %d rx_packets %d after cont, the source's last was "
                       "tick %d rx_packets %d" % (g.name, first[1], first[2], before[1], before[2]))
        dev = vf.rx_packets()
        if dev is not None and dev <= dev0:
            raise Fail("%s: its device delivered no frame after cont (%d -> %d)" % (
                g.name, dev0, dev))
        row.rx_after = "after cont rx_packets %d -> %d in %d s" % (first[2], last[2],
                                                                   last[1] - first[1])

    def cancel(self, row, src, dst, src_vf):
        """Start a migration, cancel it while the device logs; the source must
        go on running and receiving, its device back to not logging, with no
        fault, no rx error, and the rx counter never going back."""
        say("%s: migrating %s -> %s at %d MiB/s, to cancel" % (row.name, src.name, dst.name,
                                                             CANCEL_BANDWIDTH >> 20))
        start_migration(src, dst, CANCEL_BANDWIDTH)
        t = time.monotonic()
        wait_for(lambda: src.qmp.cmd("query-migrate").get("status") == "active", 30,
                 "the migration to be active")
        if src_vf.logging() is not None:
            wait_for(src_vf.logging, 30, "%s to log" % src_vf.name)
        # The guest receives while the device logs.
        src.wait_rx_growth(time.monotonic(), samples=2)
        info = src.qmp.cmd("query-migrate")
        if info.get("status") != "active":
            raise Fail("migration no longer active before the cancel: %s" % info.get("status"))
        logging_at_cancel = src_vf.logging()
        rx_before = src.last_rx()
        src.qmp.cmd("migrate_cancel")
        tc = time.monotonic()
        wait_for(lambda: src.qmp.cmd("query-migrate").get("status") == "cancelled", 30,
                 "the migration to be cancelled")
        ram = info.get("ram", {})   # the last answer while active (cancelled has no figures)
        row.notes.append("cancelled after %.1f s (%.1f MiB sent)" % (
            tc - t, ram.get("transferred", 0) / 1048576))
        st = src.status()
        if st != "running":
            raise Fail("source %s is '%s' after migrate_cancel, expected running" % (src.name, st))
        if src_vf.logging() is not None:
            wait_for(lambda: src_vf.logging() is False, 10,
                     "%s to stop logging after the cancel" % src_vf.name)
        first, last = src.wait_rx_growth(tc, samples=4)
        if first[2] < rx_before[2]:
            raise Fail("rx_packets went back from %d to %d after the cancel" % (rx_before[2], first[2]))
        if last[4] != rx_before[4] or last[4] != 0:
            raise Fail("rx_errors %d before the cancel, %d after" % (rx_before[4], last[4]))
        if src_vf.faults():
            raise Fail("%s counted %d ring faults" % (src_vf.name, src_vf.faults()))
        show = src_vf.show() if isinstance(src_vf, UvdpaVf) else {}
        if show.get("needs_reset"):
            raise Fail("%s needs a reset after the cancel" % src_vf.name)
        row.rx_after = "source rx_packets %d -> %d in %d s after the cancel" % (
            first[2], last[2], last[1] - first[1])
        row.notes.append("device logging during migration: %s" % logging_at_cancel)
        # The destination gives up on its incoming migration and exits.
        try:
            wait_for(lambda: not dst.alive(), 15, "%s to exit" % dst.name)
        except Fail:
            row.notes.append("%s still running after the cancel: quit" % dst.name)
        dst.close()

    # -- scenarios --

    def chain(self, mode):
        mgmtdev, devargs, expect = MODE_DEV[mode]
        r_cancel = self.row(mode + "/cancel", "uvdpad " + mgmtdev, mode)
        r_mig = self.row(mode, "uvdpad " + mgmtdev, mode)
        r_back = self.row(mode + "/back", "uvdpad " + mgmtdev, mode)
        mac = self.mac()
        opts = ["--mac", mac]
        vfs = []
        guests = []
        current = r_cancel
        try:
            a = UvdpaVf(self.host("host-a"), mode + "-a", mgmtdev, mac, "source", devargs)
            vfs.append(a)
            b = UvdpaVf(self.host("host-b"), mode + "-b", mgmtdev, mac, "source", devargs)
            vfs.append(b)
            self.check_mode(r_cancel, a, expect)
            src = self.boot(mode + "-src", a, opts)
            guests.append(src)
            d0 = Guest(self.env, mode + "-dst0", b, opts, incoming=True)
            guests.append(d0)
            self.cancel(r_cancel, src, d0, a)
            self.finish(r_cancel, True)

            current = r_mig
            wait_for(lambda: b.connected() is False, 15, "%s to be free again" % b.name)
            d1 = Guest(self.env, mode + "-dst1", b, opts, incoming=True)
            guests.append(d1)
            self.migrate_and_compare(r_mig, src, d1, a)
            if r_mig.diff != 0:
                raise Fail("%d pages differ" % r_mig.diff)
            self.cont_and_receive(r_mig, d1, b, src)
            src.close()
            self.finish(r_mig, True)

            current = r_back
            c = UvdpaVf(self.host("host-c"), mode + "-c", mgmtdev, mac, "source", devargs)
            vfs.append(c)
            d2 = Guest(self.env, mode + "-dst2", c, opts, incoming=True)
            guests.append(d2)
            self.migrate_and_compare(r_back, d1, d2, b)
            if r_back.diff != 0:
                raise Fail("%d pages differ" % r_back.diff)
            self.cont_and_receive(r_back, d2, c, d1)
            self.finish(r_back, True)
        except Fail as e:
            self.fail_chain(mode, current, (r_cancel, r_mig, r_back), e)
        finally:
            for g in guests:
                g.close()
            for v in vfs:
                v.delete()

    def pair(self, name, mode, make_src, make_dst, guest_opts, expect_diff=0, cont=True,
             checks=None, extra=None):
        """Boot on make_src(), migrate to a fresh make_dst(), compare; then cont
        and check the destination receives. expect_diff 0: no page may
        differ; 'some': at least one must (fault injection)."""
        row = None
        objs = []
        guests = []
        try:
            src_be = make_src()
            objs.append(src_be)
            row = self.row(name, src_be.kind, mode)
            dst_be = make_dst()
            objs.append(dst_be)
            src = self.boot(name + "-src", src_be, guest_opts)
            guests.append(src)
            if checks:
                checks(row, src, src_be, "source")
            dst = Guest(self.env, name + "-dst", dst_be, guest_opts, incoming=True)
            guests.append(dst)
            ctx = extra(row, src, dst, dst_be) if extra else None
            self.migrate_and_compare(row, src, dst, src_be, expect_logged=expect_diff == 0)
            if expect_diff == 0 and row.diff != 0:
                raise Fail("%d pages differ" % row.diff)
            if expect_diff == "some" and row.diff == 0:
                raise Fail("0 pages differ: the comparison did not see the device's dropped "
                           "dirty log (device frames during migration %s)" % row.dev_frames)
            if cont:
                if ctx and "before_cont" in ctx:
                    ctx["before_cont"]()
                self.cont_and_receive(row, dst, dst_be, src)
                if checks:
                    checks(row, dst, dst_be, "destination")
            if ctx and "after" in ctx:
                ctx["after"]()
            self.finish(row, True)
        except Fail as e:
            if row is None:
                row = self.row(name, "?", mode)
            self.finish(row, False, str(e))
        finally:
            for g in guests:
                g.close()
            for o in objs:
                o.delete()

    def vf(self, host, name, mode, mac, port, max_vqp=None):
        mgmtdev, devargs, _ = MODE_DEV[mode]
        return UvdpaVf(self.host(host), name, mgmtdev, mac, port, devargs, max_vqp=max_vqp)

    def dpdk(self):
        mac = self.mac()
        self.pair("dpdk", "-", lambda: DpdkVhost(self.env, "dpdk-a"),
                  lambda: DpdkVhost(self.env, "dpdk-b"), ["--mac", mac])

    def fault(self):
        mac = self.mac()
        self.pair("fault", "hw (drop-dirty-log=1)",
                  lambda: UvdpaVf(self.host("host-a"), "fault-a", "emu/ifcvf-net", mac, "source",
                                  "drop-dirty-log=1"),
                  lambda: UvdpaVf(self.host("host-b"), "fault-b", "emu/ifcvf-net", mac, "source"),
                  ["--mac", mac], expect_diff="some", cont=False)

    def mq(self, mode):
        mac = self.mac()
        nq = 4

        def checks(row, g, vf, side):
            ch = g.marker("channels")   # printed at boot: on the source's console
            if side == "source" and ch != "%d %d" % (nq, nq):
                raise Fail("guest channels '%s', expected '%d %d'" % (ch, nq, nq))
            # every RX queue of this side's device delivers
            per0 = vf.rx_per_queue()
            g.wait_rx_growth(time.monotonic(), samples=2)
            per1 = vf.rx_per_queue()
            idle = [i for i in range(nq) if per1[i] <= per0[i]]
            if idle:
                raise Fail("%s: RX queue pair(s) %s delivered nothing (per queue %s -> %s)" % (
                    side, idle, per0, per1))
            row.notes.append("%s: all %d RX queues delivering (+%s)" % (
                side, nq, ",".join(str(b - a) for a, b in zip(per0, per1))))

        self.pair(sname("mq", mode), mode,
                  lambda: self.vf("host-a", "mq-a", mode, mac, "source", max_vqp=nq),
                  lambda: self.vf("host-b", "mq-b", mode, mac, "source", max_vqp=nq),
                  ["--mac", mac, "--smp", "2", "--queues", str(nq),
                   "--append", "uvdpa.channels=%d" % nq], checks=checks)

    def legacy(self, mode):
        mac = self.mac()

        def checks(row, g, vf, side):
            if side == "source" and g.marker("transport") != "legacy":
                raise Fail("guest transport '%s', expected legacy" % g.marker("transport"))
        self.pair(sname("legacy", mode), mode,
                  lambda: self.vf("host-a", "legacy-a", mode, mac, "source"),
                  lambda: self.vf("host-b", "legacy-b", mode, mac, "source"),
                  ["--mac", mac, "--legacy"], checks=checks)

    def rarp(self, mode):
        mac = self.mac()
        tap = ("uvm%d" % os.getpid())[:13] + "-%d" % (self.seq % 10)
        r = subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            row = self.row(sname("rarp", mode), "uvdpad " + MODE_DEV[mode][0], mode)
            self.finish(row, False, "cannot create TAP %s: %s (the test needs root)" % (
                tap, r.stderr.strip()))
            return
        self.env.taps.append(tap)
        stop = threading.Event()
        socks = []
        subprocess.call(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % tap],
                        stderr=subprocess.DEVNULL)
        subprocess.check_call(["ip", "link", "set", tap, "up"])
        macb = bytes(int(x, 16) for x in mac.split(":"))

        def checks(row, g, vf, side):
            if side == "source" and "GUEST_ANNOUNCE" in (g.marker("features_named") or ""):
                raise Fail("the guest negotiated GUEST_ANNOUNCE despite guest_announce=off")

        def extra(row, src, dst, dst_vf):
            sk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            socks.append(sk)
            sk.bind((tap, 0))
            sk.settimeout(0.2)
            seen = []

            def capture():
                while not stop.is_set():
                    try:
                        data, addr = sk.recvfrom(2048)
                    except socket.timeout:
                        continue
                    except OSError:
                        return
                    if addr[2] == PACKET_OUTGOING or len(data) < 42:
                        continue
                    if struct.unpack("!H", data[12:14])[0] != ETH_P_RARP:
                        continue
                    seen.append((time.monotonic(), data))
            th = threading.Thread(target=capture, daemon=True)
            th.start()

            def inject():
                # frames for the guest on the TAP: it receives on the destination
                frame = macb + bytes([2, 0, 0, 0, 0, 0x77]) + struct.pack("!H", INJECT_ETHERTYPE)
                frame += bytes(60 - len(frame))
                while not stop.is_set():
                    try:
                        sk.send(frame)
                    except OSError:
                        pass
                    time.sleep(0.005)

            def before_cont():
                threading.Thread(target=inject, daemon=True).start()

            def after():
                wait_for(lambda: seen, RARP_TIMEOUT, "a RARP on %s" % tap)
                data = seen[0][1]
                eth_src = data[6:12]
                htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", data[14:22])
                sha = data[22:28]
                tha = data[32:38]
                if eth_src != macb or sha != macb or tha != macb or op != 3 or \
                        htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
                    raise Fail("RARP on %s does not announce %s: %s" % (tap, mac, data[:42].hex()))
                row.notes.append("RARP for %s seen on %s (%d frame(s), op 3, ethertype 0x8035)" % (
                    mac, tap, len(seen)))
                stop.set()
            return {"before_cont": before_cont, "after": after}

        self.pair(sname("rarp", mode), mode,
                  lambda: self.vf("host-a", "rarp-a", mode, mac, "source"),
                  lambda: self.vf("host-b", "rarp-b", mode, mac, "tap:" + tap),
                  ["--mac", mac, "--device-opt", "guest_announce=off"], checks=checks, extra=extra)
        stop.set()
        time.sleep(0.3)     # capture and injection threads see stop
        for sk in socks:
            sk.close()
        subprocess.call(["ip", "link", "del", tap], stderr=subprocess.DEVNULL)
        self.env.taps.remove(tap)

    def table(self):
        hdr = ("scenario", "backend", "mode", "result", "total ms", "downtime ms", "setup ms",
               "MiB sent", "syncs", "dev frames", "logged pages", "diff pages")
        rows = [hdr]
        for r in self.rows:
            f = r.figures()

            def s(v):
                return "-" if v is None else str(v)
            rows.append((r.name, r.backend, r.mode, "PASS" if r.ok else "FAIL", s(f["total_ms"]),
                         s(f["downtime_ms"]), s(f["setup_ms"]), s(f["ram_mib"]), s(f["syncs"]),
                         s(r.dev_frames), s(r.logged),
                         "-" if r.diff is None else "%d/%d" % (r.diff, r.pages)))
        return format_table(rows)


def format_table(rows):
    """rows[0] is the header; columns padded, a rule under the header."""
    w = [max(len(x[i]) for x in rows) for i in range(len(rows[0]))]
    out = []
    for i, x in enumerate(rows):
        out.append("  ".join(c.ljust(w[j]) for j, c in enumerate(x)).rstrip())
        if i == 0:
            out.append("  ".join("-" * n for n in w))
    return "\n".join(out)


def arg_parser(initrd_help):
    """The options every migration driver takes; its docstring is the help."""
    doc = sys.modules["__main__"].__doc__ or __doc__
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=doc.split("\n\n", 1)[1])
    p.add_argument("--build", required=True, help="meson build dir (tools/uvdpad, tools/uvdpa)")
    p.add_argument("--work", required=True, help="directory for logs")
    p.add_argument("--cache", required=True, help="guest kernel cache (vmlinuz)")
    p.add_argument("--initrd", required=True, help=initrd_help)
    p.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    p.add_argument("--json", help="write the results to this file")
    return p


def setup(a, prog):
    """The Env of the parsed arguments a, once uvdpad, uvdpa, the kernel and
    the initramfs are there (else None, with a message), with SIGTERM and
    SIGINT turned into an exit that runs every cleanup."""
    env = Env(a)
    for f, what in ((env.uvdpad, "uvdpad not built"), (env.uvdpa, "uvdpa not built"),
                    (os.path.join(env.cache, "vmlinuz"), "no guest kernel"),
                    (env.initrd, "no initramfs")):
        if not os.path.exists(f):
            print("%s: %s: %s" % (prog, what, f), file=sys.stderr)
            env.close()
            return None

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return env


def run_scenarios(runner, env, want, run_one):
    """Runs run_one(NAME) for each scenario in want (a Fail that escapes one
    ends the run with an `aborted` row), then stops every uvdpad, each of
    which must exit cleanly (ASan/UBSan/LSan builds report here), and
    removes what env made."""
    done = 0
    try:
        for s in want:
            say("=== scenario %s" % s)
            run_one(s)
            done += 1
            for h in runner.hosts.values():
                h.check_alive()
    except Fail as e:
        r = runner.row("aborted", "-", "-")
        runner.finish(r, False, "%s; not run: %s" % (e, " ".join(want[done:]) or "-"))
    finally:
        # The daemons go first, while the scenario's objects are gone.
        try:
            for h in runner.hosts.values():
                problem, errs = h.shutdown_check()
                say("uvdpad %s: exit status %s, %d ERR/WARN log lines%s" % (
                    h.name, h.proc.returncode, len(errs), (": " + errs[0]) if errs else ""))
                if problem:
                    runner.finish(runner.row("uvdpad " + h.name, "-", "-"), False, problem)
        finally:
            env.close()


def report(runner, title, test_name, json_path, json_row):
    """The table, a line per row, the rows as JSON (json_row(row) -> dict)
    into json_path, and the closing "N passed, N failed" line; returns the
    exit status (0: every row passed)."""
    print()
    print(title)
    print(runner.table())
    print()
    for r in runner.rows:
        print(r.line())
    npass = sum(1 for r in runner.rows if r.ok)
    nfail = len(runner.rows) - npass
    if json_path:
        with open(json_path, "w") as f:
            json.dump([json_row(r) for r in runner.rows], f, indent=2)
    print("%s: %d passed, %d failed (%.0f s)" % (test_name, npass, nfail, time.monotonic() - T0))
    return 0 if nfail == 0 and npass > 0 else 1


def main(argv):
    a = arg_parser("initramfs with scripts/rx-watch.sh and /bin/uvdpa-channels").parse_args(argv)

    want = []
    for s in [x for x in a.only.split(",") if x] or all_scenarios():
        base, _, mode = s.partition(":")
        if s in MODE_DEV or s in SINGLE_SCENARIOS or (base in MODAL_SCENARIOS and mode in MODE_DEV):
            want.append(s)
        elif s in MODAL_SCENARIOS:
            want += ["%s:%s" % (s, m) for m in MODES]
        else:
            print("migrate.py: unknown scenario '%s' (have: %s; NAME:MODE with NAME one of %s "
                  "and MODE one of %s)" % (s, " ".join(all_scenarios()), " ".join(MODAL_SCENARIOS),
                                          " ".join(MODE_DEV)), file=sys.stderr)
            return 2

    env = setup(a, "migrate.py")
    if env is None:
        return 2
    runner = Runner(env)

    def run_one(s):
        base, _, mode = s.partition(":")
        if s in MODE_DEV:
            runner.chain(s)
        elif mode:
            getattr(runner, base)(mode)
        else:
            getattr(runner, base)()
    run_scenarios(runner, env, want, run_one)
    title = ("Live migration figures (query-migrate; guest RAM %s, max-bandwidth %d MiB/s, "
             "downtime-limit %d ms; TCG):" % (GUEST_MEM, BANDWIDTH >> 20, DOWNTIME_LIMIT))
    return report(runner, title, "guest-migration", a.json, lambda r: dict(
        name=r.name, backend=r.backend, mode=r.mode, ok=bool(r.ok), msg=r.msg, diff=r.diff,
        pages=r.pages, dev_frames=r.dev_frames, logged=r.logged, rx_after=r.rx_after,
        notes=r.notes, **r.figures()))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
