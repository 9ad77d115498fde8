"""Inference code of a package written by the built-in object detection algorithm.

The detector's files lie beside this file (``detector.json``, the head's weights and the backbone's ONNX
export); ``modelworks.ml.detection.TrainedDetector`` runs them.

Request: ``multipart/form-data`` with image files (field ``images``), or JSON ``{"images": "<base64>"}``.
Response, per image, as ModelArts documents for object detection: ``{"detection_classes": [label, ...],
"detection_boxes": [[ymin, xmin, ymax, xmax], ...], "detection_scores": [score, ...]}`` in image
pixels, best first; one image answers that object, several a list of them in upload order.
"""

import base64
import io
import os

from model_service.pytorch_model_service import PTServingBaseService
from PIL import Image

from modelworks.ml.detection import TrainedDetector


class ObjectDetectionService(PTServingBaseService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        root = os.path.dirname(os.path.abspath(__file__))
        self.detector = TrainedDetector.load(root, threads=2)

    def _image(self, content):
        if isinstance(content, str):
            content = io.BytesIO(base64.b64decode(content))
        elif isinstance(content, bytes):
            content = io.BytesIO(content)
        with Image.open(content) as image:
            return image.convert("RGB")

    def _preprocess(self, data):
        images: list[Image.Image] = []
        for _field, value in data.items():
            if isinstance(value, dict):  # multipart: {file name: file}
                images.extend(self._image(content) for content in value.values())
            else:  # JSON: a base64 image
                images.append(self._image(value))
        if not images:
            raise ValueError("the request holds no image")
        return {"images": images}

    def _inference(self, data):
        return {"boxes": self.detector.predict(data["images"])}

    def _postprocess(self, data):
        results = []
        for boxes in data["boxes"]:
            results.append(
                {
                    "detection_classes": [b.label for b in boxes],
                    "detection_boxes": [
                        [round(b.ymin, 2), round(b.xmin, 2), round(b.ymax, 2), round(b.xmax, 2)]
                        for b in boxes
                    ],
                    "detection_scores": [round(b.score, 6) for b in boxes],
                }
            )
        return results[0] if len(results) == 1 else results
