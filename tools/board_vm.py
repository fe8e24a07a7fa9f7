#!/usr/bin/env python3
"""Boots an emulated arm64 board whose init is our firmware, and checks what it prints.

The board: `qemu-system-aarch64 -M virt` (Cortex-A76, as a Raspberry Pi 5; --cpu cortex-a72
for a Pi 4) running Debian's arm64 kernel (package linux-image-arm64). The initramfs holds
the firmware `incept-fw` as /init with the C library it links, and the replay images. The
kernel starts the firmware as process 1: it boots the embedded int8 model (its golden
self-test), classifies the images and prints each result and its logits on the serial
console; when it exits the kernel panics and reboots (panic=-1), which ends qemu
(-no-reboot).

This script reads the console, times boot to first result, and with --expect compares the
board's logits line for line with the host's (`incept-fw --logits IMAGES` on the build host):
they must be bit-identical.

    python3 tools/board_vm.py \\
        --firmware target/debian/aarch64-unknown-linux-gnu/release/incept-fw \\
        --expect host-logits.txt tests/data/fmnist/ankle-boot.png tests/data/photos/chelsea.png

The kernel comes from apt, as .ci/install fetches it (no network here):
    apt-get download linux-image-6.1.0-NN-arm64:arm64   # the version linux-image-arm64 names
    dpkg-deb --fsys-tarfile linux-image-*.deb | tar -x ./boot   # -> --kernel boot/vmlinuz-*
Exit status: 0 when the firmware booted, printed a result per image and (with --expect) every
logits line matched; 1 otherwise.
"""

import argparse
import gzip
import io
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_KERNEL = Path("/opt/board-vm/vmlinuz")
CROSS_LIBS = Path("/usr/aarch64-linux-gnu/lib")


class Cpio:
    """A newc cpio archive, written without root (device nodes included)."""

    def __init__(self):
        self.out = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        fields = [
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0
        ]
        self.ino += 1
        head = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out.write(head + name.encode() + b"\0")
        self.out.write(b"\0" * (-(len(head) + len(name) + 1) % 4))
        self.out.write(data)
        self.out.write(b"\0" * (-len(data) % 4))

    def dir(self, name):
        self._entry(name, 0o040755)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def char_dev(self, name, major, minor):
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.out.getvalue()


def needed_libs(firmware):
    """The shared libraries the firmware links (readelf's NEEDED entries)."""
    out = subprocess.run(
        ["aarch64-linux-gnu-readelf", "-d", str(firmware)],
        check=True, capture_output=True, text=True
    ).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)


def initramfs(firmware, images):
    """The initramfs: /init (the stripped firmware), its libraries, /dev/console, /images."""
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / "init"
        subprocess.run(["aarch64-linux-gnu-strip", "-o", str(stripped), str(firmware)], check=True)
        init = stripped.read_bytes()
    cpio = Cpio()
    for d in ["dev", "proc", "lib", "lib/aarch64-linux-gnu", "images"]:
        cpio.dir(d)
    cpio.char_dev("dev/console", 5, 1)
    cpio.char_dev("dev/null", 1, 3)
    cpio.file("init", init, 0o755)
    for lib in needed_libs(firmware):
        data = (CROSS_LIBS / lib).resolve().read_bytes()
        # The loader where the ELF interpreter path says, the rest where glibc looks.
        where = "lib" if lib.startswith("ld-linux") else "lib/aarch64-linux-gnu"
        cpio.file(f"{where}/{lib}", data, 0o755)
    names = []
    for i, img in enumerate(images):
        name = f"images/{i}-{Path(img).name}"
        cpio.file(name, Path(img).read_bytes())
        names.append("/" + name)
    return gzip.compress(cpio.finish(), compresslevel=1), names


def boot(kernel, initrd, names, cpu, timeout, log):
    """Runs the board; returns (console lines, seconds to the first result, total seconds)."""
    append = f"console=ttyAMA0 rdinit=/init panic=-1 quiet -- --logits {' '.join(names)}"
    cmd = [
        "qemu-system-aarch64", "-M", "virt", "-cpu", cpu, "-smp", "1", "-m", "1024",
        "-nographic", "-nic", "none", "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", append,
    ]
    print("$ " + " ".join(cmd), file=sys.stderr)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    lines, first, buf = [], None, b""
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            proc.kill()
            raise SystemExit(f"board_vm: no end after {timeout} s; console so far:\n"
                             + "\n".join(lines))
        if not sel.select(timeout=min(left, 1.0)):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *done, buf = buf.split(b"\n")
        for raw in done:
            line = raw.decode(errors="replace").rstrip("\r")
            lines.append(line)
            log.write(line + "\n")
            log.flush()
            if first is None and line.startswith("/images/"):
                first = time.monotonic() - start
    proc.wait()
    if buf:
        lines.append(buf.decode(errors="replace"))
    return lines, first, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="+", help="PNG/JPEG images the board classifies")
    ap.add_argument("--firmware", required=True, type=Path,
                    help="incept-fw built for aarch64-unknown-linux-gnu")
    ap.add_argument("--kernel", type=Path, default=DEFAULT_KERNEL,
                    help=f"the arm64 kernel Image (default {DEFAULT_KERNEL}, from .ci/install)")
    ap.add_argument("--cpu", default="cortex-a76", help="qemu CPU (cortex-a76 = Pi 5)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before giving up")
    ap.add_argument("--expect", type=Path,
                    help="the host's `incept-fw --logits IMAGES` output to match bit for bit")
    ap.add_argument("--log", type=Path, help="write the whole console here too")
    args = ap.parse_args()

    if not args.kernel.is_file():
        raise SystemExit(f"board_vm: no kernel at {args.kernel}: run .ci/install, or pass "
                         "--kernel with an arm64 Image from Debian's linux-image-arm64")
    if not args.firmware.is_file():
        raise SystemExit(f"board_vm: no firmware at {args.firmware}: build it with "
                         "`cargo +debian build --release --target aarch64-unknown-linux-gnu "
                         "--no-default-features --features embed,image --bin incept-fw`")
    data, names = initramfs(args.firmware, args.images)
    with tempfile.TemporaryDirectory() as tmp:
        initrd = Path(tmp) / "initrd.cpio.gz"
        initrd.write_bytes(data)
        print(f"board_vm: initramfs {len(data) / 1e6:.1f} MB, {len(names)} images",
              file=sys.stderr)
        log = open(args.log, "w") if args.log else open(os.devnull, "w")
        with log:
            lines, first, total = boot(args.kernel, initrd, names, args.cpu, args.timeout, log)

    booted = [line for line in lines if line.startswith("booted ")]
    results = [line for line in lines if line.startswith("/images/")]
    logits = [line.strip() for line in lines if line.strip().startswith("logits ")]
    for line in booted + results:
        print(f"board: {line}")
    ok = True
    if not booted:
        print("board_vm: the firmware did not boot (no 'booted' line); console:", file=sys.stderr)
        print("\n".join(lines[-40:]), file=sys.stderr)
        ok = False
    if len(results) != len(names) or len(logits) != len(names):
        print(f"board_vm: {len(results)} results and {len(logits)} logits lines for "
              f"{len(names)} images", file=sys.stderr)
        ok = False
    if args.expect:
        want = [line.strip() for line in args.expect.read_text().splitlines()
                if line.strip().startswith("logits ")]
        if want == logits:
            print(f"board_vm: logits bit-identical to the host's for all {len(want)} images")
        else:
            ok = False
            for i, (w, g) in enumerate(zip(want, logits)):
                if w != g:
                    print(f"board_vm: image {i} differs:\n  host  {w}\n  board {g}",
                          file=sys.stderr)
            if len(want) != len(logits):
                print(f"board_vm: {len(want)} host lines, {len(logits)} board lines",
                      file=sys.stderr)
    first_txt = f"{first:.1f} s" if first is not None else "never"
    print(f"board_vm: qemu start to first result {first_txt}, whole run {total:.1f} s "
          f"({args.cpu}, TCG)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
