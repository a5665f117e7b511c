"""Two replicas on one PostgreSQL database fire each schedule's fire time exactly once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from functools import partial

import pytest

from tests.support.server import RunningServer, free_port, wait_until

from .test_postgres import pg_url, sql  # noqa: F401 - pg_url is a fixture
from .webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Both replicas race for every fire time of every schedule; 6 schedules due at once in each of 2 rounds
# (a second round shows fire times that differ per round are each taken once too) make 12 races and
# 12 Operations; 10 x 3 cost ~60 s of CPU for the same checks.
SCHEDULES = 6
ROUNDS = 2


def all_fired(url: str, fire_at: float) -> bool:
    return bool(sql(url, "SELECT count(*) FROM schedule WHERE last_run_at = %s", (fire_at,))[0][0] == SCHEDULES)


def test_two_replicas_race_for_every_fire_time_and_each_runs_once(
    pg_url: str,  # noqa: F811 - first: fixtures end in reverse, so the servers stop before the drop
    server_factory: Callable[..., RunningServer],
) -> None:
    a = server_factory(database=pg_url, name="replica-a", args=["--replica-id", "replica-a"])
    b = server_factory(database=pg_url, name="replica-b", args=["--replica-id", "replica-b"])
    receiver = Receiver(free_port()).start()
    assert a.post("webhooks", {"url": receiver.url}).status == 201
    for i in range(SCHEDULES):
        # A cron that does not come by itself during the test: the test sets every fire time.
        body = {"name": f"s{i}", "cron": "0 0 1 1 *", "tag": "nightly", "units": ["db"], "action": "hello"}
        resp = (a if i % 2 else b).post("schedules", {**body, "extravars": {"hello_sleep": 0}})
        assert resp.status == 201, resp.body
    previous = float("inf")
    for round_no in range(1, ROUNDS + 1):
        # Every schedule due at once, seen by both replicas' schedulers (each polls every second).
        # Distinct per round (a round can take under a second), and within the catch-up window.
        fire_at = previous = min(float(int(time.time()) - 1), previous - 1)
        sql(pg_url, "UPDATE schedule SET next_run_at = %s", (fire_at,))
        wait_until(
            partial(all_fired, pg_url, fire_at),
            timeout=60,
            interval=0.2,
            what=f"round {round_no}: every schedule fired",
        )
        per_schedule = Counter(name for (name,) in sql(pg_url, "SELECT schedule FROM job"))
        assert per_schedule == {f"s{i}": round_no for i in range(SCHEDULES)}, per_schedule
    # Every firing's Operation ran, on whichever replica claimed it, and all succeeded.
    jobs = sql(pg_url, "SELECT id FROM job")
    assert len(jobs) == SCHEDULES * ROUNDS
    wait_until(
        lambda: sql(pg_url, "SELECT count(*) FROM operation WHERE status = 'successful'")[0][0] == SCHEDULES * ROUNDS,
        timeout=180,
        interval=0.5,
        what="every fired Operation finished",
    )
    for srv in (a, b):
        assert "could not fire" not in srv.log()
    # Both replicas send webhooks, and each delivery reached the receiver once: one attempt, one sender.
    try:
        wait_until(lambda: len(receiver.received) >= SCHEDULES * ROUNDS, timeout=60, what="every job.finished")
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert len(ids) == len(set(ids)) == SCHEDULES * ROUNDS
        # The receiver answers before the sender records the delivery: wait for the record too.
        query = "SELECT status, attempts, count(*) FROM delivery GROUP BY status, attempts ORDER BY status"
        wait_until(
            lambda: sql(pg_url, query) == [("delivered", 1, SCHEDULES * ROUNDS)],
            timeout=30,
            what="every delivery recorded once, delivered at the first attempt",
        )
    finally:
        receiver.stop()
