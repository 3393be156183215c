"""tools/provision.py: the per-box identity and the data folders written into the config file."""

from __future__ import annotations

import tomllib

from tests.paths import DEFAULT_CONFIG
from tools.provision import main

PINS = ["--pin", "station.data_dir=/var/lib/cutbox", "--pin", "mqtt.catalog.data_dir=/var/lib/cutbox-catalog"]


def test_a_config_kept_from_an_older_install_gets_its_data_folders_written_in(tmp_path, capsys):
    """Older units set data_dir through their environment; the installer writes those folders
    into the kept file (the shipped file's relative defaults), keeping its comments."""
    kept = tmp_path / "cutbox.toml"
    kept.write_text(DEFAULT_CONFIG.read_text())
    assert main([str(kept), *PINS]) == 0
    cfg = tomllib.loads(kept.read_text())
    assert cfg["station"]["data_dir"] == "/var/lib/cutbox"
    assert cfg["mqtt"]["catalog"]["data_dir"] == "/var/lib/cutbox-catalog"
    assert "# Station id: letters" in kept.read_text()
    assert "station.data_dir = /var/lib/cutbox written into" in capsys.readouterr().err


def test_a_folder_the_technician_chose_is_never_moved(tmp_path, capsys):
    kept = tmp_path / "cutbox.toml"
    text = '[station]\nid = "b"\ndata_dir = "/mnt/ssd/cutbox"\n\n[mqtt.catalog]\ndata_dir = "/mnt/ssd/catalog"\n'
    kept.write_text(text)
    assert main([str(kept), *PINS]) == 0
    assert kept.read_text() == text and capsys.readouterr().err == ""


def test_a_config_without_the_keys_gets_them_in_their_section(tmp_path):
    kept = tmp_path / "cutbox.toml"
    kept.write_text('[station]\nid = "b"\n')
    assert main([str(kept), *PINS]) == 0
    cfg = tomllib.loads(kept.read_text())
    assert cfg["station"] == {"id": "b", "data_dir": "/var/lib/cutbox"}
    assert cfg["mqtt"]["catalog"]["data_dir"] == "/var/lib/cutbox-catalog"
