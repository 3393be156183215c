"""Booth mode: the clean plate of the empty booth (storage, fit checks; calibration is the
`device.workflows.calibrate` job), the plate-aware
segmenter that falls back to the generic model when the plate is stale, and the cast-shadow layer.

Names are imported lazily, so the training tools can use `device.booth.shadow` and
`device.booth.plate` (numpy + OpenCV only) without the runtime's config and model stack.
"""

from importlib import import_module

_WHERE = {
    "Plate": "plate",
    "PlateError": "plate",
    "PlateFit": "plate",
    "camera_settings": "plate",
    "check_plate": "plate",
    "plate_dir": "plate",
    "plate_summary": "plate",
    "BoothSegmenter": "segmenter",
    "PlateModel": "segmenter",
    "open_booth_segmenter": "segmenter",
    "add_shadow": "shadow",
    "estimate_shadow": "shadow",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"device.booth.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'device.booth' has no attribute {name!r}")
