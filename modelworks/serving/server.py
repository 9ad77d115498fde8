"""The model server: one process that loads one model package and answers inference over HTTP.

    python -m modelworks.serving.server --model-dir DIR --ready-file FILE [--failure-file FILE]
                                        [--model-name NAME] [--host 127.0.0.1] [--port 0]

It loads ``DIR`` (``config.json`` + ``customize_service.py`` + weights) with
``modelworks.serving.runtime``, binds its port, then writes ``{"port", "pid"}`` to the ready file: the
supervisor that started it routes requests to it only from then on. If the package cannot be loaded,
the cause (``ExceptionType: message``) goes to the failure file, the traceback to stderr, and the
process exits with status 3.

Requests, as a ModelArts inference image receives them:

* ``POST /`` (or any path the model's ``apis`` declare): ``multipart/form-data`` reaches the
  service's hooks as ``{field: {file name: file object}}`` (plain form fields as strings),
  ``application/json`` as the decoded object; the ``_postprocess`` result is answered as JSON.
* ``GET /health``: ``{"status": "OK"}`` once the model is loaded.

Calls into the inference code are serialised (one request at a time per instance): user code need
not be thread-safe, and the gateway balances load across instances.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelworks.errors import BackendUnavailable

log = logging.getLogger("modelworks.serving.server")

LOAD_FAILED_EXIT_CODE = 3
INFERENCE_ERROR_CODE = BackendUnavailable.error_code


def _to_json(value: Any) -> Any:
    """``json.dumps`` fallback for what inference code commonly returns: numpy and torch values."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def error_response(status: int, message: str) -> Response:
    """The error envelope, JSON-escaped (``ensure_ascii``): a message may quote a lone surrogate from
    the request, which UTF-8 cannot encode."""
    body = json.dumps({"error_code": INFERENCE_ERROR_CODE, "error_msg": message}).encode("ascii")
    return Response(body, status_code=status, media_type="application/json")


async def request_data(request: Request) -> Any:
    """The request body shaped as the inference hooks expect it (see the module docstring)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        from modelworks.serving.runtime import form_data

        form = await request.form()
        files: dict[str, dict[str, bytes]] = {}
        fields: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            else:
                files.setdefault(key, {})[value.filename or key] = await value.read()
        return {**fields, **form_data(files)}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"the request body is not valid JSON: {exc}") from exc


def predictor(model: Any) -> Callable[[Any], bytes]:
    """``model.predict`` answering JSON bytes, one call at a time (see the module docstring)."""
    lock = threading.Lock()

    def predict(data: Any) -> bytes:
        with lock:
            result = model.predict(data)
        return json.dumps(result, default=_to_json, ensure_ascii=False).encode()

    return predict


async def answer(request: Request, predict: Callable[[Any], bytes]) -> Response:
    """One inference request answered with ``predict`` (also used by the Ray Serve replicas)."""
    try:
        data = await request_data(request)
    except ValueError as exc:
        return error_response(400, str(exc))
    except RecursionError:
        return error_response(400, "the request body is not valid JSON: it is nested too deeply")
    except HTTPException as exc:  # a malformed multipart body
        return error_response(exc.status_code, str(exc.detail))
    except Exception as exc:
        log.exception("reading the request failed")
        return error_response(500, f"reading the request failed: {type(exc).__name__}: {exc}")
    try:
        body = await asyncio.to_thread(predict, data)
    except Exception as exc:
        log.exception("inference failed")
        return error_response(500, f"inference failed: {type(exc).__name__}: {exc}")
    return Response(body, media_type="application/json")


def build_app(model: Any) -> Starlette:
    """The HTTP app around a ``LoadedModel``."""
    predict = predictor(model)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "OK"})

    async def infer(request: Request) -> Response:
        return await answer(request, predict)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/{path:path}", infer, methods=["POST", "PUT", "GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


async def _http_error(_: Request, exc: Exception) -> Response:
    """Starlette's own answers (405 for a method no route takes) as the envelope, not plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error_response(status, str(getattr(exc, "detail", "")) or "error")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def load(model_dir: Path, model_name: str, failure_file: Path | None) -> Any:
    """The loaded package; on failure write the cause and exit with ``LOAD_FAILED_EXIT_CODE``."""
    from modelworks.serving.runtime import load_model

    try:
        return load_model(model_dir, model_name)
    except BaseException as exc:
        cause = f"{type(exc).__name__}: {exc}".strip()
        print(f"[Modelworks] the model package cannot be loaded: {cause}", file=sys.stderr, flush=True)
        traceback.print_exc()
        if failure_file is not None:
            _write_atomically(failure_file, cause)
        sys.exit(LOAD_FAILED_EXIT_CODE)


def serve(model: Any, host: str, port: int, ready_file: Path) -> None:
    """Answer requests until SIGTERM or SIGINT."""
    import uvicorn

    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only for sockets that say so;
    # without it every answer waits for the client's delayed ACK (40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    config = uvicorn.Config(build_app(model), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # Connections that arrive before uvicorn accepts wait in the listen backlog.
    bound_port = sock.getsockname()[1]
    _write_atomically(ready_file, json.dumps({"port": bound_port, "pid": os.getpid()}))
    print(f"[Modelworks] serving {model.model_dir} on {host}:{bound_port}", flush=True)
    server.run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m modelworks.serving.server", description=__doc__)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--failure-file", type=Path)
    parser.add_argument("--model-name", default="")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = load(args.model_dir, args.model_name, args.failure_file)
    serve(model, args.host, args.port, args.ready_file)


def parse_ready_file(path: Path) -> Mapping[str, int] | None:
    """``{"port", "pid"}`` once the server is listening, else None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("port"), int):
        return None
    return data


if __name__ == "__main__":
    main()
