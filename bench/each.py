"""9. The each pattern: runner_utils/backup-each.yml over N components vs the same N playbooks run raw in parallel.

Each component has its own 5-task playbook (`backup-c<i>.yml`, five `command: "true"` tasks, so every
task starts a module process as a real backup does). Three sides, interleaved per round: the N
playbooks raw in parallel (until the last exits); `ansible-playbook runner_utils/backup-each.yml` with
one inventory host per component and `-f N` (play 1 creates the Job, play 2 starts and follows every
component's Operation); and the same N Operations started straight through the API (one
`POST /jobs/{id}/actions`, until the last is terminal). The each-play's own CPU (its process tree,
without the server's ansible children) is printed beside it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

from . import raw
from .client import Api
from .results import Row, check, median, ratio_row, seconds
from .workspace import Workspace

NAME = "each"
GOAL = 1.15
REPO = Path(__file__).resolve().parents[1]
EACH = REPO / "runner_utils" / "backup-each.yml"
TASKS = 5


def component_playbooks(ws: Workspace, count: int, tasks: int = TASKS) -> list[str]:
    return [
        ws.playbook(f"backup-c{i}.yml", [f'name: step {k}\n      command: "true"' for k in range(tasks)])
        for i in range(count)
    ]


def each_inventory(ws: Workspace, count: int) -> Path:
    path = ws.root / f"each-{count}.ini"
    path.write_text("[components]\n" + "".join(f"c{i}\n" for i in range(count)))
    return path


def run_each(api_url: str, inventory: Path, count: int, tag: str) -> tuple[float, float]:
    """Wall time and CPU (the ansible-playbook process tree) of one backup-each.yml run; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            str(raw.BINDIR / "ansible-playbook"),
            "-i",
            str(inventory),
            "-f",
            str(count),
            str(EACH),
            "-e",
            f"redrunner_url={api_url.removesuffix('/api/v1')}",
            "-e",
            f"redrunner_tag={tag}",
        ],
        cwd=inventory.parent,
        env={**raw.raw_env(), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise AssertionError(f"backup-each.yml exited {proc.returncode}: {proc.stdout[-3000:]} {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def run_api(api: Api, count: int, tag: str) -> float:
    """The same N Operations started in one POST /jobs/{id}/actions, until the last is terminal."""
    t0 = time.perf_counter()
    job = api.job(tag, [f"c{i}" for i in range(count)])
    started = api.post(f"jobs/{job['id']}/actions", {"action": "backup"}, 202)["items"]
    ops = [api.wait_terminal(op["id"]) for op in started]
    took = time.perf_counter() - t0
    check(all(op["status"] == "successful" for op in ops), f"API-started Operations ended {[o['status'] for o in ops]}")
    return took


def run(ws: Workspace, quick: bool) -> list[Row]:
    sizes = [2] if quick else [3, 8, 16]
    rounds = 1 if quick else 3
    # Quick runs judge nothing: two tasks a playbook and no warm-up run the same code paths for less CPU.
    playbooks = component_playbooks(ws, max(sizes), 2 if quick else TASKS)
    rows: list[Row] = []
    with ws.server(args=["--workers", str(max(sizes))]) as srv:
        api = Api(srv.api)
        if not quick:
            raw.run(ws.data_dir, playbooks[0])  # warm-up
            run_each(srv.api, each_inventory(ws, 1), 1, "bench-each-warm")
        for count in sizes:
            inventory = each_inventory(ws, count)
            raw_times: list[float] = []
            each_times: list[float] = []
            each_cpu: list[float] = []
            api_times: list[float] = []
            for r in range(rounds):  # interleaved, so drifting machine load hits every side alike
                raw_times.append(raw.run_all(ws.data_dir, playbooks[:count]))
                took, cpu = run_each(srv.api, inventory, count, f"bench-each-{count}-{r}")
                each_times.append(took)
                each_cpu.append(cpu)
                api_times.append(run_api(api, count, f"bench-each-api-{count}-{r}"))
            latest = api.get(f"jobs/latest?tag=bench-each-{count}-{rounds - 1}")
            check(
                sorted(u["name"] for u in latest["units"]) == sorted(f"c{i}" for i in range(count))
                and all(u["status"] == "successful" for u in latest["units"]),
                f"backup-each.yml left Units {[(u['name'], u['status']) for u in latest['units']]}",
            )
            api_ratio = median(api_times) / median(raw_times)
            notes = [
                f"N={count}, {rounds} rounds, medians (load {os.getloadavg()[0]:.2f} after): each-play "
                f"{seconds(median(each_times))}, its own CPU {seconds(median(each_cpu))}; raw "
                f"{seconds(median(raw_times))}; the same Operations through POST /actions "
                f"{seconds(median(api_times))} ({api_ratio:.3f}x raw)"
            ]
            rows.append(
                ratio_row(
                    "9",
                    f"backup-each.yml, N={count} components",
                    median(each_times),
                    median(raw_times),
                    GOAL,
                    judged=not quick,
                    notes=notes,
                )
            )
        api.close()
    return rows
