"""Transport security (TLS, mutual TLS, the Triton hop) and who may call what (identities, grants)."""

from anpr.security.access import AccessControl, Grant, Rpc
from anpr.security.credentials import SecuritySettings

__all__ = ["AccessControl", "Grant", "Rpc", "SecuritySettings"]
