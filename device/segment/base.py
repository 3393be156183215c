"""The segmenter interface: a frame in, the model's low-resolution foreground probability out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from device.types import Frame, Mask


class ModelError(RuntimeError):
    """The model or its card cannot be used (missing, mismatched, unloadable); one line with the fix."""


@runtime_checkable
class Segmenter(Protocol):
    """Anything that turns a Frame into a Mask (the LiteRT model, or a test double)."""

    def segment(self, frame: Frame) -> Mask: ...
