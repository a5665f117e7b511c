"""`python -m bench.actions [--units 16] [--runs 3]`: time from `POST /jobs/{id}/actions` on N Units to all N running.

Two ends are printed per run: the API's `running` (the dispatchers claimed every Operation: the largest
`started_at` minus the moment the POST was sent, on this machine's clock), and the first event of every
Operation (ansible-playbook itself has started and reported). The server gets one worker per Unit, so
the pool is not what is measured. A measurement for the notes, not a test: nothing is judged.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import datetime

from .client import Api
from .workspace import workspace


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def one_run(api: Api, job_id: int, playbook: str, units: int) -> tuple[float, float, float]:
    """(POST answered, all running, all with a first event), seconds after the POST was sent."""
    sent = time.time()
    out = api.post(f"jobs/{job_id}/actions", {"action": playbook}, 202)
    answered = time.time() - sent
    ids = [op["id"] for op in out["items"]]
    if len(ids) != units:
        raise AssertionError(f"/actions created {len(ids)} Operations, not {units}")
    deadline = time.monotonic() + 120
    running_at: float | None = None
    evented_at: float | None = None
    while evented_at is None:
        if time.monotonic() > deadline:
            raise AssertionError("not every Operation started within 120 s")
        job = api.get(f"jobs/{job_id}")
        latest = [u["latest_operation"] for u in job["units"]]
        if running_at is None and all(op["started_at"] for op in latest):
            running_at = max(epoch(op["started_at"]) for op in latest) - sent
        if all(op["event_count"] > 0 for op in latest):
            evented_at = time.time() - sent
        time.sleep(0.01)
    for op_id in ids:
        done = api.wait_terminal(op_id)
        if done["status"] != "successful":
            raise AssertionError(f"operation {op_id} ended {done['status']}")
    assert running_at is not None
    return answered, running_at, evented_at


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.actions", description=__doc__)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=5.0, help="seconds each playbook sleeps (all overlap)")
    args = parser.parse_args(argv)
    names = [f"u{i:02d}" for i in range(args.units)]
    with workspace() as ws:
        playbook = ws.sleep_playbook("sleep-actions.yml", args.sleep)
        with ws.server(args=["--workers", str(args.units)]) as srv:
            api = Api(srv.api)
            job = api.job("bench-actions", names)
            results = [one_run(api, job["id"], playbook, args.units) for _ in range(args.runs)]
            api.close()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"POST /jobs/{{id}}/actions on {args.units} Units, `sleep {args.sleep:g}` each, {args.runs} runs "
        f"({os.cpu_count()} CPUs, load average {load}):"
    )
    for i, (answered, running, evented) in enumerate(results, 1):
        print(
            f"  run {i}: 202 after {answered * 1000:.0f} ms; all {args.units} running after {running * 1000:.0f} ms; "
            f"all with a first event after {evented * 1000:.0f} ms"
        )
    med = [statistics.median(col) for col in zip(*results, strict=True)]
    print(
        f"  median: 202 {med[0] * 1000:.0f} ms, all running {med[1] * 1000:.0f} ms, "
        f"all with a first event {med[2] * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
