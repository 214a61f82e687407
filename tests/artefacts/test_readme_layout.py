"""The README's layout table is the tree: every path it names exists, every package and top-level
folder is named."""

from __future__ import annotations

import re
import subprocess

from tests.repo import ROOT

SOURCE_ROOTS = ("server", "training", "benchmarks")


def layout_paths() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Layout") : readme.index("## Models")]
    return {match.rstrip("/") for match in re.findall(r"^\| `([^`]+)`", table, re.M)}


def test_every_path_in_the_layout_table_exists() -> None:
    missing = [path for path in layout_paths() if not (ROOT / path).exists()]
    assert not missing, f"the README's layout table names paths that do not exist: {missing}"


def test_every_package_and_top_level_folder_is_in_the_layout_table() -> None:
    named = layout_paths()
    packages = {
        str(init.parent.relative_to(ROOT)) for root in SOURCE_ROOTS for init in (ROOT / root).glob("*/__init__.py")
    } | {str(init.parent.relative_to(ROOT)) for init in (ROOT / "server" / "anpr").glob("*/__init__.py")}
    packages -= {"server/anpr/api/v1"}
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {line.split("/")[0] for line in tracked.splitlines() if "/" in line and not line.startswith(".")}
    folders -= {"server", "training", "benchmarks"}  # source roots: their packages are listed instead
    unnamed = sorted(p for p in packages | folders if not any(n == p or n.startswith(p + "/") for n in named))
    assert not unnamed, f"missing from the README's layout table: {unnamed}"
