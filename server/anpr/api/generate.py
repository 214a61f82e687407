"""Regenerates the Python gRPC code from `proto/` (run `python -m anpr.api.generate`).

The generated files are committed; a test regenerates them into a temporary folder and fails on
any drift, so the .proto stays the single source of truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[3] / "proto"
PROTO_FILES = ("anpr/api/v1/anpr.proto",)
OUTPUT_ROOT = Path(__file__).resolve().parents[2]  # server/: files land in server/anpr/api/v1/


def generate(output_root: Path = OUTPUT_ROOT) -> list[Path]:
    """Runs protoc (from grpcio-tools) and returns the generated files."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={output_root}",
        f"--pyi_out={output_root}",
        f"--grpc_python_out={output_root}",
        *PROTO_FILES,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    return sorted((output_root / "anpr/api/v1").glob("anpr_pb2*"))


if __name__ == "__main__":
    for path in generate():
        print(path)
    sys.exit(0)
