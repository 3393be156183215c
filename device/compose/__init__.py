"""compose stage: Matte -> Cutout at the preset's output size (`stage.compose`), one module per
step: layout (place), background (backdrop), product, shadow, color, blend."""

from __future__ import annotations

from device.compose.blend import mask_canvas
from device.compose.layout import subject_box
from device.compose.stage import compose

__all__ = ["compose", "mask_canvas", "subject_box"]
