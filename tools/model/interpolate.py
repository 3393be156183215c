"""Interpolate a fine-tuned student with the weights it started from (WiSE-FT).

    python -m tools.model.interpolate --run ~/.cache/cutbox-train/runs/student-diverse-a --alpha 0.5 \\
        --out ~/.cache/cutbox-train/runs/student-diverse-a-wise

Fine-tuning on new data can trade what the start model knew for what the new data shows
(here: unseen products in a hand, against busy natural scenes). Averaging the two endpoints in
weight space (both share one lineage, so their weights are linearly connected) usually keeps
most of both (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"). `alpha` is the
fine-tuned share; fix it before looking at any reported set (0.5 is the paper's default), since
validation of the seen categories always favours the fine-tuned end.

Writes OUT/best.weights.h5 with the run's config.json and state.json beside it, so
`tools.model.card --weights OUT/best.weights.h5` converts and measures it like any run.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def interpolate(run: Path, alpha: float, out: Path) -> Path:
    from tools.model.student import from_config

    if not 0.0 <= alpha <= 1.0:
        raise SystemExit(f"error: --alpha {alpha}: use a share between 0 and 1")
    cfg = json.loads((run / "config.json").read_text())
    if not cfg.get("init"):
        raise SystemExit(f"error: {run} has no init weights to interpolate with")
    tuned = from_config(cfg["model"], pretrained=False)
    tuned.load_weights(run / "best.weights.h5")
    start = from_config(cfg["model"], pretrained=False)
    start.load_weights(cfg["init"])
    for v, s in zip(tuned.weights, start.weights, strict=True):
        v.assign(alpha * v.numpy() + (1.0 - alpha) * s.numpy())
    out.mkdir(parents=True, exist_ok=True)
    tuned.save_weights(out / "best.weights.h5")
    cfg["interpolated"] = {"alpha": alpha, "tuned": str(run / "best.weights.h5"), "start": cfg["init"]}
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    for name in ("state.json", "train.txt", "val.txt", "holdout.txt"):
        if (run / name).exists():
            shutil.copy(run / name, out / name)
    return out / "best.weights.h5"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a run dir whose config.json names its init weights")
    ap.add_argument("--alpha", type=float, default=0.5, help="share of the fine-tuned weights")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    print(interpolate(args.run.expanduser(), args.alpha, args.out.expanduser()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
