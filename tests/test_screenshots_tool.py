"""`python -m tools.screenshots` makes the README's pictures of the page again, from a real box
in headless Chromium: four PNGs at the desktop and phone sizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tools.screenshots import DESKTOP, PHONE, take

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_screenshots_are_made_again_at_desktop_and_phone_sizes(tmp_path):
    paths = take(tmp_path / "shots")
    sizes = {p.name: Image.open(p).size for p in paths}
    assert sizes["desktop.png"][0] == DESKTOP["width"] and sizes["desktop.png"][1] > DESKTOP["height"]  # full page
    assert sizes["desktop-editor.png"] == (DESKTOP["width"], DESKTOP["height"])
    assert sizes["phone.png"] == sizes["phone-editor.png"] == (PHONE["width"], PHONE["height"])
    # The page's own pictures came out: the latest result is not an empty pane.
    desktop = Image.open(tmp_path / "shots" / "desktop.png").convert("L")
    assert len(np.unique(np.asarray(desktop.crop((660, 190, 1250, 480))))) > 50
