"""/actions and retry chains across two replicas on one PostgreSQL database."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer, wait_until

from .helpers import make_job, start
from .test_postgres import REPLICA_IDS, owner_of, runner_and_other, sql
from .test_postgres import pg_url as _fresh_database  # noqa: F401 - the fixture, found by pytest under its own name

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """test_postgres.py's fresh database for this test (created, then dropped at teardown)."""
    return str(request.getfixturevalue("_fresh_database"))


@pytest.fixture
def small_replicas(db_url: str, server_factory: Callable[..., RunningServer]) -> tuple[RunningServer, RunningServer]:
    """Two replicas with one worker each: what /actions creates mostly waits `pending`, which is all
    these tests need (a pending Operation holds its Unit) and spares the shared machine."""
    a, b = (
        server_factory(database=db_url, name=rid, args=["--replica-id", rid, "--shutdown-grace", "1", "--workers", "1"])
        for rid in REPLICA_IDS
    )
    return a, b


def cancel_everything(srv: RunningServer, url: str) -> None:
    for (op_id,) in sql(url, "SELECT id FROM operation WHERE status IN ('pending', 'running')"):
        srv.post(f"operations/{op_id}/cancel")
    wait_until(
        lambda: sql(url, "SELECT count(*) FROM operation WHERE status IN ('pending', 'running')") == [(0,)],
        timeout=60,
        what="every Operation ended",
    )


def test_concurrent_actions_on_two_replicas_are_all_or_nothing(
    db_url: str, small_replicas: tuple[RunningServer, RunningServer]
) -> None:
    a, b = small_replicas
    names = [f"u{i}" for i in range(6)]
    # Overlapping Unit sets, each also asked twice, raced through both replicas.
    sets = [names[0:3], names[2:5], [names[4], names[5], names[0]], names[1:2], names]
    for round_no in range(3):
        job = make_job(a, f"race{round_no}", names)

        def post(i: int, job_id: int = job["id"]) -> tuple[list[str], int, list[int]]:
            units = sets[i % len(sets)]
            resp = (a, b)[i % 2].post(
                f"jobs/{job_id}/actions",
                {"action": "sleep.yml", "units": units, "extravars": {"sleep_seconds": 300}},
            )
            ids = [o["id"] for o in resp.json()["items"]] if resp.status == 202 else []
            if resp.status != 202:
                assert resp.status == 409 and resp.json()["error"] == "unit_busy", resp.body
                assert resp.json()["field"] in units
            return units, resp.status, ids

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(post, range(10)))
        winners = [(units, ids) for units, status, ids in answers if status == 202]
        assert winners, answers
        # The winners' Unit sets never overlap, and each winner got exactly one Operation per Unit.
        for (u1, _), (u2, _) in itertools.combinations(winners, 2):
            assert not set(u1) & set(u2), winners
        stored = sql(db_url, "SELECT id, unit_name FROM operation WHERE job_id = %s ORDER BY id", (job["id"],))
        assert sorted(i for _, ids in winners for i in ids) == [i for i, _ in stored]
        by_unit = sorted(u for _, u in stored)
        assert by_unit == sorted(u for units, _ in winners for u in units)
        cancel_everything(a, db_url)


def test_queued_actions_from_two_replicas_both_land_whole(
    db_url: str, small_replicas: tuple[RunningServer, RunningServer]
) -> None:
    a, b = small_replicas
    job = make_job(a, "queue", ["db", "web", "cache"])
    body = {"action": "sleep.yml", "extravars": {"sleep_seconds": 300}, "queue": True}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: (a, b)[i % 2].post(f"jobs/{job['id']}/actions", body), range(4)))
    assert [r.status for r in answers] == [202] * 4
    counts = sql(db_url, "SELECT unit_name, count(*) FROM operation WHERE job_id = %s GROUP BY unit_name", (job["id"],))
    assert sorted(counts) == [("cache", 4), ("db", 4), ("web", 4)]
    cancel_everything(b, db_url)


@pytest.mark.slow
def test_a_lost_attempt_is_retried_by_the_surviving_replica(
    db_url: str, small_replicas: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    a, b = small_replicas
    job = make_job(a, "backup", ["db"])
    marker = tmp_path / "marker"
    first = start(
        a,
        job["id"],
        "db",
        "flaky.yml",
        extravars={"flaky_marker": str(marker), "flaky_sleep": 300},
        retries=1,
        retry_delay=0,
    )
    runner, survivor = runner_and_other(db_url, (a, b), first["id"])
    wait_until(marker.exists, 60, what="the first attempt to leave its marker")
    runner.kill()
    died = time.monotonic()

    lost = survivor.wait_terminal(first["id"], 60)
    assert lost["status"] == "lost"

    def retry() -> dict[str, Any] | None:
        items = survivor.get(f"operations?job_id={job['id']}").json()["items"]
        return next((o for o in items if o["retry_of"] == first["id"]), None)

    second = wait_until(retry, 30, what="the retry of the lost attempt")
    assert second["attempt"] == 2 and second["retries"] == 1
    done = survivor.wait_terminal(second["id"], 60)
    print(f"\nretry of a lost attempt ended {time.monotonic() - died:.1f} s after kill -9 of its replica")
    assert done["status"] == "successful"
    assert owner_of(db_url, second["id"]) == survivor.args[survivor.args.index("--replica-id") + 1]
    assert survivor.get(f"jobs/{job['id']}").json()["status"] == "successful"
