"""A training run on disk: last weights, optimizer slots and state.json, plus the best weights.

Shared by the student (`tools.model.train`) and the booth model (`tools.booth.train_plate`),
so both resume the same way after a restart.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def can_resume(run: Path) -> bool:
    return (run / "state.json").exists() and (run / "last.weights.h5").exists()


def load(run: Path, model, opt) -> dict:
    """Restore the last weights and optimizer slots into `model`/`opt`; return the run state."""
    state = json.loads((run / "state.json").read_text())
    model.load_weights(run / "last.weights.h5")
    saved = np.load(run / "last.optimizer.npz")
    for i, v in enumerate(opt.variables):
        v.assign(saved[f"v{i}"])
    return state


def save(run: Path, model, opt, state: dict, best: bool) -> None:
    """Write the last weights, optimizer slots and state (and the best weights when `best`)."""
    model.save_weights(run / "last.weights.h5")
    np.savez(run / "last.optimizer.npz", **{f"v{i}": v.numpy() for i, v in enumerate(opt.variables)})
    if best:
        model.save_weights(run / "best.weights.h5")
    (run / "state.json").write_text(json.dumps(state, indent=1))
