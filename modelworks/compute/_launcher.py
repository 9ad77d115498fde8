"""Leader of a training task's process group; started by ``modelworks.compute.processes.launch``.

    python -I _launcher.py EXIT_FILE CPUS MEMORY_BYTES USER -- COMMAND...

Sets the CPU affinity (CPUS, comma-separated; empty for no change) and the address-space limit
(MEMORY_BYTES; 0 for none) that every process of the group inherits, runs COMMAND (as USER,
``uid:gid``, with no supplementary groups and umask 077 when not empty: the sandbox's unprivileged
user of the project; the limits are set first, while this leader may still set them), and writes its
exit status to EXIT_FILE (atomically; the leader stays the server's user, so the command can neither
forge that file nor signal the leader) so that a worker which did not start this process can still
learn how it ended. This is done here, not in ``preexec_fn``: running Python code between fork and
exec in a threaded server can deadlock. Standard library only; run as a file, not as a module.
"""

import os
import resource
import shutil
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    exit_file, cpus, memory, user, separator, *command = argv
    if separator != "--" or not command:
        print("usage: _launcher.py EXIT_FILE CPUS MEMORY_BYTES USER -- COMMAND...", file=sys.stderr)
        return 2
    identity: dict[str, object] = {}
    if user and os.geteuid() == 0:  # a launcher that is not root (a Ray worker's) has no one to drop to
        # As compute.sandbox.Identity does (setpriv adds no_new_privs to what Popen can do).
        uid, gid = (int(part) for part in user.split(":"))
        tool = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
        if tool:
            command = [
                tool,
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                "--no-new-privs",
                "--",
                *command,
            ]
            identity = {"umask": 0o077}
        else:
            identity = {"user": uid, "group": gid, "extra_groups": [], "umask": 0o077}
    if cpus:
        wanted = {int(c) for c in cpus.split(",")} & os.sched_getaffinity(0)
        if wanted:
            os.sched_setaffinity(0, wanted)
    limit = int(memory)
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Terminating sends SIGTERM to the whole group: outlive the command long enough to record its end.
    # A Python-level handler (unlike SIG_IGN) is reset to the default in the command by exec.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        child = subprocess.Popen(command, **identity)  # type: ignore[call-overload]
    except OSError as exc:
        print(f"[Modelworks] cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        code = 127
    else:
        code = child.wait()
    temporary = exit_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(code))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, exit_file)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
