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


@pytest.mark.parametrize("unit", UNITS)
def test_no_unit_overrides_a_config_key_through_its_environment(unit):
    """The config file is the one place the data folders are named: a hand-run `cutbox
    calibrate` reads the same file, so it lands where the service looks."""
    s = unit_settings(unit)
    assert not [e for e in s.get("Environment", []) if e.upper().startswith("CUTBOX__")]
    assert "EnvironmentFile" not in s
    assert "--config /etc/cutbox/cutbox.toml" in s["ExecStart"][0]


# ---- folders the service writes, against what its sandbox lets it write ------------------
# (ProtectSystem=strict: everything but these is read-only for the service)
WRITTEN_BY = {
    "cutbox.service": {
        "station.data_dir",
        "source.path",  # a hot folder whose files are moved away (processed_dir)
        "source.processed_dir",
        "source.gphoto2.folder",
        "mqtt.outbox_path",
    },
    "cutbox-catalog.service": {"mqtt.catalog.data_dir"},
}
EXAMPLE_FILES = [ROOT / "firmware_config" / "cutbox.toml", *sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def writable_paths(unit_text: str) -> tuple[list[Path], Path | None]:
    """Where a unit may write under ProtectSystem=strict, and its working directory."""
    settings: dict[str, list[str]] = {}
    for line in unit_text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            k, v = line.split("=", 1)
            settings.setdefault(k.strip(), []).append(v.strip())
    assert settings.get("ProtectSystem") == ["strict"]
    out = [Path(p.lstrip("-+")) for v in settings.get("ReadWritePaths", []) for p in v.split()]
    for key, base in (
        ("StateDirectory", "/var/lib"),
        ("CacheDirectory", "/var/cache"),
        ("LogsDirectory", "/var/log"),
        ("RuntimeDirectory", "/run"),
    ):
        out += [Path(base) / name.split(":")[0] for v in settings.get(key, []) for name in v.split()]
    if settings.get("PrivateTmp") == ["yes"]:
        out += [Path("/tmp"), Path("/var/tmp")]
    workdir = settings.get("WorkingDirectory", [None])[0]
    return out, Path(workdir.lstrip("-")) if workdir else None


def example_paths(text: str) -> list[tuple[str, str]]:
    """(section.key, value) of every string assignment in a TOML text or in the ```toml blocks
    of a Markdown page, commented-out examples (`# key = "..."`) included."""
    if "```" in text:
        blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    else:
        blocks = [text]
    found = []
    for block in blocks:
        section = ""
        for line in block.splitlines():
            header = re.match(r"^\s*\[([A-Za-z0-9_.]+)\]", line)
            if header:
                section = header.group(1)
                continue
            m = re.match(r'^\s*#?\s*([A-Za-z0-9_]+)\s*=\s*"([^"]*)"', line)
            if m and section:
                found.append((f"{section}.{m.group(1)}", m.group(2)))
    return found


def unwritable(unit: str, text: str) -> list[str]:
    allowed, workdir = writable_paths((ROOT / "systemd" / unit).read_text())
    bad = []
    for key, value in example_paths(text):
        key = key.replace("source.gphoto2_folder", "source.gphoto2.folder")
        if key not in WRITTEN_BY[unit]:
            continue
        path = Path(value)
        if not path.is_absolute():
            assert workdir is not None, f"{unit}: a relative {key} needs a WorkingDirectory="
            path = workdir / path
        if not any(path.is_relative_to(root) for root in allowed):
            bad.append(f"{key} = {value!r}")
    return bad


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_folder_the_examples_write_is_writable_in_the_sandbox(unit, example):
    assert unwritable(unit, example.read_text()) == [], f"{example.name}: read-only for {unit} (ProtectSystem=strict)"


def test_the_writable_path_check_sees_a_folder_under_srv():
    """/srv is read-only under ProtectSystem=strict: an example pointing a hot folder there is caught,
    live or commented out, in a config file or a documentation block."""
    config = '[source]\n# processed_dir = "/srv/cutbox/done"\npath = "/var/lib/cutbox/in"\n'
    assert unwritable("cutbox.service", config) == ["source.processed_dir = '/srv/cutbox/done'"]
    page = 'text\n```toml\n[mqtt.catalog]\ndata_dir = "/srv/catalog"\n```\n'
    assert unwritable("cutbox-catalog.service", page) == ["mqtt.catalog.data_dir = '/srv/catalog'"]
    assert unwritable("cutbox.service", '[station]\ndata_dir = "cutbox-data"\n') == []  # under WorkingDirectory


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
