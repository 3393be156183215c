"""Capture store: captures round-trip through disk, replace atomically, and never leave the data folder."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from device.box.store import CaptureStore, NotFound, StoreError
from device.types import Artifact, Capture, Frame, new_capture_id
from tests.paths import SAMPLES

SAMPLE = SAMPLES / "cap.jpg"


def make_capture(capture_id: str | None = None, jpeg: bytes = b"\xff\xd8fake-jpeg\xff\xd9") -> Capture:
    image = cv2.cvtColor(cv2.imread(str(SAMPLE)), cv2.COLOR_BGR2RGB)
    frame = Frame(id="f1", image=image, timestamp=0.0, source=f"file:{SAMPLE}")
    return Capture(
        id=capture_id or new_capture_id(),
        frame=frame,
        artifacts=[
            Artifact("jpeg", "cap.jpg", "image/jpeg", jpeg),
            Artifact("mask", "cap_mask.png", "image/png", b"png"),
        ],
        timings_ms={"total": 12.5},
        model="student-test",
        preset="marketplace-white",
        sku="SKU-1",
        quality=0.8,
        review=False,
        meta={"np": np.float32(1.5)},
    )


@pytest.fixture()
def store(tmp_path):
    return CaptureStore(tmp_path / "captures")


def test_a_capture_round_trips_with_its_original_frame_and_alpha(store):
    cap = make_capture()
    alpha = np.linspace(0, 1, cap.frame.image.shape[0] * cap.frame.image.shape[1], dtype=np.float32).reshape(
        cap.frame.image.shape[:2]
    )
    meta = store.save(cap, alpha, extra={"review_state": "none"})
    assert meta["sku"] == "SKU-1" and meta["frame"]["width"] == cap.frame.image.shape[1]
    assert meta["meta"]["np"] == 1.5  # numpy scalars become JSON
    assert store.artifact(cap.id, "jpeg").path.read_bytes() == cap.artifacts[0].data
    assert store.artifact(cap.id, "jpeg").content_type == "image/jpeg"
    # the original is kept as JPEG q95 (about a fifth of a PNG): close enough to correct from
    assert (store.root / cap.id / "original.jpg").is_file() and not (store.root / cap.id / "original.png").exists()
    assert np.abs(store.frame(cap.id).image.astype(int) - cap.frame.image.astype(int)).mean() < 2.0
    assert store.artifact(cap.id, "original").content_type == "image/jpeg"
    assert np.abs(store.alpha(cap.id).astype(int) - np.round(alpha * 255).astype(int)).max() <= 1
    again = store.capture(cap.id)
    assert [a.sha256 for a in again.artifacts] == [a.sha256 for a in cap.artifacts]


def test_list_is_newest_first_and_filters_by_review_state(store):
    ids = [f"20240101T00000{i}000Z-abcdef0{i}" for i in range(3)]
    for i, cid in enumerate(ids):
        store.save(make_capture(cid), extra={"review_state": "pending" if i == 1 else "none"})
    assert [m["id"] for m in store.list()] == ids[::-1]
    assert [m["id"] for m in store.list(limit=2)] == ids[::-1][:2]
    assert [m["id"] for m in store.list(review_state="pending")] == [ids[1]]


def test_saving_again_replaces_the_capture_and_keeps_its_history(store):
    cap = make_capture()
    first = store.save(cap, np.zeros(cap.frame.image.shape[:2], np.float32), extra={"review_state": "pending"})
    cap.artifacts = [Artifact("jpeg", "cap.jpg", "image/jpeg", b"\xff\xd8corrected\xff\xd9")]
    second = store.save(cap, np.ones(cap.frame.image.shape[:2], np.float32), extra={"corrections": 1})
    assert second["created"] == first["created"] and second["review_state"] == "pending"
    assert store.artifact(cap.id, "jpeg").path.read_bytes() == b"\xff\xd8corrected\xff\xd9"
    with pytest.raises(NotFound):
        store.artifact(cap.id, "mask")  # gone with the old version
    assert store.alpha(cap.id).min() == 255
    leftovers = [p.name for p in store.root.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_update_meta_changes_only_the_named_keys(store):
    cap = make_capture()
    store.save(cap, extra={"review_state": "pending"})
    meta = store.update_meta(cap.id, review_state="approved")
    assert meta["review_state"] == "approved" and store.meta(cap.id)["sku"] == "SKU-1"


@pytest.mark.parametrize(
    "bad_id", ["..", "../etc", "a/b", "..%2Fetc", "", ".hidden", "x" * 200, "a\x00b", "/etc/passwd", "id with space"]
)
def test_ids_outside_the_strict_pattern_are_refused(store, bad_id):
    with pytest.raises(StoreError):
        store.meta(bad_id)
    with pytest.raises(StoreError):
        store.artifact(bad_id, "jpeg")


@pytest.mark.parametrize("bad_name", ["../meta.json", "..", "meta.json", "a/b", "JPEG", "%2e%2e", ""])
def test_artifact_names_outside_the_pattern_are_refused(store, bad_name):
    cap = make_capture()
    store.save(cap)
    with pytest.raises(StoreError):
        store.artifact(cap.id, bad_name)


def test_an_unknown_capture_or_artifact_is_not_found(store):
    cap = make_capture()
    store.save(cap)
    with pytest.raises(NotFound):
        store.meta("20990101T000000000Z-00000000")
    with pytest.raises(NotFound):
        store.artifact(cap.id, "tiff")


def test_a_symlink_planted_in_a_capture_folder_cannot_reach_outside(store, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    cap = make_capture()
    store.save(cap)
    folder = store.root / cap.id
    (folder / "cap.jpg").unlink()
    os.symlink(secret, folder / "cap.jpg")
    with pytest.raises(StoreError):
        store.artifact(cap.id, "jpeg")


def test_a_meta_file_naming_a_path_outside_is_refused(store):
    cap = make_capture()
    store.save(cap)
    meta_path = store.root / cap.id / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["artifacts"][0]["filename"] = "../../../../etc/passwd"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError):
        store.artifact(cap.id, "jpeg")


def test_the_original_is_lossless_png_when_the_config_asks(tmp_path):
    store = CaptureStore(tmp_path / "captures", original_format="png")
    cap = make_capture()
    store.save(cap)
    assert np.array_equal(store.frame(cap.id).image, cap.frame.image)
    assert store.artifact(cap.id, "original").content_type == "image/png"
    jpeg_store = CaptureStore(tmp_path / "captures")  # a store from before keeps reading its PNG originals
    assert np.array_equal(jpeg_store.frame(cap.id).image, cap.frame.image)
    jpeg_store.save(store.capture(cap.id))  # re-saved (a review decision): the frame is written as JPEG now
    assert jpeg_store.artifact(cap.id, "original").content_type == "image/jpeg"


def test_the_original_as_jpeg_is_much_smaller_than_as_png(tmp_path):
    cap = make_capture()
    CaptureStore(tmp_path / "a", original_format="png").save(cap)
    CaptureStore(tmp_path / "b").save(cap)
    png = (tmp_path / "a" / cap.id / "original.png").stat().st_size
    jpg = (tmp_path / "b" / cap.id / "original.jpg").stat().st_size
    assert jpg < png / 2, (jpg, png)
