"""`[camera]` controls for picamera2: what a catalog booth needs the ISP not to do on its own.

Auto exposure and auto white balance re-decide on every frame, so the same white backdrop
comes out a little brighter or warmer from shot to shot, and a spin set flickers. A booth
either locks them once the picture has settled (`exposure = "lock"`: the values the AE/AWB
loops chose after `settle_s` are fixed) or sets them outright (`"fixed"`). Camera Module 3
also focuses: `af_mode = "manual"` with a lens position (dioptres, 1 / distance in metres)
keeps the focus on the turntable instead of hunting.

The control names and values are libcamera's as picamera2 takes them (`set_controls`); the
AF mode is its enum value, so nothing here imports libcamera.
"""

from __future__ import annotations

from typing import Any

AF_MODES = {"manual": 0, "auto": 1, "continuous": 2}  # libcamera controls.AfModeEnum


def start_controls(cfg) -> dict[str, Any]:
    """Controls to set when the camera starts (`cfg` is a CameraConfig)."""
    controls: dict[str, Any] = {}
    if cfg.exposure == "fixed":
        controls.update(AeEnable=False, ExposureTime=int(cfg.exposure_us), AnalogueGain=float(cfg.analogue_gain))
    if cfg.colour_gains is not None:
        controls.update(AwbEnable=False, ColourGains=tuple(float(g) for g in cfg.colour_gains))
    if cfg.af_mode != "default":
        controls["AfMode"] = AF_MODES[cfg.af_mode]
        if cfg.af_mode == "manual":
            controls["LensPosition"] = float(cfg.lens_position)
    return controls


def lock_controls(cfg, metadata: dict[str, Any]) -> dict[str, Any]:
    """After the settle time of `exposure = "lock"`: fix what AE and AWB chose (from a
    frame's metadata), so every later shot is exposed and balanced alike."""
    if cfg.exposure != "lock":
        return {}
    missing = [k for k in ("ExposureTime", "AnalogueGain") if metadata.get(k) is None]
    if missing:
        raise ValueError(f"camera metadata lacks {', '.join(missing)}: cannot lock the exposure")
    controls: dict[str, Any] = {
        "AeEnable": False,
        "ExposureTime": int(metadata["ExposureTime"]),
        "AnalogueGain": float(metadata["AnalogueGain"]),
    }
    if cfg.colour_gains is None and metadata.get("ColourGains") is not None:
        controls.update(AwbEnable=False, ColourGains=tuple(float(g) for g in metadata["ColourGains"]))
    return controls


def exposure_start_ns(metadata: dict[str, Any]) -> int | None:
    """When a frame began to expose, in ns of CLOCK_MONOTONIC: libcamera's SensorTimestamp is
    when its first line was read out, ExposureTime (us) earlier it started."""
    stamp = metadata.get("SensorTimestamp")
    if stamp is None:
        return None
    return int(stamp) - 1000 * int(metadata.get("ExposureTime") or 0)


def exposed_after(metadata: dict[str, Any], asked_ns: int) -> bool:
    """True when the frame started exposing at or after `asked_ns` (a frame without a
    timestamp is taken: nothing says it is old)."""
    start = exposure_start_ns(metadata)
    return start is None or start >= asked_ns
