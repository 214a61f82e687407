"""`anpr demo` (`make demo`): a local Triton and the gRPC server on the CPU, synthetic camera feeds
replayed through one StreamFrames stream for ~20 s, then a table of reads and the throughput; beside
them two cameras see a vehicle pass each, one of them on a demo hotlist: their capture records and
the hit, from SubscribeEvents.

Plate text is printed here because the operator ran the demo on synthetic plates to see it.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
import numpy as np

from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.config import load_settings
from anpr.domain import FrameStatus
from anpr.server import AnprServer
from anpr_synth import SyntheticFrame, generate_frame
from anpr_synth.passes import SyntheticPass, generate_pass

PASS_CAMERAS = ("gate-north", "gate-south")


def _feeds(cameras: int, frames_per_camera: int) -> dict[str, list[SyntheticFrame]]:
    return {
        f"camera-{c:02d}": [generate_frame(9000 + c, i, frame_size=(1280, 720)) for i in range(frames_per_camera)]
        for c in range(cameras)
    }


async def _replay(
    port: int, feeds: dict[str, list], passes: dict[str, SyntheticPass], fps: float, seconds: float
) -> tuple[list, dict, float]:
    """Every camera's frames, a round per 1/fps s; a vehicle pass's frames carry capture times 0.1 s
    apart (a 10 frames/s camera) however fast the demo sends them."""
    sent: dict[tuple[str, int], object] = {}
    started = time.monotonic()
    origin = time.time()

    async def frames():
        sequence = 0
        tick = 1.0 / fps
        while time.monotonic() - started < seconds:
            round_start = time.monotonic()
            for camera, frames_of_camera in feeds.items():
                synthetic = frames_of_camera[sequence % len(frames_of_camera)]
                sent[(camera, sequence)] = synthetic
                yield anpr_pb2.Frame(camera_id=camera, sequence=sequence, encoded=synthetic.jpeg)
            for camera, vehicle in passes.items():
                if sequence < len(vehicle.frames):
                    stamp = anpr_pb2.Frame().captured_at
                    stamp.FromNanoseconds(int((origin + sequence * vehicle.FRAME_INTERVAL_S) * 1e9))
                    sent[(camera, sequence)] = vehicle.frames[sequence]
                    yield anpr_pb2.Frame(
                        camera_id=camera, sequence=sequence, captured_at=stamp, encoded=vehicle.frames[sequence].jpeg
                    )
            sequence += 1
            await asyncio.sleep(max(0.0, tick - (time.monotonic() - round_start)))

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = anpr_pb2_grpc.PlateRecognitionStub(channel)
        results = [result async for result in stub.StreamFrames(frames())]
    return results, sent, time.monotonic() - started


async def _events(port: int, into: list) -> None:
    """Capture records and hits of the pass cameras, until the server ends the subscription."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = anpr_pb2.SubscribeEventsRequest(camera_prefixes=["gate-"])
        async for event in anpr_pb2_grpc.PlateRecognitionStub(channel).SubscribeEvents(request):
            into.append(event)


def _print_events(events: list, passes: dict[str, SyntheticPass]) -> None:
    print(f"\n{'vehicle pass':<12} {'record':<10} {'truth':<10} {'frames':>6} {'conf':>5}  direction")
    for event in events:
        if event.WhichOneof("event") == "capture":
            record = event.capture
            truth = passes[record.camera_id]
            direction = anpr_pb2.Direction.Name(record.direction).removeprefix("DIRECTION_").lower()
            print(
                f"{record.camera_id:<12} {record.text:<10} {truth.text:<10} {record.frames:>6} "
                f"{record.confidence:5.2f}  {direction} (truth: {'towards' if truth.towards else 'away'})"
            )
    for event in events:
        if event.WhichOneof("event") == "hit":
            hit = event.hit
            print(
                f"HOTLIST HIT on {hit.camera_id} frame {hit.sequence}: read {hit.read.text} matched "
                f"{hit.entry.plate} ({hit.entry.category}, priority {hit.entry.priority}, "
                f"{anpr_pb2.MatchKind.Name(hit.match).removeprefix('MATCH_').lower()})"
            )


def _print_report(results: list, sent: dict, seconds: float, rows: int) -> None:
    status = Counter(anpr_pb2.FrameStatus.Name(r.status) for r in results)
    processed = [r for r in results if r.status == FrameStatus.PROCESSED.value]
    print(f"\n{'camera':<10} {'seq':>4}  {'read':<10} {'conf':>5}  {'format':<11} {'truth':<10} match")
    shown = 0
    exact = plates = 0
    for result in processed:
        truth = {p.text for p in sent[(result.camera_id, result.sequence)].plates}
        plates += len(truth)
        exact += len(truth & {r.text for r in result.reads})
        for read in result.reads:
            if shown < rows:
                match = "yes" if read.text in truth else "NO"
                print(
                    f"{result.camera_id:<10} {result.sequence:>4}  {read.text:<10} {read.confidence:5.2f}  "
                    f"{read.plate_format or '-':<11} {'/'.join(sorted(truth)) or '-':<10} {match}"
                )
                shown += 1
    latencies = np.array([r.timings.total_ms for r in processed]) if processed else np.zeros(1)
    print(
        f"\nframes sent {len(sent)}, answered {len(results)}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(status.items()))
    )
    print(
        f"processed {len(processed) / seconds:.1f} frames/s over {seconds:.1f} s; latency from receipt to result "
        f"p50 {np.percentile(latencies, 50):.0f} ms, p95 {np.percentile(latencies, 95):.0f} ms, "
        f"p99 {np.percentile(latencies, 99):.0f} ms"
    )
    print(f"plates in processed frames read exactly: {exact}/{plates}" + (f" ({exact / plates:.1%})" if plates else ""))


async def run_demo(cameras: int, fps: float, seconds: float, backend: str, rows: int) -> int:
    logging.getLogger().setLevel(logging.WARNING)  # the table is the output, not the server's log
    print(f"drawing {cameras} synthetic camera feeds and {len(PASS_CAMERAS)} vehicle passes ...")
    feeds = _feeds(cameras, frames_per_camera=8)
    passes = {camera: generate_pass(9100, k, frame_count=10, misread=True) for k, camera in enumerate(PASS_CAMERAS)}
    with tempfile.TemporaryDirectory() as scratch:
        hotlist = Path(scratch) / "hotlist.csv"  # a demo hotlist: the first vehicle is "stolen"
        hotlist.write_text(f"plate,category,priority,note\n{passes[PASS_CAMERAS[0]].text},stolen,1,demo\n")
        settings = load_settings(port=0, metrics_port=0, backend=backend, hotlist={"file": hotlist})
        server = AnprServer(settings)
        print(
            f"starting the gRPC server with the {backend} backend"
            + (" (and a local tritonserver)" if backend == "triton" and not settings.triton_url else "")
            + " ..."
        )
        port = await server.start()
        events: list = []
        listener: asyncio.Task[None] | None = None
        try:
            await server.wait_until_ready(settings.triton_ready_timeout_s)
            listener = asyncio.create_task(_events(port, events))
            print(f"ready on port {port}; replaying {cameras} cameras x {fps:g} frames/s for {seconds:g} s ...")
            results, sent, elapsed = await _replay(port, feeds, passes, fps, seconds)
        finally:
            await server.stop()  # the passes still open become capture records, delivered before it ends
        if listener is not None:
            await asyncio.wait_for(listener, 10)
    _print_report(results, sent, elapsed, rows)
    _print_events(events, passes)
    print("server drained and stopped")
    return 0 if len(results) == len(sent) else 1
