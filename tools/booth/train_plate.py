"""Fine-tune the plate-aware student (RGB + clean plate) on booth composites; resumable, seeded.

    python -m tools.booth.train_plate train --minutes 40      # background, 1 thread
    python -m tools.booth.train_plate export                  # int8 .tflite + card

    # fine-tune a new run from a generic student checkpoint, export to a scratch path first
    python -m tools.booth.train_plate train --run-dir ~/.cache/cutbox-train/booth-ft \
        --init ~/.cache/cutbox-train/runs/mnv2-1.0-256-long/best.weights.h5 --minutes 25 --threads 2
    python -m tools.booth.train_plate export --run-dir ~/.cache/cutbox-train/booth-ft \
        --out ~/.cache/cutbox-train/booth-ft/export/cutbox-booth-int8.tflite

The plate model is the generic student with a 6-channel input (frame RGB, plate RGB; both
uint8). A fixed 1x1 convolution turns that into the backbone's normalised RGB plus the
difference frame - plate; the first backbone convolution gets 3 extra input channels whose
weights start at zero, so training starts exactly at the generic student's behaviour and
only has to learn how to use the plate. Composites are made on the fly from the training
split (tools/booth/synth.py). Checkpoints and logs live in ~/.cache/cutbox-train/booth/
(or --run-dir). A run dir with state.json + last.weights.h5 is resumed; otherwise the run
starts from --init (a generic student checkpoint; its run's config.json gives the model
shape) or, without --init, from GENERIC_RUN's best checkpoint if there is one. --init may also
be a plate model recovered from the shipped one (`python -m tools.model.recover
models/cutbox-booth-int8.tflite --booth --out DIR`, then `--init DIR/best.weights.h5`): the run
then goes on from what ships.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tools.booth.synth import HARD_CASES, Mismatch

RUN_DIR = Path.home() / ".cache/cutbox-train/booth"
GENERIC_RUN = Path.home() / ".cache/cutbox-train/runs/mnv2-1.0-256"
REPO = Path(__file__).resolve().parents[2]
MODEL_OUT = REPO / "models" / "cutbox-booth-int8.tflite"
DIFF_SCALE = 1.0 / 64.0  # shipped model: (frame - plate) / 64, +-4 at most, fine for int8 activations
# Training feeds the difference 4x larger so the zero-initialised Conv1 weights that read it
# learn 4x faster under Adam; export folds the factor into those weights (same function).
TRAIN_DIFF_SCALE = 1.0 / 16.0
LOSS = {"bce": 1.0, "l1": 1.0, "edge_weight": 4.0, "gradient": 1.0, "iou": 0.5}


def _tf(threads: int = 1):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised (e.g. quantise after export set the threads): keep them
        pass
    return tf


def set_diff_scale(model, new_scale: float, old_scale: float) -> None:
    """Change the fixed prep layer's difference scale and fold the inverse into Conv1's
    plate weights, so the model computes exactly the same function."""
    prep = model.get_layer("plate_prep")
    k, b = prep.get_weights()
    for c in range(3):
        k[0, 0, c, 3 + c] = new_scale
        k[0, 0, 3 + c, 3 + c] = -new_scale
    prep.set_weights([k, b])
    conv1 = model.get_layer("encoder").get_layer("Conv1")
    ws = conv1.get_weights()
    ws[0][:, :, 3:, :] *= old_scale / new_scale
    conv1.set_weights(ws)


def build_plate_student(
    size=256, width=1.0, decoder=(96, 64, 48, 32), batch_size=None, diff_scale=DIFF_SCALE, context=0, taps="expanded"
):
    """The generic student's graph (tools.model.student.build_student: its taps and context
    branch) with a (size, size, 6) uint8-range input: RGB + plate."""
    import keras
    from keras import layers

    from tools.model import student as gs

    inp = keras.Input(shape=(size, size, 6), batch_size=batch_size, name="image_plate")
    prep = layers.Conv2D(6, 1, name="plate_prep", trainable=False)
    x = prep(inp)
    norm = gs._normaliser(width).get_config()
    scale = np.broadcast_to(np.asarray(norm["scale"], np.float32), (3,))
    offset = np.broadcast_to(np.asarray(norm["offset"], np.float32), (3,))
    k = np.zeros((1, 1, 6, 6), np.float32)
    b = np.zeros((6,), np.float32)
    for c in range(3):
        k[0, 0, c, c] = scale[c]  # normalised RGB, as the generic student's first layer
        b[c] = offset[c]
        k[0, 0, c, 3 + c] = diff_scale  # frame - plate
        k[0, 0, 3 + c, 3 + c] = -diff_scale
    prep.set_weights([k, b])

    backbone = keras.applications.MobileNetV2(input_shape=(size, size, 6), alpha=width, include_top=False, weights=None)
    names = gs.TAPS[taps] + ((gs.CONTEXT_TAPS[context],) if context else ())
    encoder = keras.Model(backbone.input, [backbone.get_layer(n).output for n in names], name="encoder")
    for layer in encoder.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = gs.BN_MOMENTUM
    s2, s4, s8, s16, *s32 = encoder(x)
    d = gs._project(s16, decoder[0], "bottom")
    if context:  # as the generic student's context branch, so its weights transfer by name
        c = layers.Conv2D(decoder[0], 1, use_bias=False, name="context_conv")(s32[0])
        c = layers.BatchNormalization(momentum=gs.BN_MOMENTUM, gamma_initializer="zeros", name="context_bn")(c)
        c = layers.UpSampling2D(2, interpolation="bilinear", name="context_up")(c)
        d = layers.Add(name="context_add")([d, c])
    for i, (skip, filters, skip_ch) in enumerate(((s8, decoder[1], 32), (s4, decoder[2], 24), (s2, decoder[3], 16))):
        d = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{i}")(d)
        d = layers.Concatenate(name=f"cat{i}")([d, gs._project(skip, skip_ch, f"skip{i}")])
        d = gs._sep_block(d, filters, f"dec{i}a")
        d = gs._sep_block(d, filters, f"dec{i}b")
    logits = layers.Conv2D(1, 3, padding="same", name="head")(d)
    prob = layers.Activation("sigmoid", name="prob")(logits)
    return keras.Model(inp, prob, name=f"cutbox_booth_mnv2_{width}_{size}")


def _shape(m: dict) -> dict:
    """The [model] keys besides size, width and decoder that build the graph (taps, context);
    a run from before they existed gets the defaults it was built with."""
    from tools.model.student import MODEL_DEFAULTS

    return {k: m.get(k, v) for k, v in MODEL_DEFAULTS.items()}


def transfer_generic(generic, plate_model) -> int:
    """Copy every generic weight into the plate model; the plate channels of Conv1 start at 0."""
    n = 0
    for layer in plate_model.layers:
        if layer.name == "plate_prep" or not layer.weights:
            continue
        src = generic.get_layer(layer.name)
        if layer.name == "encoder":
            pairs = zip([x for x in layer.layers if x.weights], [x for x in src.layers if x.weights], strict=True)
        else:
            pairs = [(layer, src)]
        for dst, s in pairs:
            if dst.name != s.name:
                raise ValueError(f"layer mismatch {dst.name} vs {s.name}: generic student changed shape")
            ws = s.get_weights()
            if dst.name == "Conv1":
                k = ws[0]
                ws[0] = np.concatenate([k, np.zeros_like(k)], axis=2)
            dst.set_weights(ws)
            n += len(ws)
    return n


def generic_init(init: Path | None = None) -> tuple[Path | None, dict]:
    """The generic student checkpoint to start from and its model config (or None + defaults).

    `init`: an explicit generic student checkpoint (its run dir's config.json, when there is
    one, gives the model shape); default GENERIC_RUN/best.weights.h5 if it exists."""
    if init is not None:
        init = Path(init).expanduser()
        if not init.exists():
            raise SystemExit(f"error: --init {init} does not exist")
    run = init.parent if init is not None else GENERIC_RUN
    cfg_path = run / "config.json"
    m = {"size": 256, "width": 1.0, "decoder": [96, 64, 48, 32]}
    if cfg_path.exists():
        m = json.loads(cfg_path.read_text())["model"]
    from tools.model.student import MODEL_DEFAULTS  # a run's [model] before taps/context existed

    m = {**MODEL_DEFAULTS, **m}
    if init is not None:
        return init, m
    best = GENERIC_RUN / "best.weights.h5"
    return (best if best.exists() else None), m


def plate_source(init: Path | None) -> dict | None:
    """The config.json that tools.model.recover wrote beside `init` when `init` is a plate
    model recovered from a shipped booth model (kind "booth"), else None."""
    cfg_path = init.parent / "config.json" if init is not None else None
    if cfg_path is None or not cfg_path.exists():
        return None
    cfg = json.loads(cfg_path.read_text())
    return cfg if cfg.get("kind") == "booth" else None


@dataclass(frozen=True)
class PlateMix:
    """What the training composites hold besides the hard cases: hard negatives (`p_empty`:
    the booth with nothing in it, half of them with a new smudge or cable the plate lacks; the
    target is all zero), a smudge or cable beside a product (`p_change`), products over the
    frame edge (`p_edge`), the kinds of booth (`plate_kinds`, weights per synth.PLATE_KINDS)
    and the plate/frame `mismatch`. The default is the shipped model's recipe."""

    p_empty: float = 0.0
    p_change: float = 0.0
    p_edge: float = 0.0
    plate_kinds: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0)
    mismatch: Mismatch = Mismatch(flicker=0.08, max_shift=2.0)

    @classmethod
    def from_table(cls, t: dict) -> PlateMix:
        """From a config's [data] table (keys as the fields; mismatch as its own table)."""
        from tools.booth.synth import PLATE_KINDS

        unknown = set(t) - {"p_empty", "p_change", "p_edge", "plate_kinds", "mismatch", "products_from", "case_weights"}
        if unknown:
            raise ValueError(f"[data]: unknown keys {sorted(unknown)}")
        kinds = t.get("plate_kinds", {"sweep": 1.0})
        if set(kinds) - set(PLATE_KINDS) or sum(kinds.values()) <= 0 or min(kinds.values()) < 0:
            raise ValueError(f"[data] plate_kinds {kinds}: weights >= 0 for {PLATE_KINDS}, not all 0")
        mm = dict(t.get("mismatch", {}))
        if "noise" in mm:
            mm["noise"] = tuple(mm["noise"])
        for k in ("p_empty", "p_change", "p_edge"):
            if not 0.0 <= float(t.get(k, 0.0)) <= 1.0:
                raise ValueError(f"[data] {k} = {t[k]}: a share between 0 and 1")
        return cls(
            p_empty=float(t.get("p_empty", 0.0)),
            p_change=float(t.get("p_change", 0.0)),
            p_edge=float(t.get("p_edge", 0.0)),
            plate_kinds=tuple(float(kinds.get(k, 0.0)) for k in PLATE_KINDS),
            mismatch=Mismatch(**mm),
        )


def sample(items, rng, size: int, flicker=0.08, max_shift=2.0, case_weights=None, mix: PlateMix | None = None):
    """One on-the-fly pair: (size x size x 6 uint8 frame+plate, size/2 x size/2 alpha);
    `case_weights` (one per synth.HARD_CASES) sets the mix of hard cases, default synth's;
    `mix` the hard negatives, edges, booths and mismatch (default: sweeps, `flicker`, `max_shift`)."""
    from tools.booth import synth

    mix = mix or PlateMix(mismatch=Mismatch(flicker=flicker, max_shift=max_shift))
    kinds = np.asarray(mix.plate_kinds, np.float64)
    kind = synth.PLATE_KINDS[rng.choice(len(kinds), p=kinds / kinds.sum())]
    ar = rng.uniform(1.2, 1.8)
    h = int(rng.integers(200, 300))
    if mix.p_empty > 0 and rng.random() < mix.p_empty:
        c = synth.empty_booth(rng, h, int(h * ar), change=rng.random() < 0.5, mismatch=mix.mismatch, plate_kind=kind)
    else:
        while True:
            p = items[rng.integers(len(items))]
            try:
                rgb, a = synth.load_product(p, 320)
                break
            except ValueError:
                continue
        if rng.random() < 0.5:
            rgb, a = rgb[:, ::-1].copy(), a[:, ::-1].copy()
        c = synth.composite(
            rgb,
            a,
            rng,
            h,
            int(h * ar),
            case_weights=case_weights,
            edge=mix.p_edge > 0 and rng.random() < mix.p_edge,
            mismatch=mix.mismatch,
            plate_kind=kind,
            p_change=mix.p_change,
        )
    x = np.concatenate(
        [
            cv2.resize(c.image, (size, size), interpolation=cv2.INTER_AREA),
            cv2.resize(c.plate, (size, size), interpolation=cv2.INTER_AREA),
        ],
        axis=2,
    )
    y = cv2.resize(c.alpha, (size // 2, size // 2), interpolation=cv2.INTER_AREA)
    return x, y


def _producer(items, size, batch, seed, case_weights, out: queue.Queue, stop: threading.Event, mix=None):
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        pairs = [sample(items, rng, size, case_weights=case_weights, mix=mix) for _ in range(batch)]
        out.put((np.stack([p[0] for p in pairs]).astype(np.float32), np.stack([p[1] for p in pairs])[..., None]))


def products(split: str, products_from: str | None):
    """Training or validation products: the seen categories of `products_from` (a training
    config with [data] holdout: every source, the held-out categories never) or, without one,
    the shipped model's split (clothing and grocery-iconic)."""
    from tools.booth import synth

    if products_from:
        return synth.config_products(REPO / products_from, split)
    return synth.list_products(split)


def val_set(size: int, n: int, seed: int = 99, products_from: str | None = None):
    items, _ = products(split="val", products_from=products_from)
    rng = np.random.default_rng(seed)
    xs, ys = zip(*(sample(items, rng, size, flicker=0.04, max_shift=1.0) for _ in range(n)))
    return np.stack(xs).astype(np.float32), np.stack(ys)[..., None]


def _schedule(keras, lr: float, total_steps: int, warmup_steps: int):
    if warmup_steps > 0:  # linear warm-up from lr/10 to lr, then cosine down to 5 % of lr
        return keras.optimizers.schedules.CosineDecay(
            lr / 10, max(total_steps - warmup_steps, 1), alpha=0.05, warmup_target=lr, warmup_steps=warmup_steps
        )
    return keras.optimizers.schedules.CosineDecay(lr, total_steps, alpha=0.05)


def train(args) -> int:
    tf = _tf(args.threads)
    import keras

    from tools.model import checkpoint
    from tools.model.train import distill_loss, iou

    if args.case_weights is not None and (min(args.case_weights) < 0 or sum(args.case_weights) <= 0):
        raise SystemExit(
            f"error: --case-weights {args.case_weights}: give {len(HARD_CASES)} weights >= 0 with a positive sum"
        )
    run = Path(args.run_dir).expanduser()
    run.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    resuming = checkpoint.can_resume(run)
    if resuming:  # the run's own model shape, whatever --init says
        m = json.loads((run / "state.json").read_text())["model"]
        best_generic = None
    else:
        best_generic, m = generic_init(args.init)
    size, width, decoder = m["size"], m["width"], tuple(m["decoder"])
    model = build_plate_student(size, width, decoder, diff_scale=TRAIN_DIFF_SCALE, **_shape(m))
    state = {
        "step": 0,
        "best_iou": -1.0,
        "history": [],
        "seed": args.seed,
        "model": m,
        "diff_scale": TRAIN_DIFF_SCALE,
        "schedule": {
            "lr": args.lr,
            "total_steps": args.total_steps,
            "warmup_steps": args.warmup_steps,
            "batch": args.batch,
            "case_weights": args.case_weights,
        },
    }
    sched = _schedule(keras, args.lr, args.total_steps, args.warmup_steps)
    opt = keras.optimizers.AdamW(sched, weight_decay=1e-4)
    opt.build(model.trainable_variables)
    if resuming:
        if args.init is not None:
            print(f"note: {run} has a run to resume; --init {args.init} ignored", flush=True)
        state = checkpoint.load(run, model, opt)
        old_scale = state.get("diff_scale", DIFF_SCALE)  # runs before TRAIN_DIFF_SCALE existed used DIFF_SCALE
        if old_scale != TRAIN_DIFF_SCALE:
            set_diff_scale(model, TRAIN_DIFF_SCALE, old_scale)
            state["diff_scale"] = TRAIN_DIFF_SCALE
            state.setdefault("notes", []).append(
                f"step {state['step']}: difference scale {old_scale:g} -> {TRAIN_DIFF_SCALE:g} (folded)"
            )
        sched_state = state.setdefault("schedule", {})
        if sched_state.get("total_steps", args.total_steps) != args.total_steps:  # the cosine follows --total-steps
            state.setdefault("notes", []).append(
                f"step {state['step']}: total steps {sched_state['total_steps']} -> {args.total_steps}"
            )
        sched_state["total_steps"] = args.total_steps
        print(f"resumed at step {state['step']} (best val IoU {state['best_iou']:.4f})", flush=True)
    elif (src := plate_source(best_generic)) is not None:  # a plate model to go on from
        model.load_weights(best_generic)
        set_diff_scale(model, TRAIN_DIFF_SCALE, float(src.get("diff_scale", DIFF_SCALE)))
        state["init"] = (
            f"the plate model {src.get('source_version')} ({src.get('source')}, sha256 "
            f"{str(src.get('source_sha256'))[:12]}), float weights recovered by tools.model.recover"
        )
        state["init_kind"] = "plate"
        # its version counts its training steps (0.1.1200); a run that goes on from it counts on
        state["steps_before"] = int(str(src.get("source_version", "0")).rsplit(".", 1)[-1] or 0)
        print(f"init from {state['init']}", flush=True)
    else:
        from tools.model.student import build_student

        generic = build_student(size, width, decoder, pretrained=best_generic is None, **_shape(m))
        if best_generic is not None:
            generic.load_weights(best_generic)
        n = transfer_generic(generic, model)
        state["init"] = str(best_generic) if best_generic else "ImageNet backbone (no generic checkpoint yet)"
        print(f"init from {state['init']}: {n} tensors", flush=True)
        del generic

    state["threads"] = args.threads
    if not resuming:  # a resumed run keeps its own data mix
        state["data"] = getattr(args, "data", None) or {}
    data = state.get("data") or {}
    mix = PlateMix.from_table(data) if data else None
    items, origin = products("train", data.get("products_from"))
    state["split"] = origin
    vx, vy = val_set(size, args.val_n, products_from=data.get("products_from"))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = distill_loss(y, model(x, training=True), LOSS)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    case_weights = state["schedule"].get("case_weights")  # a resumed run keeps its own mix
    threading.Thread(
        target=_producer,
        args=(items, size, args.batch, args.seed + state["step"], case_weights, q, stop, mix),
        daemon=True,
    ).start()
    deadline = time.time() + args.minutes * 60
    try:
        while state["step"] < args.total_steps and time.time() < deadline:
            t0, losses = time.time(), []
            for _ in range(args.eval_every):
                if time.time() >= deadline:  # a fixed wall budget: stop mid-interval, still evaluate + save
                    break
                x, y = q.get()
                losses.append(float(step(tf.constant(x), tf.constant(y))))
                state["step"] += 1
            if not losses:
                break
            pred = model.predict(vx, batch_size=8, verbose=0)
            v_iou = iou(pred, vy)
            state["history"].append(
                {
                    "step": state["step"],
                    "loss": float(np.mean(losses)),
                    "val_iou": v_iou,
                    "sec_per_step": round((time.time() - t0) / max(len(losses), 1), 2),
                }
            )
            best = v_iou > state["best_iou"]
            if best:
                state["best_iou"], state["best_step"] = v_iou, state["step"]
                state["best_diff_scale"] = state["diff_scale"]
            checkpoint.save(run, model, opt, state, best)
            print(json.dumps(state["history"][-1]), flush=True)
    finally:
        stop.set()
    return 0


def export(args) -> int:
    _tf(args.threads)
    from tools.booth import card as booth_card

    run = Path(args.run_dir).expanduser()
    out = Path(args.out).expanduser()
    state = json.loads((run / "state.json").read_text())
    m = state["model"]
    size = m["size"]
    best = args.weights.startswith("best")
    trained_scale = state.get("best_diff_scale" if best else "diff_scale", DIFF_SCALE)
    state["exported"] = {"weights": args.weights, "step": state.get("best_step") if best else state.get("step")}
    model = build_plate_student(
        size, m["width"], tuple(m["decoder"]), batch_size=1, diff_scale=trained_scale, **_shape(m)
    )
    model.load_weights(run / args.weights)
    if trained_scale != DIFF_SCALE:
        set_diff_scale(model, DIFF_SCALE, trained_scale)
    rep, _ = val_set(size, 64, seed=7, products_from=(state.get("data") or {}).get("products_from"))
    from tools.model.quantize import to_int8  # the student's recipe, after _tf() set the threads

    to_int8(model, rep.astype(np.uint8), out)
    booth_card.write_card(out, state, size)  # the card next to the .tflite (a scratch card for a scratch path)
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) from {run / args.weights} (step {state['exported']['step']})"
    )
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return train(args) if args.cmd == "train" else export(args)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, with `train --config`'s [train] and [data] applied."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="fine-tune (resumes the run in --run-dir if it has one)")
    t.add_argument("--run-dir", default=str(RUN_DIR), help="checkpoints, state.json (default %(default)s)")
    t.add_argument(
        "--init",
        type=Path,
        help="checkpoint for a new run: a generic student's, or a plate model's that "
        "tools.model.recover wrote (default: GENERIC_RUN's best)",
    )
    t.add_argument("--threads", type=int, default=1, help="TensorFlow threads (1 while other training shares the CPU)")
    t.add_argument("--minutes", type=float, default=40, help="stop after this long (resume later)")
    t.add_argument("--total-steps", type=int, default=1500)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up from lr/10 (keep the same on resume)")
    t.add_argument("--eval-every", type=int, default=50)
    t.add_argument("--val-n", type=int, default=48)
    t.add_argument("--seed", type=int, default=5)
    t.add_argument(
        "--case-weights",
        type=float,
        nargs=len(HARD_CASES),
        metavar=tuple(c.upper() for c in HARD_CASES),
        help="mix of synth.HARD_CASES in training (default synth.CASE_WEIGHTS)",
    )
    e = sub.add_parser("export", help="quantise to models/cutbox-booth-int8.tflite and write the card")
    e.add_argument("--weights", default="best.weights.h5")
    e.add_argument("--run-dir", default=str(RUN_DIR))
    e.add_argument("--out", default=str(MODEL_OUT), help="the .tflite; its card is written next to it")
    e.add_argument("--threads", type=int, default=1)
    t.add_argument(
        "--config",
        type=Path,
        help="TOML with [data] (products_from, hard negatives, edges, booths, mismatch, case_weights) and "
        "[train] (defaults for the options above), e.g. tools/booth/train-plate-diverse.toml",
    )
    args = ap.parse_args(argv)
    if args.cmd == "train" and args.config is not None:
        apply_config(args, argv)
    return args


def apply_config(args, argv) -> None:
    """Fill the options the command line left out from the config's [train], and take its
    [data] as the run's data mix (checked here, so a typo fails before TensorFlow starts)."""
    try:
        cfg = tomllib.loads(Path(args.config).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"error: --config {args.config}: {exc}") from None
    unknown = set(cfg) - {"data", "train"}
    if unknown:
        raise SystemExit(f"error: --config {args.config}: unknown tables {sorted(unknown)} (use [data] and [train])")
    given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
    for key, value in cfg.get("train", {}).items():
        opt = "--" + key.replace("_", "-")
        if not hasattr(args, key):
            raise SystemExit(f"error: --config {args.config}: [train] {key} is not a train option")
        if opt not in given:
            setattr(args, key, Path(value) if key == "init" else value)
    data = dict(cfg.get("data", {}))
    try:
        PlateMix.from_table(data)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"error: --config {args.config}: {exc}") from None
    if "case_weights" in data and "--case-weights" not in given:
        args.case_weights = list(data["case_weights"])
    if data.get("products_from") and not (REPO / data["products_from"]).exists():
        raise SystemExit(f"error: --config {args.config}: products_from {data['products_from']} not found")
    args.data = data


if __name__ == "__main__":
    raise SystemExit(main())
