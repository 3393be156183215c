"""The systemd units and the Pi installer, checked by the real tools (systemd-analyze, shellcheck)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO as ROOT

UNITS = ["cutbox.service", "cutbox-catalog.service"]
INSTALLED_CUTBOX = "/opt/cutbox/venv/bin/cutbox"


def analyze(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze missing: apt install systemd"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def installed_copy(unit: str, tmp_path: Path) -> Path:
    """The unit as installed, with ExecStart pointing at this checkout's interpreter (verify
    checks that the binary exists and is executable)."""
    text = (ROOT / "systemd" / unit).read_text()
    assert INSTALLED_CUTBOX in text
    out = tmp_path / unit
    out.write_text(text.replace(INSTALLED_CUTBOX, f"{sys.executable} -m device.cli"))
    return out


@pytest.mark.parametrize("unit", UNITS)
def test_unit_passes_systemd_analyze_verify(unit, tmp_path):
    run = analyze("verify", "--man=no", str(installed_copy(unit, tmp_path)))
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "", run.stderr  # no warnings either (unknown keys, bad sections)


def test_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt key and a missing binary are reported."""
    bad = tmp_path / "broken.service"
    bad.write_text("[Service]\nType=notify\nExecStart=/nonexistent/cutbox serve\nWatchdogSecs=30\n")
    run = analyze("verify", "--man=no", str(bad))
    assert run.returncode != 0
    assert "WatchdogSecs" in run.stderr and "/nonexistent/cutbox" in run.stderr


def exposure(unit_path: Path) -> float:
    run = analyze("security", "--offline=yes", "--no-pager", str(unit_path))
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", run.stdout)
    assert m, run.stdout[-500:] + run.stderr
    return float(m.group(1))


@pytest.mark.parametrize("unit", UNITS)
def test_security_rating_is_2_0_or_lower(unit):
    score = exposure(ROOT / "systemd" / unit)
    assert score <= 2.0, f"{unit}: systemd-analyze security rates it {score}"


def test_rating_parser_sees_an_unhardened_unit_as_exposed(tmp_path):
    plain = tmp_path / "plain.service"
    plain.write_text("[Service]\nExecStart=/bin/true\n")
    assert exposure(plain) > 9.0


def unit_settings(unit: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (ROOT / "systemd" / unit).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            k, v = line.split("=", 1)
            settings.setdefault(k.strip(), []).append(v.strip())
    return settings


def test_capture_service_is_a_watched_notify_service_that_restarts():
    s = unit_settings("cutbox.service")
    assert s["Type"] == ["notify"]
    assert s["Restart"] == ["on-failure"]
    assert 5 <= int(s["WatchdogSec"][0].rstrip("s")) <= 120
    assert s["User"] == ["cutbox"] and s["StateDirectory"] == ["cutbox"]
    assert "CUTBOX__STATION__DATA_DIR=/var/lib/cutbox" in s["Environment"]  # outbox and captures in the state dir


def test_capture_service_can_still_reach_the_hardware():
    """The sandbox closes the device cgroup; these are the classes the booth's hardware needs.
    (The live check is on a Pi: `systemctl status cutbox` shows the camera opened.)"""
    s = unit_settings("cutbox.service")
    assert s["DevicePolicy"] == ["closed"]
    assert "PrivateDevices" not in s  # it would hide /dev/video*, /dev/media*, /dev/apex_0
    allowed = {v.split()[0] for v in s["DeviceAllow"]}
    for cls in (
        "char-video4linux",
        "char-media",
        "char-dma_heap",
        "char-apex",
        "char-usb_device",
        "char-ttyUSB",
        "char-ttyACM",
        "char-gpiochip",
    ):
        assert cls in allowed, cls
    groups = s["SupplementaryGroups"][0].split()
    for group in ("video", "dialout", "gpio", "plugdev", "input", "apex"):  # apex: PCIe Coral /dev/apex_0
        assert group in groups
    families = s["RestrictAddressFamilies"][0].split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"} <= set(families)  # notify, MQTT/HTTP, udev


def test_install_script_passes_shellcheck():
    exe = shutil.which("shellcheck")
    assert exe, "shellcheck missing: apt install shellcheck"
    run = subprocess.run(
        [exe, "--severity=style", str(ROOT / "tools" / "install-pi.sh")], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout


def test_install_script_refuses_to_run_off_a_pi(tmp_path):
    """Run for real here (x86, not Raspberry Pi OS): it stops before touching anything."""
    run = subprocess.run(
        ["bash", str(ROOT / "tools" / "install-pi.sh"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert "Raspberry Pi OS" in run.stderr


def test_catalog_service_is_a_watched_notify_service_that_restarts():
    s = unit_settings("cutbox-catalog.service")
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"]
    assert 5 <= int(s["WatchdogSec"][0].rstrip("s")) <= 120


def test_catalog_service_rates_2_0_or_lower():
    score = exposure(ROOT / "systemd" / "cutbox-catalog.service")
    assert score <= 2.0, f"systemd-analyze security rates it {score}"


def test_catalog_service_gets_the_mqtt_password_as_a_credential():
    """Its DynamicUser cannot read /etc/cutbox/mqtt.password (0640 root:cutbox); systemd
    hands a copy over and cutbox reads it from $CREDENTIALS_DIRECTORY."""
    from device.config import MQTT_PASSWORD_CREDENTIAL

    s = unit_settings("cutbox-catalog.service")
    assert s["DynamicUser"] == ["yes"]
    assert s["LoadCredential"] == [f"{MQTT_PASSWORD_CREDENTIAL}:/etc/cutbox/mqtt.password"]


def test_the_password_is_read_from_the_systemd_credential_when_there(tmp_path, monkeypatch):
    from device.config import MqttConfig

    unreadable = tmp_path / "mqtt.password"  # stands for the 0640 file the DynamicUser cannot open
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt-password").write_text("s3cret\n")
    cfg = MqttConfig(password_file=unreadable)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert cfg.read_password() == "s3cret"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ValueError, match="cannot read"):
        cfg.read_password()
