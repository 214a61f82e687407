"""Who is calling, and what they may do: client identities (a verified client certificate's subject
common name or subject alternative names, or a bearer token's name) mapped by a policy file to the RPCs
they may call and the camera-id prefixes they may submit frames for.

Without a policy or tokens file there is no authorisation (development on loopback; the server warns
when it listens beyond loopback like that). With either, every call except health checks must come
from a known identity: none is UNAUTHENTICATED, an identity without the grant PERMISSION_DENIED.
Both files are re-read when they change. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hmac
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

import grpc
from pydantic import BaseModel, Field, ValidationError

from anpr.security.credentials import SecuritySettings, _signature

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16


class Rpc(enum.StrEnum):
    """What a grant can allow. Health checks are always allowed (probes carry no identity)."""

    STREAM_FRAMES = "StreamFrames"
    RECOGNIZE = "Recognize"
    GET_STATS = "GetStats"  # every camera's id and counters: operators only
    SUBSCRIBE_EVENTS = "SubscribeEvents"  # capture records and hotlist hits of the grant's cameras
    REFLECTION = "Reflection"


class IdentityGrant(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}

    rpcs: frozenset[Rpc] = Field(description="RPCs this identity may call")
    camera_prefixes: tuple[str, ...] = Field((), description="camera ids it may submit for; '' is every camera")


class AccessPolicy(BaseModel):
    """The policy file: `[identity."NAME"]` tables of `rpcs` and `camera_prefixes`."""

    model_config = {"extra": "forbid", "frozen": True}

    identity: dict[str, IdentityGrant] = Field(default_factory=dict)


@dataclass(frozen=True)
class Grant:
    """What one call's identity may do."""

    identity: str | None
    rpcs: frozenset[Rpc]
    camera_prefixes: tuple[str, ...]

    def permits_camera(self, camera_id: str) -> bool:
        return any(camera_id.startswith(prefix) for prefix in self.camera_prefixes)

    def permits_prefix(self, prefix: str) -> bool:
        """Whether every camera id starting with `prefix` is one this grant covers."""
        return any(prefix.startswith(granted) for granted in self.camera_prefixes)


UNRESTRICTED = Grant(None, frozenset(Rpc), ("",))


class AccessFileError(ValueError):
    """A policy or tokens file that cannot be used; the message never holds a token."""


def read_policy(path: Path) -> AccessPolicy:
    try:
        return AccessPolicy.model_validate(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
        raise AccessFileError(f"policy file {path}: {error}") from None


def read_tokens(path: Path) -> dict[str, str]:
    """Token -> identity, from a file of `IDENTITY TOKEN` lines."""
    try:
        text = path.read_text()
    except OSError as error:
        raise AccessFileError(f"tokens file {path}: {error.strerror}") from None
    return parse_tokens(text, f"tokens file {path}")


def parse_tokens(text: str, source: str) -> dict[str, str]:
    """Token -> identity, from `IDENTITY TOKEN` lines (blank lines and `#` comments allowed)."""
    tokens: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[1]) < MIN_TOKEN_LENGTH:
            raise AccessFileError(
                f"{source} line {number}: want `IDENTITY TOKEN` with a token of at least {MIN_TOKEN_LENGTH} characters"
            )
        tokens[parts[1]] = parts[0]
    return tokens


def certificate_identities(context: grpc.aio.ServicerContext) -> list[str]:
    """The verified client certificate's subject alternative names and common name (empty without one)."""
    auth = context.auth_context()
    names = [value.decode() for value in auth.get("x509_subject_alternative_name", [])]
    names += [value.decode() for value in auth.get("x509_common_name", [])]
    return names


def bearer_token(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :]
    return None


class AccessControl:
    """Authorises calls against the policy and tokens files, re-reading them when they change."""

    def __init__(self, settings: SecuritySettings) -> None:
        self._settings = settings
        self.enabled = any(x is not None for x in (settings.policy_file, settings.tokens_file, settings.tokens))
        self._policy: AccessPolicy | None = None
        self._tokens: dict[str, str] = {}
        self._seen: tuple = ()
        self._watcher: asyncio.Task[None] | None = None
        self.reloads = 0
        self.denied = 0
        self._load()  # a bad file at start-up is an error; later, the last good version stays

    def _load(self) -> None:
        s = self._settings
        self._seen = _signature(s.policy_file, s.tokens_file)
        self._policy = read_policy(s.policy_file) if s.policy_file else None
        self._tokens = read_tokens(s.tokens_file) if s.tokens_file else {}
        if s.tokens is not None:
            self._tokens |= parse_tokens(s.tokens.get_secret_value(), "security.tokens")

    def start(self) -> None:
        if self._settings.policy_file is not None or self._settings.tokens_file is not None:
            self._watcher = asyncio.create_task(self._watch(), name="access-files")

    async def stop(self) -> None:
        if self._watcher:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self) -> None:
        s = self._settings
        while True:
            await asyncio.sleep(s.reload_interval_s)
            try:
                if _signature(s.policy_file, s.tokens_file) == self._seen:
                    continue
                self._load()
            except (OSError, AccessFileError) as error:
                log.error("access files not reloaded, the previous ones stay in force: %s", error)
                continue
            self.reloads += 1
            log.info(
                "access files reloaded: %d identities in the policy, %d tokens",
                len(self._policy.identity) if self._policy else 0,
                len(self._tokens),
            )

    def _token_identity(self, token: str) -> str | None:
        found = None
        for known, identity in self._tokens.items():  # every one compared: timing tells nothing
            if hmac.compare_digest(known.encode(), token.encode()):
                found = identity
        return found

    def grant(self, context: grpc.aio.ServicerContext) -> Grant | None:
        """The gRPC caller's grant, or None when it has no known identity."""
        if not self.enabled:
            return UNRESTRICTED
        return self.grant_for(bearer_token(context), certificate_identities(context))

    def grant_for(self, token: str | None, certificate_names: list[str]) -> Grant | None:
        """The grant of a caller with this bearer token and these verified certificate names (gRPC or
        HTTP alike), or None when it has no known identity."""
        if not self.enabled:
            return UNRESTRICTED
        names = list(certificate_names)
        if token is not None:
            identity = self._token_identity(token)
            if identity is not None:
                names.insert(0, identity)
        if self._policy is None:  # tokens without a policy: any known identity may do everything
            return Grant(names[0], frozenset(Rpc), ("",)) if token is not None and names[:1] else None
        for name in names:
            allowed = self._policy.identity.get(name)
            if allowed is not None:
                return Grant(name, allowed.rpcs, allowed.camera_prefixes)
        return None

    async def authorise(self, context: grpc.aio.ServicerContext, rpc: Rpc) -> Grant:
        """The caller's grant for `rpc`; ends the call UNAUTHENTICATED or PERMISSION_DENIED otherwise."""
        grant = self.grant(context)
        if grant is None:
            self.denied += 1
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "no known client identity (certificate or token)")
        assert grant is not None
        if rpc not in grant.rpcs:
            self.denied += 1
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"identity {grant.identity!r} may not call {rpc}")
        return grant
