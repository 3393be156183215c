"""Files, folders and globs as a source: order kept, bad files skipped with a reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from device.config import SourceConfig
from device.sources import FrameSource, SourceError, open_source
from device.sources.files import FileSource, expand_paths, read_frame
from tests.paths import SAMPLES


@pytest.fixture
def folder(tmp_path):
    for name in ("b.jpg", "a.JPG", "c.png"):
        shutil.copy(SAMPLES / "cap.jpg", tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / ".hidden.jpg").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    shutil.copy(SAMPLES / "vest.jpg", tmp_path / "sub" / "d.jpg")
    return tmp_path


def test_a_folder_gives_its_images_sorted_skipping_other_files(folder):
    names = [p.name for p in expand_paths([folder])]
    assert names == ["a.JPG", "b.jpg", "c.png"]


def test_recursive_walks_sub_folders(folder):
    assert "d.jpg" in [p.name for p in expand_paths([folder], recursive=True)]


def test_globs_expand_and_duplicates_are_dropped(folder):
    got = expand_paths([str(folder / "*.jpg"), folder / "b.jpg"])
    assert [p.name for p in got] == ["b.jpg"]


def test_a_named_file_is_kept_even_if_it_is_not_an_image(folder):
    assert expand_paths([folder / "notes.txt"]) == [folder / "notes.txt"]


def test_missing_paths_and_empty_globs_say_so(folder):
    with pytest.raises(SourceError, match="no such file or folder"):
        expand_paths([folder / "missing.jpg"])
    with pytest.raises(SourceError, match="no files match"):
        expand_paths([str(folder / "*.tiff")])


def test_read_frame_carries_id_timestamp_and_source_info():
    f = read_frame(SAMPLES / "shoes.jpg")
    g = read_frame(SAMPLES / "shoes.jpg")
    assert f.id != g.id and f.timestamp > 0
    assert f.source == "file:shoes.jpg"  # the name, never the server path
    assert f.info["path"].endswith("shoes.jpg") and f.info["read_ms"] > 0
    assert f.image.dtype == np.uint8 and f.image.ndim == 3 and f.lores is None


def test_a_bad_file_is_skipped_and_reported_and_the_rest_still_come(folder):
    (folder / "b.jpg").write_bytes(b"")
    errors = []
    src = FileSource([folder], on_error=lambda p, e: errors.append((p.name, str(e))))
    assert isinstance(src, FrameSource)
    frames = list(src.frames())
    assert [Path(f.info["path"]).name for f in frames] == ["a.JPG", "c.png"]
    assert errors == [("b.jpg", "empty file (0 bytes)")] and len(src.failed) == 1


def test_grab_steps_through_files_then_says_there_are_no_more(folder):
    src = open_source(SourceConfig(kind="files", path=folder / "a.JPG"))
    assert src.grab().size == (400, 534)
    with pytest.raises(SourceError, match="no more files"):
        src.grab()


def test_files_kind_needs_a_path():
    with pytest.raises(SourceError, match="needs source.path"):
        open_source(SourceConfig(kind="files"))
