"""Booth mode: a Segmenter that uses the clean plate while it fits, else the generic model.

Every frame is checked against the plate on the model-size copy the segmenter makes
anyway (no extra resize); when the plate fits, frame + plate (6 uint8 channels) go to the
plate-aware model, otherwise the frame goes to the generic segmenter. Which mode ran and
why is written to `frame.info` ("segment_mode", "plate_fit", "plate_measures") and shows in
`Mask.model`, so every capture says how it was cut out.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from device.booth.plate import Plate, PlateError, PlateFit, check_plate_cfg, plate_dir
from device.segment.base import ModelError, Segmenter
from device.segment.card import ModelCard
from device.types import Frame, Mask

log = logging.getLogger("cutbox.booth")


class PlateModel:
    """The plate-aware int8 model on LiteRT: input frame RGB + plate RGB, uint8, per its card."""

    def __init__(self, model_path: str | Path, threads: int = 1, delegate: str = "auto", edgetpu_lib: str = "libedgetpu.so.1"):
        from device.segment.litert import LiteRTSegmenter, _interpreter_api

        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelError(f"plate model not found: {model_path} (set booth.model, or train it: python -m tools.booth.train_plate)")
        self.card = ModelCard.load(model_path)
        self.card.check_file(model_path)
        if self.card.input_channels != "RGB+plate":
            raise ModelError(f"{model_path.name} takes {self.card.input_channels} input, not RGB+plate (booth.model must be a plate model)")
        Interpreter, load_delegate, self.runtime = _interpreter_api()
        delegates, self.backend, self.backend_reason = LiteRTSegmenter._choose_delegate(delegate, edgetpu_lib, load_delegate)
        try:
            self._interp = Interpreter(model_path=str(model_path), num_threads=threads, experimental_delegates=delegates or None)
            self._interp.allocate_tensors()
        except Exception as exc:
            raise ModelError(f"cannot load plate model {model_path.name}: {' '.join(str(exc).split())[:200]}") from None
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        self.card.check_tensors(self._in, self._out)
        scale, zero = self._out.get("quantization", (0.0, 0))
        self._out_scale, self._out_zero = (float(scale), int(zero)) if scale else (None, 0)
        self._in_shift = self._in["dtype"] == np.int8
        self._lock = threading.Lock()
        self.input_size = (self.card.input_width, self.card.input_height)
        self._buf = np.zeros((1, self.card.input_height, self.card.input_width, 6), np.uint8)
        self._buf_plate: np.ndarray | None = None

    def predict(self, image: np.ndarray, plate: np.ndarray) -> np.ndarray:
        """Foreground probability (float32 0..1, output size) for model-size uint8 RGB frame and plate."""
        with self._lock:
            # One 6-channel buffer: the plate's channels are written once per plate, only the
            # frame's per call (a fresh concatenate costs as much as the fit check).
            if self._buf_plate is not plate:
                self._buf[0, :, :, 3:] = plate
                self._buf_plate = plate
            self._buf[0, :, :, :3] = image
            x = self._buf if not self._in_shift else (self._buf.astype(np.int16) - 128).astype(np.int8)
            self._interp.set_tensor(self._in["index"], x)
            self._interp.invoke()
            y = self._interp.get_tensor(self._out["index"])
        y = y.reshape(y.shape[1], y.shape[2]) if y.ndim == 4 else y.reshape(y.shape[-2], y.shape[-1])
        prob = (y.astype(np.float32) - self._out_zero) * self._out_scale if self._out_scale is not None else y.astype(np.float32)
        return np.clip(prob, 0.0, 1.0)


def model_input(frame: Frame, w: int, h: int) -> np.ndarray:
    """The frame at the model's input size: its lores copy when the camera made one, else area-resized."""
    from device.segment.litert import area_resize

    src = frame.lores if frame.lores is not None else frame.image
    if src.ndim != 3 or src.shape[2] != 3 or src.dtype != np.uint8:
        raise ModelError(f"frame {frame.id} is not HxWx3 uint8 RGB (got {src.shape} {src.dtype})")
    return src if src.shape[:2] == (h, w) else area_resize(src, w, h)


class BoothSegmenter:
    """Plate model while the plate fits the frame; otherwise the generic segmenter, saying why."""

    def __init__(self, generic: Segmenter, plate_model: PlateModel | None, plate: Plate | None, cfg, unavailable: str = ""):
        self.generic = generic
        self.plate_model = plate_model
        self.plate = plate
        self.cfg = cfg
        self.unavailable = unavailable  # why the plate model could not be opened, if it could not
        self.last_fit: PlateFit | None = None
        self._last_mode: str | None = None
        self._last_input: tuple = (None, None, None)  # (frame id, model-size frame, plate) for the shadow layer

    def __getattr__(self, name: str):
        """Everything else (card, backend, backend_reason, input_size) is the generic model's:
        it is the one that runs whenever the plate does not fit."""
        if name == "generic":  # not set yet (during unpickling/construction): no recursion
            raise AttributeError(name)
        return getattr(self.generic, name)

    def set_plate(self, plate: Plate | None) -> None:
        """Use a new plate (after `cutbox calibrate`) or none."""
        self.plate = plate
        self._last_mode = None

    def _blocker(self) -> str:
        if not self.cfg.enabled:
            return "booth mode off (booth.enabled = false)"
        if self.plate_model is None:
            return self.unavailable or "no plate model"
        if self.plate is None:
            return "no clean plate (run `cutbox calibrate` on the empty booth)"
        return ""

    def segment(self, frame: Frame) -> Mask:
        reason = self._blocker()
        x = plate_small = None
        if not reason:
            w, h = self.plate_model.input_size
            x = model_input(frame, w, h)
            plate_small = self.plate.resized(w, h)
            fit = check_plate_cfg(self.plate, frame, self.cfg, frame_small=x, plate_small=plate_small)
            self.last_fit = fit
            frame.info["plate_measures"] = fit.measures
            if not fit.ok:
                reason = f"plate stale: {fit.reason}"
        if reason:
            self._note("generic", reason)
            frame.info["segment_mode"] = "generic"
            frame.info["plate_fit"] = reason
            return self.generic.segment(frame)
        self._note("plate", fit.reason)
        frame.info["segment_mode"] = "plate"
        frame.info["plate_fit"] = fit.reason
        self._last_input = (frame.id, x, plate_small)
        prob = self.plate_model.predict(x, plate_small)
        return Mask(frame=frame, prob=prob, model=self.plate_model.card.label, backend=self.plate_model.backend)

    def add_shadow(self, matte):
        """The matte with its real cast-shadow layer when this frame ran in plate mode (and
        booth.shadow is on); otherwise the matte unchanged. Call after the matte stage."""
        if not self.cfg.shadow or matte.frame.info.get("segment_mode") != "plate" or self.plate is None:
            return matte
        if matte.frame.image.shape != self.plate.image.shape:
            return matte
        from device.booth.shadow import add_shadow

        last_id, x, plate_small = self._last_input
        small = (x, plate_small) if last_id == matte.frame.id else None
        return add_shadow(matte, self.plate.image, self.cfg.shadow_min_darkening, self.cfg.border, small)

    def _note(self, mode: str, reason: str) -> None:
        """Log mode changes once, not every frame."""
        if mode != self._last_mode:
            (log.info if mode == "plate" else log.warning)("booth: %s mode (%s)", mode, reason)
            self._last_mode = mode


def open_booth_segmenter(config, generic: Segmenter) -> BoothSegmenter:
    """The booth segmenter the configuration describes: the plate from <data_dir>/plate/
    and the plate model from booth.model; a missing one means generic mode, with the reason."""
    cfg = config.booth
    plate_model, unavailable = None, ""
    if cfg.enabled:
        try:
            plate_model = PlateModel(cfg.model, config.segment.threads, config.segment.delegate, config.segment.edgetpu_lib)
        except ModelError as exc:
            unavailable = str(exc)
    plate = None
    try:
        plate = Plate.load(plate_dir(config.station.data_dir))
    except PlateError as exc:
        log.info("booth: %s", exc)
    return BoothSegmenter(generic, plate_model, plate, cfg, unavailable)
