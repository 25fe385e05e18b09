#!/usr/bin/env python3
"""Host end of tests/guest/scripts/transfer.sh.

Listens on ADDR with two ephemeral TCP ports and writes them to --ports as
"TX_PORT RX_PORT" (named from the guest's side):
  TX_PORT  raw receiver: reads one connection to EOF (the guest's
           `nc ADDR TX_PORT < file`), hashes it (and stores it with --out);
  RX_PORT  HTTP server: GET of any path returns --serve FILE (the guest's
           `wget http://ADDR:RX_PORT/rx.bin`).
After every event it rewrites --result (JSON):
  {"recv": {"bytes", "sha256", "seconds" (first byte to EOF), "done"},
   "serve": {"bytes", "seconds", "requests", "done"}}
Runs until SIGTERM or --timeout. Python 3 standard library only.
"""

import argparse
import hashlib
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time

state = {"recv": {"bytes": 0, "sha256": None, "seconds": None, "done": False, "error": None},
         "serve": {"bytes": 0, "seconds": None, "requests": 0, "done": False, "error": None}}
lock = threading.Lock()
args = None


def save():
    with lock:
        tmp = args.result + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, args.result)


def receiver(ls):
    conn, peer = ls.accept()
    h = hashlib.sha256()
    n = 0
    t_first = None
    out = open(args.out, "wb") if args.out else None
    try:
        conn.settimeout(args.timeout)
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            if t_first is None:
                t_first = time.monotonic()
            n += len(b)
            h.update(b)
            if out:
                out.write(b)
    except OSError as e:
        state["recv"]["error"] = str(e)
    t_last = time.monotonic()
    conn.close()
    if out:
        out.close()
    r = state["recv"]
    r.update(bytes=n, sha256=h.hexdigest(), peer=peer[0],
             seconds=round(t_last - t_first, 3) if t_first else None, done=True)
    save()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *a):
        sys.stderr.write("xfer-peer: http %s\n" % (fmt % a))

    def do_GET(self):
        size = os.path.getsize(args.serve)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        t0 = time.monotonic()
        sent = 0
        s = state["serve"]
        s["requests"] += 1
        try:
            with open(args.serve, "rb") as f:
                while True:
                    b = f.read(1 << 16)
                    if not b:
                        break
                    self.wfile.write(b)
                    sent += len(b)
            self.wfile.flush()
        except OSError as e:
            s["error"] = str(e)
        s.update(bytes=sent, seconds=round(time.monotonic() - t0, 3), done=sent == size)
        save()


def main():
    global args
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", required=True, help="address to listen on")
    p.add_argument("--serve", required=True, help="file returned to HTTP GETs")
    p.add_argument("--ports", required=True, help="write 'TX_PORT RX_PORT' here once listening")
    p.add_argument("--result", required=True, help="JSON result file")
    p.add_argument("--out", help="store the received bytes here")
    p.add_argument("--timeout", type=float, default=600, help="exit after this many seconds")
    args = p.parse_args()

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.bind, 0))
    ls.listen(4)
    httpd = http.server.ThreadingHTTPServer((args.bind, 0), Handler)
    save()
    threading.Thread(target=receiver, args=(ls,), daemon=True).start()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    tmp = args.ports + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (ls.getsockname()[1], httpd.server_address[1]))
    os.replace(tmp, args.ports)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(args.timeout)


if __name__ == "__main__":
    main()
