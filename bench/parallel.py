"""3. Parallel: 8 Units each running a sleep playbook at once vs 8 raw ansible-playbook runs at once."""

from __future__ import annotations

import time

from . import raw
from .client import Api
from .results import Row, check, median, ratio_row
from .workspace import Workspace

NAME = "parallel"
GOAL = 1.10
UNITS = 8


def run(ws: Workspace, quick: bool) -> list[Row]:
    secs = 0.5 if quick else 3.0
    runs = 1 if quick else 3
    count = 2 if quick else UNITS
    playbook = ws.sleep_playbook(f"sleep-{secs:g}.yml", secs)
    units = [f"u{i}" for i in range(count)]
    api_times: list[float] = []
    raw_times: list[float] = []
    with ws.server(args=["--workers", str(count)]) as srv:
        api = Api(srv.api)
        job = api.job("bench-parallel", units)
        if not quick:  # quick runs judge nothing: no warm-up
            raw.run(ws.data_dir, playbook)  # warm-up
        for _ in range(runs):
            raw_times.append(raw.run_many(ws.data_dir, playbook, count))
            t0 = time.perf_counter()
            ops = [api.start(job["id"], unit, playbook) for unit in units]
            done = [api.wait_terminal(op["id"]) for op in ops]
            api_times.append(time.perf_counter() - t0)
            bad = [op["status"] for op in done if op["status"] != "successful"]
            check(not bad, f"parallel operations ended {bad}")
            check(len({op["id"] for op in done}) == count, "parallel operations were not distinct")
        api.close()
    notes = [f"{count} x `sleep {secs:g}` at once, first POST to last terminal; {runs} runs, medians"]
    return [
        ratio_row(
            "3",
            f"{count} units x {secs:g} s sleep at once",
            median(api_times),
            median(raw_times),
            GOAL,
            judged=not quick,
            notes=notes,
        )
    ]
