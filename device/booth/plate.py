"""The clean plate: the empty booth, averaged over several frames, with the camera settings
it was taken with; and the check that it still fits the frame in front of the camera.

A plate only helps while the booth looks the way it did at calibration. `check_plate` says
when that stops being true - the camera reports other settings, the resolution changed,
the camera was bumped (global shift of the border, by phase correlation), or the light
drifted (brightness or white balance of the border) - so the segmenter can fall back to
the generic model and tell the operator to recalibrate, with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from device.errors import Conflict
from device.types import Frame

log = logging.getLogger(__name__)

PLATE_DIR = "plate"
PLATE_PNG = "plate.png"
PLATE_JSON = "plate.json"
MIN_TEXTURE = 1.0  # std of the high-passed plate border (0..255 units) below which a shift is unmeasurable
CHECK_WIDTH = 256  # the fit checks run at this width (cheap, and shift is measured in these pixels)

# Canonical camera-setting keys, and the names sources use for them (picamera2 metadata
# names, OpenCV/UVC-ish names). A setting only counts when the source reports it.
SETTING_ALIASES: dict[str, tuple[str, ...]] = {
    "exposure_us": ("exposure_us", "ExposureTime", "exposure_time", "exposure"),
    "gain": ("gain", "AnalogueGain", "analogue_gain"),
    "digital_gain": ("digital_gain", "DigitalGain"),
    "wb_gains": ("wb_gains", "ColourGains", "colour_gains", "white_balance"),
    "colour_temperature": ("colour_temperature", "ColourTemperature", "wb_temperature"),
}


class PlateError(Conflict):
    """Calibration or plate loading failed; one line with the fix."""


def area_resize(src: np.ndarray, w: int, h: int) -> np.ndarray:
    """INTER_AREA resize by exact halvings first (OpenCV's fast 2x2 path), then one step;
    the same as device.segment.litert.area_resize, kept here so the training tools can use
    this module without the runtime's config stack."""
    while src.shape[1] >= 2 * w and src.shape[0] >= 2 * h:
        hh, ww = src.shape[0] // 2, src.shape[1] // 2
        src = cv2.resize(src[: hh * 2, : ww * 2], (ww, hh), interpolation=cv2.INTER_AREA)
    if src.shape[:2] != (h, w):
        src = cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA)
    return src


def camera_settings(info: dict) -> dict:
    """The exposure, gain and white-balance settings a frame's `info` reports, canonical keys."""
    out: dict = {}
    for key, names in SETTING_ALIASES.items():
        for name in names:
            if name in info and info[name] is not None:
                v = info[name]
                out[key] = [float(x) for x in v] if isinstance(v, (list, tuple, np.ndarray)) else float(v)
                break
    return out


@dataclass(frozen=True)
class Plate:
    """The empty booth (HxWx3 uint8 RGB at the frames' full resolution) and how it was taken."""

    image: np.ndarray
    settings: dict
    created: float
    n_frames: int
    method: str  # "median" or "mean"
    source: str = ""
    path: Path | None = None
    info: dict = field(default_factory=dict)  # e.g. noise measured while calibrating

    @property
    def resolution(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @cached_property
    def check_image(self) -> np.ndarray:
        """The plate at CHECK_WIDTH as float32 RGB, made once."""
        return _small(self.image)

    def resized(self, w: int, h: int) -> np.ndarray:
        """The plate stretched to the model's input size (uint8 RGB), cached per size."""
        cache = self.__dict__.setdefault("_resized", {})
        if (w, h) not in cache:
            cache[(w, h)] = np.ascontiguousarray(area_resize(self.image, w, h))
        return cache[(w, h)]

    def save(self, directory: str | Path) -> Path:
        """Write plate.png + plate.json into `directory` (atomically: a reader never sees half)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise PlateError(f"cannot encode the plate as PNG ({self.image.shape})")
        meta = {
            "resolution": list(self.resolution),
            "settings": self.settings,
            "created": self.created,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
            "n_frames": self.n_frames,
            "method": self.method,
            "source": self.source,
            "info": self.info,
        }
        for name, data in ((PLATE_PNG, png.tobytes()), (PLATE_JSON, json.dumps(meta, indent=1).encode())):
            tmp = d / (name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, d / name)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> Plate:
        """Read a plate saved by `save` (raises PlateError naming what is missing or bad)."""
        d = Path(directory)
        png, meta_path = d / PLATE_PNG, d / PLATE_JSON
        if not png.exists() or not meta_path.exists():
            raise PlateError(f"no clean plate in {d} (run `cutbox calibrate` on the empty booth)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PlateError(f"plate metadata {meta_path} unreadable: {exc} (run `cutbox calibrate` again)") from None
        bgr = cv2.imread(str(png), cv2.IMREAD_COLOR)
        if bgr is None:
            raise PlateError(f"plate image {png} unreadable (run `cutbox calibrate` again)")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if list(meta.get("resolution", [])) != [image.shape[1], image.shape[0]]:
            raise PlateError(
                f"plate {png} is {image.shape[1]}x{image.shape[0]} but its metadata says {meta.get('resolution')} (run `cutbox calibrate` again)"
            )
        return cls(
            image=image,
            settings=meta.get("settings", {}),
            created=float(meta.get("created", 0.0)),
            n_frames=int(meta.get("n_frames", 0)),
            method=str(meta.get("method", "")),
            source=str(meta.get("source", "")),
            path=d,
            info=meta.get("info", {}),
        )


def plate_dir(data_dir: str | Path) -> Path:
    """Where a station keeps its plate: <station.data_dir>/plate/."""
    return Path(data_dir) / PLATE_DIR


def average_frames(images: list[np.ndarray], method: str = "median") -> np.ndarray:
    """Per-pixel median (robust to a passing hand or one flickered frame) or mean of the frames."""
    if method not in ("median", "mean"):
        raise PlateError(f"plate average must be 'median' or 'mean', got {method!r}")
    stack = np.stack(images)
    avg = np.median(stack, axis=0) if method == "median" else stack.mean(axis=0, dtype=np.float32)
    return np.clip(np.rint(avg), 0, 255).astype(np.uint8)


# ---- fit checks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlateFit:
    """Whether the plate still fits a frame; `reason` says why not (or what was measured)."""

    ok: bool
    reason: str
    measures: dict = field(default_factory=dict)


def _small(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    sh = max(8, round(h * CHECK_WIDTH / w))
    return cv2.resize(image, (CHECK_WIDTH, sh), interpolation=cv2.INTER_AREA).astype(np.float32)


def _border_mask(h: int, w: int, border: float) -> np.ndarray:
    b = max(2, int(round(border * min(h, w))))
    m = np.ones((h, w), bool)
    m[b:-b, b:-b] = False
    return m


def settings_change(plate_settings: dict, frame_settings: dict, tolerance: float) -> str:
    """'' when every setting both sides report is within `tolerance` (relative), else what moved."""
    changes = []
    for key in SETTING_ALIASES:
        if key not in plate_settings or key not in frame_settings:
            continue
        a, b = np.atleast_1d(plate_settings[key]).astype(float), np.atleast_1d(frame_settings[key]).astype(float)
        if a.shape != b.shape:
            changes.append(f"{key} {plate_settings[key]} -> {frame_settings[key]}")
            continue
        rel = np.abs(b - a) / np.maximum(np.abs(a), 1e-9)
        if np.any(rel > tolerance):
            fmt = lambda v: "/".join(f"{x:g}" for x in np.atleast_1d(v))  # noqa: E731
            changes.append(f"{key} {fmt(a)} -> {fmt(b)}")
    return ", ".join(changes)


def _highpass(img: np.ndarray, sigma: float) -> np.ndarray:
    g = img.mean(axis=2) if img.ndim == 3 else img
    g = g.astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), sigma)


def _lk_refine(
    hp_p: np.ndarray, hp_f: np.ndarray, mask: np.ndarray, dx: float, dy: float, steps: int = 4
) -> tuple[float, float]:
    """Lucas-Kanade steps for a global translation on the border pixels (robust to product pixels)."""
    h, w = hp_p.shape
    inner = mask.copy()
    inner[:3], inner[-3:], inner[:, :3], inner[:, -3:] = False, False, False, False
    for _ in range(steps):
        pw = cv2.warpAffine(hp_p, np.array([[1, 0, dx], [0, 1, dy]], np.float32), (w, h), borderMode=cv2.BORDER_REFLECT)
        gx = cv2.Sobel(pw, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(pw, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        r = (hp_f - pw)[inner]
        a = np.stack([gx[inner], gy[inner]], axis=1)
        keep = np.abs(r) < 4 * (np.median(np.abs(r)) + 1e-3)  # drop product pixels that reach the border
        ata = a[keep].T @ a[keep]
        if np.linalg.cond(ata) > 1e6:
            break
        step = np.linalg.solve(ata, -a[keep].T @ r[keep])
        dx, dy = dx + float(step[0]), dy + float(step[1])
        if np.hypot(*step) < 0.02:
            break
    return dx, dy


class _PlateRef:
    """What the fit checks need from the plate at one small size, computed once per size."""

    def __init__(self, plate_small: np.ndarray, border: float):
        h, w = plate_small.shape[:2]
        self.shape = plate_small.shape
        self.mask = _border_mask(h, w, border)
        self.ring = np.flatnonzero(self.mask.ravel())[::3]  # every third ring pixel is plenty for medians
        pb = plate_small.reshape(-1, 3)[self.ring].astype(np.float32) + 1.0
        self.lum = pb.mean(axis=1)
        self.chroma = np.array([np.median(pb[:, 0] / pb[:, 1]), np.median(pb[:, 2] / pb[:, 1])])
        self.half = (max(8, w // 2), max(8, h // 2))
        self.mask2 = cv2.resize(self.mask.astype(np.uint8), self.half, interpolation=cv2.INTER_NEAREST).astype(
            np.float32
        )
        self.hp2 = _highpass(cv2.resize(plate_small, self.half, interpolation=cv2.INTER_AREA), 2.0) * self.mask2
        # How much the border has to align on; below MIN_TEXTURE a shift is unmeasurable and harmless.
        self.texture = float(np.std(_highpass(plate_small, 4.0)[self.mask]))
        self.plate_small = plate_small


def _plate_ref(plate: Plate, plate_small: np.ndarray, border: float) -> _PlateRef:
    cache = plate.__dict__.setdefault("_refs", {})
    key = (plate_small.shape, round(border, 4))
    ref = cache.get(key)
    if ref is None or ref.plate_small is not plate_small:  # Plate.resized/check_image hand out one array per size
        ref = cache[key] = _PlateRef(plate_small, border)
    return ref


def measure_shift(
    plate_small: np.ndarray,
    frame_small: np.ndarray,
    mask: np.ndarray,
    refine_above: float = 0.0,
    ref: _PlateRef | None = None,
) -> tuple[float, float, float]:
    """(dx, dy, response): global shift of the frame against the plate on the border ring,
    in pixels of these images.

    Phase correlation of the high-passed border at half size (light level removed, product
    masked out) gives a coarse shift and its confidence. The mask's own edges pull it
    towards zero, so when the coarse shift exceeds `refine_above`, Lucas-Kanade steps at
    full size refine it to a sub-pixel estimate (a fitting plate never pays for that)."""
    ref = ref or _PlateRef(plate_small, 0.1)
    f2 = cv2.resize(frame_small, ref.half, interpolation=cv2.INTER_AREA)
    (dx, dy), response = cv2.phaseCorrelate(ref.hp2, _highpass(f2, 2.0) * ref.mask2)
    dx, dy = 2.0 * dx, 2.0 * dy
    if np.hypot(dx, dy) > refine_above:
        dx, dy = _lk_refine(_highpass(plate_small, 4.0), _highpass(frame_small, 4.0), mask, dx, dy)
    return float(dx), float(dy), float(response)


def shift_confirmed(
    plate_small: np.ndarray, frame_small: np.ndarray, mask: np.ndarray, dx: float, dy: float, gain: float = 0.75
) -> bool:
    """A measured shift counts only if the plate moved by it explains the border clearly better
    than the plate where it was (median abs residual of the high-passed border drops by 25 %).
    On a featureless sweep the estimate is noise, the residuals stay alike, and the plate,
    having nothing to misalign, still fits."""
    hp_p, hp_f = _highpass(plate_small, 4.0), _highpass(frame_small, 4.0)
    h, w = hp_p.shape
    moved = cv2.warpAffine(hp_p, np.array([[1, 0, dx], [0, 1, dy]], np.float32), (w, h), borderMode=cv2.BORDER_REFLECT)
    if np.std(hp_p[mask]) < MIN_TEXTURE:
        return False  # nothing on the border to align: no shift can be measured (or would matter)
    r0 = np.median(np.abs(hp_f - hp_p)[mask])
    r1 = np.median(np.abs(hp_f - moved)[mask])
    return bool(r1 < gain * r0)


def check_plate(
    plate: Plate,
    frame: Frame,
    border: float = 0.1,
    max_shift_px: float = 1.5,
    max_light_drift: float = 0.08,
    max_wb_drift: float = 0.03,
    max_settings_drift: float = 0.02,
    min_shift_response: float = 0.05,
    frame_small: np.ndarray | None = None,
    plate_small: np.ndarray | None = None,
) -> PlateFit:
    """Does the plate still fit this frame? Checks, cheapest first: resolution, reported
    camera settings, light level and white balance of the border, global camera shift.

    `frame_small`/`plate_small`: the same small copies of both (e.g. the model input the
    segmenter made anyway), to skip the resize; by default both go to CHECK_WIDTH."""
    if frame.size != plate.resolution:
        pw, ph = plate.resolution
        fw, fh = frame.size
        return PlateFit(False, f"resolution changed: plate {pw}x{ph}, frame {fw}x{fh} (recalibrate)")
    moved = settings_change(plate.settings, camera_settings(frame.info), max_settings_drift)
    if moved:
        return PlateFit(False, f"camera settings changed: {moved} (recalibrate)")

    if frame_small is not None and plate_small is not None:
        p, f = plate_small, frame_small
        if p.shape != f.shape:
            raise ValueError(f"frame_small {f.shape} and plate_small {p.shape} differ")
    else:
        p, f = plate.check_image, _small(frame.image)
    ref = _plate_ref(plate, p, border)
    fb = f.reshape(-1, 3)[ref.ring].astype(np.float32) + 1.0
    light = float(np.median(fb.mean(axis=1) / ref.lum) - 1.0)
    wb = np.array([np.median(fb[:, 0] / fb[:, 1]), np.median(fb[:, 2] / fb[:, 1])]) / ref.chroma - 1.0
    wb_drift = float(np.abs(wb).max())
    shift, response = 0.0, 0.0
    if ref.texture >= MIN_TEXTURE:  # a plain sweep has nothing to align: no measurable move, none that matters
        dx, dy, response = measure_shift(p, f, ref.mask, max_shift_px / 3, ref)
        shift = float(np.hypot(dx, dy)) if response >= min_shift_response else 0.0
        if shift > max_shift_px and not shift_confirmed(p, f, ref.mask, dx, dy):
            shift = 0.0  # the estimate does not explain the border better than no move: noise
    measures = {
        "light": round(light, 4),
        "wb": round(wb_drift, 4),
        "shift_px": round(shift, 2),
        "shift_response": round(response, 3),
        "border_texture": round(ref.texture, 2),
    }
    if abs(light) > max_light_drift:
        word = "brighter" if light > 0 else "darker"
        return PlateFit(
            False,
            f"light drifted: border {abs(light) * 100:.0f} % {word} than the plate (limit {max_light_drift * 100:.0f} %; recalibrate)",
            measures,
        )
    if wb_drift > max_wb_drift:
        return PlateFit(
            False,
            f"white balance drifted: border r/g, b/g off by {wb_drift * 100:.1f} % (limit {max_wb_drift * 100:.1f} %; recalibrate)",
            measures,
        )
    if shift > max_shift_px:
        return PlateFit(
            False,
            f"camera moved: border shifted {shift:.1f} px at {CHECK_WIDTH} px width (limit {max_shift_px:g}; recalibrate)",
            measures,
        )
    return PlateFit(
        True, f"plate fits (light {light * 100:+.1f} %, wb {wb_drift * 100:.1f} %, shift {shift:.1f} px)", measures
    )


BACKGROUND_DIFF = 20.0  # 0..255: a background pixel this far from the exposure-matched plate does not fit
SAME_AS_PLATE = 6.0  # 0..255: a pixel this close to the exposure-matched plate shows the empty booth
MIN_UNCHANGED = 0.02  # share of the frame: below this, unchanged "product" is a white product's face, not a booth
BACKGROUND_GRID = 64  # check_background runs on this grid (square, like the model's input)


def check_background(
    frame_small: np.ndarray,
    plate_small: np.ndarray,
    prob: np.ndarray,
    max_mismatch: float,
    max_unchanged: float = 1.0,
    min_background: float = 0.1,
    border: float = 0.1,
    max_unchanged_share: float = 1.0,
) -> PlateFit:
    """Does the plate still fit the frame where the plate model found no product? Run after
    the plate model, on its output grid: outside the predicted product (grown by a few pixels)
    the frame should be the plate up to exposure and white balance (matched per channel by
    the median ratio), sensor noise and the product's cast shadow (darker in every channel by
    about the same factor, left out); exposure and white balance are matched on the border ring. `mismatch` is the share of that background that differs
    otherwise; above `max_mismatch` the plate model was looking at a booth it does not know
    (camera moved, light changed, the booth rearranged) and its mask cannot be trusted."""
    oh, ow = BACKGROUND_GRID, BACKGROUND_GRID
    f = area_resize(frame_small, ow, oh).astype(np.float32) + 1.0
    p = area_resize(plate_small, ow, oh).astype(np.float32) + 1.0
    prob = cv2.resize(prob, (ow, oh), interpolation=cv2.INTER_AREA)
    called = prob >= 0.5
    product = cv2.dilate((prob >= 0.25).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    bg = ~product
    share = float(bg.mean())
    ratio_all = f / p
    # exposure and white balance from the background on the border ring (what check_plate read
    # before the model ran), so a change inside the booth is not averaged away
    anchor = bg & _border_mask(oh, ow, border)
    anchor = anchor if anchor.sum() >= 20 else bg
    gain = np.median(ratio_all[anchor], axis=0) if anchor.sum() >= 20 else np.ones(3, np.float32)
    resid = np.abs(f - p * gain).max(axis=2)
    # the model's product where the frame is still the plate: what no difference can explain
    # (as a share of the whole frame: a thin or open product's holes are a few per cent of it,
    # a booth whose texture the plate model takes for product most of it)
    core = cv2.erode(called.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    unchanged_cells = core & (resid < SAME_AS_PLATE)
    unchanged = float(unchanged_cells.mean())
    # and as a share of what it calls product: a small product on a textured table the model
    # half takes for product is a few per cent of the frame but most of its "product"
    unchanged_share = float(unchanged_cells.sum() / max(core.sum(), 1))
    measures = {
        "background_share": round(share, 3),
        "product_unchanged": round(unchanged, 3),
        "product_unchanged_share": round(unchanged_share, 3),
    }
    if unchanged > max_unchanged or (unchanged_share > max_unchanged_share and unchanged > MIN_UNCHANGED):
        return PlateFit(
            False,
            f"plate does not fit: the plate model calls {unchanged * 100:.0f} % of the frame "
            f"({unchanged_share * 100:.0f} % of its product) product where it is the unchanged plate (limits "
            f"{max_unchanged * 100:.0f} % and {max_unchanged_share * 100:.0f} %): a booth the plate model does not "
            "know? (generic mode)",
            measures,
        )
    if share < min_background:
        return PlateFit(
            True, f"background not checked: the product fills {100 - share * 100:.0f} % of the frame", measures
        )
    rel = ratio_all[bg] / gain
    top = rel.max(axis=1)
    shadow_like = (top < 1.0) & (top - rel.min(axis=1) < 0.12)
    mismatch = float(((resid[bg] > BACKGROUND_DIFF) & ~shadow_like).mean())
    measures["background_mismatch"] = round(mismatch, 4)
    if mismatch > max_mismatch:
        return PlateFit(
            False,
            f"plate does not fit: {mismatch * 100:.0f} % of the background outside the product differs from the plate "
            f"(limit {max_mismatch * 100:.0f} %): camera moved or light changed? (recalibrate)",
            measures,
        )
    return PlateFit(True, f"background fits ({mismatch * 100:.1f} % differs)", measures)


def check_plate_cfg(plate: Plate, frame: Frame, cfg, **small) -> PlateFit:
    """check_plate with the thresholds of a BoothConfig."""
    return check_plate(
        plate,
        frame,
        cfg.border,
        cfg.max_shift_px,
        cfg.max_light_drift,
        cfg.max_wb_drift,
        cfg.max_settings_drift,
        **small,
    )


def plate_summary(plate: Plate) -> dict:
    """What `cutbox calibrate` prints and the API's calibrate returns."""
    w, h = plate.resolution
    return {
        "path": str(plate.path / PLATE_PNG) if plate.path else None,
        "width": w,
        "height": h,
        "frames": plate.n_frames,
        "average": plate.method,
        "settings": plate.settings,
        "created": plate.created,
        "noise_std": plate.info.get("noise_std"),
    }
