"""The package as `pip install .` builds it: a wheel, installed (without its dependencies) into a folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.repo import ROOT


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder to put on PYTHONPATH holding the non-editable install of this checkout."""
    scratch = tmp_path_factory.mktemp("wheel")
    wheel_dir, site = scratch / "wheel", scratch / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheel_dir, ROOT], check=True, timeout=180)
    subprocess.run([*pip, "install", "--no-deps", "--target", site, *wheel_dir.glob("*.whl")], check=True, timeout=180)
    return site
