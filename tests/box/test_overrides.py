"""Settings changed at run time are kept beside the config file (only what differs, written
atomically) and applied at the next start; a stale override file is set aside, not fatal."""

from __future__ import annotations

import json
import os

from device.box.overrides import SettingsOverrides, diff
from device.config import CutboxConfig, load_config


def write_config(tmp, extra=""):
    f = tmp / "cutbox.toml"
    f.write_text(f'[station]\ndata_dir = "{tmp / "data"}"\n[api]\nreview_threshold = 0.5\n{extra}')
    return f


def test_only_the_changes_are_saved_beside_the_config_and_applied_at_start(tmp_path):
    file = write_config(tmp_path)
    base = load_config(file, env={})
    ov = SettingsOverrides(file, base)
    assert ov.path == tmp_path / "cutbox.overrides.json"
    changed = CutboxConfig.model_validate(
        {**base.model_dump(mode="json"), "api": {**base.api.model_dump(mode="json"), "review_threshold": 0.8}}
    )
    ov.save(changed)
    assert json.loads(ov.path.read_text()) == {"api": {"review_threshold": 0.8}}
    assert oct(ov.path.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cutbox.overrides")]  # no temp file left
    # The next start: the file as edited since, with the saved change on top.
    file.write_text(file.read_text() + "list_limit = 50\n")
    again = SettingsOverrides(file, load_config(file, env={})).apply()
    assert again.api.review_threshold == 0.8 and again.api.list_limit == 50


def test_a_read_only_config_folder_keeps_them_in_the_data_folder(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    file = write_config(etc)
    (etc / "data").mkdir()
    os.chmod(etc, 0o555)
    try:
        ov = SettingsOverrides(file, load_config(file, env={}))
        if os.access(etc, os.W_OK):  # running as root: permissions do not bind
            return
        assert ov.path == etc / "data" / "cutbox.overrides.json"
    finally:
        os.chmod(etc, 0o755)


def test_overrides_that_no_longer_fit_are_set_aside(tmp_path):
    file = write_config(tmp_path)
    (tmp_path / "cutbox.overrides.json").write_text(json.dumps({"compose": {"preset": "gone-preset"}}))
    ov = SettingsOverrides(file, load_config(file, env={}))
    cfg = ov.apply()
    assert cfg.compose.preset == "marketplace-white" and "no longer fit" in ov.error
    assert (tmp_path / "cutbox.overrides.json.rejected").is_file()


def test_diff_keeps_nested_changes_only():
    assert diff({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 1, "c": 1}, "d": 3}) == {"a": {"c": 2}}
