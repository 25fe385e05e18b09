#!/usr/bin/env python3
"""Boot a uvdpa test guest under QEMU (TCG) and collect its markers.

The guest (kernel + initramfs from fetch-kernel.sh / build-initramfs.sh) runs
one script from tests/guest/scripts (selected with --test NAME, i.e. the
kernel argument uvdpa.test=NAME) and prints on its serial console:

    UVDPA-GUEST: <key> <value...>
    UVDPA-LOG: <text>
    UVDPA-GUEST-DONE rc=<N>

run-guest waits for UVDPA-GUEST-DONE (or the timeout), prints the markers
(--print) and/or writes them as JSON (--json FILE), and exits with the
guest's rc. Exit codes of its own: 124 timeout, 125 QEMU ended without
UVDPA-GUEST-DONE, 126 QEMU could not be started / bad arguments.

Python 3 standard library only.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CACHE = os.path.join(HERE, "cache")

MARK_RE = re.compile(r"UVDPA-GUEST: ([A-Za-z0-9_.:/-]+) ?(.*)$")
LOG_RE = re.compile(r"UVDPA-(LOG|DMESG): (.*)$")
DONE_RE = re.compile(r"UVDPA-GUEST-DONE rc=(-?\d+)")

EXIT_TIMEOUT = 124
EXIT_NO_DONE = 125
EXIT_SETUP = 126


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Boot a QEMU TCG test guest and collect its UVDPA-GUEST markers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  run-guest.py --test net-probe --vhost-user /tmp/vhost.sock --json out.json
  run-guest.py --test net-probe --vhost-user /tmp/vhost.sock --legacy
  run-guest.py --test ping --tap tap0 --append 'uvdpa.ip=10.0.0.2/24 uvdpa.peer=10.0.0.1'
  run-guest.py --test vfio-probe --iommu
  run-guest.py --interactive            # shell on the console (poweroff -f to quit)
""")
    g = p.add_argument_group("guest image")
    g.add_argument("--cache", default=DEFAULT_CACHE,
                   help="directory with vmlinuz and initramfs.cpio.gz (default %(default)s)")
    g.add_argument("--kernel", help="kernel image (default CACHE/vmlinuz)")
    g.add_argument("--initrd", help="initramfs (default CACHE/initramfs.cpio.gz)")
    g.add_argument("--test", help="guest script NAME (scripts/NAME.sh) -> uvdpa.test=NAME")
    g.add_argument("--append", action="append", default=[],
                   help="extra kernel command line (repeatable), e.g. 'uvdpa.count=5'")
    g.add_argument("--verbose-kernel", action="store_true",
                   help="full kernel log on the console (no 'quiet', uvdpa.verbose=1)")

    m = p.add_argument_group("machine")
    m.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    m.add_argument("--machine", default=None,
                   help="QEMU machine type (default pc; q35 with --iommu)")
    m.add_argument("--mem", default="512M",
                   help="guest memory (-m and the backend's size), shared (default %(default)s)")
    m.add_argument("--mem-file", metavar="PATH",
                   help="back guest memory with PATH (memory-backend-file,share=on) instead of "
                        "a memfd, so the host can read guest RAM (migration checks)")
    m.add_argument("--smp", type=int, default=1, help="vCPUs (default %(default)s)")
    m.add_argument("--cpu", default=None, help="QEMU -cpu model (default QEMU's)")
    m.add_argument("--qemu-arg", action="append", default=[], metavar="ARG",
                   help="extra QEMU argument(s), split with shell rules (repeatable)")

    n = p.add_argument_group("network devices (in this order on the PCI bus: vhost-user, tap, user, iommu target)")
    n.add_argument("--vhost-user", action="append", default=[], metavar="SOCK",
                   help="add a vhost-user virtio-net device on SOCK (repeatable: n0, n1, ...)")
    n.add_argument("--server", action="store_true",
                   help="QEMU is the vhost-user server (server=on,wait=off); default: QEMU connects")
    n.add_argument("--reconnect", type=int, default=0, metavar="SECONDS",
                   help="client mode: reconnect=SECONDS (0 = off)")
    n.add_argument("--socket-wait", type=float, default=10.0, metavar="SECONDS",
                   help="client mode without --reconnect: wait this long for SOCK to exist")
    n.add_argument("--queues", type=int, default=1, help="vhost-user queue pairs (queues=N, mq=on if N>1)")
    n.add_argument("--mq", action="store_true", help="set mq=on on the device even with --queues 1")
    n.add_argument("--legacy", action="store_true",
                   help="legacy virtio 0.95 devices (disable-modern=on)")
    n.add_argument("--vectors", type=int, default=0,
                   help="MSI-X vectors of vhost-user devices (default 0: QEMU 7.2 TCG needs it)")
    n.add_argument("--mac", action="append", default=[],
                   help="MAC for the Nth net device in order (repeatable)")
    n.add_argument("--device-opt", action="append", default=[], metavar="OPTS",
                   help="extra ',k=v' options appended to every virtio-net-pci device")
    n.add_argument("--vhost-user-blk", action="append", default=[], metavar="SOCK",
                   help="a vhost-user-blk-pci disk on SOCK (repeatable; after the net devices; "
                        "--server/--reconnect/--legacy apply to it too)")
    n.add_argument("--blk-queues", type=int, default=1, help="num-queues of each blk disk")
    n.add_argument("--tap", action="append", default=[], metavar="IFNAME",
                   help="add a virtio-net device on host TAP IFNAME (script=no)")
    n.add_argument("--user-net", action="store_true",
                   help="add a virtio-net device on QEMU user networking")
    n.add_argument("--iommu", action="store_true",
                   help="q35 + -device intel-iommu + intel_iommu=on, and a plain modern "
                        "virtio-net-pci (user netdev, iommu_platform=on) at 00:05.0 "
                        "for binding to vfio-pci in the guest")

    mg = p.add_argument_group("migration")
    mg.add_argument("--qmp", metavar="SOCK",
                    help="QMP monitor on unix socket SOCK (server=on,wait=off)")
    mg.add_argument("--incoming", metavar="URI",
                    help="start as a migration destination (-incoming URI, e.g. unix:/tmp/m.sock)")
    mg.add_argument("--paused", action="store_true",
                    help="do not start the vCPUs (-S): continue with QMP 'cont'")

    r = p.add_argument_group("run")
    r.add_argument("--timeout", type=float, default=300, help="seconds before QEMU is killed (default %(default)s)")
    r.add_argument("--log", help="write the serial console (and QEMU's stderr) to this file")
    r.add_argument("--json", help="write the result (rc, markers, timings) as JSON to this file")
    r.add_argument("--print", dest="print_markers", action="store_true",
                   help="print 'key value' for each marker at the end")
    r.add_argument("--console", action="store_true", help="echo the serial console to stdout")
    r.add_argument("--interactive", action="store_true",
                   help="attach the console to this terminal (uvdpa.shell=1), no parsing")
    r.add_argument("--dry-run", action="store_true", help="print the QEMU command and exit")
    return p.parse_args(argv)


def build_cmd(a):
    cache = os.path.abspath(a.cache)
    kernel = a.kernel or os.path.join(cache, "vmlinuz")
    initrd = a.initrd or os.path.join(cache, "initramfs.cpio.gz")
    machine = a.machine or ("q35" if a.iommu else "pc")

    if a.mem_file:
        backend = "memory-backend-file,id=mem,size=%s,mem-path=%s,share=on" % (a.mem, a.mem_file)
    else:
        backend = "memory-backend-memfd,id=mem,size=%s,share=on" % a.mem
    cmd = [a.qemu, "-accel", "tcg", "-machine", machine,
           "-m", a.mem, "-smp", str(a.smp),
           "-object", backend,
           "-numa", "node,memdev=mem",
           "-nographic", "-no-reboot", "-nodefaults", "-vga", "none",
           "-kernel", kernel, "-initrd", initrd]
    if a.cpu:
        cmd += ["-cpu", a.cpu]
    if a.qmp:
        cmd += ["-qmp", "unix:%s,server=on,wait=off" % a.qmp]
    if a.incoming:
        cmd += ["-incoming", a.incoming]
    if a.paused:
        cmd += ["-S"]
    if a.interactive:
        cmd += ["-serial", "mon:stdio"]
    else:
        cmd += ["-monitor", "none", "-serial", "stdio"]

    append = ["console=ttyS0", "panic=-1", "reboot=t"]
    if not a.verbose_kernel:
        append.append("quiet")
    else:
        append.append("uvdpa.verbose=1")
    if a.test:
        append.append("uvdpa.test=" + a.test)
    if a.interactive:
        append.append("uvdpa.shell=1")
    if a.iommu:
        cmd += ["-device", "intel-iommu,intremap=on"]
        append.append("intel_iommu=on")

    macs = list(a.mac)
    extra = "".join("," + o.lstrip(",") for o in a.device_opt)
    legacy = ",disable-modern=on" if a.legacy else ""

    def mac_opt():
        return (",mac=" + macs.pop(0)) if macs else ""

    idx = 0
    for sock in a.vhost_user:
        chr_opts = "socket,id=c%d,path=%s" % (idx, sock)
        if a.server:
            chr_opts += ",server=on,wait=off"
        elif a.reconnect:
            chr_opts += ",reconnect=%d" % a.reconnect
        nd = "vhost-user,id=n%d,chardev=c%d" % (idx, idx)
        dev = "virtio-net-pci,netdev=n%d,vectors=%d" % (idx, a.vectors)
        if a.queues > 1:
            nd += ",queues=%d" % a.queues
        if a.queues > 1 or a.mq:
            dev += ",mq=on"
        cmd += ["-chardev", chr_opts, "-netdev", nd,
                "-device", dev + legacy + mac_opt() + extra]
        idx += 1
    for bidx, sock in enumerate(a.vhost_user_blk):
        chr_opts = "socket,id=cb%d,path=%s" % (bidx, sock)
        if a.server:
            chr_opts += ",server=on,wait=off"
        elif a.reconnect:
            chr_opts += ",reconnect=%d" % a.reconnect
        cmd += ["-chardev", chr_opts,
                "-device", "vhost-user-blk-pci,chardev=cb%d,num-queues=%d%s"
                % (bidx, a.blk_queues, legacy)]
    for tap in a.tap:
        cmd += ["-netdev", "tap,id=n%d,ifname=%s,script=no,downscript=no" % (idx, tap),
                "-device", "virtio-net-pci,netdev=n%d%s%s%s" % (idx, legacy, mac_opt(), extra)]
        idx += 1
    if a.user_net:
        cmd += ["-netdev", "user,id=n%d" % idx,
                "-device", "virtio-net-pci,netdev=n%d%s%s%s" % (idx, legacy, mac_opt(), extra)]
        idx += 1
    if a.iommu:
        cmd += ["-netdev", "user,id=n%d" % idx,
                "-device", "virtio-net-pci,netdev=n%d,addr=05.0,disable-legacy=on,"
                           "iommu_platform=on,ats=on%s" % (idx, mac_opt())]
        idx += 1

    for extra_kv in a.append:
        append += shlex.split(extra_kv)
    for q in a.qemu_arg:
        cmd += shlex.split(q)
    cmd += ["-append", " ".join(append)]
    return cmd, kernel, initrd


def wait_for_sockets(a):
    if a.server or a.reconnect:
        return None
    deadline = time.monotonic() + a.socket_wait
    for sock in a.vhost_user + a.vhost_user_blk:
        while not os.path.exists(sock):
            if time.monotonic() > deadline:
                return "vhost-user socket %s does not exist after %.0f s " \
                       "(start the backend first, or use --server / --reconnect)" % (sock, a.socket_wait)
            time.sleep(0.1)
    return None


def die_with_parent():
    """In the child: have the kernel SIGKILL QEMU if run-guest dies."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # best effort; the timeout still applies
        pass


def kill_qemu(proc):
    if proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv):
    a = parse_args(argv)
    cmd, kernel, initrd = build_cmd(a)
    if a.dry_run:
        print(" ".join(shlex.quote(c) for c in cmd))
        return 0
    for f, hint in ((kernel, "run tests/guest/fetch-kernel.sh"),
                    (initrd, "run tests/guest/build-initramfs.sh")):
        if not os.path.isfile(f):
            print("run-guest: %s not found: %s" % (f, hint), file=sys.stderr)
            return EXIT_SETUP
    if shutil.which(a.qemu) is None:
        print("run-guest: %s not found (apt-get install qemu-system-x86)" % a.qemu, file=sys.stderr)
        return EXIT_SETUP
    err = wait_for_sockets(a)
    if err:
        print("run-guest: " + err, file=sys.stderr)
        return EXIT_SETUP

    if a.interactive:
        return subprocess.call(cmd)

    logf = open(a.log, "w", encoding="utf-8", errors="replace") if a.log else None
    log_lock = threading.Lock()

    def log_line(s):
        if logf:
            with log_lock:
                logf.write(s + "\n")
                logf.flush()

    log_line("# " + " ".join(shlex.quote(c) for c in cmd))
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=die_with_parent)
    except OSError as e:
        print("run-guest: cannot start %s: %s" % (a.qemu, e), file=sys.stderr)
        return EXIT_SETUP

    result = {"rc": None, "status": "running", "markers": {}, "marker_list": [],
              "logs": [], "qemu_stderr": [], "command": cmd,
              "seconds_to_init": None, "seconds_to_done": None, "seconds_total": None}
    done = threading.Event()

    def read_stderr():
        for raw in proc.stderr:
            s = raw.decode("utf-8", "replace").rstrip("\r\n")
            result["qemu_stderr"].append(s)
            log_line("[qemu] " + s)
            print("[qemu] " + s, file=sys.stderr)

    def read_stdout():
        for raw in proc.stdout:
            s = raw.decode("utf-8", "replace").replace("\r", "").rstrip("\n")
            log_line(s)
            if a.console:
                print(s, flush=True)
            m = DONE_RE.search(s)
            if m:
                result["rc"] = int(m.group(1))
                result["seconds_to_done"] = round(time.monotonic() - t0, 3)
                done.set()
                continue
            m = MARK_RE.search(s)
            if m:
                k, v = m.group(1), m.group(2).strip()
                result["markers"][k] = v
                result["marker_list"].append([k, v])
                if k == "init_start" and result["seconds_to_init"] is None:
                    result["seconds_to_init"] = round(time.monotonic() - t0, 3)
                continue
            m = LOG_RE.search(s)
            if m:
                result["logs"].append(m.group(0))
        done.set()  # EOF: QEMU exited

    th_out = threading.Thread(target=read_stdout, daemon=True)
    th_err = threading.Thread(target=read_stderr, daemon=True)
    th_out.start()
    th_err.start()

    def on_signal(signum, _frame):
        kill_qemu(proc)
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    finished = done.wait(timeout=a.timeout)
    if result["rc"] is not None:
        # Guest said it is done: give QEMU a moment to power off by itself.
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        result["status"] = "done"
        exit_code = result["rc"]
    elif not finished:
        result["status"] = "timeout"
        exit_code = EXIT_TIMEOUT
    else:
        result["status"] = "no-done-marker"
        exit_code = EXIT_NO_DONE
    kill_qemu(proc)
    th_out.join(timeout=2)
    th_err.join(timeout=2)
    result["qemu_exit"] = proc.returncode
    result["seconds_total"] = round(time.monotonic() - t0, 3)
    mk = result["markers"]
    try:
        if "init_start" in mk:
            result["guest_uptime_at_init"] = float(mk["init_start"])
        if "test_end" in mk:
            result["guest_uptime_at_end"] = float(mk["test_end"])
    except ValueError:
        pass

    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    if a.print_markers:
        for k, v in result["marker_list"]:
            print("%s %s" % (k, v))
        for l in result["logs"]:
            print(l)
    msg = "run-guest: status=%s rc=%s qemu_exit=%s init=%ss done=%ss total=%ss" % (
        result["status"], result["rc"], result["qemu_exit"], result["seconds_to_init"],
        result["seconds_to_done"], result["seconds_total"])
    if result["status"] == "timeout":
        msg += " (timeout %g s: QEMU killed)" % a.timeout
    print(msg, file=sys.stderr)
    if logf:
        log_line("# " + msg)
        logf.close()
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
