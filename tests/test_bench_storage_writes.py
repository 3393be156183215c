"""The write benchmark measures what it says: the outbox with payload files writes about the
messages' bytes once, the BLOB outbox it replaced several times over."""

from __future__ import annotations

import subprocess

import pytest

from tools.bench_storage_writes import BASELINE_REF, ROOT, make_capture, run


def test_payload_files_and_jpeg_originals_write_less_than_blobs_and_png(tmp_path):
    if subprocess.run(["git", "cat-file", "-e", BASELINE_REF], cwd=ROOT, capture_output=True).returncode:
        pytest.skip(f"baseline {BASELINE_REF} not in this clone")
    if (
        subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True).stdout.strip()
        == "tmpfs"
    ):
        pytest.skip("tmpfs writes nothing to a block device")
    caps = [make_capture(i, 480) for i in range(3)]
    before = run("before", caps, tmp_path / "before", BASELINE_REF)
    after = run("after", caps, tmp_path / "after", BASELINE_REF)
    assert before["outbox"] > 2 * before["message_bytes"]  # BLOBs: WAL, checkpoint, freelist
    assert after["outbox"] < 1.6 * after["message_bytes"]  # files: the bytes once, plus small rows
    assert after["store"] < before["store"]  # JPEG original instead of PNG
    assert after["total"] < 0.7 * before["total"]
