"""The segmenter interface: a frame in, the model's low-resolution foreground probability out."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from device.errors import Unavailable
from device.types import Frame, Mask, Matte


class ModelError(Unavailable):
    """The model or its card cannot be used (missing, mismatched, unloadable); one line with the fix."""


@runtime_checkable
class Segmenter(Protocol):
    """Anything that turns a Frame into a Mask (the LiteRT model, or a test double)."""

    def segment(self, frame: Frame) -> Mask: ...


@runtime_checkable
class PlateAware(Protocol):
    """A segmenter that uses the booth's clean plate (`device.booth.BoothSegmenter`): it takes a
    new plate after calibration and adds the real cast shadow it sees against the plate."""

    def set_plate(self, plate: Any) -> None: ...

    def add_shadow(self, matte: Matte) -> Matte: ...
