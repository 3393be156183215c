"""Captures on disk, so the page can show them, the operator can correct them and a restart loses nothing.

Layout: `<data_dir>/captures/<capture id>/` holds `meta.json`, the exported artifacts under
their own file names, `original.jpg` (the untouched frame, kept for corrections: JPEG q95 by
default, `original.png` when `[storage] original_format = "png"`),
`alpha.png` (the full-resolution 8-bit matte the page paints over) and, once corrected,
`strokes.png` (the operator's accumulated keep/remove strokes). Every id and artifact name
is checked against a strict pattern and every path is resolved and confined to the store,
so no request can reach outside the data folder.

Before a capture is written the store checks the free space on its disk: below
`min_free_bytes` (plus the capture's own size) it refuses with `DiskFull` and writes nothing,
so a full SD card never leaves a half-written capture or a broken outbox behind; a write that
still hits ENOSPC is rolled back the same way.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from device import errors
from device.box.disk import folder_bytes, free_space_problem
from device.errors import BadRequest, DiskFull
from device.types import Artifact, Capture, Frame

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
_ID = re.compile(ID_PATTERN)
_NAME = re.compile(NAME_PATTERN)
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

ORIGINAL = "original"
ALPHA = "alpha"
STROKES = "strokes"
# Files the store itself writes beside the exported artifacts: name -> (file, content type).
STORE_FILES = {ORIGINAL: ("original.jpg", "image/jpeg"), ALPHA: ("alpha.png", "image/png")}
ORIGINAL_FILES = (("original.jpg", "image/jpeg"), ("original.png", "image/png"))  # either, newest format first


class StoreError(BadRequest):
    """A bad id or name, or a path that would leave the store."""


class NotFound(errors.NotFound):
    """No capture or artifact by that name."""


@dataclass(frozen=True)
class StoredArtifact:
    name: str
    path: Path
    content_type: str


def check_id(capture_id: str) -> str:
    if not isinstance(capture_id, str) or not _ID.fullmatch(capture_id):
        raise StoreError(f"bad capture id {capture_id!r}: letters, digits, '-' and '_' only (1-128)")
    return capture_id


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise StoreError(f"bad artifact name {name!r}: lower-case letters, digits, '-' and '_' only")
    return name


def _write_png(path: Path, image: np.ndarray, level: int = 1) -> None:
    """PNG through OpenCV (fast at low zlib levels); RGB in, BGR on disk."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise OSError(f"could not encode {path.name}")
    path.write_bytes(buf.tobytes())


def _write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"could not encode {path.name}")
    path.write_bytes(buf.tobytes())


def _read_image(path: Path, color: bool) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise NotFound(f"{path.name} is missing or unreadable")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image


class CaptureStore:
    """Thread-safe store of captures under one root folder (normally `<data_dir>/captures`)."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        min_free_bytes: int = 0,
        original_format: str = "jpeg",
        original_jpeg_quality: int = 95,
    ):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.min_free_bytes = min_free_bytes
        self.original_format = original_format
        self.original_jpeg_quality = original_jpeg_quality
        self._lock = threading.RLock()

    def _original(self, folder: Path) -> tuple[Path, str] | None:
        """The stored original frame (JPEG, or PNG from a lossless config or an older store)."""
        for name, ctype in ORIGINAL_FILES:
            if (folder / name).is_file():
                return folder / name, ctype
        return None

    def _write_original(self, folder: Path, image: np.ndarray) -> None:
        if self.original_format == "png":
            _write_png(folder / "original.png", image)
        else:
            _write_jpeg(folder / "original.jpg", image, self.original_jpeg_quality)

    def check_space(self, need: int = 0) -> None:
        """`DiskFull` when writing `need` more bytes would leave less than the configured floor."""
        problem = free_space_problem(self.root, self.min_free_bytes, need)
        if problem:
            raise DiskFull(problem)

    # ---- paths ----------------------------------------------------------------------------
    def _dir(self, capture_id: str) -> Path:
        path = (self.root / check_id(capture_id)).resolve()
        if path.parent != self.root:
            raise StoreError(f"capture id {capture_id!r} leaves the store")
        return path

    def _confined(self, folder: Path, filename: str) -> Path:
        if not _FILENAME.fullmatch(filename):
            raise StoreError(f"bad file name {filename!r}")
        path = (folder / filename).resolve()
        if not path.is_relative_to(folder) or path.parent != folder:
            raise StoreError(f"{filename!r} leaves the capture folder")
        return path

    # ---- write ----------------------------------------------------------------------------
    def save(
        self,
        capture: Capture,
        alpha: np.ndarray | None = None,
        *,
        strokes: np.ndarray | None = None,
        extra: dict | None = None,
    ) -> dict:
        """Write (or atomically replace) one capture; returns its meta.

        `alpha` is the full-resolution matte (float 0..1 or uint8); `strokes` an HxWx3 uint8
        image (red = remove, green = keep) of every correction so far; `extra` is merged into
        meta.json (review state, correction count...). Everything is written into a temporary
        folder that replaces the capture's in one rename, so a crash leaves the old or the new
        capture, never half of one.
        """
        final = self._dir(capture.id)
        frame_bytes = (
            capture.frame.image.nbytes // 4 if capture.frame is not None and capture.frame.image is not None else 0
        )
        # room for the files here, the outbox's copy of the artifacts and its journal: the store
        # refuses first, so a capture is never stored but left unqueued for lack of space
        self.check_space(3 * sum(len(a.data) for a in capture.artifacts) + frame_bytes)
        with self._lock:
            old_meta = self._read_meta(final) if final.exists() else {}
            tmp = Path(tempfile.mkdtemp(prefix=f".{capture.id}.", dir=self.root))
            try:
                files = self._write_artifacts(tmp, capture)
                self._write_images(tmp, final, capture, alpha, strokes)
                meta = _capture_meta(capture, files, old_meta, extra)
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
                _swap_in(tmp, final, capture.id)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFull(
                        f"disk full while writing capture {capture.id}: nothing of it was kept ({self.root})"
                    ) from None
                raise
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return meta

    def delete(self, capture_id: str) -> int:
        """Remove one capture (retention); returns the bytes freed."""
        folder = self._dir(capture_id)
        with self._lock:
            if not folder.exists():
                return 0
            size = folder_bytes(folder)
            trash = folder.with_name(f".{capture_id}.del-{os.getpid()}-{threading.get_ident()}")
            folder.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
            return size

    def _write_artifacts(self, tmp: Path, capture: Capture) -> list[dict]:
        """The exported artifacts, each under a safe file name; their entries for meta.json."""
        files = []
        for art in capture.artifacts:
            filename = art.filename if _FILENAME.fullmatch(art.filename or "") else f"{check_name(art.name)}.bin"
            self._confined(tmp, filename).write_bytes(art.data)
            files.append(
                {
                    "name": art.name,
                    "filename": filename,
                    "content_type": art.content_type,
                    "sha256": art.sha256,
                    "bytes": len(art.data),
                }
            )
        return files

    def _write_images(
        self, tmp: Path, final: Path, capture: Capture, alpha: np.ndarray | None, strokes: np.ndarray | None
    ) -> None:
        """The original frame, the alpha and the strokes; one not given is kept from the
        capture's previous version (a review decision re-saves without them)."""
        original_src = self._original(final) if final.exists() else None
        if capture.frame is not None and capture.frame.image is not None:
            self._write_original(tmp, capture.frame.image)
        elif original_src is not None:
            shutil.copy2(original_src[0], tmp / original_src[0].name)
        alpha_file = STORE_FILES[ALPHA][0]
        if alpha is not None:
            a8 = alpha if alpha.dtype == np.uint8 else np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
            _write_png(tmp / alpha_file, a8)
        elif (final / alpha_file).exists():
            shutil.copy2(final / alpha_file, tmp / alpha_file)
        if strokes is not None:
            _write_png(tmp / "strokes.png", strokes)
        elif (final / "strokes.png").exists():
            shutil.copy2(final / "strokes.png", tmp / "strokes.png")

    def update_meta(self, capture_id: str, **changes) -> dict:
        """Change meta.json keys in place (review state) without touching the artifacts."""
        folder = self._dir(capture_id)
        with self._lock:
            meta = self.meta(capture_id)
            meta.update(changes)
            meta["updated"] = time.time()
            tmp = folder / "meta.json.tmp"
            tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
            tmp.replace(folder / "meta.json")
            return meta

    # ---- read -----------------------------------------------------------------------------
    def _read_meta(self, folder: Path) -> dict:
        try:
            return json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"no capture {folder.name}") from None
        except (OSError, ValueError) as exc:
            raise NotFound(f"capture {folder.name} has unreadable meta: {exc}") from None

    def exists(self, capture_id: str) -> bool:
        return (self._dir(capture_id) / "meta.json").is_file()

    def meta(self, capture_id: str) -> dict:
        with self._lock:
            return self._read_meta(self._dir(capture_id))

    def ids(self) -> list[str]:
        """Capture ids, newest first (ids start with the UTC time, so names sort by age)."""
        names = [
            p.name for p in self.root.iterdir() if p.is_dir() and _ID.fullmatch(p.name) and (p / "meta.json").is_file()
        ]
        return sorted(names, reverse=True)

    def list(self, limit: int = 200, review_state: str | None = None) -> list[dict]:
        out = []
        for capture_id in self.ids():
            try:
                meta = self.meta(capture_id)
            except NotFound:
                continue
            if review_state is not None and meta.get("review_state") != review_state:
                continue
            out.append(meta)
            if len(out) >= limit:
                break
        return out

    def artifact(self, capture_id: str, name: str) -> StoredArtifact:
        """The file behind an artifact name (exported ones, plus 'original' and 'alpha')."""
        check_name(name)
        folder = self._dir(capture_id)
        meta = self.meta(capture_id)
        if name == ORIGINAL:
            found = self._original(folder)
            if found is None:
                raise NotFound(f"capture {capture_id} has no artifact {name!r}")
            return StoredArtifact(name, found[0], found[1])
        if name in STORE_FILES:
            filename, ctype = STORE_FILES[name]
        else:
            entry = next((a for a in meta.get("artifacts", []) if a.get("name") == name), None)
            if entry is None:
                raise NotFound(f"capture {capture_id} has no artifact {name!r}")
            filename, ctype = entry["filename"], entry["content_type"]
        path = self._confined(folder, filename)
        if not path.is_file():
            raise NotFound(f"capture {capture_id} has no artifact {name!r}")
        return StoredArtifact(name, path, ctype)

    def frame(self, capture_id: str) -> Frame:
        """The original frame, rebuilt for a correction."""
        meta = self.meta(capture_id)
        found = self._original(self._dir(capture_id))
        if found is None:
            raise NotFound(f"capture {capture_id} has no original frame")
        image = _read_image(found[0], color=True)
        src = (meta.get("frame") or {}).get("source", "store")
        return Frame(
            id=f"{capture_id}-original",
            image=image,
            timestamp=meta.get("created", time.time()),
            source=src,
            sku=meta.get("sku"),
            info={"restored_from": capture_id},
        )

    def alpha(self, capture_id: str) -> np.ndarray:
        return _read_image(self._confined(self._dir(capture_id), STORE_FILES[ALPHA][0]), color=False)

    def strokes(self, capture_id: str) -> np.ndarray | None:
        path = self._confined(self._dir(capture_id), "strokes.png")
        return _read_image(path, color=True) if path.is_file() else None

    def capture(self, capture_id: str) -> Capture:
        """A stored capture as a Capture again (for re-publishing after a review decision)."""
        meta = self.meta(capture_id)
        folder = self._dir(capture_id)
        arts = []
        for entry in meta.get("artifacts", []):
            path = self._confined(folder, entry["filename"])
            if path.is_file():
                arts.append(Artifact(entry["name"], entry["filename"], entry["content_type"], path.read_bytes()))
        frame = self.frame(capture_id)
        extra = dict(meta.get("meta") or {})
        return Capture(
            id=capture_id,
            frame=frame,
            artifacts=arts,
            timings_ms=meta.get("timings_ms", {}),
            model=meta.get("model", ""),
            preset=meta.get("preset", ""),
            sku=meta.get("sku"),
            quality=meta.get("quality"),
            review=bool(meta.get("review")),
            meta=extra,
        )


def _jsonable(value):
    """meta dicts may carry numpy scalars or paths; make them JSON."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _capture_meta(capture: Capture, files: list[dict], old_meta: dict, extra: dict | None) -> dict:
    """meta.json of a capture: what it is, its artifacts, and the review state and correction
    count carried over from its previous version unless `extra` changes them."""
    frame = capture.frame
    meta = {
        "id": capture.id,
        "sku": capture.sku,
        "preset": capture.preset,
        "model": capture.model,
        "quality": capture.quality,
        "review": capture.review,
        "timings_ms": capture.timings_ms,
        "created": old_meta.get("created", time.time()),
        "updated": time.time(),
        "frame": {"width": frame.size[0], "height": frame.size[1], "source": frame.source}
        if frame is not None
        else old_meta.get("frame"),
        "artifacts": files,
        "meta": _jsonable(capture.meta),
    }
    for key in ("review_state", "corrections"):
        if key in old_meta:
            meta[key] = old_meta[key]
    meta.update(extra or {})
    return meta


def _swap_in(tmp: Path, final: Path, capture_id: str) -> None:
    """Put the written folder in the capture's place (the old one renamed away first)."""
    if final.exists():
        trash = final.with_name(f".{capture_id}.old-{os.getpid()}-{threading.get_ident()}")
        final.rename(trash)
        tmp.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(final)
