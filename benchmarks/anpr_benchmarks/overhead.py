"""`anpr bench overhead`: what the server costs on top of the models, measured side by side.

(a) the full server (`anpr serve`, overdriven by the feed simulator) against (b) the bare backend
called directly with the same batch size and the same per-frame work (JPEG decode, letterbox,
detector, crops, recogniser, decoding), in one run: the server's throughput as a ratio of the bare
backend's. And the null model: the server with no models at all, whose processed frames per
CPU-second of the server process is the front end's own cost, with 1280x720 frames and with 160x90
ones (nearly no decoding: what remains is per-frame, not per-pixel, work), for both placements of the
pre-processing (`front_end`: decode and letterbox here; `triton`: headers checked here, bytes
forwarded) and both message shapes (one frame or a batch a message), beside the gRPC floor (the same
messages through a server that only receives and answers them: what any Python front end pays). And
JPEG decoding alone, straight to grey as served against colour then grey as before, side by side; and
what the null model leaves out, building each frame's Triton request.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tritonclient.grpc import InferInput
from tritonclient.grpc._utils import _get_inference_request  # what grpc.aio's infer() calls

from anpr.contract import DETECTOR, PIPELINE
from anpr.inference.backend import PlateBackend
from anpr.inference.backends import running_backend
from anpr.inference.pipeline import PipelineSettings, run_batch
from anpr.ingest.decode import decode_encoded
from anpr_benchmarks.common import RESULTS, pyplot, save_figure, write_result
from anpr_benchmarks.feeds import ServerProcess, run_load
from anpr_synth import generate_frame

SMALL_FRAME = (160, 90)
SMALL_FRAME_OFFERED_FPS = 3000.0


async def _bare(
    backend: PlateBackend, jpegs: list[bytes], batch_size: int, seconds: float, concurrency: int, workers: int
) -> float:
    settings = PipelineSettings()
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(workers)
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        k = offset
        while time.monotonic() < deadline:
            batch = [jpegs[(k + i) % len(jpegs)] for i in range(batch_size)]
            k += batch_size
            images = list(await asyncio.gather(*(loop.run_in_executor(executor, decode_encoded, j) for j in batch)))
            await run_batch(backend, images, settings, executor)
            done += batch_size

    started = time.monotonic()
    await asyncio.gather(*(worker(c * 7) for c in range(concurrency)))
    executor.shutdown()
    return done / (time.monotonic() - started)


async def bare_throughput(backend_name: str, jpegs: list[bytes], batch_size: int, seconds: float) -> float:
    async with running_backend(backend_name, PipelineSettings()) as backend:
        # The server's defaults: 2 batches in flight, 2 worker threads.
        return await _bare(backend, jpegs, batch_size, seconds, concurrency=2, workers=2)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _null_model(
    env: dict[str, str],
    cameras: int,
    offered_fps: float,
    seconds: float,
    jpegs: list[bytes],
    batched: bool = False,
    server: ServerProcess | None = None,
) -> dict:
    """The server with no models: processed frames per CPU-second of the server process, at the load
    offered (on `server` if given, else on a server of its own)."""
    own = server is None
    server = server or ServerProcess("null", env)
    try:
        cpu_before = _cpu_seconds(server.process.pid)
        fps = offered_fps / cameras
        load = run_load(
            server.port, server.metrics_port, server.process.pid, cameras, fps, seconds, jpegs, 2, None, batched
        )
        cpu = _cpu_seconds(server.process.pid) - cpu_before
    finally:
        if own:
            server.stop()
    processed = load["statuses"].get("PROCESSED", 0)
    return {
        "processed_fps": load["processed_fps"],
        "server_cpu_seconds": cpu,
        "frames_per_cpu_second": processed / cpu if cpu else None,
        "run": load,
    }


PLACEMENTS = ("front_end", "triton")
GRPC_FLOOR = "grpc_floor"  # not a placement: the same messages through a server that only answers them


def message_shapes(env: dict[str, str], cameras: int, seconds: float, jpegs: list[bytes], shares: float = 0.6) -> dict:
    """The front end's cost per frame for each placement of the pre-processing, with one frame a
    message (StreamFrames) and with every camera's frame of a tick in one message (StreamFrameBatches),
    side by side, one server per placement: each shape first overdriven to find its capacity, then
    measured at `shares` of it, where nothing is dropped (so the CPU time is divided by every frame
    offered, not by the survivors of an overload). Then the gRPC floor at the forwarding front end's loads."""
    placements: dict[str, dict] = {}
    for placement in PLACEMENTS:
        placed = {**env, "ANPR_PIPELINE__PREPROCESSING": placement}
        server = ServerProcess("null", placed)
        shapes = placements[placement] = {}
        try:
            for label, batched in (("single", False), ("batched", True)):
                capacity = _null_model(placed, cameras, 3000.0, min(seconds, 8), jpegs, batched, server)[
                    "processed_fps"
                ]
                measured = _null_model(placed, cameras, shares * capacity, seconds, jpegs, batched, server)
                shapes[label] = {"capacity_fps": capacity, "offered_fps": shares * capacity, **measured}
        finally:
            server.stop()
    # What gRPC alone costs at the load the forwarding front end was measured at (anpr_benchmarks.grpc_floor).
    floor = ServerProcess("", module="anpr_benchmarks.grpc_floor")
    placements[GRPC_FLOOR] = {}
    try:
        for label, batched in (("single", False), ("batched", True)):
            offered = placements["triton"][label]["offered_fps"]
            measured = _null_model(env, cameras, offered, seconds, jpegs, batched, floor)
            placements[GRPC_FLOOR][label] = {"capacity_fps": None, "offered_fps": offered, **measured}
    finally:
        floor.stop()
    return placements


def decode_costs(jpegs: list[bytes], rounds: int = 5) -> dict:
    """Milliseconds a frame to decode these JPEGs as the server does (straight to grey: the JPEG's own
    luminance) and as it did before version 2 (colour, then grey), one thread, interleaved rounds."""
    ways = {
        "luminance": decode_encoded,
        "colour_then_grey": lambda data: cv2.cvtColor(
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY
        ),
    }
    spent = dict.fromkeys(ways, 0.0)
    for _ in range(rounds):
        for way, decode in ways.items():
            started = time.perf_counter()
            for data in jpegs:
                decode(data)
            spent[way] += time.perf_counter() - started
    costs = {way: 1000 * seconds / (rounds * len(jpegs)) for way, seconds in spent.items()}
    return {**costs, "speedup": costs["colour_then_grey"] / costs["luminance"]}


def _request_bytes(name: str, batch: np.ndarray, dtype: str) -> bytes:
    """The serialised gRPC request tritonclient's `infer` sends for one input (its own builder)."""
    tensor = InferInput(name, list(batch.shape), dtype)
    tensor.set_data_from_numpy(batch)
    request = _get_inference_request(name, [tensor], "", "", None, 0, False, False, 0, None, None)
    return request.SerializeToString()


def forwarding_costs(jpegs: list[bytes], batch_size: int = 64, rounds: int = 21) -> dict:
    """Microseconds a frame of the front end's Python to build and serialise its Triton request, one
    thread, the median of interleaved rounds: what the null model leaves out (it sends nothing). `front_end`: the
    detector's letterboxed uint8 input (the recogniser's crops are 4 KB a plate, not counted);
    `triton`: the JPEG bytes. gRPC's own sending, on its threads, comes on top of either."""
    frames = [jpegs[k % len(jpegs)] for k in range(batch_size)]
    inputs = {
        "front_end": (DETECTOR.input.name, np.zeros((batch_size, *DETECTOR.input.dims), np.uint8), "UINT8"),
        "triton": (PIPELINE.input, np.array([[frame] for frame in frames], dtype=np.object_), "BYTES"),
    }
    spent: dict[str, list[float]] = {placement: [] for placement in inputs}
    sizes = {placement: len(_request_bytes(*args)) / batch_size for placement, args in inputs.items()}  # warm-up
    for _ in range(rounds):
        for placement, args in inputs.items():
            started = time.process_time()
            _request_bytes(*args)
            spent[placement].append(time.process_time() - started)
    return {
        placement: {
            "us_per_frame": 1e6 * float(np.median(spent[placement])) / batch_size,
            "bytes_per_frame": sizes[placement],
        }
        for placement in inputs
    }


def _downscaled(jpeg: bytes, size: tuple[int, int]) -> bytes:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    ok, encoded = cv2.imencode(".jpg", cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    assert ok
    return encoded.tobytes()


def run(
    backend: str,
    batch_size: int,
    seconds: float,
    cameras: int,
    out: Path = RESULTS,
    name: str = "overhead",
    frames: int = 16,
    gpu_batch_ms: float = 7.0,
) -> dict:
    jpegs = [generate_frame(5000, k, frame_size=(1280, 720)).jpeg for k in range(frames)]
    bare = asyncio.run(bare_throughput(backend, jpegs, batch_size, seconds))
    env = {"ANPR_SCHEDULER__MAX_BATCH": str(batch_size), "ANPR_SCHEDULER__CAMERA_QUEUE_DEPTH": "2"}
    server = ServerProcess(backend, env)
    try:  # overdrive at twice the bare backend's rate so the server is never short of frames
        full = run_load(
            server.port, server.metrics_port, server.process.pid, cameras, 2 * bare / cameras, seconds, jpegs, workers=2
        )
    finally:
        server.stop()
    null = _null_model(env, cameras, max(4 * bare, 400), seconds, jpegs)
    # The same with 160x90 frames: the front end's cost per frame with almost no pixels to decode and
    # scale (gRPC, validation, scheduling, answering, filling the 384x640 detector input).
    small = [_downscaled(jpeg, SMALL_FRAME) for jpeg in jpegs]
    null_small = _null_model(env, cameras, SMALL_FRAME_OFFERED_FPS, seconds, small)
    shapes = {
        "1280x720": message_shapes(env, cameras, seconds, jpegs),
        "160x90": message_shapes(env, cameras, seconds, small),
    }
    if gpu_batch_ms:
        # An instant null model answers each frame or two as it arrives: per-batch work dominates. In
        # front of a GPU a batch waits its batch time, and the next one fills meanwhile.
        gpu_like = {**env, "ANPR_NULL_BATCH_MS": str(gpu_batch_ms), "ANPR_SCHEDULER__MAX_BATCH": "64"}
        shapes[f"1280x720, {gpu_batch_ms:g} ms a batch"] = message_shapes(gpu_like, cameras, seconds, jpegs)
    payload = {
        "backend": backend,
        "batch_size": batch_size,
        "seconds": seconds,
        "cameras": cameras,
        "bare_backend_fps": bare,
        "server_fps": full["processed_fps"],
        "server_vs_bare": full["processed_fps"] / bare,
        "server_run": full,
        "null_model": null,
        "null_model_small_frames": {**null_small, "frame_size": list(SMALL_FRAME)},
        "message_shapes": shapes,
        "gpu_batch_ms": gpu_batch_ms,
        "decode_ms_per_frame": decode_costs(jpegs),
        "forwarding_per_frame": forwarding_costs(jpegs),
    }
    write_result(name, payload, out)
    _plot(payload, out / f"{name}.png")
    return payload


def _plot(payload: dict, path: Path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1, 2.5]})
    axes[0].bar(
        ["bare backend", "full server"], [payload["bare_backend_fps"], payload["server_fps"]], color=["#888", "#1f77b4"]
    )
    axes[0].set_ylabel("frames/s")
    axes[0].set_title(f"{payload['backend']}, batch {payload['batch_size']}: ratio {payload['server_vs_bare']:.2f}")
    labels, per_core, colours = [], [], []
    for size, placements in payload.get("message_shapes", {}).items():
        for placement, shapes in placements.items():
            for shape, measured in shapes.items():
                labels.append(f"{size.replace(', ', ' ')} {placement} {shape}")
                per_core.append(measured["frames_per_cpu_second"] or 0)
                colours.append({"front_end": "#2ca02c", "triton": "#1f77b4", GRPC_FLOOR: "#999999"}[placement])
    axes[1].bar(labels, per_core, color=colours)
    axes[1].axhline(10_000, color="red", linestyle="--", label="target 10,000")
    axes[1].set_ylabel("frames per CPU-second of the server")
    axes[1].set_title("front end's own cost (null model, no drops); grey: the gRPC floor, answering only")
    axes[1].tick_params(axis="x", labelsize=7, labelrotation=60)
    axes[1].legend()
    save_figure(figure, path)


def format_table(payload: dict) -> str:
    lines = [
        f"null model, {label}: {null['processed_fps']:.1f} frames/s using {null['server_cpu_seconds']:.1f} CPU-s = "
        f"{null['frames_per_cpu_second'] or 0:.0f} frames per CPU-second (target >= 10,000)"
        for label, null in (("1280x720", payload["null_model"]), ("160x90", payload["null_model_small_frames"]))
    ]
    for size, placements in payload.get("message_shapes", {}).items():
        for placement, shapes in placements.items():
            for shape, m in shapes.items():
                dropped = 100 * m["run"]["drop_ratio"]
                if placement == GRPC_FLOOR:
                    lines.append(
                        f"gRPC floor (answering only), {size}, {shape} messages at {m['offered_fps']:.0f} frames/s "
                        f"(dropped {dropped:.1f}%): {m['frames_per_cpu_second'] or 0:.0f} frames per CPU-second"
                    )
                    continue
                lines.append(
                    f"null model, {size}, pre-processing {placement}, {shape} messages at {m['offered_fps']:.0f} "
                    f"frames/s (0.6x its capacity {m['capacity_fps']:.0f}; dropped {dropped:.1f}%): "
                    f"{m['frames_per_cpu_second'] or 0:.0f} frames per CPU-second"
                )
    decode = payload["decode_ms_per_frame"]
    return "\n".join(
        [
            f"bare backend ({payload['backend']}, batch {payload['batch_size']}): "
            f"{payload['bare_backend_fps']:.1f} frames/s",
            f"full server, same batch size:  {payload['server_fps']:.1f} frames/s",
            f"server / bare:                 {payload['server_vs_bare']:.3f} (target >= 0.85)",
            *lines,
            f"JPEG decode, 1280x720: {decode['luminance']:.2f} ms a frame to grey (luminance) vs "
            f"{decode['colour_then_grey']:.2f} colour then grey: {decode['speedup']:.2f}x",
            *(
                f"Triton request, 1280x720, pre-processing {placement} (not in the null model): "
                f"{cost['us_per_frame']:.1f} us a frame to build, {cost['bytes_per_frame'] / 1000:.0f} KB"
                for placement, cost in payload.get("forwarding_per_frame", {}).items()
            ),
        ]
    )
