"""10. K parallel: K Operations started through the API at once vs K raw ansible-playbook runs at once.

One 30-task `debug` playbook; K Units of one Job started with one `POST /jobs/{id}/actions` (the server
gets K workers), until the last is terminal, vs K raw runs started at once, until the last exits.
Interleaved per round; medians.
"""

from __future__ import annotations

import os

from . import raw
from .client import Api
from .results import Row, median, ratio_row, seconds
from .workspace import Workspace

NAME = "kparallel"
GOAL = 1.05
TASKS = 30


def run(ws: Workspace, quick: bool) -> list[Row]:
    sizes = [2] if quick else [1, 8, 32]
    rounds = 1 if quick else 3
    tasks = 3 if quick else TASKS
    playbook = ws.debug_playbook(f"kpar-{tasks}.yml", tasks)
    rows: list[Row] = []
    with ws.server(args=["--workers", str(max(sizes))]) as srv:
        api = Api(srv.api)
        if not quick:  # quick runs judge nothing: no warm-ups
            raw.run(ws.data_dir, playbook)  # warm-up
        for count in sizes:
            job = api.job(f"bench-kpar-{count}", [f"k{i}" for i in range(count)])

            def through_api(job_id: int) -> float:
                return api.run_actions(job_id, playbook, tasks)

            if count == sizes[0] and not quick:
                through_api(job["id"])  # warm-up
            api_times: list[float] = []
            raw_times: list[float] = []
            for _ in range(rounds):
                raw_times.append(raw.run_many(ws.data_dir, playbook, count))
                api_times.append(through_api(job["id"]))
            rows.append(
                ratio_row(
                    "10",
                    f"K={count} parallel {tasks}-task Operations",
                    median(api_times),
                    median(raw_times),
                    GOAL,
                    judged=not quick,
                    notes=[
                        f"K={count}, {rounds} rounds, medians (load {os.getloadavg()[0]:.2f} after): API "
                        f"{seconds(median(api_times))}, raw {seconds(median(raw_times))}"
                    ],
                )
            )
        api.close()
    return rows
