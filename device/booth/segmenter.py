"""Booth mode: a Segmenter that uses the clean plate while it fits, else the generic model.

Every frame is checked against the plate on the model-size copy the segmenter makes
anyway (no extra resize); when the plate fits, frame + plate (6 uint8 channels) go to the
plate-aware model, otherwise the frame goes to the generic segmenter. After the plate model
a second check (`check_background`) compares frame and plate where the model found no
product, and the product it found against the plate: when the booth no longer looks like the
plate there, or the "product" is the empty booth, the frame is cut out again in generic mode
(the plate model is never trusted on a booth it does not know). Which mode ran and why is
written to `frame.info` ("segment_mode", "plate_fit", "plate_measures"), shows in
`Mask.model`, and the last decision in `last_decision`, so every capture and the status say
how it was cut out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from device.booth.plate import Plate, PlateError, PlateFit, check_background, check_plate_cfg, plate_dir
from device.segment.base import ModelError, Segmenter
from device.segment.card import ModelCard
from device.segment.litert import model_input
from device.types import Frame, Mask

log = logging.getLogger(__name__)


class PlateModel:
    """The plate-aware int8 model: input frame RGB + plate RGB (6 uint8 channels), per its card."""

    def __init__(
        self,
        model_path: str | Path,
        threads: int = 1,
        delegate: str = "auto",
        edgetpu_lib: str = "libedgetpu.so.1",
        edgetpu_model: str | Path | None = None,
        edgetpu_device: str = "",
    ):
        from device.segment.litert import Int8Model

        self.model = Int8Model(
            model_path,
            "RGB+plate",
            threads,
            delegate,
            edgetpu_lib,
            edgetpu_model,
            setting="booth.model",
            edgetpu_device=edgetpu_device,
        )
        self.card, self.backend, self.backend_reason = self.model.card, self.model.backend, self.model.backend_reason
        self.input_size = self.model.input_size
        self._lock = threading.Lock()
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
            return self.model.run(self._buf)


class BoothSegmenter:
    """Plate model while the plate fits the frame; otherwise the generic segmenter, saying why."""

    def __init__(
        self,
        generic: Segmenter,
        plate_model: PlateModel | None,
        plate: Plate | None,
        cfg,
        unavailable: str = "",
        open_model: Callable[[], PlateModel] | None = None,
    ):
        self.generic = generic
        self.plate_model = plate_model
        self.cfg = cfg
        self.unavailable = unavailable  # why the plate model could not be opened, if it could not
        # Opens the plate model the first time a plate needs it: a station without a plate
        # never pays its load time or memory.
        self._open_model = open_model
        self.last_fit: PlateFit | None = None
        self.last_decision: dict = {}  # {"mode", "reason"} of the last frame, for the box status
        self._last_input: tuple = (None, None, None)  # (frame id, model-size frame, plate) for the shadow layer
        self.set_plate(plate)

    # The card, backend and input size reported are the generic model's: it is the one that
    # runs whenever the plate does not fit.
    @property
    def card(self) -> ModelCard:
        return self.generic.card  # type: ignore[attr-defined]

    @property
    def backend(self) -> str:
        return self.generic.backend  # type: ignore[attr-defined]

    @property
    def backend_reason(self) -> str:
        return self.generic.backend_reason  # type: ignore[attr-defined]

    @property
    def input_size(self) -> tuple[int, int]:
        return self.generic.input_size  # type: ignore[attr-defined]

    def set_plate(self, plate: Plate | None) -> None:
        """Use a new plate (after `cutbox calibrate`) or none; the first plate opens the plate model."""
        if plate is not None and self.plate_model is None and self._open_model is not None:
            try:  # the model first: a frame segmented meanwhile never sees a plate without it
                self.plate_model = self._open_model()
                self.unavailable = ""
            except ModelError as exc:
                self.unavailable = str(exc)
        self.plate = plate
        self._last_mode: str | None = None

    def _blocker(self) -> str:
        if not self.cfg.enabled:
            return "booth mode off (booth.enabled = false)"
        if self.plate is None:  # checked before the model: without a plate the model is never opened
            return "no clean plate (run `cutbox calibrate` on the empty booth)"
        if self.plate_model is None:
            return self.unavailable or "no plate model"
        return ""

    def segment(self, frame: Frame) -> Mask:
        reason = self._blocker()
        x = plate_small = None
        fit = None
        if not reason:
            assert self.plate_model is not None and self.plate is not None  # _blocker says why not
            w, h = self.plate_model.input_size
            x = model_input(frame, w, h)
            plate_small = self.plate.resized(w, h)
            fit = check_plate_cfg(self.plate, frame, self.cfg, frame_small=x, plate_small=plate_small)
            self.last_fit = fit
            frame.info["plate_measures"] = fit.measures
            if not fit.ok:
                reason = f"plate does not fit: {fit.reason}"
        if not reason:
            assert fit is not None and x is not None and plate_small is not None and self.plate_model is not None
            prob = self.plate_model.predict(x, plate_small)
            after = check_background(
                x,
                plate_small,
                prob,
                self.cfg.max_background_mismatch,
                self.cfg.max_product_unchanged,
                border=self.cfg.border,
                max_unchanged_share=self.cfg.max_product_unchanged_share,
            )
            frame.info["plate_measures"] = {**frame.info["plate_measures"], **after.measures}
            if not after.ok:
                self.last_fit = after
                reason = after.reason
        if reason:
            return self._generic(frame, reason)
        assert fit is not None and self.plate_model is not None
        self._note("plate", fit.reason)
        frame.info["segment_mode"] = "plate"
        frame.info["plate_fit"] = f"{fit.reason}; {after.reason}"
        self.last_decision = {"mode": "plate", "reason": frame.info["plate_fit"]}
        self._last_input = (frame.id, x, plate_small)
        see_through = self.cfg.see_through_range if self.cfg.see_through else None
        return Mask(
            frame=frame,
            prob=prob,
            model=self.plate_model.card.label,
            backend=self.plate_model.backend,
            see_through=see_through,
            backend_reason=getattr(self.plate_model, "backend_reason", ""),
        )

    def _generic(self, frame: Frame, reason: str) -> Mask:
        self._note("generic", reason)
        frame.info["segment_mode"] = "generic"
        frame.info["plate_fit"] = reason
        self.last_decision = {"mode": "generic", "reason": reason}
        return self.generic.segment(frame)

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
            # a stale plate is news for the operator; no plate at all is the normal non-booth case
            (log.warning if reason.startswith("plate does not fit") else log.info)("booth: %s mode (%s)", mode, reason)
            self._last_mode = mode


def open_booth_segmenter(config, generic: Segmenter) -> BoothSegmenter:
    """The booth segmenter the configuration describes: the plate from <data_dir>/plate/
    and the plate model from booth.model, opened only once there is a plate; a missing
    one means generic mode, with the reason."""
    cfg, seg = config.booth, config.segment
    open_model = (
        partial(
            PlateModel,
            cfg.model,
            seg.threads,
            seg.delegate,
            seg.edgetpu_lib,
            cfg.edgetpu_model,
            seg.edgetpu_device,
        )
        if cfg.enabled
        else None
    )
    plate = None
    try:
        plate = Plate.load(plate_dir(config.station.data_dir))
    except PlateError as exc:
        log.info("booth: %s", exc)
    return BoothSegmenter(generic, None, plate, cfg, open_model=open_model)
