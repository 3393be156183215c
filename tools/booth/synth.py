"""Booth composites: a labelled product over a synthetic clean plate, with exact ground truth.

Shared by `make_booth_set.py` (the fixed evaluation set) and `train_plate.py` (composites made
on the fly). A booth frame is modelled as

    frame = gain * (alpha * fg + (1 - alpha) * plate * (1 - shadow)) shifted + noise

where `plate` is the empty booth (white or grey sweep, vignetting, tint), `shadow` the
product's real cast shadow (0..1 darkening) and `gain`, shift and noise the exposure
flicker, camera wobble and sensor noise between calibration and capture. The calibrated
plate given to the model is the same sweep, unshifted, with the noise of an 8-frame average.
Only numpy and OpenCV: runs in the device venv and in the training venv.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tools import SHARED
from tools.model.data import MIN_SOLID, solid_fraction

DATA = SHARED / "data" / "distill"
FOLDERS = ("clothing", "grocery-iconic")
# The model engineer's validation split (held out from the generic student), when it exists.
VAL_LISTS = (Path.home() / ".cache/cutbox-train/runs/mnv2-1.0-256/val.txt",)
TRAIN_TOML = Path(__file__).resolve().parents[1] / "model" / "train.toml"
HARD_CASES = ("plain", "white_on_white", "translucent", "straps")
# How often composite() makes each hard case when the caller names none (training mix).
CASE_WEIGHTS = (0.4, 0.3, 0.15, 0.15)


@dataclass(frozen=True)
class Product:
    name: str  # "folder/stem"
    image: Path
    alpha: Path


def list_products(split: str, data: Path = DATA) -> tuple[list[Product], str]:
    """Products of the 'train' or 'val' split, and where the split came from.

    The split is the model engineer's (tools/model/data.py, its val.txt when the run wrote
    one), so booth evaluation products are held out from the generic student too.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    from tools.model import data as model_data

    pairs = model_data.list_pairs([data / f for f in FOLDERS])
    val_list = next((p for p in VAL_LISTS if p.exists()), None)
    if val_list is not None:
        val_names = {Path(line.strip()).stem for line in val_list.read_text().splitlines() if line.strip()}
        is_val = lambda jpg: jpg.stem in val_names  # noqa: E731
        origin = str(val_list)
    else:
        fraction = tomllib.loads(TRAIN_TOML.read_text())["data"]["val_fraction"]
        is_val = lambda jpg: model_data.is_validation(jpg.stem, fraction)  # noqa: E731
        origin = f"tools/model/data.is_validation(stem, {fraction})"
    out = [Product(f"{jpg.parent.name}/{jpg.stem}", jpg, png) for jpg, png in pairs if is_val(jpg) == (split == "val")]
    return out, origin


def load_product(p: Product, max_side: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """RGB float32 0..1 and alpha float32 0..1, cropped to the product's box."""
    bgr = cv2.imread(str(p.image), cv2.IMREAD_COLOR)
    a = cv2.imread(str(p.alpha), cv2.IMREAD_GRAYSCALE)
    if bgr is None or a is None:
        raise ValueError(f"cannot read product {p.name}")
    if a.shape != bgr.shape[:2]:
        a = cv2.resize(a, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(a > 8)
    if len(ys) < 50 or (a > 127).sum() < 50:
        raise ValueError(f"product {p.name} has an empty alpha")
    # an unsure label composited makes a see-through product whose "exact" ground truth is
    # mostly below the IoU threshold (translucency is made on purpose by the translucent case)
    solid = solid_fraction(a)
    if solid < MIN_SOLID:
        raise ValueError(f"product {p.name} has an unsure label ({solid:.0%} of it solid)")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgb = cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    a = a[y0:y1, x0:x1].astype(np.float32) / 255.0
    s = max_side / max(rgb.shape[:2])
    if s < 1:
        size = (max(1, int(rgb.shape[1] * s)), max(1, int(rgb.shape[0] * s)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    return rgb, a


def make_plate(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An empty booth: white or grey sweep with a floor-to-wall gradient, vignetting and a tint."""
    white = rng.random() < 0.7
    level = rng.uniform(0.82, 0.97) if white else rng.uniform(0.45, 0.78)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= h - 1
    xx /= w - 1
    # The cove of the sweep: the wall fades into the floor around 55-75 % of the height.
    cove = rng.uniform(0.5, 0.75)
    grad = rng.uniform(-0.08, 0.08) * np.tanh((yy - cove) * rng.uniform(3, 8))
    r2 = ((xx - rng.uniform(0.4, 0.6)) ** 2 + (yy - rng.uniform(0.35, 0.6)) ** 2) / 0.5
    vignette = 1.0 - rng.uniform(0.03, 0.25) * r2
    side = 1.0 + rng.uniform(-0.05, 0.05) * (xx - 0.5)  # light from one side
    lum = np.clip(level * vignette * side + grad, 0, 1)
    tint = 1.0 + rng.uniform(-0.03, 0.03, 3).astype(np.float32)
    plate = lum[..., None] * tint[None, None, :]
    # Paper texture: faint low-frequency blotches.
    blot = cv2.resize(rng.normal(0, 1, (6, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    plate = plate + rng.uniform(0.0, 0.012) * blot[..., None]
    return np.clip(plate, 0, 1).astype(np.float32)


def _whiten(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn a product near-white (white shirt, white box) keeping its shading."""
    lum = rgb.mean(axis=2, keepdims=True)
    k = rng.uniform(0.08, 0.25)
    out = 1.0 - (1.0 - lum) * k - rng.uniform(0.0, 0.06)
    return np.clip(out + (rgb - lum) * 0.05, 0, 1).astype(np.float32)


def _add_straps(rgb: np.ndarray, a: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Thin straps (1-4 px curves) hanging off the product, product-coloured, with soft edges."""
    h, w = a.shape
    pad = int(0.35 * max(h, w))
    big_a = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    big_rgb = np.zeros((h + 2 * pad, w + 2 * pad, 3), np.float32)
    big_a[pad : pad + h, pad : pad + w] = a
    big_rgb[pad : pad + h, pad : pad + w] = rgb
    solid = a >= 0.5 * a.max()
    ys, xs = np.nonzero(solid)
    colour = rgb[solid].mean(axis=0) * rng.uniform(0.6, 1.0)
    strap = np.zeros_like(big_a)
    for _ in range(rng.integers(1, 4)):
        i = rng.integers(len(ys))
        p0 = np.array([xs[i] + pad, ys[i] + pad], np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.3, 0.6) * max(h, w)
        p2 = p0 + length * np.array([np.cos(ang), np.sin(ang)])
        p1 = (p0 + p2) / 2 + rng.normal(0, 0.15 * length, 2)
        t = np.linspace(0, 1, 64)[:, None]
        pts = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2) * 4
        thick = int(rng.integers(1, 5))
        cv2.polylines(strap, [pts.astype(np.int32)], False, 1.0, thickness=thick * 4, lineType=cv2.LINE_AA, shift=2)
    strap = cv2.GaussianBlur(strap, (3, 3), 0.6)
    new_a = np.maximum(big_a, strap)
    w_s = np.clip(strap - big_a, 0, 1)[..., None]
    big_rgb = big_rgb * (1 - w_s) + colour[None, None, :] * w_s
    ys, xs = np.nonzero(new_a > 0.02)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return big_rgb[y0:y1, x0:x1], new_a[y0:y1, x0:x1]


@dataclass
class Composite:
    image: np.ndarray  # HxWx3 uint8: the captured frame
    plate: np.ndarray  # HxWx3 uint8: the calibrated empty booth
    alpha: np.ndarray  # HxW float32 0..1: exact product alpha
    shadow: np.ndarray  # HxW float32 0..1: darkening by the cast shadow (0 under the product)
    case: str


def composite(
    rgb: np.ndarray,
    a: np.ndarray,
    rng: np.random.Generator,
    h: int = 288,
    w: int = 384,
    case: str | None = None,
    flicker: float = 0.04,
    max_shift: float = 1.0,
    case_weights: tuple[float, ...] | None = None,
) -> Composite:
    """Place one product in a booth and photograph it; see the module docstring for the model.
    With no `case`, one is drawn from `case_weights` (one per HARD_CASES, default CASE_WEIGHTS)."""
    if case is None:
        mix = np.asarray(CASE_WEIGHTS if case_weights is None else case_weights, np.float64)
        case = HARD_CASES[rng.choice(len(HARD_CASES), p=mix / mix.sum())]
    if case not in HARD_CASES:
        raise ValueError(f"case must be one of {HARD_CASES}, got {case!r}")
    plate = make_plate(rng, h, w)
    if case == "white_on_white":
        # A white product on a white sweep: both bright.
        plate = np.clip(plate / max(plate.mean(), 1e-3) * rng.uniform(0.86, 0.95), 0, 1)
        rgb = _whiten(rgb, rng)
    elif case == "translucent":
        # Glass / sheer fabric: a part of the product lets 25-70 % of the booth through.
        cut = rng.uniform(0.3, 0.8)
        yy = np.linspace(0, 1, a.shape[0])[:, None]
        part = (yy < cut) if rng.random() < 0.5 else (yy >= cut)
        a = np.where(part, a * rng.uniform(0.3, 0.75), a).astype(np.float32)
    elif case == "straps":
        rgb, a = _add_straps(rgb, a, rng)

    # Scale and place: the product stands on the floor of the sweep, roughly centred.
    ph, pw = a.shape
    s = min(rng.uniform(0.45, 0.8) * h / ph, rng.uniform(0.4, 0.75) * w / pw)
    nh, nw = max(8, int(ph * s)), max(8, int(pw * s))
    rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    a = np.clip(cv2.resize(a, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR), 0, 1)
    x0 = int(np.clip((w - nw) / 2 + rng.normal(0, 0.08) * w, 0, w - nw))
    y0 = int(np.clip(h * rng.uniform(0.8, 0.95) - nh, 0, h - nh))
    alpha = np.zeros((h, w), np.float32)
    fg = np.zeros((h, w, 3), np.float32)
    alpha[y0 : y0 + nh, x0 : x0 + nw] = a
    fg[y0 : y0 + nh, x0 : x0 + nw] = rgb

    # Cast shadow: a soft contact shadow at the base plus a drop shadow offset away from the light.
    strength = rng.uniform(0.15, 0.55)
    dx, dy = rng.uniform(-0.12, 0.12) * nw, rng.uniform(0.0, 0.06) * nh
    squash = rng.uniform(0.25, 1.0)
    m = np.float32([[1, rng.uniform(-0.4, 0.4), dx], [0, squash, (1 - squash) * (y0 + nh) + dy]])
    drop = cv2.warpAffine(alpha, m, (w, h))
    blur = max(1.0, rng.uniform(0.01, 0.05) * w)
    drop = cv2.GaussianBlur(drop, (0, 0), blur)
    contact = np.zeros_like(alpha)
    base = alpha[min(h - 1, y0 + nh - 2)] > 0.3
    if base.any():
        cx = np.nonzero(base)[0]
        cv2.ellipse(
            contact,
            (int(cx.mean()), y0 + nh - 1),
            (max(2, int((cx.max() - cx.min()) / 2 + 4)), max(2, int(0.03 * h))),
            0,
            0,
            360,
            1.0,
            -1,
        )
        contact = cv2.GaussianBlur(contact, (0, 0), max(1.0, 0.01 * w))
    shadow_full = np.clip(strength * drop + rng.uniform(0.2, 0.5) * contact, 0, 0.85)
    shadow = (shadow_full * (1 - alpha)).astype(np.float32)

    frame = alpha[..., None] * fg + (1 - alpha[..., None]) * plate * (1 - shadow_full[..., None])
    # Between calibration and capture: exposure flicker, sub-pixel camera wobble, sensor noise.
    frame = frame * rng.uniform(1 - flicker, 1 + flicker)
    if max_shift > 0:
        sh = rng.uniform(-max_shift, max_shift, 2)
        frame = cv2.warpAffine(frame, np.float32([[1, 0, sh[0]], [0, 1, sh[1]]]), (w, h), borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(alpha, np.float32([[1, 0, sh[0]], [0, 1, sh[1]]]), (w, h))
        shadow = cv2.warpAffine(shadow, np.float32([[1, 0, sh[0]], [0, 1, sh[1]]]), (w, h))
    sigma = rng.uniform(0.004, 0.012)
    frame = frame + rng.normal(0, sigma, frame.shape).astype(np.float32)
    plate_cal = plate + rng.normal(0, sigma / np.sqrt(8), plate.shape).astype(np.float32)
    to8 = lambda x: np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    return Composite(to8(frame), to8(plate_cal), np.clip(alpha, 0, 1), np.clip(shadow, 0, 1), case)
