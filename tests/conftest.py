"""Fixtures and markers shared by the whole suite.

Markers (registered in pyproject.toml): `browser` drives the operator page in headless
Chromium, `broker` starts a real Mosquitto, `slow` takes several seconds or more, and
`shared_data` reads `../shared/data`, so it is skipped, with the reason, where that folder is
absent. `pytest -m "not browser and not broker and not slow"` is the quick run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.box_config import copy_samples
from tests.paths import SHARED_DATA, SHARED_DATA_ABSENT


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=SHARED_DATA_ABSENT)
    for item in items:
        if item.get_closest_marker("shared_data"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`; the test is skipped, saying so, when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(SHARED_DATA_ABSENT)
    return SHARED_DATA


@pytest.fixture()
def sample_photos(tmp_path: Path) -> Path:
    """A folder of copies of the bundled sample photos, for a files source to read."""
    return copy_samples(tmp_path / "photos")
