"""`pip install .` is the Kubernetes front end: the server and its own dependencies, nothing for training,
benchmarks or plots; the other packages' commands then say which extra they need."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.repo import ROOT

OPTIONAL = ("torch", "matplotlib", "tqdm", "onnx", "pytriton")
# Runs the installed CLI as if none of the optional extras were installed.
WITHOUT_EXTRAS = (
    "import sys\n"
    f"for name in {OPTIONAL!r}: sys.modules[name] = None\n"
    "from anpr.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def run_installed(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_server_needs_none_of_the_optional_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {requirement.split("==")[0].split("[")[0].lower() for requirement in project["dependencies"]}
    assert not names & {"torch", "matplotlib", "tqdm", "onnx", "nvidia-pytriton"}


def test_an_install_without_extras_serves_and_names_the_extra_other_commands_need(installed_wheel: Path) -> None:
    helped = run_installed(installed_wheel, "--help")
    assert helped.returncode == 0, helped.stderr
    assert all(command in helped.stdout for command in ("serve", "stats", "models", "bench", "demo", "plan"))
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_EXTRAS.replace("from anpr.cli import main", "import anpr.server\nmain = lambda a: 0"),
        ],
        env={**os.environ, "PYTHONPATH": str(installed_wheel)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    for command, extra in (
        (["models", "train", "detector", "--version", "9"], "train"),
        (["models", "synth", "/nonexistent", "--count", "1", "--seed", "1"], "tools"),
        (["bench", "feeds"], "tools"),
        (["serve", "--port", "0", "--metrics-port", "0"], "local-triton"),  # no triton_url: a local Triton
    ):
        result = run_installed(installed_wheel, *command)
        assert result.returncode == 2 and f"`{extra}` extra" in result.stderr, (command, result.stderr)
