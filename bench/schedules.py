"""`python -m bench.schedules [--samples N] [--no-postgres]`: how late schedules fire and webhooks arrive.

Measures, on one replica (SQLite) and on two replicas (one PostgreSQL database):
- fire delay: from a schedule's fire time to its Job's first Operation `started_at` (running);
- webhook delay: from the Job's end (its last Operation's `finished_at`) to the `job.finished` delivery
  reaching a local receiver.
Each sample sets the schedule's `next_run_at` in the database to a whole second 2 s ahead (the cron is
one that never comes by itself during the run), so samples need not wait for a real minute. Server and
receiver run on this machine, so their clocks agree.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.server import RunningServer, free_port, wait_until

from .workspace import Workspace, workspace

PG = "postgresql://postgres@127.0.0.1:5432/"


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Receiver:
    """Records when each job.finished arrives, by Job id."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        arrived = self.arrived

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if body["type"] == "job.finished":
                    arrived.setdefault(body["data"]["id"], at)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg2

    name = f"rr_bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(PG + "postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def set_next_run(database: str, ts: float) -> None:
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database[len("sqlite:///") :]) as conn:
            conn.execute("UPDATE schedule SET next_run_at = ?", (ts,))
        return
    import psycopg2

    conn = psycopg2.connect(database)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE schedule SET next_run_at = %s", (ts,))
    finally:
        conn.close()


def sample(servers: list[RunningServer], receiver: Receiver, samples: int) -> tuple[list[float], list[float]]:
    api = servers[0]
    fire_delays: list[float] = []
    hook_delays: list[float] = []
    for _ in range(samples):
        fire_at = float(math.ceil(time.time()) + 2)
        set_next_run(api.database, fire_at)

        def fired(fire_at: float = fire_at) -> dict[str, Any] | None:
            s = api.get("schedules/bench").json()
            return s if s["last_run_at"] and epoch(s["last_run_at"]) == fire_at else None

        schedule = wait_until(fired, timeout=60, interval=0.05, what="the firing")
        job = api.get(f"jobs/{schedule['last_job_id']}").json()
        ops = [api.wait_terminal(u["operations"][0]) for u in job["units"]]
        fire_delays.append(min(epoch(op["started_at"]) for op in ops) - fire_at)
        ended = max(epoch(op["finished_at"]) for op in ops)
        arrived = wait_until(functools.partial(receiver.arrived.get, job["id"]), timeout=60, what="the webhook")
        hook_delays.append(arrived - ended)
    return fire_delays, hook_delays


def measure(ws: Workspace, label: str, database: str | None, replicas: int, samples: int) -> None:
    receiver = Receiver()
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(ws.server(args=["--replica-id", f"{label}-{i}"], database=database))
            for i in range(replicas)
        ]
        api = servers[0]
        api.post("webhooks", {"url": f"http://127.0.0.1:{receiver.port}/"})
        body = {"name": "bench", "cron": "0 0 1 1 *", "tag": "bench", "units": ["u"], "action": "ping"}
        assert api.post("schedules", body).status == 201
        fire, hook = sample(servers, receiver, samples)
    receiver.close()
    for name, values in (("fire time -> first Operation running", fire), ("Job end -> webhook arrival", hook)):
        print(
            f"{label:28} {name:38} median {statistics.median(values) * 1000:7.0f} ms"
            f"   max {max(values) * 1000:7.0f} ms   (n={len(values)})",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.schedules", description=__doc__)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--no-postgres", action="store_true", help="skip the two-replica PostgreSQL rows")
    args = parser.parse_args(argv)
    with workspace() as ws:
        ws.playbook("ping-u.yml", ['name: ping\n      debug: {msg: "ping"}'])
        measure(ws, "1 replica, SQLite", None, 1, args.samples)
        if not args.no_postgres:
            with postgres_database() as url:
                measure(ws, "2 replicas, PostgreSQL", url, 2, args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
