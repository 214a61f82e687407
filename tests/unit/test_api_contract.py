"""The .proto is the contract: generated code must match it exactly."""

from __future__ import annotations

from pathlib import Path

from anpr.api.generate import OUTPUT_ROOT, generate


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    fresh = {p.name: p.read_text() for p in generate(tmp_path)}
    committed = {p.name: p.read_text() for p in sorted((OUTPUT_ROOT / "anpr/api/v1").glob("anpr_pb2*"))}
    assert fresh.keys() == committed.keys() == {"anpr_pb2.py", "anpr_pb2.pyi", "anpr_pb2_grpc.py"}
    for name, text in fresh.items():
        assert committed[name] == text, f"{name} is stale: run `python -m anpr.api.generate`"


def test_domain_statuses_are_the_api_statuses() -> None:
    """The server speaks FrameStatus internally; on the wire it is anpr.v1.FrameStatus, number for number."""
    from anpr.api.v1 import anpr_pb2
    from anpr.domain import FrameStatus

    wire = {name: number for name, number in anpr_pb2.FrameStatus.items() if number}
    assert wire == {status.name: status.value for status in FrameStatus}


def test_vehicle_enums_have_their_api_counterparts() -> None:
    """Capture records' directions and hits' match kinds are sent by name: each domain value has one."""
    from anpr.api.v1 import anpr_pb2
    from anpr.vehicles.records import Direction, MatchKind

    assert {f"DIRECTION_{d.name}" for d in Direction} == set(anpr_pb2.Direction.keys())
    assert {f"MATCH_{m.name}" for m in MatchKind} == set(anpr_pb2.MatchKind.keys()) - {"MATCH_KIND_UNSPECIFIED"}
