"""The compose stage, one straight pass: Matte -> Cutout at the preset's output size.

place (`layout`: crop box, scale, offset) -> backdrop (`background`: colour, image or
transparent) -> product (`product`: its pixels at output scale) -> shadow (`shadow`) ->
colour (`color`: white balance against the backdrop) -> blend (`blend`: product over backdrop).

On a colour background the same steps run in the order that is cheapest and exact there: the
product is colour-corrected and laid on the colour at whichever scale is smaller
(premultiplied: resampling the laid-on picture is the correct way to resample an RGBA one), and
the shadow is added under the product's transparent parts afterwards
(canvas - c * opacity * shadow * (1 - alpha)), which equals shadowing the backdrop first.
"""

from __future__ import annotations

import cv2
import numpy as np

from device.compose import background, blend, color, layout, product, shadow
from device.config import PresetConfig
from device.types import Cutout, Matte


def compose(matte: Matte, preset: PresetConfig, box: tuple[int, int, int, int] | None = None) -> Cutout:
    """Lay the matted product out on the preset's canvas; `box` forces the crop (spin sets)."""
    pl, box, src = _place(matte, preset, box)
    if preset.background == "color":
        return _compose_on_colour(matte, preset, pl, box, src)
    out = background.canvas(preset, pl.width, pl.height)  # backdrop
    alpha_out = blend.mask_canvas(pl.height, pl.width)
    alpha_out[:] = 0
    X, Y, fg_o, a_o = product.resample(matte, pl, src)  # product
    X0, Y0, X1, Y1, u, v = product.clip(X, Y, a_o, pl.width, pl.height)
    if X1 > X0 and Y1 > Y0:
        fg_o = fg_o[v : v + Y1 - Y0, u : u + X1 - X0]
        a_o = a_o[v : v + Y1 - Y0, u : u + X1 - X0]
        cast = shadow.for_preset(matte, preset, pl, a_o, X0, Y0)  # shadow, on the backdrop
        if cast is not None:
            shadow.apply(out, *cast)
        if preset.white_balance:  # colour
            fg_o = color.apply_gains(fg_o, color.backdrop_gains(matte.frame.image, matte.alpha_in, box))
        alpha_out[Y0:Y1, X0:X1] = a_o  # blend
        if preset.background == "transparent":
            out[Y0:Y1, X0:X1] = _shown_colours(fg_o, a_o)
        else:
            out[Y0:Y1, X0:X1] = blend.blend(out[Y0:Y1, X0:X1], fg_o, a_o)
    return Cutout(
        frame=matte.frame,
        rgb=out,
        alpha=alpha_out,
        box=box,
        preset=preset.name,
        model=matte.model,
        transparent=preset.background == "transparent",
    )


Box = tuple[int, int, int, int]
_EDGE_RING = np.ones((5, 5), np.uint8)  # colours kept 2 px beyond the last visible pixel


def _shown_colours(fg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A transparent canvas's colours: the product's where it shows and 2 px around that (a
    viewer that scales without premultiplying blends the product's own colour into its edge),
    black under the rest, as on the rest of the canvas. Without this the frame's backdrop
    stayed in the file under alpha 0, where dropping the alpha shows it, and made the PNG a
    quarter larger and slower to write."""
    return cv2.copyTo(fg, cv2.dilate(alpha, _EDGE_RING))  # zeros where the mask is 0


def _place(matte: Matte, preset: PresetConfig, box: Box | None) -> tuple[layout.Placement, Box, Box]:
    """(placement, crop box, frame region to read): the crop box is alpha above the preset's
    cut-off unless given; the region also holds everything with any alpha, so a soft edge
    outside the crop box still lands in the output."""
    W, H = matte.frame.size
    cut_box, content = layout.boxes(matte, (preset.alpha_cutoff, 1 / 255))
    if box is None:
        box = cut_box if cut_box is not None else (0, 0, W, H)
    else:
        x0, y0, x1, y1 = (int(v) for v in box)
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise ValueError(f"box {tuple(box)} is not inside the {W}x{H} frame: give x0 < x1 <= {W}, y0 < y1 <= {H}")
        box = (x0, y0, x1, y1)
    content = content or box
    src = (min(content[0], box[0]), min(content[1], box[1]), max(content[2], box[2]), max(content[3], box[3]))
    return layout.place(box, preset), box, src


def _compose_on_colour(matte: Matte, preset: PresetConfig, pl: layout.Placement, box, src) -> Cutout:
    """The canvas is built in BGR order (the colour reversed, the product swapped at the smaller
    scale), so the JPEG encoder takes it as it is; the Cutout's `rgb` is its reversed view."""
    r, g, b = background.hex_rgb(preset.color)
    rgb = (b, g, r)  # the canvas colour in the canvas's (BGR) order
    out = np.empty((pl.height, pl.width, 3), np.uint8)
    alpha_out = blend.mask_canvas(pl.height, pl.width)
    x0, y0, x1, y1 = src
    X, Y = product.origin(pl, src)
    # output size of the region exactly as cv2.resize(fx, fy) makes it
    ow, oh = max(1, round((x1 - x0) * pl.sx)), max(1, round((y1 - y0) * pl.sy))
    X0, Y0, X1, Y1 = max(0, X), max(0, Y), min(pl.width, X + ow), min(pl.height, Y + oh)
    if X1 <= X0 or Y1 <= Y0:
        out[:] = rgb
        alpha_out[:] = 0
        return _bgr_cutout(matte, out, alpha_out, box, preset)
    blend.fill_outside(out, rgb, X0, Y0, X1, Y1)
    blend.fill_outside(alpha_out[..., None], (0, 0, 0), X0, Y0, X1, Y1)
    fg = matte.foreground_in(src)
    a8 = matte.alpha8_in(src)
    if preset.white_balance:
        fg = color.apply_gains(fg, color.backdrop_gains(matte.frame.image, matte.alpha_in, box))
    full = X0 == X and Y0 == Y and X1 == X + ow and Y1 == Y + oh
    interp = product.scale_interp(pl.sx)
    if pl.sx >= 1:
        # enlarging: lay on the colour at frame scale (fewer pixels), then resample into the canvas
        laid = blend.on_colour(cv2.cvtColor(fg, cv2.COLOR_RGB2BGR), a8, rgb)
        if full:
            product.resize_into(laid, out[Y0:Y1, X0:X1], pl, interp)
            product.resize_into(a8, alpha_out[Y0:Y1, X0:X1], pl, interp)
        else:
            out[Y0:Y1, X0:X1] = product.resize(laid, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X]
            alpha_out[Y0:Y1, X0:X1] = product.resize(a8, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X]
    else:
        # shrinking: resample product and alpha first, lay on the colour at output scale
        fg_o = cv2.cvtColor(product.resize(fg, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X], cv2.COLOR_RGB2BGR)
        a_o = product.resize(a8, pl, interp)[Y0 - Y : Y1 - Y, X0 - X : X1 - X]
        out[Y0:Y1, X0:X1] = blend.on_colour(fg_o, a_o, rgb)
        alpha_out[Y0:Y1, X0:X1] = a_o
    sh = preset.shadow
    real = sh.kind != "none" and sh.real and matte.shadow is not None
    if real:
        weights = shadow.real_weights(matte, pl)
        if weights is not None:
            shadow.under(out, alpha_out, rgb, *weights)
    elif sh.kind == "contact":
        shadow.under(out, alpha_out, rgb, *shadow.contact_weights(sh, pl.x, pl.y, pl.w, pl.h))
    elif sh.kind == "drop":
        shadow.under(out, alpha_out, rgb, *shadow.drop_weights(sh, alpha_out[Y0:Y1, X0:X1], X0, Y0))
    return _bgr_cutout(matte, out, alpha_out, box, preset)


def _bgr_cutout(matte: Matte, bgr: np.ndarray, alpha: np.ndarray, box, preset: PresetConfig) -> Cutout:
    """A Cutout over a BGR canvas: `rgb` is its channel-reversed view (see Cutout.bgr)."""
    return Cutout(
        frame=matte.frame, rgb=bgr[..., ::-1], alpha=alpha, box=box, preset=preset.name, model=matte.model, bgr=bgr
    )
