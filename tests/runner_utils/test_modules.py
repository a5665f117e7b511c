"""redrunner_job and redrunner_operation, run by Ansible itself against a real server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runner_utils.playbooks import ansible_playbook, run_module
from tests.support.server import RunningServer

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
# A play outside runner_utils/ finds RedRunner's modules, module_utils and action plugins through these.
PLUGIN_PATHS = {
    f"ANSIBLE_{kind.upper()}": str(DATA.parents[2] / "runner_utils" / kind)
    for kind in ("library", "module_utils", "action_plugins")
}


@pytest.fixture
def srv(server_factory: Callable[..., RunningServer]) -> RunningServer:
    return server_factory(data_dir=DATA)


def jobs(srv: RunningServer, tag: str) -> list[dict[str, Any]]:
    return list(srv.get(f"jobs?tag={tag}").json()["items"])


def test_redrunner_job_create_latest_and_check_mode(srv: RunningServer, tmp_path: Path) -> None:
    args = {"url": srv.url, "tag": "nightly", "units": ["db", "web", "db"]}
    dry = run_module("redrunner_job", args, cwd=tmp_path, check=True)
    assert dry["changed"] is True and dry["job_id"] is None
    assert jobs(srv, "nightly") == [], "check mode must not create a Job"

    made = run_module("redrunner_job", args, cwd=tmp_path)
    assert made["changed"] is True and made["created"] is True and made["units"] == ["db", "web"]
    assert [j["id"] for j in jobs(srv, "nightly")] == [made["job_id"]]

    found = run_module("redrunner_job", {"url": srv.url, "tag": "nightly", "mode": "latest"}, cwd=tmp_path)
    assert found["changed"] is False and found["job_id"] == made["job_id"]

    reused = run_module("redrunner_job", {**args, "mode": "reuse", "units": ["db"]}, cwd=tmp_path)
    assert reused["changed"] is False and reused["job_id"] == made["job_id"]

    none = run_module("redrunner_job", {"url": srv.url, "tag": "never", "mode": "latest"}, cwd=tmp_path)
    assert none.get("failed") is True and "no RedRunner Job is tagged never" in none["msg"]


def test_redrunner_operation_success_check_mode_and_follow(srv: RunningServer, tmp_path: Path) -> None:
    job = srv.post("jobs", {"tag": "t", "units": ["app"]}).json()
    args = {"url": srv.url, "job_id": job["id"], "unit": "app", "action": "ok.yml"}

    # Check mode runs the component's playbook as a dry run (--check) on the server.
    dry = run_module("redrunner_operation", args, cwd=tmp_path, check=True)
    assert dry.get("failed") is not True, dry
    assert dry["changed"] is True and dry["status"] == "successful" and dry["operation"]["check"] is True
    assert "(check mode)" in dry["summary"]
    # With no Job to run in, check mode starts nothing.
    nothing = run_module("redrunner_operation", {**args, "job_id": None}, cwd=tmp_path, check=True)
    assert nothing["operation_id"] is None
    assert [o["id"] for o in srv.get(f"operations?job_id={job['id']}").json()["items"]] == [dry["operation_id"]]

    done = run_module("redrunner_operation", args, cwd=tmp_path)
    assert done["operation"]["check"] is False
    assert done.get("failed") is not True, done
    assert done["changed"] is True and done["status"] == "successful" and done["playbook_rc"] == 0
    assert done["terminal"] is True and done["stats"]["ok"] >= 1
    assert any("hello from app" in line for line in done["stdout_tail"])

    again = run_module("redrunner_operation", {"url": srv.url, "operation_id": done["operation_id"]}, cwd=tmp_path)
    assert again["changed"] is False and again["status"] == "successful"

    missing = run_module("redrunner_operation", {**args, "unit": "ghost"}, cwd=tmp_path)
    assert missing["failed"] is True and f"job {job['id']} has no unit ghost" in missing["msg"]


def test_redrunner_operation_failure_names_operation_status_and_task(srv: RunningServer, tmp_path: Path) -> None:
    job = srv.post("jobs", {"tag": "t", "units": ["app"]}).json()
    res = run_module(
        "redrunner_operation",
        {"url": srv.url, "job_id": job["id"], "unit": "app", "action": "fail.yml", "extravars": {"disk": "sdx"}},
        cwd=tmp_path,
    )
    assert res["failed"] is True and res["changed"] is True
    assert res["status"] == "failed" and res["failures"] == ["Break the disk check: disk sdx is gone"]
    assert f"operation {res['operation_id']} (fail.yml in unit app of job {job['id']}) ended failed" in res["msg"]

    tolerant = run_module(
        "redrunner_operation",
        {"url": srv.url, "job_id": job["id"], "unit": "app", "action": "fail.yml", "fail_on_status": False},
        cwd=tmp_path,
    )
    assert tolerant.get("failed") is not True and tolerant["status"] == "failed"


def test_action_plugin_prints_progress_while_it_waits(srv: RunningServer, tmp_path: Path) -> None:
    job = srv.post("jobs", {"tag": "t", "units": ["app"]}).json()
    play = tmp_path / "follow.yml"
    play.write_text(f"""
- name: Follow a slow operation
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Run it
      redrunner_operation:
        url: {srv.url}
        job_id: {job["id"]}
        unit: app
        action: slow.yml
        extravars: {{seconds: 4}}
        progress_interval: 1
      register: out
    - name: Show it
      ansible.builtin.debug:
        msg: "{{{{ out.summary }}}}"
""")
    # the plugins are found through ANSIBLE_* paths here; beside the playbook in runner_utils/
    run = ansible_playbook(play, "-i", "localhost,", cwd=tmp_path, env=PLUGIN_PATHS)
    assert run.rc == 0, run.explain()
    assert "[localhost] operation " in run.stdout and "slow.yml in app: running" in run.stdout
    assert "slow.yml in app: successful" in run.stdout


def test_the_module_follows_a_retry_chain_and_the_play_shows_each_attempt(srv: RunningServer, tmp_path: Path) -> None:
    job = srv.post("jobs", {"tag": "t", "units": ["app"]}).json()
    marker = tmp_path / "marker"
    play = tmp_path / "retry.yml"
    play.write_text(f"""
- name: Run a flaky operation with a retry
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Run it
      redrunner_operation:
        url: {srv.url}
        job_id: {job["id"]}
        unit: app
        action: flaky.yml
        extravars: {{flaky_marker: "{marker}", flaky_sleep: 2}}
        retries: 2
        retry_delay: 1
        progress_interval: 1
      register: out
    - name: Show it
      ansible.builtin.debug:
        msg: "{{{{ out.summary }}}} after {{{{ out.attempts | length }}}} retried attempt(s)"
""")
    run = ansible_playbook(play, "-i", "localhost,", cwd=tmp_path, env=PLUGIN_PATHS)
    assert run.rc == 0, run.explain()
    ops = sorted(srv.get(f"operations?job_id={job['id']}").json()["items"], key=lambda o: o["id"])
    assert [(o["attempt"], o["status"]) for o in ops] == [(1, "failed"), (2, "successful")], run.stdout
    assert f"flaky.yml in app: failed, 4/4 tasks, rc=2, attempt 1 of 3; retried as operation {ops[1]['id']}" in (
        run.stdout
    )
    assert f"operation {ops[1]['id']} flaky.yml in app: successful" in run.stdout and "attempt 2 of 3" in run.stdout
    assert "after 1 retried attempt(s)" in run.stdout


def test_redrunner_job_restore_source_says_what_is_missing(srv: RunningServer, tmp_path: Path) -> None:
    job = srv.post("jobs", {"tag": "nightly", "units": ["app", "db"]}).json()
    srv.wait_terminal(srv.post(f"jobs/{job['id']}/units/app", {"action": "ok.yml"}).json()["id"])  # not a backup
    args = {"url": srv.url, "tag": "nightly", "mode": "restore_source", "units": ["app", "db"]}

    none = run_module("redrunner_job", args, cwd=tmp_path)
    assert none["failed"] is True and none["jobs_examined"] == 1
    assert "none of the 1 Jobs tagged nightly has a successful backup of every component (app, db)" in none["msg"]
    assert "redrunner_source_job" in none["msg"]

    chosen = run_module("redrunner_job", {**args, "job_id": job["id"]}, cwd=tmp_path)
    assert chosen["failed"] is False and chosen["changed"] is False
    assert chosen["job_id"] == job["id"] and chosen["backups"] == {} and chosen["missing"] == ["app", "db"]

    gone = run_module("redrunner_job", {**args, "job_id": 999}, cwd=tmp_path)
    assert gone["failed"] is True and "no RedRunner Job 999 to restore from" in gone["msg"]
