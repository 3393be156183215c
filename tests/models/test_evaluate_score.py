"""tools/evaluate.py's per-image metrics on masks whose answer is known by construction."""

import numpy as np
import pytest

from tools.evaluate import mean_scores, paired_difference, score, with_differences


def test_iou_false_foreground_and_missed_area():
    gt = np.zeros((100, 100), np.float32)
    gt[20:60, 20:70] = 1.0  # 2000 px of product
    pred = np.zeros_like(gt)
    pred[20:60, 30:80] = 1.0  # shifted 10 px: 1600 px right, 400 over the edge
    s = score(pred, gt, np.ones(gt.shape, bool))
    assert abs(s["iou"] - 1600 / 2400) < 1e-6
    assert abs(s["false_fg"] - 400 / 2000) < 1e-6
    assert abs(s["missed"] - 400 / 2000) < 1e-6
    assert abs(s["sad"] - 0.8) < 1e-6  # 800 px wrong by 1, in thousands


def test_a_see_through_part_below_half_alpha_is_background_for_iou():
    gt = np.zeros((50, 50), np.float32)
    gt[10:40, 10:40] = 1.0
    gt[10:20, 10:40] = 0.4  # a translucent third: under the 0.5 cut
    pred = (gt > 0).astype(np.float32)  # calls the whole product solid
    s = score(pred, gt, np.ones(gt.shape, bool))
    assert abs(s["false_fg"] - 300 / 600) < 1e-6 and s["missed"] == 0.0
    assert abs(s["iou"] - 600 / 900) < 1e-6


def test_false_foreground_is_pooled_over_the_set_so_an_empty_reference_cannot_swamp_it():
    valid = np.ones((100, 100), bool)
    gt = np.zeros((100, 100), np.float32)
    gt[20:60, 20:70] = 1.0  # 2000 px of product
    pred = np.zeros_like(gt)
    pred[20:60, 30:80] = 1.0  # 400 px false, 400 missed
    empty_gt = np.zeros_like(gt)  # a photo whose reference holds no product
    speck = np.zeros_like(gt)
    speck[:10, :10] = 1.0  # 100 px called on it
    rows = [score(pred, gt, valid), score(speck, empty_gt, valid)]
    m = mean_scores(rows, ("iou", "false_fg", "missed"))
    assert abs(m["false_fg"] - 500 / 2001) < 1e-6  # 400 + 100 false px over 2000 (+1) true
    assert abs(m["missed"] - 400 / 2001) < 1e-6
    assert abs(m["iou"] - (1600 / 2400 + 0.0) / 2) < 1e-6  # IoU stays a per-image mean
    assert list(m) == ["iou", "false_fg", "missed"]


def _result(model: str, ious) -> dict:
    return {"model": model, "per_image": [{"name": f"img{i}", "iou": v} for i, v in enumerate(ious)]}


def test_a_gap_a_few_images_make_has_an_interval_across_zero_and_a_steady_one_does_not():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.3, 0.9, 200)
    noise = rng.normal(0, 0.05, 200)  # two checkpoints differ a little on every image,
    lucky = base + noise - noise.mean()  # either way, and on the mean not at all,
    lucky[:4] += 0.5  # but for four scenes that flip: +1 point
    steady = base + 0.01  # +1 point on every image
    few = paired_difference(_result("a", base), _result("b", lucky))
    every = paired_difference(_result("a", base), _result("c", steady))
    assert abs(few["diff"] - 0.01) < 1e-9 and abs(every["diff"] - 0.01) < 1e-9
    assert few["low"] < 0 < few["high"]
    assert 0.0099 < every["low"] <= every["high"] < 0.0101
    assert few["against"] == "a"


def test_models_scored_on_different_images_are_not_compared():
    with pytest.raises(ValueError, match="different images"):
        paired_difference(_result("a", [0.5, 0.6]), _result("b", [0.5, 0.6, 0.7]))


def test_a_models_iou_gap_to_the_first_is_given_only_over_the_same_images():
    student = _result("student int8", [0.9, 0.9, 0.9, 0.9])
    u2netp = _result("u2netp", [0.95, 0.9, 0.85, 1.0])
    isnet = _result("isnet", [0.99, 0.99])  # ran on a subset only
    out = with_differences([student, u2netp, isnet])
    gap = out[1]["iou_vs_first"]
    assert gap["against"] == "student int8" and gap["diff"] == pytest.approx(0.025)
    assert gap["low"] < 0.025 < gap["high"]
    assert "iou_vs_first" not in out[2]
