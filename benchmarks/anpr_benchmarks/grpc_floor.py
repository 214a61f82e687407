"""The gRPC floor: what Python gRPC alone costs a frame, for `anpr bench overhead` to measure beside the
front end.

A server of the anpr.v1 streaming RPCs that does the least any Python front end must: take each
frame's bytes out of its message (as forwarding them needs) and answer it PROCESSED, with no
validation, scheduling, model call, metrics or stats. Same grpcio, transport options, protobuf runtime,
messages and load as the real server, so the front end's cost over this one is what our own Python
adds. Run as `python -m anpr_benchmarks.grpc_floor`; it prints the same start-up lines as `anpr serve`
so `ServerProcess` can drive it, and serves an empty /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
from prometheus_client import CollectorRegistry, start_http_server

from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.config import Settings
from anpr.server import transport_options

log = logging.getLogger("anpr_benchmarks.grpc_floor")


def _answer(frame: anpr_pb2.Frame) -> anpr_pb2.FrameResult:
    if not frame.encoded:  # the bytes, copied out of the message as a front end forwarding them must
        return anpr_pb2.FrameResult(camera_id=frame.camera_id, sequence=frame.sequence, status=anpr_pb2.INVALID)
    return anpr_pb2.FrameResult(camera_id=frame.camera_id, sequence=frame.sequence, status=anpr_pb2.PROCESSED)


class FloorServicer(anpr_pb2_grpc.PlateRecognitionServicer):
    async def StreamFrames(
        self, request_iterator: AsyncIterator[anpr_pb2.Frame], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[anpr_pb2.FrameResult]:
        async for frame in request_iterator:
            yield _answer(frame)

    async def StreamFrameBatches(
        self, request_iterator: AsyncIterator[anpr_pb2.FrameBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[anpr_pb2.FrameResultBatch]:
        async for batch in request_iterator:
            yield anpr_pb2.FrameResultBatch(results=[_answer(frame) for frame in batch.frames])


async def serve() -> None:
    server = grpc.aio.server(options=transport_options(Settings()))  # the real server's transport bounds
    anpr_pb2_grpc.add_PlateRecognitionServicer_to_server(FloorServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    http, _thread = start_http_server(0, addr="127.0.0.1", registry=CollectorRegistry())
    await server.start()
    log.info("anpr.v1 listening on 127.0.0.1:%d (gRPC floor, metrics on 127.0.0.1:%d/metrics)", port, http.server_port)
    log.info("models ready: SERVING")
    await server.wait_for_termination()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
