"""A PyTorch image classifier in ModelArts package layout, trained here, and helpers to deploy and call it.

The inference code is the manual's PyTorch example (``examples_of_custom_scripts/pytorch.rst``)
with two changes: the hidden layer has 64 units instead of 5120, and ``infer_transformation`` is
written with PIL and numpy, because torchvision is not installed beside the server. The images are
28x28 strokes of three kinds (horizontal, vertical, diagonal) at random places, drawn here.
"""

from __future__ import annotations

import io
import json
import random
import time
from functools import cache
from typing import Any

import httpx
from huaweicloudsdkcore.sdk_request import SdkRequest

from tests._client import SignedClient
from tests.conftest import LiveServer
from tests.models._packages import create, put_package, wait_published

SERVICES = "/v1/{project_id}/services"
CLASSES = ["horizontal", "vertical", "diagonal"]
HIDDEN = 64

MNIST_STYLE_SERVICE = """
from PIL import Image
import log
from model_service.pytorch_model_service import PTServingBaseService
import torch.nn.functional as F

import torch.nn as nn
import torch
import json

import numpy as np

logger = log.getLogger(__name__)


# Define model preprocessing: the manual's transforms.Compose([transforms.Resize((28,28)),
# transforms.ToTensor()]), written with PIL and numpy.
def infer_transformation(image):
    image = image.resize((28, 28))
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0)


import os


class PTVisionService(PTServingBaseService):

    def __init__(self, model_name, model_path):
        # Call the constructor of the parent class.
        super(PTVisionService, self).__init__(model_name, model_path)
        # Call the customized function to load the model.
        self.model = Mnist(model_path)
        # Load tags.
        self.label = [0,1,2,3,4,5,6,7,8,9]
        # Labels can also be loaded by label file.
        # Store the label.json file in the model directory. The following information is read:
        dir_path = os.path.dirname(os.path.realpath(self.model_path))
        with open(os.path.join(dir_path, 'label.json')) as f:
            self.label = json.load(f)


    def _preprocess(self, data):

        preprocessed_data = {}
        for k, v in data.items():
            input_batch = []
            for file_name, file_content in v.items():
                with Image.open(file_content) as image1:
                    # Gray processing
                    image1 = image1.convert("L")
                    if torch.cuda.is_available():
                        input_batch.append(infer_transformation(image1).cuda())
                    else:
                        input_batch.append(infer_transformation(image1))
            input_batch_var = torch.autograd.Variable(torch.stack(input_batch, dim=0), volatile=True)
            print(input_batch_var.shape)
            preprocessed_data[k] = input_batch_var

        return preprocessed_data

    def _postprocess(self, data):
        results = []
        for k, v in data.items():
            result = torch.argmax(v[0])
            result = {k: self.label[result]}
            results.append(result)
        return results

    def _inference(self, data):

        result = {}
        for k, v in data.items():
            result[k] = self.model(v)

        return result

class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.hidden1 = nn.Linear(784, HIDDEN, bias=False)
        self.output = nn.Linear(HIDDEN, 10, bias=False)

    def forward(self, x):
        x = x.view(x.size()[0], -1)
        x = F.relu((self.hidden1(x)))
        x = F.dropout(x, 0.2)
        x = self.output(x)
        return F.log_softmax(x)



def Mnist(model_path, **kwargs):
    # Generate a network.
    model = Net()
    # Load the model.
    if torch.cuda.is_available():
        device = torch.device('cuda')
        model.load_state_dict(torch.load(model_path, map_location="cuda:0"))
    else:
        device = torch.device('cpu')
        model.load_state_dict(torch.load(model_path, map_location=device))
    # CPU or GPU mapping
    model.to(device)
    # Declare an inference mode.
    model.eval()

    return model
""".replace("HIDDEN", str(HIDDEN))

IMAGE_CONFIG: dict[str, Any] = {
    "model_algorithm": "image_classification",
    "model_type": "PyTorch",
    "apis": [
        {
            "url": "/",
            "method": "post",
            "request": {
                "Content-type": "multipart/form-data",
                "data": {"type": "object", "properties": {"images": {"type": "file"}}},
            },
            "response": {
                "Content-type": "application/json",
                "data": {"type": "object", "properties": {"images": {"type": "string"}}},
            },
        }
    ],
}


def stroke_image(kind: int, rng: random.Random) -> Any:
    """A 28x28 grayscale image of one 3-pixel-wide stroke of class ``kind`` at a random place, with noise."""
    import numpy as np

    pixels = np.asarray([[rng.random() * 0.15 for _ in range(28)] for _ in range(28)], dtype=np.float32)
    at, start, length = rng.randrange(3, 23), rng.randrange(0, 6), rng.randrange(18, 22)
    for i in range(start, start + length):
        for w in range(3):
            if kind == 0:
                pixels[at + w, i] = 1.0
            elif kind == 1:
                pixels[i, at + w] = 1.0
            else:
                pixels[i, min(27, i + w)] = 1.0
    return pixels


def png(pixels: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).astype("uint8"), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def sample_images(count: int, seed: int) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    return [(i % 3, png(stroke_image(i % 3, rng))) for i in range(count)]


@cache
def image_weights() -> bytes:
    """The manual's network trained on strokes, saved as its state dict (as the manual says)."""
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812

    rng = random.Random(1)
    labels = [i % 3 for i in range(300)]
    x = torch.from_numpy(np.stack([stroke_image(k, rng) for k in labels])).unsqueeze(1)
    y = torch.tensor(labels)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is several times faster than two
    try:
        torch.manual_seed(0)
        hidden1 = torch.nn.Linear(784, HIDDEN, bias=False)
        output = torch.nn.Linear(HIDDEN, 10, bias=False)
        optimizer = torch.optim.Adam([*hidden1.parameters(), *output.parameters()], lr=0.02)
        for _ in range(40):
            optimizer.zero_grad()
            logits = output(F.dropout(F.relu(hidden1(x.view(len(x), -1))), 0.2))
            F.cross_entropy(logits, y).backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    buffer = io.BytesIO()
    torch.save({"hidden1.weight": hidden1.weight.detach(), "output.weight": output.weight.detach()}, buffer)
    return buffer.getvalue()


def put_image_package(
    server: LiveServer, prefix: str, labels: list[str], weights: bytes | None = None
) -> None:
    files = {
        "mnist_mlp.pt": weights if weights is not None else image_weights(),
        "label.json": json.dumps(labels).encode(),
    }
    put_package(server, prefix, IMAGE_CONFIG, MNIST_STYLE_SERVICE, files)


def image_model(
    client: SignedClient,
    server: LiveServer,
    name: str,
    version: str,
    labels: list[str],
    weights: bytes | None = None,
) -> str:
    """A published model of the image package (``labels`` name the classes in its answers)."""
    prefix = f"/ml/{name}-{version}/"
    put_image_package(server, prefix, labels, weights)
    model_id = create(
        client, model_name=name, model_version=version, source_location=prefix, model_type="PyTorch"
    )
    wait_published(client, model_id)
    return model_id


# -- services ------------------------------------------------------------------------------------------


def realtime_body(name: str, *configs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"service_name": name, "infer_type": "real-time", "config": list(configs), **extra}


def model_config(model_id: str, weight: int = 100, instances: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "weight": weight,
        "specification": "modelarts.vm.cpu.1u",
        "instance_count": instances,
        **extra,
    }


def deploy(client: SignedClient, body: dict[str, Any]) -> str:
    response = client.post(SERVICES, body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"service_id", "resource_ids"}
    return str(response.json()["service_id"])


def details(client: SignedClient, service_id: str) -> dict[str, Any]:
    response = client.get(f"{SERVICES}/{service_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_status(client: SignedClient, service_id: str, *wanted: str, timeout: float = 90) -> dict[str, Any]:
    """The service's details once its status is one of ``wanted``; fails at once if it failed instead."""
    deadline = time.monotonic() + timeout
    while True:
        service = details(client, service_id)
        if service["status"] in wanted:
            return service
        if service["status"] == "failed":
            raise AssertionError(
                f"service {service_id} failed: {service.get('error_msg')}\n{event_texts(client, service_id)}"
            )
        assert time.monotonic() < deadline, f"service {service_id} is still {service['status']}"
        time.sleep(0.1)


def events(client: SignedClient, service_id: str, **query: Any) -> list[dict[str, Any]]:
    response = client.get(f"{SERVICES}/{service_id}/events", **query)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def event_texts(client: SignedClient, service_id: str) -> list[str]:
    return [e["event_info"] for e in reversed(events(client, service_id))]


def signed_upload(client: SignedClient, path: str, files: dict[str, tuple[str, bytes]]) -> httpx.Response:
    """A ``multipart/form-data`` POST signed by the SDK's signer (the body is part of the signature)."""
    path = path.replace("{project_id}", client.project_id)
    encoded = httpx.Request(
        "POST", "http://x/", files={k: (n, c, "image/png") for k, (n, c) in files.items()}
    )
    body = encoded.read()
    url = httpx.URL(client.endpoint)
    request = SdkRequest(
        method="POST",
        schema=url.scheme,
        host=url.netloc.decode(),
        resource_path=path,
        query_params=[],
        header_params={"Content-Type": encoded.headers["content-type"]},
        body=body,
    )
    signed = client.credentials.sign_request(request)
    return client.http.post(
        f"{client.endpoint}{signed.uri}", headers=dict(signed.header_params), content=body
    )


def classify(client: SignedClient, service_id: str, image: bytes, name: str = "stroke.png") -> httpx.Response:
    return signed_upload(client, f"/v1/infers/{service_id}", {"images": (name, image)})
