"""Prometheus metrics of one app, in the app's own registry (never the process-global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class AppMetrics:
    """Request latency per route, feed stage timings, model latencies, moderation queue depth."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "townsquare_http_request_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.feed_stages = Histogram(
            "townsquare_feed_stage_seconds",
            "Feed pipeline stage timings.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.models = Histogram(
            "townsquare_model_seconds",
            "Model call latency.",
            ["model", "task"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "townsquare_http_rate_limited", "Requests refused by the rate limit.", registry=self.registry
        )
        self.queue_depth = Gauge(
            "townsquare_moderation_queue_depth", "Open or appealed moderation cases.", registry=self.registry
        )
        self.queue_oldest = Gauge(
            "townsquare_moderation_oldest_waiting_seconds",
            "How long the oldest open or appealed moderation case has waited (0: none waits).",
            registry=self.registry,
        )

        self._stages: dict[str, Histogram] = {}  # feed_stages' child per stage: ``labels`` is a lookup with locks

    def feed_timings(self, timings: dict[str, float]) -> None:
        """Every stage of a feed page (a dozen or more a page)."""
        for stage, ms in timings.items():
            child = self._stages.get(stage)
            if child is None:
                child = self._stages[stage] = self.feed_stages.labels(stage)
            child.observe(ms / 1000.0)
