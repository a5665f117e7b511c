"""The audit trail's store: records queued from the IOLoop land in one transaction, list newest first with
filters, and are pruned after --audit-retain-days (backend/audit.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import db as store
from backend import migrations
from backend.audit import AuditLog, audited, entry, prune_audit, target_of
from backend.db import AuditRecord
from backend.errors import ApiError


@pytest.fixture
def database(tmp_path: Path) -> Iterator[None]:
    opened = store.open_database(f"sqlite:///{tmp_path / 'audit.db'}")
    migrations.migrate(opened)
    yield
    opened.close()


def test_what_is_audited_and_what_a_record_names() -> None:
    assert [m for m in ("GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE", "PUT") if audited(m)] == [
        "POST",
        "PATCH",
        "DELETE",
        "PUT",
    ]
    assert target_of("/jobs/{id}/units/{name}", {"job_id": "3", "name": "db"}) == "job:3"
    assert target_of("/operations/{id}/cancel", {"op_id": "9"}) == "operation:9"
    assert target_of("/schedules/{name}/run", {"name": "nightly"}) == "schedule:nightly"
    assert target_of("/webhooks/{id}", {"webhook_id": "2"}) == "webhook:2"
    assert target_of("/jobs", {}) is None


def test_records_are_stored_listed_and_pruned(database: None) -> None:
    log = AuditLog()
    log.start()
    for i in range(30):
        log.submit(entry("nightly" if i % 2 else "on-call", "operator", "POST", f"/api/v1/jobs/{i}", 201, None, None))
    log.stop()
    page = log.listing(None, None, 10, None)
    assert [r["path"] for r in page["items"]][:2] == ["/api/v1/jobs/29", "/api/v1/jobs/28"] and page["next"]
    assert {r["actor"] for r in log.listing("nightly", None, 100, None)["items"]} == {"nightly"}
    # Ten of them a year and a day old: pruned, the rest kept.
    old = time.time() - 366 * 86400
    AuditRecord.update(at=old).where(AuditRecord.id <= 10).execute()
    assert prune_audit(time.time() - 365 * 86400, threading.Event()) == 10
    assert AuditRecord.select().count() == 20
    after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old + 1))
    assert len(log.listing(None, after, 100, None)["items"]) == 20
    # An id, as `after` is elsewhere in the API: the records after that one, newest first.
    newest = [r["id"] for r in log.listing(None, "25", 100, None)["items"]]
    assert newest == [30, 29, 28, 27, 26]
    for bad in ("²", "9" * 40, "yesterday"):
        with pytest.raises(ApiError) as refused:
            log.listing(None, bad, 100, None)
        assert refused.value.error == "invalid_parameter", bad
