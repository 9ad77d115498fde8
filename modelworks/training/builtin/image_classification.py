"""The built-in image classification algorithm, run by ``boot/image_classification.py`` in a training job.

1. reads the single-labeled images of ``--data_url`` (a dataset version's downloaded manifest, a
   directory holding one, or ``<label>/<image>`` folders)
2. embeds them with EfficientNet-Lite0 (``ImageEmbedder``; its ONNX export is made in the job's cache)
3. fits the head, ``FastClassifier`` (temperature-calibrated logistic regression), on the spatial-grid
   features the auto-labeling tasks also classify on
4. measures it on the validation split: the version's EVAL samples, or a held-out share of each label
5. writes the package: ``model.onnx`` (the network with the head appended: uint8 RGB images of 224 px in,
   class probabilities out), ``labels.json``, ``config.json`` and ``customize_service.py``
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from modelworks.training.builtin._job import (
    InputError,
    Sample,
    check_labels,
    classification_metrics,
    cpu_count,
    fit_head,
    linear_head,
    parse_arguments,
    read_input,
    run,
    say,
    single_labeled,
    split,
)
from modelworks.training.builtin.package import (
    classification_response,
    dependencies,
    runtime,
    write_package,
)

PARAMETERS = {"regularization": float, "max_iter": int, "eval_ratio": float, "batch_size": int}
TOP_K = 5
_SELF_CHECK_IMAGES = 8
_CHUNK = 128


def main(argv: Sequence[str] | None = None) -> int:
    return run(_train, argv)


def _embed(embedder: object, samples: list[Sample], what: str) -> np.ndarray:
    from modelworks.ml.features import ImageEmbedder
    from modelworks.ml.pipeline import classification_output

    assert isinstance(embedder, ImageEmbedder)
    output = classification_output(embedder)
    parts = []
    for start in range(0, len(samples), _CHUNK):
        chunk = [Path(s.source).read_bytes() for s in samples[start : start + _CHUNK]]
        parts.append(embedder.embed_all(chunk)[output])
        say(f"embedded {min(start + _CHUNK, len(samples))}/{len(samples)} {what} images")
    return np.vstack(parts) if parts else np.zeros((0, embedder.outputs[output]), np.float32)


def pixels(content: bytes, size: int) -> np.ndarray:
    """The network's input for one image, prepared as ``ImageEmbedder`` and the inference code do."""
    with Image.open(io.BytesIO(content)) as image:
        rgb = image.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def with_head(backbone: Path, weights: np.ndarray, bias: np.ndarray) -> bytes:
    """The feature network's ONNX graph with the classifier appended: L2-normalise the grid features,
    then ``softmax(x @ weights + bias)``. Output ``probabilities`` (batch, classes)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(backbone))
    graph = model.graph
    graph.initializer.extend(
        [
            numpy_helper.from_array(weights, "head_weights"),
            numpy_helper.from_array(bias, "head_bias"),
            numpy_helper.from_array(np.array([1e-12], dtype=np.float32), "head_epsilon"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("ReduceL2", ["grid"], ["head_norm"], axes=[1], keepdims=1),
            helper.make_node("Max", ["head_norm", "head_epsilon"], ["head_safe_norm"]),
            helper.make_node("Div", ["grid", "head_safe_norm"], ["head_unit_grid"]),
            helper.make_node("MatMul", ["head_unit_grid", "head_weights"], ["head_scores"]),
            helper.make_node("Add", ["head_scores", "head_bias"], ["head_logits"]),
            helper.make_node("Softmax", ["head_logits"], ["probabilities"], axis=1),
        ]
    )
    while graph.output:
        graph.output.pop()
    graph.output.append(
        helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["batch", weights.shape[1]])
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _self_check(model: bytes, samples: list[Sample], expected: np.ndarray, size: int) -> None:
    """The packaged graph must answer what the trained head answers (a wrong graph is a bug, not a
    user error)."""
    import onnxruntime

    if not samples:
        return
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    batch = np.stack([pixels(Path(s.source).read_bytes(), size) for s in samples])
    (proba,) = session.run(["probabilities"], {"images": batch})
    gap = float(np.abs(np.asarray(proba) - expected).max())
    if gap > 1e-3:
        raise RuntimeError(f"the packaged model differs from the trained one by {gap:.5f}")
    say(f"packaged model checked on {len(samples)} validation images (largest difference {gap:.1e})")


def _train(argv: Sequence[str] | None) -> None:
    from modelworks.ml.estimators import FastClassifier
    from modelworks.ml.features import ImageEmbedder

    started = time.monotonic()
    args = parse_arguments(argv, PARAMETERS)
    samples, skipped = single_labeled(read_input(args.data_url, folders=True))
    if skipped:
        say(f"{skipped} images without exactly one label are left out")
    train, held = split(samples, args.eval_ratio if args.eval_ratio is not None else 0.2)
    check_labels([s.labels[0] for s in train])
    classes = sorted({s.labels[0] for s in train})
    unseen = sorted({s.labels[0] for s in held} - set(classes))
    if unseen:
        raise InputError(f"validation images have labels no training image has: {', '.join(unseen)}")
    say(f"{len(train)} training and {len(held)} validation images; labels: {', '.join(classes)}")

    cache = Path(tempfile.gettempdir()) / "efficientnet-lite0"
    embedder = ImageEmbedder(cache, batch_size=args.batch_size or 32, intra_op_num_threads=cpu_count())
    x_train = _embed(embedder, train, "training")
    x_held = _embed(embedder, held, "validation")

    head = fit_head(
        FastClassifier(C=args.regularization or 20.0, max_iter=args.max_iter or 1000), x_train, train
    )
    classes = [str(c) for c in head.classes_]
    metrics: dict[str, float] = {}
    if held:
        predicted = [str(c) for c in head.predict(x_held)]
        metrics = classification_metrics([s.labels[0] for s in held], predicted)
        say(
            "validation: accuracy {accuracy:.4f}, precision {precision:.4f}, recall {recall:.4f}, "
            "f1 {f1:.4f}".format(**metrics)
        )
    else:
        say("no validation images: the package carries no metrics")

    exports = sorted(cache.glob("*.onnx"))
    if len(exports) != 1:
        raise RuntimeError(
            f"expected one ONNX export of the feature network in {cache}, found {len(exports)}"
        )
    model = with_head(exports[0], *linear_head(head))
    checked = held[:_SELF_CHECK_IMAGES]
    _self_check(model, checked, head.predict_proba(x_held[: len(checked)]), embedder.image_size)

    settings = {"labels": classes, "image_size": embedder.image_size, "top_k": min(TOP_K, len(classes))}
    config = {
        "model_algorithm": "image_classification",
        "model_type": "PyTorch",
        "runtime": runtime("pytorch"),
        "metrics": metrics,
        "apis": [
            {
                "url": "/",
                "method": "post",
                "request": {
                    "Content-type": "multipart/form-data",
                    "data": {"type": "object", "properties": {"images": {"type": "file"}}},
                },
                "response": classification_response(classes[0]),
            }
        ],
        "dependencies": dependencies("numpy", "Pillow", "onnxruntime"),
    }
    target = write_package(
        args.train_url,
        template="image_classification_service.py",
        config=config,
        files={"model.onnx": model, "labels.json": json.dumps(settings, ensure_ascii=False).encode()},
    )
    say(f"model package written to {target} in {time.monotonic() - started:.0f} s")
