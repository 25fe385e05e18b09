#!/usr/bin/env python3
"""The public API of libuvdpa: the functions declared (not static inline) in
include/uvdpa/*.h, as the C compiler sees them (gcc -aux-info), one name a
line. Each header is also compiled on its own, so a header that does not
compile standalone fails here.

Usage: public_api.py SOURCE_ROOT [CC]"""
import glob
import os
import re
import subprocess
import sys
import tempfile


def declared(root, cc="cc"):
    inc = os.path.join(root, "include")
    names = set()
    headers = sorted(glob.glob(os.path.join(inc, "uvdpa", "*.h")))
    if not headers:
        raise SystemExit(f"public_api: no headers under {inc}/uvdpa")
    with tempfile.TemporaryDirectory() as tmp:
        for h in headers:
            rel = os.path.relpath(h, inc)
            src = os.path.join(tmp, "t.c")
            aux = os.path.join(tmp, "aux.txt")
            with open(src, "w") as f:
                f.write(f"#include <{rel}>\n")
            # Standalone: nothing but this header, strict warnings.
            cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic-errors",
                   "-Wno-unused-function", "-I", inc, "-aux-info", aux, "-c", src,
                   "-o", os.path.join(tmp, "t.o")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"public_api: {rel} does not compile on its own:\n{r.stderr}")
            for line in open(aux):
                # /* /path/include/uvdpa/x.h:12:NC */ extern int uvdpa_f (...);
                m = re.match(r"/\* (\S+):\d+:\w+ \*/ (.*)", line)
                if not m or not os.path.abspath(m.group(1)).startswith(os.path.abspath(inc) + os.sep):
                    continue
                decl = m.group(2)
                if decl.startswith("static"):
                    continue
                fn = re.search(r"(\w+)\s*\(", decl)
                if fn:
                    names.add(fn.group(1))
    return names


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    cc = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CC", "cc")
    for n in sorted(declared(root, cc)):
        print(n)
