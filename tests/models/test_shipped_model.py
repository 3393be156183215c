"""The shipped student: fully int8, matches its card, and cuts out real packshots.

Runs on the device runtime only (ai_edge_litert, no TensorFlow).
"""

import hashlib
import json

import cv2
import numpy as np
import pytest

from tests.paths import GROCERY, STUDENT_MODEL, TEST_DATA
from tools.model.data import is_validation
from tools.model.int8_check import Interpreter, int8_check

MODEL = STUDENT_MODEL
CARD = MODEL.with_suffix(".json")


@pytest.fixture(scope="module")
def card():
    return json.loads(CARD.read_text())


@pytest.fixture(scope="module")
def interpreter():
    it = Interpreter(model_path=str(MODEL), num_threads=1)
    it.allocate_tensors()
    return it


def test_fully_int8():
    check = int8_check(str(MODEL))
    assert check["fully_int8"], check["problems"][:5]
    assert check["input"]["dtype"] == "uint8" and check["output"]["dtype"] == "uint8"
    forbidden = {"TRANSPOSE", "TRANSPOSE_CONV", "DEQUANTIZE", "QUANTIZE_FLOAT"} & set(check["op_counts"])
    assert not forbidden, forbidden


def test_card_matches_file(card, interpreter):
    assert card["file"] == MODEL.name
    assert card["sha256"] == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    _, h, w, c = inp["shape"]
    assert (card["input"]["width"], card["input"]["height"]) == (w, h)
    assert card["input"]["channels"] == "RGB" and c == 3
    assert card["input"]["dtype"] == np.dtype(inp["dtype"]).name == "uint8"
    assert (card["output"]["width"], card["output"]["height"]) == (out["shape"][2], out["shape"][1])
    assert card["output"]["dtype"] == np.dtype(out["dtype"]).name == "uint8"
    assert card["int8_check"]["fully_int8"] is True
    assert card["output"]["threshold"] == 0.5
    assert 256 <= w <= 320 and w == h


def _predict(it, rgb):
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x = cv2.resize(rgb, (inp["shape"][2], inp["shape"][1]), interpolation=cv2.INTER_AREA)
    it.set_tensor(inp["index"], x[None])
    it.invoke()
    return it.get_tensor(out["index"])[0, ..., 0]


@pytest.mark.shared_data
def test_cuts_out_held_out_packshots(interpreter):
    photos = [p for p in sorted(GROCERY.glob("*.jpg")) if is_validation(p.stem, 0.08)]
    photos += [p for p in sorted(GROCERY.glob("*.jpg")) if not is_validation(p.stem, 0.08)][: max(0, 8 - len(photos))]
    assert len(photos) >= 4, f"grocery photos missing under {GROCERY}"
    ious = []
    for jpg in photos:
        rgb = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB)
        label = cv2.imread(str(jpg.with_suffix(".png")), cv2.IMREAD_GRAYSCALE) >= 128
        q = _predict(interpreter, rgb)
        pred = cv2.resize(q, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_LINEAR) >= 128
        ious.append((pred & label).sum() / max((pred | label).sum(), 1))
    assert np.mean(ious) >= 0.8, dict(zip([p.stem for p in photos], np.round(ious, 3)))
    assert min(ious) >= 0.5, dict(zip([p.stem for p in photos], np.round(ious, 3)))


def test_cuts_out_products_of_categories_it_never_learnt(interpreter):
    """Glass, tins and cartons in a hand held out of training altogether (tests/data/unseen).
    0.2.81, trained on garments, scored 0.858 mean and 0.216 at worst here (a carton in a hand
    came back with half the shelf); the floor is set above that."""
    photos = sorted((TEST_DATA / "unseen").glob("*.jpg"))
    assert len(photos) == 12
    ious = {}
    for jpg in photos:
        rgb = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB)
        label = cv2.imread(str(jpg.with_suffix(".png")), cv2.IMREAD_GRAYSCALE) >= 128
        q = _predict(interpreter, rgb)
        pred = cv2.resize(q, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_LINEAR) >= 128
        ious[jpg.stem] = round(float((pred & label).sum() / max((pred | label).sum(), 1)), 3)
    assert np.mean(list(ious.values())) >= 0.9, ious
    assert min(ious.values()) >= 0.5, ious


def test_rejects_nothing_silently_on_blank_frame(interpreter):
    """A plain white sweep with no product must not come back as 'all product'."""
    q = _predict(interpreter, np.full((480, 640, 3), 235, np.uint8))
    assert (q >= 128).mean() < 0.5
