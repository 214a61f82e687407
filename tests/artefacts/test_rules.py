"""Prometheus recording and alert rules: promtool checks them and unit-tests every alert."""

from __future__ import annotations

import subprocess

import yaml

from tests.repo import ROOT, tool

RULES = ROOT / "deploy" / "observability"


def test_promtool_checks_the_rules() -> None:
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", "recording_rules.yml", "alert_rules.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _alerts() -> dict[str, dict]:
    return {
        rule["alert"]: rule
        for group in yaml.safe_load((RULES / "alert_rules.yml").read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_every_alert_fires_and_stays_quiet_in_the_committed_promtool_tests() -> None:
    """`promtool test rules rules_test.yml`, exactly as an SRE runs it in deploy/observability."""
    alerts = _alerts()
    tests = yaml.safe_load((RULES / "rules_test.yml").read_text())
    fired, quiet = set(), set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    assert fired == quiet == set(alerts), "each alert needs a firing and a quiet case"
    for alert in alerts.values():
        assert alert["annotations"].get("runbook") and alert["annotations"].get("summary")
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "rules_test.yml"], cwd=RULES, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promtool_tests_expect_the_runbooks_alert_rules_carry() -> None:
    """promtool needs the annotations written out in rules_test.yml: they must stay alert_rules.yml's."""
    alerts = _alerts()
    tests = yaml.safe_load((RULES / "rules_test.yml").read_text())
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            for expected in check["exp_alerts"]:
                assert expected["exp_annotations"] == alerts[check["alertname"]]["annotations"], (
                    f"{check['alertname']}: rules_test.yml's expected annotations differ from alert_rules.yml's"
                )
