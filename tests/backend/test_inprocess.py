"""The in-process server itself (tests/support/inprocess.py): its options reach the application, one runs at
a time, and a stopped one leaves no thread behind."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.inprocess import InProcessServer, start_inprocess


def test_flags_settings_and_token_reach_the_application(app_server_factory: Callable[..., InProcessServer]) -> None:
    srv = app_server_factory(token="t0ken", args=["--max-body-size", "64"], settings={"ws_queue_limit": 5})
    assert (srv.state.settings.max_body_size, srv.state.settings.ws_queue_limit) == (64, 5)
    assert srv.get("jobs", token="wrong").status == 401
    assert srv.post("jobs", {"tag": "a" * 80}).status == 413
    assert srv.post("jobs", {"tag": "small"}).status == 201


def test_one_at_a_time(app_server: InProcessServer, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="one in-process server at a time"):
        start_inprocess(tmp_path, name="second")
    assert app_server.get("/healthz").status == 200


def test_a_stopped_server_leaves_no_thread_and_can_start_again_on_its_state(tmp_path: Path) -> None:
    srv = start_inprocess(tmp_path)
    job = srv.post("jobs", {"tag": "kept", "units": ["db"]}).json()
    srv.stop()
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("redrunner", "inprocess"))]
    again = start_inprocess(tmp_path, state_dir=srv.state_dir)
    try:
        assert again.get(f"jobs/{job['id']}").json()["tag"] == "kept"
    finally:
        again.stop()
