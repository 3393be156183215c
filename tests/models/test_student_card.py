"""The student card says which run its weights came from (tools/model/card.py)."""

import json
import shutil

import pytest

from device.devtools.bench import machine
from tools import REPO
from tools import evaluate as ev
from tools.model.card import LICENCES, NAME, SERIES, lineage, retime, same_images, teachers, write_md


def _cfg(init=None) -> dict:
    cfg = {"train": {"lr": 3e-4, "epochs": 18, "steps_per_epoch": 100}}
    if init is not None:
        cfg["init"] = str(init)
    return cfg


def test_a_run_from_the_backbone_is_versioned_by_its_best_epoch():
    assert lineage(_cfg(), {"best_epoch": 22}) == (f"{SERIES}.22", "encoder from the ImageNet backbone")


def test_a_run_continued_from_a_recovered_shipped_student_counts_on_from_its_epochs(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"kind": "student", "source_version": f"{SERIES}.22", "source_sha256": "69c0a51bf445b83b7a0a"})
    )
    version, start = lineage(_cfg(tmp_path / "best.weights.h5"), {"best_epoch": 15})
    assert version == f"{SERIES}.37"
    assert f"continued from the shipped student {SERIES}.22 (sha256 69c0a51bf445," in start
    assert start.endswith("lr 0.0003 for 18 epochs of 100 steps")


def test_a_run_that_kept_a_moving_average_of_its_weights_says_so(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "student", "source_version": f"{SERIES}.22"}))
    cfg = _cfg(tmp_path / "best.weights.h5")
    cfg["train"]["ema"] = 0.995
    assert lineage(cfg, {"best_epoch": 3})[1].endswith("for 18 epochs of 100 steps, weights averaged (ema 0.995)")


def test_a_run_continued_from_another_run_counts_that_runs_epochs_too(tmp_path):
    """0.2.54 recovered -> 20 epochs (best 16) -> 10 more from that run's best -> this run, from
    the second run's last checkpoint: 54 + 16 + 10 + this run's best epoch."""
    recovered, first, second = (tmp_path / n for n in ("recovered", "first", "second"))
    for d in (recovered, first, second):
        d.mkdir()
    (recovered / "config.json").write_text(
        json.dumps({"kind": "student", "source_version": f"{SERIES}.54", "source_sha256": "6801a9c1c643"})
    )
    (first / "config.json").write_text(json.dumps({"train": {"lr": 3e-4}, "init": str(recovered / "best.weights.h5")}))
    (first / "state.json").write_text(json.dumps({"epoch": 20, "best_epoch": 16}))
    (second / "config.json").write_text(
        json.dumps({"train": {"lr": 1e-4, "ema": 0.995}, "init": str(first / "best.weights.h5")})
    )
    (second / "state.json").write_text(json.dumps({"epoch": 10, "best_epoch": 3}))
    version, start = lineage(_cfg(second / "last.weights.h5"), {"best_epoch": 7})
    assert version == f"{SERIES}.87"
    assert start.startswith(
        f"continued from the shipped student {SERIES}.54 (sha256 6801a9c1c643, float weights "
        "recovered by tools.model.recover), then 16 epochs at lr 0.0003 (first, best.weights.h5), "
        "then 10 epochs at lr 0.0001, weights averaged (ema 0.995) (second, last.weights.h5), "
        "then at lr 0.0003 for 18 epochs of 100 steps"
    )


def test_a_recovered_model_of_another_series_or_kind_does_not_count(tmp_path):
    for src in ({"kind": "student", "source_version": "0.1.12"}, {"kind": "booth", "source_version": f"{SERIES}.5200"}):
        (tmp_path / "config.json").write_text(json.dumps(src))
        version, start = lineage(_cfg(tmp_path / "best.weights.h5"), {"best_epoch": 4})
        assert version == f"{SERIES}.4"
        assert start == f"initialised from {tmp_path / 'best.weights.h5'}"


def _result(model: str, names: list[str], iou: float, false_px: int) -> dict:
    rows = [
        {
            "name": n,
            "iou": iou,
            "mae": 0.1,
            "sad": 1.0,
            "grad": 0.5,
            "boundary_f": 0.8,
            "false_fg": false_px / 100,
            "missed": 0.0,
            "true_px": 100,
        }
        for n in names
    ]
    return {"model": model, "images": len(rows), "ms_p50": 1.0, "ms_p95": 2.0, "per_image": rows}


def test_the_teachers_like_for_like_table_scores_only_the_images_the_teacher_ran_on():
    student = _result("student int8", ["a", "b", "c", "d"], 0.9, 10)
    student["per_image"][3].update(iou=0.1, false_fg=5.0)  # an image the teacher never saw
    teacher = _result("isnet", ["a", "b"], 0.99, 0)
    rows = same_images([student, teacher])
    assert [(r["model"], r["images"]) for r in rows] == [("student int8", 2), ("isnet", 2)]
    assert rows[0]["iou"] == 0.9 and rows[0]["false_fg"] == 0.1 and rows[1]["false_fg"] == 0.0
    assert rows[1]["iou_vs_first"]["diff"] == 0.09  # on the two images both ran on
    assert "| student int8 | 2 | 0.9000 |" in ev.table(rows)  # every column the card's table prints


def _card_copy(tmp_path):
    for ext in (".tflite", ".json", ".md"):
        shutil.copy(REPO / "models" / f"{NAME}{ext}", tmp_path / f"{NAME}{ext}")
    return tmp_path / f"{NAME}.json"


@pytest.mark.slow
@pytest.mark.shared_data  # times the model on a ../shared COCO photo
def test_retime_rewrites_only_the_latency_and_says_which_machine_timed_it(tmp_path):
    card_path = _card_copy(tmp_path)
    before = json.loads(card_path.read_text())
    before["latency"] = {"ms_p50": -1.0, "ms_p95": -1.0, "runtime": "elsewhere", "note": "stale"}
    card_path.write_text(json.dumps(before))
    got = retime(tmp_path)
    after = json.loads(card_path.read_text())
    assert after["latency"] == got
    assert 0 < got["ms_p50"] <= got["ms_p95"] and got["runs"] == 200
    assert machine()["cpu"] in got["runtime"] and got["measured"]
    assert {k: v for k, v in after.items() if k != "latency"} == {k: v for k, v in before.items() if k != "latency"}
    assert f"- p50 {got['ms_p50']} ms, p95 {got['ms_p95']} ms" in card_path.with_suffix(".md").read_text()


def test_retime_refuses_a_card_that_describes_another_file(tmp_path):
    card_path = _card_copy(tmp_path)
    card = json.loads(card_path.read_text())
    card["sha256"] = "0" * 64
    card_path.write_text(json.dumps(card))
    with pytest.raises(SystemExit, match="sha256 differs"):
        retime(tmp_path)
    assert json.loads(card_path.read_text())["latency"] == card["latency"]


def test_the_card_names_a_second_teacher_and_its_licence_when_labels_were_blended():
    dirs = ["../shared/data/distill/clothing", "../shared/data/distill/trashnet"]
    labels, licences = teachers({"dirs": dirs, "extra_labels": ""})
    assert labels == "IS-Net soft alpha"
    assert set(licences) == {"clothing", "trashnet", "backbone", "teacher"}  # only the sources the run used
    labels, licences = teachers(
        {"dirs": dirs, "extra_labels": "~/.cache/cutbox-train/labels/u2netp", "extra_weight": 0.3}
    )
    assert labels.startswith("IS-Net soft alpha blended 0.7 / 0.3 with U2-Net-p's")
    assert "Apache-2.0" in licences["second_teacher"] and licences["teacher"] == LICENCES["teacher"]


def test_the_card_shows_the_students_compute_against_the_issues_caps_when_it_records_it(tmp_path):
    card = json.loads((REPO / "models" / f"{NAME}.json").read_text())
    card.pop("compute", None)
    write_md(card, tmp_path / "old.md")
    assert "## Compute" not in (tmp_path / "old.md").read_text()  # a card from before it was recorded
    card["compute"] = {"gmac": 0.491, "params_m": 1.153, "limits": {"gmac": 0.5, "params_m": 3.0}}
    write_md(card, tmp_path / "new.md")
    assert "## Compute\n- 0.491 GMAC, 1.153 M parameters (limits 0.5 GMAC, 3.0 M)" in (tmp_path / "new.md").read_text()
