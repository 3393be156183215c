"""cutbox against rembg (U2-Net-p), side by side: whole processes, one core, PNG out, same frames.

    python -m tools.bench_rembg                       # 20 frames of coco-mval-large at 2304x1296
    python -m tools.bench_rembg --frames 10 --repeats 5 --json

Both tools cut out the same folder of frames, each as one whole process (interpreter start,
model load, decode, cut-out, PNG encode and write: what a user waits for), pinned to one core
with `taskset` and held to one thread. The runs alternate (cutbox, rembg, rembg, cutbox, ...)
after one untimed warm-up of each, so a change in the machine's load falls on both; the ratio
is of the medians. Each run's CPU time and peak RSS come from the kernel (wait4), and the CPU
ratio stays honest on a shared machine where the wall clock swings.

The frames are a labelled set's photos scaled to fit a camera frame (default 2304x1296) and
saved as JPEG; the ground truth is scaled the same way, so both tools' IoU is measured on
exactly the frames that were timed. cutbox writes the `transparent-png` preset (the product's
crop plus margins; its sidecar's box maps the alpha back onto the frame), rembg the whole frame.

rembg is never a project dependency and must not download anything. Set it up once in a
throwaway virtual environment:

    python3 -m venv ~/.cache/cutbox-rembg-venv
    ~/.cache/cutbox-rembg-venv/bin/pip install rembg==2.0.86 onnxruntime

The U2-Net-p weights are the ones ../shared/teachers/get-teachers.sh puts in
~/.cache/cutbox-teachers/u2netp.onnx; the tool links them into a U2NET_HOME folder under the
name rembg looks for and checks rembg's published md5 first, so rembg finds its file and never
fetches one. rembg runs through a small driver doing what `rembg p -m u2netp IN OUT` does for
each file (bytes in, `remove`, PNG bytes out) without the CLI's folder watcher.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tools.evaluate import TEACHERS, list_samples, read_gt, score

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SET = REPO.parent / "shared" / "data" / "eval-dev" / "coco-mval-large"
DEFAULT_VENV = Path.home() / ".cache" / "cutbox-rembg-venv"
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"  # rembg's published u2netp.onnx
CUTBOX_PRESET = "transparent-png"
TOOLS = ("cutbox", "rembg")
REMBG_DRIVER = """
import pathlib, sys
from rembg import new_session, remove
src, dst = map(pathlib.Path, sys.argv[1:3])
session = new_session("u2netp")
for f in sorted(src.iterdir()):
    (dst / (f.stem + ".png")).write_bytes(remove(f.read_bytes(), session=session))
"""


@dataclass
class Run:
    """One whole-process run of one tool over every frame."""

    tool: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def prepare_frames(set_dir: Path, n: int, size: tuple[int, int], in_dir: Path) -> dict[str, np.ndarray]:
    """The first `n` labelled photos scaled to fit `size` (aspect kept) as JPEG q95 in `in_dir`;
    returns each frame's ground truth at the frame's size (float 0..1)."""
    in_dir.mkdir(parents=True, exist_ok=True)
    gts = {}
    for name, img_path, gt_path in list_samples(set_dir)[:n]:
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"error: cannot read {img_path}")
        h, w = bgr.shape[:2]
        s = min(size[0] / w, size[1] / h)
        out = (max(1, round(w * s)), max(1, round(h * s)))
        frame = cv2.resize(bgr, out, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
        cv2.imwrite(str(in_dir / f"{name}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        gt, _ = read_gt(gt_path, None)
        gts[name] = cv2.resize(gt, out, interpolation=cv2.INTER_LINEAR)
    if not gts:
        raise SystemExit(f"error: no labelled photos in {set_dir}")
    return gts


def rembg_home(weights: Path, home: Path) -> Path:
    """A U2NET_HOME holding `weights` as u2netp.onnx, after checking they are rembg's file."""
    if not weights.is_file():
        raise SystemExit(f"error: no U2-Net-p weights at {weights}: run ../shared/teachers/get-teachers.sh")
    md5 = hashlib.md5(weights.read_bytes()).hexdigest()
    if md5 != U2NETP_MD5:
        raise SystemExit(
            f"error: {weights} has md5 {md5}, not rembg's u2netp ({U2NETP_MD5}): rembg would fetch its own"
        )
    home.mkdir(parents=True, exist_ok=True)
    link = home / "u2netp.onnx"
    if not link.exists():
        link.symlink_to(weights.resolve())
    return home


def commands(core: int, venv: Path, in_dir: Path, out: dict[str, Path], home: Path) -> dict[str, tuple[list, dict]]:
    """Each tool's command line and environment, pinned to `core` with one thread."""
    pin = ["taskset", "-c", str(core)]
    one = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cutbox = [*pin, sys.executable, "-m", "device.cli", "cutout", "--preset", CUTBOX_PRESET, str(in_dir)]
    rembg = [*pin, str(venv / "bin" / "python"), "-c", REMBG_DRIVER, str(in_dir), str(out["rembg"])]
    return {
        "cutbox": ([*cutbox, "-o", str(out["cutbox"])], {**one, "CUTBOX__SEGMENT__THREADS": "1"}),
        "rembg": (rembg, {**one, "U2NET_HOME": str(home)}),
    }


def run_once(tool: str, cmd: list, env: dict, out_dir: Path) -> Run:
    """Run one tool over the frames into a fresh `out_dir`; the kernel's figures for the process."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"error: {tool} exited {proc.returncode}: {' / '.join(tail)}")
    return Run(tool, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0)


def cutbox_alpha(out_dir: Path, name: str, shape: tuple[int, int]) -> np.ndarray:
    """cutbox's alpha on the whole frame: the PNG's alpha placed back at the sidecar's crop box."""
    from PIL import Image

    side = json.loads((out_dir / f"{name}.json").read_text())
    with Image.open(out_dir / f"{name}.png") as im:
        canvas = np.asarray(im.convert("RGBA"))[..., 3]
    x0, y0, x1, y1 = side["box"]
    ch, cw = canvas.shape
    mx, my = (cw - (x1 - x0)) // 2, (ch - (y1 - y0)) // 2
    if cw != (x1 - x0) + 2 * mx or ch != (y1 - y0) + 2 * my:
        raise SystemExit(f"error: {name}: canvas {cw}x{ch} is not the crop box plus even margins (a scaled preset?)")
    alpha = np.zeros(shape, np.float32)
    fx0, fy0 = x0 - mx, y0 - my  # the canvas's top-left corner in the frame
    sx0, sy0 = max(0, -fx0), max(0, -fy0)
    ex, ey = min(cw, shape[1] - fx0), min(ch, shape[0] - fy0)
    alpha[fy0 + sy0 : fy0 + ey, fx0 + sx0 : fx0 + ex] = canvas[sy0:ey, sx0:ex] / 255.0
    return alpha


def rembg_alpha(out_dir: Path, name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(out_dir / f"{name}.png") as im:
        return np.asarray(im.convert("RGBA"))[..., 3].astype(np.float32) / 255.0


def mean_iou(gts: dict[str, np.ndarray], alpha_of) -> float:
    ious = [score(alpha_of(name, gt.shape), gt, np.ones(gt.shape, bool))["iou"] for name, gt in gts.items()]
    return round(float(np.mean(ious)), 4)


def compare(args) -> dict:
    """Warm-up, alternating timed runs, then IoU of the last outputs; the report dict."""
    with tempfile.TemporaryDirectory(prefix="cutbox-vs-rembg-") as tmp:
        work = Path(tmp)
        gts = prepare_frames(args.data, args.frames, args.size, work / "in")
        home = rembg_home(args.weights, work / "u2net-home")
        out = {t: work / f"out-{t}" for t in TOOLS}
        cmds = commands(args.core, args.venv, work / "in", out, home)
        for t in TOOLS:  # warm-up: page cache, first imports
            run_once(t, *cmds[t], out[t])
        runs: list[Run] = []
        for r in range(args.repeats):
            for t in TOOLS if r % 2 == 0 else TOOLS[::-1]:
                runs.append(run_once(t, *cmds[t], out[t]))
        ious = {
            "cutbox": mean_iou(gts, lambda n, shape: cutbox_alpha(out["cutbox"], n, shape)),
            "rembg": mean_iou(gts, lambda n, shape: rembg_alpha(out["rembg"], n)),
        }
        sizes = sorted({tuple(g.shape[::-1]) for g in gts.values()})
    figures = ("wall_s", "cpu_s", "peak_rss_mb")
    med = {
        t: {k: round(statistics.median(getattr(x, k) for x in runs if x.tool == t), 3) for k in figures} for t in TOOLS
    }
    return {
        "frames": len(gts),
        "fit_into": list(args.size),
        "frame_sizes": [list(s) for s in sizes[:3]],
        "data": str(args.data),
        "repeats": args.repeats,
        "core": args.core,
        "cutbox": {**med["cutbox"], "iou": ious["cutbox"], "preset": CUTBOX_PRESET},
        "rembg": {**med["rembg"], "iou": ious["rembg"], "model": "u2netp"},
        "wall_ratio": round(med["rembg"]["wall_s"] / med["cutbox"]["wall_s"], 2),
        "cpu_ratio": round(med["rembg"]["cpu_s"] / med["cutbox"]["cpu_s"], 2),
        "runs": [[x.tool, round(x.wall_s, 3), round(x.cpu_s, 3)] for x in runs],
        "load_avg": [round(v, 2) for v in os.getloadavg()],
    }


def table(r: dict) -> str:
    c, b = r["cutbox"], r["rembg"]
    return "\n".join(
        [
            f"{r['frames']} frames of {r['data']} fitted into {r['fit_into'][0]}x{r['fit_into'][1]}, "
            f"PNG out, one core (cpu {r['core']}), median of {r['repeats']} alternating runs",
            f"{'':8}{'wall s':>10}{'CPU s':>10}{'per frame':>11}{'peak RSS':>10}{'IoU':>8}",
            *(
                f"{name:8}{x['wall_s']:>10.2f}{x['cpu_s']:>10.2f}{1000 * x['wall_s'] / r['frames']:>9.0f}ms"
                f"{x['peak_rss_mb']:>8.0f}MB{x['iou']:>8.3f}"
                for name, x in (("cutbox", c), ("rembg", b))
            ),
            f"cutbox is {r['wall_ratio']:.1f}x faster than rembg U2-Net-p (wall), {r['cpu_ratio']:.1f}x (CPU time); "
            f"load average {r['load_avg'][0]:.1f}",
        ]
    )


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_SET, help="labelled set (img/ + gt/, or a distill folder)")
    ap.add_argument("--frames", type=int, default=20, help="how many of its photos (default 20)")
    ap.add_argument("--size", type=_size, default=(2304, 1296), help="fit the photos into WxH (default 2304x1296)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each tool, alternating (default 3)")
    ap.add_argument("--core", type=int, default=0, help="the CPU core both run on (default 0)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the throwaway venv holding rembg")
    ap.add_argument("--weights", type=Path, default=TEACHERS / "u2netp.onnx", help="U2-Net-p ONNX weights")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.repeats < 1:
        ap.error("--frames and --repeats must be >= 1")
    if not (args.venv / "bin" / "python").exists():
        ap.error(f"no rembg venv at {args.venv}: see the set-up at the top of tools/bench_rembg.py")
    report = compare(args)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
