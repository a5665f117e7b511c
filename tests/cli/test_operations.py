"""`redrunner jobs|job|start|logs|wait|cancel` against a real server: output, JSON, exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import TOKEN, Cli, client_env, redrunner
from tests.support.server import ServerClient, free_port


def text(body: bytes) -> str:
    """As the client's output reads back through a text pipe: ansible's \\r\\n line ends become \\n."""
    return body.decode().replace("\r\n", "\n")


def new_job(server: ServerClient, tag: str, units: list[str]) -> int:
    response = server.post("jobs", {"tag": tag, "units": units})
    assert response.status == 201, response.body
    return int(response.json()["id"])


def test_jobs_and_job_as_json_match_the_api(cli: Cli) -> None:
    first = new_job(cli.server, "cli-list", ["a"])
    second = new_job(cli.server, "cli-list", ["a", "b"])

    listed = cli("jobs", "--tag", "cli-list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [j["id"] for j in listed.json()] == [second, first]  # newest first, as the API lists

    shown = cli("job", str(second), "-o", "json")
    assert shown.returncode == 0 and shown.json() == cli.server.get(f"jobs/{second}").json()


def test_jobs_and_job_as_tables(cli: Cli) -> None:
    job_id = new_job(cli.server, "cli-table", ["a", "b"])
    listed = cli("jobs", "--tag", "cli-table")
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "TAG", "STATUS", "UNITS", "CREATED"]
    assert row.split()[:4] == [str(job_id), "cli-table", "new", "2"]

    shown = cli("job", str(job_id)).stdout.splitlines()
    assert shown[0].startswith(f"Job {job_id}  tag cli-table  status new")
    assert [line.split()[:2] for line in shown[3:]] == [["a", "idle"], ["b", "idle"]]


@pytest.mark.slow
def test_start_follow_prints_the_output_and_exits_0_on_success(cli: Cli) -> None:
    job_id = new_job(cli.server, "cli-start", ["a"])
    result = cli("start", str(job_id), "a", "say", "--follow")
    assert result.returncode == 0, result.stderr
    (op,) = cli.server.get(f"operations?job_id={job_id}").json()["items"]
    assert op["action"] == "say-a.yml" and op["status"] == "successful"
    stdout = text(cli.server.get(f"operations/{op['id']}/stdout").body)
    assert "hello from a" in stdout
    # The live lines are the stored output, in full, followed by the table of how it ended.
    assert result.stdout.startswith(stdout)
    assert result.stdout.splitlines()[-1].split()[:5] == [str(op["id"]), str(job_id), "a", "say-a.yml", "successful"]


@pytest.mark.slow
def test_a_failed_run_exits_1_and_json_says_why(cli: Cli, tmp_path: Path) -> None:
    job_id = new_job(cli.server, "cli-fail", ["a"])
    result = cli("start", str(job_id), "a", "flaky", "-e", f'{{"fixed": "{tmp_path}/nope"}}', "--follow", "-o", "json")
    assert result.returncode == 1
    op = result.json()  # one document, an object for `start`'s one Operation; the live lines went to stderr
    assert op["status"] == "failed" and op["rc"] != 0
    assert "not fixed yet" in result.stderr


@pytest.mark.slow
def test_start_returns_at_once_and_wait_reports_the_end(cli: Cli, tmp_path: Path) -> None:
    job_id = new_job(cli.server, "cli-wait", ["a"])
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(f'{{"fixed": "{vars_file}"}}')  # the file exists: the run succeeds
    started = cli("start", str(job_id), "a", "flaky-a.yml", "-e", f"@{vars_file}", "-o", "json")
    assert started.returncode == 0, started.stderr
    op = started.json()
    assert op["extravars"]["fixed"] == str(vars_file)

    waited = cli("wait", str(op["id"]), "-o", "json")
    assert waited.returncode == 0, waited.stderr
    assert [o["status"] for o in waited.json()] == ["successful"]

    by_job = cli("wait", "--job", str(job_id), "-o", "json")
    assert by_job.returncode == 0 and by_job.json()["status"] == "successful"


@pytest.mark.slow
def test_wait_timeout_cancel_and_a_second_cancel(cli: Cli) -> None:
    job_id = new_job(cli.server, "cli-cancel", ["a"])
    op = cli("start", str(job_id), "a", "sleep", "-o", "json").json()

    still = cli("wait", str(op["id"]), "--timeout", "1", "-o", "json")
    assert still.returncode == 1  # not ended: not successful
    assert still.json()[0]["status"] in ("pending", "running")
    assert cli("wait", "--job", str(job_id), "--timeout", "1").returncode == 1

    canceled = cli("cancel", str(op["id"]), "-o", "json")
    assert canceled.returncode == 0, canceled.stderr
    assert canceled.json()["id"] == op["id"]
    ended = cli("wait", str(op["id"]), "-o", "json")
    assert ended.returncode == 1 and ended.json()[0]["status"] == "canceled"

    again = cli("cancel", str(op["id"]))
    assert again.returncode == 2 and again.stdout == ""
    assert "not_running" in again.stderr


@pytest.mark.slow
def test_logs_prints_the_stored_output_and_json_the_events(cli: Cli) -> None:
    job_id = new_job(cli.server, "cli-logs", ["b"])
    op = cli.server.post(f"jobs/{job_id}/units/b", {"action": "say"}).json()
    cli.server.wait_terminal(op["id"])

    logs = cli("logs", str(op["id"]))
    assert logs.returncode == 0
    assert logs.stdout == text(cli.server.get(f"operations/{op['id']}/stdout").body)
    assert "hello from b" in logs.stdout

    events = cli("logs", str(op["id"]), "-o", "json").json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    followed = cli("logs", str(op["id"]), "-f")
    assert followed.returncode == 0 and followed.stdout == logs.stdout
    assert "\x1b[" not in logs.stdout  # plain text by default, as /stdout gives it

    coloured = cli("logs", str(op["id"]), "--ansi")
    assert coloured.stdout == text(cli.server.get(f"operations/{op['id']}/stdout?ansi=true").body)
    assert "\x1b[" in coloured.stdout
    assert cli("logs", str(op["id"]), "-f", "--ansi").stdout == coloured.stdout


def test_api_errors_exit_2_with_the_message_on_stderr(cli: Cli) -> None:
    missing = cli("job", "987654")
    assert missing.returncode == 2 and missing.stdout == ""
    message = cli.server.get("jobs/987654").json()["message"]
    assert message in missing.stderr

    job_id = new_job(cli.server, "cli-errors", ["a"])
    no_unit = cli("start", str(job_id), "zz", "say")
    assert no_unit.returncode == 2 and "unit_not_found" in no_unit.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["jobs", "--bogus"],
        ["job", "twelve"],
        ["wait"],
        ["wait", "3", "--job", "4"],
        ["start", "1", "a", "say", "-e", "not json"],
        ["start", "1", "a", "say", "-e", "[1, 2]"],
        ["start", "1", "a", "say", "-e", "@/nonexistent/vars.json"],
        ["start", "1", "a", "say", "--timeout", "0"],
        ["each", "say", "--units", "a"],
        ["jobs", "-o", "yaml"],
    ],
)
def test_usage_errors_exit_2_before_any_request(args: list[str]) -> None:
    # The URL points nowhere: had anything been sent, the exit status would be 3.
    result = redrunner(*args, "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2, result.stderr
    assert "usage:" in result.stderr


def test_an_unreachable_server_exits_3() -> None:
    result = redrunner("jobs", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3
    assert "cannot reach" in result.stderr


@pytest.mark.slow
def test_the_token_comes_from_a_file_or_the_environment(cli: Cli, tmp_path: Path) -> None:
    url = cli.server.url
    refused = redrunner("jobs", "--url", url)
    assert refused.returncode == 2 and "401" in refused.stderr
    assert redrunner("jobs", "--url", url, env=client_env(REDRUNNER_TOKEN=TOKEN)).returncode == 0
    in_env_file = client_env(REDRUNNER_TOKEN_FILE=str(cli.token_file), REDRUNNER_URL=url)
    assert redrunner("jobs", env=in_env_file).returncode == 0
    # --token-file wins over both.
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token\n")
    assert redrunner("jobs", "--token-file", str(wrong), env=in_env_file).returncode == 2
    bad = tmp_path / "two-lines"
    bad.write_text("a\nb\n")
    rejected = redrunner("jobs", "--token-file", str(bad), "--url", url)
    assert rejected.returncode == 2 and "one line" in rejected.stderr
