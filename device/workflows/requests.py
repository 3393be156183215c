"""The requests the box takes, as the API and the MQTT commands both validate them.

One model per verb, with the bounds from `device.limits`: a spin of 500 steps or an SKU
with a slash is refused the same way whichever door it came through. SKUs are cleaned
as a barcode scanner's input is (surrounding spaces dropped) and must then name files
and MQTT topics safely. Numbers are strict: `{"frames": true}` is not one frame.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator

from device.box.store import ID_PATTERN
from device.limits import MAX_NAME_CHARS, MAX_PLATE_FRAMES, MAX_SPIN_STEPS
from device.workflows.sku import SKU_PATTERN

SCANNER_SPACE = " \t\r\n"
# The SKU as it may arrive, scanner whitespace around it included; what is kept is SKU_PATTERN.
SKU_AS_SENT = r"^[ \t\r\n]*" + SKU_PATTERN.pattern[1:-1] + r"[ \t\r\n]*$"


def _strip(value: object) -> object:
    return value.strip(SCANNER_SPACE) if isinstance(value, str) else value


Sku = Annotated[
    str,
    Field(pattern=SKU_AS_SENT, description="Product SKU (from the barcode scanner); letters, digits, . _ -"),
    AfterValidator(_strip),
]


def _whole_float(value: object) -> object:
    """JSON's 12.0 is the whole number 12 (as JSON schema says); `true` or "12" is not a number."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


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

    _whole = field_validator("steps", mode="before")(_whole_float)


class CalibrateRequest(BoxRequest):
    frames: StrictInt | None = Field(
        None, ge=1, le=MAX_PLATE_FRAMES, description="Frames of the empty booth to average; default booth.plate_frames"
    )

    _whole = field_validator("frames", mode="before")(_whole_float)


class SetPresetRequest(BoxRequest):
    name: PresetName


class ReexportRequest(BoxRequest):
    """One stored capture made again in another preset (the API takes the id from its path)."""

    capture_id: str = Field(..., pattern=ID_PATTERN, description="The capture's id")
    preset: PresetName = Field(..., description="The preset to export it in")


class ReexportBody(BoxRequest):
    preset: PresetName = Field(..., description="The preset to export it in")
