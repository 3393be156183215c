"""The operator's correction brush, as hard constraints on the alpha.

The API's brush paints two frame-sized boolean layers; refine() forces alpha to 1 under
`keep` and to 0 under `remove`, and feeds them to the guided filter first so the edge next
to a stroke follows it instead of fighting it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Strokes:
    keep: np.ndarray  # HxW bool: alpha forced to 1
    remove: np.ndarray  # HxW bool: alpha forced to 0 (wins over keep where both are painted)

    def __post_init__(self) -> None:
        for name in ("keep", "remove"):
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.ndim != 2:
                raise ValueError(f"Strokes.{name} must be a 2-D HxW bool array (got {getattr(a, 'shape', type(a))})")
        if self.keep.shape != self.remove.shape:
            raise ValueError(
                f"Strokes.keep {self.keep.shape} and Strokes.remove {self.remove.shape} must have the same shape"
            )
        object.__setattr__(self, "keep", self.keep.astype(bool, copy=False))
        object.__setattr__(self, "remove", self.remove.astype(bool, copy=False))

    @classmethod
    def empty(cls, height: int, width: int) -> Strokes:
        z = np.zeros((height, width), bool)
        return cls(z, z.copy())

    def check_size(self, height: int, width: int) -> None:
        if self.keep.shape != (height, width):
            raise ValueError(
                f"strokes are {self.keep.shape[1]}x{self.keep.shape[0]} but the frame is {width}x{height}: paint them at frame size"
            )

    def keep_box(self) -> tuple[int, int, int, int] | None:
        """Bounding box (x0, y0, x1, y1) of the keep strokes, None when there are none."""
        ys, xs = np.nonzero(self.keep & ~self.remove)
        if xs.size == 0:
            return None
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
