"""Shared fixtures: a small labelled synthetic set, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from anpr.config import SOURCE_MODEL_REPOSITORY

HOLD_OUT_SEED = 777  # never used for training (training uses seeds 1 and 1001)


@pytest.fixture(scope="session")
def tiny_labelled_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from anpr_training.synth import write_labelled_set

    directory = tmp_path_factory.mktemp("tiny_set")
    write_labelled_set(directory, count=12, seed=HOLD_OUT_SEED, progress=False)
    return directory


@pytest.fixture(scope="session")
def model_repository() -> Path:
    return SOURCE_MODEL_REPOSITORY


@pytest.fixture(scope="session")
def camera_frames():
    """Synthetic 1280x720 camera frames (JPEG bytes and their plates), from a hold-out seed."""
    from anpr_training.synth import generate_frame

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
