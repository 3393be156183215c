"""compose stage: Matte -> Cutout at the preset's output size.

Order: crop box (alpha above a cut-off) -> placement (size, margins, fill, centre or floor)
-> canvas (colour / image / transparent) -> shadow -> product blended on top. Only the
product's own rectangle is resampled from the frame (warpAffine reads just what it needs),
so the cost follows the output size, not the camera's.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.compose import background, color, layout, shadow
from device.config import PresetConfig
from device.types import Cutout, Matte

__all__ = ["compose", "mask_canvas", "subject_box"]


def mask_canvas(height: int, width: int) -> np.ndarray:
    """The output alpha (height x width uint8, contents unset) as a view of rows one byte longer
    whose first byte is 0: exactly an unfiltered PNG's rows, so export writes the 8-bit mask
    without copying it (device.export.gray_png)."""
    rows = np.empty((height, width + 1), np.uint8)
    rows[:, 0] = 0
    return rows[:, 1:]


def _region(matte: Matte) -> tuple[int, int, int, int] | None:
    """The frame box where the matte's alpha can be non-zero (the whole frame when unknown)."""
    W, H = matte.frame.size
    roi = matte.roi
    if roi is None:
        return 0, 0, W, H
    x0, y0, x1, y1 = (max(0, min(int(v), lim)) for v, lim in zip(roi, (W, H, W, H)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _boxes(matte: Matte, cutoffs: tuple[float, ...]) -> list[tuple[int, int, int, int] | None]:
    """Tight boxes of alpha > each cut-off, from one column and one row maximum over the region."""
    region = _region(matte)
    if region is None:
        return [None] * len(cutoffs)
    x0, y0, x1, y1 = region
    a = matte.alpha8_in(region)  # uint8 round(255 alpha): a quarter of the bytes of a float read
    # numpy's max is SIMD along both axes (cv2.reduce across a row is 40x slower)
    cols, rows = a.max(axis=0), a.max(axis=1)
    out: list[tuple[int, int, int, int] | None] = []
    for c in cutoffs:
        xs, ys = np.flatnonzero(cols > c * 255), np.flatnonzero(rows > c * 255)
        out.append(
            None if xs.size == 0 else (x0 + int(xs[0]), y0 + int(ys[0]), x0 + int(xs[-1]) + 1, y0 + int(ys[-1]) + 1)
        )
    return out


def subject_box(matte: Matte, preset: PresetConfig) -> tuple[int, int, int, int]:
    """The crop box compose would choose: pixels with alpha above the preset's cut-off.

    An empty matte (nothing on the table) gives the whole frame, so the capture still
    produces a picture that the quality check can flag.
    """
    box = _boxes(matte, (preset.alpha_cutoff,))[0]
    if box is None:
        w, h = matte.frame.size
        return 0, 0, w, h
    return box


def _scale_interp(s: float) -> int:
    """INTER_AREA only below half size: between 0.5 and 1 bilinear still reads every source pixel
    and is several times cheaper than a fractional INTER_AREA step."""
    return cv2.INTER_AREA if s < 0.5 else cv2.INTER_LINEAR


def _alpha8(matte: Matte, src: tuple[int, int, int, int]) -> np.ndarray:
    return matte.alpha8_in(src)


def _resample(
    matte: Matte, pl: layout.Placement, src: tuple[int, int, int, int]
) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Frame region `src` (which contains the crop box) scaled by the placement's exact scale.

    Returns (X, Y, foreground uint8 RGB, alpha uint8) with (X, Y) the output position of the
    region's top-left. cv2.resize with fx/fy and no dsize uses exactly that scale, so the crop
    box keeps its exact output size; its position is rounded to the nearest output pixel.
    """
    interp = _scale_interp(pl.sx)
    fg_o = cv2.resize(matte.foreground_in(src), None, fx=pl.sx, fy=pl.sy, interpolation=interp)
    a_o = cv2.resize(_alpha8(matte, src), None, fx=pl.sx, fy=pl.sy, interpolation=interp)
    X, Y = _origin(pl, src)
    return X, Y, fg_o, a_o


def _origin(pl: layout.Placement, src: tuple[int, int, int, int]) -> tuple[int, int]:
    """Output position of the top-left of frame region `src` under the placement."""
    return pl.x - round((pl.box[0] - src[0]) * pl.sx), pl.y - round((pl.box[1] - src[1]) * pl.sy)


def _clip(X: int, Y: int, img: np.ndarray, width: int, height: int) -> tuple[int, int, int, int, int, int]:
    """Intersection of an image placed at (X, Y) with the canvas: canvas rect + offsets into img."""
    h, w = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, X), max(0, Y), min(width, X + w), min(height, Y + h)
    return cx0, cy0, cx1, cy1, cx0 - X, cy0 - Y


def _real_shadow_part(matte: Matte, pl: layout.Placement) -> tuple[int, int, np.ndarray, tuple[int, int]] | None:
    """The part of the clean-plate mode's own cast shadow that holds shadow and lands on the
    canvas: `Matte.shadow` is a small layer over the whole frame, so only that part is ever
    scaled (one small resize, not a frame-size one). Returns (left, top, part, output size), or
    None when no shadow lands on the canvas."""
    layer = matte.shadow
    lh, lw = layer.shape[:2]
    W, H = matte.frame.size
    kx, ky = W / lw * pl.sx, H / lh * pl.sy  # output px per layer px
    ox, oy = pl.x - pl.box[0] * pl.sx, pl.y - pl.box[1] * pl.sy  # output position of the frame's corner
    u0, v0 = max(0, int(np.floor(-ox / kx))), max(0, int(np.floor(-oy / ky)))
    u1, v1 = min(lw, int(np.ceil((pl.width - ox) / kx))), min(lh, int(np.ceil((pl.height - oy) / ky)))
    if u1 <= u0 or v1 <= v0:
        return None
    pts = cv2.findNonZero((layer[v0:v1, u0:u1] >= 1 / 255).view(np.uint8))  # below that it changes no uint8 pixel
    if pts is None:
        return None
    x, y, w, h = cv2.boundingRect(pts)
    # one layer pixel of margin each side, so the bilinear fade-out is kept
    x0, y0 = max(u0, u0 + x - 1), max(v0, v0 + y - 1)
    x1, y1 = min(u1, u0 + x + w + 1), min(v1, v0 + y + h + 1)
    size = (max(1, round((x1 - x0) * kx)), max(1, round((y1 - y0) * ky)))
    return round(ox + x0 * kx), round(oy + y0 * ky), layer[y0:y1, x0:x1], size


def _real_shadow(matte: Matte, pl: layout.Placement) -> tuple[int, int, np.ndarray] | None:
    """The real cast shadow at output scale as a float 0..1 darkness map: (left, top, map)."""
    part = _real_shadow_part(matte, pl)
    if part is None:
        return None
    left, top, small, size = part
    big = cv2.resize(np.ascontiguousarray(small, dtype=np.float32), size, interpolation=cv2.INTER_LINEAR)
    return left, top, np.clip(big, 0, 1)


def _real_shadow_weights(matte: Matte, pl: layout.Placement) -> tuple[int, int, np.ndarray] | None:
    """_real_shadow as shadow.under's uint8 weights: made at the layer's size (the conversion
    saturates, so no clip) and then scaled as uint8, a third of the float path's time."""
    part = _real_shadow_part(matte, pl)
    if part is None:
        return None
    left, top, small, size = part
    return left, top, cv2.resize(shadow.weights(1.0, small), size, interpolation=cv2.INTER_LINEAR)


def _blend(bg: np.ndarray, fg: np.ndarray, a: np.ndarray) -> np.ndarray:
    """bg + (fg - bg) * a / 255 in uint8 (one rounding), all same-size arrays."""
    a3 = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    return cv2.add(cv2.multiply(fg, a3, scale=1 / 255), cv2.multiply(bg, cv2.bitwise_not(a3), scale=1 / 255))


def _on_colour(fg: np.ndarray, a: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """The product over a flat colour, c + (fg - c) * a / 255, uint8, computed in fg's own
    buffer (callers pass a fresh one): no frame-size temporaries beyond one alpha plane x 3,
    which matters on a box whose memory bandwidth is shared."""
    a3 = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    cv2.multiply(fg, a3, dst=fg, scale=1 / 255)
    inv = cv2.bitwise_not(a3, dst=a3)
    if rgb != (255, 255, 255):  # the catalog case needs no product: c * (255 - a) / 255 is just 255 - a
        cv2.multiply(inv, rgb, dst=inv, scale=1 / 255)
    return cv2.add(fg, inv, dst=fg)


def _shadow_params(matte: Matte, preset: PresetConfig, pl: layout.Placement, a_o, X0, Y0):
    """(opacity, left, top, darkness map) of the preset's shadow, or None."""
    sh = preset.shadow
    if sh.kind != "none" and sh.real and matte.shadow is not None:
        real = _real_shadow(matte, pl)
        return None if real is None else (1.0, *real)
    if sh.kind == "contact":
        return (sh.opacity, *shadow.contact(sh, pl.x, pl.y, pl.w, pl.h))
    if sh.kind == "drop":
        return (sh.opacity, *shadow.drop(sh, a_o, X0, Y0))
    return None


def compose(matte: Matte, preset: PresetConfig, box: tuple[int, int, int, int] | None = None) -> Cutout:
    """Lay the matted product out on the preset's canvas; `box` forces the crop (spin sets).

    On a colour background the product is laid on the colour at whichever scale is smaller
    (premultiplied: resampling the laid-on picture is the correct way to resample an RGBA
    one) and written straight into the canvas; the shadow is then added under the product's
    transparent parts only (canvas - c * opacity * shadow * (1 - alpha)), which equals
    shadowing the canvas first. Only the region that can hold product is ever read.
    """
    W, H = matte.frame.size
    cut_box, content = _boxes(matte, (preset.alpha_cutoff, 1 / 255))
    if box is None:
        box = cut_box if cut_box is not None else (0, 0, W, H)
    else:
        x0, y0, x1, y1 = (int(v) for v in box)
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise ValueError(f"box {tuple(box)} is not inside the {W}x{H} frame: give x0 < x1 <= {W}, y0 < y1 <= {H}")
        box = (x0, y0, x1, y1)
    pl = layout.place(box, preset)
    # everything with any alpha lands in the output, not just what is above the cut-off
    content = content or box
    src = (min(content[0], box[0]), min(content[1], box[1]), max(content[2], box[2]), max(content[3], box[3]))
    if preset.background == "color":
        return _compose_on_colour(matte, preset, pl, box, src)
    out = background.canvas(preset, pl.width, pl.height)
    alpha_out = mask_canvas(pl.height, pl.width)
    alpha_out[:] = 0
    X, Y, fg_o, a_o = _resample(matte, pl, src)
    X0, Y0, X1, Y1, u, v = _clip(X, Y, a_o, pl.width, pl.height)
    if X1 > X0 and Y1 > Y0:
        fg_o = fg_o[v : v + Y1 - Y0, u : u + X1 - X0]
        a_o = a_o[v : v + Y1 - Y0, u : u + X1 - X0]
        if preset.white_balance:
            fg_o = color.apply_gains(fg_o, color.backdrop_gains(matte.frame.image, matte.alpha_in, box))
        sp = _shadow_params(matte, preset, pl, a_o, X0, Y0)
        if sp is not None:
            shadow.apply(out, *sp)
        alpha_out[Y0:Y1, X0:X1] = a_o
        if preset.background == "transparent":
            out[Y0:Y1, X0:X1] = fg_o
        else:
            out[Y0:Y1, X0:X1] = _blend(out[Y0:Y1, X0:X1], fg_o, a_o)
    return Cutout(
        frame=matte.frame,
        rgb=out,
        alpha=alpha_out,
        box=box,
        preset=preset.name,
        model=matte.model,
        transparent=preset.background == "transparent",
    )


def _fill_outside(out: np.ndarray, rgb: tuple[int, int, int], X0: int, Y0: int, X1: int, Y1: int) -> None:
    """Paint the canvas colour everywhere but the rectangle [X0, X1) x [Y0, Y1)."""
    grey = rgb[0] == rgb[1] == rgb[2]
    h, w = out.shape[:2]
    if not grey:
        row = np.empty((w, 3), np.uint8)
        row[:] = rgb  # one row, then row copies: broadcasting a 3-vector is 100x slower
    for y0, y1, x0, x1 in ((0, Y0, 0, w), (Y1, h, 0, w), (Y0, Y1, 0, X0), (Y0, Y1, X1, w)):
        if y1 > y0 and x1 > x0:
            if grey:
                out[y0:y1, x0:x1] = rgb[0]
            else:
                out[y0:y1, x0:x1] = row[x0:x1]


def _resize(img: np.ndarray, pl: layout.Placement, interp: int) -> np.ndarray:
    """img scaled by exactly the placement's (sx, sy) (fx/fy, no dsize: the crop box keeps its exact size)."""
    return cv2.resize(img, None, fx=pl.sx, fy=pl.sy, interpolation=interp)


def _resize_into(img: np.ndarray, dst: np.ndarray, pl: layout.Placement, interp: int) -> None:
    """_resize written straight into a canvas view of the matching size (no temporary, no copy)."""
    got = cv2.resize(img, None, dst=dst, fx=pl.sx, fy=pl.sy, interpolation=interp)
    if not np.shares_memory(got, dst):  # cv2 reallocated (size mismatch): copy what fits
        dst[:] = got[: dst.shape[0], : dst.shape[1]]


def _compose_on_colour(matte: Matte, preset: PresetConfig, pl: layout.Placement, box, src) -> Cutout:
    """The canvas is built in BGR order (the colour reversed, the product swapped at the smaller
    scale), so the JPEG encoder takes it as it is; the Cutout's `rgb` is its reversed view."""
    r, g, b = background.hex_rgb(preset.color)
    rgb = (b, g, r)  # the canvas colour in the canvas's (BGR) order
    out = np.empty((pl.height, pl.width, 3), np.uint8)
    alpha_out = mask_canvas(pl.height, pl.width)
    x0, y0, x1, y1 = src
    X, Y = _origin(pl, src)
    # output size of the region exactly as cv2.resize(fx, fy) makes it
    ow, oh = max(1, round((x1 - x0) * pl.sx)), max(1, round((y1 - y0) * pl.sy))
    X0, Y0, X1, Y1 = max(0, X), max(0, Y), min(pl.width, X + ow), min(pl.height, Y + oh)
    if X1 <= X0 or Y1 <= Y0:
        out[:] = rgb
        alpha_out[:] = 0
        return _bgr_cutout(matte, out, alpha_out, box, preset)
    _fill_outside(out, rgb, X0, Y0, X1, Y1)
    _fill_outside(alpha_out[..., None], (0, 0, 0), X0, Y0, X1, Y1)
    fg = matte.foreground_in(src)
    a8 = _alpha8(matte, src)
    if preset.white_balance:
        fg = color.apply_gains(fg, color.backdrop_gains(matte.frame.image, matte.alpha_in, box))
    full = X0 == X and Y0 == Y and X1 == X + ow and Y1 == Y + oh
    interp = _scale_interp(pl.sx)
    if pl.sx >= 1:
        # enlarging: lay on the colour at frame scale (fewer pixels), then resample into the canvas
        laid = _on_colour(cv2.cvtColor(fg, cv2.COLOR_RGB2BGR), a8, rgb)
        if full:
            _resize_into(laid, out[Y0:Y1, X0:X1], pl, interp)
            _resize_into(a8, alpha_out[Y0:Y1, X0:X1], pl, interp)
        else:
            out[Y0:Y1, X0:X1] = _resize(laid, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X]
            alpha_out[Y0:Y1, X0:X1] = _resize(a8, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X]
    else:
        # shrinking: resample product and alpha first, lay on the colour at output scale
        fg_o = cv2.cvtColor(_resize(fg, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X], cv2.COLOR_RGB2BGR)
        a_o = _resize(a8, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X]
        out[Y0:Y1, X0:X1] = _on_colour(fg_o, a_o, rgb)
        alpha_out[Y0:Y1, X0:X1] = a_o
    sh = preset.shadow
    real = sh.kind != "none" and sh.real and matte.shadow is not None
    if real:
        weights = _real_shadow_weights(matte, pl)
        if weights is not None:
            shadow.under(out, alpha_out, rgb, *weights)
    elif sh.kind == "contact":
        shadow.under(out, alpha_out, rgb, *shadow.contact_weights(sh, pl.x, pl.y, pl.w, pl.h))
    else:
        sp = _shadow_params(matte, preset, pl, alpha_out[Y0:Y1, X0:X1], X0, Y0)
        if sp is not None:
            opacity, left, top, darkness = sp
            shadow.under(out, alpha_out, rgb, left, top, shadow.weights(opacity, darkness))
    return _bgr_cutout(matte, out, alpha_out, box, preset)


def _bgr_cutout(matte: Matte, bgr: np.ndarray, alpha: np.ndarray, box, preset: PresetConfig) -> Cutout:
    """A Cutout over a BGR canvas: `rgb` is its channel-reversed view (see Cutout.bgr)."""
    return Cutout(
        frame=matte.frame, rgb=bgr[..., ::-1], alpha=alpha, box=box, preset=preset.name, model=matte.model, bgr=bgr
    )
