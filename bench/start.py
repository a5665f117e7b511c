"""8. Starting: the 202 of `POST /jobs/{id}/units/{u}` while 8 Operations keep the CPU busy, and the
server's own CPU per short Operation (start to terminal).

The busy Operations run a long `debug` playbook on their own Units of the same server (so the server is
ingesting their events too, as in production). The 202s go to other Units of a Job with 200 Units (a
big Job makes any per-Job re-rendering visible); each started Operation is a 1-task playbook. Server
CPU per Operation is measured apart, with nothing else running: the server process's own CPU (not its
ansible children) over M Operations started one after another and followed to their end, divided by M.
"""

from __future__ import annotations

import os
import time

from .client import Api
from .results import Row, check, millis, percentile
from .workspace import ProcessSampler, Workspace

NAME = "start"
GOAL_P99 = 0.030
GOAL_CPU = 0.015
BUSY = 8
UNITS = 200


def run(ws: Workspace, quick: bool) -> list[Row]:
    # Quick runs judge nothing: a few Operations of each kind run the same code paths for a fraction of the CPU.
    samples = 3 if quick else 150
    cpu_ops = 1 if quick else 30
    busy_tasks = 20 if quick else 400
    busy_ops = 2 if quick else BUSY
    one = ws.debug_playbook("start-one.yml", 1)
    busy = ws.debug_playbook(f"start-busy-{busy_tasks}.yml", busy_tasks)
    units = [f"s{i}" for i in range(UNITS if not quick else 20)]
    with ws.server(args=["--workers", str(busy_ops + 4)]) as srv:
        api = Api(srv.api)
        # CPU per Operation first, on a quiet server.
        quiet = api.job("bench-start-cpu", ["c"])
        if not quick:
            api.wait_terminal(api.start(quiet["id"], "c", one)["id"])  # warm-up
        with ProcessSampler(srv.proc.pid) as sampler:
            for _ in range(cpu_ops):
                op = api.wait_terminal(api.start(quiet["id"], "c", one)["id"])
                check(op["status"] == "successful", f"1-task operation ended {op['status']}: {op.get('error')}")
        cpu_per_op = sampler.cpu_seconds / cpu_ops
        # The kernel reports a process's CPU in clock ticks (10 ms at 100 Hz): fewer Operations than it
        # takes to fill a few ticks read as 0 or as one whole tick each.
        resolution = 1 / os.sysconf("SC_CLK_TCK") / cpu_ops
        cpu_shown = millis(cpu_per_op) if cpu_per_op >= resolution else f"< {millis(resolution)}"

        busy_job = api.job("bench-start-busy", [f"b{i}" for i in range(busy_ops)])
        job = api.job("bench-start", units)
        busy_ids = [api.start(busy_job["id"], f"b{i}", busy)["id"] for i in range(busy_ops)]
        latencies: list[float] = []
        started: list[int] = []
        for i in range(samples):
            unit = units[i % len(units)]
            if i >= len(units):
                api.wait_terminal(started[i - len(units)])
            t0 = time.perf_counter()
            op = api.start(job["id"], unit, one)
            latencies.append(time.perf_counter() - t0)
            started.append(op["id"])
            if all(api.get(f"operations/{b}")["status"] in ("successful", "failed") for b in busy_ids[:1]):
                break  # the busy ones ended: later samples would not be under load
        for op_id in started:
            api.wait_terminal(op_id)
        for op_id in busy_ids:
            api.wait_terminal(op_id)
        api.close()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    notes = [
        f"{len(latencies)} POSTs with {busy_ops} busy Operations ({busy_tasks}-task playbooks) on the same server, "
        f"a {len(units)}-Unit Job: p50 {millis(p50)}, p99 {millis(p99)}, max {millis(max(latencies))}",
        f"server CPU (own, not its ansible children) over {cpu_ops} 1-task Operations one after another: "
        f"{cpu_shown} each, to within {millis(resolution)}",
    ]
    return [
        Row(
            "8",
            f"202 p99, {busy_ops} busy Operations",
            millis(p99),
            "-",
            millis(p99),
            "< 30 ms",
            None if quick else p99 < GOAL_P99,
            notes,
        ),
        Row(
            "8",
            "server CPU per Operation",
            cpu_shown,
            "-",
            cpu_shown,
            "< 15 ms",
            None if quick else cpu_per_op < GOAL_CPU,
        ),
    ]
