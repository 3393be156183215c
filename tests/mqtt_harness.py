"""A real Mosquitto broker per test: free loopback port, its own config file, stopped by PID.

Shared by tests/comms and tests/catalog (`from tests.mqtt_harness import ...`). Also holds
the small helpers those tests need: build a real `Capture` from real bytes, write a cutbox
TOML for a subprocess, wait for a condition.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from device.types import Artifact, Capture, Frame
from tests.box_config import free_port
from tests.paths import REPO


def find_mosquitto() -> str:
    """Mosquitto on PATH or in /usr/sbin (Debian puts it there); CI installs it with apt."""
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
    if not found:
        raise RuntimeError("mosquitto not found: apt-get install mosquitto (the CI script does this)")
    return found


def make_password_file(path: Path, users: dict[str, str]) -> Path:
    """Write a Mosquitto password file with mosquitto_passwd (hashes, never plain text)."""
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    path.write_text("")
    for user, pw in users.items():
        subprocess.run([tool, "-b", str(path), user, pw], check=True, capture_output=True)
    path.chmod(0o600)
    return path


class Broker:
    """One private Mosquitto: `start()`, `stop()` (SIGTERM, saves persistence), `kill()`."""

    def __init__(self, workdir: Path, port: int | None = None, extra: str = "", persistence: bool = True):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true" if "password_file" not in extra else "",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.dir}/",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            # run as root (CI containers) mosquitto would drop to user "mosquitto" and lose access
            # to the test's files
            "user root" if os.geteuid() == 0 else "",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            extra,
        ]
        self.conf.write_text("\n".join(line for line in lines if line) + "\n")
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> Broker:
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([find_mosquitto(), "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


def payload_for(index: int, size: int = 3000) -> bytes:
    """Deterministic bytes for capture number `index`, so a resend has the same sha256."""
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def make_capture(index: int, size: int = 3000, station_prefix: str = "cap") -> Capture:
    """A real Capture: a tiny frame, a JPEG-named artifact and a mask, all from real bytes."""
    frame = Frame(id=f"f{index}", image=np.zeros((2, 2, 3), np.uint8), timestamp=time.time(), source="test")
    data = payload_for(index, size)
    mask = hashlib.sha256(data).digest() * 4
    cap_id = f"{station_prefix}-{index:05d}"
    return Capture(
        id=cap_id,
        frame=frame,
        artifacts=[
            Artifact("jpeg", f"{cap_id}.jpg", "image/jpeg", data),
            Artifact("mask", f"{cap_id}-mask.png", "image/png", mask),
        ],
        timings_ms={"segment": 3.2, "matte": 1.1},
        model="test-model@1",
        preset="square",
        sku=f"SKU-{index}",
        quality=0.9,
        review=False,
        meta={"spin_id": "spin-1", "angle": index % 360},
    )


def write_config(
    path: Path, station: str, port: int, data_dir: Path, mqtt_extra: str = "", catalog_extra: str = ""
) -> Path:
    """A cutbox.toml with only the sections these tests need (others take their defaults)."""
    path.write_text(
        f"""
[station]
id = "{station}"
data_dir = "{data_dir}"

[mqtt]
enabled = true
host = "127.0.0.1"
port = {port}
reconnect_min_s = 0.1
reconnect_max_s = 0.5
receipt_timeout_s = 2.0
receipt_timeout_max_s = 4.0
{mqtt_extra}

[mqtt.catalog]
data_dir = "{data_dir / "catalog"}"
{catalog_extra}
"""
    )
    return path


def python_subprocess(args: list[str], log: Path) -> subprocess.Popen:
    """Start `python <args>` with the repo importable; output goes to `log`."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    out = open(log, "ab")
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def sigkill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def wait_for(cond, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ReceiverThread:
    """The real catalog receiver, in a thread of the test process."""

    def __init__(self, config):
        from device.catalog.receiver import CatalogStore, Receiver

        self.store = CatalogStore(config.mqtt.catalog.data_dir)
        self.receiver = Receiver(config.mqtt, self.store)
        import threading

        self.thread = threading.Thread(target=self.receiver.run, daemon=True)

    def start(self, wait_subscribed: bool = True) -> ReceiverThread:
        self.thread.start()
        if wait_subscribed:
            assert self.receiver.subscribed.wait(15), f"receiver never subscribed: {self.receiver.last_error}"
        return self

    def stop(self) -> None:
        self.receiver.stop()
        self.thread.join(10)
        self.store.close()


def catalog_counts(data_dir: Path) -> dict:
    """Read the catalog index from outside (as an operator would): complete captures, items, counters."""
    import sqlite3

    db = sqlite3.connect(f"file:{Path(data_dir) / 'index.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        out = dict(db.execute("SELECT name, value FROM counters").fetchall())
        out["complete"] = db.execute("SELECT COUNT(*) FROM captures WHERE complete=1").fetchone()[0]
        out["items"] = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.OperationalError:
        out = {"complete": 0, "items": 0}
    finally:
        db.close()
    return out


def verify_catalog(data_dir: Path, indices, station: str, size: int = 3000) -> None:
    """Every expected capture is complete, stored once, and its files hash to what was sent."""
    import sqlite3

    data_dir = Path(data_dir)
    db = sqlite3.connect(data_dir / "index.sqlite")
    complete = {r[0] for r in db.execute("SELECT capture_id FROM captures WHERE complete=1 AND station=?", (station,))}
    expected = {make_capture(i).id for i in indices}
    assert complete == expected, (
        f"missing {sorted(expected - complete)[:5]}, unexpected {sorted(complete - expected)[:5]}"
    )
    rows = db.execute("SELECT capture_id, name, sha256, path FROM items WHERE station=?", (station,)).fetchall()
    assert len(rows) == 3 * len(expected)
    for i in indices:
        cap = make_capture(i, size)
        for a in cap.artifacts:
            (path,) = [r[3] for r in rows if r[0] == cap.id and r[1] == a.name]
            assert hashlib.sha256((data_dir / path).read_bytes()).hexdigest() == a.sha256
    files = [p for p in (data_dir / "files" / station).rglob("*") if p.is_file()]
    assert len(files) == 3 * len(expected), "a file on disk that is not in the index (or the reverse)"
    db.close()


ACL = REPO / "firmware_config/mosquitto/cutbox.acl"


def secured_broker(workdir: Path, users: dict[str, str]) -> Broker:
    """A Mosquitto with password logins and the shipped ACL (firmware_config/mosquitto/cutbox.acl)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pw = make_password_file(workdir / "passwd", users)
    return Broker(workdir, extra=f"allow_anonymous false\npassword_file {pw}\nacl_file {ACL}")


def login(username: str, password: str) -> str:
    """The [mqtt] lines of a cutbox.toml for one broker login."""
    return f'username = "{username}"\npassword = "{password}"'


def make_certs(d: Path) -> Path:
    """A throwaway CA and a broker certificate for 127.0.0.1 (openssl CLI, no network)."""
    d.mkdir()

    def run(*a):
        return subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=cutbox-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "broker.key", "-out", "broker.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "broker.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "broker.crt",
    )
    return d
