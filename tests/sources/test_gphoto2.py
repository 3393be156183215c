"""Tethered capture through the real gphoto2 program (apt package gphoto2).

No camera is attached here, so these show the failure paths an operator meets, with
gphoto2's own error messages; the success path (a real shutter release) needs a camera.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from device.sources.base import SourceError
from device.sources.gphoto2 import GPhoto2Source
from tests.paths import SAMPLES

SAMPLE = SAMPLES / "cap.jpg"


def test_missing_gphoto2_is_one_clear_line(tmp_path):
    with pytest.raises(
        SourceError, match=r"^gphoto2-not-here not found: tethered capture needs it \(apt install gphoto2\)$"
    ):
        GPhoto2Source(tmp_path, binary="gphoto2-not-here")


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """gphoto2 remembers the last --camera/--port in ~/.gphoto/settings; keep each test's own."""
    monkeypatch.setenv("HOME", str(tmp_path))


def test_no_camera_attached_gives_gphoto2s_reason_and_a_hint(tmp_path):
    assert shutil.which("gphoto2"), "apt install gphoto2"
    src = GPhoto2Source(tmp_path / "hot", timeout_s=20)
    assert (tmp_path / "hot").is_dir()  # the hot folder is made on open
    with pytest.raises(SourceError) as err:
        src.grab()
    msg = str(err.value)
    assert msg.startswith("gphoto2 capture failed: Could not detect any camera")
    assert "gphoto2 --auto-detect" in msg and "\n" not in msg
    assert list((tmp_path / "hot").iterdir()) == []


def test_camera_and_port_settings_reach_gphoto2(tmp_path):
    """libgphoto2's 'Directory Browse' driver is a real camera driver that cannot capture."""
    card = tmp_path / "card" / "DCIM"
    card.mkdir(parents=True)
    shutil.copy(SAMPLE, card / "IMG_0001.JPG")
    src = GPhoto2Source(tmp_path / "hot", camera="Directory Browse", port=f"disk:{tmp_path / 'card'}", timeout_s=20)
    with pytest.raises(SourceError, match="This camera can not capture"):
        src.trigger()


def test_gphoto2_source_kind_from_config_without_a_camera_is_one_clear_line(tmp_path):
    from device.config import load_config
    from device.sources import open_source

    cfg = tmp_path / "cutbox.toml"
    cfg.write_text('[source]\nkind = "gphoto2"\ngphoto2_timeout_s = 20\n')
    src = open_source(load_config(cfg, env={}).source, data_dir=tmp_path / "data")
    assert isinstance(src, GPhoto2Source) and (tmp_path / "data" / "tethered").is_dir()
    with pytest.raises(SourceError) as err:
        src.grab()
    msg = str(err.value)
    assert msg.startswith("gphoto2 capture failed: Could not detect any camera") and "\n" not in msg


def test_gphoto2_camera_and_port_keys_reach_the_source(tmp_path):
    from device.config import SourceConfig
    from device.sources import open_source

    cfg = SourceConfig(
        kind="gphoto2",
        gphoto2={"camera": "Directory Browse", "port": f"disk:{tmp_path}", "folder": tmp_path / "shots"},
    )
    src = open_source(cfg)
    assert (src.camera, src.port, src.folder) == ("Directory Browse", f"disk:{tmp_path}", tmp_path / "shots")
    with pytest.raises(SourceError, match="This camera can not capture"):
        src.grab()


def busy_camera(tmp_path: Path, busy_times: int) -> Path:
    """A stand-in for the gphoto2 program (no camera here) that answers like gphoto2 does
    for a camera still writing to its card, `busy_times` times, then saves the shot."""
    count = tmp_path / "calls"
    script = tmp_path / "gphoto2-busy"
    script.write_text(
        "#!/bin/bash\n"
        f"n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}\n"
        f'echo "$*" >> {tmp_path / "args"}\n'
        f"if [ $n -le {busy_times} ]; then\n"
        "  echo '*** Error (-110: '\\''I/O in progress'\\'') ***' >&2; exit 1\n"
        "fi\n"
        'for a in "$@"; do [ "$prev" = --filename ] && out="${a%.%C}.jpg"; prev="$a"; done\n'
        f'cp {SAMPLE} "$out"; echo "Saving file as $out"\n'
    )
    script.chmod(0o755)
    return script


def test_a_busy_camera_is_asked_again_then_the_shot_is_read(tmp_path):
    src = GPhoto2Source(tmp_path / "hot", binary=str(busy_camera(tmp_path, 2)), busy_wait_s=0.01)
    frame = src.grab()
    assert frame.size[0] > 0 and (tmp_path / "calls").read_text().strip() == "3"


def test_a_camera_that_stays_busy_gives_up_with_the_reason(tmp_path):
    src = GPhoto2Source(tmp_path / "hot", binary=str(busy_camera(tmp_path, 99)), busy_retries=2, busy_wait_s=0.01)
    with pytest.raises(SourceError, match=r"camera still busy after 3 tries \(Error \(-110: 'I/O in progress'\)\)"):
        src.grab()
    assert list((tmp_path / "hot").iterdir()) == []


def test_old_tethered_shots_are_cleaned_up(tmp_path):
    src = GPhoto2Source(tmp_path / "hot", binary=str(busy_camera(tmp_path, 0)), keep_files=2)
    for _ in range(4):
        src.grab()
    assert len(list((tmp_path / "hot").iterdir())) == 2
    none_kept = GPhoto2Source(tmp_path / "hot2", binary=str(busy_camera(tmp_path, 0)), keep_files=0)
    none_kept.grab()
    assert list((tmp_path / "hot2").iterdir()) == []


def test_capture_target_ram_is_set_in_the_same_gphoto2_call(tmp_path):
    src = GPhoto2Source(tmp_path / "hot", binary=str(busy_camera(tmp_path, 0)), capture_target="ram")
    src.grab()
    args = (tmp_path / "args").read_text().split()
    assert args[args.index("--set-config") + 1] == "capturetarget=0"
    assert args.index("--set-config") < args.index("--capture-image-and-download")
