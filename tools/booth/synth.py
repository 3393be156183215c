"""Booth composites: a labelled product over a synthetic clean plate, with exact ground truth.

Shared by `make_booth_set.py` (the fixed evaluation set) and `train_plate.py` (composites made
on the fly). A booth frame is modelled as

    frame = jpeg(wb * gain * (alpha * fg + (1 - alpha) * plate * (1 - shadow)) shifted + noise)

where `plate` is the empty booth (a sweep, or for training also coloured paper, a gradient or a
textured table, with light fall-off and a colour cast), `shadow` the product's real cast shadow
(0..1 darkening) and gain, white balance, shift, noise and JPEG (a `Mismatch`) what changes
between calibration and capture. The calibrated plate given to the model is the same booth,
unshifted, with the noise of an 8-frame average. `empty_booth` makes the hard negatives: the
booth with nothing in it, or with a new smudge or cable the plate does not show (target zero).
Only numpy and OpenCV: runs in the device venv and in the training venv.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tools import REPO, SHARED
from tools.model.data import MIN_SOLID, solid_fraction

DATA = SHARED / "data" / "distill"
FOLDERS = ("clothing", "grocery-iconic")
# The model engineer's validation split (held out from the generic student), when it exists.
VAL_LISTS = (Path.home() / ".cache/cutbox-train/runs/mnv2-1.0-256/val.txt",)
TRAIN_TOML = Path(__file__).resolve().parents[1] / "model" / "train.toml"
# The training config whose [data] holdout categories are the unseen products.
DIVERSE_TOML = REPO / "tools" / "model" / "train-diverse.toml"
HARD_CASES = ("plain", "white_on_white", "translucent", "straps", "thin")
# How often composite() makes each hard case when the caller names none (training mix).
CASE_WEIGHTS = (0.35, 0.25, 0.15, 0.1, 0.15)


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


def holdout_patterns(config: Path) -> list[str]:
    """The `[data] holdout` patterns of a training config (the categories no run sees)."""
    return list(tomllib.loads(Path(config).read_text())["data"].get("holdout", []))


def config_products(config: Path, which: str) -> tuple[list[Product], str]:
    """Products by a training config's category-held-out protocol (`[data] dirs`, `holdout`,
    `val_fraction`): 'unseen' the photos of its held-out categories whose label passes its
    `min_solid` (what `tools.model.holdout` lists), 'train'/'val' the hash split of every other
    photo of every source. Returns the products and a line saying where they came from."""
    from tools.model import data as model_data
    from tools.model.holdout import load_config, unseen_pairs

    if which not in ("unseen", "train", "val"):
        raise ValueError(f"which must be 'unseen', 'train' or 'val', got {which!r}")
    cfg = load_config(Path(config))
    d = cfg["data"]
    holdout = d.get("holdout", [])
    if which == "unseen":
        pairs = unseen_pairs(cfg)
    else:
        train, val = model_data.split_pairs(
            model_data.list_pairs([REPO / x for x in d["dirs"]]), d["val_fraction"], holdout
        )
        pairs = train if which == "train" else val
    try:
        shown = Path(config).resolve().relative_to(REPO)
    except ValueError:
        shown = Path(config)
    origin = f"{shown} [data] holdout {which}" if which == "unseen" else f"{shown} seen categories, {which} split"
    return [Product(model_data.pair_key(jpg), jpg, png) for jpg, png in pairs], origin


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


PLATE_KINDS = ("sweep", "paper", "gradient", "texture")  # sweep: make_plate's own; the rest tools.model.booth's


def make_plate(rng: np.random.Generator, h: int, w: int, kind: str = "sweep") -> np.ndarray:
    """An empty booth, float32 RGB 0..1. "sweep": a white or grey sweep with a floor-to-wall
    gradient, vignetting and a tint (the evaluation sets' booth); "paper", "gradient", "texture":
    coloured paper, a coloured gradient or a textured table (tools.model.booth.background) with
    light falling off to one side and a colour cast, for training on many kinds of booth."""
    if kind != "sweep":
        if kind not in PLATE_KINDS:
            raise ValueError(f"plate kind must be one of {PLATE_KINDS}, got {kind!r}")
        from tools.model.booth import background

        bg = background(h, w, rng, kind) / 255.0
        xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
        falloff = 1.0 + rng.uniform(-0.15, 0.15) * xx  # a lamp on one side
        cast = 1.0 + rng.uniform(-0.06, 0.06, 3).astype(np.float32)
        return np.clip(bg * falloff * cast, 0, 1).astype(np.float32)
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


def _open_frame(rgb: np.ndarray, a: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thin, open object made from a product: its outline 2-6 % of its size thick plus 1-3
    struts across (a chair back, a frame, eyeglass rims), the booth showing through the rest."""
    h, w = a.shape
    solid = (a >= 0.5).astype(np.uint8)
    t = max(2, int(round(rng.uniform(0.02, 0.06) * max(h, w))))
    inner = cv2.erode(solid, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * t + 1, 2 * t + 1)))
    ring = np.clip(solid.astype(np.float32) - inner, 0, 1)
    ys, xs = np.nonzero(inner)
    if len(ys) > 0:
        for _ in range(int(rng.integers(1, 4))):
            i, j = rng.integers(len(ys), size=2)
            cv2.line(ring, (int(xs[i]), int(ys[i])), (int(xs[j]), int(ys[j])), 1.0, max(1, t // 2), cv2.LINE_AA)
    ring *= solid
    new_a = np.minimum(cv2.GaussianBlur(ring, (3, 3), 0.6), a) if a.max() > 0 else ring
    if (new_a > 0.5).sum() < 30:  # too small to hollow: keep the product
        return rgb, a
    return rgb, new_a.astype(np.float32)


@dataclass(frozen=True)
class Mismatch:
    """What differs between the calibrated plate and the frame: exposure flicker (relative
    gain range), white-balance drift (per-channel gain range), camera shift (px), sensor
    noise (std range, 0..1 units) and the share of frames JPEG-compressed (quality 60-95)."""

    flicker: float = 0.04
    wb: float = 0.0
    max_shift: float = 1.0
    noise: tuple[float, float] = (0.004, 0.012)
    p_jpeg: float = 0.0


# Training: what a real booth drifts by between calibration and capture (and a bit beyond).
TRAIN_MISMATCH = Mismatch(flicker=0.08, wb=0.03, max_shift=3.0, noise=(0.003, 0.02), p_jpeg=0.4)


def booth_change(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The booth with something the plate does not show, float32 RGB 0..1: a smudge (a soft
    dark or tinted blot) or a cable (a dark curve, 2-6 px) where the product is not."""
    h, w = frame.shape[:2]
    out = frame.copy()
    mark = np.zeros((h, w), np.float32)
    if rng.random() < 0.5:
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.uniform(0.02, 0.08) * w), int(rng.uniform(0.02, 0.06) * h))
        cv2.ellipse(mark, c, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        mark = cv2.GaussianBlur(mark, (0, 0), max(1.0, 0.3 * min(axes)))
        mark *= rng.uniform(0.3, 0.7) / max(float(mark.max()), 1e-6)
        colour = rng.uniform(0.1, 0.5, 3).astype(np.float32)  # dirt, a scuff, a drop of something
    else:
        side = int(rng.integers(4))  # the cable comes in from one edge: top, bottom, left, right
        u = rng.uniform(0, 1)
        p0 = np.array(((u * w, 0.0), (u * w, h - 1.0), (0.0, u * h), (w - 1.0, u * h))[side])
        p2 = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h])
        p1 = (p0 + p2) / 2 + rng.normal(0, 0.1 * max(h, w), 2)
        tt = np.linspace(0, 1, 48)[:, None]
        pts = ((1 - tt) ** 2 * p0 + 2 * (1 - tt) * tt * p1 + tt**2 * p2) * 4
        cv2.polylines(mark, [pts.astype(np.int32)], False, 1.0, int(rng.integers(2, 7)) * 4, cv2.LINE_AA, shift=2)
        mark = cv2.GaussianBlur(mark, (3, 3), 0.7)
        colour = np.full(3, rng.uniform(0.05, 0.3), np.float32)
    m = mark[..., None]
    return (out * (1 - m) + colour[None, None, :] * m).astype(np.float32)


@dataclass
class Composite:
    image: np.ndarray  # HxWx3 uint8: the captured frame
    plate: np.ndarray  # HxWx3 uint8: the calibrated empty booth
    alpha: np.ndarray  # HxW float32 0..1: exact product alpha
    shadow: np.ndarray  # HxW float32 0..1: darkening by the cast shadow (0 under the product)
    case: str


def _pick_case(rng: np.random.Generator, case: str | None, case_weights) -> str:
    if case is None:
        mix = np.asarray(CASE_WEIGHTS if case_weights is None else case_weights, np.float64)
        mix = np.pad(mix, (0, len(HARD_CASES) - len(mix)))  # a run from before the "thin" case
        case = HARD_CASES[rng.choice(len(HARD_CASES), p=mix / mix.sum())]
    if case not in HARD_CASES:
        raise ValueError(f"case must be one of {HARD_CASES}, got {case!r}")
    return case


def _apply_case(case: str, rgb, a, plate, rng):
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
    elif case == "thin":
        rgb, a = _open_frame(rgb, a, rng)
        if rng.random() < 0.5:
            rgb, a = _add_straps(rgb, a, rng)
    return rgb, a, plate


def _place(rgb, a, rng, h: int, w: int, edge: bool):
    """(alpha, fg, box) with the product standing on the floor of the sweep, roughly centred;
    with `edge`, pushed 10-40 % of its size over the left, right or bottom frame edge."""
    ph, pw = a.shape
    s = min(rng.uniform(0.45, 0.8) * h / ph, rng.uniform(0.4, 0.75) * w / pw)
    if edge:
        s *= rng.uniform(1.0, 1.3)
    nh, nw = max(8, int(ph * s)), max(8, int(pw * s))
    rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    a = np.clip(cv2.resize(a, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR), 0, 1)
    x0 = int(np.clip((w - nw) / 2 + rng.normal(0, 0.08) * w, 0, max(w - nw, 0)))
    y0 = int(np.clip(h * rng.uniform(0.8, 0.95) - nh, 0, max(h - nh, 0)))
    solid = a >= 0.5
    if edge and solid.any():  # measured on the solid product, so a soft or empty margin is not what crosses
        over = rng.uniform(0.1, 0.4)
        cols, rows = np.nonzero(solid.any(axis=0))[0], np.nonzero(solid.any(axis=1))[0]
        side = rng.integers(3)
        if side == 0:
            x0 = -(int(cols.min()) + int(over * (cols.max() - cols.min())) + 1)
        elif side == 1:
            x0 = w - int(cols.max()) - 1 + int(over * (cols.max() - cols.min())) + 1
        else:
            y0 = h - int(rows.max()) - 1 + int(over * (rows.max() - rows.min())) + 1
    alpha = np.zeros((h, w), np.float32)
    fg = np.zeros((h, w, 3), np.float32)
    ya, yb, xa, xb = max(y0, 0), min(y0 + nh, h), max(x0, 0), min(x0 + nw, w)
    alpha[ya:yb, xa:xb] = a[ya - y0 : yb - y0, xa - x0 : xb - x0]
    fg[ya:yb, xa:xb] = rgb[ya - y0 : yb - y0, xa - x0 : xb - x0]
    return alpha, fg, (x0, y0, nw, nh)


def _cast_shadow(alpha, rng, box, h: int, w: int) -> np.ndarray:
    """A soft contact shadow at the base plus a drop shadow offset away from the light."""
    x0, y0, nw, nh = box
    strength = rng.uniform(0.15, 0.55)
    dx, dy = rng.uniform(-0.12, 0.12) * nw, rng.uniform(0.0, 0.06) * nh
    squash = rng.uniform(0.25, 1.0)
    m = np.float32([[1, rng.uniform(-0.4, 0.4), dx], [0, squash, (1 - squash) * (y0 + nh) + dy]])
    drop = cv2.warpAffine(alpha, m, (w, h))
    blur = max(1.0, rng.uniform(0.01, 0.05) * w)
    drop = cv2.GaussianBlur(drop, (0, 0), blur)
    contact = np.zeros_like(alpha)
    base_row = y0 + nh - 2
    base = alpha[base_row] > 0.3 if 0 <= base_row < h else np.zeros(w, bool)
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
    return np.clip(strength * drop + rng.uniform(0.2, 0.5) * contact, 0, 0.85).astype(np.float32)


def photograph(frame, plate, alpha, shadow, rng: np.random.Generator, mm: Mismatch, case: str) -> Composite:
    """Between calibration and capture: exposure flicker, white-balance drift, camera shift,
    sensor noise and JPEG on the frame; the plate gets the noise of an 8-frame average."""
    frame = frame * rng.uniform(1 - mm.flicker, 1 + mm.flicker)
    if mm.wb > 0:
        frame = frame * (1 + rng.uniform(-mm.wb, mm.wb, 3)).astype(np.float32)[None, None, :]
    h, w = alpha.shape
    if mm.max_shift > 0:
        sh = rng.uniform(-mm.max_shift, mm.max_shift, 2)
        warp = np.float32([[1, 0, sh[0]], [0, 1, sh[1]]])
        # the same border for frame and truth: a product at the frame edge stays where its alpha is
        frame, alpha, shadow = (
            cv2.warpAffine(x, warp, (w, h), borderMode=cv2.BORDER_REFLECT) for x in (frame, alpha, shadow)
        )
    sigma = rng.uniform(*mm.noise)
    frame = frame + rng.normal(0, sigma, frame.shape).astype(np.float32)
    plate_cal = plate + rng.normal(0, sigma / np.sqrt(8), plate.shape).astype(np.float32)
    to8 = lambda x: np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    image = to8(frame)
    if mm.p_jpeg > 0 and rng.random() < mm.p_jpeg:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return Composite(image, to8(plate_cal), np.clip(alpha, 0, 1), np.clip(shadow, 0, 1), case)


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
    edge: bool = False,
    mismatch: Mismatch | None = None,
    plate_kind: str = "sweep",
    p_change: float = 0.0,
) -> Composite:
    """Place one product in a booth and photograph it; see the module docstring for the model.
    With no `case`, one is drawn from `case_weights` (one per HARD_CASES, default CASE_WEIGHTS).
    `mismatch` (default: `flicker` and `max_shift` with synth's noise) is what drifted since
    calibration; `edge` puts the product over a frame edge; with chance `p_change` the booth
    also shows a `booth_change` (smudge or cable) that is not in the plate and not in the alpha."""
    case = _pick_case(rng, case, case_weights)
    mm = mismatch or Mismatch(flicker=flicker, max_shift=max_shift)
    plate = make_plate(rng, h, w, plate_kind)
    rgb, a, plate = _apply_case(case, rgb, a, plate, rng)
    alpha, fg, box = _place(rgb, a, rng, h, w, edge)
    shadow_full = _cast_shadow(alpha, rng, box, h, w)
    shadow = (shadow_full * (1 - alpha)).astype(np.float32)
    booth = plate * (1 - shadow_full[..., None])
    if p_change > 0 and rng.random() < p_change:
        booth = booth_change(booth, rng)
    frame = alpha[..., None] * fg + (1 - alpha[..., None]) * booth
    return photograph(frame, plate, alpha, shadow, rng, mm, case)


def empty_booth(
    rng: np.random.Generator,
    h: int = 288,
    w: int = 384,
    change: bool = False,
    mismatch: Mismatch | None = None,
    plate_kind: str = "sweep",
) -> Composite:
    """A hard negative: the booth with nothing to cut out (frame = plate, up to `mismatch`),
    or with `change` a new smudge or cable the plate does not show. The target is all zero."""
    plate = make_plate(rng, h, w, plate_kind)
    frame = booth_change(plate, rng) if change else plate
    zero = np.zeros((h, w), np.float32)
    return photograph(frame, plate, zero, zero, rng, mismatch or Mismatch(), "empty")
