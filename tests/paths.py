"""Where the tests find things: this repository, its bundled sample photos and models, and the
shared data folder that sits beside a clone (`../shared/data`: real photos with teacher labels).

A clone may lack the shared folder; tests that read it carry the `shared_data` marker and are
skipped, with the reason, when it is absent (see tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "device" / "samples"
TEST_DATA = REPO / "tests" / "data"
DEFAULT_CONFIG = REPO / "firmware_config" / "cutbox.toml"
MODELS = REPO / "models"
STUDENT_MODEL = MODELS / "cutbox-student-int8.tflite"
BOOTH_MODEL = MODELS / "cutbox-booth-int8.tflite"

SHARED_DATA = REPO.parent / "shared" / "data"
DISTILL = SHARED_DATA / "distill"
CLOTHING = DISTILL / "clothing"
GROCERY = DISTILL / "grocery-iconic"
SHARED_DATA_ABSENT = f"needs the shared data folder {SHARED_DATA}, which is absent beside this clone"
