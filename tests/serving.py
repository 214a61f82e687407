"""Test helpers: a real AnprServer on loopback, run on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future

import grpc

from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.config import Settings
from anpr.server import AnprServer


class RunningServer:
    def __init__(self, settings: Settings, ready_timeout_s: float = 120.0) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = AnprServer(settings)
        self.port = self.call(self.server.start(), timeout=ready_timeout_s)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = anpr_pb2_grpc.PlateRecognitionStub(self.channel)

    def call(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        self.call(self.server.wait_until_ready(timeout_s), timeout=timeout_s + 5)

    def stop(self) -> None:
        self.call(self.server.stop(), timeout=120)
        self.channel.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def frame(camera_id: str, sequence: int, jpeg: bytes) -> anpr_pb2.Frame:
    return anpr_pb2.Frame(camera_id=camera_id, sequence=sequence, encoded=jpeg)


def status_name(result: anpr_pb2.FrameResult) -> str:
    return anpr_pb2.FrameStatus.Name(result.status)


def stream(
    stub: anpr_pb2_grpc.PlateRecognitionStub, frames: Iterator[anpr_pb2.Frame], timeout: float = 120
) -> list[anpr_pb2.FrameResult]:
    return list(stub.StreamFrames(frames, timeout=timeout))


def collect(call) -> tuple[list[anpr_pb2.FrameResult], grpc.StatusCode]:
    """Every result of a streaming call, and the status it ended with."""
    results = []
    try:
        for result in call:
            results.append(result)
    except grpc.RpcError as error:
        return results, error.code()
    return results, grpc.StatusCode.OK


def process_group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (a dead tritonserver's backend stubs, say)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
