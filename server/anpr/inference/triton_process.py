"""Starts, watches and stops a local `tritonserver` (the binary in the nvidia-pytriton wheel).

Used by `anpr serve` when no Triton URL is configured. Set-up the wheel needs on a CPU machine
(docs/DESIGN.md): the Python 3.11 backend stub copied next to the Python backend, this interpreter's
`lib` and the wheel's bundled libraries on LD_LIBRARY_PATH, and this virtualenv first on PATH so the
stub runs with its numpy 1.26 and onnxruntime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


class TritonNotInstalled(RuntimeError):
    """The nvidia-pytriton wheel (which carries tritonserver) is not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pytriton_root() -> Path:
    try:
        import pytriton
    except ImportError as error:
        raise TritonNotInstalled(
            "a local Triton needs the `local-triton` extra (pip install 'anpr[local-triton]', which brings "
            "nvidia-pytriton); or set triton_url (--triton-url) to a running Triton"
        ) from error
    return Path(pytriton.__file__).parent


class LocalTriton:
    """One supervised tritonserver process: readiness wait, logs to our logger, restart if it dies."""

    def __init__(self, model_repository: Path, exit_timeout_s: int = 5, restart_delay_s: float = 1.0) -> None:
        self.model_repository = model_repository
        self.exit_timeout_s = exit_timeout_s
        self.restart_delay_s = restart_delay_s
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.restarts = 0
        self.deaths = 0  # exits the supervisor has seen and cleaned up after (its process group killed)
        self._process: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._log_reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._workdir = Path(tempfile.mkdtemp(prefix="anpr-triton-"))

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _prepare(self) -> tuple[list[str], dict[str, str]]:
        root = _pytriton_root() / "tritonserver"
        backends = self._workdir / "backends"
        if not backends.exists():
            shutil.copytree(root / "backends", backends)
            stub = root / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
            shutil.copy2(stub / "triton_python_backend_stub", backends / "python" / "triton_python_backend_stub")
        libs = [sysconfig.get_config_var("LIBDIR"), str(root.parent.parent / "nvidia_pytriton.libs")]
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*libs, env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        command = [
            str(root / "bin" / "tritonserver"),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--grpc-port={self.grpc_port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-http=true",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            "--strict-readiness=true",
            "--log-verbose=0",
        ]
        return command, env

    async def start(self) -> None:
        """Starts the process (not waiting for readiness) and the watcher that restarts it."""
        self._stopping = False
        await self._spawn()
        self._watcher = asyncio.create_task(self._watch(), name="triton-watcher")

    async def _spawn(self) -> None:
        command, env = self._prepare()
        self._process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._log_reader = asyncio.create_task(self._read_logs(self._process), name="triton-logs")
        log.info("started tritonserver pid %d (gRPC %s)", self._process.pid, self.url)

    async def _read_logs(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            log.debug("tritonserver: %s", line.decode(errors="replace").rstrip())

    async def _watch(self) -> None:
        while not self._stopping:
            assert self._process is not None
            code = await _exit_code(self._process)
            if self._stopping:
                return
            _kill_group(self._process.pid)  # its orphaned backend stubs
            self.deaths += 1
            log.error("tritonserver exited with %s; restarting in %.1f s", code, self.restart_delay_s)
            died_at = time.monotonic()
            # Re-read every 0.1 s, so a changed restart_delay_s takes effect on a restart already waiting.
            while time.monotonic() - died_at < self.restart_delay_s:
                await asyncio.sleep(0.1)
            if self._stopping:
                return
            self.restarts += 1
            await self._spawn()

    async def stop(self) -> None:
        """SIGTERM, wait for Triton's own exit timeout, then SIGKILL."""
        self._stopping = True
        if self._watcher:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        process = self._process
        if process and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(_exit_code(process), self.exit_timeout_s + 5)
            except TimeoutError:
                process.kill()
                await _exit_code(process)
        if process:
            _kill_group(process.pid)
        if self._log_reader:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._log_reader, 2)
        shutil.rmtree(self._workdir, ignore_errors=True)
        log.info("tritonserver stopped")


async def _exit_code(process: asyncio.subprocess.Process) -> int:
    """The process's exit code once it has exited. Not `process.wait()`: in Python 3.11 that also waits
    until every holder of the process's stdout pipe has closed it, and Triton's Python-backend stubs,
    its children, hold it until they notice their parent is gone (minutes, with four models loaded)."""
    while process.returncode is None:
        await asyncio.sleep(0.1)
    return process.returncode


def _kill_group(pid: int) -> None:
    """Kills what is left of a stopped tritonserver's process group (it leads its own session): backend
    stubs that would otherwise outlive it, holding shared memory and its log pipe."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
