"""The webhook sender's pure parts and its outbox claims, in-process on a SQLite file."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import peewee as pw
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from backend.db import Delivery, Webhook, open_database
from backend.delivery import BACKOFF, KEEP_FINISHED, PER_WEBHOOK, SENDERS, Sender, next_delay
from backend.migrations import migrate
from backend.webhook_http import post
from backend.webhooks import check_secret, sign


@pytest.fixture
def db(tmp_path: Path) -> Iterator[pw.Database]:
    database = open_database(f"sqlite:///{tmp_path / 'rr.db'}")
    migrate(database)
    yield database
    database.close()


def test_the_backoff_starts_within_ten_seconds_and_lasts_over_a_day() -> None:
    first = next_delay(1)
    assert first is not None and first <= 10
    assert sum(BACKOFF) > 24 * 3600
    assert next_delay(len(BACKOFF)) is not None and next_delay(len(BACKOFF) + 1) is None


def test_the_signature_is_the_standard_webhooks_one() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = json.dumps({"type": "job.finished", "data": {"id": 1}})
    headers = {"webhook-id": "7", "webhook-timestamp": "1700000000"}
    headers["webhook-signature"] = sign(check_secret(secret) or "", "7", 1700000000, body)
    # The library's own signing of the same message (verify() would refuse this old timestamp as stale).
    expected = Verifier(secret).sign("7", datetime.fromtimestamp(1700000000, UTC), body)
    assert headers["webhook-signature"] == expected


def _delivery(hook: Webhook, status: str, created_at: float) -> Delivery:
    return Delivery.create(webhook=hook.id, event="job.finished", body="{}", status=status, created_at=created_at)


def test_two_senders_never_claim_the_same_attempt(db: pw.Database) -> None:
    hook = Webhook.create(url="http://127.0.0.1:9/", created_at=0)
    ids = [Delivery.create(webhook=hook.id, event="job.finished", body="{}", created_at=0, next_attempt_at=0).id]
    one, two = Sender("a"), Sender("b")
    assert one.claim_due() == ids
    assert two.claim_due() == []  # leased by "a"
    Delivery.update(lease_until=1.0).where(Delivery.id == ids[0]).execute()  # the lease ran out
    assert two.claim_due() == ids


def test_a_slow_webhooks_backlog_never_hides_another_webhooks_delivery(db: pw.Database) -> None:
    slow, other = (Webhook.create(url=f"http://127.0.0.1:{p}/", created_at=0) for p in (9, 10))
    for _ in range(SENDERS * PER_WEBHOOK * 2):
        Delivery.create(webhook=slow.id, event="job.finished", body="{}", created_at=0, next_attempt_at=0)
    waiting = Delivery.create(webhook=other.id, event="job.finished", body="{}", created_at=1, next_attempt_at=1)
    sender = Sender("a")
    first = sender.claim_due()
    assert len(first) == PER_WEBHOOK  # the slow one's attempts in flight: no more of them
    assert sender.claim_due() == [waiting.id]


def test_finished_deliveries_are_pruned_after_the_keep_period_pending_ones_never(db: pw.Database) -> None:
    hook = Webhook.create(url="http://127.0.0.1:9/", created_at=0)
    now = 10 * KEEP_FINISHED
    old_done = _delivery(hook, "delivered", now - KEEP_FINISHED - 1)
    old_failed = _delivery(hook, "failed", now - KEEP_FINISHED - 1)
    old_pending = _delivery(hook, "pending", now - KEEP_FINISHED - 1)
    recent = _delivery(hook, "delivered", now - 60)
    assert Sender("a").prune(now) == 2
    left = {d.id for d in Delivery.select()}
    assert left == {old_pending.id, recent.id}
    assert old_done.id not in left and old_failed.id not in left


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt() -> None:
    from tests.support.server import free_port

    from .webhook_receiver import Receiver

    receiver = Receiver(free_port(), answer=307).start()
    try:
        assert post(receiver.url, b"{}", {"Content-Type": "application/json"}) == (307, "HTTP 307")
        assert len(receiver.received) == 1
        receiver.answer = 200
        assert post(receiver.url, b"{}", {}) == (200, None)
    finally:
        receiver.stop()
    status, error = post(receiver.url, b"{}", {})  # nobody listens any more
    assert status is None and error


def test_a_trickling_answer_is_cut_at_the_attempts_deadline() -> None:
    import time

    from tests.support.server import free_port

    from .webhook_receiver import Trickler

    trickler = Trickler(free_port()).start()
    try:
        started = time.monotonic()
        status, error = post(trickler.url, b"{}", {}, timeout=2.5)  # a byte a second: every read succeeds
        assert 2.5 <= time.monotonic() - started < 4
        assert status is None and error == "timed out: no complete answer within 2.5 s"
    finally:
        trickler.stop()
