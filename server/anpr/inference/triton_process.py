"""Starts, watches and stops a local `tritonserver` (the binary in the nvidia-pytriton wheel).

Used by `anpr serve` when no Triton URL is configured. It runs under a guard process
(`triton_guard.py`) that kills tritonserver's whole process group and removes its shared memory when
tritonserver dies and when `anpr serve` dies (even by SIGKILL), so no backend stub is left behind.
It listens on loopback only, its model-repository, shared-memory and other admin protocols are
refused (restricted to a header key nobody is given), and it is restarted with a growing delay when
it keeps dying. Set-up the wheel needs on a CPU machine
(docs/DESIGN.md): the Python 3.11 backend stub copied next to the Python backend, this interpreter's
`lib` and the wheel's bundled libraries on LD_LIBRARY_PATH, and this virtualenv first on PATH so the
stub runs with its numpy 1.26 and onnxruntime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
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

    MAX_RESTART_DELAY_S = 30.0
    STABLE_AFTER_S = 60.0  # a server that ran this long resets the restart delay

    def __init__(
        self,
        model_repository: Path,
        exit_timeout_s: int = 5,
        restart_delay_s: float = 1.0,
        models: tuple[str, ...] | None = None,
    ) -> None:
        self.model_repository = model_repository
        self.models = models  # the models to load (None: every folder of the repository)
        self.exit_timeout_s = exit_timeout_s
        self.restart_delay_s = restart_delay_s  # the first restart's delay; doubles while it keeps dying
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.restarts = 0
        self.deaths = 0  # exits the supervisor has seen and cleaned up after (its process group killed)
        self.pid: int | None = None  # tritonserver's own (the guard's child)
        self.shm_prefix = f"anpr-triton-{os.getpid()}-{secrets.token_hex(4)}-"
        self._quick_deaths = 0
        self._started_at = 0.0
        self._guard: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._log_reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._workdir = Path(tempfile.mkdtemp(prefix="anpr-triton-"))

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def guard_pid(self) -> int | None:
        return self._guard.pid if self._guard else None

    @property
    def workdir(self) -> Path:
        return self._workdir

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
        admin = f"anpr-admin={secrets.token_hex(16)}"  # a key no client is given: these protocols are refused
        command = [
            str(root / "bin" / "tritonserver"),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            "--grpc-address=127.0.0.1",
            "--http-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-http=true",
            f"--grpc-restricted-protocol=model-repository,shared-memory,statistics,trace,logging:{admin}",
            f"--http-restricted-api=model-repository,shared-memory,statistics,trace,logging:{admin}",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            "--strict-readiness=true",
            "--log-verbose=0",
        ]
        if self.models is not None:  # loaded at start only: the model-repository protocol stays refused
            command += ["--model-control-mode=explicit", *(f"--load-model={name}" for name in self.models)]
        guard = [sys.executable, "-m", "anpr.inference.triton_guard", str(self._workdir), self.shm_prefix, "--"]
        return guard + command, env

    async def start(self) -> None:
        """Starts the process (not waiting for readiness) and the watcher that restarts it."""
        self._stopping = False
        try:
            await self._spawn()
        except BaseException:  # e.g. no tritonserver installed: leave no work folder behind
            shutil.rmtree(self._workdir, ignore_errors=True)
            raise
        self._watcher = asyncio.create_task(self._watch(), name="triton-watcher")

    async def _spawn(self) -> None:
        command, env = self._prepare()
        self._guard = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.PIPE,  # its end of file tells the guard that this process is gone
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._started_at = time.monotonic()
        assert self._guard.stdout is not None
        first = (await self._guard.stdout.readline()).decode(errors="replace")
        self.pid = int(first.split()[-1]) if first.startswith("tritonserver pid ") else None
        self._log_reader = asyncio.create_task(self._read_logs(self._guard), name="triton-logs")
        log.info("started tritonserver pid %s (gRPC %s, work folder %s)", self.pid, self.url, self._workdir)

    async def _read_logs(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            log.debug("tritonserver: %s", line.decode(errors="replace").rstrip())

    def _restart_delay(self) -> float:
        return min(self.restart_delay_s * 2 ** max(0, self._quick_deaths - 1), self.MAX_RESTART_DELAY_S)

    async def _watch(self) -> None:
        while not self._stopping:
            assert self._guard is not None
            code = await _exit_code(self._guard)  # the guard exits with tritonserver, its group cleaned up
            if self._stopping:
                return
            self.deaths += 1
            ran_s = time.monotonic() - self._started_at
            self._quick_deaths = 0 if ran_s >= self.STABLE_AFTER_S else self._quick_deaths + 1
            log.error(
                "tritonserver exited with %s after %.0f s; restarting in %.1f s", code, ran_s, self._restart_delay()
            )
            died_at = time.monotonic()
            # Re-read every 0.1 s, so a changed restart_delay_s takes effect on a restart already waiting.
            while time.monotonic() - died_at < self._restart_delay():
                await asyncio.sleep(0.1)
            if self._stopping:
                return
            self.restarts += 1
            await self._spawn()

    async def stop(self) -> None:
        """SIGTERM (the guard passes it on), wait for Triton's own exit timeout, then SIGKILL the lot."""
        self._stopping = True
        if self._watcher:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        guard = self._guard
        if guard and guard.returncode is None:
            guard.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(_exit_code(guard), self.exit_timeout_s + 5)
            except TimeoutError:
                if self.pid:
                    _kill_group(self.pid)
                guard.kill()
                await _exit_code(guard)
        if self._log_reader:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._log_reader, 2)
        shutil.rmtree(self._workdir, ignore_errors=True)
        log.info("tritonserver stopped")


async def _exit_code(process: asyncio.subprocess.Process) -> int:
    """The process's exit code once it has exited. Not `process.wait()`: in Python 3.11 that also waits
    until every holder of the process's stdout pipe has closed it."""
    while process.returncode is None:
        await asyncio.sleep(0.1)
    return process.returncode


def _kill_group(pid: int) -> None:
    """Kills a tritonserver's process group (it leads its own): the server and its backend stubs."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
