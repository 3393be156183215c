"""The booth evaluation set holds only products of categories no model trained on, with thin
and open objects and products over the frame edge; the booth composites for training add hard
negatives (target zero) and the plate/frame mismatches of a real booth."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tools.booth import evaluate_booth, make_booth_set, synth, train_plate
from tools.booth.train_plate import parse_args
from tools.model.data import is_held_out

HOLDOUT = synth.holdout_patterns(synth.DIVERSE_TOML)

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def booth_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("booth-set-unseen")
    return out, make_booth_set.make_set(out, 10, seed=7)


def test_booth_set_is_made_of_unseen_categories_only_and_says_so(booth_set):
    out, manifest = booth_set
    assert HOLDOUT and manifest["split"].endswith("[data] holdout unseen")
    assert manifest["products"].startswith("unseen categories only") and all(p in manifest["products"] for p in HOLDOUT)
    for im in manifest["images"]:
        source, stem = im["product"].split("/")
        assert is_held_out(synth.DATA / source / f"{stem}.jpg", HOLDOUT), im["product"]
    # drawn in turn from each category, not the biggest one (TrashNet glass) ten times
    assert len({im["product"].split("/")[1].split("-")[0].split("_")[0] for im in manifest["images"]}) >= 3
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_booth_set_has_thin_open_and_edge_cases_with_their_lists(booth_set):
    out, manifest = booth_set
    names = {c: (out / f"{c}.txt").read_text().split() for c in (*make_booth_set.CASE_SHARE, "edge")}
    assert names["thin"] and names["white_on_white"] and names["translucent"] and names["edge"]
    for name in names["edge"]:  # the product really is cut by the frame
        gt = cv2.imread(str(out / "gt" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        assert max(gt[:, 0].max(), gt[:, -1].max(), gt[-1].max()) > 128, name
    for name in names["thin"]:  # open: the booth shows through the product's outline
        gt = cv2.imread(str(out / "gt" / f"{name}.png"), cv2.IMREAD_GRAYSCALE) > 128
        ys, xs = np.nonzero(gt)
        assert gt.sum() < 0.45 * (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1), name


def test_quality_shows_every_mode_with_paired_intervals_per_subset(booth_set, tmp_path, capsys):
    out, _ = booth_set
    card = tmp_path / "cutbox-booth-int8.tflite"
    card.write_bytes(evaluate_booth.BOOTH_MODEL.read_bytes())
    (tmp_path / "cutbox-booth-int8.json").write_text(evaluate_booth.BOOTH_MODEL.with_suffix(".json").read_text())
    res_path = tmp_path / "q.json"
    argv = ["quality", "--set", str(out), "--booth", str(card), "--no-u2netp", "--isnet-limit", "0"]
    assert evaluate_booth.main([*argv, "--limit", "6", "--json-out", str(res_path)]) == 0
    res = json.loads(res_path.read_text())
    models = [r["model"] for r in res["subsets"]["all"]]
    assert any(m.startswith("plate mode (") for m in models) and any(m.startswith("generic mode (") for m in models)
    assert "difference keying (no model)" in models and any(m.startswith("booth mode, device") for m in models)
    assert {"all", "compact", "thin"} <= set(res["subsets"])
    for d in res["paired"]["all"]:
        assert d["low"] <= d["diff"] <= d["high"] and d["n"] == 6
    assert sum(res["device_modes"].values()) == 6
    assert any(k.startswith("plate mode IoU >= 0.97 (compact)") for k in res["targets"])
    # the card beside the evaluated model gets the table under the set's name, and its markdown the intervals
    written = json.loads((tmp_path / "cutbox-booth-int8.json").read_text())
    assert out.name in written["metrics"]
    assert "paired bootstrap interval" in (tmp_path / "cutbox-booth-int8.md").read_text()
    assert "IoU minus plate mode's" in capsys.readouterr().out


# ---- training composites -------------------------------------------------------------------------
def test_plate_training_products_are_every_source_minus_the_held_out_categories():
    train, origin = synth.config_products(synth.DIVERSE_TOML, "train")
    val, _ = synth.config_products(synth.DIVERSE_TOML, "val")
    assert "seen categories" in origin
    assert {p.name.split("/")[0] for p in train} == {"clothing", "grocery-iconic", "grocery-instore", "trashnet"}
    assert not [p for p in train + val if is_held_out(p.image, HOLDOUT)]
    assert not {p.name for p in train} & {p.name for p in val}


def test_hard_negatives_have_a_zero_target_and_a_change_the_plate_lacks():
    rng = np.random.default_rng(3)
    same = synth.empty_booth(rng, 120, 160, mismatch=synth.Mismatch(flicker=0.0, max_shift=0.0))
    assert same.alpha.max() == 0 and same.case == "empty"
    assert np.abs(same.image.astype(float) - same.plate).mean() < 4  # frame = plate, up to noise
    changed = synth.empty_booth(rng, 120, 160, change=True, mismatch=synth.Mismatch(flicker=0.0, max_shift=0.0))
    diff = np.abs(changed.image.astype(float) - changed.plate).max(axis=2)
    assert changed.alpha.max() == 0 and (diff > 30).sum() > 20  # a smudge or cable, not in the target


def test_training_mismatch_drifts_shifts_and_compresses_the_frame_not_the_plate():
    rng = np.random.default_rng(5)
    prods, _ = synth.config_products(synth.DIVERSE_TOML, "val")
    rgb, a = synth.load_product(next(p for p in prods if p.name.startswith("trashnet/")))
    mm = synth.Mismatch(flicker=0.0, wb=0.05, max_shift=3.0, noise=(0.0, 0.0), p_jpeg=1.0)
    c = synth.composite(rgb, a, rng, 144, 192, case="plain", mismatch=mm, plate_kind="texture", edge=True)
    assert max(c.alpha[:, 0].max(), c.alpha[:, -1].max(), c.alpha[-1].max()) > 0.5
    bg = c.alpha < 0.01
    ratio = (c.image[bg].astype(float) + 1) / (c.plate[bg].astype(float) + 1)
    assert np.abs(np.median(ratio, axis=0) - 1).max() > 0.005  # white balance or shift moved the background
    with pytest.raises(ValueError, match="plate kind"):
        synth.make_plate(rng, 10, 10, "marble")


@pytest.mark.slow
def test_plate_training_config_mixes_hard_negatives_edges_and_booths():
    args = parse_args(["train", "--config", "tools/booth/train-plate-diverse.toml", "--batch", "3"])
    assert args.batch == 3 and args.total_steps == 6000  # the command line wins, the config fills the rest
    mix = train_plate.PlateMix.from_table(args.data)
    assert mix.p_empty > 0 and mix.p_edge > 0 and mix.mismatch.max_shift == 3.0 and mix.mismatch.p_jpeg > 0
    items, origin = train_plate.products("train", args.data["products_from"])
    assert "seen categories" in origin and not [p for p in items if is_held_out(p.image, HOLDOUT)]
    rng = np.random.default_rng(1)
    pairs = [train_plate.sample(items, rng, 64, case_weights=args.case_weights, mix=mix) for _ in range(40)]
    assert all(x.shape == (64, 64, 6) and x.dtype == np.uint8 and y.shape == (32, 32) for x, y in pairs)
    assert sum(y.max() == 0 for _, y in pairs) >= 1  # hard negatives: nothing to cut out
    assert sum(y.max() > 0.5 for _, y in pairs) >= 30


def test_plate_training_config_typos_fail_before_training(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\np_emtpy = 0.1\n")
    with pytest.raises(SystemExit, match="unknown keys"):
        parse_args(["train", "--config", str(bad)])
    bad.write_text("[train]\nlearning_rate = 1.0\n")
    with pytest.raises(SystemExit, match="not a train option"):
        parse_args(["train", "--config", str(bad)])
    bad.write_text("[data]\nplate_kinds = { marble = 1.0 }\n")
    with pytest.raises(SystemExit, match="plate_kinds"):
        parse_args(["train", "--config", str(bad)])
