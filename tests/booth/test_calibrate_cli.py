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


def test_a_hand_run_calibrate_finds_the_services_data_dir_and_says_where(tmp_path, capsys, monkeypatch):
    """On a box, `cutbox calibrate` without --config reads the file the unit names, so the plate
    lands in the folder the service loads it from (and the command prints that folder)."""
    import device.config
    from tests.systemd.test_units import unit_settings

    installed = tmp_path / "etc" / "cutbox.toml"
    installed.parent.mkdir()
    installed.write_text(f'[station]\ndata_dir = "{tmp_path / "state"}"\n[source]\nkind = "files"\n')
    monkeypatch.setattr(device.config, "INSTALLED_CONFIG", installed)
    monkeypatch.delenv("CUTBOX_CONFIG", raising=False)
    monkeypatch.delenv("CUTBOX__STATION__DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # anywhere: the folder does not depend on where it is run
    shots = [_write(tmp_path / f"empty{i}.png", booth_plate(), i) for i in range(2)]

    assert main(["calibrate", "--frames", "2", *shots]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["path"] == str(tmp_path / "state" / "plate" / "plate.png")
    assert f"cutbox: data_dir {tmp_path / 'state'} (station.data_dir in {installed})" in err
    # ... the folder the service reads: its unit names /etc/cutbox/cutbox.toml and no data_dir of its own
    execstart = unit_settings("cutbox.service")["ExecStart"][0]
    assert "--config /etc/cutbox/cutbox.toml" in execstart
    assert device.config.load_config(None).station.data_dir == tmp_path / "state"

    # $CUTBOX_CONFIG names another file: it wins, and the line says so
    other = tmp_path / "other.toml"
    other.write_text('[station]\ndata_dir = "rel-data"\n[source]\nkind = "files"\n')
    monkeypatch.setenv("CUTBOX_CONFIG", str(other))
    assert main(["calibrate", "--frames", "2", *shots]) == 0
    _, err = capsys.readouterr()
    assert (tmp_path / "rel-data" / "plate" / "plate.png").is_file()
    assert f"data_dir {tmp_path / 'rel-data'} (station.data_dir in {other}, relative to the working directory)" in err
