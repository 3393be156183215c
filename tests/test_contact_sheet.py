"""The contact-sheet command writes a before/after PNG: one row per photo, one column per preset."""

from __future__ import annotations

import cv2
import pytest

from device.cli import main
from tests.paths import CLOTHING

pytestmark = pytest.mark.shared_data


def test_contact_sheet_command_writes_a_png(tmp_path):
    photos = [
        str(CLOTHING / "00143901-a14c-4600-960f-7747b4a3a8cd.jpg"),
        str(CLOTHING / "00003aeb-ace5-43bf-9a0c-dc31a03e9cd2.jpg"),
    ]
    out = tmp_path / "sheet.png"
    rc = main(
        [
            "contact-sheet",
            *photos,
            "--alpha-dir",
            str(CLOTHING),
            "--preset",
            "marketplace-white",
            "--preset",
            "transparent-png",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 360, 3 * 360, 3)  # 2 photos x (before + 2 presets)
    # the after-tiles differ from the before-tiles (the backdrop is gone)
    assert abs(float(sheet[:, 360:720].mean()) - float(sheet[:, :360].mean())) > 5


def test_contact_sheet_rejects_an_unknown_preset(tmp_path, capsys):
    rc = main(["contact-sheet", "--alpha-dir", str(CLOTHING), "--preset", "nope", "--out", str(tmp_path / "s.png")])
    assert rc == 2 and "unknown preset 'nope'" in capsys.readouterr().err
