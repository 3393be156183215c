"""Tethered capture through gphoto2's shell (apt package gphoto2), one session per camera.

No camera is attached here. The real gphoto2 program shows the failure paths an operator
meets, with its own messages (no camera; libgphoto2's 'Directory Browse' driver, which opens
but cannot capture or be configured). The shutter path (one session, busy, unplugged,
settings, autofocus, RAW+JPEG, clean-up) runs against tests/sources/fake_gphoto2_shell.py,
a stand-in that speaks the shell's protocol; a real body is checked on the booth.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from device.sources.base import SourceError
from device.sources.gphoto2 import GPhoto2Source
from tests.paths import REPO, SAMPLES

SAMPLE = SAMPLES / "cap.jpg"
FAKE_SHELL = Path(__file__).with_name("fake_gphoto2_shell.py")


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


def fake_camera(tmp_path: Path, **script) -> tuple[str, Path]:
    """The gphoto2 program with a camera attached, stood in by tests/sources/fake_gphoto2_shell.py
    (the shell protocol as gphoto2 speaks it); (binary, state folder)."""
    state = tmp_path / "camera"
    state.mkdir(exist_ok=True)
    (state / "script.json").write_text(json.dumps(script))
    binary = tmp_path / "gphoto2-fake"
    binary.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_SHELL} {state} "$@"\n')
    binary.chmod(0o755)
    return str(binary), state


def sessions(state: Path) -> list[str]:
    return (state / "sessions").read_text().splitlines()


def commands(state: Path) -> list[str]:
    return (state / "commands").read_text().splitlines()


def test_every_shot_goes_through_one_camera_session(tmp_path):
    """The camera is opened and configured once; each grab is one capture command in it."""
    binary, state = fake_camera(tmp_path)
    src = GPhoto2Source(tmp_path / "hot", binary=binary, camera="Canon EOS 2000D", capture_target="ram")
    frames = [src.grab() for _ in range(3)]
    assert all(f.size[0] > 0 for f in frames)
    assert len(sessions(state)) == 1 and "--camera Canon EOS 2000D --shell" in sessions(state)[0]
    cmds = commands(state)
    assert cmds.count("set-config capturetarget=0") == 1 and cmds.count("capture-image-and-download") == 3
    assert sorted(p.suffix for p in (tmp_path / "hot").iterdir()) == [".jpg"] * 3  # no part folders left
    pid = src.session_pid
    src.close()
    assert commands(state)[-1] == "exit" and src.session_pid is None
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_a_busy_camera_is_asked_again_in_the_same_session(tmp_path):
    binary, state = fake_camera(tmp_path, busy=2)
    src = GPhoto2Source(tmp_path / "hot", binary=binary, busy_wait_s=0.01)
    assert src.grab().size[0] > 0
    assert commands(state).count("capture-image-and-download") == 3 and len(sessions(state)) == 1
    src.close()


def test_a_camera_that_stays_busy_gives_up_with_the_reason(tmp_path):
    binary, _ = fake_camera(tmp_path, busy=99)
    src = GPhoto2Source(tmp_path / "hot", binary=binary, busy_retries=2, busy_wait_s=0.01)
    with pytest.raises(
        SourceError, match=r"camera still busy after 3 tries \(PTP Device Busy; Error \(-110: 'I/O in progress'\)\)"
    ):
        src.grab()
    assert list((tmp_path / "hot").iterdir()) == []  # no half-downloaded file, no part folder
    src.close()


def test_a_camera_unplugged_mid_session_fails_one_shot_and_the_next_opens_a_new_session(tmp_path):
    binary, state = fake_camera(tmp_path, die_on_capture=2)
    src = GPhoto2Source(tmp_path / "hot", binary=binary)
    src.grab()
    with pytest.raises(
        SourceError, match=r"^gphoto2 capture failed: Could not find the requested device on the USB port"
    ):
        src.grab()
    assert src.session_pid is None
    assert src.grab().size[0] > 0  # plugged in again: a fresh session
    assert len(sessions(state)) == 2
    assert [p.name for p in (tmp_path / "hot").iterdir() if p.name.startswith(".")] == []
    src.close()


def test_a_camera_that_never_answers_is_given_up_after_the_timeout_and_reopened(tmp_path):
    binary, state = fake_camera(tmp_path, hang=True)
    src = GPhoto2Source(tmp_path / "hot", binary=binary, timeout_s=1.0)
    with pytest.raises(SourceError, match=r"did not answer within 1 s"):
        src.grab()
    assert src.session_pid is None  # the stuck shell was killed
    (state / "script.json").write_text("{}")
    assert src.grab().size[0] > 0 and len(sessions(state)) == 2
    src.close()


def test_autofocus_each_shot_drives_af_before_every_capture(tmp_path):
    binary, state = fake_camera(tmp_path)
    src = GPhoto2Source(tmp_path / "hot", binary=binary, autofocus="each-shot")
    src.grab()
    src.grab()
    shots = [c for c in commands(state) if c in ("set-config autofocusdrive=1", "capture-image-and-download")]
    assert shots == ["set-config autofocusdrive=1", "capture-image-and-download"] * 2
    src.close()


def test_set_config_from_the_config_reaches_the_camera_once(tmp_path):
    from device.config import SourceConfig
    from device.sources import open_source

    binary, state = fake_camera(tmp_path)
    cfg = SourceConfig(
        kind="gphoto2",
        gphoto2={
            "folder": tmp_path / "hot",
            "capture_target": "card",
            "set_config": {"focusmode": "Manual", "iso": "100"},
        },
    )
    src = open_source(cfg)
    src.binary = binary
    src.grab()
    src.grab()
    assert [c for c in commands(state) if c.startswith("set-config")] == [
        "set-config capturetarget=1",
        "set-config focusmode=Manual",
        "set-config iso=100",
    ]
    src.close()


def test_a_setting_the_camera_refuses_is_named(tmp_path):
    binary, _ = fake_camera(tmp_path, refuse=["capturetarget"])
    src = GPhoto2Source(tmp_path / "hot", binary=binary, capture_target="ram")
    with pytest.raises(
        SourceError,
        match=r"^gphoto2: the camera refused capturetarget=0: capturetarget not found in configuration tree",
    ):
        src.grab()


def test_raw_plus_jpeg_keeps_both_and_reads_the_jpeg(tmp_path):
    binary, _ = fake_camera(tmp_path, raw=True)
    src = GPhoto2Source(tmp_path / "hot", binary=binary)
    assert src.grab().size[0] > 0
    assert sorted(p.suffix for p in (tmp_path / "hot").iterdir()) == [".cr2", ".jpg"]
    src.close()


def test_old_tethered_shots_are_cleaned_up(tmp_path):
    binary, _ = fake_camera(tmp_path)
    src = GPhoto2Source(tmp_path / "hot", binary=binary, keep_files=2)
    for _ in range(4):
        src.grab()
    assert len(list((tmp_path / "hot").iterdir())) == 2
    src.close()
    none_kept = GPhoto2Source(tmp_path / "hot2", binary=binary, keep_files=0)
    none_kept.grab()
    assert list((tmp_path / "hot2").iterdir()) == []
    none_kept.close()


def test_a_part_folder_left_by_a_crash_is_removed_on_open(tmp_path):
    stale = tmp_path / "hot" / ".gphoto2-part-gphoto2-123"
    stale.mkdir(parents=True)
    (stale / "IMG_0001.JPG").write_bytes(b"half")
    binary, _ = fake_camera(tmp_path)
    GPhoto2Source(tmp_path / "hot", binary=binary).close()
    assert not stale.exists()


def test_the_real_gphoto2_shell_names_a_setting_its_camera_lacks(tmp_path):
    """The real program's shell, on libgphoto2's 'Directory Browse' driver (a folder as a
    camera: it opens, has no config and cannot capture)."""
    card = tmp_path / "card"
    card.mkdir()
    src = GPhoto2Source(tmp_path / "hot", camera="Directory Browse", port=f"disk:{card}", capture_target="ram")
    with pytest.raises(
        SourceError, match=r"refused capturetarget=0: This camera does not provide any configuration options"
    ):
        src.grab()


def test_close_during_a_shot_in_another_thread_kills_a_stuck_shell(tmp_path):
    """Stopping the service while the camera hangs in a capture must not wait for ever."""
    import threading
    import time

    binary, _ = fake_camera(tmp_path, hang=True)
    src = GPhoto2Source(tmp_path / "hot", binary=binary, timeout_s=60)
    errors = []
    shot = threading.Thread(target=lambda: errors.append(pytest.raises(SourceError, src.grab)))
    shot.start()
    deadline = time.monotonic() + 20
    while src.session_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = src.session_pid
    assert pid is not None
    t0 = time.monotonic()
    src.close()
    shot.join(30)
    assert not shot.is_alive() and time.monotonic() - t0 < 20
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.mark.parametrize(
    ("set_config", "says"),
    [
        ({"iso\nexit": "100"}, "is not a gphoto2 config name"),
        ({"iso": "100\ncapture-image"}, "must be one line"),
    ],
)
def test_set_config_that_would_inject_a_shell_command_is_refused(tmp_path, capsys, set_config, says):
    """Each value goes into the shell as one `set-config NAME=VALUE` line: a line break would
    be a second command, so the config refuses it (and `cutbox config check` says where)."""
    from device.cli import main as cutbox
    from device.config import Gphoto2SourceConfig

    with pytest.raises(ValueError, match=says):
        Gphoto2SourceConfig(set_config=set_config)
    cfg = tmp_path / "cutbox.toml"
    cfg.write_text(
        f"[source.gphoto2]\nset_config = {{ {json.dumps(next(iter(set_config)))} = {json.dumps(next(iter(set_config.values())))} }}\n"
    )
    assert cutbox(["config", "check", "--config", str(cfg)]) == 1
    assert capsys.readouterr().out.startswith("source.gphoto2.set_config:")


def test_cutbox_calibrate_shoots_its_plate_through_one_camera_session(tmp_path):
    """End to end from the command line: the gphoto2 source from the config, several frames
    in one session, the shell left with `exit` when the command ends."""
    import os
    import subprocess

    binary, state = fake_camera(tmp_path)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "gphoto2").symlink_to(binary)
    cfg = tmp_path / "cutbox.toml"
    cfg.write_text(
        f'[station]\ndata_dir = "{tmp_path / "data"}"\n[source]\nkind = "gphoto2"\n'
        '[source.gphoto2]\ncapture_target = "ram"\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "device.cli", "calibrate", "--config", str(cfg), "--frames", "3"],
        cwd=REPO,
        env=dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["frames"] == 3 and (tmp_path / "data" / "plate" / "plate.png").is_file()
    assert len(sessions(state)) == 1 and commands(state).count("capture-image-and-download") == 3
    assert commands(state)[-1] == "exit"
    assert len(list((tmp_path / "data" / "tethered").glob("gphoto2-*.jpg"))) == 3
