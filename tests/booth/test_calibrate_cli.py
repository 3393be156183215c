"""`cutbox calibrate` end to end on image files of an empty booth, and `--check`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from device.cli import main  # noqa: E402
from tests.booth.booth_fakes import booth_plate, shifted, with_product  # noqa: E402


def _write(path: Path, img: np.ndarray, seed: int) -> str:
    noisy = np.clip(img + np.random.default_rng(seed).normal(0, 2, img.shape) + 0.5, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR))
    return str(path)


def test_calibrate_command_stores_plate_and_check_reports_fit(tmp_path, capsys):
    cfg = tmp_path / "cutbox.toml"
    cfg.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n[source]\nkind = "files"\n')
    empty = booth_plate()
    shots = [_write(tmp_path / f"empty{i}.png", empty, i) for i in range(4)]

    assert main(["calibrate", "--config", str(cfg), "--frames", "4", "--average", "mean", *shots]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 4 and out["average"] == "mean" and (out["width"], out["height"]) == (640, 360)
    assert (tmp_path / "data" / "plate" / "plate.png").exists() and (
        tmp_path / "data" / "plate" / "plate.json"
    ).exists()

    product, _, _ = with_product(empty)
    good = _write(tmp_path / "good.png", product, 10)
    assert main(["calibrate", "--config", str(cfg), "--check", good]) == 0
    assert json.loads(capsys.readouterr().out)["fits"] is True

    bumped = _write(tmp_path / "bumped.png", shifted(product, 9, 4), 11)
    assert main(["calibrate", "--config", str(cfg), "--check", bumped]) == 1
    res = json.loads(capsys.readouterr().out)
    assert res["fits"] is False and "camera moved" in res["reason"]


def test_calibrate_without_frames_fails_in_one_line(tmp_path, capsys):
    cfg = tmp_path / "cutbox.toml"
    cfg.write_text(f'[station]\ndata_dir = "{tmp_path / "data"}"\n[source]\nkind = "files"\n')
    assert main(["calibrate", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cutbox: calibrate:") and "\n" not in err
