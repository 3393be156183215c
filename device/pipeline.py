"""The pipeline: frame -> segment -> matte -> compose -> export, wired from configuration.

One object owns the segmenter (the model loads once) and a single export worker. Every stage
is timed on every call into `Capture.timings_ms` (source, segment, matte, compose, export,
total), so the CLI, the API, MQTT meta and the bench all report the same numbers. The
critical encodes (the catalog JPEG, the mask) finish before `process` returns; slow ones
(RGBA PNG, TIFF, WebP) run on the worker and are joined by `Capture.complete()`.

For a turntable spin the steps are split: `matte(frame)` per shot while the table turns,
then `finish(matte, box=...)` for all shots with one shared crop box.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from device.allocator import keep_frame_buffers
from device.compose import compose
from device.config import CutboxConfig, PresetConfig
from device.export import DEFERRED_FORMATS, encode, sidecar
from device.matte import Strokes, refine
from device.segment import PlateAware, Segmenter, open_segmenter
from device.segment.base import ModelBacked
from device.types import Artifact, Capture, Cutout, Frame, Matte, new_capture_id

STAGES = ("source", "segment", "matte", "compose", "export", "total")
META_SCHEMA = 1


class Pipeline:
    """Turns frames into captures with the configured model, matte, preset and encoders."""

    def __init__(self, config: CutboxConfig, segmenter: Segmenter | None = None):
        keep_frame_buffers()  # process-wide: frame-sized arrays are reused, not re-faulted
        self.config = config
        if segmenter is None:
            segmenter = open_segmenter(config.segment)
            if config.booth.enabled:
                from device.booth import open_booth_segmenter  # plate model while a fitting plate exists

                segmenter = open_booth_segmenter(config, segmenter)
        self.segmenter = segmenter
        self._preset = config.compose.preset
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cutbox-export")

    @property
    def model_name(self) -> str | None:
        """The model's label from its card (None for a segmenter without one, a test double)."""
        return self.segmenter.card.label if isinstance(self.segmenter, ModelBacked) else None

    @property
    def backend(self) -> tuple[str, str]:
        """(backend, reason) of the generic model: "edgetpu" only when it really runs there."""
        if isinstance(self.segmenter, ModelBacked):
            return self.segmenter.backend, self.segmenter.backend_reason
        return "unknown", ""

    # ---- presets -------------------------------------------------------------------------
    @property
    def preset(self) -> str:
        """Name of the preset used when a call names none."""
        return self._preset

    def set_preset(self, name: str) -> None:
        """Make `name` the default preset (ValueError naming the known ones if it is not one)."""
        self.preset_config(name)
        self._preset = name

    def preset_config(self, name: str | None = None) -> PresetConfig:
        name = name or self._preset
        presets = self.config.compose.presets
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}: choose from {', '.join(sorted(presets))}")
        return presets[name]

    # ---- stages --------------------------------------------------------------------------
    def matte(self, frame: Frame, strokes: Strokes | None = None) -> Matte:
        """Segment and refine one frame (the per-shot half of a spin)."""
        t0 = time.perf_counter()
        mask = self.segmenter.segment(frame)
        frame.info["backend"] = mask.backend
        if mask.backend_reason:
            frame.info["backend_reason"] = mask.backend_reason
        t1 = time.perf_counter()
        matte = refine(mask, self.config.matte, strokes)
        if isinstance(self.segmenter, PlateAware):  # booth mode: the real cast shadow
            matte = self.segmenter.add_shadow(matte)
        t2 = time.perf_counter()
        matte.timings_ms.update(segment=(t1 - t0) * 1000.0, matte=(t2 - t1) * 1000.0)
        return matte

    def finish(
        self,
        matte: Matte,
        *,
        preset: str | None = None,
        box: tuple[int, int, int, int] | None = None,
        extra_meta: dict | None = None,
    ) -> Capture:
        """Compose and export a matte; critical encodes done, deferred ones pending.

        `extra_meta` (e.g. a spin set's `spin_id` and `angle`) goes into the capture's meta
        before export, so the sidecar and the embedded metadata carry it too.
        """
        t_start = time.perf_counter()
        name = preset or self._preset
        preset_cfg = self.preset_config(name)
        timings = {
            "source": float(matte.frame.info.get("read_ms", 0.0)),
            "segment": 0.0,
            "matte": 0.0,
            **matte.timings_ms,
        }

        t0 = time.perf_counter()
        cutout = compose(matte, preset_cfg, box)
        t1 = time.perf_counter()
        timings["compose"] = (t1 - t0) * 1000.0

        frame = matte.frame
        capture_id = new_capture_id()
        meta = {
            "schema": META_SCHEMA,
            "capture_id": capture_id,
            "sku": frame.sku,
            "model": matte.model,
            "preset": name,
            "timings_ms": timings,
            "source": frame.source,
            "frame_size": list(frame.size),
            "box": [int(v) for v in cutout.box],
            **{k: frame.info[k] for k in ("segment_mode", "plate_fit", "backend", "backend_reason") if k in frame.info},
            **(extra_meta or {}),
        }
        critical, deferred = split_formats(preset_cfg.formats)
        with_sidecar = "meta" in critical
        if deferred and with_sidecar:
            critical.remove("meta")  # written once the deferred encodes are done, listing them all
        artifacts = encode(cutout, meta, critical, self.config.export) if critical else []
        t2 = time.perf_counter()
        timings["export"] = (t2 - t1) * 1000.0
        timings["total"] = timings["source"] + timings["segment"] + timings["matte"] + (t2 - t_start) * 1000.0
        pending = None
        if deferred:
            pending = self._pool.submit(
                self._encode_deferred, cutout, dict(meta), deferred, list(artifacts) if with_sidecar else None
            )
        return Capture(
            id=capture_id,
            frame=frame,
            artifacts=list(artifacts),
            timings_ms=timings,
            model=matte.model,
            preset=name,
            sku=frame.sku,
            meta=meta,
            pending=pending,
        )

    def _encode_deferred(
        self, cutout: Cutout, meta: dict, formats: list[str], sidecar_over: list[Artifact] | None
    ) -> list[Artifact]:
        """The slow encodes; then the sidecar over every artifact when the preset wants one."""
        done = encode(cutout, meta, formats, self.config.export)
        if sidecar_over is not None:
            done.append(sidecar(cutout, meta, sidecar_over + done))
        return done

    def process(
        self,
        frame: Frame,
        *,
        preset: str | None = None,
        box: tuple[int, int, int, int] | None = None,
        strokes: Strokes | None = None,
    ) -> Capture:
        """One frame to a capture: segment, matte, compose, export (critical formats)."""
        t0 = time.perf_counter()
        self.preset_config(preset)  # fail on a bad preset name before spending time on the model
        matte = self.matte(frame, strokes)
        capture = self.finish(matte, preset=preset, box=box)
        t = capture.timings_ms
        t["total"] = t["source"] + (time.perf_counter() - t0) * 1000.0
        return capture

    def close(self) -> None:
        """Finish queued deferred encodes and stop the worker."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def split_formats(formats: Sequence[str]) -> tuple[list[str], list[str]]:
    """(critical, deferred): the formats encoded before `process` returns, and the rest."""
    critical = [f for f in formats if f not in DEFERRED_FORMATS]
    deferred = [f for f in formats if f in DEFERRED_FORMATS]
    return critical, deferred
