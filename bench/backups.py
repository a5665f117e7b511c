"""`python -m bench.backups [--quick] [--samples N] [--tags T]`: GET /backups and the keep computation at size.

Loads 10,000 Jobs (T tags, default 2; 10 Units each: 10 T groups) with 100,000 Operations into the server's own
schema, every Operation a successful backup publishing `redrunner_backup` (the worst case: every row is
a backup), one Job an hour (~14 months). The backups table is filled by the server's own migration from
those Operations (its backfill, timed). Then, for the default policy (--keep-last 1) and a calendar one
(--keep-last 3 --keep-daily 7 --keep-weekly 5 --keep-monthly 12):
- p99 of `GET /backups` unfiltered, `?tag=`, `?tag=&unit=`, each at a random page (a cursor at a
  random id), on a real server over one keep-alive connection;
- p99 of the keep computation retention runs before each prune (`backup_records.kept_jobs`: every
  group's kept backups and the Jobs holding them) and of its per-Job check (`holds_kept`), in process.
Goal: every p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from backend import backup_records
from backend.db import open_database
from backend.keep import KeepPolicy
from backend.migrations import MIGRATIONS, SCHEMA_VERSION, _v_backup_records, migrate
from backend.paging import encode_cursor
from backend.sql import execute_sql

from .client import Api
from .results import check, millis, percentile
from .workspace import Workspace, workspace

GOAL_P99 = 0.020
UNITS = 10
HOUR = 3600.0


@dataclass
class Sizes:
    jobs: int
    samples: int
    tags: int = 2

    @property
    def operations(self) -> int:
        return self.jobs * UNITS


def load(path: Path, sizes: Sizes) -> float:
    """The Jobs and Operations, then the backups migration again over them; returns its seconds."""
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    db.close()
    start = time.time() - sizes.jobs * HOUR
    artifacts = '{"redrunner_backup": {"path": "/backups/u/op", "size": 1048576, "sha256": "%s"}}' % ("ab" * 32)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.execute(
            "INSERT INTO job (id, tag, created_at, status) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "SELECT i, 'backup' || (i % ?), ? + i * ?, 'successful' FROM n",
            (sizes.jobs, sizes.tags, start, HOUR),
        )
        con.execute(
            "INSERT INTO unit (id, job_id, name, created_at) "
            "SELECT (j.id - 1) * ? + k.k, j.id, 'unit' || k.k, j.created_at FROM job j, "
            "(WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?) SELECT k FROM n) k",
            (UNITS, UNITS),
        )
        con.execute(
            "INSERT INTO operation (id, job_id, unit_id, unit_name, action, status, rc, created_at, started_at, "
            "finished_at, extravars, stats, artifacts, event_count, tasks_done, truncated, cancel_requested, "
            "check_mode, diff_mode, attempt, retries, retry_delay) "
            "SELECT u.id, u.job_id, u.id, u.name, 'backup-' || u.name || '.yml', 'successful', 0, u.created_at, "
            "u.created_at + 1, u.created_at + 60, '{}', '{}', replace(?, '/op', '/op' || u.id), 9, 3, 0, 0, 0, 0, "
            "1, 0, 10.0 FROM unit u",
            (artifacts,),
        )
        # The backups table as the server fills it on an upgrade: from the Operations already stored.
        con.execute("DROP TABLE backup_record")
        # At the version before the backups table (later migrations run again over it: each is safe to).
        before = MIGRATIONS.index(_v_backup_records)
        con.execute("UPDATE schema_version SET version = ? WHERE version = ?", (before, SCHEMA_VERSION))
    con.close()
    db = open_database(f"sqlite:///{path}")
    t0 = time.monotonic()
    migrate(db)
    took = time.monotonic() - t0
    execute_sql("ANALYZE", db=db)
    row = execute_sql("SELECT COUNT(*) FROM backup_record", db=db).fetchone()
    assert row is not None
    (n,) = row
    check(n == sizes.operations, f"backfill recorded {n} backups of {sizes.operations}")
    db.close()
    return took


def sample_api(api: Api, sizes: Sizes, rng: random.Random) -> dict[str, list[float]]:
    routes: dict[str, list[float]] = {"GET /backups": [], "GET /backups?tag=": [], "GET /backups?tag=&unit=": []}
    for _ in range(sizes.samples):
        cursor = encode_cursor(rng.randint(sizes.operations // 2, sizes.operations))
        tag, unit = f"backup{rng.randrange(sizes.tags)}", f"unit{rng.randint(1, UNITS)}"
        for route, path in zip(
            routes,
            (f"backups?cursor={cursor}", f"backups?tag={tag}&cursor={cursor}", f"backups?tag={tag}&unit={unit}"),
            strict=True,
        ):
            took, status = api.timed_get(path)
            check(status == 200, f"{path} answered {status}")
            routes[route].append(took)
    return routes


def sample_keep(path: Path, policy: KeepPolicy, sizes: Sizes, rng: random.Random) -> dict[str, list[float]]:
    db = open_database(f"sqlite:///{path}")
    times: dict[str, list[float]] = {"keep computation (every group)": [], "a Job's keep check": []}
    kept_jobs: set[int] = set()
    try:
        for _ in range(max(10, sizes.samples // 4)):
            t0 = time.perf_counter()
            kept_jobs = backup_records.kept_jobs(policy)
            times["keep computation (every group)"].append(time.perf_counter() - t0)
        for _ in range(sizes.samples):
            job = rng.randint(1, sizes.jobs)
            t0 = time.perf_counter()
            holds = backup_records.holds_kept(job, policy)
            times["a Job's keep check"].append(time.perf_counter() - t0)
            check(holds == (job in kept_jobs), f"job {job}: holds_kept {holds} but kept_jobs says otherwise")
    finally:
        db.close()
    # The default policy keeps each group's newest: the last Job of each tag holds them all.
    if policy == KeepPolicy():
        check(len(kept_jobs) == min(sizes.tags, sizes.jobs), f"default policy kept {len(kept_jobs)} jobs")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backups", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it works, judges nothing")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--tags", type=int, default=2, help="backup tags: groups are tags x 10 units")
    parser.add_argument("--json", type=Path, help="also write the p99s to this file")
    args = parser.parse_args(argv)
    sizes = Sizes(40, 20, args.tags) if args.quick else Sizes(10_000, args.samples, args.tags)
    policies = {
        "keep-last 1": (KeepPolicy(), []),
        "keep-last 3, daily 7, weekly 5, monthly 12": (
            KeepPolicy(last=3, daily=7, weekly=5, monthly=12),
            ["--keep-last", "3", "--keep-daily", "7", "--keep-weekly", "5", "--keep-monthly", "12"],
        ),
    }
    results: dict[str, float] = {}
    with workspace() as ws:
        path = ws.root / "backups.db"
        t0 = time.monotonic()
        backfill = load(path, sizes)
        print(
            f"{sizes.jobs:,} jobs, {sizes.operations:,} operations, all backups in {sizes.tags * UNITS} groups "
            f"(loaded in {time.monotonic() - t0:.0f} s; the migration's backfill of the backups table "
            f"{backfill:.1f} s)",
            flush=True,
        )
        for label, (policy, flags) in policies.items():
            rng = random.Random(8)
            times = measure_server(ws, path, flags, sizes, rng)
            times.update(sample_keep(path, policy, sizes, rng))
            for name, values in times.items():
                p99 = percentile(values, 99)
                results[f"{label}: {name}"] = p99
                verdict = "" if args.quick else ("  yes" if p99 < GOAL_P99 else "  NO")
                print(
                    f"{label:44} {name:32} p50 {millis(percentile(values, 50)):>8}  p99 {millis(p99):>8}  "
                    f"max {millis(max(values)):>8}  (n={len(values)}, goal p99 < {millis(GOAL_P99)}){verdict}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def measure_server(
    ws: Workspace, path: Path, flags: list[str], sizes: Sizes, rng: random.Random
) -> dict[str, list[float]]:
    with ws.server(database=f"sqlite:///{path}", args=flags) as srv:
        api = Api(srv.api)
        first = api.get("backups?limit=1")["items"][0]
        check(first["operation_id"] == sizes.operations and first["kept"], f"newest backup is {first}")
        warm = Sizes(sizes.jobs, min(20, sizes.samples), sizes.tags)
        sample_api(api, warm, random.Random(1))
        times = sample_api(api, sizes, rng)
        api.close()
    return times


if __name__ == "__main__":
    raise SystemExit(main())
