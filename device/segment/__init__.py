"""Segmentation: the int8 model (LiteRT, CPU or Edge TPU) behind the `Segmenter` interface."""

from __future__ import annotations

from device.config import SegmentConfig
from device.registry import Registry
from device.segment.base import ModelError, PlateAware, Segmenter
from device.segment.card import ModelCard

__all__ = ["SEGMENTERS", "ModelCard", "ModelError", "PlateAware", "Segmenter", "open_segmenter"]


SEGMENTERS: Registry[Segmenter] = Registry("segment.kind")


def open_segmenter(cfg: SegmentConfig) -> Segmenter:
    """The segmenter `segment.kind` names (raises ModelError with the fix)."""
    return SEGMENTERS.open(cfg.kind, cfg)


@SEGMENTERS.register("litert")
def _litert(cfg: SegmentConfig) -> Segmenter:
    from device.segment.litert import LiteRTSegmenter

    return LiteRTSegmenter(
        cfg.model, cfg.threads, cfg.delegate, cfg.edgetpu_lib, cfg.edgetpu_model, edgetpu_device=cfg.edgetpu_device
    )
