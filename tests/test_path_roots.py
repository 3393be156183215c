"""Paths a settings change may name: inside the data folder, the models and station.path_roots;
anything else is refused with its key named, and where secrets and roots live is file-only."""

from __future__ import annotations

from pathlib import Path

from device.box.path_roots import path_problems
from device.config import CutboxConfig


def config(tmp: Path, **sections) -> CutboxConfig:
    base = {"station": {"data_dir": str(tmp / "data"), "path_roots": [str(tmp / "photos")]}}
    return CutboxConfig.model_validate({**base, **sections})


def test_paths_inside_the_roots_pass(tmp_path):
    now = config(tmp_path)
    for source in (
        {"kind": "files", "path": str(tmp_path / "photos" / "day1")},
        {"kind": "files", "path": str(tmp_path / "photos" / "*.jpg")},
        {"kind": "hotfolder", "path": str(tmp_path / "data" / "in"), "processed_dir": str(tmp_path / "data" / "done")},
    ):
        assert path_problems(now, config(tmp_path, source=source)) == []


def test_paths_outside_the_roots_are_refused_naming_the_key(tmp_path):
    now = config(tmp_path)
    cases = {
        "source.path": {"source": {"path": "/etc/passwd"}},
        "source.processed_dir": {
            "source": {"kind": "hotfolder", "path": str(tmp_path / "data"), "processed_dir": "/tmp"}
        },
        "compose.presets.bg.image": {
            "compose": {"preset": "bg", "presets": {"bg": {"background": "image", "image": "/etc/ssl/certs/x.png"}}}
        },
        "segment.model": {"segment": {"model": "/home/someone/other.tflite"}},
    }
    for key, change in cases.items():
        problems = path_problems(now, config(tmp_path, **change))
        assert len(problems) == 1 and problems[0].startswith(f"{key}: "), (key, problems)
        assert "station.path_roots" in problems[0]  # says how to allow a folder


def test_climbing_out_with_dots_or_a_symlink_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "out").symlink_to("/etc")
    now = config(tmp_path)
    for sneaky in (tmp_path / "photos" / ".." / ".." / "etc", tmp_path / "photos" / "out" / "passwd"):
        problems = path_problems(now, config(tmp_path, source={"path": str(sneaky)}))
        assert problems and problems[0].startswith("source.path: "), sneaky


def test_where_roots_and_secrets_live_is_file_only(tmp_path):
    now = config(tmp_path)
    for key, change in {
        "station.path_roots": {"station": {"data_dir": str(tmp_path / "data"), "path_roots": ["/"]}},
        "station.data_dir": {
            "station": {"data_dir": str(tmp_path / "data" / "x"), "path_roots": [str(tmp_path / "photos")]}
        },
        "api.token_file": {"api": {"token_file": str(tmp_path / "data" / "t")}},
        "mqtt.password_file": {"mqtt": {"password_file": str(tmp_path / "data" / "p")}},
    }.items():
        problems = path_problems(now, CutboxConfig.model_validate({**now.model_dump(mode="json"), **change}))
        assert any(p.startswith(f"{key}: can only be set in the config file") for p in problems), (key, problems)


def test_unchanged_paths_from_the_config_file_stay_allowed(tmp_path):
    now = config(tmp_path, source={"path": "/srv/elsewhere"})
    later = config(tmp_path, source={"path": "/srv/elsewhere", "recursive": True})
    assert path_problems(now, later) == []
