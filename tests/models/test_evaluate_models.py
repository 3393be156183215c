"""tools/evaluate.py's model specs on the shipped student and a bundled photo with a teacher alpha."""

import cv2
import numpy as np

from tests.paths import SAMPLES, STUDENT_MODEL, TEST_DATA
from tools.evaluate import WithMatte, load_model, read_rgb, score

STUDENT = STUDENT_MODEL


def test_plus_matte_scores_the_alpha_a_capture_gets():
    rgb = read_rgb(SAMPLES / "sweater.jpg")
    gt = cv2.imread(str(TEST_DATA / "alpha" / "sweater.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    raw, matted = load_model(str(STUDENT)), load_model(f"{STUDENT}+matte")
    assert isinstance(matted, WithMatte) and matted.name == "cutbox-student-int8 + matte"
    low, full = raw(rgb), matted(rgb)
    assert low.shape == (128, 128)  # the model's own output size
    assert full.shape == rgb.shape[:2] and 0.0 <= full.min() and full.max() <= 1.0
    valid = np.ones(gt.shape, bool)
    s_raw, s_matte = score(low, gt, valid), score(full, gt, valid)
    assert s_matte["iou"] > 0.9
    # the guided matte follows the photo's edges: closer to the teacher's soft alpha than a
    # bilinear upscale of the 128-px mask
    assert s_matte["sad"] < s_raw["sad"]
