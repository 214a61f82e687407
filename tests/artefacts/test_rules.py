"""Prometheus recording and alert rules: promtool checks them and unit-tests every alert."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.repo import ROOT

RULES = ROOT / "deploy" / "observability"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian package prometheus) is installed by make test"
)


def test_promtool_checks_the_rules() -> None:
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", "recording_rules.yml", "alert_rules.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_and_stays_quiet_in_promtool_unit_tests(tmp_path: Path) -> None:
    alerts = {
        rule["alert"]: rule
        for group in yaml.safe_load((RULES / "alert_rules.yml").read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tests = yaml.safe_load((RULES / "rules_test.yml").read_text())
    fired, quiet = set(), set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            expected = check["exp_alerts"]
            (fired if expected else quiet).add(check["alertname"])
            for alert in expected:
                alert["exp_annotations"] = alerts[check["alertname"]]["annotations"]
    assert fired == quiet == set(alerts), "each alert needs a firing and a quiet case"
    for alert in alerts.values():
        assert alert["annotations"].get("runbook") and alert["annotations"].get("summary")
    for name in tests["rule_files"]:
        shutil.copy(RULES / name, tmp_path / name)
    (tmp_path / "rules_test.yml").write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "rules_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
