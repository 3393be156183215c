"""Score a segmentation model on a labelled folder: IoU, MAE, SAD, gradient error,
boundary F-measure, false-foreground and missed area, and ms per image at one thread.

    python -m tools.evaluate --data DIR --model models/cutbox-student-int8.tflite [--json]

DIR holds `img/NAME.*` + `gt/NAME.png`, or the distill layout `NAME.jpg` + `NAME.png`
(with `--split LIST` naming the photos to use, e.g. the training run's val.txt).
--model: a .tflite, a float student checkpoint (`*.weights.h5`, config.json beside it),
`u2netp` or `isnet` (teachers run by onnxruntime from ~/.cache/cutbox-teachers; their
predictions are cached on disk since IS-Net costs seconds per image). Append `+matte` to a
spec (`models/cutbox-student-int8.tflite+matte`) to score the alpha a capture gets: the
model's mask refined by the device's matte stage, guided by the photo at full size (the
time then includes the matte).
Ground truth: 0 background, >0 foreground, or 8-bit soft alpha; `--ignore 128` leaves
pixels equal to 128 out of every metric.
With several models, each after the first also gets its IoU difference from the first and a
95 % paired bootstrap interval over the images (`iou_vs_first` in the JSON).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

TEACHERS = Path(os.environ.get("CUTBOX_TEACHERS", Path.home() / ".cache/cutbox-teachers"))
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


# ---------------------------------------------------------------- data
def list_samples(data: Path, split: Path | None = None) -> list[tuple[str, Path, Path]]:
    """(name, image, ground truth) triples from either supported layout."""
    data = Path(data)
    if not data.is_dir():
        raise SystemExit(f"error: --data {data} is not a folder")
    out = []
    if (data / "img").is_dir() and (data / "gt").is_dir():
        for img in sorted((data / "img").iterdir()):
            gt = data / "gt" / f"{img.stem}.png"
            if img.suffix.lower() in IMAGE_EXTS and gt.exists():
                out.append((img.stem, img, gt))
    elif split is not None:  # distill layout: the list names the photos (absolute or under DIR)
        for line in Path(split).read_text().splitlines():
            img = Path(line.strip()) if Path(line.strip()).is_absolute() else data / line.strip()
            if line.strip() and img.exists() and img.with_suffix(".png").exists():
                out.append((img.stem, img, img.with_suffix(".png")))
    else:
        for img in sorted(data.glob("*.jpg")):
            if img.with_suffix(".png").exists():
                out.append((img.stem, img, img.with_suffix(".png")))
    if split is not None and (data / "img").is_dir():
        keep = {Path(line.strip()).stem for line in Path(split).read_text().splitlines() if line.strip()}
        out = [s for s in out if s[0] in keep]
    if not out:
        raise SystemExit(f"error: no image/ground-truth pairs found in {data}")
    return out


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"error: cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_gt(path: Path, ignore: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth as float 0..1 and a boolean 'counts' mask."""
    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if g is None:
        raise SystemExit(f"error: cannot read ground truth {path}")
    valid = np.ones(g.shape, bool) if ignore is None else g != ignore
    gt = (g > 0).astype(np.float32) if g.max() <= 1 else g.astype(np.float32) / 255.0
    return gt, valid


# ---------------------------------------------------------------- models
class TFLiteModel:
    """The shipped int8 student through LiteRT at one thread (what the device runs)."""

    def __init__(self, path: Path, threads: int = 1):
        from tools.model.int8_check import Interpreter

        self.it = Interpreter(model_path=str(path), num_threads=threads)
        self.it.allocate_tensors()
        self.inp, self.out = self.it.get_input_details()[0], self.it.get_output_details()[0]
        self.h, self.w = int(self.inp["shape"][1]), int(self.inp["shape"][2])
        self.name = Path(path).stem

    def __call__(self, rgb):
        x = cv2.resize(rgb, (self.w, self.h), interpolation=cv2.INTER_AREA)
        self.it.set_tensor(self.inp["index"], x[None].astype(self.inp["dtype"]))
        self.it.invoke()
        q = self.it.get_tensor(self.out["index"])[0, ..., 0]
        scale, zero = self.out["quantization"]
        return (q.astype(np.float32) - zero) * scale if scale else q.astype(np.float32)


class KerasModel:
    """The float student from a training checkpoint (needs TensorFlow: the `train` extra)."""

    def __init__(self, weights: Path, threads: int = 1):
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TF already started in this process (e.g. after conversion)
            print(
                f"warning: TensorFlow already initialised; float timing not limited to {threads} thread(s)",
                file=sys.stderr,
            )
        from tools.model.student import from_config

        cfg = json.loads(Path(weights).with_name("config.json").read_text())["model"]
        self.size = cfg["size"]
        self.model = from_config(cfg, batch_size=1, pretrained=False)
        self.model.load_weights(weights)
        self.fn = tf.function(lambda x: self.model(x, training=False))
        self.name = "student-float"

    def __call__(self, rgb):
        x = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return self.fn(x[None].astype(np.float32)).numpy()[0, ..., 0]


class OnnxTeacher:
    """u2netp / isnet through onnxruntime with the pre-processing of their original tools."""

    def __init__(self, which: str, threads: int = 1):
        import onnxruntime as ort

        path = TEACHERS / f"{which}.onnx"
        if not path.exists():
            raise SystemExit(f"error: {path} missing; run ../shared/teachers/get-teachers.sh")
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        self.which, self.name = which, which
        self.size = 1024 if which == "isnet" else 320

    def __call__(self, rgb):
        x = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        if self.which == "isnet":
            x = (x - 128.0) / 256.0
        else:
            x = x / max(float(x.max()), 1e-6)
            x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        y = self.sess.run(None, {self.input: x.transpose(2, 0, 1)[None].astype(np.float32)})[0][0, 0]
        if self.which == "u2netp":
            y = (y - y.min()) / max(float(y.max() - y.min()), 1e-6)
        return y.astype(np.float32)


def through_matte(
    rgb: np.ndarray, prob: np.ndarray, cfg=None, see_through: tuple[float, float] | None = None
) -> np.ndarray:
    """The alpha a capture gets: `prob` refined by the device's matte stage (guided by the
    photo at full resolution), float 0..1 at the photo's size; `see_through` as in Mask."""
    from device.config import MatteConfig
    from device.matte import refine
    from device.types import Frame, Mask

    frame = Frame(id="eval", image=rgb, timestamp=0.0, source="evaluate")
    mask = Mask(frame=frame, prob=prob, model="eval", backend="cpu", see_through=see_through)
    return refine(mask, cfg or MatteConfig()).full_alpha()


class WithMatte:
    """A model followed by the device's matte stage (spec suffix `+matte`)."""

    def __init__(self, model):
        from device.config import MatteConfig

        self.model, self.cfg = model, MatteConfig()
        self.name = f"{model.name} + matte"

    def __call__(self, rgb):
        return through_matte(rgb, self.model(rgb), self.cfg)


def load_model(spec: str, threads: int = 1):
    if spec.endswith("+matte"):
        return WithMatte(load_model(spec[: -len("+matte")], threads))
    if spec in ("u2netp", "isnet"):
        return OnnxTeacher(spec, threads)
    p = Path(spec)
    if not p.exists():
        raise SystemExit(f"error: model {spec} not found (a .tflite, a *.weights.h5, u2netp or isnet)")
    if p.suffix == ".tflite":
        return TFLiteModel(p, threads)
    if p.name.endswith(".weights.h5"):
        return KerasModel(p, threads)
    raise SystemExit(f"error: unknown model kind {spec}")


# ---------------------------------------------------------------- metrics
def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0


def boundary_f(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> float:
    """F-measure of boundary pixels matched within 0.75 % of the image diagonal (DAVIS F)."""
    tol = max(1, int(round(0.0075 * np.hypot(*gt.shape))))
    bp, bg = _boundary(pred) & valid, _boundary(gt) & valid
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tol + 1, 2 * tol + 1))
    near_g = cv2.dilate(bg.astype(np.uint8), k) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), k) > 0
    precision, recall = (bp & near_g).sum() / bp.sum(), (bg & near_p).sum() / bg.sum()
    return float(2 * precision * recall / max(precision + recall, 1e-9))


def _grad_mag(a: np.ndarray) -> np.ndarray:
    a = cv2.GaussianBlur(a, (0, 0), 1.4)
    return np.hypot(cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1))


def score(prob: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict:
    """Per-image metrics at ground-truth resolution (prob, gt float 0..1)."""
    if prob.shape != gt.shape:
        prob = cv2.resize(prob, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
    prob = np.clip(prob, 0, 1)
    p, g = (prob >= 0.5) & valid, (gt >= 0.5) & valid
    union = (p | g).sum()
    err = np.abs(prob - gt)[valid]
    gerr = ((_grad_mag(prob) - _grad_mag(gt)) ** 2)[valid]
    true_area = max(int(g.sum()), 1)
    return {
        "iou": float((p & g).sum() / union) if union else 1.0,
        # which way IoU is lost: foreground called where there is none / foreground missed, as
        # fractions of the true foreground area
        "false_fg": float((p & ~g).sum() / true_area),
        "missed": float((g & ~p).sum() / true_area),
        "mae": float(err.mean()),
        "sad": float(err.sum() / 1000.0),
        "grad": float(gerr.sum() / 1000.0),
        "boundary_f": boundary_f(prob >= 0.5, gt >= 0.5, valid),
        "true_px": int(g.sum()),
    }


SCORE_KEYS = ("iou", "mae", "sad", "grad", "boundary_f", "false_fg", "missed")  # the table's columns


def mean_scores(rows: list[dict], keys: tuple[str, ...]) -> dict:
    """Means over images; false fg and missed pooled over the true area of all of them, so
    an image whose reference is (nearly) empty does not swamp the figure."""
    # score() divides by max(true_px, 1): weighting by the same gives sum(false px) / sum(true px)
    true = [max(r["true_px"], 1) for r in rows]
    return {
        k: float(np.average([r[k] for r in rows], weights=true if k in ("false_fg", "missed") else None)) for k in keys
    }


# ---------------------------------------------------------------- run
def _cache_dir(model_name: str, data: Path) -> Path:
    tag = hashlib.sha256(str(Path(data).resolve()).encode()).hexdigest()[:10]
    return TEACHERS / "preds" / model_name / tag


def evaluate(
    data: Path,
    model_spec: str,
    split: Path | None = None,
    ignore: int | None = None,
    limit: int | None = None,
    threads: int = 1,
    progress: bool = True,
    use_cache: bool = True,
    model=None,
) -> dict:
    """Run one model over one set; returns means, latency and per-image rows.

    Teacher predictions (and the ms they took) are cached; `use_cache=False` recomputes,
    e.g. to time a teacher on a quiet machine.
    """
    samples = list_samples(data, split)
    if limit and limit < len(samples):  # evenly spaced, so a subset spans every category
        samples = [samples[int(i * len(samples) / limit)] for i in range(limit)]
    model = model or load_model(model_spec, threads)
    cache = _cache_dir(model.name, data) if isinstance(model, OnnxTeacher) and use_cache else None
    times_path = cache / "ms.json" if cache else None
    cached_ms = json.loads(times_path.read_text()) if times_path and times_path.exists() else {}
    rows, ms = [], []
    for i, (name, img_path, gt_path) in enumerate(samples):
        rgb = read_rgb(img_path)
        gt, valid = read_gt(gt_path, ignore)
        hit = cache / f"{name}.png" if cache else None
        if hit is not None and hit.exists() and name in cached_ms:
            prob = cv2.imread(str(hit), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535.0
            ms.append(cached_ms[name])
        else:
            if i == 0:
                model(rgb)  # warm-up outside the timing
            t0 = time.perf_counter()
            prob = model(rgb)
            ms.append((time.perf_counter() - t0) * 1000)
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(hit), (np.clip(prob, 0, 1) * 65535).astype(np.uint16))
                cached_ms[name] = ms[-1]
                times_path.write_text(json.dumps(cached_ms))
        rows.append({"name": name, **score(prob, gt, valid)})
        if progress and (i + 1) % 25 == 0:
            print(f"  {model.name}: {i + 1}/{len(samples)}", file=sys.stderr, flush=True)
    return {
        "model": model.name,
        "data": str(data),
        "split": str(split) if split else None,
        "images": len(rows),
        **mean_scores(rows, SCORE_KEYS),
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p95": float(np.percentile(ms, 95)),
        "threads": threads,
        "per_image": rows,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| model | images | IoU | MAE | SAD | grad | boundary F | false fg | missed | ms p50 | ms p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['images']} | {r['iou']:.4f} | {r['mae']:.4f} | {r['sad']:.2f} | "
            f"{r['grad']:.2f} | {r['boundary_f']:.4f} | {r['false_fg']:.3f} | {r['missed']:.3f} | "
            f"{r['ms_p50']:.1f} | {r['ms_p95']:.1f} |"
        )
    return "\n".join(lines)


def paired_difference(base: dict, other: dict, reps: int = 5000, seed: int = 0) -> dict:
    """Mean per-image IoU of `other` minus `base`, with a 95 % paired bootstrap interval.

    On a few hundred images a handful of scenes called wholly foreground or not moves the mean
    by points; the interval says whether a gap is more than which images the set happens to hold."""
    a = {r["name"]: r["iou"] for r in base["per_image"]}
    b = {r["name"]: r["iou"] for r in other["per_image"]}
    if a.keys() != b.keys():
        raise ValueError(f"{base['model']} and {other['model']} were scored on different images")
    d = np.array([b[n] - a[n] for n in sorted(a)])
    means = d[np.random.default_rng(seed).integers(0, len(d), (reps, len(d)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"against": base["model"], "diff": float(d.mean()), "low": float(low), "high": float(high)}


def with_differences(results: list[dict]) -> list[dict]:
    """Each result after the first, with its `paired_difference` from the first (`iou_vs_first`)
    when both ran on the same images."""
    first = {row["name"] for row in results[0]["per_image"]}
    for r in results[1:]:
        if {row["name"] for row in r["per_image"]} == first:
            r["iou_vs_first"] = paired_difference(results[0], r)
    return results


def differences(results: list[dict]) -> str:
    """Lines for the models that carry `iou_vs_first` (those scored on the first one's images)."""
    lines = [f"IoU against {results[0]['model']}, 95 % paired bootstrap interval over the images:"]
    for r in results[1:]:
        if d := r.get("iou_vs_first"):
            lines.append(f"- {r['model']}: {d['diff']:+.4f} ({d['low']:+.4f} .. {d['high']:+.4f})")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--model", action="append", required=True, help="repeat to compare models")
    ap.add_argument("--split", type=Path, help="list of photo paths/stems to keep (distill layout)")
    ap.add_argument("--ignore", type=int, help="ground-truth value to leave out (e.g. 128)")
    ap.add_argument("--limit", type=int, help="N evenly spaced images only")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print JSON (with per-image rows)")
    args = ap.parse_args(argv)
    results = [evaluate(args.data, m, args.split, args.ignore, args.limit, args.threads) for m in args.model]
    with_differences(results)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(table(results) + ("\n\n" + differences(results) if len(results) > 1 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
