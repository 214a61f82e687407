"""Builds the Grafana dashboard (anpr-dashboard.json) and a PNG sketch of its layout (docs/).

Run `.venv/bin/python deploy/observability/dashboard.py` after changing a panel; a test checks the
JSON is current and that every query uses metric names the server, Triton, DCGM or kube-state-metrics
export.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DASHBOARD = HERE / "anpr-dashboard.json"
SKETCH = HERE.parents[1] / "docs" / "dashboard.png"

# (title, unit, [(legend, PromQL)], width, height); rows fill a 24-column grid left to right.
PANELS = [
    (
        "Frames per second",
        "fps",
        [("received", "anpr:frames_received:rate1m"), ("processed", "anpr:frames_processed:rate1m")],
        8,
        8,
    ),
    ("Answers by status and reason", "fps", [("{{status}} {{reason}}", "anpr:frames_answered:rate1m")], 8, 8),
    ("Drop rate", "percentunit", [("dropped", "anpr:frames_dropped:ratio_rate5m")], 8, 8),
    (
        "p50 / p95 / p99 latency by stage",
        "s",
        [
            ("p50 {{stage}}", "anpr:stage_latency_seconds:p50_5m"),
            (
                "p95 {{stage}}",
                "histogram_quantile(0.95, sum by (le, stage) (rate(anpr_stage_latency_seconds_bucket[5m])))",
            ),
            ("p99 {{stage}}", "anpr:stage_latency_seconds:p99_5m"),
            ("latency budget", "max(anpr_scheduler_latency_budget_seconds) > 0"),
        ],
        12,
        9,
    ),
    ("Batch fill (mean per call)", "short", [("{{model}}", "anpr:batch_size:mean_5m")], 6, 9),
    (
        "Queue depth and frames in flight",
        "short",
        [("queued", "sum(anpr_scheduler_queued_frames)"), ("in flight", "sum(anpr_frames_in_flight)")],
        6,
        9,
    ),
    ("Triton queue : compute ratio", "short", [("{{model}}", "triton:queue_compute:ratio_1m")], 8, 8),
    (
        "GPU utilisation",
        "percentunit",
        [
            ("triton {{gpu_uuid}}", "nv_gpu_utilization"),
            ("dcgm {{gpu}}", "DCGM_FI_DEV_GPU_UTIL / 100"),
        ],
        8,
        8,
    ),
    (
        "GPU memory used",
        "bytes",
        [
            ("triton {{gpu_uuid}}", "nv_gpu_memory_used_bytes"),
            ("dcgm {{gpu}}", "DCGM_FI_DEV_FB_USED * 1024 * 1024"),
        ],
        8,
        8,
    ),
    (
        "Active cameras and streams",
        "short",
        [("cameras", "sum(anpr_active_cameras)"), ("streams", "sum(anpr_active_streams)")],
        8,
        8,
    ),
    (
        "Replicas",
        "short",
        [("{{deployment}}", 'kube_deployment_status_replicas_available{deployment=~"anpr-.*|triton.*"}')],
        8,
        8,
    ),
    # Vehicles: capture records, hotlist hits and their latency, the hotlist itself, subscribers.
    (
        "Passes closed and hotlist hits",
        "short",
        [
            ("passes closed /s", "anpr:passes_closed:rate5m"),
            ("hits /s {{match}}", "anpr:hotlist_hits:rate5m"),
            ("passes open", "sum(anpr_open_passes)"),
        ],
        8,
        8,
    ),
    (
        "Hit latency (frame received to hit sent)",
        "s",
        [
            ("p50", "histogram_quantile(0.50, sum by (le) (rate(anpr_hit_latency_seconds_bucket[5m])))"),
            ("p99", "anpr:hit_latency_seconds:p99_5m"),
        ],
        8,
        8,
    ),
    (
        "Hotlist and event subscribers",
        "short",
        [
            ("hotlist entries", "max(anpr_hotlist_entries)"),
            ("hotlist age (h)", "max(anpr_hotlist_age_seconds) / 3600"),
            ("subscribers", "sum(anpr_event_subscribers)"),
            ("subscribers cut off /5m", "sum(increase(anpr_event_subscribers_disconnected_total[5m]))"),
        ],
        8,
        8,
    ),
    (
        "Triton and backend errors",
        "short",
        [
            ("triton failed requests {{model}}", "sum by (model) (rate(nv_inference_request_failure[5m]))"),
            ("front-end backend errors {{model}}", "sum by (model) (rate(anpr_backend_errors_total[5m]))"),
        ],
        8,
        8,
    ),
    # Deadlines (scheduler.latency_budget_ms, or budgets frames ask for): how much of it frames use.
    (
        "Latency budget used (1 = the budget) and deadline drops",
        "short",
        [
            (
                "p99 {{stage}} / budget",
                "histogram_quantile(0.99, sum by (le, stage) (rate(anpr_frame_budget_used_ratio_bucket[5m])))",
            ),
            (
                "dropped for deadline (share)",
                'sum(rate(anpr_frames_answered_total{reason="deadline"}[5m])) / '
                "clamp_min(sum(rate(anpr_frames_answered_total[5m])), 1e-9)",
            ),
        ],
        8,
        8,
    ),
    (
        "Learned batch service time (p99, taken to answered)",
        "s",
        [("batch of {{batch}}", "max by (batch) (anpr_scheduler_batch_service_seconds)")],
        8,
        8,
    ),
]


def build() -> dict:
    panels, x, y, row_height = [], 0, 0, 0
    for number, (title, unit, queries, width, height) in enumerate(PANELS, start=1):
        if x + width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(
            {
                "id": number,
                "type": "timeseries",
                "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"x": x, "y": y, "w": width, "h": height},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(65 + k), "expr": expr, "legendFormat": legend}
                    for k, (legend, expr) in enumerate(queries)
                ],
            }
        )
        x, row_height = x + width, max(row_height, height)
    return {
        "title": "anpr: plate recognition service",
        "uid": "anpr-overview",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["anpr"],
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    }


def draw_sketch(dashboard: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    figure, axes = plt.subplots(figsize=(14, 14 * bottom / 24 * 0.55))
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        axes.add_patch(
            Rectangle(
                (g["x"] + 0.15, g["y"] + 0.15), g["w"] - 0.3, g["h"] - 0.3, facecolor="#1f2630", edgecolor="#5a6a7a"
            )
        )
        axes.text(g["x"] + 0.5, g["y"] + 1.0, panel["title"], color="white", fontsize=9, weight="bold", va="top")
        for k, target in enumerate(panel["targets"]):
            axes.text(
                g["x"] + 0.5,
                g["y"] + 2.2 + 1.1 * k,
                target["expr"][:60],
                color="#9fb3c8",
                fontsize=6.5,
                va="top",
                family="monospace",
            )
    axes.set_xlim(0, 24)
    axes.set_ylim(bottom, 0)
    axes.axis("off")
    axes.set_title(dashboard["title"] + " (layout sketch)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, bbox_inches="tight", facecolor="white")
    plt.close(figure)


if __name__ == "__main__":
    dashboard = build()
    DASHBOARD.write_text(json.dumps(dashboard, indent=2) + "\n")
    draw_sketch(dashboard, SKETCH)
    print(f"wrote {DASHBOARD} and {SKETCH}")
