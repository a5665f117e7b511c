"""11. Event transports: the same Operations through `--event-transport runner` and `pipe` vs raw.

Two servers on one data dir, one per transport. One Operation of an N-task `debug` playbook (POST until
`?wait=` sees it terminal), and K Operations of a 30-task one started with one `POST /jobs/{id}/actions`
(until the last is terminal), each against the same raw `ansible-playbook` run(s). Per round the three
sides run one after another (raw, runner, pipe; each round starting with the next), so drifting load
hits them alike; medians over rounds.

On its own, with other sizes: `python -m bench.transport --tasks 1 300 1000 --k 8 32 --rounds 3`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial

from . import raw
from .client import Api
from .results import Row, check, median, ratio_row, seconds, table
from .workspace import Workspace, workspace

NAME = "transport"
GOAL = 1.05
TRANSPORTS = ("runner", "pipe")
K_TASKS = 30


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def one_operation(api: Api, job_id: int, playbook: str, tasks: int) -> float:
    t0 = time.perf_counter()
    op = api.wait_terminal(api.start(job_id, "u0", playbook)["id"])
    took = time.perf_counter() - t0
    check(op["status"] == "successful", f"{playbook} ended {op['status']}: {op.get('error')}")
    check(op["event_count"] >= 3 * tasks, f"{playbook} stored {op['event_count']} events for {tasks} tasks")
    return took


def measure(
    rounds: int,
    raw_run: Callable[[], float],
    sides: dict[str, Callable[[], float]],
) -> tuple[float, dict[str, float], list[str]]:
    everyone = {"raw": raw_run, **sides}
    times: dict[str, list[float]] = {name: [] for name in everyone}
    loads = [load()]
    names = list(everyone)
    for i in range(rounds):
        # Each round starts with another side: whatever the first (or last) run of a round pays, all pay it.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(everyone[name]())
        loads.append(load())
    return median(times["raw"]), {name: median(times[name]) for name in sides}, loads


def run(
    ws: Workspace, quick: bool, sizes: list[int] | None = None, ks: list[int] | None = None, rounds: int = 0
) -> list[Row]:
    sizes = sizes or ([2] if quick else [1, 300, 1000])
    ks = ks or ([2] if quick else [8])
    rounds = rounds or (1 if quick else 3)
    k_tasks = 3 if quick else K_TASKS
    rows: list[Row] = []
    workers = ["--workers", str(max(ks))]
    with (
        ws.server(args=[*workers, "--event-transport", "runner"]) as runner_srv,
        ws.server(args=[*workers, "--event-transport", "pipe"]) as pipe_srv,
    ):
        apis = {"runner": Api(runner_srv.api), "pipe": Api(pipe_srv.api)}
        units = [f"u{i}" for i in range(max(ks))]
        jobs = {t: {k: apis[t].job(f"bench-transport-{k}", units[:k]) for k in {1, *ks}} for t in TRANSPORTS}
        warm = ws.debug_playbook("transport-1.yml", 1)
        # Warm-up: first runs pay for .pyc compilation and cold caches on every side (quick runs judge nothing).
        if not quick:
            raw.run(ws.data_dir, warm)
            for t in TRANSPORTS:
                one_operation(apis[t], jobs[t][1]["id"], warm, 1)
        for tasks in sizes:
            playbook = ws.debug_playbook(f"transport-{tasks}.yml", tasks)
            raw_median, medians, loads = measure(
                rounds,
                partial(raw.run, ws.data_dir, playbook),
                {t: partial(one_operation, apis[t], jobs[t][1]["id"], playbook, tasks) for t in TRANSPORTS},
            )
            rows.extend(_rows(f"{tasks}-task Operation", raw_median, medians, loads, rounds, quick))
        k_playbook = ws.debug_playbook(f"transport-k-{k_tasks}.yml", k_tasks)
        for k in ks:
            raw_median, medians, loads = measure(
                rounds,
                partial(raw.run_many, ws.data_dir, k_playbook, k),
                {t: partial(apis[t].run_actions, jobs[t][k]["id"], k_playbook, k_tasks) for t in TRANSPORTS},
            )
            rows.extend(_rows(f"K={k} parallel {k_tasks}-task Operations", raw_median, medians, loads, rounds, quick))
        for api in apis.values():
            api.close()
    return rows


def _rows(
    measure: str, raw_median: float, medians: dict[str, float], loads: list[str], rounds: int, quick: bool
) -> list[Row]:
    ratios = ", ".join(f"{t} {medians[t] / raw_median:.3f}x" for t in TRANSPORTS)
    note = (
        f"{measure}: {rounds} interleaved rounds, medians: raw {seconds(raw_median)}, "
        + ", ".join(f"{t} {seconds(medians[t])}" for t in TRANSPORTS)
        + f" ({ratios}); pipe/runner {medians['pipe'] / medians['runner']:.3f}; load average "
        + " -> ".join(loads)
    )
    return [
        ratio_row(
            "11",
            f"{measure}, transport {t}",
            medians[t],
            raw_median,
            GOAL,
            judged=not quick,
            notes=[note] if t == "pipe" else [],
        )
        for t in TRANSPORTS
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__)
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 300, 1000], help="playbook sizes for one Operation")
    parser.add_argument("--k", type=int, nargs="+", default=[8], help="Operations at once (30 tasks each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (server logs)")
    args = parser.parse_args(argv)
    print(f"load average before: {load()}", flush=True)
    with workspace(keep=args.keep) as ws:
        rows = run(ws, False, args.tasks, args.k, args.rounds)
    print(table(rows))
    for row in rows:
        for note in row.notes:
            print(f"  [{row.bench}] {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
