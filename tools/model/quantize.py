"""Convert a trained student checkpoint to a fully int8 .tflite (uint8 in, uint8 out).

    python -m tools.model.quantize --weights RUN/best.weights.h5 --out models/cutbox-student-int8.tflite

The representative dataset is ~200 real training crops made the way training makes them,
so activation ranges match what the camera gives. Conversion fails rather than fall back
to float (TFLITE_BUILTINS_INT8 only), and the result is checked op by op afterwards.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from tools import REPO
from tools.model import data
from tools.model.int8_check import int8_check
from tools.model.student import from_config
from tools.model.train import load_config


def representative(cfg: dict, count: int, seed: int) -> list[np.ndarray]:
    """`count` training crops (HxWx3 uint8) made the way training makes them."""
    pairs = data.list_pairs([REPO / d for d in cfg["data"]["dirs"]])
    train, _ = data.split_pairs(pairs, cfg["data"]["val_fraction"], cfg["data"].get("holdout", []))
    rng = np.random.default_rng(seed)
    chosen = [train[i] for i in rng.choice(len(train), count, replace=False)]
    items = data.load_all(chosen, cfg["data"]["max_side"])
    size = cfg["model"]["size"]
    pair = data.run_augment(cfg["data"], items)
    return [pair(rgb, a, size, rng)[0] for rgb, a in items]


def to_int8(model, samples, out: Path) -> dict:
    """The one int8 recipe (the student here, the booth model in tools/booth): INT8 builtins
    only, so conversion fails rather than fall back to float; uint8 in and out; then the
    written file is checked op by op. `samples`: representative model inputs (HxWxC)."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.asarray(x)[None].astype(np.float32)] for x in samples)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    blob = conv.convert()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    check = int8_check(str(out))
    if not check["fully_int8"]:
        raise SystemExit(f"not fully int8: {check['problems'][:5]}")
    return check


def convert(weights: Path, out: Path, config: Path | None = None, count: int = 200) -> dict:
    """Write the int8 student to `out` and return the int8 check result."""
    config = config or Path(weights).with_name("config.json")
    cfg = json.loads(Path(config).read_text()) if config.suffix == ".json" else load_config(config)
    m = cfg["model"]
    model = from_config(m, batch_size=1, pretrained=False)
    model.load_weights(weights)
    return to_int8(model, representative(cfg, count, int(cfg["seed"])), out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--config", type=Path, help="run config.json (default: beside the weights)")
    ap.add_argument("--out", type=Path, default=Path("models/cutbox-student-int8.tflite"))
    ap.add_argument("--count", type=int, default=200, help="representative crops")
    args = ap.parse_args(argv)
    check = convert(args.weights, args.out, args.config, args.count)
    print(json.dumps({k: check[k] for k in ("fully_int8", "ops", "op_counts", "input", "output")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
