"""The access policy: identities from certificates or tokens, grants of RPCs and camera prefixes,
files re-read when they change (a fake call context stands in for gRPC's)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from anpr.security import AccessControl, Rpc, SecuritySettings
from anpr.security.access import AccessFileError, read_tokens

POLICY = """
[identity."ingest-north"]
rpcs = ["StreamFrames", "Recognize"]
camera_prefixes = ["north/"]

[identity."ops"]
rpcs = ["GetStats", "Reflection"]
"""


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details


class FakeContext:
    def __init__(self, common_name: str | None = None, token: str | None = None) -> None:
        self._auth = {"x509_common_name": [common_name.encode()]} if common_name else {}
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def auth_context(self) -> dict:
        return self._auth

    def invocation_metadata(self) -> tuple:
        return self._metadata

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


def _control(tmp_path: Path, tokens: str = "", reload_s: float = 2.0) -> AccessControl:
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "tokens").write_text(tokens)
    return AccessControl(
        SecuritySettings(
            policy_file=tmp_path / "policy.toml", tokens_file=tmp_path / "tokens", reload_interval_s=reload_s
        )
    )


def _authorise(control: AccessControl, context: FakeContext, rpc: Rpc):
    try:
        return asyncio.run(control.authorise(context, rpc))
    except Aborted as aborted:
        return aborted.code


def test_a_certificate_identity_gets_its_grant_and_nothing_more(tmp_path: Path) -> None:
    control = _control(tmp_path)
    grant = _authorise(control, FakeContext("ingest-north"), Rpc.STREAM_FRAMES)
    assert grant.identity == "ingest-north"
    assert grant.permits_camera("north/cam-1") and not grant.permits_camera("south/cam-1")
    assert _authorise(control, FakeContext("ingest-north"), Rpc.GET_STATS) == grpc.StatusCode.PERMISSION_DENIED
    assert _authorise(control, FakeContext("ops"), Rpc.GET_STATS).identity == "ops"
    assert _authorise(control, FakeContext("stranger"), Rpc.RECOGNIZE) == grpc.StatusCode.UNAUTHENTICATED
    assert _authorise(control, FakeContext(), Rpc.RECOGNIZE) == grpc.StatusCode.UNAUTHENTICATED
    assert control.denied == 3


def test_a_bearer_token_names_its_identity(tmp_path: Path) -> None:
    control = _control(tmp_path, "# ingest services\ningest-north 0123456789abcdef0123\n")
    assert _authorise(control, FakeContext(token="0123456789abcdef0123"), Rpc.RECOGNIZE).identity == "ingest-north"
    assert _authorise(control, FakeContext(token="0123456789abcdef0124"), Rpc.RECOGNIZE) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


def test_without_policy_or_tokens_everything_is_allowed() -> None:
    control = AccessControl(SecuritySettings())
    assert not control.enabled
    grant = _authorise(control, FakeContext(), Rpc.GET_STATS)
    assert grant.permits_camera("any/camera") and Rpc.REFLECTION in grant.rpcs


def test_a_weak_or_malformed_token_line_is_refused_without_echoing_it(tmp_path: Path) -> None:
    (tmp_path / "tokens").write_text("ops shortsecret\n")
    with pytest.raises(AccessFileError) as refused:
        read_tokens(tmp_path / "tokens")
    assert "line 1" in str(refused.value) and "shortsecret" not in str(refused.value)


def test_changed_files_are_reloaded_and_a_broken_one_keeps_the_last_good(tmp_path: Path) -> None:
    control = _control(tmp_path, reload_s=0.05)

    async def scenario() -> list:
        control.start()
        seen = []
        seen.append(await _grant_code(control, "ops", Rpc.STREAM_FRAMES))
        (tmp_path / "policy.toml").write_text(
            POLICY.replace('rpcs = ["GetStats", "Reflection"]', 'rpcs = ["StreamFrames"]')
        )
        await _until(lambda: control.reloads == 1)
        seen.append(await _grant_code(control, "ops", Rpc.STREAM_FRAMES))
        (tmp_path / "policy.toml").write_text("[identity.ops]\nrpcs = ['NoSuchRpc']\n")  # broken: ignored
        await asyncio.sleep(0.3)
        seen.append(await _grant_code(control, "ops", Rpc.STREAM_FRAMES))
        await control.stop()
        return seen

    assert asyncio.run(scenario()) == [grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.OK, grpc.StatusCode.OK]
    assert control.reloads == 1


async def _grant_code(control: AccessControl, name: str, rpc: Rpc) -> grpc.StatusCode:
    try:
        await control.authorise(FakeContext(name), rpc)
    except Aborted as aborted:
        return aborted.code
    return grpc.StatusCode.OK


async def _until(condition, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


def test_tokens_can_come_from_the_environment_and_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    from anpr.config import load_settings

    monkeypatch.setenv("ANPR_SECURITY__TOKENS", "ops 0123456789abcdef0123")
    settings = load_settings()
    assert "0123456789abcdef0123" not in repr(settings) and "0123456789abcdef0123" not in str(settings.security)
    control = AccessControl(settings.security)
    assert _authorise(control, FakeContext(token="0123456789abcdef0123"), Rpc.GET_STATS).identity == "ops"
