"""The stated memory bound (SECURITY.md) holds against clients that write faster than the server reads
and never read their results: measured on a real `anpr serve` process's resident set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

from anpr.api.v1 import anpr_pb2_grpc
from anpr.config import load_settings
from anpr.server import memory_bound_bytes
from tests.serving import frame

MiB = 1024 * 1024
STREAMS = 40
SLOW = 4  # of them read a result a second; the others never read one
FRAME_BYTES = MiB
SLACK = 150 * MiB  # allocator fragmentation, gRPC's and Python's own structures, results not yet read
LIMITS = {
    "ANPR_MAX_STREAMS": str(STREAMS),
    "ANPR_DECODE__MAX_ENCODED_BYTES": str(FRAME_BYTES + 64 * 1024),
    "ANPR_DECODE__MAX_RAW_BYTES": str(FRAME_BYTES),
    "ANPR_DECODE__MAX_PIXELS": str(1280 * 720),
    "ANPR_SCHEDULER__MAX_QUEUED_BYTES": str(32 * MiB),
}


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def _padded_jpeg(jpeg: bytes, size: int) -> bytes:
    """A valid JPEG of about `size` bytes: comment segments of 64 KiB after its start marker."""
    segments = (size - len(jpeg)) // 65537
    return jpeg[:2] + (b"\xff\xfe\xff\xff" + b"\0" * 65533) * segments + jpeg[2:]


def test_rss_stays_under_the_stated_bound_with_many_streams_that_read_slowly_or_never(
    camera_frames, tmp_path: Path, monkeypatch
) -> None:
    """With gRPC's BDP probing on (before), 40 such streams took this server from 134 MiB to 2.5 GiB in
    15 s; the bound with these limits is about 370 MiB."""
    log = tmp_path / "serve.log"
    environment = dict(os.environ, **LIMITS)
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    stated = memory_bound_bytes(load_settings())
    process = subprocess.Popen(
        [sys.executable, "-m", "anpr.cli", "serve", "--backend", "null", "--port", "0", "--metrics-port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        env=environment,
    )
    stop = threading.Event()
    sent = [0] * STREAMS
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"listening on [\d.]+:(\d+)", log.read_text())):
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        while "models ready: SERVING" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        channel = grpc.insecure_channel(f"127.0.0.1:{found.group(1)}")
        big = _padded_jpeg(camera_frames[0].jpeg, FRAME_BYTES)
        baseline = _rss(process.pid)

        def frames(stream: int):
            while not stop.is_set():
                sent[stream] += 1
                yield frame(f"cam-{stream}", sent[stream], big)

        calls = [anpr_pb2_grpc.PlateRecognitionStub(channel).StreamFrames(frames(k)) for k in range(STREAMS)]
        slow_reads = [0]

        def read_slowly(call) -> None:  # a slow client: one result a second
            try:
                for _ in call:
                    slow_reads[0] += 1
                    if stop.wait(1.0):
                        return
            except grpc.RpcError:  # cancelled at the end of the test
                pass

        readers = [threading.Thread(target=read_slowly, args=(call,), daemon=True) for call in calls[-SLOW:]]
        for reader in readers:
            reader.start()
        peak, started = baseline, time.monotonic()
        while time.monotonic() - started < 15:
            peak = max(peak, _rss(process.pid))
            time.sleep(0.2)
        bound = baseline + stated + SLACK
        print(
            f"streams {STREAMS} ({SLOW} reading a result a second, {slow_reads[0]} read), frames sent {sum(sent)} "
            f"({sum(sent) * FRAME_BYTES / 2**30:.1f} GiB); server RSS {baseline / MiB:.0f} -> peak {peak / MiB:.0f} "
            f"MiB, stated bound {bound / MiB:.0f} MiB"
        )
        assert sum(sent) > 2 * STREAMS  # they really wrote
        assert peak < bound
    finally:
        stop.set()
        for call in locals().get("calls", []):
            call.cancel()
        process.terminate()
        process.wait(30)
