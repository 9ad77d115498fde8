"""Who user code runs as, and what it inherits from the server's environment (``compute.sandbox``).

Private to ``compute``: the public names are ``modelworks.compute.sandbox``'s.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

USER_UMASK = 0o077
_ENV_NAMES = (
    "PATH", "LANG", "LANGUAGE", "TZ", "TERM",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES",
)  # fmt: skip
"""What user code inherits from the server's environment (plus ``LC_*``); nothing else, never
``MODELWORKS_*``, storage or database keys."""


def setpriv() -> str | None:
    """util-linux's ``setpriv`` (essential on Debian), from the system's directories only."""
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


@dataclass(frozen=True)
class Identity:
    """The unprivileged user a project's code runs as.

    Started with ``command(argv)`` and ``popen_args()``: ``setpriv`` sets the uid and gid, clears the
    supplementary groups and sets ``no_new_privs`` (no setuid program can give privileges back), then
    executes ``argv``; without ``setpriv``, ``Popen``'s own ``user``/``group``/``extra_groups`` do the
    same but ``no_new_privs``. Either way umask is 077. ``argv[0]`` must be reachable by the user
    (``Sandbox.python``).
    """

    uid: int
    gid: int

    def command(self, argv: list[str]) -> list[str]:
        tool = setpriv()
        if tool is None:
            return list(argv)
        return [
            tool,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
            *argv,
        ]

    def popen_args(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments to go with ``command`` (set between fork and exec by the C
        code of ``_posixsubprocess``: no Python runs there)."""
        if setpriv() is not None:
            return {"umask": USER_UMASK}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": USER_UMASK}

    def argument(self) -> str:
        """``uid:gid``, how ``compute/_launcher.py`` is told."""
        return f"{self.uid}:{self.gid}"


def user_environment(server_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of the server's environment that user code may see: ``_ENV_NAMES`` and ``LC_*``.

    The one place outside ``settings`` that reads ``os.environ``. Callers add ``HOME``, ``TMPDIR`` and
    what the job or service declares.
    """
    source = os.environ if server_env is None else server_env
    return {k: v for k, v in source.items() if k in _ENV_NAMES or k.startswith("LC_")}
