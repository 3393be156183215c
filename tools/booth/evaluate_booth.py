"""Score plate mode vs generic mode vs U2-Net-p on the booth set, and time plate vs generic mode.

    python -m tools.booth.evaluate_booth quality   # training venv (onnxruntime for U2-Net-p)
    python -m tools.booth.evaluate_booth bench     # device venv (times the device code itself)

`quality`: IoU, SAD, MAE and boundary F (tools/evaluate.py's metrics, at the set's
resolution) of the plate model (frame + plate), the generic student (frame only), both
again after the device's matte stage (the alpha a capture actually gets), U2-Net-p
(frame only) and plain difference keying (|frame - plate| > threshold, no model), overall
and per hard case (white on white first); plus the shadow layer against its exact ground
truth. `bench`: p50 time of the whole segment step on a 2304x1296 frame, generic
(LiteRTSegmenter) vs plate mode (BoothSegmenter: fit check + plate model), one thread.
Both write into models/cutbox-booth-int8.json and re-render the .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from tools.booth import card as booth_card
from tools.booth.make_booth_set import DEFAULT_OUT
from tools.evaluate import read_rgb

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
BOOTH_MODEL = MODELS / f"{booth_card.NAME}.tflite"
GENERIC_MODEL = MODELS / "cutbox-student-int8.tflite"


def read_gray(path: Path) -> np.ndarray:
    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if g is None:
        raise SystemExit(f"error: cannot read {path}")
    return g.astype(np.float32) / 255.0


class PlateTFLite:
    """The plate model through LiteRT (frame + plate stretched to the input, 6 uint8 channels)."""

    def __init__(self, path: Path, threads: int = 1):
        from tools.model.int8_check import Interpreter

        self.it = Interpreter(model_path=str(path), num_threads=threads)
        self.it.allocate_tensors()
        self.inp, self.out = self.it.get_input_details()[0], self.it.get_output_details()[0]
        self.h, self.w = int(self.inp["shape"][1]), int(self.inp["shape"][2])
        if int(self.inp["shape"][3]) != 6:
            raise SystemExit(f"error: {path} takes {self.inp['shape'][3]} channels, not RGB+plate")

    def __call__(self, rgb: np.ndarray, plate: np.ndarray) -> np.ndarray:
        x = np.concatenate(
            [
                cv2.resize(rgb, (self.w, self.h), interpolation=cv2.INTER_AREA),
                cv2.resize(plate, (self.w, self.h), interpolation=cv2.INTER_AREA),
            ],
            axis=2,
        )
        self.it.set_tensor(self.inp["index"], x[None])
        self.it.invoke()
        q = self.it.get_tensor(self.out["index"])[0, ..., 0]
        scale, zero = self.out["quantization"]
        return (q.astype(np.float32) - zero) * scale


def difference_key(rgb: np.ndarray, plate: np.ndarray, t: float = 0.06) -> np.ndarray:
    """No model: foreground where the frame differs from the exposure-matched plate by more than t."""
    f, p = rgb.astype(np.float32) / 255, plate.astype(np.float32) / 255
    f = cv2.GaussianBlur(f, (0, 0), 1.0)
    gain = np.median(f.mean(axis=2)) / max(np.median(p.mean(axis=2)), 1e-3)
    d = np.abs(f - p * gain).max(axis=2)
    return np.clip((d - t / 2) / t, 0, 1).astype(np.float32)


class CachedTeacher:
    """U2-Net-p or IS-Net on the frame (tools/evaluate.py's loaders and pre-processing),
    predictions cached on disk: they cost seconds per image on this shared CPU and the set
    is fixed for a seed."""

    def __init__(self, root: Path, which: str = "u2netp"):
        self.which = which
        self.cache = root / f"preds-{which}"
        self.cache.mkdir(exist_ok=True)
        self.model = None

    def _key(self, rgb: np.ndarray) -> Path:
        import hashlib

        return self.cache / (hashlib.sha256(rgb.tobytes()).hexdigest()[:16] + ".npz")

    def cached(self, rgb: np.ndarray) -> bool:
        return self._key(rgb).exists()

    def __call__(self, rgb: np.ndarray, plate: np.ndarray) -> np.ndarray:
        key = self._key(rgb)
        if key.exists():
            z = np.load(key)
            self.last_ms = float(z["ms"])
            return z["y"].astype(np.float32)
        if self.model is None:
            from tools import evaluate as ev

            self.model = ev.OnnxTeacher(self.which, 1)
        t0 = time.perf_counter()
        y = self.model(rgb)
        self.last_ms = (time.perf_counter() - t0) * 1000
        np.savez(key, y=y.astype(np.float16), ms=self.last_ms)
        return y


class DeviceBooth:
    """Booth mode as a capture runs it: device.booth's BoothSegmenter with the image's own
    plate, so the plate fit checks decide per frame between the plate model and the generic
    one. `modes` counts which ran."""

    def __init__(self, booth_path: Path, generic_path: Path):
        from device.booth.segmenter import BoothSegmenter, PlateModel
        from device.config import BoothConfig
        from device.segment.litert import LiteRTSegmenter

        self.seg = BoothSegmenter(
            LiteRTSegmenter(generic_path, threads=1, delegate="cpu"),
            PlateModel(booth_path, threads=1, delegate="cpu"),
            None,
            BoothConfig(),
        )
        self.modes: dict[str, int] = {}
        self.reasons: list[str] = []

    def __call__(self, rgb: np.ndarray, plate: np.ndarray) -> np.ndarray:
        from device.booth.plate import Plate
        from device.types import Frame

        self.seg.set_plate(Plate(image=plate, settings={}, created=0.0, n_frames=8, method="median"))
        frame = Frame(id="booth-eval", image=rgb, timestamp=0.0, source="evaluate_booth")
        prob = self.seg.segment(frame).prob
        mode = frame.info.get("segment_mode", "?")
        self.modes[mode] = self.modes.get(mode, 0) + 1
        if mode != "plate":
            self.reasons.append(frame.info.get("plate_fit", ""))
        return prob


def matte_rows(runner_key: str) -> dict[str, tuple[float, float] | None]:
    """The rows of a model's after-the-matte scores, each with the Mask.see_through it runs
    with: "generic mode + matte"; "plate mode + matte" and, with booth.see_through's default
    range, "plate mode + matte, see-through". None of them for runners that skip the
    matte (teachers, difference keying, the device row)."""
    from device.config import BoothConfig

    mode = runner_key.split(" (")[0]
    if mode == "generic mode":
        return {"generic mode + matte": None}
    if mode == "plate mode":
        return {"plate mode + matte": None, "plate mode + matte, see-through": BoothConfig().see_through_range}
    return {}


def subsets_of(images: list[dict]) -> dict[str, set[str]]:
    """Subset name -> image names: all, each hard case, compact (every case but thin) and edge."""
    subs: dict[str, set[str]] = {"all": {im["name"] for im in images}}
    for case in dict.fromkeys(im["case"] for im in images):
        subs[case] = {im["name"] for im in images if im["case"] == case}
    if "thin" in subs:
        subs["compact"] = {im["name"] for im in images if im["case"] != "thin"}
    edge = {im["name"] for im in images if im.get("edge")}
    if edge:
        subs["edge"] = edge
    return subs


def _card_version(path: Path) -> str:
    card = path.with_suffix(".json")
    return json.loads(card.read_text()).get("version", "?") if card.exists() else "?"


def make_runners(args, root: Path, images: list[dict]) -> tuple[dict, dict[str, set[str]]]:
    """Name -> callable(rgb, plate) -> prob, and the images each runs on (all, unless limited)."""
    from tools import evaluate as ev

    runners, only = {}, {}
    booth_path, gen_path = Path(args.booth).expanduser(), Path(args.generic).expanduser()
    if booth_path.exists():
        pm = PlateTFLite(booth_path)
        runners[f"plate mode (cutbox-booth-int8 {_card_version(booth_path)})"] = lambda rgb, plate: pm(rgb, plate)
    if gen_path.exists():
        gm = ev.TFLiteModel(gen_path)
        runners[f"generic mode ({gen_path.stem} {_card_version(gen_path)})"] = lambda rgb, plate: gm(rgb)
    if booth_path.exists() and gen_path.exists():
        runners["booth mode, device (plate while it fits, else generic)"] = DeviceBooth(booth_path, gen_path)
    runners["difference keying (no model)"] = difference_key
    teachers = [] if args.no_u2netp else [("u2netp", "U2-Net-p (rembg teacher, frame only)", None)]
    if args.isnet_limit != 0:
        isnet_n = None if args.isnet_limit < 0 else args.isnet_limit
        teachers.append(("isnet", "IS-Net (teacher that made the labels, frame only)", isnet_n))
    for which, label, limit in teachers:
        t = CachedTeacher(root, which)
        chosen = images
        if limit and limit < len(images):  # evenly spaced, so every hard case is in
            chosen = [images[int(i)] for i in np.linspace(0, len(images) - 1, limit)]
            label = f"{label}, {limit} evenly spaced images"
            only[label] = {im["name"] for im in chosen}
        if args.u2netp_cached_only and which == "u2netp":
            missing = [im["name"] for im in chosen if not t.cached(read_rgb(root / "img" / f"{im['name']}.png"))]
            if missing:
                raise SystemExit(
                    f"error: {len(missing)} U2-Net-p predictions not cached (e.g. {missing[0]}); "
                    "drop --u2netp-cached-only to compute them (seconds per image) or use --no-u2netp"
                )
        runners[label] = t
    return runners, only


def score_all(root: Path, images: list[dict], runners: dict, only: dict) -> tuple[dict, dict]:
    """Per-runner per-image scores (with the after-the-matte rows), and the shadow layer's errors."""
    from device.booth.shadow import estimate_shadow
    from device.config import MatteConfig
    from tools import evaluate as ev

    matte_cfg = MatteConfig()
    matted = {k: matte_rows(k) for k in runners}  # once: the rows do not change per image
    per: dict[str, list[dict]] = {}
    for k in runners:
        per[k] = []
        per.update({row: [] for row in matted[k]})
    shadow_err = {"gt": [], "plate": [], "gt_mean": [], "est_mean": []}
    plate_key = next((k for k in runners if k.startswith("plate mode")), None)
    for n_done, im in enumerate(images):
        name = im["name"]
        rgb, plate = read_rgb(root / "img" / f"{name}.png"), read_rgb(root / "plate" / f"{name}.png")
        gt = read_gray(root / "gt" / f"{name}.png")
        valid = np.ones(gt.shape, bool)
        for key, run in runners.items():
            if key in only and name not in only[key]:
                continue
            t0 = time.perf_counter()
            prob = run(rgb, plate)
            ms = getattr(run, "last_ms", (time.perf_counter() - t0) * 1000)  # cached teachers: their first run's time
            s = ev.score(prob, gt, valid)
            s.update(name=name, ms=ms)
            per[key].append(s)
            for row, see_through in matted[key].items():
                t0 = time.perf_counter()
                s = ev.score(ev.through_matte(rgb, prob, matte_cfg, see_through), gt, valid)
                s.update(name=name, ms=ms + (time.perf_counter() - t0) * 1000)
                per[row].append(s)
            if key == plate_key:
                a_pred = cv2.resize(np.clip(prob, 0, 1), (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
                sh_gt = read_gray(root / "shadow" / f"{name}.png")
                est_gt = estimate_shadow(rgb, plate, gt)
                est_pr = estimate_shadow(rgb, plate, a_pred)
                shadow_err["gt"].append(float(np.abs(est_gt - sh_gt).mean()))
                shadow_err["plate"].append(float(np.abs(est_pr - sh_gt).mean()))
                m = sh_gt > 0.1
                if m.any():
                    shadow_err["gt_mean"].append(float(sh_gt[m].mean()))
                    shadow_err["est_mean"].append(float(est_gt[m].mean()))
        if (n_done + 1) % 10 == 0:
            print(f"  {n_done + 1}/{len(images)} images", file=sys.stderr, flush=True)
    return per, shadow_err


def summarise(per: dict, subs: dict[str, set[str]], base: str | None) -> tuple[dict, dict]:
    """Mean scores per subset, and each model's paired IoU difference from `base` (plate mode)
    with a 95 % bootstrap interval, on the images both ran on."""
    from tools import evaluate as ev

    subsets, paired = {}, {}
    for sub, names in subs.items():
        rows, diffs = [], []
        for key, scores in per.items():
            chosen = [s for s in scores if s["name"] in names]
            if not chosen:
                continue
            rows.append(
                {
                    "model": key,
                    "n": len(chosen),
                    **ev.mean_scores(chosen, ("iou", "sad", "mae", "boundary_f", "false_fg", "missed", "ms")),
                }
            )
            if base is not None and key != base:
                mine = {s["name"] for s in chosen}
                b = [s for s in per[base] if s["name"] in mine]
                if len(b) == len(chosen) and len(chosen) >= 2:
                    d = ev.paired_difference({"model": base, "per_image": b}, {"model": key, "per_image": chosen})
                    diffs.append({"model": key, "n": len(chosen), **{k: d[k] for k in ("diff", "low", "high")}})
        subsets[sub] = rows
        paired[sub] = diffs
    return subsets, paired


def targets(subsets: dict, paired: dict) -> dict[str, str]:
    """The issue's bar: plate mode above generic mode, U2-Net-p and difference keying on all
    images and on white on white (the whole 95 % interval above zero), IoU >= 0.97 on compact
    products and >= 0.93 on thin and open ones."""
    out = {}
    plate = {
        sub: next((r for r in rows if r["model"].startswith("plate mode (")), None) for sub, rows in subsets.items()
    }
    for sub in ("all", "white_on_white"):
        for d in paired.get(sub, []):
            if d["model"].startswith(("generic mode (", "U2-Net-p", "difference keying")):
                ok = d["high"] < 0  # the other model minus plate mode: below zero = plate mode ahead
                out[f"plate mode > {d['model'].split(' (')[0]} ({sub})"] = (
                    f"{-d['diff']:+.4f} ({-d['high']:+.4f} .. {-d['low']:+.4f}) -> {'met' if ok else 'NOT met'}"
                )
    for sub, floor in (("compact", 0.97), ("thin", 0.93)):
        if plate.get(sub):
            iou = plate[sub]["iou"]
            out[f"plate mode IoU >= {floor} ({sub})"] = f"{iou:.4f} -> {'met' if iou >= floor else 'NOT met'}"
    return out


def markdown(res: dict) -> str:
    """The result as the tables docs/booth.md and the card show."""
    from tools.booth.card import _table

    lines = [res["about"], ""]
    for sub, rows in res["subsets"].items():
        lines += [f"**{sub}**", "", _table(rows), ""]
        if res["paired"].get(sub):
            lines.append("IoU minus plate mode's, 95 % paired bootstrap interval over the same images:")
            lines += [
                f"- {d['model']}: {d['diff']:+.4f} ({d['low']:+.4f} .. {d['high']:+.4f}), n {d['n']}"
                for d in res["paired"][sub]
            ]
            lines.append("")
    if res.get("device_modes"):
        lines.append(f"Device booth mode ran: {res['device_modes']}")
    if res.get("targets"):
        lines += ["", "Targets: " + "; ".join(f"{k}: {v}" for k, v in res["targets"].items())]
    return "\n".join(lines) + "\n"


def quality(args) -> int:
    load = os.getloadavg()[0]
    root = Path(args.set).expanduser()
    manifest = json.loads((root / "manifest.json").read_text())
    images = manifest["images"]
    if args.limit and args.limit < len(images):  # evenly spaced, so every hard case is in
        images = [images[int(i)] for i in np.linspace(0, len(images) - 1, args.limit)]
    runners, only = make_runners(args, root, images)
    per, shadow_err = score_all(root, images, runners, only)
    base = next((k for k in runners if k.startswith("plate mode (")), None)
    subsets, paired = summarise(per, subsets_of(images), base)
    res = {
        "about": (
            f"{len(images)} booth composites ({manifest['size'][0]}x{manifest['size'][1]}) of "
            f"{manifest.get('products', 'held-out products (split ' + str(manifest['split']) + ')')}; "
            f"made by tools/booth/make_booth_set.py seed {manifest['seed']} from {manifest['split']}: "
            "synthetic sweeps with vignetting, cast shadows, exposure flicker +-4 %, camera shift <= 1 px, "
            "sensor noise; exact alpha and shadow ground truth. Metrics at set resolution; SAD in thousands; "
            "false fg / missed: foreground called where there is none / foreground missed, as fractions of "
            "the true foreground area (at alpha 0.5) of the subset's images together; "
            f"ms/img on 1 thread including resize (1-minute load average {load:.1f} on {os.cpu_count()} cores "
            "at the start; teachers' from the run that filled their cache). IS-Net made the products' labels, "
            "so its row is a ceiling, not a competitor."
        ),
        "subsets": subsets,
        "paired": paired,
    }
    device = next((r for r in runners.values() if isinstance(r, DeviceBooth)), None)
    if device is not None:
        res["device_modes"] = dict(device.modes)
        if device.reasons:
            res["device_fallback_reasons"] = sorted(set(device.reasons))[:10]
    if shadow_err["gt"]:
        res["shadow"] = {
            k: float(np.mean(v))
            for k, v in zip(
                ("mae_gt_alpha", "mae_plate_alpha", "gt_mean", "est_mean"), shadow_err.values(), strict=True
            )
        }
    if base is not None:
        res["targets"] = targets(subsets, paired)
    print(markdown(res))
    if args.json_out:
        Path(args.json_out).expanduser().write_text(json.dumps(res, indent=1) + "\n")
    if args.md_out:
        Path(args.md_out).expanduser().write_text(markdown(res))
    _update_card({"metrics": {root.name: res}}, Path(args.booth).expanduser().with_suffix(".json"))
    return 0


def bench(args) -> int:
    """Time generic vs plate mode through the device code on a full-size frame."""
    from device.booth.plate import Plate
    from device.booth.segmenter import BoothSegmenter, PlateModel
    from device.config import BoothConfig
    from device.segment.litert import LiteRTSegmenter
    from device.types import Frame

    cv2.setNumThreads(1)
    root = Path(args.set).expanduser()
    name = json.loads((root / "manifest.json").read_text())["images"][0]["name"]
    W, H = 2304, 1296
    big = lambda p: cv2.resize(read_rgb(p), (W, H), interpolation=cv2.INTER_CUBIC)  # noqa: E731
    image, plate_img = big(root / "img" / f"{name}.png"), big(root / "plate" / f"{name}.png")
    plate = Plate(image=plate_img, settings={}, created=time.time(), n_frames=8, method="median")
    generic = LiteRTSegmenter(args.generic, threads=1, delegate="cpu")
    booth = BoothSegmenter(generic, PlateModel(args.booth, threads=1, delegate="cpu"), plate, BoothConfig())

    def timed(seg, n):
        ms = []
        for i in range(n + 3):
            f = Frame(id=f"b{i}", image=image, timestamp=0.0, source="bench")
            t0 = time.perf_counter()
            seg.segment(f)
            if i >= 3:
                ms.append((time.perf_counter() - t0) * 1000)
        return f, ms

    res = {}
    for _rnd in range(args.rounds):  # interleave so both see the same CPU contention
        _, g = timed(generic, args.frames)
        f, p = timed(booth, args.frames)
        if f.info.get("segment_mode") != "plate":
            raise SystemExit(f"error: bench frame did not run in plate mode: {f.info.get('plate_fit')}")
        res.setdefault("g", []).extend(g)
        res.setdefault("p", []).extend(p)
    g50, p50 = float(np.percentile(res["g"], 50)), float(np.percentile(res["p"], 50))
    modes = {
        "frame": f"{W}x{H}",
        "threads": 1,
        "frames": len(res["g"]),
        "generic_ms_p50": round(g50, 2),
        "plate_ms_p50": round(p50, 2),
        "generic_ms_p95": round(float(np.percentile(res["g"], 95)), 2),
        "plate_ms_p95": round(float(np.percentile(res["p"], 95)), 2),
        "ratio": round(p50 / g50, 3),
        "note": "segment step only (resize to input, invoke, dequantise; in plate mode the plate fit checks before and after the model)",
    }
    print(json.dumps(modes, indent=1))
    if Path(args.booth).resolve() == BOOTH_MODEL.resolve():
        _update_card({"latency": {"modes": modes}})
    return 0


def _update_card(patch: dict, path: Path | None = None) -> None:
    """Merge into the card next to the evaluated model (default: the shipped one) and re-render its .md."""
    path = path or MODELS / f"{booth_card.NAME}.json"
    if not path.exists():
        print(f"note: {path} not written yet (train and export the booth model first); results printed only")
        return
    card = json.loads(path.read_text())
    for k, v in patch.items():
        card[k] = {**card.get(k, {}), **v}
    path.write_text(json.dumps(card, indent=1) + "\n")
    booth_card.write_md(card, path.with_suffix(".md"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--set", default=str(DEFAULT_OUT))
    q.add_argument("--booth", default=str(BOOTH_MODEL), help="plate model; the card next to it gets the table")
    q.add_argument("--generic", default=str(GENERIC_MODEL))
    q.add_argument("--json-out", help="also write the results here")
    q.add_argument("--u2netp-cached-only", action="store_true", help="fail instead of running U2-Net-p on a cache miss")
    q.add_argument("--md-out", help="also write the tables as markdown here")
    q.add_argument("--limit", type=int, help="N evenly spaced images only")
    q.add_argument("--no-u2netp", action="store_true")
    q.add_argument(
        "--isnet-limit",
        type=int,
        default=20,
        help="IS-Net on this many evenly spaced images (seconds each on a CPU; 0: leave it out; -1: all)",
    )
    b = sub.add_parser("bench")
    b.add_argument("--set", default=str(DEFAULT_OUT))
    b.add_argument("--generic", default=str(GENERIC_MODEL))
    b.add_argument("--booth", default=str(BOOTH_MODEL))
    b.add_argument("--frames", type=int, default=20)
    b.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    return quality(args) if args.cmd == "quality" else bench(args)


if __name__ == "__main__":
    raise SystemExit(main())
