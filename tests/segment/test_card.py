"""The model card: read from beside the model, and checked against it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from device.config import load_config
from device.segment import ModelCard, ModelError
from device.segment.litert import LiteRTSegmenter


@pytest.fixture(scope="module")
def model_path() -> Path:
    path = load_config().segment.model
    assert path.is_file(), f"the shipped model is missing: {path}"
    return path


@pytest.fixture
def model_copy(tmp_path, model_path):
    """The shipped model and its card copied to a scratch folder, to be tampered with."""
    dst = tmp_path / model_path.name
    shutil.copy(model_path, dst)
    shutil.copy(ModelCard.card_path_for(model_path), ModelCard.card_path_for(dst))
    return dst


def _edit_card(model: Path, edit) -> None:
    card_path = ModelCard.card_path_for(model)
    card = json.loads(card_path.read_text())
    edit(card)
    card_path.write_text(json.dumps(card))


def test_the_shipped_card_describes_the_shipped_model(model_path):
    card = ModelCard.load(model_path)
    card.check_file(model_path)
    assert card.model_path == model_path
    assert card.input_dtype == "uint8" and card.input_channels == "RGB"
    assert card.input_width > 0 and card.output_width > 0 and 0 < card.threshold < 1
    assert card.name in card.label and card.version in card.label


def test_a_missing_model_file_is_one_line_naming_the_setting(tmp_path):
    with pytest.raises(ModelError) as e:
        LiteRTSegmenter(tmp_path / "gone.tflite")
    assert "model file not found" in str(e.value) and "segment.model" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_model_without_its_card_is_refused(model_copy):
    ModelCard.card_path_for(model_copy).unlink()
    with pytest.raises(ModelError, match="model card not found"):
        LiteRTSegmenter(model_copy)


def test_a_card_with_the_wrong_sha256_is_refused(model_copy):
    _edit_card(model_copy, lambda c: c.update(sha256="0" * 64))
    with pytest.raises(ModelError) as e:
        LiteRTSegmenter(model_copy)
    assert "does not match its card" in str(e.value) and "sha256" in str(e.value)


def test_a_card_with_the_wrong_input_size_is_refused(model_copy):
    _edit_card(model_copy, lambda c: c["input"].update(width=c["input"]["width"] + 32))
    with pytest.raises(ModelError) as e:
        LiteRTSegmenter(model_copy)
    assert "card and model disagree" in str(e.value) and "\n" not in str(e.value)


def test_a_card_with_the_wrong_output_dtype_is_refused(model_copy):
    _edit_card(model_copy, lambda c: c["output"].update(dtype="float32"))
    with pytest.raises(ModelError, match="output dtype"):
        LiteRTSegmenter(model_copy)


def test_broken_or_incomplete_cards_are_one_line_errors(model_copy):
    card_path = ModelCard.card_path_for(model_copy)
    card_path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelCard.load(model_copy)
    card_path.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="lacks or mangles"):
        ModelCard.load(model_copy)


def test_a_garbage_model_file_with_a_matching_card_fails_to_load_cleanly(model_copy):
    import hashlib

    model_copy.write_bytes(b"this is not a flatbuffer" * 100)
    _edit_card(model_copy, lambda c: c.update(sha256=hashlib.sha256(model_copy.read_bytes()).hexdigest()))
    with pytest.raises(ModelError) as e:
        LiteRTSegmenter(model_copy)
    assert "cannot load model" in str(e.value) and "\n" not in str(e.value)
