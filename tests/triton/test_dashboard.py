"""The Grafana dashboard and the rules query only metrics that really exist."""

from __future__ import annotations

import json
import re
import urllib.request

import yaml

from anpr.observability import ServerMetrics
from tests.repo import ROOT

OBSERVABILITY = ROOT / "deploy" / "observability"
# Names from Triton's metrics documentation that a CPU-only Triton does not export (GPU metrics), and
# the names of the other exporters the dashboard and alerts use.
DOCUMENTED_ELSEWHERE = {
    "nv_gpu_utilization",
    "nv_gpu_memory_used_bytes",
    "nv_gpu_memory_total_bytes",  # Triton, GPU builds
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",  # NVIDIA DCGM exporter
    "kube_deployment_status_replicas_available",  # kube-state-metrics
    "up",  # Prometheus itself
}
PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "histogram_quantile",
    "clamp_min",
    "max",
    "offset",
    "or",
    "and",
    "le",
    "on",
    "without",
    "increase",
    "max_over_time",
    "avg",
}


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b\d+(\.\d+)?(e[-+]?\d+)?[smhdwy]?\b", "", expr)  # numbers and durations
    expr = re.sub(r"\((\s*[a-z_]+\s*(,\s*[a-z_]+\s*)*)\)", "", expr) if " by (" in expr else expr
    tokens = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {t for t in tokens if t not in PROMQL_WORDS}


def exported_names(text: str) -> set[str]:
    """Sample names, plus the names each declared family exports even before it has samples."""
    names = {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "summary": ["_sum", "_count"]}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            base = name.removesuffix("_total")
            names |= {base + suffix for suffix in suffixes.get(kind, [""])}
    return names


def recording_rules() -> dict[str, str]:
    groups = yaml.safe_load((OBSERVABILITY / "recording_rules.yml").read_text())["groups"]
    return {rule["record"]: rule["expr"] for group in groups for rule in group["rules"]}


def test_dashboard_json_is_valid_and_current() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("dashboard", OBSERVABILITY / "dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = json.loads((OBSERVABILITY / "anpr-dashboard.json").read_text())
    assert committed == module.build(), "run deploy/observability/dashboard.py"
    assert len({p["id"] for p in committed["panels"]}) == len(committed["panels"])
    assert (OBSERVABILITY.parents[1] / "docs" / "dashboard.png").stat().st_size > 10_000


def test_every_query_uses_exported_metric_names(triton_server) -> None:
    metrics = ServerMetrics()
    ours = exported_names(metrics.exposition().decode())
    with urllib.request.urlopen(
        f"http://127.0.0.1:{triton_server.server.local_triton.metrics_port}/metrics", timeout=10
    ) as response:
        triton = exported_names(response.read().decode())
    assert "nv_inference_queue_duration_us" in triton and "nv_inference_compute_infer_duration_us" in triton
    known = ours | triton | DOCUMENTED_ELSEWHERE
    recorded = recording_rules()
    queries = [
        t["expr"]
        for p in json.loads((OBSERVABILITY / "anpr-dashboard.json").read_text())["panels"]
        for t in p["targets"]
    ]
    queries += list(recorded.values())
    queries += [
        rule["expr"]
        for group in yaml.safe_load((OBSERVABILITY / "alert_rules.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    unknown = {name for expr in queries for name in metric_names(expr) if name not in known and name not in recorded}
    assert not unknown, f"queries use metrics nobody exports: {sorted(unknown)}"
