"""A stand-in for `gphoto2 --shell` with a camera attached (no camera here): it speaks the
shell's text protocol as gphoto2 2.5 does (prompt `gphoto2: {<local dir>} /> `, each command
echoed, `*** Error (<code>: '<message>') ***` on stdout and the details on stderr, `Saving
file as NAME` into the local folder) and records what it was asked in a state folder.

    fake_gphoto2_shell.py STATE_DIR [gphoto2 options] --shell

STATE_DIR/script.json says how the camera behaves: {"busy": n} answers the first n captures
with -110, {"die_on_capture": k} exits at the k-th capture (the cable pulled), {"hang": true}
never answers a capture, {"refuse": ["capturetarget"]} refuses those config names,
{"no_camera": true} finds no camera, {"raw": true} saves a RAW file beside the JPEG.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "device" / "samples" / "cap.jpg"


def main() -> int:
    state = Path(sys.argv[1])
    args = sys.argv[2:]
    script = json.loads((state / "script.json").read_text()) if (state / "script.json").exists() else {}
    with (state / "sessions").open("a") as f:
        f.write(f"{os.getpid()} {' '.join(args)}\n")
    if "--shell" not in args:
        print("this stand-in only speaks --shell", file=sys.stderr)
        return 2
    if script.get("no_camera"):
        print("\n*** Error ***              \nCould not detect any camera", file=sys.stderr)
        print("*** Error (-105: 'Unknown model') ***       ")
        return 1
    captures = 0
    while True:
        sys.stdout.write(f"gphoto2: {{{os.getcwd()}}} /> ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return 0
        line = line.strip()
        with (state / "commands").open("a") as f:
            f.write(line + "\n")
        print(line)
        print(line)
        cmd, _, arg = line.partition(" ")
        if cmd in ("exit", "quit", "q"):
            return 0
        if cmd == "lcd":
            try:
                os.chdir(arg)
                print(f"Local directory now '{os.getcwd()}'.")
            except OSError:
                print("*** Error (-1: 'Unspecified error') ***")
        elif cmd == "set-config":
            name = arg.partition("=")[0]
            if name in script.get("refuse", []):
                sys.stderr.write(f"\n*** Error ***              \n{name} not found in configuration tree.\n")
                sys.stderr.flush()
                print("*** Error (-1: 'Unspecified error') ***")
        elif cmd == "capture-image-and-download":
            captures += 1
            if captures == script.get("die_on_capture"):
                sys.stderr.write("\n*** Error ***              \nCould not find the requested device on the USB port\n")
                sys.stderr.flush()
                return 1
            if script.get("hang"):
                time.sleep(3600)
            if captures <= script.get("busy", 0):
                sys.stderr.write("\n*** Error ***              \nPTP Device Busy\n")
                sys.stderr.flush()
                print("*** Error (-110: 'I/O in progress') ***")
                continue
            name = f"IMG_{captures:04d}"
            shutil.copy(SAMPLE, f"{name}.JPG")
            print(f"New file is in location /store_00020001/DCIM/100CANON/{name}.JPG on the camera")
            print(f"Saving file as {name}.JPG")
            if script.get("raw"):
                Path(f"{name}.CR2").write_bytes(b"II*\0raw")
                print(f"Saving file as {name}.CR2")
        else:
            print("*** Error (-6: 'Unsupported operation') ***")


if __name__ == "__main__":
    sys.exit(main())
