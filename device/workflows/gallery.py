"""The shift's captures as the page's gallery sees them: found by SKU, day and review state,
downloaded as one ZIP, deleted one by one.

A day is the box's local calendar day of a capture's creation, the way the people in the
warehouse count their shift. A ZIP holds each capture's stored files (the original, the
alpha, the exported cut-outs and sidecars, and the box's meta.json) under
`<sku or no-sku>/<capture id>/`, written to a temporary file (images are already
compressed, so they are stored, not deflated again) and capped at `MAX_ZIP_CAPTURES`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import zipfile
from pathlib import Path

from device.box.store import CaptureStore
from device.errors import BadRequest, NotFound

log = logging.getLogger(__name__)
REVIEW_STATES = ("pending", "approved", "rejected", "corrected", "none")
MAX_ZIP_CAPTURES = 500
SCAN_LIMIT = 100_000  # captures looked at for one search; the store keeps far fewer on a Pi


def capture_day(meta: dict) -> str:
    return dt.datetime.fromtimestamp(float(meta.get("created", 0))).date().isoformat()


def check_day(day: str | None) -> str | None:
    if day is None:
        return None
    try:
        return dt.date.fromisoformat(day).isoformat()
    except ValueError:
        raise BadRequest(f"day: {day!r} is not a date like 2026-12-07") from None


class Gallery:
    def __init__(self, store: CaptureStore):
        self._store = store

    def search(
        self, *, sku: str | None = None, day: str | None = None, review_state: str | None = None, limit: int = 200
    ) -> list[dict]:
        """Newest first; `sku` matches any part of the SKU, case-insensitively."""
        day = check_day(day)
        if review_state is not None and review_state not in REVIEW_STATES:
            raise BadRequest(f"review_state: choose from {', '.join(REVIEW_STATES)}")
        needle = sku.strip().lower() if sku else None
        out = []
        for meta in self._store.list(SCAN_LIMIT, review_state=review_state):
            if needle and needle not in (meta.get("sku") or "").lower():
                continue
            if day and capture_day(meta) != day:
                continue
            out.append(meta)
            if len(out) >= limit:
                break
        return out

    def zip(self, metas: list[dict]) -> Path:
        """A temporary ZIP of these captures' files; the caller deletes it."""
        if not metas:
            raise NotFound("no captures match: nothing to download")
        if len(metas) > MAX_ZIP_CAPTURES:
            raise BadRequest(f"{len(metas)} captures match; download at most {MAX_ZIP_CAPTURES} at once (narrow it)")
        fd, name = tempfile.mkstemp(prefix="cutbox-", suffix=".zip")
        path = Path(name)
        try:
            with open(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
                for meta in metas:
                    self._add(zf, meta)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def zip_one(self, capture_id: str) -> tuple[Path, dict]:
        """(a temporary ZIP of one capture's files, its meta); NotFound for an unknown id."""
        meta = self._store.meta(capture_id)
        return self.zip([meta]), meta

    def _add(self, zf: zipfile.ZipFile, meta: dict) -> None:
        folder = f"{meta.get('sku') or 'no-sku'}/{meta['id']}"
        names = ["original", "alpha"] + [a["name"] for a in meta.get("artifacts", []) if a.get("name")]
        for name in dict.fromkeys(names):
            try:
                art = self._store.artifact(meta["id"], name)
            except NotFound:  # deleted meanwhile, or a capture without that file
                continue
            zf.write(art.path, f"{folder}/{art.path.name}")
        zf.writestr(f"{folder}/meta.json", json.dumps(meta, indent=1))

    def delete(self, capture_id: str) -> dict:
        self._store.meta(capture_id)  # NotFound for an unknown id
        freed = self._store.delete(capture_id)
        log.info("gallery: capture %s deleted (%d bytes)", capture_id, freed)
        return {"deleted": capture_id, "bytes": freed}
