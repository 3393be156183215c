"""Float Keras weights back from a shipped int8 model, so fine-tuning starts from what ships.

    python -m tools.model.recover models/cutbox-student-int8.tflite --out ~/.cache/cutbox-train/recovered/student
    python -m tools.model.recover models/cutbox-booth-int8.tflite --booth --out ~/.cache/cutbox-train/recovered/booth

Training checkpoints live in ~/.cache and are gone on a new machine; the .tflite in models/
is not. Its int8 kernels (per-channel scales) and int32 biases are the trained network with
every BatchNormalization folded in, so dequantised they give the float network to within
int8 rounding. Each BatchNormalization is set back to an identity that keeps that function in
both of its modes: moving statistics and gamma/beta from the layer's own input statistics on
calibration inputs (gamma = sqrt(var + eps), beta = mean + bias), so inference mode is exactly
`conv + bias` and training mode (batch statistics) starts at the same place.

Writes OUT/best.weights.h5 (the name the trainers' --init and the quantiser expect) and
OUT/config.json (model shape, source file and sha256, how close the recovered float model is to
the int8 one on the calibration inputs).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from tools import REPO

_WEIGHT_NAME = re.compile(r"/([A-Za-z0-9_]+?)(?:_\d+)?/(?:convolution|depthwise)(?:;|$)")
_BN_NAME = re.compile(r"/([A-Za-z0-9_]+?)(?:_\d+)?/batchnorm/add_1(?:;|$)")


def _dequantised(detail: dict, tensor: np.ndarray) -> np.ndarray:
    q = detail["quantization_parameters"]
    scales, zeros, axis = q["scales"], q["zero_points"], q["quantized_dimension"]
    if scales.size == 0:
        return tensor.astype(np.float32)
    shape = [1] * tensor.ndim
    if scales.size > 1:
        shape[axis] = scales.size
    return ((tensor.astype(np.float32) - zeros.reshape(shape)) * scales.reshape(shape)).astype(np.float32)


def read_convolutions(tflite: Path) -> list[dict]:
    """Every CONV_2D / DEPTHWISE_CONV_2D of the file: the Keras layer it came from, the
    BatchNormalization folded into it (if any), its float kernel in Keras layout and its bias."""
    from tools.model.int8_check import Interpreter

    it = Interpreter(model_path=str(tflite))
    it.allocate_tensors()
    details = {d["index"]: d for d in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        w_idx, b_idx = int(op["inputs"][1]), int(op["inputs"][2])
        w_name, b_name = details[w_idx]["name"], details[b_idx]["name"]
        layer = _WEIGHT_NAME.findall(w_name)
        if not layer:
            raise ValueError(f"{tflite}: cannot tell which layer the weight tensor {w_name!r} belongs to")
        bn = _BN_NAME.findall(b_name)
        kernel = _dequantised(details[w_idx], it.get_tensor(w_idx))
        # TFLite: conv (out, kh, kw, in), depthwise (1, kh, kw, ch); Keras: (kh, kw, in, out), (kh, kw, ch, 1)
        kernel = kernel.transpose(1, 2, 3, 0)
        out.append(
            {
                "layer": layer[-1],
                "bn": bn[-1] if bn else None,
                "op": op["op_name"],
                "kernel": kernel,
                "bias": _dequantised(details[b_idx], it.get_tensor(b_idx)),
            }
        )
    return out


def _layers(model) -> dict:
    """name -> layer over the model and its nested models (the encoder)."""
    import keras

    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(_layers(layer))
        found[layer.name] = layer
    return found


def _bn_inputs(model, bns: list, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-channel mean and variance of each BatchNormalization's input on `x` (inference mode)."""
    import keras

    encoder = model.get_layer("encoder")
    top = [b for b in bns if any(b is layer for layer in model.layers)]
    inner = [b for b in bns if b not in top]
    # what the model feeds the encoder: the layers before it (the normaliser or the plate prep)
    prefix = model.layers[1 : model.layers.index(encoder)]
    probe_inner = keras.Model(encoder.inputs, [b.input for b in inner]) if inner else None
    probe_top = keras.Model(model.inputs, [b.input for b in top]) if top else None
    stats: dict[str, list] = {}
    for lo in range(0, len(x), 8):
        xb = x[lo : lo + 8]
        h = xb
        for layer in prefix:
            h = layer(h)
        probes = []
        if probe_inner is not None:
            probes.append((inner, probe_inner(h, training=False)))
        if probe_top is not None:
            probes.append((top, probe_top(xb, training=False)))
        for group, outs in probes:
            for b, o in zip(group, outs if isinstance(outs, list) else [outs], strict=True):
                o = np.asarray(o, np.float64).reshape(-1, o.shape[-1])
                s = stats.setdefault(b.name, [0, 0.0, 0.0])
                s[0] += o.shape[0]
                s[1] = s[1] + o.sum(0)
                s[2] = s[2] + (o * o).sum(0)
    result = {}
    for name, (n, s1, s2) in stats.items():
        mean = s1 / n
        result[name] = (mean.astype(np.float32), np.maximum(s2 / n - mean * mean, 0).astype(np.float32))
    return result


def load_into(model, convs: list[dict], calibration: np.ndarray) -> int:
    """Set `model`'s convolutions and BatchNormalizations from `convs` (see read_convolutions);
    layers the file has but the model lacks, or the other way round, are errors. Fixed layers
    of the graph (the plate prep) are left as the model builds them."""
    from keras import layers as kl

    by_name = _layers(model)
    done, bns = set(), []
    for c in convs:
        layer = by_name.get(c["layer"])
        if layer is None:
            raise ValueError(f"the model has no layer {c['layer']!r} (the .tflite is of another shape)")
        if not layer.trainable:  # fixed by construction (plate_prep): rebuilt, not read
            done.add(layer.name)
            continue
        ws = layer.get_weights()
        if ws[0].shape != c["kernel"].shape:
            raise ValueError(f"{layer.name}: kernel {c['kernel'].shape} in the file, {ws[0].shape} in the model")
        if c["bn"] is None:  # a conv with its own bias (the head)
            layer.set_weights([c["kernel"], c["bias"]])
        else:
            layer.set_weights([c["kernel"]])
            bn = by_name[c["bn"]]
            if not isinstance(bn, kl.BatchNormalization):
                raise ValueError(f"{c['bn']!r} is not a BatchNormalization")
            # identity first (moving mean 0, variance 1 - eps): inference mode is conv + bias
            ch = c["bias"].size
            bn.set_weights(
                [np.ones(ch, np.float32), c["bias"], np.zeros(ch, np.float32), np.full(ch, 1 - bn.epsilon, np.float32)]
            )
            bns.append((bn, c["bias"]))
            done.add(bn.name)
        done.add(layer.name)
    missing = [n for n, layer in by_name.items() if layer.weights and n not in done and not hasattr(layer, "layers")]
    if missing:
        raise ValueError(f"the .tflite sets no weights for {missing[:5]} (the model is of another shape)")
    from tools.model.student import pass_through

    stats = _bn_inputs(model, [b for b, _ in bns], calibration)
    for bn, bias in bns:
        pass_through(bn, *stats[bn.name], bias)
    return len(convs)


def _agreement(model, tflite: Path, x: np.ndarray) -> dict:
    """IoU (at 0.5) and mean absolute difference between the recovered float model and the
    int8 file on the calibration inputs."""
    from tools.model.int8_check import Interpreter

    it = Interpreter(model_path=str(tflite), num_threads=2)
    it.allocate_tensors()
    inp, outp = it.get_input_details()[0], it.get_output_details()[0]
    f = model.predict(x, batch_size=8, verbose=0)[..., 0]
    q = []
    for xi in x:
        it.set_tensor(inp["index"], np.clip(np.rint(xi), 0, 255).astype(np.uint8)[None])
        it.invoke()
        q.append(it.get_tensor(outp["index"])[0, ..., 0].astype(np.float32) / 255)
    q = np.stack(q)
    inter = ((f >= 0.5) & (q >= 0.5)).sum()
    union = ((f >= 0.5) | (q >= 0.5)).sum()
    return {
        "iou_float_vs_int8": round(float(inter / max(union, 1)), 4),
        "mad_float_vs_int8": round(float(np.abs(f - q).mean()), 4),
        "images": int(len(x)),
    }


def model_shape(card: dict, booth: bool = False) -> dict:
    """The [model] table a shipped file was trained with: the student card keeps its run's
    (decoder, `context`, `taps`); the plate model has one shape."""
    m = {"size": int(card["input"]["width"]), "width": 1.0, "decoder": [96, 64, 48, 32]}
    if not booth:
        m.update(card.get("training", {}).get("config", {}).get("model", {}))
    else:  # a plate model card written since it records its run's [model] (taps, context)
        m.update(card.get("training", {}).get("model", {}))
    return m


def recover(tflite: Path, out: Path, booth: bool = False, n: int = 48) -> dict:
    import tensorflow as tf  # noqa: F401  (keras backend)

    from tools.model.card import sha256

    tflite = Path(tflite)
    card = json.loads(tflite.with_suffix(".json").read_text())
    m = model_shape(card, booth)
    if booth:
        from tools.booth.train_plate import DIFF_SCALE, build_plate_student, val_set

        shape = {k: m[k] for k in ("context", "taps") if k in m}
        model = build_plate_student(m["size"], m["width"], tuple(m["decoder"]), diff_scale=DIFF_SCALE, **shape)
        x, _ = val_set(m["size"], n)
    else:
        from tools.model import data
        from tools.model.student import from_config
        from tools.model.train import load_config

        cfg = load_config(Path(__file__).with_name("train.toml"))
        model = from_config(m, pretrained=False)
        pairs = data.list_pairs([REPO / d for d in cfg["data"]["dirs"]])
        _, val = data.split_pairs(pairs, cfg["data"]["val_fraction"], cfg["data"].get("holdout", []))
        x, _ = data.validation_arrays(data.load_all(val[:n], cfg["data"]["max_side"]), m["size"])
    x = np.asarray(x, np.float32)
    count = load_into(model, read_convolutions(tflite), x)
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model.save_weights(out / "best.weights.h5")
    info = {
        "model": m,
        "kind": "booth" if booth else "student",
        "source": str(tflite),
        "source_version": card.get("version"),
        "source_sha256": sha256(tflite),
        "convolutions": count,
        **({"diff_scale": DIFF_SCALE} if booth else {}),
        **_agreement(model, tflite, x),
    }
    (out / "config.json").write_text(json.dumps(info, indent=1))
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tflite", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="a folder for best.weights.h5 + config.json")
    ap.add_argument("--booth", action="store_true", help="the file is the plate-aware booth model")
    ap.add_argument("--calibration", type=int, default=48, help="calibration inputs (validation images)")
    args = ap.parse_args(argv)
    print(json.dumps(recover(args.tflite, args.out, args.booth, args.calibration)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
