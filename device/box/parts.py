"""The pipeline and the turntable built from the config: opened on first use, replaced on a
config reload, and whatever is replaced is closed (a pipeline finishes its queued encodes and
stops its worker; a turntable releases its port or GPIO lines)."""

from __future__ import annotations

import logging

from device.box.events import Events
from device.config import CutboxConfig
from device.errors import Unavailable, one_line
from device.pipeline import Pipeline
from device.turntable.base import Turntable, TurntableError

log = logging.getLogger(__name__)

# What building a pipeline raises for a bad model, card, runtime or delegate (ModelError is an
# Unavailable, itself a RuntimeError); anything else is a bug and propagates.
LOAD_ERRORS = (RuntimeError, OSError, ValueError, ImportError)


class Parts:
    """Holds the pipeline and the turntable. A pipeline given to the constructor belongs to the
    caller and is never closed here; one built here is closed when replaced or on `close()`."""

    def __init__(self, events: Events, pipeline: Pipeline | None = None, turntable: Turntable | None = None):
        self._events = events
        self._pipeline = pipeline
        self._turntable = turntable
        self._own_pipeline = False
        self._own_turntable = False
        self.pipeline_error: str | None = None

    @property
    def loaded(self) -> Pipeline | None:
        """The pipeline if one is loaded (nothing is built by asking)."""
        return self._pipeline

    @property
    def ready(self) -> bool:
        return self._pipeline is not None and self.pipeline_error is None

    def pipeline(self, config: CutboxConfig) -> Pipeline:
        """The pipeline, built from `config` on first use; `Unavailable` saying why it cannot load."""
        if self._pipeline is not None:
            return self._pipeline
        try:
            self._pipeline = Pipeline(config)
        except LOAD_ERRORS as exc:  # a missing model or runtime: shown on the page, not raised out of start()
            self.pipeline_error = self._events.error("pipeline", exc)
            raise Unavailable(f"pipeline not ready: {self.pipeline_error}") from None
        self._own_pipeline = True
        self.pipeline_error = None
        return self._pipeline

    def replace_pipeline(self, config: CutboxConfig) -> None:
        """Build a pipeline for a new config and close the one it replaces; on failure the old
        one stays and the error propagates (the caller rejects the config)."""
        new = Pipeline(config)
        old, owned = self._pipeline, self._own_pipeline
        self._pipeline, self._own_pipeline, self.pipeline_error = new, True, None
        if old is not None and owned:
            old.close()

    def turntable(self, config: CutboxConfig) -> Turntable:
        """The turntable `[turntable]` names, opened on first use."""
        if self._turntable is None:
            from device.turntable import open_turntable

            try:
                self._turntable = open_turntable(config.turntable)
            except (TurntableError, OSError, ValueError, ImportError) as exc:  # no port or GPIO chip: one line
                raise Unavailable(f"turntable: {self._events.error('turntable', exc)}") from None
            self._own_turntable = True
        return self._turntable

    def drop_turntable(self) -> None:
        """Close the turntable (it is opened again, with the current config, on the next spin)."""
        table, self._turntable = self._turntable, None
        if table is not None:
            try:
                table.close()
            except (TurntableError, OSError) as exc:  # a driver that fails to close must not block a reload
                log.warning("turntable close: %s", one_line(exc))

    def close(self) -> None:
        self.drop_turntable()
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None and self._own_pipeline:
            pipeline.close()
