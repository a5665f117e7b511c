"""Probes and metrics: /healthz, /readyz, /metrics (open without the token, for kubelet and Prometheus)."""

from __future__ import annotations

from .. import backup_records
from ..metrics import CONTENT_TYPE
from .base import APIHandler, public


class HealthHandler(APIHandler):
    route_name = "/healthz"

    @public
    async def get(self) -> None:
        self.write_json({"status": "ok"})


class ReadyHandler(APIHandler):
    route_name = "/readyz"

    @public
    async def get(self) -> None:
        try:
            await self.call(self.state.queries.ping)
        except Exception as exc:
            self.write_json(
                {
                    "status": 503,
                    "error": "database_unavailable",
                    "message": f"the database does not answer: {type(exc).__name__}: {exc}",
                },
                503,
            )
            return
        failure = self.state.writer.failure()
        if failure is not None:
            message = f"the database does not take writes: {failure}"
            self.write_json({"status": 503, "error": "database_unwritable", "message": message}, 503)
            return
        if not self.state.dispatcher.accepting:
            self.write_json({"status": 503, "error": "shutting_down", "message": "the server is shutting down"}, 503)
            return
        self.write_json({"status": "ok", "replica": self.state.settings.replica_id})


class MetricsHandler(APIHandler):
    route_name = "/metrics"

    @public
    async def get(self) -> None:
        metrics = self.state.metrics
        try:
            counts = await self.call(self.state.queries.operation_counts)
            metrics.operations_by_status.clear()
            for status, n in counts.items():
                metrics.operations_by_status.labels(status=status).set(n)
            backups = await self.call(backup_records.latest_by_group)
            metrics.backup_last_success.clear()
            metrics.backup_last_verified.clear()
            for tag, unit, last_success, last_verified in backups:
                metrics.backup_last_success.labels(tag=tag, unit=unit).set(last_success)
                if last_verified is not None:
                    metrics.backup_last_verified.labels(tag=tag, unit=unit).set(last_verified)
        except Exception:
            pass  # /metrics still answers when the database does not
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(metrics.render())


default_handlers = [
    (r"/healthz", HealthHandler),
    (r"/readyz", ReadyHandler),
    (r"/metrics", MetricsHandler),
]
