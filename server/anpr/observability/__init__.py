"""What SREs see: Prometheus metrics (no camera ids or plate text as labels) and per-camera stats."""

from anpr.observability.camera_stats import CameraStats, CameraStatsBook
from anpr.observability.metrics import ServerMetrics

__all__ = ["CameraStats", "CameraStatsBook", "ServerMetrics"]
