"""check and diff reach ansible-playbook as --check and --diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import RunningServer

from .helpers import all_events, make_job, start


@pytest.mark.slow
def test_check_mode_changes_nothing_and_diff_shows_the_change(server: RunningServer, tmp_path: Path) -> None:
    job = make_job(server, "restore", ["db"])
    out = tmp_path / "out.json"
    dry = start(server, job["id"], "db", "vars.yml", extravars={"out_file": str(out)}, check=True, diff=True)
    assert (dry["check"], dry["diff"]) == (True, True)
    done = server.wait_terminal(dry["id"])
    assert done["status"] == "successful" and done["stats"]["changed"] == 1
    assert not out.exists()
    copy = [e for e in all_events(server, dry["id"]) if e["event"] == "runner_on_ok" and e["task"]]
    assert any(e["data"]["res"].get("diff") for e in copy)

    real = start(server, job["id"], "db", "vars.yml", extravars={"out_file": str(out)})
    assert (real["check"], real["diff"]) == (False, False)
    assert server.wait_terminal(real["id"])["status"] == "successful"
    assert out.exists()


@pytest.mark.slow
def test_check_through_actions_and_form_booleans(server: RunningServer, tmp_path: Path) -> None:
    job = make_job(server, "restore", ["db", "web"])
    out = tmp_path / "never.json"
    resp = server.post(
        f"jobs/{job['id']}/actions",
        form={"action": "vars.yml", "extravars": f'{{"out_file": "{out}"}}', "check": "true", "diff": "false"},
    )
    assert resp.status == 202, resp.body
    for op in resp.json()["items"]:
        assert op["check"] is True
        assert server.wait_terminal(op["id"])["status"] == "successful"
    assert not out.exists()
