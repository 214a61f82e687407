"""TLS material from files: the gRPC API's server credentials (re-read when the files change, so a
renewed certificate is used without a restart), the metrics endpoint's, and the Triton hop's client
credentials. Keys are read from files only, never from settings values, and never logged."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc
from pydantic import BaseModel, Field, SecretStr, model_validator

log = logging.getLogger(__name__)


class SecuritySettings(BaseModel):
    """The `[security]` section: paths to mounted secrets (Kubernetes: cert-manager or Secret volumes)."""

    model_config = {"extra": "forbid", "frozen": True}

    tls_cert_file: Path | None = Field(None, description="server certificate chain (PEM): the API serves TLS")
    tls_key_file: Path | None = Field(None, description="its private key (PEM)")
    client_ca_file: Path | None = Field(None, description="CA of client certificates: mutual TLS")
    client_cert_required: bool = Field(True, description="with client_ca_file: refuse clients without one")
    tokens_file: Path | None = Field(None, description="bearer tokens, one `IDENTITY TOKEN` per line")
    tokens: SecretStr | None = Field(
        None, description="the same lines from the environment (a Secret's env var); never logged, not reloaded"
    )
    policy_file: Path | None = Field(None, description="TOML: each identity's RPCs and camera-id prefixes")
    metrics_client_ca_file: Path | None = Field(None, description="metrics over TLS ask for client certificates")
    triton_ca_file: Path | None = Field(None, description="CA of Triton's certificate: TLS to Triton")
    triton_cert_file: Path | None = Field(None, description="client certificate for Triton (mutual TLS)")
    triton_key_file: Path | None = Field(None, description="its private key")
    reload_interval_s: float = Field(2.0, gt=0, description="how often tokens and policy files are re-checked")

    @model_validator(mode="after")
    def _pairs(self) -> SecuritySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if (self.triton_cert_file is None) != (self.triton_key_file is None):
            raise ValueError("triton_cert_file and triton_key_file go together")
        if self.client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def triton_tls(self) -> bool:
        return self.triton_ca_file is not None or self.triton_cert_file is not None


def _signature(*paths: Path | None) -> tuple[tuple[str, int, int], ...]:
    """What identifies a version of these files: path, modification time and size."""
    out = []
    for path in paths:
        if path is not None:
            stat = path.stat()
            out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


class ReloadingServerCredentials:
    """The API's TLS configuration, fetched by gRPC at every new connection's handshake: files are
    re-read when they change (a renewed certificate); a broken new version keeps the last good one."""

    def __init__(self, settings: SecuritySettings) -> None:
        assert settings.tls_cert_file is not None and settings.tls_key_file is not None
        self._settings = settings
        self._paths = (settings.tls_cert_file, settings.tls_key_file, settings.client_ca_file)
        self._seen = _signature(*self._paths)
        self.reloads = 0

    def _configuration(self) -> Any:
        s = self._settings
        assert s.tls_cert_file is not None and s.tls_key_file is not None
        pair = (s.tls_key_file.read_bytes(), s.tls_cert_file.read_bytes())
        roots = s.client_ca_file.read_bytes() if s.client_ca_file else None
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=roots)

    def _fetch(self) -> Any:
        try:
            current = _signature(*self._paths)
            if current == self._seen:
                return None  # unchanged: gRPC keeps the configuration it has
            configuration = self._configuration()
        except (OSError, ValueError, RuntimeError) as error:
            log.error("TLS files could not be re-read (%s); keeping the previous certificate", type(error).__name__)
            return None
        self._seen = current
        self.reloads += 1
        log.info("TLS certificate files changed: new connections use them")
        return configuration

    def credentials(self) -> grpc.ServerCredentials:
        s = self._settings
        require = s.client_ca_file is not None and s.client_cert_required
        return grpc.dynamic_ssl_server_credentials(self._configuration(), self._fetch, require)


def metrics_tls_arguments(settings: SecuritySettings) -> dict[str, Any]:
    """prometheus_client.start_http_server keyword arguments: TLS with the API's certificate, and
    client certificates when `metrics_client_ca_file` is set."""
    if not settings.tls:
        return {}
    arguments: dict[str, Any] = {"certfile": str(settings.tls_cert_file), "keyfile": str(settings.tls_key_file)}
    if settings.metrics_client_ca_file is not None:
        arguments.update(client_cafile=str(settings.metrics_client_ca_file), client_auth_required=True)
    return arguments


def triton_client_arguments(settings: SecuritySettings) -> dict[str, Any]:
    """tritonclient.grpc.aio.InferenceServerClient keyword arguments for the Triton hop (it reads the
    files itself, once, when the client is made: a renewed certificate is used from the next restart)."""
    if not settings.triton_tls:
        return {}

    def path(value: Path | None) -> str | None:
        return str(value) if value is not None else None

    return {
        "ssl": True,
        "root_certificates": path(settings.triton_ca_file),
        "private_key": path(settings.triton_key_file),
        "certificate_chain": path(settings.triton_cert_file),
    }
