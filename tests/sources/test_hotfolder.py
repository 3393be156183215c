"""The hot folder: a file is read only once it is completely written, and only once."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest

from device.config import SourceConfig
from device.sources import SourceError, open_source
from device.sources.decode import decode_image
from device.sources.hotfolder import HotFolderSource
from tests.paths import SAMPLES

JPEG = (SAMPLES / "purple-tshirt.jpg").read_bytes()


def _chunks(data: bytes, n: int) -> list[bytes]:
    step = -(-len(data) // n)
    return [data[i : i + step] for i in range(0, len(data), step)]


def test_a_file_growing_between_polls_is_not_read_until_it_stops(tmp_path):
    src = HotFolderSource(tmp_path, stable_polls=2)
    target = tmp_path / "shot.jpg"
    with open(target, "wb") as fh:
        for part in _chunks(JPEG, 5):
            fh.write(part)
            fh.flush()
            assert src.poll() == []  # it changed since the last scan: not touched
    assert src.decode_attempts == 0
    assert src.poll() == []  # unchanged once
    frames = src.poll()  # unchanged twice: taken
    assert len(frames) == 1 and src.decode_attempts == 1
    assert np.array_equal(frames[0].image, decode_image(JPEG))
    assert frames[0].source == f"hotfolder:{target.name}"
    assert src.poll() == [] and src.poll() == []  # taken once only


def test_a_writer_that_pauses_mid_file_gets_its_file_taken_when_complete(tmp_path):
    errors = []
    src = HotFolderSource(tmp_path, stable_polls=1, on_error=lambda p, e: errors.append(str(e)))
    target = tmp_path / "slow.jpg"
    half = len(JPEG) // 2
    target.write_bytes(JPEG[:half])
    assert src.poll() == [] and src.poll() == []  # looked stable, but does not decode: no frame
    assert len(errors) == 1 and "truncated" in errors[0]
    assert src.poll() == []  # not retried while unchanged
    with open(target, "ab") as fh:
        fh.write(JPEG[half:])
    assert src.poll() == []
    frames = src.poll()
    assert len(frames) == 1 and np.array_equal(frames[0].image, decode_image(JPEG))


def test_a_slow_writer_in_real_time_yields_exactly_one_complete_frame(tmp_path):
    src = HotFolderSource(tmp_path, poll_interval_s=0.02, stable_polls=3)
    got = []

    def consume():
        for frame in src.frames():
            got.append((time.monotonic(), frame))

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    with open(tmp_path / "tethered.jpg", "wb") as fh:
        for part in _chunks(JPEG, 8):
            fh.write(part)
            fh.flush()
            done = time.monotonic()  # the last write ends here
            time.sleep(0.03)  # shorter than the 3-poll stability window
    deadline = done + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    src.close()
    reader.join(2)
    assert len(got) == 1
    when, frame = got[0]
    assert when >= done
    assert np.array_equal(frame.image, decode_image(JPEG))


def test_taken_files_move_to_processed_dir(tmp_path):
    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    shutil.copy(SAMPLES / "cap.jpg", inbox / "cap.jpg")
    src = open_source(
        SourceConfig(kind="hotfolder", path=inbox, stable_polls=1, poll_interval_s=0.01, processed_dir=done)
    )
    frame = src.grab(timeout=5)
    assert frame.size == (400, 534)
    assert not (inbox / "cap.jpg").exists() and (done / "cap.jpg").exists()


def test_a_jpeg_decodes_reduced_as_far_as_it_covers_the_size_asked_for_and_cut_short_still_fails(tmp_path):
    import cv2

    from device.devtools.bench import bench_frame

    big = cv2.imencode(".jpg", cv2.cvtColor(bench_frame(), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    data = big.tobytes()  # 2304x1296
    errors = []
    src = HotFolderSource(tmp_path, stable_polls=1, on_error=lambda p, e: errors.append(str(e)))
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    src.poll((300, 300))
    assert src.poll((300, 300)) == [] and len(errors) == 1 and "truncated" in errors[0]
    (tmp_path / "shot.jpg").write_bytes(data)
    src.poll((300, 300))
    (frame,) = src.poll((300, 300))  # 1/4 still covers 300x300; 1/8 (288x162) would not
    assert frame.size == (576, 324) and frame.info["reduced"] == 4
    (tmp_path / "wide.jpg").write_bytes(data)
    src.poll((1600, 2000))
    (frame,) = src.poll((1600, 2000))  # taller than the frame: nothing smaller covers it
    assert frame.size == (2304, 1296) and "reduced" not in frame.info
    (tmp_path / "native.jpg").write_bytes(data)
    src.poll()
    (frame,) = src.poll()
    assert frame.size == (2304, 1296) and "reduced" not in frame.info


def test_a_moved_file_is_found_again_for_a_full_decode(tmp_path):
    from device.workflows.reduced_decode import decoded_in_full

    inbox, done = tmp_path / "in", tmp_path / "done"
    inbox.mkdir()
    shutil.copy(SAMPLES / "purple-tshirt.jpg", inbox / "shot.jpg")
    src = HotFolderSource(inbox, stable_polls=1, poll_interval_s=0.01, processed_dir=done)
    frame = src.grab(timeout=5, min_size=(100, 100))
    assert frame.info["reduced"] == 4 and frame.info["path"] == str(done / "shot.jpg")  # 400x533: 100x134
    full = decoded_in_full(frame, 60_000_000)
    assert np.array_equal(full.image, decode_image(JPEG)) and "reduced" not in full.info
    assert (full.id, full.source, full.info["signature"]) == (frame.id, frame.source, frame.info["signature"])


def test_a_rewritten_file_is_taken_again_and_temp_files_are_ignored(tmp_path):
    src = HotFolderSource(tmp_path, stable_polls=1)
    (tmp_path / ".partial.jpg").write_bytes(JPEG)
    (tmp_path / "upload.jpg.part").write_bytes(JPEG)
    shutil.copy(SAMPLES / "cap.jpg", tmp_path / "a.jpg")
    src.poll()
    assert len(src.poll()) == 1
    time.sleep(0.01)
    shutil.copy(SAMPLES / "shoes.jpg", tmp_path / "a.jpg")
    src.poll()
    again = src.poll()
    assert len(again) == 1 and np.array_equal(again[0].image, decode_image(SAMPLES / "shoes.jpg"))


def test_grab_times_out_with_a_clear_message_and_a_missing_folder_fails_at_open(tmp_path):
    src = HotFolderSource(tmp_path, poll_interval_s=0.01)
    with pytest.raises(SourceError, match="no complete file arrived"):
        src.grab(timeout=0.05)
    with pytest.raises(SourceError, match="hot folder does not exist"):
        HotFolderSource(tmp_path / "nope")
