"""9. The each pattern: runner_utils/backup-each.yml over N components vs what a user writes without RedRunner.

Each component has its own 5-task playbook (`backup-c<i>.yml`, five `command: "true"` tasks, so every
task starts a module process as a real backup does). Four sides, interleaved per round:
- the driving play a user writes instead (the baseline): one inventory host per component, `-f N`, each
  host running its component's playbook with `ansible.builtin.command: ansible-playbook ...`;
- the N playbooks raw in parallel (until the last exits): the floor, with nothing driving them;
- `ansible-playbook runner_utils/backup-each.yml` with the same inventory and `-f N` (play 1 creates the
  Job, play 2 starts and follows every component's Operation);
- the same N Operations started straight through the API (one `POST /jobs/{id}/actions`, until the last
  is terminal).
The each-play's own CPU (its process tree, without the server's ansible children) is in the note.
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
GOAL_DRIVING = 0.90  # against the hand-written driving play
GOAL_RAW = 1.25  # against the N playbooks raw in parallel
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


DRIVING_PLAY = """\
# What a user writes without RedRunner: one host per component, each running its own playbook.
- name: Back up every component
  hosts: components
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Run the component's backup playbook
      ansible.builtin.command:
        argv: ["{bindir}/ansible-playbook", "-i", "{hosts}", "{project}/backup-{{{{ inventory_hostname }}}}.yml"]
      changed_when: true
"""


def driving_play(ws: Workspace) -> Path:
    path = ws.root / "drive-backups.yml"
    path.write_text(DRIVING_PLAY.format(bindir=raw.BINDIR, hosts=ws.inventory, project=ws.data_dir / "project"))
    return path


def run_play(play: Path, inventory: Path, count: int, *extra: str) -> tuple[float, float]:
    """Wall time and CPU (its process tree) of one `ansible-playbook -f count` run; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(raw.BINDIR / "ansible-playbook"), "-i", str(inventory), "-f", str(count), str(play), *extra],
        cwd=inventory.parent,
        env={**raw.raw_env(), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise AssertionError(f"{play.name} exited {proc.returncode}: {proc.stdout[-3000:]} {proc.stderr[-2000:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_driving(play: Path, inventory: Path, count: int) -> float:
    """Wall time of the hand-written driving play over `count` components."""
    return run_play(play, inventory, count)[0]


def run_each(api_url: str, inventory: Path, count: int, tag: str) -> tuple[float, float]:
    """Wall time and CPU (the ansible-playbook process tree) of one backup-each.yml run."""
    url = api_url.removesuffix("/api/v1")
    return run_play(EACH, inventory, count, "-e", f"redrunner_url={url}", "-e", f"redrunner_tag={tag}")


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
    driving = driving_play(ws)
    rows: list[Row] = []
    with ws.server(args=["--workers", str(max(sizes))]) as srv:
        api = Api(srv.api)
        if not quick:
            raw.run(ws.data_dir, playbooks[0])  # warm-up
            run_each(srv.api, each_inventory(ws, 1), 1, "bench-each-warm")
        for count in sizes:
            inventory = each_inventory(ws, count)
            raw_times: list[float] = []
            driving_times: list[float] = []
            each_times: list[float] = []
            each_cpu: list[float] = []
            api_times: list[float] = []
            for r in range(rounds):  # interleaved, so drifting machine load hits every side alike
                raw_times.append(raw.run_all(ws.data_dir, playbooks[:count]))
                driving_times.append(run_driving(driving, inventory, count))
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
                    median(driving_times),
                    GOAL_DRIVING,
                    judged=not quick,
                    notes=notes,
                    instead="a driving play: command ansible-playbook per host",
                )
            )
            rows.append(
                ratio_row(
                    "9",
                    f"backup-each.yml, N={count} components",
                    median(each_times),
                    median(raw_times),
                    GOAL_RAW,
                    judged=not quick,
                    instead="the N playbooks raw in parallel (floor)",
                )
            )
        api.close()
    return rows
