"""The modules' shared API client (runner_utils/module_utils/redrunner_api.py) against a real server."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runner_utils.playbooks import RUNNER_UTILS
from tests.support.inprocess import InProcessServer
from tests.support.server import free_port

sys.path.insert(0, str(RUNNER_UTILS / "module_utils"))
import redrunner_api as api

DATA = Path(__file__).parent / "data"


class CountingClient(api.ApiClient):
    """The real client, counting the requests it sends (to prove there is no tight polling)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sent: list[str] = []

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        self.sent.append(f"{method} {path}")
        return super().request(method, path, body, timeout)


@pytest.fixture
def srv(app_server_factory: Callable[..., InProcessServer]) -> InProcessServer:
    """The application in the test process: the client under test is what the tests look at."""
    return app_server_factory(data_dir=DATA)


@pytest.fixture
def client(srv: InProcessServer) -> Iterator[CountingClient]:
    yield CountingClient(srv.url)


def test_create_and_find_latest_job(client: CountingClient) -> None:
    assert client.latest_job("nightly") is None
    first = client.create_job("nightly", ["db", "web"])
    second = client.create_job("nightly", [])
    assert [u["name"] for u in first["units"]] == ["db", "web"]
    latest = client.latest_job("nightly")
    assert latest is not None and latest["id"] == second["id"] != first["id"]
    reused = client.create_job("nightly", ["cache"], reuse=True)
    assert reused["id"] == second["id"] and [u["name"] for u in reused["units"]] == ["cache"]


@pytest.mark.slow
def test_follow_long_polls_instead_of_spinning(client: CountingClient) -> None:
    job = client.create_job("t", ["app"])
    op = client.start_operation(job["id"], "app", "slow.yml", {"seconds": 3})
    assert op["status"] in ("pending", "running")
    client.sent.clear()
    started = time.monotonic()
    done = api.follow(client, op["id"], long_poll=30)
    assert done["status"] == "successful" and done["rc"] == 0
    assert time.monotonic() - started >= 1
    # one plain GET, then a long-poll answered when the playbook ends
    assert len(client.sent) <= 3, client.sent


@pytest.mark.slow
def test_follow_gives_up_after_wait_timeout_without_failing(client: CountingClient) -> None:
    job = client.create_job("t", ["app"])
    op = client.start_operation(job["id"], "app", "slow.yml", {"seconds": 6})
    early = api.follow(client, op["id"], wait_timeout=1.5, long_poll=30)
    assert early["status"] in ("pending", "running")
    assert api.follow(client, op["id"])["status"] == "successful"


def test_failures_name_the_failing_task_and_skip_ignored_errors(client: CountingClient) -> None:
    job = client.create_job("t", ["app"])
    op = api.follow(client, client.start_operation(job["id"], "app", "fail.yml", {"disk": "sdq"})["id"])
    assert op["status"] == "failed" and op["rc"] == 2
    failures = api.collect_failures(client, op["id"])
    assert failures == ["Break the disk check: disk sdq is gone"]
    summary = api.failure_summary(op, failures)
    assert f"operation {op['id']} " in summary and "ended failed (rc=2)" in summary
    assert "disk sdq is gone" in summary
    assert api.tail(client.stdout(op["id"]), 3)[-1].startswith("localhost")


@pytest.mark.slow
def test_shorthand_action_and_api_errors(client: CountingClient) -> None:
    job = client.create_job("t", ["ok"])
    op = client.start_operation(job["id"], "ok", "ok.yml")
    assert op["action"] == "ok.yml"
    with pytest.raises(api.RedRunnerError) as missing_unit:
        client.start_operation(job["id"], "nope", "ok.yml")
    assert missing_unit.value.status == 404 and missing_unit.value.error == "unit_not_found"
    with pytest.raises(api.RedRunnerError) as missing_book:
        client.start_operation(job["id"], "ok", "absent.yml")
    assert missing_book.value.error == "playbook_not_found"
    assert api.follow(client, op["id"])["status"] == "successful"


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(api.RedRunnerError, match="cannot reach RedRunner"):
        api.ApiClient(f"http://127.0.0.1:{free_port()}", request_timeout=2).latest_job("x")


def test_token_is_sent(app_server_factory: Callable[..., InProcessServer]) -> None:
    srv = app_server_factory(data_dir=DATA, token="s3cret")
    with pytest.raises(api.RedRunnerError) as denied:
        api.ApiClient(srv.url).latest_job("x")
    assert denied.value.status == 401
    assert api.ApiClient(srv.url, token="s3cret").latest_job("x") is None


def test_token_file_is_read_when_no_token_is_given(
    app_server_factory: Callable[..., InProcessServer], tmp_path: Path
) -> None:
    srv = app_server_factory(data_dir=DATA, token="s3cret-from-a-file")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-from-a-file\n")
    params: dict[str, Any] = {"url": srv.url, "token": None, "token_file": str(token_file)}
    params.update(request_timeout=5, validate_certs=True)
    assert api.client_of(params).latest_job("x") is None
    with pytest.raises(api.RedRunnerError, match="cannot read the token file"):
        api.client_of({**params, "token_file": str(tmp_path / "missing")})
    with pytest.raises(api.RedRunnerError) as denied:
        api.client_of({**params, "token": "wrong-token-given-first"}).latest_job("x")
    assert denied.value.status == 401


@pytest.mark.slow
def test_progress_line() -> None:
    op = {
        "id": 7,
        "action": "backup-db.yml",
        "unit": "db",
        "status": "running",
        "progress": {"tasks_done": 3, "tasks_total": None},
        "rc": None,
    }
    assert api.progress_line(op) == "operation 7 backup-db.yml in db: running, 3/? tasks"
    op.update(status="successful", rc=0, progress={"tasks_done": 9, "tasks_total": 9})
    assert api.progress_line(op) == "operation 7 backup-db.yml in db: successful, 9/9 tasks, rc=0"
    op.update(check=True, attempt=2, retries=3)
    assert api.progress_line(op) == (
        "operation 7 backup-db.yml in db (check mode): successful, 9/9 tasks, rc=0, attempt 2 of 4"
    )
