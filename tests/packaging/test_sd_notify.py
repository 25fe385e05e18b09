#!/usr/bin/env python3
"""sd-notify: uvdpad tells systemd (Type=notify) when it is ready and when it
stops, through a NOTIFY_SOCKET this test owns (a unix datagram socket).

  1 uvdpad -f -c CONF -s CTL starts with NOTIFY_SOCKET set; the first
    datagram holds READY=1 (and MAINPID = uvdpad's pid), and at that moment
    the control socket answers and the config is applied (the device CONF
    adds is listed, bound to its vhost-user socket);
  2 SIGTERM: the next datagram holds STOPPING=1, uvdpad exits 0, and
    nothing else was sent;
  3 an abstract NOTIFY_SOCKET (@name) works too;
  4 with NOTIFY_SOCKET unset, and with it naming a path nobody listens on,
    uvdpad starts, serves and stops as usual (exit 0).

Usage: test_sd_notify.py BUILD_DIR"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1])
UVDPAD = os.path.join(BUILD, "tools", "uvdpad")
UVDPA = os.path.join(BUILD, "tools", "uvdpa")
failed = False


def check(ok, what):
    global failed
    print(("PASS: " if ok else "FAIL: ") + what)
    if not ok:
        failed = True
    return ok


def fields(msg):
    return dict(line.split("=", 1) for line in msg.decode().splitlines() if "=" in line)


def uvdpa(ctl, *args):
    return subprocess.run([UVDPA, "-s", ctl, *args], capture_output=True, text=True, timeout=10)


def wait_exit(proc, secs=15):
    try:
        return proc.wait(timeout=secs)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def start(tmp, notify_env, tag):
    ctl = os.path.join(tmp, f"{tag}.ctl")
    conf = os.path.join(tmp, f"{tag}.conf")
    sock = os.path.join(tmp, f"{tag}-vf.sock")
    with open(conf, "w") as f:
        f.write("# test config\n"
                "dev add name nvf0 mgmtdev emu/ifcvf-net port loopback\n"
                f"dev bind nvf0 vhost-user {sock}\n")
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    if notify_env is not None:
        env["NOTIFY_SOCKET"] = notify_env
    log = open(os.path.join(tmp, f"{tag}.log"), "w")
    proc = subprocess.Popen([UVDPAD, "-f", "-c", conf, "-s", ctl], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    return proc, ctl, sock


def scenario_notify(tmp, addr, bind_to, tag):
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(bind_to)
    rx.settimeout(15)
    proc, ctl, sock = start(tmp, addr, tag)
    try:
        try:
            msg = rx.recv(4096)
        except socket.timeout:
            check(False, f"{tag}: no datagram within 15 s of the start")
            return
        f = fields(msg)
        check(f.get("READY") == "1", f"{tag}: first datagram has READY=1 ({msg!r})")
        check(f.get("MAINPID") == str(proc.pid), f"{tag}: MAINPID is uvdpad's pid {proc.pid}")
        # Ready means: the control socket answers, the config ran.
        r = uvdpa(ctl, "dev", "show", "nvf0")
        check(r.returncode == 0 and "bound vhost-user" in r.stdout and sock in r.stdout,
              f"{tag}: at READY=1 the control socket answers and the config is applied")
        check(os.path.exists(sock), f"{tag}: at READY=1 the vhost-user socket exists")
        proc.send_signal(signal.SIGTERM)
        try:
            msg = rx.recv(4096)
            check(fields(msg).get("STOPPING") == "1", f"{tag}: on SIGTERM, STOPPING=1 ({msg!r})")
        except socket.timeout:
            check(False, f"{tag}: no STOPPING=1 within 15 s of SIGTERM")
        rc = wait_exit(proc)
        check(rc == 0, f"{tag}: uvdpad exits 0 after SIGTERM (got {rc})")
        rx.settimeout(0.5)
        try:
            extra = rx.recv(4096)
            check(False, f"{tag}: nothing after STOPPING=1 (got {extra!r})")
        except socket.timeout:
            check(True, f"{tag}: nothing after STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        rx.close()


def scenario_plain(tmp, addr, tag, what):
    proc, ctl, _ = start(tmp, addr, tag)
    try:
        ok = False
        for _ in range(100):
            if uvdpa(ctl, "dev", "show", "nvf0").returncode == 0:
                ok = True
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        check(ok, f"{tag}: {what}: uvdpad serves its control socket")
        proc.send_signal(signal.SIGTERM)
        rc = wait_exit(proc)
        check(rc == 0, f"{tag}: {what}: exits 0 after SIGTERM (got {rc})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    for b in (UVDPAD, UVDPA):
        if not os.access(b, os.X_OK):
            print(f"FAIL: missing {b} (not built)")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="uvdpa-sdnotify.")
    path = os.path.join(tmp, "notify.sock")
    scenario_notify(tmp, path, path, "path")
    name = f"uvdpa-sdnotify-{os.getpid()}"
    scenario_notify(tmp, "@" + name, "\0" + name, "abstract")
    scenario_plain(tmp, None, "unset", "NOTIFY_SOCKET unset")
    scenario_plain(tmp, os.path.join(tmp, "nobody.sock"), "nobody", "NOTIFY_SOCKET unheard")
    if failed:
        print(f"logs kept in {tmp}")
        for f in sorted(os.listdir(tmp)):
            if f.endswith(".log"):
                print(f"--- {f}\n" + open(os.path.join(tmp, f)).read())
        sys.exit(1)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
