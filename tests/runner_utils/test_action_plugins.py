"""The action plugins run the modules' own code inside ansible-playbook: the same results as the shipped
modules, and no module process at all (a host whose Python does not exist still runs them)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runner_utils.playbooks import RUNNER_UTILS, ansible_playbook, run_module
from tests.support.server import RunningServer

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
# What differs between two runs of the same call, whatever runs it; and `attempts`, which the operation
# plugin's slice loop has always added (a retry chain's attempts, gathered over its slices).
VOLATILE = {"invocation", "warnings", "deprecations", "attempts"}


@pytest.fixture
def srv(server_factory: Callable[..., RunningServer]) -> RunningServer:
    return server_factory(data_dir=DATA)


def both(module: str, args: dict[str, Any], tmp_path: Path, check: bool = False) -> tuple[dict[str, Any], ...]:
    """The call's result from the shipped module and from the action plugin, volatile keys left out."""
    shipped = run_module(module, args, cwd=tmp_path, check=check, action_plugins=False)
    here = run_module(module, args, cwd=tmp_path, check=check)
    return tuple({k: v for k, v in r.items() if k not in VOLATILE} for r in (shipped, here))


@pytest.mark.timeout(600)  # two ad hoc ansible runs per call, each several seconds on a busy machine
def test_the_action_plugins_give_the_modules_results(srv: RunningServer, tmp_path: Path) -> None:
    job = srv.post("jobs", {"tag": "same", "units": ["app"]}).json()
    done = srv.post(f"jobs/{job['id']}/units/app", {"action": "ok.yml"}).json()
    srv.wait_terminal(done["id"])
    calls: list[tuple[str, dict[str, Any], bool]] = [
        ("redrunner_job", {"url": srv.url, "tag": "same", "mode": "latest"}, False),
        ("redrunner_job", {"url": srv.url, "tag": "new", "units": ["a"]}, True),
        ("redrunner_job", {"url": srv.url, "tag": "same", "mode": "sideways"}, False),
        ("redrunner_job", {"url": srv.url, "tag": "same", "colour": "red"}, False),
        ("redrunner_operation", {"url": srv.url, "operation_id": done["id"]}, False),
        ("redrunner_operation", {"url": srv.url, "job_id": job["id"], "unit": "nope", "action": "ok.yml"}, False),
        ("redrunner_operation", {"url": "http://127.0.0.1:9", "operation_id": 1, "token": "s3cret-token"}, False),
        # `started`: a start's result (a looped start's item), followed, or its failure made this host's
        ("redrunner_operation", {"url": srv.url, "started": {"operation_id": done["id"], "changed": True}}, False),
        ("redrunner_operation", {"url": srv.url, "started": {"operation_id": None, "msg": "no", "error": "x"}}, False),
    ]
    for module, args, check in calls:
        shipped, here = both(module, args, tmp_path, check)
        assert here == shipped, (module, args)
    assert "s3cret-token" not in str(here)


@pytest.mark.timeout(300)
def test_the_plays_start_no_module_process(srv: RunningServer, tmp_path: Path) -> None:
    play = tmp_path / "play.yml"
    play.write_text(f"""
- name: Create a Job, start and follow an Operation, with no usable Python for modules
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: /nonexistent/python3
  tasks:
    - name: Create the Job
      redrunner_job: {{url: "{srv.url}", tag: here, units: [app]}}
      register: job
    - name: Start
      redrunner_operation: {{url: "{srv.url}", job_id: "{{{{ job.job_id }}}}", unit: app, action: ok.yml, wait: false}}
      register: started
    - name: Follow
      redrunner_operation: {{url: "{srv.url}", operation_id: "{{{{ started.operation_id }}}}", progress_interval: 1}}
      register: followed
    - name: Show
      ansible.builtin.debug:
        msg: "{{{{ followed.summary }}}}"
""")
    env = {
        "ANSIBLE_LIBRARY": str(RUNNER_UTILS / "library"),
        "ANSIBLE_MODULE_UTILS": str(RUNNER_UTILS / "module_utils"),
        "ANSIBLE_ACTION_PLUGINS": str(RUNNER_UTILS / "action_plugins"),
    }
    run = ansible_playbook(play, "-i", "localhost,", cwd=tmp_path, env=env)
    assert run.rc == 0, run.explain()
    job = srv.get("jobs/latest?tag=here").json()
    assert job["units"][0]["status"] == "successful"
    assert f"operation {job['units'][0]['latest_operation']['id']} ok.yml in app: successful" in run.stdout

    # The same play without the action plugins needs that Python, which proves the plugins ran the code.
    shipped = ansible_playbook(play, "-i", "localhost,", cwd=tmp_path, env={**env, "ANSIBLE_ACTION_PLUGINS": ""})
    assert shipped.rc != 0 and "/nonexistent/python3" in shipped.stdout + shipped.stderr


@pytest.mark.timeout(300)
def test_each_starts_every_operation_at_once_with_one_fork_and_fails_a_bad_start_alone(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """backup-each.yml starts every component's Operation in one task, so -f 1 still runs them all at once;
    a start the server refuses (no backup-c.yml) fails that host alone, with the server's answer."""
    data = tmp_path / "data"
    (data / "project").mkdir(parents=True)
    shutil.copytree(DATA / "inventory", data / "inventory")
    for unit in ("a", "b"):
        shutil.copy(DATA / "project" / "slow.yml", data / "project" / f"backup-{unit}.yml")
    srv = server_factory(data_dir=data, args=["--workers", "3"])
    inventory = tmp_path / "components.ini"
    inventory.write_text("[components]\na\nb\nc\n")
    run = ansible_playbook(
        RUNNER_UTILS / "backup-each.yml",
        "-i",
        str(inventory),
        "-f",
        "1",
        "-e",
        f"redrunner_url={srv.url}",
        "-e",
        'redrunner_extravars={"seconds":3}',
        cwd=tmp_path,
    )
    assert run.rc == 2, run.explain()
    recap = run.recap()
    assert (recap["a"]["failed"], recap["b"]["failed"], recap["c"]["failed"]) == (0, 0, 1), run.explain()
    assert recap["a"]["changed"] >= 1 and recap["b"]["changed"] >= 1, run.explain()
    fatal = next(line for line in run.stdout.splitlines() if line.startswith("fatal: [c]"))
    assert "playbook_not_found" in fatal or "backup-c.yml" in fatal, fatal
    job = srv.get("jobs/latest?tag=backup").json()
    ops = srv.get(f"operations?job_id={job['id']}").json()["items"]
    assert sorted(o["unit"] for o in ops) == ["a", "b"] and all(o["status"] == "successful" for o in ops)
    # Both ran at one same moment, though one fork followed them one after the other.
    assert max(o["started_at"] for o in ops) < min(o["finished_at"] for o in ops), ops
    for op in ops:
        assert f"[{op['unit']}] operation {op['id']} backup-{op['unit']}.yml in {op['unit']}: successful" in run.stdout
