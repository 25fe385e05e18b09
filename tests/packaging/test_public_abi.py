#!/usr/bin/env python3
"""public-abi: libuvdpa.so exports exactly the public API.

The functions the shared library defines in its dynamic symbol table (nm -D
--defined-only) must be exactly the functions include/uvdpa/*.h declare
(public_api.py, which also compiles each header on its own), each at the
version node UVDPA_0; lib/libuvdpa.map and debian/libuvdpa0.symbols must
list the same names; the soname
must be libuvdpa.so.0. Private symbols leaking (uvdpa_parse_u64, ifcvf_*,
relay_*) or a public function missing both fail.

Usage: test_public_abi.py BUILD_DIR SOURCE_ROOT"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import public_api  # noqa: E402


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def main():
    build, root = sys.argv[1], sys.argv[2]
    so = os.path.join(build, "lib", "libuvdpa.so")
    if not os.path.exists(so):
        fail(f"{so} not built")
    api = public_api.declared(root, os.environ.get("CC", "cc"))
    print(f"public headers declare {len(api)} functions")

    out = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True,
                         check=True).stdout
    exported, bad_version = set(), []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        _, kind, sym = parts
        if kind == "A" and sym == "UVDPA_0":	# the version node itself
            continue
        name, _, version = sym.partition("@@")
        if version != "UVDPA_0":
            bad_version.append(sym)
        exported.add(name)
    print(f"{so} exports {len(exported)} symbols")

    mapped = set(re.findall(r"^\s*(\w+);", open(os.path.join(root, "lib", "libuvdpa.map")).read(),
                            re.M))
    symbols = set(re.findall(r"^ (\w+)@UVDPA_0 ", open(os.path.join(root, "debian",
                                                            "libuvdpa0.symbols")).read(), re.M))
    symbols.discard("UVDPA_0")
    ok = True
    for what, names in (("in debian/libuvdpa0.symbols but not declared", symbols - api),
                        ("declared but missing from debian/libuvdpa0.symbols", api - symbols),
                        ("exported but not declared in include/uvdpa", exported - api),
                        ("declared in include/uvdpa but not exported", api - exported),
                        ("in lib/libuvdpa.map but not declared", mapped - api),
                        ("declared but missing from lib/libuvdpa.map", api - mapped)):
        if names:
            ok = False
            print(f"FAIL: {what}: {' '.join(sorted(names))}")
    if bad_version:
        ok = False
        print(f"FAIL: not at version UVDPA_0: {' '.join(sorted(bad_version))}")
    soname = subprocess.run(["readelf", "-d", so], capture_output=True, text=True,
                            check=True).stdout
    if "Library soname: [libuvdpa.so.0]" not in soname:
        ok = False
        print("FAIL: soname is not libuvdpa.so.0")
    if not ok:
        sys.exit(1)
    print(f"PASS: libuvdpa.so.0 exports exactly the {len(api)} public functions")


if __name__ == "__main__":
    main()
