"""Starts a process of a model with its pip environment in place (``environments``)::

    python -I -m modelworks.models._with_dependencies --environments DIR --model-dir DIR
        [--failure-file FILE] [--failure-exit-code N] -- COMMAND...
    python -I -m modelworks.models._with_dependencies --environments DIR --build-only
        --requirement=REQ ...

Builds the model's environment below ``--environments`` if this host has none yet (the model was
published on another host, the cache was deleted), then becomes ``COMMAND`` (same process id, so the
launcher and the supervisor keep following it). ``COMMAND``'s environment already names the packages
directory first on ``PYTHONPATH`` (``environments.with_dependencies``); ``-I`` keeps that directory,
and the model's own files in the working directory, out of this process. If the dependencies cannot
be installed, the reason goes to the failure file and the process exits with the failure exit code,
as a model that cannot be loaded does.

``--build-only`` builds the environment of the given requirements and exits (0; or 3 with the reason
on stderr): how the server has a model's environment built by the model's project's unprivileged
user at publish time (``environments.ensure_environment(user=...)``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from modelworks.compute.workspace import base_environment
from modelworks.models.environments import DependencyError, ensure_environment, read_requirements


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m modelworks.models._with_dependencies")
    parser.add_argument("--environments", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--requirement", action="append", default=[])
    parser.add_argument("--failure-file", type=Path)
    parser.add_argument("--failure-exit-code", type=int, default=3)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    def note(message: str) -> None:
        print(f"[Modelworks] {message}", flush=True)

    if args.build_only:
        try:
            ensure_environment(args.environments, args.requirement, env=base_environment(), note=note)
        except DependencyError as exc:
            print(exc.message, file=sys.stderr, flush=True)
            sys.exit(3)
        return
    if not command or args.model_dir is None:
        parser.error("--model-dir and a command to run are required")
    requirements = read_requirements(args.model_dir)

    try:
        ensure_environment(args.environments, requirements, env=base_environment(), note=note)
    except DependencyError as exc:
        reason = f"on this host, {exc.message}"
        print(reason, file=sys.stderr, flush=True)
        if args.failure_file is not None:
            args.failure_file.write_text(reason + "\n")
        sys.exit(args.failure_exit_code)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
