"""Segmentation: the int8 model (LiteRT, CPU or Edge TPU) behind the `Segmenter` interface."""

from __future__ import annotations

from device.config import SegmentConfig
from device.segment.base import ModelError, PlateAware, Segmenter
from device.segment.card import ModelCard

__all__ = ["ModelCard", "ModelError", "PlateAware", "Segmenter", "open_segmenter"]


def open_segmenter(cfg: SegmentConfig) -> Segmenter:
    """The LiteRT segmenter the configuration describes (raises ModelError with the fix)."""
    from device.segment.litert import LiteRTSegmenter

    return LiteRTSegmenter(
        cfg.model, cfg.threads, cfg.delegate, cfg.edgetpu_lib, cfg.edgetpu_model, edgetpu_device=cfg.edgetpu_device
    )
