"""6. API at size: p99 of GET /jobs, /jobs/{id}, /operations/{id}/events over a big SQLite file,
then again while the server's own retention (retention.prune_finished_jobs, via --retain-days) deletes old Jobs' events.

The rows are generated inside SQLite (recursive CTEs, INSERT ... SELECT) into the schema the server
creates (backend.migrations.migrate), so loading millions of events takes seconds, not minutes.
"""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from backend.db import open_database
from backend.migrations import migrate

from .client import Api
from .results import Row, check, millis, percentile
from .workspace import Workspace

NAME = "api"
GOAL_P99 = 0.020
GOAL_P99_PRUNE = 0.050
UNITS_PER_JOB = 3
DAY = 86400.0


@dataclass
class Sizes:
    jobs: int
    operations: int
    events: int
    prune_events: int
    samples: int

    @property
    def ops_per_job(self) -> int:
        return self.operations // self.jobs

    @property
    def events_per_op(self) -> int:
        return self.events // self.operations

    @property
    def old_jobs(self) -> int:
        """Jobs old enough for retention: together they hold `prune_events` events."""
        return max(1, self.prune_events // (self.ops_per_job * self.events_per_op))


def load(path: Path, sizes: Sizes) -> None:
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    db.close()
    now = time.time()
    old = now - 3 * DAY
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    per_job, per_op = sizes.ops_per_job, sizes.events_per_op
    data = (
        '{"playbook": "backup-db.yml", "play": "all", "task": "step", "task_action": "command", '
        '"host": "localhost", "res": {"changed": true, "rc": 0, "stdout": "done", "stderr": ""}}'
    )
    with con:
        con.execute(
            "INSERT INTO job (id, tag, created_at, status) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "SELECT i, 'tag' || (i % 20), CASE WHEN i <= ? THEN ? + i ELSE ? + i * 0.001 END, 'successful' FROM n",
            (sizes.jobs, sizes.old_jobs, old, now - 1000),
        )
        con.execute(
            "INSERT INTO unit (id, job_id, name, created_at) "
            "SELECT (j.id - 1) * ? + k.k, j.id, 'unit' || k.k, j.created_at FROM job j, "
            "(WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?) SELECT k FROM n) k",
            (UNITS_PER_JOB, UNITS_PER_JOB),
        )
        con.execute(
            "INSERT INTO operation (id, job_id, unit_id, unit_name, action, status, rc, created_at, started_at, "
            "finished_at, extravars, event_count, tasks_done, tasks_total, stats, error, truncated, timeout, "
            "cancel_requested, owner, pid, pid_started, run_ident, hostname, check_mode, diff_mode, attempt, retries, "
            "retry_delay) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "SELECT i, (i - 1) / ? + 1, ((i - 1) / ?) * ? + (i % ?) + 1, 'unit' || ((i % ?) + 1), 'backup-db.yml', "
            "'successful', 0, j.created_at, j.created_at + 1, j.created_at + 20, '{}', ?, ?, ?, "
            '\'{"ok": 16, "changed": 3, "failed": 0, "skipped": 0, "unreachable": 0}\', NULL, 0, NULL, 0, '
            "'bench', 4242, 1.0, 'op' || i, 'bench', 0, 0, 1, 0, 10.0 FROM n JOIN job j ON j.id = (n.i - 1) / ? + 1",
            (
                sizes.operations,
                per_job,
                per_job,
                UNITS_PER_JOB,
                UNITS_PER_JOB,
                UNITS_PER_JOB,
                per_op,
                per_op // 3,
                per_op // 3,
                per_job,
            ),
        )
        con.execute(
            "INSERT INTO event (operation_id, seq, event, created, host, task, play, stdout, data) "
            "SELECT o.id, s.seq, CASE s.seq % 3 WHEN 1 THEN 'playbook_on_task_start' WHEN 2 THEN 'runner_on_start' "
            "ELSE 'runner_on_ok' END, o.started_at + s.seq * 0.01, 'localhost', 'step ' || (s.seq / 3), 'all', "
            "'changed: [localhost]', ? FROM operation o, "
            "(WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < ?) SELECT seq FROM n) s "
            "ORDER BY o.id, s.seq",
            (data, per_op),
        )
    con.execute("ANALYZE")
    con.close()


def count_events(path: Path) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT COUNT(*) FROM event").fetchone()[0])
    finally:
        con.close()


class Sampler:
    """Times the three routes, round robin, on random ids from the part of the data that stays."""

    ROUTES = ("GET /jobs", "GET /jobs/{id}", "GET /operations/{id}/events")

    def __init__(self, api: Api, sizes: Sizes, seed: int = 8) -> None:
        self.api = api
        self.sizes = sizes
        self.rng = random.Random(seed)
        self.times: dict[str, list[float]] = {r: [] for r in self.ROUTES}

    def once(self) -> None:
        first_kept = self.sizes.old_jobs + 1
        job = self.rng.randint(first_kept, self.sizes.jobs)
        op = self.rng.randint((first_kept - 1) * self.sizes.ops_per_job + 1, self.sizes.operations)
        for route, path in zip(self.ROUTES, ("jobs", f"jobs/{job}", f"operations/{op}/events"), strict=True):
            took, status = self.api.timed_get(path)
            check(status == 200, f"{route} ({path}) answered {status}")
            self.times[route].append(took)

    def p99(self) -> dict[str, float]:
        return {route: percentile(t, 99) for route, t in self.times.items()}

    def summary(self) -> str:
        return "; ".join(
            f"{route} p50 {millis(percentile(t, 50))} max {millis(max(t, default=float('nan')))}"
            for route, t in self.times.items()
        )


def run(ws: Workspace, quick: bool) -> list[Row]:
    sizes = (
        Sizes(jobs=40, operations=400, events=8000, prune_events=1000, samples=30)
        if quick
        else Sizes(jobs=10_000, operations=100_000, events=5_000_000, prune_events=1_000_000, samples=400)
    )
    path = ws.root / "size.db"
    t0 = time.monotonic()
    load(path, sizes)
    loaded = time.monotonic() - t0
    total = count_events(path)
    check(total == sizes.events, f"loaded {total} events, wanted {sizes.events}")
    database = f"sqlite:///{path}"
    rows: list[Row] = []
    with ws.server(database=database) as srv:
        api = Api(srv.api)
        check(api.get(f"jobs/{sizes.jobs}")["units"][0]["latest_operation"] is not None, "loaded job has no ops")
        warm = Sampler(api, sizes, seed=1)
        for _ in range(min(20, sizes.samples)):
            warm.once()
        idle = Sampler(api, sizes)
        for _ in range(sizes.samples):
            idle.once()
        api.close()
    idle_p99 = idle.p99()
    # Retention prunes Jobs older than --retain-days, oldest first, events in batches, from its heartbeat thread.
    with ws.server(database=database, args=["--retain-days", "1"]) as srv:
        api = Api(srv.api)
        probe = Api(srv.api)
        busy = Sampler(api, sizes, seed=2)
        last_old = sizes.old_jobs
        deadline = time.monotonic() + (60 if quick else 1800)
        while probe.request("GET", "jobs/1")[0] == 200:  # the prune has not deleted its first Job yet
            check(time.monotonic() < deadline, "retention never started")
            time.sleep(0.02)
        pruning_since = time.monotonic()
        while probe.request("GET", f"jobs/{last_old}")[0] == 200:
            check(time.monotonic() < deadline, "retention did not finish in time")
            busy.once()
        pruned_in = time.monotonic() - pruning_since
        api.close()
        probe.close()
    left = count_events(path)
    check(
        left == sizes.events - sizes.old_jobs * sizes.ops_per_job * sizes.events_per_op,
        f"{left} events left after pruning {sizes.old_jobs} jobs",
    )
    busy_p99 = busy.p99()
    size = f"{sizes.jobs:,} jobs, {sizes.operations:,} ops, {sizes.events:,} events (loaded in {loaded:.0f} s)"
    samples = len(busy.times[Sampler.ROUTES[0]])
    for route in Sampler.ROUTES:
        rows.append(
            Row(
                "6",
                f"{route} p99",
                millis(idle_p99[route]),
                "-",
                millis(idle_p99[route]),
                f"< {millis(GOAL_P99)}",
                (idle_p99[route] < GOAL_P99) if not quick else None,
                [size, f"{sizes.samples} samples per route: {idle.summary()}"] if route == Sampler.ROUTES[0] else [],
            )
        )
    for route in Sampler.ROUTES:
        rows.append(
            Row(
                "6",
                f"{route} p99 during prune",
                millis(busy_p99[route]),
                "-",
                millis(busy_p99[route]),
                f"< {millis(GOAL_P99_PRUNE)}",
                (busy_p99[route] < GOAL_P99_PRUNE) if not quick else None,
                [
                    f"prune of {sizes.old_jobs:,} jobs / {sizes.prune_events:,} events took {pruned_in:.1f} s; "
                    f"{samples} samples per route while it ran: {busy.summary()}"
                ]
                if route == Sampler.ROUTES[0]
                else [],
            )
        )
    return rows
