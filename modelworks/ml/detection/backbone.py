"""The frozen EfficientNet-Lite0 (ImageNet) feature pyramid the detection head reads, and letterboxing.

Images are letterboxed to ``size`` x ``size`` pixels (scaled to fit, keeping their aspect ratio, and
padded with mid-gray) and run once through the backbone, which answers two maps:

    c4   112 channels at stride 16 (the last block of the 112-channel stage)
    c5   320 channels at stride 32 (the last block)

As for the image embeddings (``modelworks.ml.features.efficientnet``), the network is exported once to
ONNX in ``cache_dir`` and run with ONNX Runtime (about 8x faster than PyTorch on a CPU for this
network); without onnxruntime it runs in PyTorch. The backbone stays frozen: PyTorch takes 0.28 s an
image for the forward pass alone at 320 px on a CPU, so fine-tuning it is out of reach in minutes.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modelworks.ml.errors import ModelUnavailable
from modelworks.ml.features.efficientnet import pretrained_network
from modelworks.ml.images import ImageInput, open_rgb

# Bump when the exported graph changes, so that stale exports in a cache directory are not reused.
_EXPORT_VERSION = 1
_C4_BLOCK, _C5_BLOCK = 10, 15
C4_CHANNELS, C5_CHANNELS = 112, 320
PAD_VALUE = 127  # (127 - 127) / 128 = 0 after the network's normalisation
Transform = Callable[[Image.Image], Image.Image]
Pyramid = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Letterbox:
    """Where an image of ``width`` x ``height`` lies in the square input: ``scale``, then ``left``/``top``."""

    width: int
    height: int
    scale: float
    left: int
    top: int

    @classmethod
    def fit(cls, width: int, height: int, size: int) -> Letterbox:
        scale = size / max(width, height)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        return cls(width, height, scale, (size - w) // 2, (size - h) // 2)

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """``(n, 4)`` xyxy boxes in image pixels -> input pixels."""
        offset = np.array([self.left, self.top, self.left, self.top], dtype=np.float32)
        return boxes * self.scale + offset

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """``(n, 4)`` xyxy boxes in input pixels -> image pixels, clipped to the image."""
        offset = np.array([self.left, self.top, self.left, self.top], dtype=np.float32)
        out = (boxes - offset) / self.scale
        out[:, 0::2] = np.clip(out[:, 0::2], 0, self.width)
        out[:, 1::2] = np.clip(out[:, 1::2], 0, self.height)
        return out


def letterbox(image: Image.Image, size: int) -> tuple[np.ndarray, Letterbox]:
    """``image`` scaled into a ``size`` x ``size`` uint8 RGB array, and where it went."""
    box = Letterbox.fit(image.width, image.height, size)
    w, h = round(image.width * box.scale), round(image.height * box.scale)
    resized = image.resize((max(1, w), max(1, h)), Image.Resampling.BILINEAR)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[box.top : box.top + resized.height, box.left : box.left + resized.width] = np.asarray(resized)
    return canvas, box


def _pyramid_network() -> Any:
    """The PyTorch network: uint8 NHWC images in, (c4, c5) out (TF-style ``(x-127)/128``)."""
    net = pretrained_network()  # raises ModelUnavailable without torch or the packages
    import torch

    class Pyramid(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            net = self.net
            x = (images.permute(0, 3, 1, 2).float() - 127.0) / 128.0
            x = net._swish(net._bn0(net._conv_stem(x)))
            c4 = x
            for index, block in enumerate(net._blocks[: _C5_BLOCK + 1]):
                x = block(x)
                if index == _C4_BLOCK:
                    c4 = x
            return c4, x

    return Pyramid().eval()


def export_onnx(target: str) -> None:
    """Export the pyramid network to ONNX (dynamic batch and image size); needs torch and onnx, once."""
    if importlib.util.find_spec("onnx") is None:
        raise ModelUnavailable("exporting EfficientNet-Lite0 to ONNX needs the onnx package")
    import torch

    network = _pyramid_network()
    example = torch.zeros((2, 320, 320, 3), dtype=torch.uint8)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            (example,),
            target,
            input_names=["images"],
            output_names=["c4", "c5"],
            dynamic_axes={"images": {0: "batch", 1: "height", 2: "width"}},
            opset_version=17,
            dynamo=False,
        )


class PyramidBackbone:
    """Feature maps of letterboxed images; loads its runtime lazily and holds at most ``threads`` threads.

    ``cache_dir`` holds the ONNX export (made on first use, shared by processes); without one the
    export stays in memory.
    """

    name = "efficientnet-lite0-pyramid"

    def __init__(
        self,
        size: int = 320,
        cache_dir: str | Path | None = None,
        *,
        batch_size: int = 8,
        threads: int | None = None,
        backend: str = "auto",
    ) -> None:
        if size % 32:
            raise ValueError(f"the input size must be a multiple of 32, not {size}")
        self.size = size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.batch_size = batch_size
        self.threads = threads
        self.backend = backend
        self._run: Callable[[np.ndarray], Pyramid] | None = None
        self._lock = threading.Lock()

    def features(
        self, items: Sequence[ImageInput], transform: Transform | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[Letterbox]]:
        """``(c4, c5, letterboxes)`` of ``items`` (float16 maps, NCHW); ``transform`` applies first."""
        run = self._runner()
        grid = self.size // 16
        c4 = np.empty((len(items), C4_CHANNELS, grid, grid), dtype=np.float16)
        c5 = np.empty((len(items), C5_CHANNELS, grid // 2, grid // 2), dtype=np.float16)
        boxes: list[Letterbox] = []
        for start in range(0, len(items), self.batch_size):
            pixels = []
            for item in items[start : start + self.batch_size]:
                image = open_rgb(item)
                if transform is not None:
                    image = transform(image)
                array, box = letterbox(image, self.size)
                pixels.append(array)
                boxes.append(box)
            a, b = run(np.stack(pixels))
            c4[start : start + len(pixels)] = a
            c5[start : start + len(pixels)] = b
        return c4, c5, boxes

    def _runner(self) -> Callable[[np.ndarray], Pyramid]:
        with self._lock:
            if self._run is None:
                use_ort = self.backend == "onnxruntime" or (
                    self.backend == "auto" and importlib.util.find_spec("onnxruntime") is not None
                )
                self._run = self._load_onnxruntime() if use_ort else self._load_torch()
            return self._run

    def _load_onnxruntime(self) -> Callable[[np.ndarray], Pyramid]:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelUnavailable("onnxruntime is not installed") from exc
        model: str | bytes
        if self.cache_dir is None:
            with tempfile.TemporaryDirectory() as scratch:
                export_onnx(os.path.join(scratch, "model.onnx"))
                model = Path(scratch, "model.onnx").read_bytes()
        else:
            model = str(self._cached_export())
        options = ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        # Idle threads sleep rather than spin: on a busy machine spinning made a batch 1.7x slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        def run(pixels: np.ndarray) -> Pyramid:
            c4, c5 = session.run(None, {"images": pixels})
            return np.asarray(c4), np.asarray(c5)

        return run

    def _cached_export(self) -> Path:
        assert self.cache_dir is not None
        path = self.cache_dir / f"{self.name}-v{_EXPORT_VERSION}.onnx"
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            # Export beside the target and rename: concurrent workers never read a half-written file.
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".onnx.tmp")
            os.close(fd)
            try:
                export_onnx(tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return path

    def _load_torch(self) -> Callable[[np.ndarray], Pyramid]:
        import torch

        network = _pyramid_network()
        threads = self.threads

        def run(pixels: np.ndarray) -> Pyramid:
            previous = torch.get_num_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            try:
                with torch.no_grad():
                    c4, c5 = network(torch.from_numpy(pixels))
                return c4.numpy(), c5.numpy()
            finally:
                torch.set_num_threads(previous)

        return run
