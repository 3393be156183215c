"""The segmenter interface: a frame in, the model's low-resolution foreground probability out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from device.errors import Unavailable
from device.types import Frame, Mask, Matte

if TYPE_CHECKING:  # card.py raises ModelError from here
    from device.segment.card import ModelCard


class ModelError(Unavailable):
    """The model or its card cannot be used (missing, mismatched, unloadable); one line with the fix."""


@runtime_checkable
class Segmenter(Protocol):
    """Anything that turns a Frame into a Mask (the LiteRT model, or a test double)."""

    def segment(self, frame: Frame) -> Mask: ...


@runtime_checkable
class ModelBacked(Protocol):
    """A segmenter that runs a model with a card (LiteRT, the booth segmenter): what the status,
    the captures and the journal report as the model and where it runs."""

    card: ModelCard
    backend: str  # "cpu" or "edgetpu"
    backend_reason: str  # why that backend (no Coral found, ...)


@runtime_checkable
class PlateAware(Protocol):
    """A segmenter that uses the booth's clean plate (`device.booth.BoothSegmenter`): it takes a
    new plate after calibration and adds the real cast shadow it sees against the plate."""

    def set_plate(self, plate: Any) -> None: ...

    def add_shadow(self, matte: Matte) -> Matte: ...
