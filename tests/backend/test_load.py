"""Load with bounded counts: many concurrent actions across many Units, and many followers of one Operation.

Prints the measured figures (run with -s to see them).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.server import FIXTURE_DATA, RunningServer, wait_until

from .helpers import all_events

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

# Three queued runs on each of 10 Units, 8 workers: every Unit queues (two runs wait behind its first, so
# the one-at-a-time and in-order checks compare two pairs per Unit), and more Units want to run at once than
# there are workers, all POSTed at once from 32 threads; the figures at production sizes are bench/'s job
# (each run here costs a whole ansible-playbook, ~0.8 s of CPU, on CI's two cores: 80 runs on 20 Units took
# 66 s of CPU and showed nothing these 30 do not).
UNITS = [f"u{i:02d}" for i in range(10)]
POSTS = 30
FOLLOWERS = 200
NOOP = """- name: Noop on {unit}
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say which unit
      ansible.builtin.debug:
        msg: "{{{{ redrunner_unit }}}} op {{{{ redrunner_operation_id }}}}"
"""


def load_data_dir(root: Path) -> Path:
    """noop-<unit>.yml for every unit (so the short action `noop` works), plus many.yml and sleep.yml."""
    project = root / "project"
    project.mkdir(parents=True)
    (root / "inventory").mkdir()
    shutil.copy(FIXTURE_DATA / "inventory" / "hosts", root / "inventory" / "hosts")
    for unit in UNITS:
        (project / f"noop-{unit}.yml").write_text(NOOP.format(unit=unit))
    for name in ("many.yml", "sleep.yml"):
        shutil.copy(FIXTURE_DATA / "project" / name, project / name)
    return root


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


@pytest.fixture
def load_server(server_factory: Callable[..., RunningServer], tmp_path: Path) -> RunningServer:
    return server_factory(data_dir=load_data_dir(tmp_path / "data"), args=["--workers", "8"])


def test_concurrent_actions_across_units(load_server: RunningServer) -> None:
    srv = load_server
    job = srv.post("jobs", {"tag": "load", "units": UNITS}).json()
    plan = [UNITS[i % len(UNITS)] for i in range(POSTS)]

    def post(unit: str) -> tuple[str, int, dict[str, Any], float]:
        t = time.monotonic()
        resp = srv.post(f"jobs/{job['id']}/units/{unit}", {"action": "noop", "queue": True}, timeout=60)
        return unit, resp.status, resp.json(), time.monotonic() - t

    t0 = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(post, plan))
    posted_s = time.monotonic() - t0
    assert [status for _, status, _, _ in results] == [202] * POSTS, [r for r in results if r[1] != 202][:3]
    latencies = [lat for *_, lat in results]
    ids = [body["id"] for _, _, body, _ in results]
    assert len(set(ids)) == POSTS
    assert all(body["unit"] == unit and body["action"] == f"noop-{unit}.yml" for unit, _, body, _ in results)

    def finished() -> list[dict[str, Any]] | None:
        ops: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = srv.get(f"operations?job_id={job['id']}&limit=500{cursor}").json()
            ops.extend(page["items"])
            if not page["next"]:
                break
            cursor = f"&cursor={page['next']}"
        active = [o for o in ops if o["status"] in ("pending", "running")]
        return None if active else ops

    ops = wait_until(finished, 360, 0.5, what="all operations to finish")
    total_s = time.monotonic() - t0
    assert sorted(o["id"] for o in ops) == sorted(ids), "an operation was lost or added"
    assert {o["status"] for o in ops} == {"successful"}, [o for o in ops if o["status"] != "successful"][:3]

    by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for op in ops:
        by_unit[op["unit"]].append(op)
        events = all_events(srv, op["id"])
        assert [e["seq"] for e in events] == list(range(1, op["event_count"] + 1))
        kinds = [e["event"] for e in events]
        assert kinds.count("playbook_on_start") == 1 and kinds.count("playbook_on_stats") == 1, op["id"]
        said = [e for e in events if e["event"] == "runner_on_ok"]
        assert len(said) == 1 and said[0]["data"]["res"]["msg"] == f"{op['unit']} op {op['id']}"
    assert set(by_unit) == set(UNITS)
    for unit, unit_ops in by_unit.items():
        unit_ops.sort(key=lambda o: ts(o["started_at"]))
        # Queued in order, and one at a time: each starts after the previous one finished.
        assert [o["id"] for o in unit_ops] == sorted(o["id"] for o in unit_ops), unit
        for prev, nxt in pairwise(unit_ops):
            assert ts(nxt["started_at"]) >= ts(prev["finished_at"]), (unit, prev, nxt)
    units_now = srv.get(f"jobs/{job['id']}/units").json()["items"]
    assert all(len(u["operations"]) == POSTS // len(UNITS) and u["status"] == "successful" for u in units_now)

    durations = [o["duration"] for o in ops if o.get("duration") is not None]
    print(
        f"\n[measure] {POSTS} POSTs across {len(UNITS)} units from 32 threads: all accepted in {posted_s:.2f} s; "
        f"POST latency p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {pct(latencies, 0.95) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"[measure] all {POSTS} finished successful {total_s:.1f} s after the first POST "
        f"({POSTS / total_s:.2f} operations/s with --workers 8); "
        f"operation duration p50 {statistics.median(durations):.2f} s, max {max(durations):.2f} s"
    )


async def follow(url: str, ready: asyncio.Event, connected: list[int]) -> tuple[list[dict[str, Any]], int | None]:
    frames: list[dict[str, Any]] = []
    async with connect(url, open_timeout=60, max_size=None, ping_interval=None) as conn:
        frames.append(json.loads(await conn.recv()))  # the first status frame: subscribed
        connected.append(1)
        if len(connected) == FOLLOWERS:
            ready.set()
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(conn.recv(), 120)))
        except ConnectionClosed:
            pass
        return frames, conn.close_code


async def follow_all(
    url: str, on_ready: Callable[[], None]
) -> tuple[list[tuple[list[dict[str, Any]], int | None]], float]:
    ready = asyncio.Event()
    connected: list[int] = []
    t0 = time.monotonic()
    tasks = [asyncio.create_task(follow(url, ready, connected)) for _ in range(FOLLOWERS)]
    await asyncio.wait_for(ready.wait(), 60)
    connect_s = time.monotonic() - t0
    await asyncio.get_running_loop().run_in_executor(None, on_ready)
    return list(await asyncio.gather(*tasks)), connect_s


def test_many_followers_of_one_operation(load_server: RunningServer) -> None:
    srv = load_server
    job = srv.post("jobs", {"tag": "followers", "units": ["db"]}).json()
    blocker = srv.post(f"jobs/{job['id']}/units/db", {"action": "sleep.yml", "extravars": {"sleep_seconds": 331}})
    op = srv.post(f"jobs/{job['id']}/units/db", {"action": "many.yml", "queue": True}).json()
    assert op["status"] == "pending"

    def release() -> None:
        """Every follower is subscribed: let the followed Operation run."""
        srv.post(f"operations/{blocker.json()['id']}/cancel")

    t0 = time.monotonic()
    results, connect_s = asyncio.run(follow_all(f"{srv.ws_api}/operations/{op['id']}/stream", release))
    total_s = time.monotonic() - t0
    done = srv.get(f"operations/{op['id']}").json()
    assert done["status"] == "successful" and done["event_count"] >= 300
    expected = list(range(1, done["event_count"] + 1))
    for frames, code in results:
        assert code == 1000
        assert frames[0]["type"] == "status" and frames[0]["data"]["status"] == "pending"
        assert [f["seq"] for f in frames if f["type"] == "event"] == expected
        assert frames[-1] == {"type": "end", "data": done}
    print(
        f"\n[measure] {FOLLOWERS} WebSocket followers connected in {connect_s:.2f} s; each got all "
        f"{done['event_count']} events in order, end and close 1000, {total_s:.1f} s in all "
        f"(operation ran {done['duration']:.1f} s)"
    )
