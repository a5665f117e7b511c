"""2. Event throughput: an N-task playbook through the API vs raw; every event stored and contiguous."""

from __future__ import annotations

import time

from . import raw
from .client import Api
from .results import Row, check, median, ratio_row
from .workspace import Workspace

NAME = "throughput"
GOAL = 1.15


def check_events(api: Api, op: dict[str, object], tasks: int) -> int:
    op_id = int(str(op["id"]))
    events = api.all_events(op_id)
    seqs = [e["seq"] for e in events]
    check(seqs == list(range(1, len(seqs) + 1)), f"operation {op_id}: event seqs are not 1..N without gaps")
    check(
        len(seqs) == op["event_count"],
        f"operation {op_id}: {len(seqs)} events stored, event_count says {op['event_count']}",
    )
    oks = sum(1 for e in events if e["event"] == "runner_on_ok")
    check(oks == tasks, f"operation {op_id}: {oks} runner_on_ok events for {tasks} tasks")
    check(events[-1]["event"] == "playbook_on_stats", f"operation {op_id}: last event is {events[-1]['event']}")
    return len(seqs)


def run(ws: Workspace, quick: bool) -> list[Row]:
    tasks = 10 if quick else 1000
    runs = 1 if quick else 3
    playbook = ws.debug_playbook(f"tasks-{tasks}.yml", tasks)
    api_times: list[float] = []
    raw_times: list[float] = []
    event_count = 0
    with ws.server() as srv:
        api = Api(srv.api)
        job = api.job("bench-throughput", ["u"])
        raw.run(ws.data_dir, playbook)  # warm-up
        for _ in range(runs):
            raw_times.append(raw.run(ws.data_dir, playbook))
            t0 = time.perf_counter()
            op = api.wait_terminal(api.start(job["id"], "u", playbook)["id"])
            api_times.append(time.perf_counter() - t0)
            check(op["status"] == "successful", f"{tasks}-task operation ended {op['status']}: {op.get('error')}")
            event_count = check_events(api, op, tasks)
        api.close()
    per_s = event_count / median(api_times)
    notes = [
        f"{tasks} tasks, {event_count} events per run, all stored with seq 1..N; {runs} runs, medians; "
        f"{per_s:.0f} events/s through the API"
    ]
    return [
        ratio_row(
            "2",
            f"{tasks}-task playbook ({event_count} events)",
            median(api_times),
            median(raw_times),
            GOAL,
            judged=not quick,
            notes=notes,
        )
    ]
