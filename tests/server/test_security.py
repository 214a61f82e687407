"""Transport security and authorisation through the real server: TLS, mutual TLS with real
certificates (a test CA made by trustme), bearer tokens, the access policy, and every refusal."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from anpr.api.v1 import anpr_pb2, anpr_pb2_grpc
from anpr.config import Settings
from anpr.security import SecuritySettings
from tests.serving import RunningServer, collect, frame, status_name
from tests.tls import CertificateAuthority

POLICY = """
[identity."ingest-north"]
rpcs = ["StreamFrames", "Recognize"]
camera_prefixes = ["north/"]

[identity."ops"]
rpcs = ["StreamFrames", "Recognize", "GetStats", "Reflection"]
camera_prefixes = [""]
"""
TOKEN = "north-ingest-token-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory, "ca")
    other = CertificateAuthority(directory, "other")
    (directory / "policy.toml").write_text(POLICY)
    (directory / "tokens").write_text(f"ingest-north {TOKEN}\n")
    return {
        "dir": directory,
        "ca": ca,
        "other": other,
        "server": ca.server_files(),
        "north": ca.issue("ingest-north"),
        "ops": ca.issue("ops"),
        "stranger": ca.issue("stranger"),
        "north_other_ca": other.issue("ingest-north"),
    }


def _server(pki: dict, **security) -> RunningServer:
    cert, key = pki["server"]
    settings = Settings(
        port=0,
        metrics_port=0,
        health_port=0,
        backend="null",
        security=SecuritySettings(tls_cert_file=cert, tls_key_file=key, **security),
    )
    server = RunningServer(settings)
    server.wait_ready(30)
    return server


@pytest.fixture(scope="module")
def mtls_server(pki: dict):
    server = _server(
        pki, client_ca_file=pki["ca"].ca_file, policy_file=pki["dir"] / "policy.toml", reload_interval_s=0.1
    )
    yield server
    server.stop()


def _code(call) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _recognize(channel: grpc.Channel, camera_id: str, jpeg: bytes, metadata=None) -> grpc.StatusCode:
    stub = anpr_pb2_grpc.PlateRecognitionStub(channel)
    request = anpr_pb2.RecognizeRequest(frame=frame(camera_id, 1, jpeg))
    return _code(lambda: stub.Recognize(request, timeout=10, metadata=metadata))


def test_mutual_tls_refuses_clients_without_a_certificate_of_its_ca(mtls_server, pki, camera_frames) -> None:
    jpeg, port = camera_frames[0].jpeg, mtls_server.port
    outcomes = {
        "certificate of the CA": _recognize(pki["ca"].channel(port, pki["north"]), "north/cam-1", jpeg),
        "no certificate": _recognize(pki["ca"].channel(port), "north/cam-1", jpeg),
        "certificate of another CA": _recognize(pki["ca"].channel(port, pki["north_other_ca"]), "north/cam-1", jpeg),
        "plaintext": _recognize(grpc.insecure_channel(f"127.0.0.1:{port}"), "north/cam-1", jpeg),
        "known CA, no grant": _recognize(pki["ca"].channel(port, pki["stranger"]), "north/cam-1", jpeg),
    }
    print("mutual TLS:", {name: code.name for name, code in outcomes.items()})
    assert outcomes == {
        "certificate of the CA": grpc.StatusCode.OK,
        "no certificate": grpc.StatusCode.UNAVAILABLE,  # the handshake fails: no call is made
        "certificate of another CA": grpc.StatusCode.UNAVAILABLE,
        "plaintext": grpc.StatusCode.UNAVAILABLE,
        "known CA, no grant": grpc.StatusCode.UNAUTHENTICATED,
    }


def test_a_camera_outside_the_clients_prefixes_ends_its_stream_permission_denied(
    mtls_server, pki, camera_frames
) -> None:
    """A spoofer cannot submit for another site's camera: the frames before it are answered, the stream
    then ends PERMISSION_DENIED saying what was not read, and the other camera's stats stay clean."""
    jpeg = camera_frames[0].jpeg
    channel = pki["ca"].channel(mtls_server.port, pki["north"])
    frames = [frame("north/cam-1", k, jpeg) for k in range(5)] + [frame("south/cam-9", 5, jpeg)]
    frames += [frame("north/cam-1", k, jpeg) for k in range(6, 10)]
    results, code = collect(anpr_pb2_grpc.PlateRecognitionStub(channel).StreamFrames(iter(frames), timeout=30))
    print(f"frames sent {len(frames)}, answered {len(results)}, ended {code.name}")
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert sorted(r.sequence for r in results) == [0, 1, 2, 3, 4] and {r.camera_id for r in results} == {"north/cam-1"}
    assert _recognize(channel, "south/cam-9", jpeg) == grpc.StatusCode.PERMISSION_DENIED
    ops = anpr_pb2_grpc.PlateRecognitionStub(pki["ca"].channel(mtls_server.port, pki["ops"]))
    assert "south/cam-9" not in {c.camera_id for c in ops.GetStats(anpr_pb2.GetStatsRequest(), timeout=10).cameras}


def test_stats_and_reflection_are_for_operators_only(mtls_server, pki) -> None:
    def stats(identity: str) -> grpc.StatusCode:
        stub = anpr_pb2_grpc.PlateRecognitionStub(pki["ca"].channel(mtls_server.port, pki[identity]))
        return _code(lambda: stub.GetStats(anpr_pb2.GetStatsRequest(), timeout=10))

    def reflection(identity: str) -> grpc.StatusCode:
        stub = reflection_pb2_grpc.ServerReflectionStub(pki["ca"].channel(mtls_server.port, pki[identity]))
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        return _code(lambda: list(stub.ServerReflectionInfo(iter([request]), timeout=10)))

    outcomes = {f"{rpc.__name__} as {who}": rpc(who) for rpc in (stats, reflection) for who in ("north", "ops")}
    print("operator RPCs:", {name: code.name for name, code in outcomes.items()})
    assert outcomes == {
        "stats as north": grpc.StatusCode.PERMISSION_DENIED,
        "stats as ops": grpc.StatusCode.OK,
        "reflection as north": grpc.StatusCode.PERMISSION_DENIED,
        "reflection as ops": grpc.StatusCode.OK,
    }


def test_health_needs_no_identity_and_has_a_plaintext_port_for_probes(mtls_server, pki) -> None:
    request = health_pb2.HealthCheckRequest()
    plain = grpc.insecure_channel(f"127.0.0.1:{mtls_server.server.health_port}")
    assert health_pb2_grpc.HealthStub(plain).Check(request, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    # only health there: the API is not reachable in plaintext through it
    stub = anpr_pb2_grpc.PlateRecognitionStub(plain)
    assert _code(lambda: stub.GetStats(anpr_pb2.GetStatsRequest(), timeout=5)) == grpc.StatusCode.UNIMPLEMENTED


def test_a_changed_policy_takes_effect_without_a_restart(mtls_server, pki, camera_frames) -> None:
    policy = pki["dir"] / "policy.toml"
    channel = pki["ca"].channel(mtls_server.port, pki["north"])
    assert _recognize(channel, "east/cam-2", camera_frames[0].jpeg) == grpc.StatusCode.PERMISSION_DENIED
    try:
        policy.write_text(POLICY.replace('camera_prefixes = ["north/"]', 'camera_prefixes = ["north/", "east/"]'))
        deadline = time.monotonic() + 10
        while _recognize(channel, "east/cam-2", camera_frames[0].jpeg) != grpc.StatusCode.OK:
            assert time.monotonic() < deadline, "the new policy was never used"
            time.sleep(0.1)
    finally:
        policy.write_text(POLICY)


def test_bearer_tokens_identify_clients_over_tls(pki, camera_frames) -> None:
    server = _server(pki, tokens_file=pki["dir"] / "tokens", policy_file=pki["dir"] / "policy.toml")
    try:
        channel = pki["ca"].channel(server.port)
        jpeg = camera_frames[0].jpeg
        outcomes = {
            "token": _recognize(channel, "north/cam-1", jpeg, (("authorization", f"Bearer {TOKEN}"),)),
            "wrong token": _recognize(channel, "north/cam-1", jpeg, (("authorization", f"Bearer {TOKEN}x"),)),
            "no token": _recognize(channel, "north/cam-1", jpeg),
            "token, other camera": _recognize(channel, "south/c", jpeg, (("authorization", f"Bearer {TOKEN}"),)),
        }
    finally:
        server.stop()
    print("tokens:", {name: code.name for name, code in outcomes.items()})
    assert outcomes == {
        "token": grpc.StatusCode.OK,
        "wrong token": grpc.StatusCode.UNAUTHENTICATED,
        "no token": grpc.StatusCode.UNAUTHENTICATED,
        "token, other camera": grpc.StatusCode.PERMISSION_DENIED,
    }


def test_a_renewed_server_certificate_is_used_for_new_connections(pki, camera_frames, tmp_path: Path) -> None:
    """cert-manager rewrites the mounted files; new handshakes use them, no restart."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(pki["server"][0].read_bytes())
    key.write_bytes(pki["server"][1].read_bytes())
    server = RunningServer(
        Settings(
            port=0, metrics_port=0, backend="null", security=SecuritySettings(tls_cert_file=cert, tls_key_file=key)
        )
    )
    try:
        server.wait_ready(30)
        jpeg = camera_frames[0].jpeg
        assert _recognize(pki["ca"].channel(server.port), "c", jpeg) == grpc.StatusCode.OK
        renewed = CertificateAuthority(tmp_path / "renewed", "renewed")
        new_cert, new_key = renewed.server_files()
        key.write_bytes(new_key.read_bytes())
        cert.write_bytes(new_cert.read_bytes())
        assert _recognize(renewed.channel(server.port), "c", jpeg) == grpc.StatusCode.OK
        assert _recognize(pki["ca"].channel(server.port), "c", jpeg) == grpc.StatusCode.UNAVAILABLE
        assert server.server.credentials is not None and server.server.credentials.reloads == 1
    finally:
        server.stop()


def test_metrics_are_served_over_tls_and_can_require_client_certificates(pki) -> None:
    server = _server(pki, metrics_client_ca_file=pki["ca"].ca_file)
    url = f"https://localhost:{server.server.metrics_port}/metrics"
    try:
        trusting = ssl.create_default_context(cafile=str(pki["ca"].ca_file))
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            urllib.request.urlopen(url, context=trusting, timeout=5).read()  # no client certificate
        trusting.load_cert_chain(*pki["ops"])
        body = urllib.request.urlopen(url, context=trusting, timeout=5).read().decode()
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(url.replace("https", "http"), timeout=5).read()
    finally:
        server.stop()
    assert "anpr_frames_received_total" in body


def test_results_of_an_authorised_stream_are_unchanged(mtls_server, pki, camera_frames) -> None:
    channel = pki["ca"].channel(mtls_server.port, pki["north"])
    frames = [frame("north/cam-2", k, camera_frames[k].jpeg) for k in range(4)]
    results, code = collect(anpr_pb2_grpc.PlateRecognitionStub(channel).StreamFrames(iter(frames), timeout=30))
    assert code == grpc.StatusCode.OK and len(results) == 4
    assert {status_name(r) for r in results} <= {"PROCESSED", "DROPPED_STALE"}


def test_anpr_stats_speaks_mutual_tls_and_reports_a_refusal(mtls_server, pki, capsys) -> None:
    from anpr.cli import main

    base = ["stats", "--address", f"localhost:{mtls_server.port}", "--tls-ca", str(pki["ca"].ca_file)]
    ops, north = pki["ops"], pki["north"]
    assert main([*base, "--tls-cert", str(ops[0]), "--tls-key", str(ops[1])]) == 0
    assert "queued" in capsys.readouterr().out
    assert main([*base, "--tls-cert", str(north[0]), "--tls-key", str(north[1])]) == 2
    assert "PERMISSION_DENIED" in capsys.readouterr().err
