"""Distil the IS-Net teacher's soft alpha into the student; resumable, seeded, one config.

    python -m tools.model.train --config tools/model/train.toml

Each epoch saves `last.weights.h5` + optimiser state + `state.json` in run_dir, and
`best.weights.h5` when inference-mode validation IoU improves; restarting resumes.
With `[train] ema`, validation scores the weights' moving average, which `best.weights.h5` and
`last.ema.weights.h5` hold; `last.weights.h5` stays the raw weights a resumed run goes on from.
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time
import tomllib
from contextlib import contextmanager, nullcontext
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tools import REPO
from tools.model import checkpoint, data
from tools.model.student import fit_new_projections, from_config, load_matching, model_config


def load_config(path: Path) -> dict:
    cfg = tomllib.loads(Path(path).read_text())
    cfg["run_dir"] = str(Path(cfg["run_dir"]).expanduser())
    return cfg


def distill_loss(y, p, w: dict):
    """BCE + boundary-weighted L1 + Sobel-gradient L1 + soft IoU (y, p: Bx h x w x 1)."""
    eps = 1e-6
    p = tf.clip_by_value(p, eps, 1 - eps)
    near_edge = tf.cast(tf.abs(tf.nn.avg_pool2d(y, 9, 1, "SAME") - y) > 0.02, tf.float32)
    near_edge = tf.nn.max_pool2d(near_edge, 5, 1, "SAME")
    pix_w = 1.0 + w["edge_weight"] * near_edge
    bce = -(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))
    loss = w["bce"] * tf.reduce_mean(bce * pix_w) / tf.reduce_mean(pix_w)
    loss += w["l1"] * tf.reduce_mean(tf.abs(p - y) * pix_w) / tf.reduce_mean(pix_w)
    gp, gy = tf.image.sobel_edges(p), tf.image.sobel_edges(y)
    loss += w["gradient"] * tf.reduce_mean(tf.abs(gp - gy))
    inter = tf.reduce_sum(p * y, axis=[1, 2, 3])
    union = tf.reduce_sum(p + y - p * y, axis=[1, 2, 3])
    loss += w["iou"] * tf.reduce_mean(1 - (inter + 1) / (union + 1))
    return loss


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-image IoU at threshold 0.5."""
    p, g = pred >= 0.5, gt >= 0.5
    inter = (p & g).sum(axis=(1, 2, 3))
    union = (p | g).sum(axis=(1, 2, 3))
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))


def batches(items, cfg, seed: int, out: queue.Queue, stop: threading.Event, weights=None):
    """Producer thread: augmented batches (OpenCV releases the GIL while TF trains); photos are
    drawn with `weights` (by source, `data.sampling_weights`) or uniformly."""
    rng = np.random.default_rng(seed)
    size, b = cfg["model"]["size"], cfg["train"]["batch"]
    pair = data.run_augment(cfg["data"], items)
    while not stop.is_set():
        idx = rng.choice(len(items), b, p=weights)
        pairs = [pair(*items[i], size, rng) for i in idx]
        x = np.stack([p[0] for p in pairs]).astype(np.float32)
        y = np.stack([p[1] for p in pairs])[..., None]
        out.put((x, y))


@contextmanager
def averaged(model, opt):
    """Lend `model` the optimiser's moving average of its weights, then give the raw ones back."""
    raw = [v.numpy() for v in model.trainable_variables]
    opt.finalize_variable_values(model.trainable_variables)
    try:
        yield
    finally:
        for v, r in zip(model.trainable_variables, raw):
            v.assign(r)


def init_from(model, m: dict, init: Path, train_pairs=(), max_side: int = 400) -> None:
    """Start from a checkpoint; one of a smaller student (its config.json beside it says so, e.g.
    no `context`) fills the layers both share, the projections whose input changed are fitted to
    the old ones' output on training photos (`fit_new_projections`), the new layers keep their
    initial values."""
    beside = init.parent / "config.json"
    src_m = json.loads(beside.read_text()).get("model", m) if beside.exists() else m
    if model_config(src_m) == model_config(m):
        model.load_weights(init)
        print(f"initialised from {init}", flush=True)
        return
    source = from_config(src_m, pretrained=False)
    source.load_weights(init)
    n = load_matching(model, source)
    print(f"initialised {n} layers from {init} (its model {src_m}, this run's {m})", flush=True)
    sample = list(train_pairs)[:: max(1, len(train_pairs) // 48)][:48]
    if sample:
        x, _ = data.validation_arrays(data.load_all(sample, max_side), m["size"])
        fitted = fit_new_projections(model, source, x)
        if fitted:
            print(f"fitted {', '.join(fitted)} to the old model's output on {len(x)} training photos", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("train.toml"))
    ap.add_argument("--epochs", type=int, help="override train.epochs (e.g. a short run)")
    ap.add_argument("--lr", type=float, help="override train.lr")
    ap.add_argument("--run-dir", help="override run_dir (e.g. a continuation run)")
    ap.add_argument("--init", type=Path, help="start a new run from these weights (fine-tune/continue)")
    ap.add_argument("--seed", type=int, help="override seed (a continuation run draws batches its parent did not)")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    if args.epochs:
        cfg["train"]["epochs"] = args.epochs
    if args.lr:
        cfg["train"]["lr"] = args.lr
    if args.run_dir:
        cfg["run_dir"] = str(Path(args.run_dir).expanduser())
    if args.init:
        cfg["init"] = str(args.init)
    if args.seed is not None:
        cfg["seed"] = args.seed
    run = Path(cfg["run_dir"])
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(cfg, indent=1))
    seed = int(cfg["seed"])
    keras.utils.set_random_seed(seed)

    pairs = data.list_pairs([REPO / d for d in cfg["data"]["dirs"]])  # absolute paths stay as they are
    holdout = cfg["data"].get("holdout", [])
    train_pairs, val_pairs = data.split_pairs(pairs, cfg["data"]["val_fraction"], holdout)
    held = data.held_out(pairs, holdout)
    data.write_split(val_pairs, run / "val.txt")
    data.write_split(train_pairs, run / "train.txt")
    data.write_split(held, run / "holdout.txt")
    print(f"data: {len(held)} photos of held-out categories {holdout} kept out (run_dir/holdout.txt)", flush=True)
    t0 = time.time()
    train_items, unsure, kept = data.training_items(train_pairs, cfg["data"], with_pairs=True)
    draw = data.sampling_weights(kept, cfg["data"].get("source_weights"))
    print(f"data: {unsure} training photos skipped (unsure teacher label)", flush=True)
    if cfg["data"].get("extra_labels"):
        print(
            f"data: labels blended with {cfg['data']['extra_labels']} (weight {cfg['data'].get('extra_weight', 0.5)})",
            flush=True,
        )
    val_x, val_y = data.validation_arrays(data.load_all(val_pairs, cfg["data"]["max_side"]), cfg["model"]["size"])
    print(f"data: {len(train_items)} train, {len(val_x)} val, loaded in {time.time() - t0:.0f}s", flush=True)

    m = cfg["model"]
    model = from_config(m)
    tc = cfg["train"]
    total = tc["epochs"] * tc["steps_per_epoch"]
    sched = keras.optimizers.schedules.CosineDecay(tc["lr"], total, alpha=tc["lr_min"] / tc["lr"])
    ema = float(tc.get("ema", 0.0))
    if not 0.0 <= ema < 1.0:
        raise SystemExit(f"error: [train] ema = {ema}: use 0 (off) or a momentum below 1, e.g. 0.995")
    opt = keras.optimizers.AdamW(sched, weight_decay=tc["weight_decay"], use_ema=ema > 0, ema_momentum=ema or 0.99)
    opt.build(model.trainable_variables)

    state = {"epoch": 0, "best_iou": -1.0, "history": []}
    if checkpoint.can_resume(run):
        state = checkpoint.load(run, model, opt)
        print(f"resumed after epoch {state['epoch']} (best val IoU {state['best_iou']:.4f})", flush=True)
    elif cfg.get("init"):
        init_from(model, m, Path(cfg["init"]), train_pairs, cfg["data"]["max_side"])

    weights = cfg["loss"]

    @tf.function(jit_compile=False)
    def step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = distill_loss(y, p, weights)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    q: queue.Queue = queue.Queue(maxsize=6)
    stop = threading.Event()
    producer = threading.Thread(
        target=batches, args=(train_items, cfg, seed + 7919 * state["epoch"], q, stop, draw), daemon=True
    )
    producer.start()
    try:
        for epoch in range(state["epoch"] + 1, tc["epochs"] + 1):
            t0, losses = time.time(), []
            for _ in range(tc["steps_per_epoch"]):
                x, y = q.get()
                losses.append(float(step(tf.constant(x), tf.constant(y))))
            with averaged(model, opt) if ema else nullcontext():
                pred = model.predict(val_x, batch_size=16, verbose=0)  # inference-mode BN
                v_iou = iou(pred, val_y[..., None])
                best = v_iou > state["best_iou"]
                if ema:
                    model.save_weights(run / "last.ema.weights.h5")
                    if best:
                        model.save_weights(run / "best.weights.h5")
            v_mae = float(np.mean(np.abs(pred[..., 0] - val_y)))
            state["epoch"] = epoch
            state["history"].append(
                {
                    "epoch": epoch,
                    "loss": float(np.mean(losses)),
                    "val_iou": v_iou,
                    "val_mae": v_mae,
                    "seconds": round(time.time() - t0, 1),
                }
            )
            if best:
                state["best_iou"], state["best_epoch"] = v_iou, epoch
            checkpoint.save(run, model, opt, state, best and not ema)
            print(json.dumps(state["history"][-1]), flush=True)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
