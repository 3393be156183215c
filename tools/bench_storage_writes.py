"""Bytes written to the disk per capture on the box, before and after payload files + JPEG originals.

SD cards wear by bytes written. This counts them the way the kernel does (`write_bytes` of
/proc/self/io: every page this process dirtied for the block layer) over a capture's whole life
on the box: the capture store writes it, the outbox queues its messages, the broker acknowledges
them, the catalog's receipt deletes them. Two setups on the same real photo frames:

- before: the outbox of `--baseline-ref` (payloads as SQLite BLOBs, deleted on PUBACK; loaded
  from git) and the original frame as PNG;
- after: this checkout's outbox (payload files written once, deleted on the receipt) and the
  original frame as JPEG q95.

Run on a real disk (not tmpfs, which writes nothing to a block device):

    .venv/bin/python tools/bench_storage_writes.py --captures 30
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from device.box.store import CaptureStore  # noqa: E402
from device.comms.mqtt import capture_messages  # noqa: E402
from device.comms.outbox import Outbox  # noqa: E402
from device.types import Artifact, Capture, Frame  # noqa: E402

SAMPLES = sorted((ROOT / "device" / "samples").glob("*.jpg"))
BASELINE_REF = "febdb5a"  # main before delivery receipts, payload files and JPEG originals


def write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/self/io")


def old_outbox_class(ref: str):
    """The Outbox class as it was at `ref` (stdlib only, so it loads beside this checkout)."""
    src = subprocess.run(
        ["git", "show", f"{ref}:device/comms/outbox.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "outbox_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("outbox_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.Outbox


def make_capture(i: int, width: int) -> Capture:
    """A real photo at about catalog size, with the artifacts a capture exports (JPEG, PNG, mask)."""
    bgr = cv2.imread(str(SAMPLES[i % len(SAMPLES)]))
    h = round(bgr.shape[0] * width / bgr.shape[1])
    bgr = cv2.resize(bgr, (width, h), interpolation=cv2.INTER_CUBIC)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    png = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])[1].tobytes()
    mask = cv2.imencode(".png", (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) > 128).astype("uint8") * 255)[1].tobytes()
    cid = f"20260101T000000{i:03d}Z-bench"
    return Capture(
        id=cid,
        frame=Frame(id=f"f{i}", image=rgb, timestamp=time.time(), source="bench"),
        artifacts=[
            Artifact("jpeg", f"{cid}.jpg", "image/jpeg", jpeg),
            Artifact("png", f"{cid}.png", "image/png", png),
            Artifact("mask", f"{cid}-mask.png", "image/png", mask),
        ],
        timings_ms={},
        model="bench",
        preset="bench",
    )


def run(setup: str, caps: list[Capture], workdir: Path, ref: str) -> dict:
    before = setup == "before"
    store = CaptureStore(workdir / "captures", original_format="png" if before else "jpeg")
    outbox = (old_outbox_class(ref) if before else Outbox)(workdir / "outbox.sqlite")
    totals = {"store": 0, "outbox": 0}
    payload = 0
    for cap in caps:
        msgs = capture_messages(cap, "bench")
        payload += sum(len(m.payload) for m in msgs)
        w0 = write_bytes()
        store.save(cap)
        w1 = write_bytes()
        outbox.put(cap.id, msgs)
        seqs = [m.seq for m in outbox.pending(0, 100)]
        outbox.ack(seqs)  # the broker's PUBACK (before: deletes; after: marks sent)
        if not before:
            meta_sha = dict(msgs[-1].user_props)["sha256"]
            outbox.receipt(cap.id, meta_sha)  # the catalog's receipt deletes
        w2 = write_bytes()
        totals["store"] += w1 - w0
        totals["outbox"] += w2 - w1
    w0 = write_bytes()
    outbox._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # what the next automatic checkpoint would write
    totals["outbox"] += write_bytes() - w0
    outbox.close()
    n = len(caps)
    return {
        "setup": setup,
        "captures": n,
        "message_bytes": payload / n,
        "store": totals["store"] / n,
        "outbox": totals["outbox"] / n,
        "total": (totals["store"] + totals["outbox"]) / n,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", type=int, default=30)
    ap.add_argument("--width", type=int, default=1600, help="frame width in pixels (height keeps the aspect)")
    ap.add_argument("--dir", help="where to write (default: a temp dir on the local disk, not tmpfs)")
    ap.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref whose outbox is 'before'")
    args = ap.parse_args(argv)
    caps = [make_capture(i, args.width) for i in range(args.captures)]
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="cutbox-writes-", dir="/var/tmp"))
    rows = []
    for setup in ("before", "after"):
        workdir = base / setup
        workdir.mkdir(parents=True, exist_ok=True)
        rows.append(run(setup, caps, workdir, args.baseline_ref))
    print(f"{args.captures} captures, frames {caps[0].frame.image.shape[1]}x{caps[0].frame.image.shape[0]}, dir {base}")
    print(f"{'setup':8} {'MQTT bytes':>11} {'store MB':>9} {'outbox MB':>10} {'total MB':>9} {'x MQTT':>7}")
    for r in rows:
        print(
            f"{r['setup']:8} {r['message_bytes'] / 1e6:10.2f}M {r['store'] / 1e6:9.2f} {r['outbox'] / 1e6:10.2f}"
            f" {r['total'] / 1e6:9.2f} {r['total'] / r['message_bytes']:7.2f}"
        )
    print(f"after/before: {rows[1]['total'] / rows[0]['total']:.2f}")
    if not args.dir:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
