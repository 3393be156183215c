"""Training data: distill photos + teacher alpha, a fixed validation split, and augmentation.

The split is by a hash of the file name (stable across machines and runs) and is written
to a list so evaluation can reuse it (`tools/evaluate.py --split`).
"""

from __future__ import annotations

import fnmatch
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from tools.model.booth import background, composite


def is_validation(name: str, fraction: float) -> bool:
    """Deterministic membership of the validation split from the file stem."""
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


def list_pairs(dirs: list[Path]) -> list[tuple[Path, Path]]:
    """(photo, teacher alpha) pairs: NAME.jpg beside NAME.png."""
    pairs = []
    for d in dirs:
        for jpg in sorted(Path(d).glob("*.jpg")):
            png = jpg.with_suffix(".png")
            if png.exists():
                pairs.append((jpg, png))
    if not pairs:
        raise FileNotFoundError(f"no NAME.jpg + NAME.png pairs in {[str(d) for d in dirs]}")
    return pairs


def pair_key(jpg: Path) -> str:
    """`source/stem` (e.g. `trashnet/glass-12`): what `[data] holdout` patterns match."""
    return f"{Path(jpg).parent.name}/{Path(jpg).stem}"


def is_held_out(jpg: Path, holdout: list[str] | tuple[str, ...]) -> bool:
    """Whether a photo belongs to a category kept out of training and validation altogether."""
    key = pair_key(jpg)
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in holdout)


def split_pairs(pairs, fraction: float, holdout: list[str] | tuple[str, ...] = ()):
    """(train, validation) of the categories a run may see. Validation is a hash split of the
    seen categories, so it can choose checkpoints; the `holdout` categories (`held_out`) are
    only ever reported, never chosen on."""
    seen = [p for p in pairs if not is_held_out(p[0], holdout)]
    train = [p for p in seen if not is_validation(p[0].stem, fraction)]
    val = [p for p in seen if is_validation(p[0].stem, fraction)]
    return train, val


def held_out(pairs, holdout: list[str] | tuple[str, ...]):
    """The photos of the categories kept out of training and validation."""
    return [p for p in pairs if is_held_out(p[0], holdout)]


def sampling_weights(pairs, source_weights: dict[str, float] | None) -> np.ndarray:
    """Probability of drawing each photo when batches are drawn by source, not by file: every
    source gets its weight's share of the batches however many photos it has (clothing must not
    drown out the few hundred photos of tins and jars). Sources not named weigh 1."""
    sources = [Path(jpg).parent.name for jpg, _ in pairs]
    if source_weights is None:
        return np.full(len(pairs), 1.0 / max(len(pairs), 1))
    counts = {s: sources.count(s) for s in set(sources)}
    w = np.array([float(source_weights.get(s, 1.0)) / counts[s] for s in sources])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"[data] source_weights {source_weights}: weights must be >= 0 and not all 0")
    return w / w.sum()


def write_split(pairs, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{jpg}\n" for jpg, _ in pairs))


def load_pair(jpg: Path, png: Path, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 and alpha uint8, shrunk so the longer side is at most max_side."""
    bgr = cv2.imread(str(jpg), cv2.IMREAD_COLOR)
    a = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    if bgr is None or a is None:
        raise ValueError(f"cannot read {jpg} / {png}")
    if a.shape != bgr.shape[:2]:
        a = cv2.resize(a, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
    s = max_side / max(bgr.shape[:2])
    if s < 1:
        size = (round(bgr.shape[1] * s), round(bgr.shape[0] * s))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), a


def load_all(pairs, max_side: int, threads: int = 2):
    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(lambda p: load_pair(p[0], p[1], max_side), pairs))


# The teacher is unsure of about 8 % of the photos: it leaves an opaque shirt or box at alpha
# 0.2-0.5 over most of its area. Learning from such a label teaches the student to make an
# opaque product see-through, so training (and the booth composites) skip them.
MIN_SOLID = 0.6


def solid_fraction(alpha: np.ndarray) -> float:
    """Share of the labelled product (alpha > 5 %) that the teacher made solid (> 90 %)."""
    fg = alpha[alpha > 12]
    return float((fg > 229).mean()) if fg.size else 0.0


def extra_label_path(extra: Path, jpg: Path) -> Path:
    """Where `tools/model/label.py` puts a second teacher's label for a distill photo."""
    return Path(extra).expanduser() / jpg.parent.name / f"{jpg.stem}.png"


def blend_labels(items, pairs, extra: Path, weight: float):
    """Each label as (1 - weight) x IS-Net's + weight x a second teacher's: where two teachers
    that err in different places disagree, the student learns their average, not one's mistake."""
    out = []
    for (rgb, a), (jpg, _) in zip(items, pairs):
        path = extra_label_path(extra, jpg)
        b = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if b is None:
            raise FileNotFoundError(
                f"[data] extra_labels: no label {path}; run `python -m tools.model.label` for {extra} first"
            )
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        mixed = (1 - weight) * a.astype(np.float32) + weight * b.astype(np.float32)
        out.append((rgb, np.round(mixed).astype(np.uint8)))
    return out


def training_items(pairs, data_cfg: dict, with_pairs: bool = False):
    """The training photos and labels a run's [data] table asks for: loaded, the ones IS-Net is
    unsure of skipped, then blended with `extra_labels` when set. Returns (items, skipped), or
    (items, skipped, kept pairs) with `with_pairs`."""
    items = load_all(pairs, data_cfg["max_side"])
    min_solid = data_cfg.get("min_solid", 0.0)
    keep = [i for i, (_, a) in enumerate(items) if solid_fraction(a) >= min_solid]
    items, pairs_kept = [items[i] for i in keep], [pairs[i] for i in keep]
    if data_cfg.get("extra_labels"):
        items = blend_labels(items, pairs_kept, data_cfg["extra_labels"], data_cfg.get("extra_weight", 0.5))
    if with_pairs:
        return items, len(pairs) - len(keep), pairs_kept
    return items, len(pairs) - len(keep)


def model_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """What the runtime does: stretch the whole frame to size x size."""
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32)
    x *= rng.uniform(0.6, 1.4)  # exposure
    x *= rng.uniform(0.85, 1.15, 3)  # white balance
    x = (x - x.mean()) * rng.uniform(0.75, 1.25) + x.mean()  # contrast
    if rng.random() < 0.3:
        g = x.mean(axis=2, keepdims=True)
        x = g + (x - g) * rng.uniform(0.3, 1.4)  # saturation
    if rng.random() < 0.4:
        x += rng.normal(0, rng.uniform(2, 10), x.shape)
    x = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.25:
        k = rng.uniform(0.5, 1.5)
        x = cv2.GaussianBlur(x, (0, 0), k)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        x = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return x


def empty_scene(
    rng: np.random.Generator, items: list[tuple[np.ndarray, np.ndarray]], hw: tuple[int, int]
) -> np.ndarray:
    """A frame with nothing to cut out (uint8 RGB): an empty booth background, or a crop of a
    training photo where the teacher found no product (the bare table, shelf or wall). Its
    target is all zero, so the student learns that a plain surface is not a product."""
    h, w = hw
    if items and rng.random() < 0.5:
        for _ in range(12):
            rgb, a = items[rng.integers(len(items))]
            ih, iw = a.shape
            ch, cw = int(ih * rng.uniform(0.25, 0.6)), int(iw * rng.uniform(0.25, 0.6))
            y0, x0 = rng.integers(0, ih - ch + 1), rng.integers(0, iw - cw + 1)
            if a[y0 : y0 + ch, x0 : x0 + cw].max() <= 5:
                return cv2.resize(rgb[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(background(h, w, rng), 0, 255).astype(np.uint8)


def augment(
    rgb: np.ndarray,
    alpha: np.ndarray,
    size: int,
    rng: np.random.Generator,
    p_composite: float,
    pool: list[np.ndarray] | None = None,
    p_clutter: float = 0.0,
    p_match: float = 0.0,
    p_empty: float = 0.0,
    items: list[tuple[np.ndarray, np.ndarray]] | None = None,
    fill: tuple[float, float] = (0.35, 0.9),
) -> tuple[np.ndarray, np.ndarray]:
    """One training pair: (size x size x 3 uint8, size/2 x size/2 float32 alpha). With chance
    `p_empty` the frame is an `empty_scene` (target all zero); else with chance `p_clutter` the
    product goes onto a busy scene made from `pool` (other training photos), else with chance
    `p_composite` onto a booth background (a `p_match` share of those of the product's own
    colour), else it stays in its own photo. `fill` is the range of the composited product's
    size against the frame (0.2-0.95 covers about 5-90 % of its area)."""
    a = alpha.astype(np.float32) / 255.0
    img = rgb
    if p_empty > 0 and rng.random() < p_empty:
        img = empty_scene(rng, items or [], a.shape)
        a = np.zeros(a.shape, np.float32)
    r = rng.random()
    if r < p_clutter + p_composite and (a > 0.5).sum() > 64:
        h, w = a.shape
        ar = rng.uniform(0.75, 1.33)
        scene = pool if (pool and r < p_clutter) else None
        match = scene is None and p_match > 0 and rng.random() < p_match
        out_hw = (int(h * min(ar, 1)), int(w * min(1 / ar, 1)))
        img, a = composite(img, a, rng, out_hw, pool=scene, match=match, fill=fill)
    h, w = a.shape
    # random crop that keeps most of the frame (the runtime sees whole frames), aspect stretch
    if rng.random() < 0.7:
        ch, cw = int(h * rng.uniform(0.7, 1.0)), int(w * rng.uniform(0.7, 1.0))
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        img, a = img[y0 : y0 + ch, x0 : x0 + cw], a[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        img, a = img[:, ::-1], a[:, ::-1]
    if rng.random() < 0.2:  # small rotation
        ang = rng.uniform(-12, 12)
        hh, ww = a.shape
        m = cv2.getRotationMatrix2D((ww / 2, hh / 2), ang, 1.0)
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (ww, hh), borderMode=cv2.BORDER_REFLECT)
        a = cv2.warpAffine(np.ascontiguousarray(a), m, (ww, hh), borderMode=cv2.BORDER_REFLECT)
    img = model_input(np.ascontiguousarray(img), size)
    a = cv2.resize(np.ascontiguousarray(a), (size // 2, size // 2), interpolation=cv2.INTER_AREA)
    return _photometric(img, rng), a.astype(np.float32)


def run_augment(data_cfg: dict, items):
    """`augment` as a run's [data] table sets it: its composite, clutter, colour-matched and
    empty shares and product sizes, with the run's own photos (`items`) as the clutter pool and
    the source of bare surfaces. Training and int8 calibration both use it."""
    pool = [rgb for rgb, _ in items]
    p_composite, p_clutter, p_match = (
        data_cfg["p_composite"],
        data_cfg.get("p_clutter", 0.0),
        data_cfg.get("p_match", 0.0),
    )
    p_empty = data_cfg.get("p_empty", 0.0)
    lo, hi = data_cfg.get("fill", (0.35, 0.9))
    if not 0.05 <= lo <= hi <= 1.0:
        raise ValueError(f"[data] fill = {data_cfg.get('fill')}: use [low, high] with 0.05 <= low <= high <= 1")
    return lambda rgb, alpha, size, rng: augment(
        rgb, alpha, size, rng, p_composite, pool, p_clutter, p_match, p_empty, items, (lo, hi)
    )


def validation_arrays(items, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Un-augmented validation inputs and labels at the output resolution."""
    xs = np.stack([model_input(rgb, size) for rgb, _ in items])
    ys = np.stack([cv2.resize(a, (size // 2, size // 2), interpolation=cv2.INTER_AREA) for _, a in items])
    return xs, ys.astype(np.float32) / 255.0
