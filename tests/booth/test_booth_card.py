"""The booth model card says which weights it was made from (tools/booth/card.py)."""

import json
import shutil

import pytest

from tests.paths import BOOTH_MODEL
from tools.booth.card import write_card


def _state(**extra) -> dict:
    return {
        "step": 600,
        "best_step": 200,
        "best_iou": 0.93,
        "history": [],
        "seed": 5,
        "threads": 2,
        "model": {"size": 256, "width": 1.0, "decoder": [96, 64, 48, 32]},
        "schedule": {"lr": 2e-4, "total_steps": 600, "warmup_steps": 0, "batch": 8, "case_weights": None},
        **extra,
    }


@pytest.mark.slow
def test_a_continued_run_counts_on_from_the_model_it_started_from(tmp_path):
    tflite = tmp_path / BOOTH_MODEL.name
    shutil.copy(BOOTH_MODEL, tflite)
    card = write_card(
        tflite,
        _state(
            init="the plate model 0.1.1200 (recovered)",
            init_kind="plate",
            steps_before=1200,
            exported={"weights": "last.weights.h5", "step": 600},
        ),
        256,
    )
    assert card["version"] == "0.1.1800"
    assert card["training"]["exported"] == {"weights": "last.weights.h5", "step": 600}
    assert "continued from the plate model 0.1.1200" in card["training"]["summary"]
    assert "start at zero" not in card["training"]["summary"]
    md = (tmp_path / "cutbox-booth-int8.md").read_text()
    assert "# cutbox-booth-int8 0.1.1800" in md and "exported: last.weights.h5 (step 600)" in md
    assert json.loads((tmp_path / "cutbox-booth-int8.json").read_text())["version"] == "0.1.1800"


@pytest.mark.slow
def test_a_run_from_a_generic_student_is_versioned_by_its_best_step(tmp_path):
    tflite = tmp_path / BOOTH_MODEL.name
    shutil.copy(BOOTH_MODEL, tflite)
    card = write_card(tflite, _state(init="generic run/best.weights.h5"), 256)
    assert card["version"] == "0.1.200"
    assert "start at zero; initialised from generic run/best.weights.h5" in card["training"]["summary"]
