#!/usr/bin/env python3
"""Live migration of QEMU TCG guests whose virtio-blk disk (vhost-user-blk-pci)
is an emulated IFCVF blk VF served by uvdpad, while the guest keeps reading
and writing the disk; checked by comparing guest RAM page by page and by
checking the disk on the host afterwards.

Every "host" is a uvdpad of its own; all serve the same backing file, as
hosts on shared storage do: each device is added with devargs
shared-storage=1, which locks the file shared, so the destination's device
can open it while the source's still serves it (QEMU runs one of them at a
time). Guest RAM is in files (memory-backend-file, share=on), and the guest
runs tests/guest/scripts/blk-churn.sh: an ext2 filesystem whose files it
keeps rewriting (with fsync) and reading back after cache drops, and raw
reads of the disk into a freshly dropped page cache, so the device keeps
filling guest pages the guest CPU never touches. A device write into guest
memory that is missing from the dirty log leaves a page that differs
between source and destination.

Scenarios (--only NAME,... selects some; all by default):
  1q     one guest lifetime, three result rows. 1q/hw: boot on host A's
         device (hardware dirty logging), migrate to host B's device (sw
         mode, the software relay); 0 differing pages, and the device served
         reads and writes during the migration and logged pages. 1q/sw: from
         B back to a new device on host A (hw): the relay's turn, 0 differing
         pages. After each migration the destination is continued and must
         go on writing and verifying. 1q/disk: the host stops the guest's
         loops through its console; every file reads back in the guest, the
         filesystem unmounts, and on the host e2fsck -fn finds the backing
         file clean and every file holds the guest's last complete write of
         it (debugfs dump, sha256).
  2q     the same with 2 queues, 2 vCPUs and a worker per vCPU: both queues
         carry requests on every device.
  fault  a source device with devargs drop-dirty-log=1 (it writes no dirty
         bits): the comparison must find differing pages, which shows that
         it can fail.

Prints, per migration, the figures from query-migrate (total time,
downtime, setup time, MiB sent, dirty syncs, dirty pages: the pages sent
again after the first pass), what the source device did meanwhile
(requests, MiB read into guest memory, MiB written to the disk, pages
logged) and the pages compared and differing; a PASS/FAIL line per row; the
results as JSON with --json. Exit status 0 when every row passed, 1
otherwise, 2 on a usage or setup error. Python 3 standard library, e2fsck
and debugfs (e2fsprogs); reuses migrate.py's daemons, guests and checks.
"""

import hashlib
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrate as M  # noqa: E402  (tests/guest/migrate.py: daemons, guests, checks)

Fail = M.Fail
say = M.say
wait_for = M.wait_for

SCENARIOS = ["1q", "2q", "fault"]
QUEUES = {"1q": 1, "2q": 2}
DISK_MIB = 64
GUEST_TEST = "blk-churn"
# blk-churn's arguments: 8 slot files of 256 KiB per worker (worker w has slots
# w * SLOTS ...), 2 MiB raw reads
SLOTS = 8
CHURN_ARGS = ["uvdpa.slots=%d" % SLOTS, "uvdpa.file_kib=256", "uvdpa.raw_kib=2048"]
BOOT_TIMEOUT = 120        # QEMU start -> the guest's first complete writes
WRITES = 3                # complete writes a guest reports before it migrates or stops
WRITES_TIMEOUT = 60
FINISH_TIMEOUT = 90       # the stop line -> the guest powered off
# max-bandwidth: about 1 s for the 105 MiB a migration sends, so that each
# lasts several of the guest's rounds (a write, a read-back, a raw read)
BANDWIDTH = 128 << 20
W_RE = re.compile(r"^(\d+) (\d+) ([0-9a-f]{64})$")
SLOT_RE = W_RE            # `slot SLOT N SHA` has the same shape


class BlkVf(M.UvdpaVf):
    """An emulated blk function on one uvdpad, on the shared backing file,
    bound to a vhost-user socket. mode: hw or sw (sw-live-migration=1).
    add_and_bind(), show(), logging() and delete() are UvdpaVf's."""

    def __init__(self, daemon, name, img, mode, queues, fault=False):
        self.daemon = daemon
        self.name = name
        self.queues = queues
        self.sock = daemon.env.path(name + ".vu")
        devargs = ["shared-storage=1"]
        if mode == "sw":
            devargs.append("sw-live-migration=1")
        if fault:
            devargs.append("drop-dirty-log=1")
        self.add_and_bind(["dev", "add", "name", name, "mgmtdev", "emu/ifcvf-blk", "file", img,
                           "num_queues", str(queues), "devargs", ",".join(devargs)])
        self.label = "%s on %s (%s)" % (name, daemon.name, ",".join(devargs))
        got = self.show().get("migration")
        if got != mode:
            raise Fail("%s reports migration '%s', expected '%s'" % (name, got, mode))

    def guest_args(self):
        return ["--vhost-user-blk", self.sock, "--blk-queues", str(self.queues)]

    def counters(self):
        """Per queue: requests, read_bytes, write_bytes, logged_pages,
        relayed, faults, errors (dev vstats)."""
        keys = ("requests", "read_bytes", "write_bytes", "logged_pages", "relayed", "faults",
                "errors")
        out = []
        for q in range(self.queues):
            st = self.daemon.u("dev", "vstats", "show", self.name, "qidx", str(q),
                               as_json=True)["vstats"][self.name]
            out.append({k: int(st.get(k, 0)) for k in keys})
        return out


def delta(before, after):
    """Per-queue and total differences of two counters() answers."""
    per_q = [{k: b[k] - a[k] for k in a} for a, b in zip(before, after)]
    total = {k: sum(q[k] for q in per_q) for k in per_q[0]}
    return per_q, total


def writes_of(guest):
    """The complete writes a guest's console reported: [(slot, n, sha)]. A
    marker cut in two by the migration (the source printed its start, the
    destination its end) does not parse and is left out."""
    out = []
    for v in guest.markers_of("w"):
        m = W_RE.match(v)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return out


def bad_checks(guest):
    return [v for v in guest.markers_of("chk") if v.endswith(" bad")]


class BlkRow(M.Row):
    def __init__(self, name, backend, mode):
        super().__init__(name, backend, mode)
        self.io = None          # the source device's counters during the migration (total)
        self.resent = None      # pages QEMU sent after its first pass

    def figures(self):
        f = super().figures()
        f["dirty_pages"] = self.resent
        return f


class BlkRunner(M.Runner):
    def __init__(self, env):
        super().__init__(env)
        self.lock_checked = False

    def row(self, name, backend, mode):
        r = BlkRow(name, backend, mode)
        self.rows.append(r)
        return r

    def image(self, name):
        """A backing file full of random bytes: the guest's raw reads then
        fill its pages with data that differs from round to round (a sparse
        file would give zeros over zeros, which no comparison can see)."""
        path = self.env.path(name + ".img")
        with open(path, "wb") as f:
            for _ in range(DISK_MIB):
                f.write(os.urandom(1 << 20))
        return path

    def guest(self, name, vf, opts, incoming=False):
        return M.Guest(self.env, name, vf, opts, incoming=incoming, test=GUEST_TEST,
                       console_input=True)

    def wait_writes(self, g, n, timeout):
        """n complete writes on g's console (that are g's own) and no read-back
        that failed; returns them."""
        def got():
            g.check_alive()
            if bad_checks(g):
                raise Fail("%s: a read-back failed: %s (log %s)" % (g.name, bad_checks(g)[0],
                                                                   g.logpath))
            if g.marker("final_bad"):
                raise Fail("%s: the guest script ended early (log %s)" % (g.name, g.logpath))
            w = writes_of(g)
            return w if len(w) >= n else None
        try:
            return wait_for(got, timeout, "%d complete writes from %s" % (n, g.name))
        except M.Timeout:
            raise Fail("%s: %d complete write(s) in %g s, expected %d (log %s)" % (
                g.name, len(writes_of(g)), timeout, n, g.logpath))

    def boot(self, name, vf, opts):
        g = self.guest(name, vf, opts)
        t = time.monotonic()
        g.wait_marker("churn_start", BOOT_TIMEOUT)
        self.wait_writes(g, WRITES, BOOT_TIMEOUT)
        say("%s: booted and churning in %.1f s (%s, %s workers)" % (
            name, time.monotonic() - t, vf.label, g.marker("workers")))
        return g

    def check_lock(self, daemon, img):
        """While devices on shared storage hold the file, a device that is
        not on shared storage is refused."""
        try:
            daemon.u("dev", "add", "name", "excl", "mgmtdev", "emu/ifcvf-blk", "file", img)
        except Fail as e:
            if "in use" not in str(e):
                raise Fail("dev add of an exclusive device on %s: unexpected error: %s" % (img, e))
            return "a device not on shared storage is refused while they hold the file"
        daemon.u("dev", "del", "excl")
        raise Fail("a device not on shared storage opened %s while the source's and the "
                   "destination's held it" % img)

    def migrate(self, row, src, dst, src_vf, expect_diff):
        """Migrate src -> dst, compare RAM; expect_diff 0 (none may differ) or
        'some' (the fault). The source device must have served reads and
        writes while migrating and (expect_diff 0) logged pages."""
        seen_logging = []

        def watch():
            if not seen_logging and src_vf.logging():
                seen_logging.append(True)
        c0 = src_vf.counters()
        say("%s: migrating %s -> %s" % (row.name, src.name, dst.name))
        row.info = M.migrate(src, dst, watch, BANDWIDTH)
        per_q, io = delta(c0, src_vf.counters())
        row.io = io
        ram = row.info.get("ram", {})
        if "normal" in ram and "total" in ram:
            row.resent = ram["normal"] + ram.get("duplicate", 0) - ram["total"] // M.PAGE
            row.notes.append("%d dirty pages sent again" % row.resent)
        row.notes.append("source device meanwhile: %d requests, %.1f MiB read into guest "
                         "memory, %.1f MiB written, %d pages logged%s" % (
                             io["requests"], io["read_bytes"] / 1048576,
                             io["write_bytes"] / 1048576, io["logged_pages"],
                             ", %d used entries relayed" % io["relayed"] if io["relayed"] else ""))
        row.pages, row.diff, first = M.compare_ram(src.mem, dst.mem)
        if first:
            row.notes.append("first differing offsets " + " ".join("0x%x" % o for o in first))
        if not seen_logging:
            row.notes.append("logging not seen on (migration too short to sample)")
        f = row.figures()
        say("%s: completed: total %s ms, downtime %s ms, setup %s ms, %s MiB sent, %s dirty "
            "syncs, %s dirty pages sent again; RAM compared: %d of %d pages differ" % (
                row.name, f["total_ms"], f["downtime_ms"], f["setup_ms"], f["ram_mib"],
                f["syncs"], row.resent, row.diff, row.pages))
        idle = [i for i, q in enumerate(per_q) if q["requests"] == 0]
        if idle:
            raise Fail("queue(s) %s of %s served no request while migrating (per queue %s)" % (
                idle, src_vf.name, per_q))
        if io["read_bytes"] == 0 or io["write_bytes"] == 0:
            raise Fail("%s read %d and wrote %d bytes while migrating: the guest must do both" % (
                src_vf.name, io["read_bytes"], io["write_bytes"]))
        if io["faults"] or io["errors"]:
            raise Fail("%s counted %d faults and %d errors while migrating" % (
                src_vf.name, io["faults"], io["errors"]))
        if expect_diff == 0:
            if not io["logged_pages"]:
                raise Fail("%s served %d requests while migrating but logged no page" % (
                    src_vf.name, io["requests"]))
            if row.diff:
                raise Fail("%d pages differ" % row.diff)
        elif row.diff == 0:
            raise Fail("0 pages differ: the comparison did not see the device's dropped dirty "
                       "log (%d requests, %.1f MiB read while migrating)" % (
                           io["requests"], io["read_bytes"] / 1048576))

    def cont(self, row, g, vf, src):
        """cont the destination: it must go on from the source's writes and
        write WRITES more, on every queue of its device."""
        last = {}
        for slot, n, _ in writes_of(src):
            last[slot // SLOTS] = max(n, last.get(slot // SLOTS, 0))
        c0 = vf.counters()
        g.cont()
        w = self.wait_writes(g, WRITES, WRITES_TIMEOUT)
        # A worker's write counter is guest memory: it goes on from the source's.
        for slot, n, _ in w:
            if n <= last.get(slot // SLOTS, 0):
                raise Fail("%s: worker %d reports write %d after cont, the source had reported "
                           "up to %d" % (g.name, slot // SLOTS, n, last[slot // SLOTS]))
        per_q, io = delta(c0, vf.counters())
        idle = [i for i, q in enumerate(per_q) if q["requests"] == 0]
        if idle:
            raise Fail("%s: queue(s) %s of %s served nothing after cont" % (g.name, idle, vf.name))
        if io["faults"] or io["errors"] or vf.show().get("needs_reset"):
            raise Fail("%s after cont: %d faults, %d errors, needs_reset %s" % (
                vf.name, io["faults"], io["errors"], vf.show().get("needs_reset")))
        oks = sum(1 for v in g.markers_of("chk") if v.endswith(" ok"))
        row.rx_after = "after cont: %d complete writes, %d files read back, %d requests on %s" % (
            len(w), oks, io["requests"], vf.name)

    def chain(self, name, queues, smp):
        r_hw = self.row(name + "/hw", "emu/ifcvf-blk A(hw) -> B(sw)", "hw")
        r_sw = self.row(name + "/sw", "emu/ifcvf-blk B(sw) -> A(hw)", "sw")
        r_disk = self.row(name + "/disk", "backing file", "-")
        img = self.image(name)
        opts = ["--smp", str(smp)]
        for ap in CHURN_ARGS:
            opts += ["--append", ap]
        vfs = []
        guests = []
        current = r_hw
        try:
            vf = BlkVf(self.host("host-a"), name + "-a", img, "hw", queues)
            vfs.append(vf)
            g = self.boot(name + "-src", vf, opts)
            guests.append(g)
            # hw from host A to a sw device on host B, then sw back to host A
            for i, (row, host, mode) in enumerate(((r_hw, "host-b", "sw"),
                                                   (r_sw, "host-a", "hw"))):
                current = row
                dvf = BlkVf(self.host(host), "%s-%d" % (name, i + 1), img, mode, queues)
                vfs.append(dvf)
                if not self.lock_checked:
                    row.notes.append(self.check_lock(self.host("host-b"), img))
                    self.lock_checked = True
                d = self.guest("%s-dst%d" % (name, i + 1), dvf, opts, incoming=True)
                guests.append(d)
                self.migrate(row, g, d, vf, 0)
                g.close()
                vf.delete()
                self.cont(row, d, dvf, g)
                self.finish(row, True)
                g, vf = d, dvf

            current = r_disk
            self.stop_and_check(r_disk, g, vf, guests, img)
            self.finish(r_disk, True)
        except Fail as e:
            self.fail_chain(name, current, (r_hw, r_sw, r_disk), e)
        finally:
            self.release(guests, vfs, img)

    @staticmethod
    def release(guests, vfs, img):
        for g in guests:
            g.close()
        for v in vfs:
            v.delete()
        try:
            os.unlink(img)
        except OSError:
            pass

    def stop_and_check(self, row, g, vf, guests, img):
        """Stop the guest's loops; it verifies every file and unmounts. Then
        the backing file: e2fsck -fn clean, every file the guest's last
        complete write of it."""
        g.send_console("stop\n")
        wait_for(lambda: g.done_rc is not None or not g.alive(), FINISH_TIMEOUT,
                 "%s to finish its script" % g.name)
        if g.done_rc != 0:
            raise Fail("%s: the guest script ended with rc %s (final_bad %s; log %s)" % (
                g.name, g.done_rc, g.marker("final_bad"), g.logpath))
        wait_for(lambda: not g.alive(), 15, "%s to power off" % g.name)
        final = {}
        for v in g.markers_of("slot"):
            m = SLOT_RE.match(v)
            if not m:
                raise Fail("%s: bad slot marker '%s'" % (g.name, v))
            final[int(m.group(1))] = (int(m.group(2)), m.group(3))
        if g.marker("final_ok") != str(len(final)) or not final:
            raise Fail("%s: final_ok %s of %d slots" % (g.name, g.marker("final_ok"), len(final)))
        # What every console reported complete: the newest write of each slot
        # must be the guest's final listing, and no console may report a
        # newer one.
        sides = []
        for x in guests:
            w = writes_of(x)
            sides.append("%d on %s" % (len(w), x.name))
            for slot, n, sha in w:
                fn, fsha = final.get(slot, (None, None))
                if fn is None or n > fn:
                    raise Fail("%s reported write %d of slot %d, the guest's final listing "
                               "has %s" % (x.name, n, slot, fn))
                if n == fn and sha != fsha:
                    raise Fail("write %d of slot %d: %s reported %s, the final listing %s" % (
                        n, slot, x.name, sha, fsha))
        vf.delete()
        fsck = subprocess.run(["e2fsck", "-fn", img], capture_output=True, text=True)
        if fsck.returncode != 0:
            raise Fail("e2fsck -fn %s: exit %d: %s" % (img, fsck.returncode,
                                                       (fsck.stdout + fsck.stderr)[-600:]))
        dump = img + ".dump"
        for slot, (n, sha) in sorted(final.items()):
            r = subprocess.run(["debugfs", "-R", "dump /f%d %s" % (slot, dump), img],
                               capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(dump):
                raise Fail("debugfs cannot dump /f%d from %s: %s" % (slot, img, r.stderr[-300:]))
            with open(dump, "rb") as f:
                got = hashlib.sha256(f.read()).hexdigest()
            os.unlink(dump)
            if got != sha:
                raise Fail("/f%d in %s has sha256 %s, the guest's write %d of it %s" % (
                    slot, img, got, n, sha))
        row.notes.append("guest: %s files read back, rounds per worker: %s; complete writes "
                         "reported: %s" % (g.marker("final_ok"), g.marker("rounds"),
                                           ", ".join(sides)))
        row.notes.append("host: e2fsck -fn clean; %d files hold the guest's last complete "
                         "write of each" % len(final))

    def fault(self):
        row = self.row("fault", "emu/ifcvf-blk A(hw, drop-dirty-log=1) -> B(hw)", "hw")
        img = self.image("fault")
        opts = []
        for ap in CHURN_ARGS:
            opts += ["--append", ap]
        vfs = []
        guests = []
        try:
            a = BlkVf(self.host("host-a"), "fault-a", img, "hw", 1, fault=True)
            vfs.append(a)
            b = BlkVf(self.host("host-b"), "fault-b", img, "hw", 1)
            vfs.append(b)
            src = self.boot("fault-src", a, opts)
            guests.append(src)
            dst = self.guest("fault-dst", b, opts, incoming=True)
            guests.append(dst)
            self.migrate(row, src, dst, a, "some")
            self.finish(row, True)
        except Fail as e:
            self.finish(row, False, str(e))
        finally:
            self.release(guests, vfs, img)

    def table(self):
        hdr = ("row", "path", "result", "total ms", "downtime ms", "setup ms", "MiB sent",
               "syncs", "dirty pages", "requests", "MiB read", "MiB written", "logged pages",
               "diff pages")
        rows = [hdr]
        for r in self.rows:
            f = r.figures()
            io = r.io

            def s(v):
                return "-" if v is None else str(v)
            rows.append((r.name, r.backend, "PASS" if r.ok else "FAIL", s(f["total_ms"]),
                         s(f["downtime_ms"]), s(f["setup_ms"]), s(f["ram_mib"]), s(f["syncs"]),
                         s(r.resent), s(io and io["requests"]),
                         "-" if not io else "%.1f" % (io["read_bytes"] / 1048576),
                         "-" if not io else "%.1f" % (io["write_bytes"] / 1048576),
                         s(io and io["logged_pages"]),
                         "-" if r.diff is None else "%d/%d" % (r.diff, r.pages)))
        return M.format_table(rows)


def main(argv):
    a = M.arg_parser("initramfs with scripts/blk-churn.sh").parse_args(argv)
    want = [x for x in a.only.split(",") if x] or SCENARIOS
    unknown = [x for x in want if x not in SCENARIOS]
    if unknown:
        print("migrate_blk.py: unknown scenario(s) %s (have: %s)" % (
            " ".join(unknown), " ".join(SCENARIOS)), file=sys.stderr)
        return 2
    env = M.setup(a, "migrate_blk.py")
    if env is None:
        return 2
    runner = BlkRunner(env)

    def run_one(s):
        if s == "fault":
            runner.fault()
        else:
            runner.chain(s, QUEUES[s], QUEUES[s])   # a vCPU per queue
    M.run_scenarios(runner, env, want, run_one)
    title = ("Live migration of a blk guest (query-migrate; guest RAM %s, disk %d MiB, "
             "max-bandwidth %d MiB/s, downtime-limit %d ms; TCG):" % (
                 M.GUEST_MEM, DISK_MIB, BANDWIDTH >> 20, M.DOWNTIME_LIMIT))
    return M.report(runner, title, "guest-blk-migration", a.json, lambda r: dict(
        name=r.name, path=r.backend, ok=bool(r.ok), msg=r.msg, diff=r.diff, pages=r.pages,
        io=r.io, notes=r.notes, after=r.rx_after, **r.figures()))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
