"""Quality score: a good matte scores high, a misplaced, smeared or empty one scores low."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.quality import assess
from tests.paths import SAMPLES, TEST_DATA

NAMES = ["cardigan", "cap", "shoes", "sweater"]


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    photo = cv2.cvtColor(cv2.imread(str(SAMPLES / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(TEST_DATA / "alpha" / f"{name}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    assert photo.shape[:2] == alpha.shape
    return photo, alpha


@pytest.mark.parametrize("name", NAMES)
def test_a_matte_on_the_product_outline_scores_high(name):
    photo, alpha = load(name)
    report = assess(alpha, photo)
    assert 0.0 <= report.score <= 1.0
    assert report.score >= 0.75, report


@pytest.mark.parametrize("name", NAMES)
def test_a_matte_shifted_off_the_outline_scores_lower(name):
    photo, alpha = load(name)
    good = assess(alpha, photo)
    shifted = assess(np.roll(alpha, 25, axis=1), photo)
    assert shifted.edge_alignment < good.edge_alignment - 0.2
    assert shifted.score < good.score - 0.1


@pytest.mark.parametrize("name", NAMES)
def test_a_smeared_matte_has_a_wide_uncertain_band(name):
    photo, alpha = load(name)
    smeared = cv2.GaussianBlur(alpha, (0, 0), 10)
    good, bad = assess(alpha, photo), assess(smeared, photo)
    assert bad.band_px > 3 * good.band_px
    assert bad.band_score < 0.6 and good.band_score > 0.9
    assert bad.score < good.score - 0.2


def test_nothing_cut_out_scores_zero():
    photo, alpha = load("cap")
    assert assess(np.zeros_like(alpha), photo).score == 0.0
    assert assess(np.ones_like(alpha), photo).score == 0.0


def test_accepts_8_bit_alpha_and_large_frames():
    photo, alpha = load("shoes")
    big_photo = cv2.resize(photo, None, fx=5, fy=5)
    big_alpha = cv2.resize((alpha * 255).astype(np.uint8), None, fx=5, fy=5)
    small, big = assess(alpha, photo), assess(big_alpha, big_photo)
    assert abs(small.score - big.score) < 0.1


def test_rejects_an_alpha_that_is_not_2d():
    with pytest.raises(ValueError, match="HxW"):
        assess(np.zeros((4, 4, 3), np.float32))
