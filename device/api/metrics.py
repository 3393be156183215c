"""Prometheus metrics: per-stage latency, captures and errors, review queue and outbox depth.

Histograms are fed by the service's capture events; gauges are read from `status()` when
Prometheus scrapes, so they are never stale. Each app has its own registry (tests run
several apps in one process).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

# ms -> s; the buckets straddle the 50 ms dev-proxy and 200 ms Pi budgets.
BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)


class _StatusCollector:
    def __init__(self, service):
        self.service = service

    def collect(self):
        st = self.service.status()
        mqtt = st.get("mqtt", {})
        yield GaugeMetricFamily(
            "cutbox_camera_ok", "1 when the frame source works", value=1.0 if st["camera"]["ok"] else 0.0
        )
        yield GaugeMetricFamily(
            "cutbox_pipeline_ready", "1 when the model is loaded", value=1.0 if st["pipeline"]["ok"] else 0.0
        )
        yield GaugeMetricFamily(
            "cutbox_review_queue_depth", "Captures waiting for a person", value=float(st["review_queue"])
        )
        yield GaugeMetricFamily(
            "cutbox_outbox_depth",
            "Captures in the MQTT outbox not yet acknowledged",
            value=float(mqtt.get("outbox_depth", 0)),
        )
        yield GaugeMetricFamily(
            "cutbox_outbox_full", "1 when the outbox is at its bound", value=1.0 if mqtt.get("outbox_full") else 0.0
        )
        yield GaugeMetricFamily(
            "cutbox_broker_connected",
            "1 when connected to the MQTT broker",
            value=1.0 if mqtt.get("connected") else 0.0,
        )


class Metrics:
    def __init__(self, service):
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram(
            "cutbox_stage_seconds", "Time spent per pipeline stage", ["stage"], buckets=BUCKETS, registry=self.registry
        )
        self.captures = Counter("cutbox_captures", "Captures stored", ["review"], registry=self.registry)
        self.errors = Counter("cutbox_errors", "Failures by where they happened", ["where"], registry=self.registry)
        self.registry.register(_StatusCollector(service))
        service.add_listener(self.on_event)

    def on_event(self, event: str, data: dict) -> None:
        if event == "capture":
            for stage, ms in (data.get("timings_ms") or {}).items():
                if isinstance(ms, (int, float)):
                    self.stage_seconds.labels(stage=stage).observe(max(0.0, float(ms)) / 1000.0)
            self.captures.labels(review="yes" if data.get("review") else "no").inc()
        elif event == "error":
            self.errors.labels(where=str(data.get("where", "unknown"))).inc()
