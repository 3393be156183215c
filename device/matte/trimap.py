"""The unknown band: where alpha may be soft.

Outside the band the alpha is solid (0 or 1), which stops the guided filter from leaking
backdrop texture into the product or the product into the backdrop; inside it the guided
filter decides. The band is measured in frame pixels so it matches the model's mask error.
"""

from __future__ import annotations

import cv2
import numpy as np


def band(binary: np.ndarray, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """(sure_fg, maybe_fg) as uint8 0/255: eroded and dilated by half_width pixels."""
    r = max(1, int(half_width))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.erode(binary, k, borderType=cv2.BORDER_REPLICATE), cv2.dilate(binary, k, borderType=cv2.BORDER_REPLICATE)
