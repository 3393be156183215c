"""`cutbox bench`: whole frame to finished files, per stage, on a known number of cores.

The standard profile is a 2304x1296 RGB camera frame (a bundled sample photo fitted into it)
through the `marketplace-white` preset (2000x2000 JPEG on white + 8-bit mask), or any other
preset, or all of them. The process is pinned to `threads` cores (sched_setaffinity) and
OpenCV and LiteRT get the same thread count, so `--threads 1` really measures one core.

Two clocks per frame, both started when the frame is in hand: "page ready" stops when the
pipeline returns (the critical artifacts exist: what the operator page shows) and "artifact
ready" when the last file is on disk, deferred encodes (RGBA PNG, WebP, TIFF) and the sidecar
included. A frame finishes before the next starts, so the deferred work is on the clock. A
second pass measures throughput the way a hot folder runs (the next frame starts while the
last one's deferred encodes finish). The budgets on one core of the development
machine, standing in for the Pi's 200 ms (its cores are slower): stage total p95 <= 50 ms,
artifact ready p95 <= 66 ms.

`--plate` times booth mode against generic mode on one booth-like frame: the
sample's product cut out once and laid on a flat backdrop, with a clean plate of that backdrop
(a plate only fits a frame whose backdrop it shows; the sample's carpet is not in any plate).
Both runs use that frame, the plate run through the plate-aware model with booth.shadow as
configured, and the ratio of the two is printed.
"""

from __future__ import annotations

import io
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.config import CutboxConfig
from device.types import Frame

FRAME_SIZE = (2304, 1296)
BUDGET_P95_MS = 50.0
ARTIFACT_BUDGET_P95_MS = 66.0  # one core of the development machine, frame to the last file written
SOURCES = ("camera", "file")
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "purple-tshirt.jpg"
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
    update: dict[str, Any] = {"booth": cfg.booth.model_copy(update={"enabled": mode == "plate"})}
    if mode == "plate":
        from device.booth.plate import Plate, camera_settings, plate_dir

        if plate_image is None:
            raise ValueError("plate mode needs a plate image")
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


def _camera_grab(scene: BenchScene) -> Callable[[int], Frame]:
    """Frames as a camera hands them over: a fresh copy of the scene's image each time."""

    def grab(i: int) -> Frame:
        t0 = time.perf_counter()
        image = scene.image.copy()
        info = {"read_ms": (time.perf_counter() - t0) * 1000.0, **BENCH_CAMERA}
        return Frame(id=f"bench-{i}", image=image, timestamp=time.time(), source="bench:synthetic", info=info)

    return grab


def _file_grab(scene: BenchScene, work_dir: Path, max_pixels: int) -> Callable[[int], Frame]:
    """Frames as a hot folder or `cutbox cutout` gets them: the scene saved once as a camera JPEG
    (quality 95) and decoded from the file for every frame, so the source stage is the decode."""
    import cv2

    from device.sources.files import read_frame

    path = work_dir / "bench-frame.jpg"
    bgr = cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise RuntimeError(f"cannot write the bench input file {path}")

    def grab(i: int) -> Frame:
        frame = read_frame(path, max_pixels, kind="bench-file")
        frame.info.update(BENCH_CAMERA)
        return frame

    return grab


@dataclass
class _Samples:
    """Per-frame figures of the timed frames, in ms."""

    stages: dict[str, list[float]]
    page: list[float]  # frame in hand -> `process` returned (critical artifacts made)
    artifact: list[float]  # frame in hand -> the last artifact file written (deferred encodes included)
    cpu: list[float]  # process CPU time over the same span (every thread)


def _check_mode(capture, frame_id: str, mode: str) -> None:
    ran = capture.meta.get("segment_mode", "generic")
    if ran != mode:
        raise RuntimeError(
            f"{mode} mode did not run: frame {frame_id} was cut out in {ran} mode "
            f"({capture.meta.get('plate_fit', 'no reason given')})"
        )


def _time_frames(pipeline, grab, preset: str, mode: str, warmup: int, frames: int, out_dir: Path):
    """Each frame through the pipeline and onto disk before the next starts; returns the samples,
    the last capture and the files it wrote."""
    from device.workflows.batch import write_capture

    samples = _Samples({s: [] for s in (*STAGE_ORDER, "total")}, [], [], [])
    for i in range(warmup + frames):
        c0, t0 = time.process_time(), time.perf_counter()
        frame = grab(i)
        capture = pipeline.process(frame, preset=preset)
        page = time.perf_counter()
        paths = write_capture(capture.complete(), out_dir, "bench")
        done, cpu = time.perf_counter(), time.process_time() - c0
        _check_mode(capture, frame.id, mode)
        if i < warmup:
            continue
        samples.page.append((page - t0) * 1000.0)
        samples.artifact.append((done - t0) * 1000.0)
        samples.cpu.append(cpu * 1000.0)
        for s in samples.stages:
            samples.stages[s].append(float(capture.timings_ms.get(s, 0.0)))
    return samples, capture, paths


def _throughput(pipeline, grab, preset: str, frames: int, out_dir: Path) -> float:
    """Frames per second to files when the next frame starts as soon as `process` returns (the
    deferred encodes of one frame overlap the model run of the next, as in a hot folder)."""
    from device.workflows.batch import write_capture

    t0 = time.perf_counter()
    pending = None
    for i in range(frames):
        capture = pipeline.process(grab(i), preset=preset)
        if pending is not None:
            write_capture(pending.complete(), out_dir, f"bench-{i % 2}")
        pending = capture
    if pending is not None:
        write_capture(pending.complete(), out_dir, f"bench-{frames % 2}")
    return round(frames / (time.perf_counter() - t0), 2)


def run_bench(
    cfg: CutboxConfig,
    threads: int = 1,
    frames: int = 50,
    warmup: int = 3,
    preset: str = "marketplace-white",
    mode: str = "generic",
    scene: BenchScene | None = None,
    source: str = "camera",
) -> dict:
    """Time `frames` frames through the pipeline in `mode` ("generic" or "plate") to their
    files on disk; returns the report dict (JSON-ready). Every frame must have run in that
    mode, else RuntimeError with the segmenter's reason: a plate bench that silently fell back
    would time the wrong model.

    `scene` defaults to the standard frame in generic mode and the booth scene in plate mode
    (a plate needs its own backdrop in the frame); a booth scene's report also says which
    frame it timed, the crop box and, in plate mode, whether the shadow layer was on.
    `source` "file" decodes every frame from a JPEG file instead of copying a camera buffer."""
    from device.pipeline import Pipeline

    if mode not in MODES:
        raise ValueError(f"bench mode must be one of {', '.join(MODES)}, got {mode!r}")
    if source not in SOURCES:
        raise ValueError(f"bench source must be one of {', '.join(SOURCES)}, got {source!r}")
    cores = pin_threads(threads)
    if scene is None:
        scene = booth_scene(_with_threads(cfg, threads)) if mode == "plate" else BenchScene("standard", bench_frame())
    if mode == "plate" and scene.plate is None:
        raise ValueError(f"plate mode needs a scene with a plate, the {scene.name} scene has none")
    with tempfile.TemporaryDirectory(prefix="cutbox-bench-") as data_dir:
        work = Path(data_dir)
        bench_cfg = _bench_config(cfg, threads, mode, work, scene.plate)
        grab = _file_grab(scene, work, cfg.source.max_pixels) if source == "file" else _camera_grab(scene)
        pipeline = Pipeline(bench_cfg)
        try:
            pipeline.preset_config(preset)
            samples, capture, paths = _time_frames(pipeline, grab, preset, mode, warmup, frames, work / "out")
            files = {p.name: p.stat().st_size for p in paths}
            fps = _throughput(pipeline, grab, preset, frames, work / "out")
            seg: Any = pipeline.segmenter
            runner = seg.plate_model if mode == "plate" else seg  # BoothSegmenter answers with the generic model's card
        finally:
            pipeline.close()
    report = _report(samples, capture, files, fps, scene)
    report.update(
        mode=mode,
        frames=frames,
        threads=threads,
        pinned_cores=cores,
        source=source,
        preset=preset,
        model=getattr(getattr(runner, "card", None), "label", type(runner).__name__),
        backend=getattr(runner, "backend", "unknown"),
        machine=machine(),
    )
    if scene.name != "standard":  # the standard report's keys stay as they were
        report["frame"] = scene.name
        report["box"] = [int(v) for v in capture.meta["box"]]
    if mode == "plate":
        report["plate_fit"] = capture.meta.get("plate_fit", "")
        # BoothSegmenter.add_shadow runs on plate-mode frames (every one, checked above) whose
        # plate has the frame's size
        plate = scene.plate
        report["shadow"] = bool(bench_cfg.booth.shadow and plate is not None and plate.shape == scene.image.shape)
    return report


def _report(samples: _Samples, capture, files: dict[str, int], fps: float, scene: BenchScene) -> dict:
    """The figures of one run: per stage, page ready, artifact ready, CPU, throughput, output."""
    stages = {
        s: {"p50_ms": _pct(v, 50), "p95_ms": _pct(v, 95), "mean_ms": round(float(np.mean(v)), 2)}
        for s, v in samples.stages.items()
        if s != "total"
    }
    total_p95 = _pct(samples.stages["total"], 95)
    artifact_p95 = _pct(samples.artifact, 95)
    main = next((a for a in capture.artifacts if a.name in ("jpeg", "png", "webp", "tiff")), None)
    out_size = None
    if main is not None:
        from PIL import Image

        with Image.open(io.BytesIO(main.data)) as im:
            out_size = [int(im.size[0]), int(im.size[1])]
    h, w = scene.image.shape[:2]
    return {
        "stages": stages,
        "total_p50_ms": _pct(samples.stages["total"], 50),
        "total_p95_ms": total_p95,
        "wall_p95_ms": _pct(samples.page, 95),
        "page_p50_ms": _pct(samples.page, 50),
        "page_p95_ms": _pct(samples.page, 95),
        "artifact_p50_ms": _pct(samples.artifact, 50),
        "artifact_p95_ms": artifact_p95,
        "artifact_cpu_p50_ms": _pct(samples.cpu, 50),
        "artifact_cpu_p95_ms": _pct(samples.cpu, 95),
        "throughput_fps": fps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "input": f"{w}x{h} RGB",
        "output": {
            "jpeg_size": out_size if main is not None and main.name == "jpeg" else None,
            "size": out_size,
            "main": main.name if main is not None else None,
            "artifacts": [a.name for a in capture.artifacts],
            "files": files,
        },
        "budget_p95_ms": BUDGET_P95_MS,
        "within_budget": total_p95 <= BUDGET_P95_MS,
        "artifact_budget_p95_ms": ARTIFACT_BUDGET_P95_MS,
        "within_artifact_budget": artifact_p95 <= ARTIFACT_BUDGET_P95_MS,
    }


def run_presets(cfg: CutboxConfig, threads: int = 1, frames: int = 50, warmup: int = 3, source: str = "camera") -> dict:
    """`run_bench` for every preset the configuration defines, one after another in this process."""
    names = sorted(cfg.compose.presets)
    reports = {n: run_bench(cfg, threads, frames, warmup, preset=n, source=source) for n in names}
    return {
        "presets": reports,
        "artifact_p95_ms": {n: r["artifact_p95_ms"] for n, r in reports.items()},
        "within_artifact_budget": all(r["within_artifact_budget"] for r in reports.values()),
        "artifact_budget_p95_ms": ARTIFACT_BUDGET_P95_MS,
        "machine": machine(),
    }


def apply_budget(report: dict, budget_ms: float) -> list[str]:
    """Judge `report` (one preset's, `run_presets`' or `run_plate_compare`'s) against an artifact
    ready p95 budget of `budget_ms`: each run's budget fields are set to it, and one line comes
    back per run over it (none when all are within). A check a CI job or an operator runs on a
    quiet machine, not a test: wall-clock percentiles on a loaded machine say nothing of it."""
    if "presets" in report:
        runs = list(report["presets"].items())
    elif "plate" in report:
        runs = [(f"{report['generic']['preset']} ({m} mode)", report[m]) for m in ("generic", "plate")]
    else:
        runs = [(report["preset"], report)]
    over = []
    for name, r in runs:
        r["artifact_budget_p95_ms"] = budget_ms
        r["within_artifact_budget"] = r["artifact_p95_ms"] <= budget_ms
        if not r["within_artifact_budget"]:
            over.append(f"{name}: artifact ready p95 {r['artifact_p95_ms']:.1f} ms is over the {budget_ms:g} ms budget")
    if "presets" in report:
        report["artifact_budget_p95_ms"] = budget_ms
        report["within_artifact_budget"] = not over
    return over


def run_plate_compare(
    cfg: CutboxConfig,
    threads: int = 1,
    frames: int = 50,
    warmup: int = 3,
    preset: str = "marketplace-white",
    source: str = "camera",
) -> dict:
    """Generic then plate mode in one process on the same booth scene, and the plate/generic
    p50 ratios that PLATE_RATIO_TARGET bounds (peak RSS is the process's, so the plate report's
    includes the generic run and the cut-out that made the scene)."""
    pin_threads(threads)
    scene = booth_scene(_with_threads(cfg, threads))
    generic = run_bench(cfg, threads, frames, warmup, preset, mode="generic", scene=scene, source=source)
    plate = run_bench(cfg, threads, frames, warmup, preset, mode="plate", scene=scene, source=source)
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
    size = "x".join(map(str, r["output"]["size"])) if r["output"].get("size") else "?"
    lines = [
        f"cutbox bench ({r['mode']} mode): {r['input']} from {r['source']} -> {r['preset']} {size} "
        f"({', '.join(r['output']['artifacts'])}), {r['frames']} frames, {r['threads']} thread(s)",
        f"machine: {m['cpu']}, {m['cores']} cores ({r['threads']} pinned: {r['pinned_cores']}); model {r['model']} on {r['backend']}",
        "",
        f"{'stage':<16}{'p50 ms':>10}{'p95 ms':>10}",
    ]
    for s, v in r["stages"].items():
        lines.append(f"{s:<16}{v['p50_ms']:>10.1f}{v['p95_ms']:>10.1f}")
    lines.append(f"{'total':<16}{r['total_p50_ms']:>10.1f}{r['total_p95_ms']:>10.1f}")
    lines.append(f"{'page ready':<16}{r['page_p50_ms']:>10.1f}{r['page_p95_ms']:>10.1f}")
    lines.append(f"{'artifact ready':<16}{r['artifact_p50_ms']:>10.1f}{r['artifact_p95_ms']:>10.1f}")
    lines.append(f"{'  CPU time':<16}{r['artifact_cpu_p50_ms']:>10.1f}{r['artifact_cpu_p95_ms']:>10.1f}")
    lines.append("")
    lines.append(f"throughput: {r['throughput_fps']:.1f} frames/s to files on {r['threads']} thread(s)")
    lines.append(f"peak RSS: {r['peak_rss_mb']:.0f} MB")
    verdict = "within" if r["within_budget"] else "OVER"
    lines.append(
        f"budget: total p95 <= {r['budget_p95_ms']:.0f} ms on one core: {verdict} ({r['total_p95_ms']:.1f} ms)"
    )
    verdict = "within" if r["within_artifact_budget"] else "OVER"
    lines.append(
        f"budget: artifact ready p95 <= {r['artifact_budget_p95_ms']:.0f} ms on one core: {verdict} "
        f"({r['artifact_p95_ms']:.1f} ms)"
    )
    if "frame" in r:
        x0, y0, x1, y1 = r["box"]
        lines.append(f"frame: {r['frame']}, crop box {x1 - x0}x{y1 - y0} at ({x0}, {y0})")
    if r.get("plate_fit"):
        lines.append(f"plate: {r['plate_fit']}; cast-shadow layer (booth.shadow) {'on' if r.get('shadow') else 'off'}")
    return "\n".join(lines)


def format_presets(all_: dict) -> str:
    """Each preset's table, then one line per preset: page and artifact ready, throughput."""
    tables = [format_table(r) for r in all_["presets"].values()]
    summary = [
        f"{'preset':<20}{'page p50':>10}{'page p95':>10}{'file p50':>10}{'file p95':>10}{'frames/s':>10}",
    ]
    for name, r in all_["presets"].items():
        summary.append(
            f"{name:<20}{r['page_p50_ms']:>10.1f}{r['page_p95_ms']:>10.1f}{r['artifact_p50_ms']:>10.1f}"
            f"{r['artifact_p95_ms']:>10.1f}{r['throughput_fps']:>10.1f}"
        )
    verdict = "within" if all_["within_artifact_budget"] else "OVER"
    summary.append(f"every preset: artifact ready p95 <= {all_['artifact_budget_p95_ms']:.0f} ms: {verdict}")
    return "\n\n".join([*tables, "\n".join(summary)])


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
