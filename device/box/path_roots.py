"""Where a settings change from outside may point the box: inside the data folder, the
model folder and the folders the config file lists in `station.path_roots`.

The page, the API and MQTT can change the configuration, and several keys are paths the
box then reads, serves or moves files from (`source.path`, `source.processed_dir`, a
preset's background `image`, a model). A changed path outside those roots is refused with
the key named; paths that say where secrets and the roots themselves live
(`station.*`, `*_file`, `api.tls_*`) can only be set in the config file.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from device.config import REPO_ROOT, CutboxConfig

FILE_ONLY_KEYS = {
    "station.data_dir",
    "station.path_roots",
    "api.token_file",
    "api.tls_cert",
    "api.tls_key",
    "mqtt.outbox_path",
    "mqtt.password_file",
    "mqtt.tls.ca_file",
    "mqtt.tls.cert_file",
    "mqtt.tls.key_file",
}
MODEL_ROOT = REPO_ROOT / "models"


def allowed_roots(config: CutboxConfig) -> list[Path]:
    roots = [Path(config.station.data_dir), MODEL_ROOT, *config.station.path_roots]
    return [r.resolve() for r in roots]


def _paths_in(value: Any, key: str) -> dict[str, Any]:
    """Every leaf of a python-mode dump that is a path (or a list holding paths), by dotted key."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_paths_in(v, f"{key}.{k}" if key else str(k)))
        return out
    if isinstance(value, Path) or (isinstance(value, list) and any(isinstance(v, Path) for v in value)):
        return {key: value}
    return {}


def _fixed_part(path: Path) -> Path:
    """A glob's folder part (`/photos/*.jpg` -> `/photos`): what it can reach at most."""
    parts = []
    for part in path.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def is_file_only(key: str) -> bool:
    return key in FILE_ONLY_KEYS or key.startswith("station.")


def inside(path: Path, roots: list[Path]) -> bool:
    target = _fixed_part(path).resolve()
    return any(target == root or target.is_relative_to(root) for root in roots)


def path_problems(current: CutboxConfig, new: CutboxConfig) -> list[str]:
    """One `key: why (fix)` line per path the change names outside the roots of `current`."""
    before = _paths_in(current.model_dump(), "")
    after = _paths_in(new.model_dump(), "")
    roots = allowed_roots(current)
    shown = ", ".join(str(r) for r in roots)
    problems = []
    for key, value in sorted(after.items()):
        if value == before.get(key):
            continue
        if is_file_only(key):
            problems.append(f"{key}: can only be set in the config file, not from the page, API or MQTT")
            continue
        for path in value if isinstance(value, list) else [value]:
            if not inside(path, roots):
                problems.append(
                    f"{key}: {path} is outside the folders the box may use ({shown}); "
                    "put the files there or add a folder to station.path_roots in the config file"
                )
    return problems
