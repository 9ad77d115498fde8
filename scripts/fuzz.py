"""The long fuzz run: every operation of ``/openapi.json`` against a fresh server on loopback.

    .venv/bin/python scripts/fuzz.py [--examples N] [--seed S]

Prints the operations, the requests sent, the statuses, every 5xx not documented for its operation
(with the exact request) and every 4xx without the error envelope; exits 1 when there is any.
The bounded run in ``make test`` is ``tests/api/test_fuzz.py``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.api._fuzz import fuzz, target_of  # noqa: E402
from tests.conftest import run_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--examples", type=int, default=50, help="requests per operation and mode (default 50)"
    )
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with (
        tempfile.TemporaryDirectory() as scratch,
        run_server(Path(scratch) / "home", embedded_worker=False) as live,
    ):
        target = target_of(live)
        report = fuzz(target, args.examples, seed=args.seed)
    print(report.summary())
    return 1 if report.server_errors or report.bad_envelopes else 0


if __name__ == "__main__":
    raise SystemExit(main())
