"""The int8 model on LiteRT: on the CPU, or on a Coral Edge TPU when one is really there.

The card beside the model says the input size, dtype and normalisation; this module does
exactly that and nothing more: take the frame's lores copy when the camera made one (no
software resize of a 12 MP frame), else area-average the frame (stretch_resize), stretch to the input size,
feed uint8 RGB bytes, dequantise the output into a 0..1 probability map.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from device.segment.base import ModelError
from device.segment.card import ModelCard
from device.segment.edgetpu import EDGETPU_OP, device_option, is_compiled_for_edgetpu
from device.types import Frame, Mask

log = logging.getLogger(__name__)


def _interpreter_api():
    """(Interpreter, load_delegate, runtime name): ai-edge-litert, else tflite-runtime."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter, load_delegate

        return Interpreter, load_delegate, "tflite-runtime"
    except ImportError:
        raise ModelError(
            "no TFLite runtime installed: pip install ai-edge-litert (or tflite-runtime on old systems)"
        ) from None


def find_edgetpu() -> str | None:
    """Where a Coral is attached ('pcie:/dev/apex_0', 'usb:1-1'), or None."""
    apex = sorted(glob.glob("/dev/apex_*"))
    if apex:
        return f"pcie:{apex[0]}"
    for dev in sorted(glob.glob("/sys/bus/usb/devices/*")):
        try:
            vendor = Path(dev, "idVendor").read_text().strip()
            product = Path(dev, "idProduct").read_text().strip()
        except OSError:
            continue
        # 1a6e:089a before its firmware is loaded, 18d1:9302 after.
        if (vendor, product) in (("1a6e", "089a"), ("18d1", "9302")):
            return f"usb:{Path(dev).name}"
    return None


def stretch_resize(src: np.ndarray, w: int, h: int) -> np.ndarray:
    """The model-input resize of the hot path: exact 2x2 halvings (OpenCV's SIMD INTER_AREA path,
    an exact box average) while both sides are at least twice the target, then one bilinear step
    of less than 2.5x, which still reads nearly every pixel of the halved image. An area-like
    average without aliasing, within about 1.5 grey levels of one INTER_AREA step and about half
    the cost of area_resize, because a fractional
    INTER_AREA step, even on the halved image, costs as much as the halvings."""
    while src.shape[1] >= 2 * w and src.shape[0] >= 2 * h:
        hh, ww = src.shape[0] // 2, src.shape[1] // 2
        # bilinear at exactly half size is the 2x2 mean, bit for bit INTER_AREA's, and faster
        src = cv2.resize(src[: hh * 2, : ww * 2], (ww, hh), interpolation=cv2.INTER_LINEAR)
    if src.shape[0] != h or src.shape[1] != w:
        fx, fy = src.shape[1] / w, src.shape[0] / h
        # a step over 2.5x would skip pixels: keep INTER_AREA there (never hit for camera frames)
        src = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR if max(fx, fy) <= 2.5 else cv2.INTER_AREA)
    return src


class Int8Model:
    """A fully int8 .tflite and its card on LiteRT, on the CPU or a Coral: uint8 bytes in,
    a 0..1 probability map out. Shared by the generic and the booth segmenters."""

    def __init__(
        self,
        model_path: str | Path,
        channels: str,
        threads: int = 1,
        delegate: str = "auto",
        edgetpu_lib: str = "libedgetpu.so.1",
        edgetpu_model: str | Path | None = None,
        setting: str = "segment.model",
        edgetpu_device: str = "",
    ):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelError(f"model file not found: {model_path} (set {setting} to the .tflite file beside its card)")
        self.card = ModelCard.load(model_path)
        self.card.check_file(model_path)
        if self.card.input_channels != channels:
            raise ModelError(
                f"{model_path.name} takes {self.card.input_channels} input, not {channels} (check {setting})"
            )
        self.model_path = model_path
        self.threads = threads
        Interpreter, load_delegate, self.runtime = _interpreter_api()
        tpu_setting = setting.rsplit(".", 1)[0] + ".edgetpu_model"
        tpu_path = Path(edgetpu_model) if edgetpu_model is not None else model_path
        if edgetpu_model is not None and not tpu_path.is_file() and delegate != "cpu":
            raise ModelError(f"Edge TPU model not found: {tpu_path} ({tpu_setting})")
        delegates, self.backend, self.backend_reason = choose_delegate(
            delegate,
            edgetpu_lib,
            load_delegate,
            device=edgetpu_device,
            tpu_model=tpu_path,
            setting=tpu_setting,
            tpu_sha256=self.card.edgetpu_sha256,
        )
        run_path = tpu_path if self.backend == "edgetpu" else model_path
        try:
            self._interp = Interpreter(
                model_path=str(run_path), num_threads=threads, experimental_delegates=delegates or None
            )
            self._interp.allocate_tensors()
        except Exception as exc:  # LiteRT and the delegate raise RuntimeError, ValueError or their own
            raise ModelError(f"cannot load model {run_path.name}: {' '.join(str(exc).split())[:200]}") from None
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        self.card.check_tensors(self._in, self._out)
        scale, zero = self._out.get("quantization", (0.0, 0))
        self._out_scale: float | None = float(scale) if scale else None
        self._out_zero = int(zero) if scale else 0
        # int8 input with scale 1/255 and zero point -128 takes the uint8 bytes shifted by 128.
        self._in_shift = self._in["dtype"] == np.int8
        self._lock = threading.Lock()
        self.input_size = (self.card.input_width, self.card.input_height)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Probability (float32 0..1, the output's HxW) for a 1xHxWxC uint8 input."""
        if self._in_shift:
            x = (x.astype(np.int16) - 128).astype(np.int8)
        with self._lock:
            self._interp.set_tensor(self._in["index"], x)
            self._interp.invoke()
            y = self._interp.get_tensor(self._out["index"])
        y = y.reshape(y.shape[1], y.shape[2]) if y.ndim == 4 else y.reshape(y.shape[-2], y.shape[-1])
        prob = (
            (y.astype(np.float32) - self._out_zero) * self._out_scale
            if self._out_scale is not None
            else y.astype(np.float32)
        )
        np.clip(prob, 0.0, 1.0, out=prob)
        return prob


def model_input(frame: Frame, w: int, h: int) -> np.ndarray:
    """The model's input for a frame: its lores copy when present, area-averaged and stretched."""
    src: np.ndarray = frame.lores if frame.lores is not None else frame.image
    if src is frame.image and src.shape[1] >= 2 * w and src.shape[0] >= 2 * h:
        src = frame.half()  # stretch_resize's own first halving, shared with the matte
    if src.shape[0] != h or src.shape[1] != w:
        src = stretch_resize(src, w, h)
    if src.ndim != 3 or src.shape[2] != 3 or src.dtype != np.uint8:
        raise ModelError(f"frame {frame.id} is not HxWx3 uint8 RGB (got {src.shape} {src.dtype})")
    return src


class LiteRTSegmenter:
    """A Segmenter backed by the int8 model on LiteRT; `backend` and `backend_reason` say what it chose."""

    def __init__(
        self,
        model_path: str | Path,
        threads: int = 1,
        delegate: str = "auto",
        edgetpu_lib: str = "libedgetpu.so.1",
        edgetpu_model: str | Path | None = None,
        edgetpu_device: str = "",
    ):
        self.model = Int8Model(
            model_path, "RGB", threads, delegate, edgetpu_lib, edgetpu_model, edgetpu_device=edgetpu_device
        )
        self.card, self.model_path, self.threads = self.model.card, self.model.model_path, threads
        self.runtime, self.backend, self.backend_reason = (
            self.model.runtime,
            self.model.backend,
            self.model.backend_reason,
        )
        self.input_size = self.model.input_size
        log.info(
            "segment: %s on %s (%s), %d thread(s), %s",
            self.card.label,
            self.backend,
            self.backend_reason,
            threads,
            self.runtime,
        )

    def prepare(self, frame: Frame) -> np.ndarray:
        return model_input(frame, *self.input_size)

    def segment(self, frame: Frame) -> Mask:
        prob = self.model.run(self.prepare(frame)[None])
        return Mask(
            frame=frame, prob=prob, model=self.card.label, backend=self.backend, backend_reason=self.backend_reason
        )


def tpu_model_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def choose_delegate(
    delegate: str,
    lib: str,
    load_delegate,
    *,
    device: str = "",
    tpu_model: Path | None = None,
    setting: str = "segment.edgetpu_model",
    tpu_sha256: str | None = None,
) -> tuple[list, str, str]:
    """(delegates, backend, reason): the Coral when one is attached, the model handed to it was
    compiled for it (and is the compiled file the model card records, when it records one)
    and libedgetpu loads; otherwise the CPU, with the reason. `delegate = "edgetpu"` turns
    every reason for the CPU into a ModelError."""
    if delegate == "cpu":
        return [], "cpu", "segment.delegate = cpu"

    def cpu(reason: str, fix: str) -> tuple[list, str, str]:
        if delegate == "edgetpu":
            raise ModelError(f"segment.delegate = edgetpu but {reason} ({fix})")
        return [], "cpu", reason

    where = find_edgetpu()
    if where is None:
        return cpu(
            "no Coral found (no /dev/apex_*, no USB 1a6e:089a or 18d1:9302)", "plug it in or set delegate = auto"
        )
    if tpu_model is None or not is_compiled_for_edgetpu(tpu_model):
        name = tpu_model.name if tpu_model is not None else "the model"
        return cpu(
            f"Coral at {where} but {name} is not compiled for the Edge TPU (no {EDGETPU_OP})",
            f"compile it with tools/compile_edgetpu.py and set {setting}",
        )
    if tpu_sha256 is not None and tpu_model_sha256(tpu_model) != tpu_sha256:
        return cpu(
            f"Coral at {where} but {tpu_model.name} is not the compiled model its card records "
            f"(sha256 {tpu_sha256[:12]}...): compiled from another model version",
            f"compile again with tools/compile_edgetpu.py --write-card and set {setting}",
        )
    option = device_option(where, device)
    try:
        d = load_delegate(lib, {"device": option})
    except Exception as exc:  # missing libedgetpu, one built for another TFLite, or a wrong device string
        return cpu(
            f"Coral at {where} but {lib} did not load (device {option!r}): {' '.join(str(exc).split())[:160]}",
            "install libedgetpu1-std, see docs/coral.md",
        )
    return [d], "edgetpu", f"Coral at {where} (device {option!r}), {lib} loaded, {tpu_model.name} compiled for it"
