"""Faults RedRunner must survive and say out loud, on the embedded SQLite database."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.support.server import RunningServer, wait_until  # noqa: F401

from .helpers import make_job, start


@pytest.mark.slow
def test_a_cancel_right_after_the_claim_is_never_lost(server: RunningServer) -> None:
    """A cancel that lands between the claim (status `running`) and the run's registration still stops it."""
    units = [f"u{i}" for i in range(6)]
    outcomes: list[dict[str, Any]] = []
    for _ in range(10):
        job = make_job(server, "race", units)

        def start_and_cancel(unit: str, job_id: int = job["id"]) -> None:
            op = start(server, job_id, unit, "hello-db.yml")
            server.post(f"operations/{op['id']}/cancel")
            outcomes.append(server.wait_terminal(op["id"], 90))

        threads = [threading.Thread(target=start_and_cancel, args=(u,)) for u in units]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(outcomes) == 60
    lost = [o for o in outcomes if o["cancel_requested"] and o["status"] != "canceled"]
    assert not lost, [(o["id"], o["status"]) for o in lost]
