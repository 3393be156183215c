"""`cutbox bench`: whole frame to catalog JPEG, per stage, on a known number of cores.

The standard profile is a 2304x1296 RGB camera frame (a bundled sample photo fitted into it)
through the `marketplace-white` preset (2000x2000 JPEG on white + 8-bit mask). The process is
pinned to `threads` cores (sched_setaffinity) and OpenCV and LiteRT get the same thread
count, so `--threads 1` really measures one core. The budget on one core of the development
machine is total p95 <= 50 ms, standing in for the Pi's 200 ms (its cores are slower).

`--plate` times booth mode against generic mode on one booth-like frame: the
sample's product cut out once and laid on a flat backdrop, with a clean plate of that backdrop
(a plate only fits a frame whose backdrop it shows; the sample's carpet is not in any plate).
Both runs use that frame, the plate run through the plate-aware model with booth.shadow as
configured, and the ratio of the two is printed.
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.config import CutboxConfig
from device.types import Frame

FRAME_SIZE = (2304, 1296)
BUDGET_P95_MS = 50.0
SAMPLE = Path(__file__).resolve().parent / "samples" / "purple-tshirt.jpg"
STAGE_ORDER = ("source", "segment", "matte", "compose", "export")
MODES = ("generic", "plate")
PLATE_RATIO_TARGET = 1.20  # target: plate mode costs <= 20 % more per frame than generic
# What the bench "camera" reports with every frame; the bench plate was taken with the same,
# so the plate's settings check runs (and passes) as it does on a locked booth camera.
BENCH_CAMERA = {"exposure_us": 8000.0, "gain": 1.0, "wb_gains": [1.9, 1.6]}
# Sensor noise (grey levels, seeded) on the booth frame and, drawn apart, on its plate: a real
# plate never matches a frame pixel for pixel, and the fit check must pass anyway.
BOOTH_NOISE_SIGMA = 1.5
BOOTH_SEED = 5


def machine() -> dict:
    """CPU model and core counts, so a figure always says where it was measured."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return {
        "cpu": model,
        "cores": os.cpu_count() or 1,
        "usable_cores": usable,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def pin_threads(threads: int) -> list[int]:
    """Restrict this process to `threads` cores and OpenCV to as many threads; returns the cores."""
    import cv2

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cores:
        chosen = cores[:threads]
        os.sched_setaffinity(0, chosen)
    else:  # pragma: no cover
        chosen = []
    cv2.setNumThreads(threads)
    return chosen


def _fitted_sample(sample: Path, size: tuple[int, int]) -> tuple[np.ndarray, list[int] | None]:
    """The sample scaled to the frame height, and its border colour (None when it fills the width)."""
    import cv2

    from device.sources.decode import decode_image

    img = decode_image(sample)
    scale = size[1] / img.shape[0]
    fitted = cv2.resize(img, (max(1, round(img.shape[1] * scale)), size[1]), interpolation=cv2.INTER_CUBIC)
    if fitted.shape[1] >= size[0]:
        return fitted, None
    border = np.concatenate([fitted[:, :8].reshape(-1, 3), fitted[:, -8:].reshape(-1, 3)])
    return fitted, [int(v) for v in np.median(border, axis=0)]


def bench_frame(sample: Path = SAMPLE, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A camera-sized RGB frame: the sample photo fitted to the height and centred on a plain
    backdrop of its own border colour, so the frame holds one product as a booth shot does."""
    import cv2

    fitted, backdrop = _fitted_sample(sample, size)
    w = size[0]
    if backdrop is None:
        x0 = (fitted.shape[1] - w) // 2
        return np.ascontiguousarray(fitted[:, x0 : x0 + w])
    left = (w - fitted.shape[1]) // 2
    return cv2.copyMakeBorder(fitted, 0, 0, left, w - fitted.shape[1] - left, cv2.BORDER_CONSTANT, value=backdrop)


@dataclass(frozen=True)
class BenchScene:
    """What the bench camera sees: the frame and, for booth mode, the empty booth behind it."""

    name: str  # "standard" or "booth"
    image: np.ndarray  # HxWx3 uint8 RGB camera frame
    plate: np.ndarray | None = None  # HxWx3 uint8 RGB clean plate (booth scene only)


def booth_scene(
    cfg: CutboxConfig,
    sample: Path = SAMPLE,
    size: tuple[int, int] = FRAME_SIZE,
    noise: float = BOOTH_NOISE_SIGMA,
    seed: int = BOOTH_SEED,
) -> BenchScene:
    """The sample's product in a booth: `bench_frame`'s product (on carpet) cut out once by the
    generic pipeline (alpha and decontaminated foreground, largest blob only) and laid on the
    flat backdrop colour, frame = a F + (1 - a) backdrop; the plate is that backdrop. Each gets
    its own seeded sensor noise. A plate of the flat backdrop does not fit the carpet frame:
    the plate model rightly calls the carpet foreground, and the bench would time that instead."""
    import cv2

    from device.pipeline import Pipeline

    _, backdrop = _fitted_sample(sample, size)
    if backdrop is None:
        raise ValueError(f"{sample.name} fills the {size[0]}x{size[1]} frame: no backdrop to make a plate of")
    camera = bench_frame(sample, size)
    generic = cfg.model_copy(update={"booth": cfg.booth.model_copy(update={"enabled": False})})
    pipeline = Pipeline(generic)
    try:
        matte = pipeline.matte(Frame(id="bench-cutout", image=camera, timestamp=0.0, source="bench:synthetic"))
    finally:
        pipeline.close()
    x0, y0, x1, y1 = box = matte.extent  # alpha is 0 outside it: work there only (and keep RSS down)
    alpha = matte.alpha_in(box)
    n, labels, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).astype(np.uint8), connectivity=8)
    if n > 2:  # one product: stray bits of carpet the model kept are not part of it
        alpha[labels != 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))] = 0.0
    flat = np.asarray(backdrop, np.float32)
    a = alpha[..., None]
    roi = a * matte.foreground_in(box).astype(np.float32) + (1.0 - a) * flat
    image = np.empty_like(camera)
    image[:] = np.asarray(backdrop, np.uint8)
    image[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)
    del roi, a, alpha, labels
    plate = np.empty_like(camera)
    plate[:] = np.asarray(backdrop, np.uint8)
    rng = np.random.default_rng(seed)
    return BenchScene("booth", _sensor_noise(image, rng, noise), _sensor_noise(plate, rng, noise))


def _sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: float, rows: int = 128) -> np.ndarray:
    """`image` with Gaussian noise of `sigma` grey levels added in place, a band of rows at a time."""
    if sigma <= 0:
        return image
    for r in range(0, image.shape[0], rows):
        band = image[r : r + rows].astype(np.float32)
        band += rng.standard_normal(band.shape, dtype=np.float32) * np.float32(sigma)
        band += 0.5
        np.clip(band, 0, 255, out=band)
        image[r : r + rows] = band.astype(np.uint8)
    return image


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 2)


def _with_threads(cfg: CutboxConfig, threads: int) -> CutboxConfig:
    """`cfg` with the model at the bench's thread count."""
    return cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"threads": threads})})


def _bench_config(
    cfg: CutboxConfig, threads: int, mode: str, data_dir: Path, plate_image: np.ndarray | None
) -> CutboxConfig:
    """`cfg` at the bench's thread count, booth mode off for "generic" (a station's own plate
    must not leak in) and on for "plate", with `plate_image` stored as the clean plate in the
    scratch `data_dir` the way `cutbox calibrate` stores one."""
    cfg = _with_threads(cfg, threads)
    update = {"booth": cfg.booth.model_copy(update={"enabled": mode == "plate"})}
    if mode == "plate":
        from device.booth.plate import Plate, camera_settings, plate_dir

        plate = Plate(
            image=plate_image,
            settings=camera_settings(BENCH_CAMERA),
            created=time.time(),
            n_frames=1,
            method="median",
            source="bench:synthetic",
        )
        plate.save(plate_dir(data_dir))
        update["station"] = cfg.station.model_copy(update={"data_dir": data_dir})
    return cfg.model_copy(update=update)


def run_bench(
    cfg: CutboxConfig,
    threads: int = 1,
    frames: int = 50,
    warmup: int = 3,
    preset: str = "marketplace-white",
    mode: str = "generic",
    scene: BenchScene | None = None,
) -> dict:
    """Time `frames` frames through the pipeline in `mode` ("generic" or "plate"); returns the
    report dict (JSON-ready). Every frame must have run in that mode, else RuntimeError with
    the segmenter's reason: a plate bench that silently fell back would time the wrong model.

    `scene` defaults to the standard frame in generic mode and the booth scene in plate mode
    (a plate needs its own backdrop in the frame); a booth scene's report also says which
    frame it timed, the crop box and, in plate mode, whether the shadow layer was on."""
    from device.pipeline import Pipeline

    if mode not in MODES:
        raise ValueError(f"bench mode must be one of {', '.join(MODES)}, got {mode!r}")
    cores = pin_threads(threads)
    if scene is None:
        scene = booth_scene(_with_threads(cfg, threads)) if mode == "plate" else BenchScene("standard", bench_frame())
    if mode == "plate" and scene.plate is None:
        raise ValueError(f"plate mode needs a scene with a plate, the {scene.name} scene has none")
    with tempfile.TemporaryDirectory(prefix="cutbox-bench-") as data_dir:
        bench_cfg = _bench_config(cfg, threads, mode, Path(data_dir), scene.plate)
        pipeline = Pipeline(bench_cfg)
        try:
            pipeline.preset_config(preset)
            camera = scene.image
            per_stage: dict[str, list[float]] = {s: [] for s in (*STAGE_ORDER, "total")}
            wall: list[float] = []
            for i in range(warmup + frames):
                t0 = time.perf_counter()
                image = camera.copy()  # the camera handing over a fresh buffer
                read_ms = (time.perf_counter() - t0) * 1000.0
                info = {"read_ms": read_ms, **BENCH_CAMERA}
                frame = Frame(id=f"bench-{i}", image=image, timestamp=time.time(), source="bench:synthetic", info=info)
                capture = pipeline.process(frame, preset=preset)
                jpeg_ready = time.perf_counter()
                capture.complete()
                ran = capture.meta.get("segment_mode", "generic")
                if ran != mode:
                    raise RuntimeError(
                        f"{mode} mode did not run: frame {frame.id} was cut out in {ran} mode "
                        f"({capture.meta.get('plate_fit', 'no reason given')})"
                    )
                if i < warmup:
                    continue
                wall.append((jpeg_ready - t0) * 1000.0)
                for s in per_stage:
                    per_stage[s].append(float(capture.timings_ms.get(s, 0.0)))
            jpeg = capture.artifact("jpeg")
            seg = pipeline.segmenter
            runner = seg.plate_model if mode == "plate" else seg  # BoothSegmenter answers with the generic model's card
            out_size = None
            if jpeg is not None:
                import cv2

                decoded = cv2.imdecode(np.frombuffer(jpeg.data, np.uint8), cv2.IMREAD_UNCHANGED)
                out_size = [int(decoded.shape[1]), int(decoded.shape[0])] if decoded is not None else None
        finally:
            pipeline.close()
    stages = {
        s: {"p50_ms": _pct(v, 50), "p95_ms": _pct(v, 95), "mean_ms": round(float(np.mean(v)), 2)}
        for s, v in per_stage.items()
        if s != "total"
    }
    total_p95 = _pct(per_stage["total"], 95)
    report = {
        "mode": mode,
        "stages": stages,
        "total_p50_ms": _pct(per_stage["total"], 50),
        "total_p95_ms": total_p95,
        "wall_p95_ms": _pct(wall, 95),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "frames": frames,
        "threads": threads,
        "pinned_cores": cores,
        "input": f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]} RGB",
        "preset": preset,
        "output": {"jpeg_size": out_size, "artifacts": [a.name for a in capture.artifacts]},
        "model": getattr(getattr(runner, "card", None), "label", type(runner).__name__),
        "backend": getattr(runner, "backend", "unknown"),
        "machine": machine(),
        "budget_p95_ms": BUDGET_P95_MS,
        "within_budget": total_p95 <= BUDGET_P95_MS,
    }
    if scene.name != "standard":  # the standard report's keys stay as they were
        report["frame"] = scene.name
        report["box"] = [int(v) for v in capture.meta["box"]]
    if mode == "plate":
        report["plate_fit"] = capture.meta.get("plate_fit", "")
        # BoothSegmenter.add_shadow runs on plate-mode frames (every one, checked above) whose
        # plate has the frame's size
        report["shadow"] = bool(bench_cfg.booth.shadow and scene.plate.shape == camera.shape)
    return report


def run_plate_compare(
    cfg: CutboxConfig, threads: int = 1, frames: int = 50, warmup: int = 3, preset: str = "marketplace-white"
) -> dict:
    """Generic then plate mode in one process on the same booth scene, and the plate/generic
    p50 ratios that PLATE_RATIO_TARGET bounds (peak RSS is the process's, so the plate report's
    includes the generic run and the cut-out that made the scene)."""
    pin_threads(threads)
    scene = booth_scene(_with_threads(cfg, threads))
    generic = run_bench(cfg, threads, frames, warmup, preset, mode="generic", scene=scene)
    plate = run_bench(cfg, threads, frames, warmup, preset, mode="plate", scene=scene)
    return {
        "generic": generic,
        "plate": plate,
        "segment_ratio": round(plate["stages"]["segment"]["p50_ms"] / generic["stages"]["segment"]["p50_ms"], 3),
        "total_ratio": round(plate["total_p50_ms"] / generic["total_p50_ms"], 3),
        "target_ratio": PLATE_RATIO_TARGET,
    }


def format_table(r: dict) -> str:
    """The report as a small fixed-width table."""
    m = r["machine"]
    lines = [
        f"cutbox bench ({r['mode']} mode): {r['input']} -> {r['preset']} {r['output']['jpeg_size']} ({', '.join(r['output']['artifacts'])}), "
        f"{r['frames']} frames, {r['threads']} thread(s)",
        f"machine: {m['cpu']}, {m['cores']} cores ({r['threads']} pinned: {r['pinned_cores']}); model {r['model']} on {r['backend']}",
        "",
        f"{'stage':<10}{'p50 ms':>10}{'p95 ms':>10}",
    ]
    for s, v in r["stages"].items():
        lines.append(f"{s:<10}{v['p50_ms']:>10.1f}{v['p95_ms']:>10.1f}")
    lines.append(f"{'total':<10}{r['total_p50_ms']:>10.1f}{r['total_p95_ms']:>10.1f}")
    lines.append("")
    lines.append(f"peak RSS: {r['peak_rss_mb']:.0f} MB")
    verdict = "within" if r["within_budget"] else "OVER"
    lines.append(
        f"budget: total p95 <= {r['budget_p95_ms']:.0f} ms on one core: {verdict} ({r['total_p95_ms']:.1f} ms)"
    )
    if "frame" in r:
        x0, y0, x1, y1 = r["box"]
        lines.append(f"frame: {r['frame']}, crop box {x1 - x0}x{y1 - y0} at ({x0}, {y0})")
    if r.get("plate_fit"):
        lines.append(f"plate: {r['plate_fit']}; cast-shadow layer (booth.shadow) {'on' if r.get('shadow') else 'off'}")
    return "\n".join(lines)


def format_compare(c: dict) -> str:
    """Both tables and the plate/generic ratio line."""
    return "\n\n".join(
        [
            format_table(c["generic"]),
            format_table(c["plate"]),
            f"plate/generic segment p50 ratio: {c['segment_ratio']:.2f}x, total p50 ratio: {c['total_ratio']:.2f}x "
            f"(target <= {c['target_ratio']:.2f}x)",
        ]
    )
