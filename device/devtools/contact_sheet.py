"""Before/after contact sheet: each photo, then its cut-out in every preset, one row per photo.

    cutbox contact-sheet --out docs/contact-sheet.png            # bundled samples, the model
    cutbox contact-sheet a.jpg b.jpg --alpha-dir DIR --out s.png  # masks from DIR/<stem>.png

With --alpha-dir the mask comes from a soft alpha PNG beside each photo (e.g. the teacher
labels in ../shared/data/distill/clothing), shrunk to 256 px like the model's output, so the
sheet shows the matte/compose stages without a trained model. Transparent presets are shown
over a checkerboard.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from device.compose import compose
from device.config import CutboxConfig, load_config
from device.matte import refine
from device.segment.base import Segmenter
from device.sources.files import read_frame
from device.types import Frame, Mask

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CELL = 360
MASK_PX = 256


class AlphaDirSegmenter:
    """A stand-in segmenter: the soft alpha <dir>/<stem>.png of each photo, at model resolution."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def segment(self, frame: Frame) -> Mask:
        stem = Path(frame.source.split(":", 1)[-1]).stem
        path = self.folder / f"{stem}.png"
        alpha = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if alpha is None:
            raise ValueError(f"no alpha {path} for {frame.source}: put <stem>.png beside it or drop --alpha-dir")
        prob = cv2.resize(alpha, (MASK_PX, MASK_PX), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        return Mask(frame=frame, prob=prob, model="alpha-dir", backend="cpu")


def _checker(h: int, w: int, step: int = 16) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.where(((x // step + y // step) % 2)[..., None] == 0, 205, 245).astype(np.uint8).repeat(3, axis=2)


def _fit(img: np.ndarray) -> np.ndarray:
    """The image scaled into a CELL x CELL tile (letterboxed on mid grey)."""
    h, w = img.shape[:2]
    s = CELL / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    tile = np.full((CELL, CELL, 3), 128, np.uint8)
    y, x = (CELL - small.shape[0]) // 2, (CELL - small.shape[1]) // 2
    tile[y : y + small.shape[0], x : x + small.shape[1]] = small
    return tile


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    cv2.rectangle(tile, (0, 0), (CELL, 22), (0, 0, 0), -1)
    cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def make_sheet(
    photos: Sequence[Path], out: Path, cfg: CutboxConfig, segmenter, presets: Sequence[str] | None = None
) -> Path:
    """Write the sheet PNG to `out` and return its path."""
    names = list(presets or cfg.compose.presets)
    rows = []
    for path in photos:
        frame = read_frame(path)  # same decoding as `cutout`: EXIF, ICC, 16-bit, CMYK, size limit
        matte = refine(segmenter.segment(frame), cfg.matte)
        tiles = [_label(_fit(frame.image), f"{Path(path).name}")]
        for name in names:
            cut = compose(matte, cfg.compose.presets[name])
            rgb = cut.rgb
            if cut.transparent:
                a3 = cv2.cvtColor(cut.alpha, cv2.COLOR_GRAY2RGB)
                bg = _checker(*rgb.shape[:2])
                rgb = cv2.add(
                    cv2.multiply(rgb, a3, scale=1 / 255), cv2.multiply(bg, cv2.bitwise_not(a3), scale=1 / 255)
                )
            tiles.append(_label(_fit(rgb), f"{name} {cut.rgb.shape[1]}x{cut.rgb.shape[0]}"))
        rows.append(np.hstack(tiles))
    if not rows:
        raise ValueError("no photos given")
    sheet = np.vstack(rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"cannot write {out}")
    return out


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    photos = [Path(p) for p in args.photos] or sorted(SAMPLES.glob("*.jpg"))
    for name in args.preset or []:
        if name not in cfg.compose.presets:
            print(
                f"contact-sheet: unknown preset {name!r}: choose from {', '.join(sorted(cfg.compose.presets))}",
                file=sys.stderr,
            )
            return 2
    segmenter: AlphaDirSegmenter | Segmenter
    if args.alpha_dir:
        segmenter = AlphaDirSegmenter(Path(args.alpha_dir))
    else:
        from device.segment import open_segmenter

        segmenter = open_segmenter(cfg.segment)
    out = make_sheet(photos, Path(args.out), cfg, segmenter, args.preset)
    print(out)
    return 0
