"""The webhook sender: claims due deliveries from the outbox and POSTs them, signed, with retries.

Each attempt is claimed in the database with a conditional UPDATE (a lease: `WHERE lease_until is past`),
so exactly one replica sends it, and a replica that dies mid-attempt only holds it until the lease ends.
Requests go out from a pool of sender threads, each attempt within one deadline (REQUEST_TIMEOUT, from
connect to the last byte: `webhook_http.py`), so a slow or dead receiver holds one sender thread for at
most that, never the IOLoop or a run. A webhook has at most PER_WEBHOOK attempts in flight and a claim is
only made for a free thread, so slow receivers never keep another webhook's deliveries waiting unless more
than SENDERS / PER_WEBHOOK of them are slow at once. A target the policy refuses (`webhook_targets.py`)
is never contacted: its delivery is `failed` at once, saying why.
The `webhook-id` is the delivery's id on every attempt, so receivers can drop repeats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from . import __version__
from .db import Delivery, Webhook
from .failure_log import RepeatedFailure
from .sql import records_sql
from .timeutil import now
from .webhook_http import REQUEST_TIMEOUT, post
from .webhook_targets import TargetPolicy, TargetRefused
from .webhooks import sign

log = logging.getLogger(__name__)

# Longer than one attempt can take, so a live sender never loses its claim mid-request.
LEASE = REQUEST_TIMEOUT * 3
# Delay before attempt n+1 after attempt n failed: the first retry within 10 s, the last one more than
# 24 h after the first attempt (the sum is 31.7 h), then the delivery is `failed`.
BACKOFF = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800)
# Threads are started as needed: an idle server has none.
SENDERS = 32
PER_WEBHOOK = 2
POLL = 0.5
# The longest an idle sender waits between looks: "the first attempt leaves within a few seconds" (api.md).
IDLE_POLL = 2.0
# Finished deliveries (delivered or failed) are kept this long for GET /webhooks/{id}/deliveries, then
# deleted, so the outbox does not grow without bound; pending ones are never pruned.
KEEP_FINISHED = 30 * 86400.0
PRUNE_EVERY = 600.0


def next_delay(attempts: int) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt, or None when there is no next one."""
    return float(BACKOFF[attempts - 1]) if attempts <= len(BACKOFF) else None


class Sender:
    def __init__(self, owner: str, policy: TargetPolicy | None = None) -> None:
        self.owner = owner
        self.policy = policy or TargetPolicy()
        self.pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="redrunner-webhook")
        self._inflight: dict[int, int] = {}  # delivery id -> webhook id
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._kick = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="redrunner-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        self._kick.set()

    def stop(self) -> None:
        self._stopping.set()
        self._kick.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def prune(self, at: float) -> int:
        """Delete deliveries that finished more than KEEP_FINISHED ago; returns how many."""
        return int(
            Delivery.delete()
            .where(Delivery.status.in_(("delivered", "failed")) & (Delivery.created_at < at - KEEP_FINISHED))
            .execute()
        )

    def _loop(self) -> None:
        pruned_at = 0.0
        failures = RepeatedFailure(log, "claiming webhook deliveries")
        wait = POLL
        while not self._stopping.is_set():
            kicked = self._kick.wait(wait)
            self._kick.clear()
            if self._stopping.is_set():
                break  # stop() kicks: no claim after it (an in-process server's database may be gone)
            try:
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    self.prune(now())
                claimed = self.claim_due()
                for delivery_id in claimed:
                    self.pool.submit(self._attempt, delivery_id)
                # Idle, the poll slows down to IDLE_POLL (most servers have no webhooks at all); any work or
                # kick brings it back to POLL.
                wait = POLL if claimed or kicked else min(wait * 2, IDLE_POLL)
                failures.succeeded()
            except RuntimeError:
                return  # the pool was shut down: the server is stopping
            except Exception as exc:
                failures.failed(exc)
                self._stopping.wait(1.0)

    def claim_due(self) -> list[int]:
        """Claim the due deliveries this replica has a free sender for; each claim wins or loses atomically."""
        with self._lock:
            free = SENDERS - len(self._inflight)
            busy = Counter(self._inflight.values())
        if free <= 0:
            return []
        at = now()
        # Webhooks at PER_WEBHOOK are left out in the query itself, so a slow receiver's backlog of due
        # deliveries cannot fill the window and hide the others' (then one more poll at most).
        full = sorted(hook for hook, n in busy.items() if n >= PER_WEBHOOK)
        skip = f"AND webhook_id NOT IN ({', '.join('?' * len(full))}) " if full else ""
        # Asked up to twice a second on every replica: a plain statement, not built by peewee.
        candidates = records_sql(
            'SELECT id, webhook_id FROM "delivery" WHERE status = ? AND next_attempt_at <= ? '
            f"AND (lease_until IS NULL OR lease_until < ?) {skip}ORDER BY next_attempt_at, id LIMIT ?",
            ["pending", at, at, *full, free * PER_WEBHOOK],
        )
        claimed: list[int] = []
        for candidate in candidates:
            if len(claimed) >= free:
                break
            if busy[candidate.webhook_id] >= PER_WEBHOOK:
                continue
            delivery_id = candidate.id
            n = (
                Delivery.update(lease_owner=self.owner, lease_until=at + LEASE)
                .where(
                    (Delivery.id == delivery_id)
                    & (Delivery.status == "pending")
                    & (Delivery.lease_until.is_null() | (Delivery.lease_until < at))
                )
                .execute()
            )
            if n:
                claimed.append(delivery_id)
                busy[candidate.webhook_id] += 1
                with self._lock:
                    self._inflight[delivery_id] = candidate.webhook_id
        return claimed

    def _attempt(self, delivery_id: int) -> None:
        try:
            self.attempt(delivery_id)
        except Exception:
            log.exception("webhook delivery %s: attempt failed unexpectedly", delivery_id)
        finally:
            with self._lock:
                self._inflight.pop(delivery_id, None)

    def attempt(self, delivery_id: int) -> None:
        """Send one claimed attempt and record its outcome (only while the claim is still ours)."""
        delivery = Delivery.get_or_none(Delivery.id == delivery_id)
        hook = Webhook.get_or_none(Webhook.id == delivery.webhook_id) if delivery is not None else None
        if delivery is None or hook is None:
            return  # the webhook was deleted meanwhile
        msg_id = str(delivery.id)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"RedRunner/{__version__}",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if hook.secret:
            headers["webhook-signature"] = sign(hook.secret, msg_id, timestamp, delivery.body)
        refused = False
        try:
            status, error = post(hook.url, delivery.body.encode(), headers, self.policy)
        except TargetRefused as exc:
            status, error, refused = None, str(exc), True
        attempts = delivery.attempts + 1
        fields: dict[str, object] = {
            "attempts": attempts,
            "response_status": status,
            "last_error": error,
            "lease_owner": None,
            "lease_until": None,
        }
        if status is not None and 200 <= status < 300:
            fields.update(status="delivered", delivered_at=now(), next_attempt_at=None, last_error=None)
        else:
            delay = None if refused else next_delay(attempts)
            if delay is None:
                fields.update(status="failed", next_attempt_at=None)
            else:
                fields.update(next_attempt_at=now() + delay)
        updated = (
            Delivery.update(fields).where((Delivery.id == delivery_id) & (Delivery.lease_owner == self.owner)).execute()
        )
        host = urlsplit(hook.url).hostname
        outcome = fields.get("status", "will retry")
        # The URL's host only: its path or query may carry a receiver's own token.
        log.info(
            "webhook delivery %s (%s) to %s: attempt %d, %s, %s",
            delivery_id,
            delivery.event,
            host,
            attempts,
            status if status is not None else error,
            outcome if updated else "claim lost",
        )
