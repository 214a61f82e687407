"""Where the repository's files are, for tests that read them (README, manifests, rules)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
