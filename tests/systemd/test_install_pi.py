"""tools/install-pi.sh run for real into a fake root: a fake Pi 5 (device-tree model,
os-release, /boot/firmware/config.txt, machine-id), an offline wheelhouse, and stand-ins on
PATH only for what would change this machine (apt, useradd/groupadd/usermod, udevadm,
systemctl, chown) or say what it is (uname -m = aarch64, hostname). Everything else is the
real thing: tar, python3 -m venv, pip installing from the wheelhouse with the index made
unreachable, the provisioning, the config check, the boot fragment and the unit files.

The wheelhouse is this machine's (x86), built once with
`python -m tools.build_wheelhouse --host --out ~/.cache/cutbox/wheelhouse-host`; without it
the full-install tests skip and say so.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.paths import REPO

INSTALLER = REPO / "tools" / "install-pi.sh"
WHEELHOUSE = Path(os.environ.get("CUTBOX_TEST_WHEELHOUSE", Path.home() / ".cache" / "cutbox" / "wheelhouse-host"))
PYTHON311 = shutil.which("python3.11") or "/root/.pyenv/versions/3.11.7/bin/python3.11"

SHIMS = {
    # uname -m says aarch64; anything else is the real uname
    "uname": 'if [ "$1" = -m ]; then echo aarch64; else exec /bin/uname "$@"; fi',
    "hostname": 'if [ "$1" = -I ]; then echo "10.0.0.7 "; else echo Booth_7.local; fi',
    "dpkg-query": "printf 'install ok installed'",
    "apt-get": 'echo "apt-get $*" >>"$SHIM_LOG"',
    "curl": 'echo "curl $*" >>"$SHIM_LOG"; exit 7',
    "gpg": 'echo "gpg $*" >>"$SHIM_LOG"; exit 2',
    "udevadm": 'echo "udevadm $*" >>"$SHIM_LOG"',
    "systemctl": 'echo "systemctl $*" >>"$SHIM_LOG"',
    "chown": 'echo "chown $*" >>"$SHIM_LOG"',
    "runuser": 'echo "runuser $*" >>"$SHIM_LOG"; exit 1',
    # the account database is a file in the fake root; usermod refuses a group that does not exist
    "getent": 'grep -qx "$2" "$CUTBOX_ROOT/groups"',
    "groupadd": 'echo "groupadd $*" >>"$SHIM_LOG"; echo "${@: -1}" >>"$CUTBOX_ROOT/groups"',
    "useradd": 'echo "useradd $*" >>"$SHIM_LOG"; echo "${@: -1}" >>"$CUTBOX_ROOT/users"',
    "id": 'if [ "$1" = -u ] && [ -n "$2" ]; then grep -qx "$2" "$CUTBOX_ROOT/users"; else exec /usr/bin/id "$@"; fi',
    "usermod": 'grep -qx "$3" "$CUTBOX_ROOT/groups" || { echo "usermod: group $3 does not exist" >&2; exit 6; }; echo "usermod $*" >>"$SHIM_LOG"',
}


def needs(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None and not Path(tool).exists():
            pytest.skip(f"{tool} is not installed here")


def fake_pi(tmp_path: Path, model: str = "Raspberry Pi 5 Model B Rev 1.0") -> tuple[Path, dict]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\nVERSION_CODENAME=bookworm\n")
    (root / "etc" / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "proc" / "device-tree").mkdir(parents=True)
    (root / "proc" / "device-tree" / "model").write_bytes(model.encode() + b"\0")
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "boot" / "firmware" / "config.txt").write_text("[all]\ndtoverlay=vc4-kms-v3d\n")
    (root / "groups").write_text("video\nrender\ndialout\nplugdev\ninput\n")  # what Raspberry Pi OS has; no gpio/apex
    (root / "users").write_text("")
    shims = tmp_path / "shims"
    shims.mkdir()
    for name, body in SHIMS.items():
        path = shims / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (shims / "python3").symlink_to(PYTHON311)
    env = dict(
        os.environ,
        CUTBOX_ROOT=str(root),
        SHIM_LOG=str(tmp_path / "calls.log"),
        PATH=f"{shims}:/usr/bin:/bin:/usr/sbin:/sbin",
        PIP_INDEX_URL="http://127.0.0.1:9/simple",  # nothing listens: any index access fails
        PIP_NO_COMPILE="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    return root, env


def install(env: dict, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALLER), *args], env=env, capture_output=True, text=True, timeout=timeout)


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def bundle(tmp_path: Path) -> Path:
    if not (WHEELHOUSE / "manifest.json").is_file():
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: python -m tools.build_wheelhouse --host --out {WHEELHOUSE}")
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "wheelhouse").symlink_to(WHEELHOUSE)
    return b


def test_pcie_coral_on_a_pi_4_is_refused_before_anything_changes(tmp_path):
    root, env = fake_pi(tmp_path, "Raspberry Pi 4 Model B Rev 1.5")
    r = install(env, "--coral=pcie", "--offline")
    assert r.returncode == 1 and "--coral=pcie needs a Pi 5" in r.stderr
    assert calls(tmp_path) == [] and not (root / "opt").exists()


def test_a_bare_coral_flag_asks_which_one(tmp_path):
    _, env = fake_pi(tmp_path)
    r = install(env, "--coral")
    assert r.returncode == 1 and "--coral=usb" in r.stderr and "--coral=pcie" in r.stderr


@pytest.mark.slow
def test_offline_without_a_wheelhouse_says_where_it_looked(tmp_path):
    needs("tar", PYTHON311)
    _, env = fake_pi(tmp_path)
    r = install(env, "--offline=" + str(tmp_path / "empty-bundle"), "--no-start")
    assert r.returncode == 1 and f"no wheelhouse at {tmp_path / 'empty-bundle'}/wheelhouse" in r.stderr


def first_install(tmp_path: Path) -> tuple[Path, dict, Path, str, str]:
    """An offline install on a fresh Pi 5 without a Coral, checked; (root, env, bundle, release, token)."""
    b = bundle(tmp_path)
    root, env = fake_pi(tmp_path)
    opt, etc = root / "opt" / "cutbox", root / "etc" / "cutbox"
    r = install(env, f"--offline={b}", "--no-start", "--mqtt-host=broker.lan")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    first = os.readlink(opt / "current")
    assert first.startswith("releases/0.1.0-") and not (opt / "previous").exists()
    probe = subprocess.run(
        [
            str(opt / "venv" / "bin" / "python"),
            "-c",
            "import numpy, cv2, ai_edge_litert, device; print(numpy.__version__, cv2.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    numpy_version, cv2_version = probe.stdout.split()
    assert numpy_version.startswith("1."), "numpy 2 would break apt's simplejpeg/picamera2"
    assert cv2_version.startswith("4.1")

    cfg = tomllib.loads((etc / "cutbox.toml").read_text())
    assert cfg["station"]["id"] == "booth_7" and cfg["station"]["data_dir"] == "/var/lib/cutbox"
    assert cfg["mqtt"]["catalog"]["data_dir"] == "/var/lib/cutbox-catalog"  # named here, not by the unit
    assert cfg["mqtt"]["client_id"] == "cutbox-booth_7-01234567" and cfg["mqtt"]["username"] == "booth_7"
    assert cfg["mqtt"]["enabled"] is True and cfg["mqtt"]["host"] == "broker.lan"
    token = (etc / "api-token").read_text().strip()
    assert len(token) >= 32 and stat.S_IMODE((etc / "api-token").stat().st_mode) == 0o640
    assert (etc / "mqtt.password").is_file()  # the catalog unit's LoadCredential= needs it
    assert cfg["api"]["token_file"] == "/etc/cutbox/api-token"

    boot = (root / "boot" / "firmware" / "config.txt").read_text()
    assert boot.splitlines().count("# >>> cutbox >>>") == 1 and "camera_auto_detect=1" in boot
    live = [line for line in boot.splitlines() if not line.startswith("#")]
    assert "kernel=kernel8.img" not in live and "dtparam=pciex1" not in live  # no PCIe Coral: default kernel
    assert (root / "boot" / "firmware" / "config.txt.before-cutbox").read_text() == "[all]\ndtoverlay=vc4-kms-v3d\n"
    assert (root / "etc" / "systemd" / "system" / "cutbox.service").is_file()

    log = calls(tmp_path)
    assert not any(c.startswith(("curl", "gpg", "apt-get update")) for c in log), "offline, yet it went online"
    assert log.index("groupadd --system apex") < log.index("usermod -a -G apex cutbox")
    assert "systemctl enable cutbox.service" in log and "systemctl restart cutbox.service" not in log
    return root, env, b, first, token


@pytest.mark.slow
@pytest.mark.timeout(900)  # a venv and ~30 wheels: 30 s on an idle machine, minutes on a loaded one
def test_offline_install_on_a_fresh_pi_5(tmp_path):
    needs("tar", PYTHON311)
    first_install(tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.skipif(
    os.environ.get("CUTBOX_SLOW_TESTS") != "1", reason="two full offline installs (1-3 min): set CUTBOX_SLOW_TESTS=1"
)
def test_an_update_keeps_the_last_release_and_rollback_returns_to_it(tmp_path):
    needs("tar", PYTHON311)
    root, env, b, first, token = first_install(tmp_path)
    opt, etc = root / "opt" / "cutbox", root / "etc" / "cutbox"
    # a config from before the units stopped setting data_dir: the shipped relative default
    kept = (etc / "cutbox.toml").read_text().replace('data_dir = "/var/lib/cutbox"', 'data_dir = "cutbox-data"')
    (etc / "cutbox.toml").write_text(kept)
    # an update that adds a PCIe Coral: a new release, the old one kept, the config kept
    r = install(env, f"--offline={b}", "--no-start", "--coral=pcie")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cfg = tomllib.loads((etc / "cutbox.toml").read_text())
    assert cfg["station"]["data_dir"] == "/var/lib/cutbox" and cfg["station"]["id"] == "booth_7"
    second = os.readlink(opt / "current")
    assert second != first and os.readlink(opt / "previous") == first
    assert sorted(p.name for p in (opt / "releases").iterdir()) == sorted([Path(first).name, Path(second).name])
    assert (etc / "api-token").read_text().strip() == token  # provisioned once, never again
    boot = (root / "boot" / "firmware" / "config.txt").read_text()
    assert boot.splitlines().count("# >>> cutbox >>>") == 1
    assert "kernel=kernel8.img" in boot.splitlines() and "dtparam=pciex1_gen=2" in boot.splitlines()
    # rollback: back to the first release, the newer one kept as previous
    r = install(env, "--rollback", "--no-start")
    assert r.returncode == 0, r.stderr
    assert os.readlink(opt / "current") == first and os.readlink(opt / "previous") == second
    assert (opt / "venv" / "bin" / "cutbox").resolve().is_relative_to((opt / first).resolve())
