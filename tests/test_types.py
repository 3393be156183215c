"""Capture ids sort in the order the captures were made (device/types.py)."""

import threading
import time
from datetime import UTC, datetime

from device.types import new_capture_id


def _when(capture_id: str) -> float:
    return datetime.strptime(capture_id.split("Z-")[0], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).timestamp()


def test_ids_made_in_a_burst_are_unique_and_sort_in_the_order_they_were_made():
    ids = [new_capture_id() for _ in range(500)]  # many share a millisecond of the clock
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids


def test_an_id_carries_the_utc_time_it_was_made_to_the_millisecond():
    before = time.time()
    capture_id = new_capture_id()
    after = time.time()
    assert before - 0.001 <= _when(capture_id) <= after + 0.6  # a burst before may have run it ahead


def test_ids_from_several_threads_never_collide():
    ids: list[str] = []
    lock = threading.Lock()

    def make():
        mine = [new_capture_id() for _ in range(200)]
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({i.split("Z-")[0] for i in ids}) == 800  # unique even without the random tail
