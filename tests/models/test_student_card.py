"""The student card says which run its weights came from (tools/model/card.py)."""

import json

from tools.model.card import SERIES, lineage


def _cfg(init=None) -> dict:
    cfg = {"train": {"lr": 3e-4, "epochs": 18, "steps_per_epoch": 100}}
    if init is not None:
        cfg["init"] = str(init)
    return cfg


def test_a_run_from_the_backbone_is_versioned_by_its_best_epoch():
    assert lineage(_cfg(), {"best_epoch": 22}) == (f"{SERIES}.22", "encoder from the ImageNet backbone")


def test_a_run_continued_from_a_recovered_shipped_student_counts_on_from_its_epochs(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"kind": "student", "source_version": f"{SERIES}.22", "source_sha256": "69c0a51bf445b83b7a0a"}))
    version, start = lineage(_cfg(tmp_path / "best.weights.h5"), {"best_epoch": 15})
    assert version == f"{SERIES}.37"
    assert f"continued from the shipped student {SERIES}.22 (sha256 69c0a51bf445," in start
    assert "lr 0.0003 for 18 epochs of 100 steps" in start


def test_a_recovered_model_of_another_series_or_kind_does_not_count(tmp_path):
    for src in ({"kind": "student", "source_version": "0.1.12"}, {"kind": "booth", "source_version": f"{SERIES}.5200"}):
        (tmp_path / "config.json").write_text(json.dumps(src))
        version, start = lineage(_cfg(tmp_path / "best.weights.h5"), {"best_epoch": 4})
        assert version == f"{SERIES}.4"
        assert start == f"initialised from {tmp_path / 'best.weights.h5'}"
