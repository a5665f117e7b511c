"""What an operator does from the command line besides starting runs (#26), against a real server:
why a run failed (`job`, `operations`, `operation`), Schedule changes, webhooks, `--retries`, and the
messages that name the command line's flags."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.backend.webhook_receiver import Receiver
from tests.cli.conftest import Cli
from tests.support.server import free_port, wait_until


def new_job(cli: Cli, tag: str, units: list[str]) -> int:
    response = cli.server.post("jobs", {"tag": tag, "units": units})
    assert response.status == 201, response.body
    return int(response.json()["id"])


@pytest.fixture(scope="module")
def rescued(cli: Cli) -> tuple[int, int]:
    """A Job whose one run failed in a block whose rescue failed again with the reason."""
    job_id = new_job(cli, "cli-rescued", ["a"])
    started = cli("start", str(job_id), "a", "rescued", "-o", "json")
    assert started.returncode == 0, started.stderr
    op_id = int(started.json()["id"])
    assert cli.server.wait_terminal(op_id)["status"] == "failed"
    return job_id, op_id


@pytest.mark.slow
def test_job_operations_and_operation_show_the_failed_task_and_why(cli: Cli, rescued: tuple[int, int]) -> None:
    job_id, op_id = rescued
    reason = "backup failed: Copy the files: disk full"

    shown = cli("job", str(job_id))
    assert shown.returncode == 0, shown.stderr
    header, row = shown.stdout.splitlines()[2:]
    assert header.split()[-3:] == ["FAILED", "TASK", "ERROR"]
    # The task the rescue caught, not the rescue's own "Fail with the reason"; its message last.
    assert "Copy the files" in row and row.endswith(reason) and "Fail with the reason" not in row

    listed = cli("operations", "--job", str(job_id), "--status", "failed")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()[1:]
    assert line.split()[:5] == [str(op_id), str(job_id), "a", "rescued-a.yml", "failed"]
    assert "Copy the files" in line and line.endswith(reason)
    as_json = cli("operations", "--job", str(job_id), "-o", "json").json()
    assert [op["id"] for op in as_json] == [op_id]
    none = cli("operations", "--job", str(job_id), "--status", "successful")
    assert (none.returncode, none.stdout) == (0, "") and "no Operations match" in none.stderr

    one = cli("operation", str(op_id))
    assert one.returncode == 0, one.stderr
    fields = dict(line.split(":", 1) for line in one.stdout.splitlines())
    assert fields["failed task"].strip() == "Copy the files"
    assert fields["error"].strip() == reason
    assert fields["status"].strip() == "failed" and "rescued=1" in fields["stats"]
    assert cli("operation", str(op_id), "-o", "json").json() == cli.server.get(f"operations/{op_id}").json()


def test_start_json_is_one_object_and_retries_reach_the_api(cli: Cli) -> None:
    job_id = new_job(cli, "cli-retries", ["a", "b"])
    one = cli("start", str(job_id), "a", "say", "--retries", "2", "-o", "json")
    assert one.returncode == 0, one.stderr
    op = one.json()
    assert isinstance(op, dict) and (op["unit"], op["retries"]) == ("a", 2)

    several = cli("each", "say", "--tag", "cli-retries-each", "--units", "a,b", "--retries", "1", "-o", "json")
    assert several.returncode == 0, several.stderr
    assert [(o["unit"], o["retries"]) for o in several.json()] == [("a", 1), ("b", 1)]

    too_many = cli("start", str(job_id), "b", "say", "--retries", "11")
    assert too_many.returncode == 2 and "0 to 10" in too_many.stderr


def test_a_busy_unit_names_the_queue_flag(cli: Cli) -> None:
    job_id = new_job(cli, "cli-busy", ["a"])
    first = cli("start", str(job_id), "a", "sleep", "-o", "json")
    assert first.returncode == 0, first.stderr
    try:
        busy = cli("start", str(job_id), "a", "sleep")
        assert busy.returncode == 2 and "unit_busy" in busy.stderr
        assert "pass --queue" in busy.stderr and "queue=true" not in busy.stderr
    finally:
        assert cli("cancel", str(first.json()["id"])).returncode == 0


def test_jobs_with_no_match_say_so_and_name_the_tags_that_contain_it(cli: Cli) -> None:
    new_job(cli, "cli-backup-nightly", ["a"])
    found = cli("jobs", "--tag", "cli-back")
    assert found.returncode == 0 and found.stdout == ""
    assert "no Jobs with tag 'cli-back'" in found.stderr and "cli-backup-nightly" in found.stderr
    as_json = cli("jobs", "--tag", "cli-back", "-o", "json")
    assert (as_json.returncode, as_json.json(), as_json.stderr) == (0, [], "")


@pytest.mark.slow
def test_schedule_enable_disable_and_edit(cli: Cli) -> None:
    added = cli(
        "schedule", "add", "cli-edit", "--cron", "0 3 * * *", "--tag", "cli-edit", "--units", "a",
        "--action", "say", "--retries", "2", "-o", "json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert cli.server.get("schedules/cli-edit").json()["retries"] == 2

    off = cli("schedule", "disable", "cli-edit")
    assert off.returncode == 0, off.stderr
    assert cli.server.get("schedules/cli-edit").json()["enabled"] is False
    assert "no" in off.stdout.splitlines()[1].split()
    assert cli("schedule", "enable", "cli-edit").returncode == 0
    assert cli.server.get("schedules/cli-edit").json()["enabled"] is True

    edited = cli(
        "schedule", "edit", "cli-edit", "--cron", "30 4 * * *", "--retries", "0", "--units", "a,b", "-o", "json"
    )
    assert edited.returncode == 0, edited.stderr
    now = cli.server.get("schedules/cli-edit").json()
    assert (now["cron"], now["retries"], now["units"], now["tag"]) == ("30 4 * * *", 0, ["a", "b"], "cli-edit")
    assert edited.json()["cron"] == "30 4 * * *"

    nothing = cli("schedule", "edit", "cli-edit")
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    unknown = cli("schedule", "disable", "cli-nope")
    assert unknown.returncode == 2 and "schedule_not_found" in unknown.stderr
    assert cli("schedule", "rm", "cli-edit").returncode == 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(free_port()).start()
    yield rec
    rec.stop()


@pytest.mark.slow
def test_webhooks_add_list_test_and_remove(cli: Cli, receiver: Receiver, tmp_path: Path) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret + "\n")
    added = cli("webhook", "add", receiver.url, "--events", "operation.finished", "--secret-file", str(secret_file))
    assert added.returncode == 0, added.stderr
    assert secret not in added.stdout
    (hook,) = [h for h in cli("webhooks", "-o", "json").json() if h["url"] == receiver.url]
    assert (hook["events"], hook["has_secret"]) == (["operation.finished"], True)
    listed = cli("webhooks").stdout.splitlines()
    assert listed[0].split() == ["ID", "URL", "EVENTS", "TAGS", "SECRET", "CREATED"]

    tested = cli("webhook", "test", str(hook["id"]))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[1].split()[2:4] == ["webhook.test", "delivered"]
    (got,) = receiver.of_type("webhook.test")
    assert Webhook(secret).verify(got.body, got.headers)["data"] == {"webhook_id": hook["id"]}

    shown = cli("webhook", "deliveries", str(hook["id"]), "-o", "json").json()
    assert [(d["event"], d["status"]) for d in shown] == [("webhook.test", "delivered")]
    assert cli("webhook", "rm", str(hook["id"])).returncode == 0
    assert cli.server.get(f"webhooks/{hook['id']}").status == 404


def test_a_test_delivery_nobody_answers_exits_1(cli: Cli) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    hook = cli("webhook", "add", dead, "-o", "json").json()
    try:
        tested = cli("webhook", "test", str(hook["id"]), "--timeout", "20")
        assert tested.returncode == 1, tested.stdout + tested.stderr
        assert "not delivered yet" in tested.stderr
        row = tested.stdout.splitlines()[1].split()
        assert row[2:5] == ["webhook.test", "pending", "1"]  # one attempt made, a retry planned
        bad = cli("webhook", "add", "ftp://x", "--secret-file", "/nonexistent/secret")
        assert bad.returncode == 2 and "cannot read /nonexistent/secret" in bad.stderr
    finally:
        cli("webhook", "rm", str(hook["id"]))
    wait_until(lambda: cli.server.get(f"webhooks/{hook['id']}").status == 404, timeout=5)
