"""Checks a package's inference code in a process of its own: ``python -m modelworks.serving.probe DIR``.

Imports ``DIR/customize_service.py`` the way the inference runtime does (``model_service`` importable
under its ModelArts names, ``DIR`` on ``sys.path``) and looks for the one class that subclasses a
``model_service`` base class. The service is not built: its model is not loaded. Prints one JSON line:
``{"service_class": ..., "base_class": ..., "problems": [...]}``.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

SERVICE_FILE = "customize_service.py"


def probe(model_dir: Path) -> dict[str, Any]:
    path = model_dir / SERVICE_FILE
    if not path.is_file():
        return {"problems": [f"the package has no {SERVICE_FILE}"]}
    try:
        ast.parse(path.read_bytes(), filename=SERVICE_FILE)
    except SyntaxError as exc:
        return {"problems": [f"{SERVICE_FILE} line {exc.lineno}: {exc.msg}"]}

    from modelworks.serving.runtime import install
    from modelworks.serving.runtime.model_service.model_service import BaseService

    install()
    sys.path.insert(0, str(model_dir))
    spec = importlib.util.spec_from_file_location("customize_service", path)
    if spec is None or spec.loader is None:
        return {"problems": [f"{SERVICE_FILE} cannot be imported"]}
    module = importlib.util.module_from_spec(spec)
    sys.modules["customize_service"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # the user's code may raise anything, SystemExit included
        where = traceback.extract_tb(exc.__traceback__)[-1]
        line = f" (line {where.lineno})" if where.filename == str(path) else ""
        return {"problems": [f"importing {SERVICE_FILE} failed{line}: {type(exc).__name__}: {exc}"]}
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseService) and cls.__module__ == module.__name__
    ]
    leaves = [c for c in found if not any(o is not c and issubclass(o, c) for o in found)]
    if len(leaves) != 1:
        names = ", ".join(c.__name__ for c in leaves) or "none"
        return {
            "problems": [
                f"{SERVICE_FILE} must define one subclass of a model_service base class (such as "
                f"model_service.pytorch_model_service.PTServingBaseService); found {names}"
            ]
        }
    service = leaves[0]
    base = next(c for c in service.__mro__[1:] if c.__module__.startswith("modelworks.serving.runtime"))
    return {"service_class": service.__name__, "base_class": base.__name__, "problems": []}


def main() -> None:
    report = probe(Path(sys.argv[1]).resolve())
    sys.stdout.flush()
    print("\n" + json.dumps(report), flush=True)
    # Threads or atexit hooks the user's code started must not keep the check from ending.
    os._exit(0)


if __name__ == "__main__":
    main()
