"""`redrunner each` and `redrunner rerun` against a real server: all Units at once, prefixed live output."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, client_env
from tests.cli.relaythread import LineReader, relay_to
from tests.support.server import REPO, wait_until


def stored_lines(cli: Cli, op_id: int) -> list[str]:
    return cli.server.get(f"operations/{op_id}/stdout").body.decode().replace("\r\n", "\n").splitlines()


def lines_of(output: list[str], unit: str) -> list[str]:
    prefix = f"[{unit}] "
    return [line.removeprefix(prefix) for line in output if line.startswith(prefix)]


@pytest.mark.slow
def test_each_follow_prefixes_every_units_output_and_exits_0(cli: Cli) -> None:
    result = cli("each", "say", "--tag", "cli-each", "--units", "a,b", "--follow")
    assert result.returncode == 0, result.stderr
    (job,) = cli.server.get("jobs?tag=cli-each").json()["items"]
    ops = {u["name"]: u["latest_operation"] for u in job["units"]}
    assert {name: op["action"] for name, op in ops.items()} == {"a": "say-a.yml", "b": "say-b.yml"}
    output = result.stdout.splitlines()
    for unit, op in ops.items():
        assert op["status"] == "successful"
        # Every line of each Unit's output, once, in its order, interleaved with the other's.
        assert lines_of(output, unit) == stored_lines(cli, op["id"])
    assert "hello from a" in "\n".join(lines_of(output, "a"))


@pytest.mark.slow
def test_each_reuses_the_newest_job_and_json_lists_the_operations(cli: Cli) -> None:
    first = cli("each", "say", "--tag", "cli-reuse", "--units", "a", "-o", "json")
    assert first.returncode == 0, first.stderr
    (op,) = first.json()
    cli.server.wait_terminal(op["id"])
    again = cli("each", "say", "--tag", "cli-reuse", "--units", "a,b", "--reuse-latest", "--follow", "-o", "json")
    assert again.returncode == 0, again.stderr
    ops = again.json()
    assert [o["unit"] for o in ops] == ["a", "b"] and {o["job_id"] for o in ops} == {op["job_id"]}
    assert all(o["status"] == "successful" for o in ops)
    # The live lines went to stderr, so stdout stayed one document.
    assert "[b] " in again.stderr
    assert len(cli.server.get("jobs?tag=cli-reuse").json()["items"]) == 1


@pytest.mark.slow
def test_a_failed_unit_exits_1_and_rerun_after_the_fix_exits_0(cli: Cli, tmp_path: Path) -> None:
    fix = tmp_path / "fixed"
    failed = cli(
        "each", "flaky", "--tag", "cli-rerun", "--units", "a,b", "-e", json.dumps({"fixed": str(fix)}), "--follow"
    )
    assert failed.returncode == 1
    assert "[a] " in failed.stdout and "not fixed yet" in failed.stdout
    (job,) = cli.server.get("jobs?tag=cli-rerun").json()["items"]

    fix.touch()
    rerun = cli("rerun", str(job["id"]), "--follow", "-o", "json")
    assert rerun.returncode == 0, rerun.stderr
    ops = rerun.json()
    assert sorted(o["unit"] for o in ops) == ["a", "b"]
    assert all(o["status"] == "successful" and o["rerun_of"] for o in ops)

    nothing = cli("rerun", str(job["id"]), "-o", "json")
    assert nothing.returncode == 0 and nothing.json() == []


def test_each_is_all_or_nothing_and_names_the_unit(cli: Cli) -> None:
    # sleep-a.yml exists, sleep-b.yml does not.
    result = cli("each", "sleep", "--tag", "cli-missing", "--units", "a,b")
    assert result.returncode == 2 and result.stdout == ""
    assert "playbook_not_found" in result.stderr and "(b)" in result.stderr
    (job,) = cli.server.get("jobs?tag=cli-missing").json()["items"]
    assert cli.server.get(f"operations?job_id={job['id']}").json()["items"] == []


@pytest.mark.slow
def test_each_follow_keeps_every_line_across_dropped_connections(cli: Cli, tmp_path: Path) -> None:
    with relay_to(cli.server.port) as relay:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "backend", "each", "gated", "--tag", "cli-each-drop", "--units", "a,b"),
                *("-e", json.dumps({"gate_dir": str(tmp_path)}), "--follow", "--url", relay.url),
            ],
            cwd=REPO,
            env=client_env(REDRUNNER_TOKEN_FILE=str(cli.token_file)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = LineReader(proc.stdout), LineReader(proc.stderr)
        try:
            dropped = 0
            for gate, last in (("gate1", 99), ("gate2", 199)):
                for unit in "ab":
                    wait_until(partial(out.has, f'"msg": "item {last}"', f"[{unit}] "), timeout=90)
                dropped += relay.drop_all()
                (tmp_path / gate).touch()
            assert proc.wait(120) == 0, "\n".join(err.lines)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        out.join(10)
        err.join(10)
    assert dropped >= 4  # two streams, two drops
    assert sum("resuming" in line for line in err.lines) >= 4
    (job,) = cli.server.get("jobs?tag=cli-each-drop").json()["items"]
    for unit in job["units"]:
        lines = lines_of(out.lines, unit["name"])
        assert lines == stored_lines(cli, unit["latest_operation"]["id"])
        assert sum('"msg": "item ' in line for line in lines) == 300
