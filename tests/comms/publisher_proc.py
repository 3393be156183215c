"""A publisher process for the kill -9 tests: queue captures, print each one queued, drain.

usage: python tests/comms/publisher_proc.py CONFIG FIRST LAST [--pace S] [--skip i,j,...]
Prints `queued <i>` after submit() returned (so it is durable), `drained` when the outbox is
empty, then exits 0. The tests SIGKILL it at any point in between.
"""

import argparse
import time

from device.comms.mqtt import Publisher
from device.config import load_config
from tests.mqtt_harness import make_capture  # importable: python_subprocess puts the repo on PYTHONPATH

p = argparse.ArgumentParser()
p.add_argument("config")
p.add_argument("first", type=int)
p.add_argument("last", type=int)
p.add_argument("--pace", type=float, default=0.0)
p.add_argument("--skip", default="")
a = p.parse_args()
cfg = load_config(a.config)
skip = {int(x) for x in a.skip.split(",") if x}
pub = Publisher(cfg.mqtt, cfg.station.id, cfg.station.data_dir / "outbox.sqlite").start()
for i in range(a.first, a.last):
    if i in skip:
        continue
    pub.submit(make_capture(i))
    print(f"queued {i}", flush=True)
    if a.pace:
        time.sleep(a.pace)
while pub.outbox.stats()["messages"]:
    time.sleep(0.05)
print("drained", flush=True)
pub.stop()
