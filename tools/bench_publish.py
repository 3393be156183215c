"""Publish throughput and latency through a real local Mosquitto, with 2 MB artifacts.

Starts a private broker on a free loopback port (its own config file, stopped by PID), then
times the real Publisher: submit (outbox write + fsync) -> every message PUBACKed. Two runs:
`burst` submits all captures at once (captures per second), `one-by-one` waits for each
capture's PUBACK before the next (latency without queueing). Prints a table with the machine.

    .venv/bin/python tools/bench_publish.py --captures 40 --mb 2
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device.comms.mqtt import Publisher  # noqa: E402
from device.config import MqttConfig  # noqa: E402
from device.types import Artifact, Capture, Frame  # noqa: E402


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _capture(i: int, blob: bytes) -> Capture:
    frame = Frame(id=f"f{i}", image=np.zeros((1, 1, 3), np.uint8), timestamp=time.time(), source="bench")
    cid = f"bench-{os.getpid()}-{i:05d}"
    data = i.to_bytes(4, "big") + blob[4:]  # distinct sha per capture
    return Capture(
        id=cid,
        frame=frame,
        artifacts=[Artifact("jpeg", f"{cid}.jpg", "image/jpeg", data)],
        timings_ms={},
        model="bench",
        preset="bench",
    )


def run(n: int, mb: float, workdir: Path) -> list[tuple[str, int, float, float, float, float]]:
    mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    broker = subprocess.Popen([mosq, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        time.sleep(0.3)
        blob = np.random.default_rng(0).integers(0, 256, int(mb * 1e6), dtype=np.uint8).tobytes()
        for mode in ("burst", "one-by-one"):
            done: dict[str, float] = {}
            ev = threading.Event()

            def on_published(cid):
                done[cid] = time.perf_counter()  # noqa: B023
                ev.set()  # noqa: B023

            pub = Publisher(
                MqttConfig(enabled=True, port=port, reconnect_min_s=0.1, max_inflight=32),
                "bench",
                workdir / f"outbox-{mode}.sqlite",
                on_published=on_published,
            ).start()
            deadline = time.monotonic() + 10
            while not pub.status()["connected"] and time.monotonic() < deadline:
                time.sleep(0.02)
            caps = [_capture(i, blob) for i in range(n)]
            started: dict[str, float] = {}
            submit_ms = []
            t0 = time.perf_counter()
            for c in caps:
                started[c.id] = time.perf_counter()
                pub.submit(c)
                submit_ms.append((time.perf_counter() - started[c.id]) * 1000)
                if mode == "one-by-one":
                    while c.id not in done:
                        ev.wait(1)
                        ev.clear()
            while len(done) < n:
                ev.wait(1)
                ev.clear()
            total = time.perf_counter() - t0
            pub.stop()
            lat = np.array([(done[c] - started[c]) * 1000 for c in started])
            rows.append(
                (
                    mode,
                    n,
                    n / total,
                    float(np.percentile(submit_ms, 95)),
                    float(np.percentile(lat, 50)),
                    float(np.percentile(lat, 95)),
                )
            )
    finally:
        os.kill(broker.pid, signal.SIGTERM)
        broker.wait(10)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", type=int, default=40)
    ap.add_argument("--mb", type=float, default=2.0, help="artifact size in MB")
    ap.add_argument("--dir", help="where the outbox goes (default: a temp dir on the local disk)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        rows = run(a.captures, a.mb, Path(d))
    print(
        f"machine: {_cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; artifact {a.mb:g} MB + meta, QoS 1, local Mosquitto"
    )
    print(
        f"{'mode':<11} {'captures':>8} {'captures/s':>10} {'MB/s':>7} {'submit p95 ms':>13} "
        f"{'publish p50 ms':>14} {'publish p95 ms':>14}"
    )
    for mode, n, rate, sub95, p50, p95 in rows:
        print(f"{mode:<11} {n:>8} {rate:>10.1f} {rate * a.mb:>7.1f} {sub95:>13.1f} {p50:>14.1f} {p95:>14.1f}")
    print("publish = submit() -> last PUBACK of the capture (outbox write + fsync + broker round trip)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
