"""The model card: what the runtime needs to know about a model, read from JSON beside it.

Nothing about the model is hard-coded: input size, channels, dtype and normalisation come
from the card, and the card is checked against the file (sha256) and against the
interpreter's tensors (shape, dtype) so a swapped or retrained model without a new card
fails at start-up with a clear line instead of producing garbage masks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from device.segment.base import ModelError

_DTYPES = {"uint8", "int8", "float32"}


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    file: str
    sha256: str
    input_width: int
    input_height: int
    input_channels: str  # "RGB" (a clean-plate model would say e.g. "RGB+plate")
    input_dtype: str
    normalisation: str
    resize: str
    output_width: int
    output_height: int
    output_dtype: str
    threshold: float
    path: Path  # the card file itself
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        """`name version`, as recorded in every capture's metadata."""
        return f"{self.name} {self.version}"

    @property
    def channel_count(self) -> int | None:
        """Input channels the card's `channels` means: RGB 3, RGB+plate 6."""
        return {"RGB": 3, "RGB+plate": 6}.get(self.input_channels)

    @property
    def edgetpu_sha256(self) -> str | None:
        """The sha256 of the model's compiled Edge TPU twin, when the card records one
        (`edgetpu` entry, written by tools/compile_edgetpu.py --write-card)."""
        entry = self.raw.get("edgetpu")
        if isinstance(entry, dict) and entry.get("compiled") and isinstance(entry.get("sha256"), str):
            return entry["sha256"].lower()
        return None

    @property
    def model_path(self) -> Path:
        return self.path.parent / self.file

    @staticmethod
    def card_path_for(path: str | Path) -> Path:
        """The card beside a model: `x.tflite` -> `x.json` (a `.json` path is the card itself)."""
        path = Path(path)
        return path if path.suffix == ".json" else path.with_suffix(".json")

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        """Read and validate the card for `path` (the model file or the card itself)."""
        card_path = cls.card_path_for(path)
        if not card_path.exists():
            raise ModelError(
                f"model card not found: {card_path} (every model needs its card, same name with .json, beside it)"
            )
        try:
            raw = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"model card {card_path} is not valid JSON: {exc}") from None
        try:
            inp, out = raw["input"], raw["output"]
            card = cls(
                name=str(raw["name"]),
                version=str(raw["version"]),
                file=str(raw["file"]),
                sha256=str(raw["sha256"]).lower(),
                input_width=int(inp["width"]),
                input_height=int(inp["height"]),
                input_channels=str(inp.get("channels", "RGB")),
                input_dtype=str(inp.get("dtype", "uint8")),
                normalisation=str(inp.get("normalisation", "")),
                resize=str(inp.get("resize", "stretch")),
                output_width=int(out["width"]),
                output_height=int(out["height"]),
                output_dtype=str(out.get("dtype", "uint8")),
                threshold=float(out.get("threshold", 0.5)),
                path=card_path,
                raw=raw,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"model card {card_path} lacks or mangles {exc} (see models/README or the card format)"
            ) from None
        if card.channel_count is None:
            raise ModelError(
                f"model card {card_path}: input channels {card.input_channels!r} unknown (RGB or RGB+plate)"
            )
        for what, dt in (("input", card.input_dtype), ("output", card.output_dtype)):
            if dt not in _DTYPES:
                raise ModelError(f"model card {card_path}: {what} dtype {dt!r} unknown (one of {sorted(_DTYPES)})")
        if card.resize not in ("stretch",):
            raise ModelError(f"model card {card_path}: resize {card.resize!r} not supported (stretch)")
        return card

    def check_file(self, model_path: str | Path) -> None:
        """The model file is the one the card describes (sha256)."""
        model_path = Path(model_path)
        digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ModelError(
                f"model {model_path.name} does not match its card {self.path.name}: sha256 {digest[:12]}... "
                f"but the card says {self.sha256[:12]}... (ship the card made with this model)"
            )

    def check_tensors(self, input_detail: dict, output_detail: dict) -> None:
        """The interpreter's input/output tensors have the card's shape and dtype."""
        shape = [int(v) for v in input_detail["shape"]]
        want = [1, self.input_height, self.input_width, self.channel_count]
        if shape != want:
            raise ModelError(
                f"model input is {shape} but its card {self.path.name} says {want} (card and model disagree)"
            )
        if input_detail["dtype"].__name__ != self.input_dtype:
            raise ModelError(
                f"model input dtype is {input_detail['dtype'].__name__} but its card {self.path.name} says {self.input_dtype}"
            )
        oshape = [int(v) for v in output_detail["shape"]]
        hw = oshape[1:3] if len(oshape) >= 3 else oshape
        if hw != [self.output_height, self.output_width] or (len(oshape) == 4 and oshape[3] != 1):
            raise ModelError(
                f"model output is {oshape} but its card {self.path.name} says {self.output_height}x{self.output_width}x1"
            )
        if output_detail["dtype"].__name__ != self.output_dtype:
            raise ModelError(
                f"model output dtype is {output_detail['dtype'].__name__} but its card {self.path.name} says {self.output_dtype}"
            )
