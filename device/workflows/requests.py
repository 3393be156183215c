"""The requests the box takes, as the API and the MQTT commands both validate them.

One model per verb, with the bounds from `device.limits`: a spin of 500 steps or an SKU
with a slash is refused the same way whichever door it came through. SKUs are cleaned
as a barcode scanner's input is (surrounding spaces dropped) and must then name files
and MQTT topics safely. Numbers are strict: `{"frames": true}` is not one frame.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from device.limits import MAX_NAME_CHARS, MAX_PLATE_FRAMES, MAX_SPIN_STEPS
from device.workflows.sku import SKU_PATTERN


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


Sku = Annotated[
    str,
    BeforeValidator(_strip),
    Field(pattern=SKU_PATTERN.pattern, description="Product SKU (from the barcode scanner); letters, digits, . _ -"),
]
PresetName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class BoxRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmptyRequest(BoxRequest):
    pass


class CaptureRequest(BoxRequest):
    sku: Sku | None = None
    preset: PresetName | None = Field(None, description="Preset name; default: the current preset")


class SpinRequest(BoxRequest):
    steps: StrictInt | None = Field(
        None, ge=1, le=MAX_SPIN_STEPS, description="Shots per turn; default turntable.steps"
    )
    sku: Sku | None = None


class CalibrateRequest(BoxRequest):
    frames: StrictInt | None = Field(
        None, ge=1, le=MAX_PLATE_FRAMES, description="Frames of the empty booth to average; default booth.plate_frames"
    )


class SetPresetRequest(BoxRequest):
    name: PresetName
