"""1. Operation overhead: a 1-task playbook through the API (POST until ?wait= sees it terminal) vs raw."""

from __future__ import annotations

import time

from . import raw
from .client import Api
from .results import Row, check, median, ratio_row, seconds
from .workspace import Workspace

NAME = "overhead"
GOAL = 1.10


def run(ws: Workspace, quick: bool) -> list[Row]:
    runs = 2 if quick else 15
    playbook = ws.debug_playbook("one-task.yml", 1)
    api_times: list[float] = []
    raw_times: list[float] = []
    queued: list[float] = []
    tails: list[float] = []
    with ws.server() as srv:
        api = Api(srv.api)
        job = api.job("bench-overhead", ["u"])

        def through_api() -> float:
            t0 = time.perf_counter()
            op = api.start(job["id"], "u", playbook)
            op = api.wait_terminal(op["id"])
            took = time.perf_counter() - t0
            check(op["status"] == "successful", f"1-task operation ended {op['status']}: {op.get('error')}")
            check(op["event_count"] > 0, "1-task operation stored no events")
            duration = float(op["duration"] or 0.0)
            queued.append(took - duration)
            tails.append(duration)
            return took

        # Warm-up: first runs pay for .pyc compilation and cold caches on both sides (quick runs judge nothing).
        if not quick:
            through_api()
            raw.run(ws.data_dir, playbook)
            queued.clear()
            tails.clear()
        for _ in range(runs):  # interleaved, so drifting machine load hits both sides alike
            raw_times.append(raw.run(ws.data_dir, playbook))
            api_times.append(through_api())
        api.close()
    notes = [
        f"{runs} runs each, medians; API time outside the runner (dispatch, commit, HTTP): "
        f"{seconds(median(queued))} median; Operation duration {seconds(median(tails))} median"
    ]
    return [
        ratio_row(
            "1",
            "1-task playbook, POST to terminal",
            median(api_times),
            median(raw_times),
            GOAL,
            judged=not quick,
            notes=notes,
        )
    ]
