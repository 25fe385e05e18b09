#!/usr/bin/env python3
"""Checks the layering of the source tree: every #include "..." in include/,
src/ and tools/ must go to a layer the including file may depend on (the map
below, which docs/design.md draws). A private header included from a layer
that should not see it, or a public header that includes a private one, is
an error. Usage: check_layers.py SOURCE_ROOT. Exit 1 with one line per
violation."""
import os
import re
import sys

# layer -> layers it may include (besides itself and the public headers).
ALLOWED = {
    "public": set(),
    "core": set(),
    "virtio": {"core"},
    # The inflight region's layout is the virtqueue's (a header, no code).
    "vhost": {"core", "virtio/virtq_inflight.h"},
    # The tap bus driver is a virtio driver: the driver side of src/virtio.
    "bus": {"core", "vhost", "virtio"},
    "pci": {"core"},
    # Drivers run shadow virtqueues with both sides of src/virtio.
    "drivers": {"core", "pci", "virtio"},
    # The model emulates the IFCVF: it shares the driver's register layout
    # (and nothing else of the driver), and runs rings with the device side
    # of src/virtio.
    "models": {"core", "pci", "virtio", "drivers/ifcvf/ifcvf_regs.h"},
    "frontend": {"core", "virtio", "vhost/vhost_user_proto.h"},
    # The fake device for tests (test/null, uvdpa-testdev, unit tests).
    "testing": {"core", "virtio"},
    # The composition root: it wires every layer together.
    "daemon": {"core", "virtio", "vhost", "bus", "pci", "drivers", "models", "testing"},
    "tools": {"core", "daemon", "frontend", "vhost/vhost_user_proto.h",
              "virtio/virtq_inflight.h"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """Layer of a path relative to the root (a source file or an include
    target written relative to include/ or src/)."""
    parts = rel.split("/")
    if parts[0] == "include" or parts[0] == "uvdpa":
        return "public"
    if parts[0] == "tools":
        return "tools"
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if len(parts) > 1 and parts[0] in ALLOWED:
        return parts[0]
    return None


def allowed(src_layer, target):
    tl = layer_of(target)
    if tl is None:
        return True  # same-directory include ("vu_internal.h")
    if tl == "public" or tl == src_layer:
        return True
    rules = ALLOWED.get(src_layer, set())
    return tl in rules or target in rules


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = []
    checked = 0
    for top in ("include", "src", "tools"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                src_layer = layer_of(rel)
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                for target in INCLUDE.findall(text):
                    checked += 1
                    if src_layer == "public" and not target.startswith("uvdpa/"):
                        bad.append(f"{rel}: public header includes private {target}")
                    elif not allowed(src_layer, target):
                        bad.append(f"{rel}: layer {src_layer} may not include {target}")
    for line in bad:
        print(line)
    print(f"check_layers: {checked} includes checked, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
