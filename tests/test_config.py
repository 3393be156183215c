"""Configuration: the documented default file loads, every key is commented, typos fail loudly."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from device.config import (
    DEFAULT_CONFIG,
    REPO_ROOT,
    ConfigError,
    CutboxConfig,
    Gphoto2SourceConfig,
    LoggingConfig,
    Picamera2SourceConfig,
    SegmentConfig,
    SourceConfig,
    StationConfig,
    UvcSourceConfig,
    load_config,
)

SECTIONS = ("station", "source", "segment", "matte", "compose", "export", "mqtt", "api", "turntable", "logging")


def test_the_default_file_loads_and_has_every_section():
    cfg = load_config(DEFAULT_CONFIG, env={})
    assert isinstance(cfg, CutboxConfig)
    data = tomllib.loads(DEFAULT_CONFIG.read_text())
    for section in SECTIONS:
        assert section in data, f"[{section}] missing from {DEFAULT_CONFIG}"


@pytest.mark.parametrize(
    "section,model",
    [("station", StationConfig), ("source", SourceConfig), ("segment", SegmentConfig), ("logging", LoggingConfig)],
)
def test_the_default_file_equals_the_code_defaults(section, model):
    from_file = getattr(load_config(DEFAULT_CONFIG, env={}), section)
    assert from_file == model()


@pytest.mark.parametrize(
    "section,model",
    [
        ("station", StationConfig),
        ("source", SourceConfig),
        ("source.uvc", UvcSourceConfig),
        ("source.picamera2", Picamera2SourceConfig),
        ("source.gphoto2", Gphoto2SourceConfig),
        ("segment", SegmentConfig),
        ("logging", LoggingConfig),
    ],
)
def test_every_key_is_documented_in_the_default_file(section, model):
    text = DEFAULT_CONFIG.read_text()
    body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
    lines = body.splitlines()
    for key in model.model_fields:
        if f"\n[{section}.{key}]\n" in text:  # a nested table, documented under its own header
            continue
        idx = next((i for i, ln in enumerate(lines) if re.match(rf"#?\s*{key}\s*=", ln)), None)
        assert idx is not None, f"{section}.{key} is not in {DEFAULT_CONFIG.name}"
        i = idx - 1
        while i >= 0 and re.match(r"^\w+\s*=", lines[i]):  # keys grouped under one comment
            i -= 1
        assert i >= 0 and lines[i].lstrip().startswith("#"), f"{section}.{key} has no comment above it"


def test_an_unknown_key_names_the_dotted_path_and_the_fix(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[source]\npoll_interval = 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(f, env={})
    assert e.value.problems == [
        "source.poll_interval: unknown key: remove it or check its spelling against firmware_config/cutbox.toml"
    ]


def test_bad_values_name_the_key(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[segment]\ndelegate = "gpu"\nthreads = 99\n[source]\nstable_polls = 0\n')
    with pytest.raises(ConfigError) as e:
        load_config(f, env={})
    keys = sorted(p.split(":")[0] for p in e.value.problems)
    assert keys == ["segment.delegate", "segment.threads", "source.stable_polls"]


def test_environment_overrides_single_keys():
    cfg = load_config(
        DEFAULT_CONFIG,
        env={"CUTBOX__SEGMENT__THREADS": "3", "CUTBOX__SOURCE__KIND": "hotfolder", "CUTBOX__SOURCE__UVC_DEVICE": "2"},
    )
    assert cfg.segment.threads == 3 and cfg.source.kind == "hotfolder" and cfg.source.uvc.device == 2


def test_relative_model_paths_are_taken_from_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(DEFAULT_CONFIG, env={})
    assert cfg.segment.model == REPO_ROOT / "models" / "cutbox-student-int8.tflite"
    assert SegmentConfig(model=Path("/abs/m.tflite")).model == Path("/abs/m.tflite")


def test_picamera2_sizes_are_pairs(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[source.picamera2]\nlores = [256]\n")
    with pytest.raises(ConfigError, match="source.picamera2.lores"):
        load_config(f, env={})


def test_each_camera_driver_has_its_own_section_and_old_flat_keys_still_load(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[source]\nkind = "uvc"\n\n[source.uvc]\ndevice = "/dev/video2"\nfps = 15\n')
    src = load_config(f, env={}).source
    assert src.uvc.device == "/dev/video2" and src.uvc.fps == 15 and src.uvc.width == 2304
    # a config written before the sections existed
    f.write_text(
        '[source]\nkind = "gphoto2"\ngphoto2_port = "usb:001,005"\nuvc_fps = 10\npicamera2_lores = [224, 224]\n'
    )
    src = load_config(f, env={}).source
    assert src.gphoto2.port == "usb:001,005" and src.uvc.fps == 10 and src.picamera2.lores == (224, 224)
    f.write_text("[source]\nuvc_fsp = 10\n")  # a misspelt old key is still an unknown key
    with pytest.raises(ConfigError, match="source.uvc.fsp"):
        load_config(f, env={})


def test_log_levels_come_from_the_logging_section(tmp_path):
    import logging

    from device.logs import apply_logging

    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[logging]\ndefault = "error"\nmodules = { "device.comms" = "debug" }\n')
    cfg = load_config(cfg_file, env={})
    root, comms = logging.getLogger(), logging.getLogger("device.comms")
    before = root.level, comms.level
    try:
        apply_logging(cfg.logging)
        assert root.level == logging.ERROR and comms.level == logging.DEBUG
        assert logging.getLogger("device.comms.mqtt").getEffectiveLevel() == logging.DEBUG
        apply_logging(cfg.logging, verbose=1)  # -v: more verbose than the file, never less
        assert root.level == logging.INFO
        apply_logging(load_config(DEFAULT_CONFIG, env={}).logging, base=logging.INFO)  # no default: the command's
        assert root.level == logging.INFO
    finally:
        root.setLevel(before[0])
        comms.setLevel(before[1])
    cfg_file.write_text('[logging]\nmodules = { "device comms" = "loud" }\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg_file, env={})
    assert any(p.startswith("logging.modules") for p in err.value.problems)


def test_which_file_a_command_reads_is_one_rule(tmp_path, monkeypatch):
    """--config, else $CUTBOX_CONFIG, else the installed /etc/cutbox/cutbox.toml, else the
    documented default; an environment override of data_dir is named as the origin."""
    import device.config as config

    installed = tmp_path / "installed.toml"
    monkeypatch.setattr(config, "INSTALLED_CONFIG", installed)
    given, named = tmp_path / "given.toml", tmp_path / "named.toml"
    assert config.config_file(None, env={}) == DEFAULT_CONFIG  # nothing installed here
    installed.write_text('[station]\ndata_dir = "/var/lib/cutbox"\n')
    assert config.config_file(None, env={}) == installed
    assert config.config_file(None, env={"CUTBOX_CONFIG": str(named)}) == named
    assert config.config_file(given, env={"CUTBOX_CONFIG": str(named)}) == given

    cfg = config.load_config(None, env={})
    assert config.data_dir_origin(cfg, None, env={}) == (Path("/var/lib/cutbox"), f"station.data_dir in {installed}")
    env = {"CUTBOX__STATION__DATA_DIR": "/tmp/elsewhere"}
    cfg = config.load_config(None, env=env)
    assert config.data_dir_origin(cfg, None, env=env) == (Path("/tmp/elsewhere"), "from $CUTBOX__STATION__DATA_DIR")
