"""Test certificates (trustme: a real CA, real keys) written where the server's settings point."""

from __future__ import annotations

from pathlib import Path

import grpc
import trustme


class CertificateAuthority:
    """A CA whose server and client certificates are written as PEM files under `directory`."""

    def __init__(self, directory: Path, name: str = "ca") -> None:
        self.directory = directory
        self.name = name
        self.ca = trustme.CA(organization_name=f"anpr test {name}")
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / f"{name}.pem"
        self.ca_file.write_bytes(self.ca.cert_pem.bytes())

    def issue(self, identity: str, *more: str) -> tuple[Path, Path]:
        """(certificate file, key file) for `identity` (subject alternative names and common name)."""
        leaf = self.ca.issue_cert(identity, *more, common_name=identity)
        cert = self.directory / f"{self.name}-{identity}.crt"
        key = self.directory / f"{self.name}-{identity}.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key.write_bytes(leaf.private_key_pem.bytes())
        return cert, key

    def server_files(self) -> tuple[Path, Path]:
        return self.issue("localhost", "127.0.0.1")

    def channel(self, port: int, client: tuple[Path, Path] | None = None) -> grpc.Channel:
        """A TLS channel to localhost:port trusting this CA, with a client certificate if given."""
        key = client[1].read_bytes() if client else None
        chain = client[0].read_bytes() if client else None
        credentials = grpc.ssl_channel_credentials(self.ca_file.read_bytes(), key, chain)
        return grpc.secure_channel(f"localhost:{port}", credentials)
