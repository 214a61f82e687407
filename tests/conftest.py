"""Shared fixtures. Tests run from the repository root (the tools' default paths are relative to it).

Tiers, one folder each (`make test` runs them all; `pytest tests/unit` runs one):
- unit/: pure logic, no servers (scheduler, vision, decoding, settings, metrics, generator, sizing);
- server/: the real gRPC server in-process on loopback with ONNX Runtime, and the CLI tools around it;
- triton/: end to end against a real local Triton (the nvidia-pytriton binary), started once;
- artefacts/: what ships beside the code: Kubernetes manifests, Prometheus rules, model repositories.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.repo import ROOT

HOLD_OUT_SEED = 777  # never used for training (training uses seeds 1 and 1001)
TIERS = ("unit", "server", "triton", "artefacts")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with its tier (its folder), so `-m unit` and the like select them."""
    for item in items:
        tier = Path(str(item.path)).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session", autouse=True)
def _run_from_the_repository_root() -> None:
    os.chdir(ROOT)


@pytest.fixture(scope="session")
def tiny_labelled_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anpr_synth.synthetic_set import write_labelled_set

    directory = tmp_path_factory.mktemp("tiny_set")
    write_labelled_set(directory, count=12, seed=HOLD_OUT_SEED, progress=False)
    return directory


@pytest.fixture(scope="session")
def model_repository() -> Path:
    return ROOT / "model_repository"


@pytest.fixture(scope="session")
def camera_frames():
    """Synthetic 1280x720 camera frames (JPEG bytes and their plates), from a hold-out seed."""
    from anpr_synth import generate_frame

    return [generate_frame(HOLD_OUT_SEED + 1, index, frame_size=(1280, 720)) for index in range(12)]


@pytest.fixture(scope="session")
def triton_server():
    """The server with a real local Triton (started once per session: Triton takes seconds to load)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from anpr.config import Settings
    from tests.serving import RunningServer

    server = RunningServer(Settings(port=0, metrics_port=0, backend="triton"))
    check = health_pb2_grpc.HealthStub(server.channel).Check
    server.status_before_ready = check(health_pb2.HealthCheckRequest(), timeout=5).status
    server.wait_ready()
    yield server
    server.stop()
