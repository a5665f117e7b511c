"""Several replicas on one PostgreSQL database behave as one service.

Every test creates its own database on the PostgreSQL server at 127.0.0.1:5432 and drops it at
teardown, and drives real `redrunner serve` processes sharing it. The replicas are symmetric: an
Operation runs on whichever replica claims it, so tests read `operation.owner` from the database to
know which replica is the runner and which one is "the other".
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psutil
import psycopg2
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.server import RunningServer, wait_until

from .helpers import all_events, make_job, start, ws

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REPLICA_IDS = ("replica-a", "replica-b")


def admin_connection() -> Any:
    conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database for this test alone; dropped (with whoever is still connected) after it."""
    name = f"rr_{uuid.uuid4().hex}"
    conn = admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
        yield url
        # A test that failed after a kill -9 may have left its playbook's processes behind: end them.
        with contextlib.suppress(psycopg2.Error):
            for (ident,) in sql(url, "SELECT run_ident FROM operation WHERE run_ident IS NOT NULL"):
                for proc in run_processes(ident):
                    with contextlib.suppress(psutil.Error):
                        proc.kill()
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def sql(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the database directly, behind the servers' backs."""
    conn = psycopg2.connect(url, connect_timeout=5, application_name="rr-test")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def replicas(pg_url: str, server_factory: Callable[..., RunningServer]) -> tuple[RunningServer, RunningServer]:
    """Two `redrunner serve` processes, A and B, on one database (fixture order: servers stop before the drop)."""
    # A short shutdown grace: a failed test may leave a 300 s sleep running at teardown.
    a, b = (
        server_factory(database=pg_url, name=rid, args=["--replica-id", rid, "--shutdown-grace", "1"])
        for rid in REPLICA_IDS
    )
    return a, b


def owner_of(url: str, op_id: int) -> str | None:
    rows = sql(url, "SELECT owner FROM operation WHERE id = %s", (op_id,))
    return rows[0][0] if rows else None


def runner_and_other(
    url: str, pair: tuple[RunningServer, RunningServer], op_id: int
) -> tuple[RunningServer, RunningServer]:
    """(the replica running the Operation, the other one), once it is claimed."""
    owner = wait_until(lambda: owner_of(url, op_id), timeout=15, what=f"operation {op_id} claimed")
    assert owner in REPLICA_IDS
    a, b = pair
    return (a, b) if owner == REPLICA_IDS[0] else (b, a)


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_processes(run_ident: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("REDRUNNER_RUN_ID") == run_ident:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


# -- the storage layer alone -------------------------------------------------------------------------


def test_storage_layer_migrates_once_and_the_database_enforces_one_running_per_unit(pg_url: str) -> None:
    import peewee as pw

    from backend import db as store
    from backend import migrations
    from backend.sql import is_postgres

    database = store.open_database(pg_url)
    try:
        assert is_postgres()
        # Replicas starting together all migrate: the advisory lock must make that safe.
        with ThreadPoolExecutor(3) as pool:
            versions = list(pool.map(lambda _: migrations.migrate(database), range(3)))
        assert versions == [migrations.SCHEMA_VERSION] * 3
        assert migrations.migrate(database) == migrations.SCHEMA_VERSION  # and again: idempotent
        rows = sql(pg_url, "SELECT version FROM schema_version ORDER BY version")
        assert [v for (v,) in rows] == [migrations.SCHEMA_VERSION]  # a new database: made in one step
        index = sql(pg_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'operation_one_running_per_unit'")
        assert len(index) == 1 and "UNIQUE" in index[0][0] and "'running'" in index[0][0]

        job = store.Job.create(tag="backup", created_at=time.time())
        db_unit, web_unit = (store.Unit.create(job=job, name=n, created_at=time.time()) for n in ("db", "web"))

        def op(unit: Any, status: str) -> Any:
            return store.Operation.create(
                job=job,
                unit=unit,
                unit_name=unit.name,
                action=f"hello-{unit.name}.yml",
                status=status,
                created_at=time.time(),
                owner="r1",
            )

        first = op(db_unit, "running")
        queued = op(db_unit, "pending")
        op(web_unit, "running")  # another unit: allowed
        with pytest.raises(pw.IntegrityError), database.atomic():
            op(db_unit, "running")
        # Claiming the queued one while the first still runs is refused too, and allowed once it ended.
        with pytest.raises(pw.IntegrityError), database.atomic():
            store.Operation.update(status="running").where(store.Operation.id == queued.id).execute()
        store.Operation.update(status="successful").where(store.Operation.id == first.id).execute()
        assert store.Operation.update(status="running").where(store.Operation.id == queued.id).execute() == 1

        got = store.Operation.get_by_id(queued.id)
        assert (got.status, got.unit_name, got.job_id, got.owner) == ("running", "db", job.id, "r1")
        assert [u.name for u in store.Unit.select().where(store.Unit.job == job).order_by(store.Unit.id)] == [
            "db",
            "web",
        ]
        store.Replica.create(id="r1", hostname="h", pid=1, started_at=1.0, heartbeat_at=2.0)
        assert store.Replica.get_by_id("r1").heartbeat_at == 2.0
        with pytest.raises(pw.IntegrityError), database.atomic():
            store.Unit.create(job=job, name="db", created_at=time.time())  # unit names are unique per job
    finally:
        database.close()


# -- two replicas ----------------------------------------------------------------------------------


def test_any_replica_answers_and_each_action_runs_exactly_once(
    pg_url: str, replicas: tuple[RunningServer, RunningServer]
) -> None:
    a, b = replicas
    units = ["u1", "u2", "u3"]
    job = make_job(a, "backup", units)
    seen = b.get(f"jobs/{job['id']}")
    assert seen.status == 200 and seen.json() == job
    assert b.get("jobs?tag=backup").json()["items"] == [job]
    assert b.get("jobs/latest?tag=backup").json()["id"] == job["id"]

    # Two actions per unit, one through each replica, all accepted at once (three units keep both replicas
    # starting first and queued actions; each action is a playbook run, ~2 s of CPU here).
    ops = []
    for i in range(6):
        srv = (a, b)[i % 2]
        ops.append(start(srv, job["id"], units[i % 3], "hello-db.yml", queue=True, extravars={"hello_sleep": 0.2}))
    done = [(b, a)[i % 2].wait_terminal(op["id"], timeout=90) for i, op in enumerate(ops)]
    assert [d["status"] for d in done] == ["successful"] * 6, done

    owners = dict(sql(pg_url, "SELECT id, owner FROM operation"))
    assert set(owners) == {op["id"] for op in ops}
    assert set(owners.values()) <= set(REPLICA_IDS)
    print(f"\noperations run per replica: { {r: list(owners.values()).count(r) for r in REPLICA_IDS} }")
    starts = dict(
        sql(pg_url, "SELECT operation_id, count(*) FROM event WHERE event = 'playbook_on_start' GROUP BY operation_id")
    )
    assert starts == {op["id"]: 1 for op in ops}
    for i, op in enumerate(done):
        events = all_events((a, b)[i % 2], op["id"])  # read through either replica
        assert [e["seq"] for e in events] == list(range(1, op["event_count"] + 1))
        assert [e["event"] for e in events].count("playbook_on_start") == 1
        assert events[-1]["event"] == "playbook_on_stats"
    # Queued per unit: the second action of a unit started only after the first one ended.
    for first, second in zip(done[:3], done[3:], strict=True):
        assert first["unit"] == second["unit"]
        assert ts(second["started_at"]) >= ts(first["finished_at"])
    for srv in (a, b):
        final = srv.get(f"jobs/{job['id']}").json()
        assert final["status"] == "successful"
        assert {u["name"]: len(u["operations"]) for u in final["units"]} == {u: 2 for u in units}


def test_follower_on_the_other_replica_gets_every_event_live(
    pg_url: str, replicas: tuple[RunningServer, RunningServer]
) -> None:
    a, b = replicas
    job = make_job(a, "bulk", ["db"])
    op = start(a, job["id"], "db", "many.yml")
    # Follow on both replicas from the start; which one is "remote" is known once the op is claimed.
    received: dict[int, list[tuple[dict[str, Any], float]]] = {}
    errors: list[BaseException] = []

    def follow(srv: RunningServer) -> None:
        got = received.setdefault(srv.port, [])
        try:
            with ws(srv, f"operations/{op['id']}/stream") as conn:
                while True:
                    raw = conn.recv(timeout=90)
                    got.append((json.loads(raw), time.time()))
        except ConnectionClosed:
            return
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=follow, args=(srv,)) for srv in (a, b)]
    for thread in threads:
        thread.start()
    runner, other = runner_and_other(pg_url, (a, b), op["id"])
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    end = runner.get(f"operations/{op['id']}").json()
    assert end["status"] == "successful" and end["event_count"] >= 300

    lags: dict[str, list[float]] = {}
    for srv, label in ((runner, "same replica"), (other, "other replica")):
        frames = received[srv.port]
        assert frames[-1][0]["type"] == "end" and frames[-1][0]["data"]["status"] == "successful"
        events = [(f, t) for f, t in frames if f["type"] == "event"]
        assert [f["seq"] for f, _ in events] == list(range(1, end["event_count"] + 1)), label
        assert [f["data"] for f, _ in events] == all_events(srv, op["id"])
        lags[label] = [t - ts(f["data"]["created"]) for f, t in events]
    remote = lags["other replica"]
    # Live, not replayed at the end: most events reached the other replica's follower while the op ran.
    arrived_early = [t for f, t in received[other.port] if f["type"] == "event" and t < ts(end["finished_at"])]
    assert len(arrived_early) > len(remote) // 2
    for label, values in lags.items():
        print(
            f"\nevent created -> follower arrival, {label}: p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms "
            f"over {len(values)} events"
        )
    assert statistics.median(remote) < 1.0


def test_kill_9_of_the_runner_marks_its_operation_lost_via_the_survivor(
    pg_url: str, replicas: tuple[RunningServer, RunningServer], server_factory: Callable[..., RunningServer]
) -> None:
    a, b = replicas
    job = make_job(a, "backup", ["db"])
    op = start(a, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 300})
    runner, survivor = runner_and_other(pg_url, (a, b), op["id"])
    run_ident, hostname = wait_until(
        lambda: sql(
            pg_url, "SELECT run_ident, hostname FROM operation WHERE id = %s AND run_ident IS NOT NULL", (op["id"],)
        ),
        timeout=15,
        what="run id recorded",
    )[0]
    assert hostname == socket.gethostname()
    # The `sleep 300` task process exists: it is what a crash leaves behind.
    wait_until(
        lambda: any("sleep" in p.name() for p in run_processes(run_ident)),
        timeout=30,
        what="the playbook's sleep process",
    )

    # Queued behind it, accepted by the replica about to die: nobody owns it yet, so a survivor runs it.
    queued = start(runner, job["id"], "db", "hello-db.yml", queue=True)

    runner.kill()  # SIGKILL: no shutdown, no last heartbeat, no status written
    died = time.monotonic()
    lost = survivor.wait_terminal(op["id"], timeout=40)
    takeover = time.monotonic() - died
    print(
        f"\ntakeover: operation {op['id']} marked lost by the survivor {takeover:.1f} s after kill -9 "
        "(default heartbeat 5 s / timeout 15 s)"
    )
    assert lost["status"] == "lost" and "heartbeat" in lost["error"]
    assert takeover < 30
    after = survivor.wait_terminal(queued["id"], timeout=30)
    assert after["status"] == "successful" and owner_of(pg_url, queued["id"]) == survivor_id(survivor)
    assert ts(after["started_at"]) >= ts(lost["finished_at"])
    wait_until(
        lambda: sql(pg_url, "SELECT id FROM replica") == [(survivor_id(survivor),)],
        timeout=10,
        what="the dead replica's heartbeat row removed",
    )
    # Same host here, so the survivor killed what the dead replica's run left.
    wait_until(lambda: not run_processes(run_ident), timeout=10, what="leftover processes killed")

    # A replacement joins and sees the same service.
    replacement = server_factory(database=pg_url, name="replacement", args=["--replica-id", "replica-c"])
    assert replacement.get(f"operations/{op['id']}").json()["status"] == "lost"
    assert replacement.get(f"jobs/{job['id']}").json()["status"] == "successful"


def survivor_id(srv: RunningServer) -> str:
    return srv.args[srv.args.index("--replica-id") + 1]


def test_recovery_kills_leftovers_of_lost_operations_only_on_their_own_host(
    pg_url: str, server_factory: Callable[..., RunningServer]
) -> None:
    from backend import db as store
    from backend import migrations

    database = store.open_database(pg_url)
    migrations.migrate(database)
    t = time.time()
    store.Replica.create(id="dead", hostname="x", pid=1, started_at=t - 100, heartbeat_at=t - 100)
    job = store.Job.create(tag="backup", created_at=t, status="running")
    leftovers: dict[str, subprocess.Popen[bytes]] = {}
    ops: dict[str, int] = {}
    try:
        for host in (socket.gethostname(), "another-host"):
            unit = store.Unit.create(job=job, name=f"u{len(ops)}", created_at=t)
            ident = f"op-test-{uuid.uuid4().hex[:8]}"
            leftovers[host] = subprocess.Popen(["sleep", "300"], env={**os.environ, "REDRUNNER_RUN_ID": ident})
            ops[host] = store.Operation.create(
                job=job,
                unit=unit,
                unit_name=unit.name,
                action="sleep.yml",
                status="running",
                created_at=t,
                started_at=t,
                owner="dead",
                hostname=host,
                run_ident=ident,
                pid=leftovers[host].pid,
                pid_started=psutil.Process(leftovers[host].pid).create_time(),
            ).id
        database.close()

        srv = server_factory(database=pg_url, name="recovering")
        for op_id in ops.values():
            got = srv.get(f"operations/{op_id}").json()
            assert got["status"] == "lost", got
        wait_until(
            lambda: leftovers[socket.gethostname()].poll() is not None, timeout=10, what="this host's leftover killed"
        )
        # Another host's pid means nothing here: a same-numbered local process must be left alone.
        assert leftovers["another-host"].poll() is None
        assert sql(pg_url, "SELECT count(*) FROM replica WHERE id = 'dead'") == [(0,)]
    finally:
        for proc in leftovers.values():
            proc.kill()
            proc.wait(5)


def test_a_busy_unit_is_busy_on_every_replica_and_long_polls_see_the_end(
    pg_url: str, replicas: tuple[RunningServer, RunningServer]
) -> None:
    a, b = replicas
    job = make_job(a, "backup", ["db", "web"])

    # Racing requests for one idle unit through both replicas: the database lets exactly one in.
    def post(i: int) -> tuple[int, str]:
        resp = (a, b)[i % 2].post(
            f"jobs/{job['id']}/units/web", {"action": "hello-web.yml", "extravars": {"hello_sleep": 3}}
        )
        return resp.status, resp.json().get("error") or "created"

    with ThreadPoolExecutor(8) as pool:
        answers = sorted(pool.map(post, range(8)))
    assert answers == [(202, "created")] + [(409, "unit_busy")] * 7

    op = start(a, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 300})
    runner, other = runner_and_other(pg_url, (a, b), op["id"])
    wait_until(lambda: other.get(f"operations/{op['id']}").json()["status"] == "running", timeout=15)
    for srv in (other, runner):
        resp = srv.post(f"jobs/{job['id']}/units/db", {"action": "hello-db.yml"})
        assert resp.status == 409 and resp.json()["error"] == "unit_busy", resp.body
    queued = start(other, job["id"], "db", "hello-db.yml", queue=True)
    assert queued["status"] == "pending"

    with ThreadPoolExecutor(1) as pool:
        # A long-poll on the replica that does not run it, answered by the end, not by its 30 s limit.
        asked = time.time()
        polled = pool.submit(lambda: (other.get(f"operations/{op['id']}?wait=30", timeout=40).json(), time.time()))
        # Cancel through that replica too: the runner stops it, then the queued one runs.
        assert other.post(f"operations/{op['id']}/cancel").status == 202
        got, answered = polled.result(timeout=40)
    assert got["status"] == "canceled", got
    assert answered - asked < 25
    print(f"\nlong-poll on the other replica answered {answered - ts(got['finished_at']):.2f} s after the end")
    assert answered - ts(got["finished_at"]) < 3.0
    assert got == runner.get(f"operations/{op['id']}").json()

    assert runner.wait_terminal(queued["id"], timeout=60)["status"] == "successful"
    for (op_id,) in sql(pg_url, "SELECT id FROM operation WHERE unit_name = 'web'"):
        assert other.wait_terminal(op_id)["status"] == "successful"
    assert sql(pg_url, "SELECT count(*) FROM operation WHERE status IN ('pending', 'running')") == [(0,)]


def terminate_connections(url: str, only_listeners: bool = False) -> int:
    """What a PostgreSQL restart or failover does to the servers' connections (ours are left alone)."""
    with admin_connection() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid() AND application_name <> 'rr-test' "
            "AND (NOT %s OR query LIKE 'LISTEN%%')",
            (url.rsplit("/", 1)[1], only_listeners),
        )
        return len(cur.fetchall())


def test_replicas_ride_out_dropped_database_connections_and_lost_notices(
    pg_url: str, replicas: tuple[RunningServer, RunningServer]
) -> None:
    a, b = replicas
    job = make_job(a, "backup", ["db"])
    op = start(a, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 2})
    runner, other = runner_and_other(pg_url, (a, b), op["id"])
    frames: list[dict[str, Any]] = []
    with ws(other, f"operations/{op['id']}/stream") as conn:
        while not any(f["type"] == "event" and f["data"]["task"] == "Sleep in a task process" for f in frames):
            frames.append(json.loads(conn.recv(timeout=30)))
        dropped = time.time()
        assert terminate_connections(pg_url) >= 4  # every thread's connection of both replicas, listeners too

        # Then keep the change-notice listeners away until the op has ended, so its last notices are lost.
        def ended() -> bool:
            terminate_connections(pg_url, only_listeners=True)
            return bool(sql(pg_url, "SELECT status FROM operation WHERE id = %s", (op["id"],))[0][0] == "successful")

        wait_until(ended, timeout=30, interval=0.02, what="the op ended while the listeners were down")
        try:
            while True:
                frames.append(json.loads(conn.recv(timeout=15)))
        except ConnectionClosed:
            pass
    end = runner.get(f"operations/{op['id']}").json()
    assert frames[-1] == {"type": "end", "data": end}
    assert [f["seq"] for f in frames if f["type"] == "event"] == list(range(1, end["event_count"] + 1))
    assert [e["seq"] for e in all_events(other, op["id"])] == list(range(1, end["event_count"] + 1))
    # Both replicas answer again and heartbeat again (nobody marked the other dead).
    for srv in (a, b):
        assert srv.get(f"jobs/{job['id']}").json()["status"] == "successful"
    wait_until(
        lambda: sql(pg_url, "SELECT count(*) FROM replica WHERE heartbeat_at > %s", (dropped,)) == [(2,)],
        timeout=15,
        what="both replicas heartbeating after the drop",
    )


def test_a_restart_under_the_same_replica_id_loses_what_it_left_running(
    pg_url: str, server_factory: Callable[..., RunningServer]
) -> None:
    # A replica id pinned by the operator (say the pod name, reused when kubelet restarts the container)
    # comes back fresh before its old heartbeat ages: nobody else would ever declare it dead.
    args = ["--replica-id", "pinned", "--shutdown-grace", "1"]
    first = server_factory(database=pg_url, name="first", args=args)
    job = make_job(first, "backup", ["db"])
    op = start(first, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 300})
    run_ident = wait_until(
        lambda: sql(
            pg_url,
            "SELECT run_ident FROM operation WHERE id = %s AND status = 'running' AND run_ident IS NOT NULL",
            (op["id"],),
        ),
        timeout=15,
    )[0][0]
    wait_until(
        lambda: any("sleep" in p.name() for p in run_processes(run_ident)),
        timeout=30,
        what="the playbook's sleep process",
    )
    first.kill()
    again = server_factory(database=pg_url, name="again", args=args)
    got = again.get(f"operations/{op['id']}").json()
    assert got["status"] == "lost", got
    wait_until(lambda: not run_processes(run_ident), timeout=10, what="leftover processes killed")
    assert again.get(f"jobs/{job['id']}").json()["status"] == "failed"  # the unit is free, its last op lost


def test_output_with_nul_bytes_keeps_every_event(pg_url: str, server_factory: Callable[..., RunningServer]) -> None:
    """PostgreSQL refuses NUL in text: the event is stored with the NUL replaced, never dropped (no seq gap)."""
    srv = server_factory(database=pg_url)
    job = make_job(srv, "nul", ["db"])
    done = srv.wait_terminal(start(srv, job["id"], "db", "nul.yml")["id"], 90)
    assert done["status"] == "successful", done
    events = all_events(srv, done["id"])
    assert [e["seq"] for e in events] == list(range(1, done["event_count"] + 1))
    named = [e for e in events if e["task"] and e["task"].startswith("Task with a nul")]
    assert named and all("\x00" not in e["task"] and "\ufffd" in e["task"] for e in named)
    assert "dropped an item" not in srv.log()


def test_reuse_latest_under_concurrency_makes_one_job(
    pg_url: str, server_factory: Callable[..., RunningServer]
) -> None:
    """50 concurrent `reuse=latest` requests for one tag, through two replicas: one Job with every unit."""
    a = server_factory(database=pg_url, name="reuse-a")
    b = server_factory(database=pg_url, name="reuse-b")

    def create(i: int) -> int:
        resp = (a, b)[i % 2].post("jobs", {"tag": "restore", "units": [f"u{i}"], "reuse": "latest"})
        return resp.status

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(create, range(50)))
    assert set(codes) <= {200, 201} and codes.count(201) == 1, codes
    jobs = a.get("jobs?tag=restore").json()["items"]
    assert len(jobs) == 1
    assert sorted(u["name"] for u in jobs[0]["units"]) == sorted(f"u{i}" for i in range(50))


def test_job_stream_followers_fill_the_events_lost_in_a_listener_outage(
    pg_url: str, replicas: tuple[RunningServer, RunningServer]
) -> None:
    a, b = replicas
    job = make_job(a, "backup", ["db"])
    op = start(a, job["id"], "db", "many.yml")
    runner, other = runner_and_other(pg_url, (a, b), op["id"])
    frames: list[dict[str, Any]] = []
    with ws(other, f"jobs/{job['id']}/stream") as conn:
        frames.append(json.loads(conn.recv(timeout=30)))
        assert frames[0]["type"] == "snapshot"

        # Keep the change-notice listeners away until the op has ended: its notices in between are lost.
        def ended() -> bool:
            terminate_connections(pg_url, only_listeners=True)
            return bool(sql(pg_url, "SELECT status FROM operation WHERE id = %s", (op["id"],))[0][0] == "successful")

        wait_until(ended, timeout=60, interval=0.02, what="the op ended while the listeners were down")

        def ended_on_the_stream() -> bool:
            frames.append(json.loads(conn.recv(timeout=30)))
            last = frames[-1]
            return bool(
                last["type"] == "status"
                and last["data"].get("id") == op["id"]
                and last["data"]["status"] == "successful"
            )

        wait_until(ended_on_the_stream, timeout=60, interval=0, what="the op's end on the job stream")
    end = runner.get(f"operations/{op['id']}").json()
    seqs = [f["seq"] for f in frames if f["type"] == "event" and f["operation_id"] == op["id"]]
    assert seqs == list(range(1, end["event_count"] + 1))


# Runs a server whose clock is an hour fast (time.time only), as a host with a skewed clock would.
FAST_CLOCK = (
    "import runpy, sys, time; real = time.time; time.time = lambda: real() + 3600; "
    "sys.argv = ['backend', *sys.argv[3:]]; runpy.run_module('backend', run_name='__main__', alter_sys=True)"
)


@pytest.mark.slow
def test_a_dead_replica_with_a_fast_clock_is_still_declared_dead(
    pg_url: str, server_factory: Callable[..., RunningServer]
) -> None:
    """Heartbeats are compared on the database's clock: a replica whose clock runs ahead does not look alive
    for an hour after it died."""
    fast = server_factory(
        database=pg_url,
        name="fast",
        launcher=[sys.executable, "-c", FAST_CLOCK],
        args=["--replica-id", "fast", "--shutdown-grace", "1"],
    )
    job = make_job(fast, "skew", ["db"])
    op = start(fast, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 331})
    wait_until(lambda: owner_of(pg_url, op["id"]) == "fast", 30, what="the fast replica to claim the operation")
    survivor = server_factory(database=pg_url, name="survivor", args=["--replica-id", "survivor"])
    fast.kill()
    lost = survivor.wait_terminal(op["id"], 60)
    assert lost["status"] == "lost" and "heartbeats" in lost["error"], lost


def test_a_replica_that_heartbeats_during_a_takeover_keeps_its_work(pg_url: str) -> None:
    """The survivor's takeover and the slow replica's heartbeat race: the heartbeat that commits while the
    takeover waits wins (the takeover re-checks the locked row), so a live replica's runs are not lost."""
    from tornado.ioloop import IOLoop

    from backend import db as store
    from backend import migrations
    from backend.announce import Announcer
    from backend.bus import Bus, Publisher
    from backend.config import Settings
    from backend.queries import Queries
    from backend.run_queue import RunQueue
    from backend.transitions import Transitions

    database = store.open_database(pg_url)
    try:
        migrations.migrate(database)
        job = store.Job.create(tag="race", created_at=time.time())
        unit = store.Unit.create(job=job, name="db", created_at=time.time())
        op = store.Operation.create(
            job=job, unit=unit, unit_name="db", action="hello-db.yml", status="running", created_at=1.0, owner="slow"
        )
        # The slow replica's last heartbeat is a minute old on the database's clock.
        sql(pg_url, "INSERT INTO replica VALUES ('slow', 'h', 1, 0, EXTRACT(EPOCH FROM clock_timestamp()) - 60)")
        settings = Settings(database=pg_url)
        queries = Queries(settings)
        announce = Announcer(queries, Publisher(Bus(), IOLoop(make_current=False)))
        run_queue = RunQueue(Transitions(settings, queries), announce)
        beat = psycopg2.connect(pg_url, application_name="rr-test")
        try:
            with beat.cursor() as cur:  # the heartbeat, in flight: its row is locked, not yet committed
                cur.execute("UPDATE replica SET heartbeat_at = EXTRACT(EPOCH FROM clock_timestamp()) WHERE id = 'slow'")
            with ThreadPoolExecutor(1) as pool:
                takeover = pool.submit(run_queue.take_over_dead_replicas, 15.0, "its server stopped answering")
                waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
                name = pg_url.rsplit("/", 1)[1]
                wait_until(lambda: sql(pg_url, waiting, (name,)) == [(1,)], 10, what="the takeover to wait")
                beat.commit()
                lost = takeover.result(30)
        finally:
            beat.close()
        assert lost == []
        assert store.Operation.get_by_id(op.id).status == "running"
        assert sql(pg_url, "SELECT id FROM replica") == [("slow",)]
    finally:
        database.close()
