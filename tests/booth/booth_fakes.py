"""Synthetic booth frames for the booth tests: a textured sweep, a product, a list source."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from device.types import Frame

_ids = itertools.count(1)


def booth_plate(h: int = 360, w: int = 640, seed: int = 0) -> np.ndarray:
    """Empty booth, float32 0..255 RGB: white sweep with vignetting, paper grain and the
    edges a real booth shows at its border (sweep edge, a light stand, tape marks)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lum = 235 - 25 * (((xx / w - 0.5) ** 2 + (yy / h - 0.45) ** 2) / 0.5) - 8 * np.tanh((yy / h - 0.65) * 6)
    grain = cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 1.5)
    img = np.repeat((lum + grain)[..., None], 3, axis=2) * np.array([1.0, 0.99, 0.97], np.float32)
    img[:, : w // 20] *= 0.55  # edge of the sweep
    img[h // 8 : h // 8 + 6, w - w // 12 : w - w // 20] = (40, 40, 45)  # a stand's clamp
    img[h - h // 10 : h - h // 10 + 3, w // 3 : w // 3 + 40] = (200, 60, 60)  # floor tape
    return img


def with_product(
    plate: np.ndarray, colour=(240, 240, 236), shadow: float = 0.35
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame float32, alpha, shadow) with an elliptic product standing in the middle and its cast shadow."""
    h, w = plate.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 8, h // 4), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)
    sh = np.zeros((h, w), np.float32)
    cv2.ellipse(sh, (w // 2 + w // 10, h // 2 + h // 5), (w // 6, h // 14), 0, 0, 360, 1.0, -1)
    sh = cv2.GaussianBlur(sh, (0, 0), 6) * shadow
    sh_vis = sh * (1 - alpha)
    frame = alpha[..., None] * np.array(colour, np.float32) + (1 - alpha[..., None]) * plate * (1 - sh[..., None])
    return frame, alpha, sh_vis


def to_frame(img: np.ndarray, rng: np.random.Generator | None = None, noise: float = 2.0, **info) -> Frame:
    rng = rng or np.random.default_rng(next(_ids))
    noisy = img + rng.normal(0, noise, img.shape) if noise else img
    image = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    return Frame(id=f"test-{next(_ids)}", image=image, timestamp=0.0, source="test:booth", info=dict(info))


def shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)


class ListSource:
    """A FrameSource over prepared frames (what `calibrate` grabs from)."""

    def __init__(self, frames):
        self._frames = list(frames)
        self.grabbed = 0

    def grab(self) -> Frame:
        if self.grabbed >= len(self._frames):
            raise RuntimeError("no more frames")
        self.grabbed += 1
        return self._frames[self.grabbed - 1]

    def frames(self):
        while self.grabbed < len(self._frames):
            yield self.grab()

    def close(self) -> None:
        pass
