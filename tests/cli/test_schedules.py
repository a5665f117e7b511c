"""`redrunner schedules` and `redrunner schedule add|rm|run` against a real server.

Schedules come from another branch (issue "schedules"): until the server serves `/schedules`,
these tests are skipped, and they run as soon as it does (the check reads the served OpenAPI).
"""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli


@pytest.fixture(scope="module")
def scheduling(cli: Cli) -> Cli:
    assert "/api/v1/schedules" in cli.server.get("openapi.json").json()["paths"]
    return cli


@pytest.mark.slow
def test_add_list_fire_and_remove_a_schedule(scheduling: Cli) -> None:
    cli = scheduling
    added = cli("schedule", "add", "cli-nightly", "--cron", "0 3 * * *", "--tag", "cli-sched")
    assert added.returncode == 2, "--units and --action are required"
    added = cli(
        "schedule", "add", "cli-nightly", "--cron", "0 3 * * *", "--tag", "cli-sched", "--units", "a,b",
        "--action", "say", "--timezone", "Europe/Paris", "-o", "json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    created = added.json()
    assert (created["name"], created["units"], created["timezone"]) == ("cli-nightly", ["a", "b"], "Europe/Paris")
    assert created["next_run_at"]

    listed = cli("schedules", "-o", "json")
    assert "cli-nightly" in [s["name"] for s in listed.json()]
    table = cli("schedules").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "CRON", "TIMEZONE"]
    assert any(line.startswith("cli-nightly") for line in table[1:])

    again = cli(
        "schedule", "add", "cli-nightly", "--cron", "0 3 * * *", "--tag", "t", "--units", "a", "--action", "say"
    )
    assert again.returncode == 2 and "schedule_exists" in again.stderr
    bad = cli("schedule", "add", "cli-bad", "--cron", "every day", "--tag", "t", "--units", "a", "--action", "say")
    assert bad.returncode == 2 and "invalid_cron" in bad.stderr

    fired = cli("schedule", "run", "cli-nightly", "-o", "json")
    assert fired.returncode == 0, fired.stderr
    job = fired.json()
    assert job["tag"] == "cli-sched" and job["schedule"] == "cli-nightly"
    waited = cli("wait", "--job", str(job["id"]), "-o", "json")
    assert waited.returncode == 0, waited.stdout
    assert {u["latest_operation"]["action"] for u in waited.json()["units"]} == {"say-a.yml", "say-b.yml"}

    assert cli("schedule", "rm", "cli-nightly").returncode == 0
    gone = cli("schedule", "rm", "cli-nightly")
    assert gone.returncode == 2 and "schedule_not_found" in gone.stderr
