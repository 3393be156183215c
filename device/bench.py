"""`cutbox bench`: whole frame to catalog JPEG, per stage, on a known number of cores.

The standard profile is a 2304x1296 RGB camera frame (a bundled sample photo fitted into it)
through the `marketplace-white` preset (2000x2000 JPEG on white + 8-bit mask). The process is
pinned to `threads` cores (sched_setaffinity) and OpenCV and LiteRT get the same thread
count, so `--threads 1` really measures one core. The budget on one core here is total
p95 <= 50 ms (one core here is about 3x a Pi 5 core).
"""

from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from device.config import CutboxConfig
from device.types import Frame

FRAME_SIZE = (2304, 1296)
BUDGET_P95_MS = 50.0
SAMPLE = Path(__file__).resolve().parent / "samples" / "purple-tshirt.jpg"
STAGE_ORDER = ("source", "segment", "matte", "compose", "export")


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
    return {"cpu": model, "cores": os.cpu_count() or 1, "usable_cores": usable, "machine": platform.machine(), "python": platform.python_version()}


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


def bench_frame(sample: Path = SAMPLE, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A camera-sized RGB frame: the sample photo fitted to the height and centred on a plain
    backdrop of its own border colour, so the frame holds one product as a booth shot does."""
    import cv2

    from device.sources.decode import decode_image

    img = decode_image(sample)
    w, h = size
    scale = h / img.shape[0]
    fitted = cv2.resize(img, (max(1, round(img.shape[1] * scale)), h), interpolation=cv2.INTER_CUBIC)
    if fitted.shape[1] >= w:
        x0 = (fitted.shape[1] - w) // 2
        return np.ascontiguousarray(fitted[:, x0 : x0 + w])
    border = np.concatenate([fitted[:, :8].reshape(-1, 3), fitted[:, -8:].reshape(-1, 3)])
    backdrop = [int(v) for v in np.median(border, axis=0)]
    left = (w - fitted.shape[1]) // 2
    return cv2.copyMakeBorder(fitted, 0, 0, left, w - fitted.shape[1] - left, cv2.BORDER_CONSTANT, value=backdrop)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 2)


def run_bench(cfg: CutboxConfig, threads: int = 1, frames: int = 50, warmup: int = 3, preset: str = "marketplace-white") -> dict:
    """Time `frames` frames through the pipeline; returns the report dict (JSON-ready)."""
    from device.pipeline import Pipeline

    cores = pin_threads(threads)
    cfg = cfg.model_copy(update={"segment": cfg.segment.model_copy(update={"threads": threads})})
    pipeline = Pipeline(cfg)
    try:
        pipeline.preset_config(preset)
        camera = bench_frame()
        per_stage: dict[str, list[float]] = {s: [] for s in (*STAGE_ORDER, "total")}
        wall: list[float] = []
        for i in range(warmup + frames):
            t0 = time.perf_counter()
            image = camera.copy()  # the camera handing over a fresh buffer
            read_ms = (time.perf_counter() - t0) * 1000.0
            frame = Frame(id=f"bench-{i}", image=image, timestamp=time.time(), source="bench:synthetic", info={"read_ms": read_ms})
            capture = pipeline.process(frame, preset=preset)
            jpeg_ready = time.perf_counter()
            capture.complete()
            if i < warmup:
                continue
            wall.append((jpeg_ready - t0) * 1000.0)
            for s in per_stage:
                per_stage[s].append(float(capture.timings_ms.get(s, 0.0)))
        jpeg = capture.artifact("jpeg")
        seg = pipeline.segmenter
        out_size = None
        if jpeg is not None:
            import cv2

            decoded = cv2.imdecode(np.frombuffer(jpeg.data, np.uint8), cv2.IMREAD_UNCHANGED)
            out_size = [int(decoded.shape[1]), int(decoded.shape[0])] if decoded is not None else None
    finally:
        pipeline.close()
    stages = {s: {"p50_ms": _pct(v, 50), "p95_ms": _pct(v, 95), "mean_ms": round(float(np.mean(v)), 2)} for s, v in per_stage.items() if s != "total"}
    total_p95 = _pct(per_stage["total"], 95)
    return {
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
        "model": getattr(getattr(seg, "card", None), "label", type(seg).__name__),
        "backend": getattr(seg, "backend", "unknown"),
        "machine": machine(),
        "budget_p95_ms": BUDGET_P95_MS,
        "within_budget": total_p95 <= BUDGET_P95_MS,
    }


def format_table(r: dict) -> str:
    """The report as a small fixed-width table."""
    m = r["machine"]
    lines = [
        f"cutbox bench: {r['input']} -> {r['preset']} {r['output']['jpeg_size']} ({', '.join(r['output']['artifacts'])}), "
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
    lines.append(f"budget: total p95 <= {r['budget_p95_ms']:.0f} ms on one core: {verdict} ({r['total_p95_ms']:.1f} ms)")
    return "\n".join(lines)
