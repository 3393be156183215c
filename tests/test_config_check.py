"""`cutbox config check` on each kind of bad config: the schema (strict types, templates,
regexes) and everything the file names on this machine (models, compiled Edge TPU model,
secret files, hot folder). One bad config per test; each names the key and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from device.cli import main
from tests.paths import REPO, STUDENT_MODEL

MODEL = STUDENT_MODEL


def check(tmp_path: Path, toml: str, capsys) -> tuple[int, list[str]]:
    cfg = tmp_path / "cutbox.toml"
    cfg.write_text(toml)
    rc = main(["config", "check", "--config", str(cfg)])
    return rc, capsys.readouterr().out.strip().splitlines()


def test_the_shipped_default_is_ok(capsys):
    assert main(["config", "check", "--config", str(REPO / "firmware_config" / "cutbox.toml")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "OK"


def test_a_missing_model_file(tmp_path, capsys):
    rc, out = check(tmp_path, f'[segment]\nmodel = "{tmp_path / "gone.tflite"}"\n', capsys)
    assert rc == 1 and out == [
        f"segment.model: {tmp_path / 'gone.tflite'} does not exist (fix the path, or put the .tflite model there)"
    ]


def test_a_model_without_its_card(tmp_path, capsys):
    shutil.copy(MODEL, tmp_path / "m.tflite")
    rc, out = check(tmp_path, f'[segment]\nmodel = "{tmp_path / "m.tflite"}"\n', capsys)
    assert rc == 1 and out == ["segment.model: no model card m.json beside m.tflite (copy it with the model)"]


def test_delegate_edgetpu_without_a_compiled_model(tmp_path, capsys):
    rc, out = check(tmp_path, '[segment]\ndelegate = "edgetpu"\n', capsys)
    assert rc == 1 and len(out) == 1
    assert out[0].startswith(
        'segment.edgetpu_model: segment.delegate = "edgetpu" needs a model compiled for the Edge TPU'
    )


def test_an_edgetpu_model_that_is_the_cpu_model(tmp_path, capsys):
    rc, out = check(tmp_path, f'[segment]\nedgetpu_model = "{MODEL}"\n', capsys)
    assert rc == 1
    assert out == [
        "segment.edgetpu_model: cutbox-student-int8.tflite is not compiled for the Edge TPU (no edgetpu-custom-op): run edgetpu_compiler"
    ]


def test_a_password_file_that_is_not_there(tmp_path, capsys):
    rc, out = check(tmp_path, f'[mqtt]\npassword_file = "{tmp_path / "pw"}"\n', capsys)
    assert rc == 1 and out[0].startswith(f"mqtt.password_file: {tmp_path / 'pw'} does not exist")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to check as another user"
)
def test_a_password_file_the_service_user_cannot_read():
    """As the service would: a 0600 root file, checked by an unprivileged user (nobody)."""
    with tempfile.TemporaryDirectory() as folder:  # pytest's tmp_path is private to root
        tmp = Path(folder)
        tmp.chmod(0o755)
        pw = tmp / "mqtt.password"
        pw.write_text("secret\n")
        pw.chmod(0o600)
        cfg = tmp / "cutbox.toml"
        cfg.write_text(f'[mqtt]\npassword_file = "{pw}"\n')
        cfg.chmod(0o644)
        r = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "device.cli"]
            + ["config", "check", "--config", str(cfg)],
            cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO), HOME="/tmp"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 1, r.stderr
    assert r.stdout.strip() == f"mqtt.password_file: {pw} is not readable by this user (fix its owner or mode)"


def test_a_hot_folder_without_a_path(tmp_path, capsys):
    rc, out = check(tmp_path, '[source]\nkind = "hotfolder"\n', capsys)
    assert rc == 1 and out[0].startswith('source.path: source.kind = "hotfolder" needs the folder to watch')


def test_a_hot_folder_that_is_not_a_folder(tmp_path, capsys):
    rc, out = check(tmp_path, f'[source]\nkind = "hotfolder"\npath = "{tmp_path / "nope"}"\n', capsys)
    assert rc == 1 and out == [
        f"source.path: {tmp_path / 'nope'} is not a folder (create it, writable by the camera's uploader)"
    ]


def test_a_rotate_command_without_its_placeholder(tmp_path, capsys):
    rc, out = check(tmp_path, '[turntable.serial]\nrotate_command = "ROT 15\\n"\n', capsys)
    assert rc == 1 and len(out) == 1
    assert out[0].startswith("turntable.serial.rotate_command: Value error, no {deg}, {abs_deg} or {steps} placeholder")


def test_a_rotate_command_with_an_unknown_placeholder(tmp_path, capsys):
    rc, out = check(tmp_path, '[turntable.serial]\nrotate_command = "ROT {angle}\\n"\n', capsys)
    assert rc == 1 and "unknown placeholder {angle}: use abs_deg, deg, dir, steps" in out[0]


def test_a_broken_regex(tmp_path, capsys):
    rc, out = check(tmp_path, '[turntable.serial]\ndone_pattern = "^(DONE"\n', capsys)
    assert rc == 1 and out[0].startswith(
        "turntable.serial.done_pattern: Value error, not a valid regular expression: missing ), unterminated subpattern"
    )


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[mqtt]\nenabled = "yes"\n', "mqtt.enabled"),
        ('[mqtt]\nport = "1883"\n', "mqtt.port"),
        ('[segment]\nthreads = "2"\n', "segment.threads"),
        ("[station]\nid = 7\n", "station.id"),
    ],
)
def test_lax_types_are_refused(tmp_path, capsys, toml, key):
    rc, out = check(tmp_path, toml, capsys)
    assert rc == 1 and len(out) == 1 and out[0].startswith(f"{key}: Input should be a valid"), out


def test_a_serial_port_that_is_not_plugged_in_is_a_warning_not_a_failure(tmp_path, capsys):
    rc, out = check(
        tmp_path, '[turntable]\ndriver = "serial"\n[turntable.serial]\nport = "/dev/cutbox-nothing"\n', capsys
    )
    assert rc == 0 and out == [
        "warning: turntable.serial.port: /dev/cutbox-nothing is not there now (turntable unplugged?)",
        "OK",
    ]
