"""Prometheus metrics of one server, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operations = Counter(
            "redrunner_operations_finished",
            "Operations that reached a terminal status, by status",
            ["status"],
            registry=self.registry,
        )
        self.operations_started = Counter(
            "redrunner_operations_started", "Operations this server started running", registry=self.registry
        )
        self.running = Gauge(
            "redrunner_operations_running", "Operations running on this server", registry=self.registry
        )
        self.events_stored = Counter(
            "redrunner_events_stored", "Events committed to the database", registry=self.registry
        )
        self.event_write_latency = Histogram(
            "redrunner_event_write_latency_seconds",
            "From the runner handing an event over to its commit",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.websocket_clients = Gauge(
            "redrunner_websocket_clients", "Open WebSocket streams, by kind", ["stream"], registry=self.registry
        )
        self.websocket_overflows = Counter(
            "redrunner_websocket_overflows",
            "Streams closed with 1013 because the client fell behind",
            registry=self.registry,
        )
        self.operations_by_status = Gauge(
            "redrunner_operations_by_status",
            "Operations stored in the database, by current status",
            ["status"],
            registry=self.registry,
        )
        self.backup_last_success = Gauge(
            "redrunner_backup_last_success_timestamp_seconds",
            "When the newest successful backup of each (job tag, unit) ended (Unix seconds)",
            ["tag", "unit"],
            registry=self.registry,
        )
        self.backup_last_verified = Gauge(
            "redrunner_backup_last_verified_timestamp_seconds",
            "When a backup of each (job tag, unit) was last verified by a restore drill (Unix seconds)",
            ["tag", "unit"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "redrunner_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
