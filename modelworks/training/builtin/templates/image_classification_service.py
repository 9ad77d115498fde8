"""Inference code of a package written by the built-in image classification algorithm.

Request: ``multipart/form-data`` with image files (field ``images``), or JSON ``{"images": "<base64>"}``.
Response, per image: ``{"predicted_label": ..., "scores": [[label, probability], ...]}`` (the best
``top_k``); one image answers that object, several a list of them in upload order.
"""

import base64
import io
import json
import os

import numpy as np
import onnxruntime
from model_service.pytorch_model_service import PTServingBaseService
from PIL import Image


class ImageClassificationService(PTServingBaseService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        root = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(root, "labels.json"), encoding="utf-8") as f:
            settings = json.load(f)
        self.labels = settings["labels"]
        self.image_size = int(settings["image_size"])
        self.top_k = int(settings.get("top_k", 5))
        self.session = onnxruntime.InferenceSession(
            os.path.join(root, "model.onnx"), providers=["CPUExecutionProvider"]
        )

    def _image(self, content):
        if isinstance(content, str):
            content = io.BytesIO(base64.b64decode(content))
        with Image.open(content) as image:
            rgb = image.convert("RGB")
        size = (self.image_size, self.image_size)
        if rgb.size != size:
            rgb = rgb.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)

    def _preprocess(self, data):
        images: list[np.ndarray] = []
        for _field, value in data.items():
            if isinstance(value, dict):  # multipart: {file name: file}
                images.extend(self._image(content) for content in value.values())
            else:  # JSON: a base64 image
                images.append(self._image(value))
        if not images:
            raise ValueError("the request holds no image")
        return {"images": np.stack(images)}

    def _inference(self, data):
        (probabilities,) = self.session.run(["probabilities"], {"images": data["images"]})
        return {"probabilities": probabilities}

    def _postprocess(self, data):
        results = []
        for row in data["probabilities"]:
            best = np.argsort(-row)[: self.top_k]
            results.append(
                {
                    "predicted_label": self.labels[int(best[0])],
                    "scores": [[self.labels[int(i)], round(float(row[i]), 6)] for i in best],
                }
            )
        return results[0] if len(results) == 1 else results
