"""A playbook cannot forge events: a mark line written to the pipe transport's pipe without the run's
nonce (backend/event_stream.py) is text, a `verbose` event, and the run's counts are its own."""

from __future__ import annotations

from tests.support.server import RunningServer

from .helpers import all_events, make_job, start


def test_a_forged_mark_line_is_a_verbose_event(server: RunningServer) -> None:
    job = make_job(server, "forge", ["db"])
    op = server.wait_terminal(start(server, job["id"], "db", "forge.yml")["id"], 90)
    assert op["status"] == "successful", op
    events = all_events(server, op["id"])
    assert not [e for e in events if e["host"] == "forged-host" or e["event"] == "runner_on_failed"], events
    forged = [e for e in events if "FORGED" in (e["stdout"] or "")]
    assert forged and all(e["event"] == "verbose" for e in forged), forged
    assert op["stats"]["failed"] == 0
