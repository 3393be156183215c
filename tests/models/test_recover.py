"""Recovering float weights from the shipped int8 models (tools/model/recover.py).

The Keras side (loading them into the student and calibrating its BatchNormalizations) needs
TensorFlow, which CI does not install; what is read out of the .tflite files is checked here
with the device runtime alone.
"""

import json

import numpy as np
import pytest

from tests.paths import BOOTH_MODEL, STUDENT_MODEL
from tools.model.recover import model_shape, read_convolutions

STUDENT, BOOTH = STUDENT_MODEL, BOOTH_MODEL


@pytest.fixture(scope="module", params=[STUDENT, BOOTH], ids=["student", "booth"])
def model(request):
    card = json.loads(request.param.with_suffix(".json").read_text())
    return request.param, card, read_convolutions(request.param)


def test_every_convolution_is_read_once_with_its_layer(model):
    _, card, convs = model
    ops = card["int8_check"]["op_counts"]
    assert len(convs) == ops["CONV_2D"] + ops["DEPTHWISE_CONV_2D"]
    names = [c["layer"] for c in convs]
    assert len(set(names)) == len(names)
    assert {"Conv1", "expanded_conv_depthwise", "block_13_expand", "bottom_conv", "dec2b_pw", "head"} <= set(names)


def test_each_convolution_names_the_batchnorm_folded_into_it(model):
    _, _, convs = model
    by = {c["layer"]: c["bn"] for c in convs}
    assert by["head"] is None  # the head has its own bias and no BatchNormalization
    assert by["Conv1"] == "bn_Conv1"
    assert by["block_1_expand"] == "block_1_expand_BN"
    assert by["dec0a_dw"] == "dec0a_dw_bn"
    assert all(bn for name, bn in by.items() if name not in ("head", "plate_prep"))


def test_kernels_come_out_in_keras_layout(model):
    path, _, convs = model
    by = {c["layer"]: c for c in convs}
    in_ch = 6 if path == BOOTH else 3
    assert by["Conv1"]["kernel"].shape == (3, 3, in_ch, 32)
    assert by["block_1_depthwise"]["kernel"].shape == (3, 3, 96, 1)  # depthwise: (kh, kw, channels, 1)
    assert by["head"]["kernel"].shape == (3, 3, 32, 1)
    for c in convs:
        out_ch = c["kernel"].shape[2] if c["op"] == "DEPTHWISE_CONV_2D" else c["kernel"].shape[3]
        assert c["bias"].shape == (out_ch,), c["layer"]


def test_dequantised_per_output_channel(model):
    """Symmetric per-channel int8 puts each output channel's largest weight at +-127 steps, so
    the largest |w| differs from channel to channel; dequantising on the wrong axis (or with
    one scale) would not give 127 whole steps in every channel."""
    _, _, convs = model
    c = next(c for c in convs if c["layer"] == "block_6_expand")
    k = c["kernel"].reshape(-1, c["kernel"].shape[-1])  # (kh*kw*in, out)
    peak = np.abs(k).max(axis=0)
    steps = k / peak * 127  # every weight a whole number of its channel's steps
    assert np.abs(steps - np.round(steps)).max() < 1e-3
    assert peak.std() / peak.mean() > 0.05
    assert np.isfinite(c["bias"]).all() and np.abs(c["bias"]).max() > 0


def test_the_student_is_rebuilt_in_the_shape_its_card_records(model):
    """A student with `[model] context` has the stride-32 branch's convolutions too; recovering
    it into the plain shape would fail, so the shape comes from the card's run config."""
    path, card, convs = model
    m = model_shape(card, booth=path == BOOTH)
    names = {c["layer"] for c in convs}
    assert m["size"] == card["input"]["width"]
    assert ("context_conv" in names) == bool(m.get("context"))
    if m.get("context"):
        assert {"block_13_depthwise", "block_14_expand", "block_14_project"} <= names


def test_the_decoder_reads_the_encoder_where_the_card_says():
    """`[model] taps`: the student's skip and bottom projections read MobileNetV2's wide
    expansions ("expanded") or the narrow block outputs beside them ("narrow")."""
    card = json.loads(STUDENT.with_suffix(".json").read_text())
    taps = model_shape(card).get("taps", "expanded")
    channels = {"expanded": (96, 144, 192, 576), "narrow": (16, 24, 32, 96)}[taps]
    by = {c["layer"]: c["kernel"].shape[2] for c in read_convolutions(STUDENT)}
    assert (by["skip2_conv"], by["skip1_conv"], by["skip0_conv"], by["bottom_conv"]) == channels
