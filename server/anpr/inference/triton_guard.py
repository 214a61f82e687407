"""The process between `anpr serve` and its local tritonserver, so that nothing outlives either.

`python -m anpr.inference.triton_guard WORKDIR SHM_PREFIX -- tritonserver ...` starts tritonserver in
a process group of its own (with its Python-backend stubs, which it forks) and then:
- when tritonserver exits, however it died, kills the rest of that group (the stubs would otherwise
  be re-parented to PID 1, ignore SIGTERM and hold shared memory for minutes), removes the shared
  memory regions the stubs made (`SHM_PREFIX*` in /dev/shm) and exits with tritonserver's status;
- when its standard input reaches end of file, which happens the moment `anpr serve` dies even by
  SIGKILL (the kernel closes the pipe's other end), kills the group, removes the regions and WORKDIR,
  and exits;
- passes SIGTERM on to tritonserver (a graceful stop), and tritonserver dies with the guard
  (PR_SET_PDEATHSIG) if the guard itself is killed.
Its first line of output is `tritonserver pid N`; tritonserver's own output follows on the same pipe.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

PR_SET_PDEATHSIG = 1
SHM = Path("/dev/shm")


def _die_with_parent() -> None:
    """In tritonserver, before exec: its own process group, and SIGKILL when the guard dies."""
    os.setpgid(0, 0)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _clean_up(group: int, shm_prefix: str) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for region in SHM.glob(f"{shm_prefix}*"):
        region.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m anpr.inference.triton_guard WORKDIR SHM_PREFIX -- COMMAND...", file=sys.stderr)
        return 2
    workdir, shm_prefix, command = Path(argv[0]), argv[1], argv[3:]
    server = subprocess.Popen(command, preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL)
    print(f"tritonserver pid {server.pid}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.send_signal(signal.SIGTERM))

    orphaned = threading.Event()

    def watch_parent() -> None:
        sys.stdin.buffer.read()  # returns at end of file: anpr serve is gone
        orphaned.set()
        _clean_up(server.pid, shm_prefix)  # tritonserver exits: the main thread goes on below

    threading.Thread(target=watch_parent, daemon=True).start()
    code = server.wait()
    _clean_up(server.pid, shm_prefix)
    if orphaned.is_set():  # nobody else will remove the work folder
        shutil.rmtree(workdir, ignore_errors=True)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(status)  # not sys.exit: the thread blocked reading stdin would stall interpreter shutdown
