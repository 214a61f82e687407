"""The README's Python client example, run as written against a live server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from anpr.config import Settings
from anpr.scheduling import SchedulerPolicy
from tests.repo import ROOT
from tests.serving import RunningServer

README = ROOT / "README.md"


def test_readme_client_example_runs(camera_frames, tmp_path: Path) -> None:
    block = re.search(r"<!-- client-example -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README lost its client example"
    script = tmp_path / "client.py"
    script.write_text(block.group(1))
    paths = []
    for k, synthetic in enumerate(camera_frames[:3]):
        path = tmp_path / f"frame{k}.jpg"
        path.write_bytes(synthetic.jpeg)
        paths.append(str(path))
    # Deep enough per-camera queue that none of the three frames is superseded by the next.
    server = RunningServer(
        Settings(port=0, metrics_port=0, backend="onnxruntime", scheduler=SchedulerPolicy(camera_queue_depth=8))
    )
    try:
        server.wait_ready(60)
        out = subprocess.run(
            [sys.executable, str(script), f"127.0.0.1:{server.port}", *paths],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.splitlines()
    finally:
        server.stop()
    # Results come in no guaranteed order (batches run concurrently); each frame gets one.
    assert sorted(line.split()[:3] for line in out) == [["gate-3", str(k), "PROCESSED"] for k in range(3)]
