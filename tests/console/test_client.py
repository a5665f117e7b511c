"""console.client against a real server: resources, errors, and streams across dropped connections."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from console.client import (
    ApiError,
    ConnectionState,
    EndFrame,
    EventFrame,
    Frame,
    Job,
    OperationFrame,
    RedRunnerClient,
    Unavailable,
)
from tests.console.relay import Relay
from tests.support.inprocess import InProcessServer
from tests.support.server import free_port

pytestmark = pytest.mark.anyio


async def collect(stream: Any, until: Any = None, timeout: float = 60) -> list[Frame]:
    frames: list[Frame] = []

    async def run() -> None:
        async for frame in stream:
            frames.append(frame)
            if until is not None and until(frames):
                return

    await asyncio.wait_for(run(), timeout)
    return frames


@pytest.mark.slow
async def test_jobs_units_playbooks_and_errors(project_server: InProcessServer) -> None:
    client = RedRunnerClient(project_server.url)
    try:
        job = await client.create_job("console-test", ["db", "web"])
        assert isinstance(job, Job) and job.tag == "console-test" and job.status == "new"
        assert sorted(u.name for u in job.units) == ["db", "web"]
        assert all(u.status == "idle" and u.latest_operation is None for u in job.units)
        assert job.to_dict()["created_at"] == job.created_at  # the wire fields, for JSON output
        unit = await client.add_unit(job.id, "cache")
        assert unit.name == "cache" and unit.job_id == job.id
        listed = await client.list_jobs(tag="console-test")
        assert [j.id for j in listed] == [job.id]
        assert {u.name for u in (await client.get_job(job.id)).units} == {"db", "web", "cache"}

        playbooks = await client.list_playbooks(unit="db")
        names = [p.name for p in playbooks]
        assert {(p.action, p.component) for p in playbooks if p.name == "backup-db.yml"} == {("backup", "db")}
        assert "backup-db.yml" in names and "backup-web.yml" not in names

        with pytest.raises(ApiError) as missing:
            await client.get_job(987654)
        assert (missing.value.status, missing.value.error) == (404, "job_not_found")
        with pytest.raises(ApiError) as no_playbook:
            await client.start_operation(job.id, "cache", "backup")
        assert no_playbook.value.error == "playbook_not_found"
    finally:
        await client.aclose()


async def test_unreachable_server_is_unavailable() -> None:
    client = RedRunnerClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(Unavailable):
        await client.list_jobs()
    await client.aclose()


async def test_token_is_sent_and_required(server_factory: Any) -> None:
    from tests.console.conftest import DATA

    srv = server_factory(data_dir=DATA, token="s3cret")
    anonymous = RedRunnerClient(srv.url)
    with pytest.raises(ApiError) as refused:
        await anonymous.list_jobs()
    assert refused.value.status == 401
    states: list[ConnectionState] = []
    with pytest.raises(ApiError):
        await collect(anonymous.follow_jobs(states.append))
    assert states[-1].phase == "failed"
    await anonymous.aclose()

    client = RedRunnerClient(srv.url, "s3cret")
    assert await client.list_jobs() == []
    await client.aclose()


@pytest.mark.slow
async def test_operation_stream_in_order_and_resumable(project_server: InProcessServer) -> None:
    client = RedRunnerClient(project_server.url)
    try:
        job = await client.create_job("stream", ["db"])
        op = await client.start_operation(job.id, "db", "backup-db.yml")
        assert op.status == "pending" and op.unit == "db" and op.progress.tasks_done == 0
        states: list[ConnectionState] = []
        frames = await collect(client.follow_operation(op.id, states.append))
        assert isinstance(frames[0], OperationFrame) and frames[0].operation.id == op.id
        end = frames[-1]
        assert isinstance(end, EndFrame) and end.operation is not None and end.operation.status == "successful"
        assert end.operation.stats.ok > 0 and end.operation.rc == 0
        seqs = [f.seq for f in frames if isinstance(f, EventFrame)]
        assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] == end.operation.event_count
        assert all(f.event.seq == f.seq and f.event.operation_id == op.id for f in frames if isinstance(f, EventFrame))
        assert [s.phase for s in states] == ["connecting", "connected", "closed"]

        resumed = await collect(client.follow_operation(op.id, lambda s: None, after=5))
        assert [f.seq for f in resumed if isinstance(f, EventFrame)] == seqs[5:]

        page = await client.events(op.id, after=0, limit=3)
        assert [e.seq for e in page.items] == [1, 2, 3] and page.next_after == 3 and not page.complete
        assert await client.previous_duration("backup-db.yml") is not None
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_streams_survive_a_dropped_connection(project_server: InProcessServer) -> None:
    """A port-forward restarting mid-run: no event is lost or repeated, the state says so."""
    relay = await Relay(project_server.port).start()
    client = RedRunnerClient(relay.url)
    try:
        job = await client.create_job("drop", ["db"])
        op = await client.start_operation(job.id, "db", "chatty-db.yml", extravars={"count": 300})
        assert op.extravars == {"count": 300}
        states: list[ConnectionState] = []
        frames: list[Frame] = []
        dropped = 0

        async def follow() -> None:
            nonlocal dropped
            async for frame in client.follow_operation(op.id, states.append):
                frames.append(frame)
                if isinstance(frame, EventFrame) and frame.seq in (50, 200):
                    dropped += relay.drop_all()
                    await asyncio.sleep(0)  # let the reset reach the socket

        await asyncio.wait_for(follow(), 120)
        seqs = [f.seq for f in frames if isinstance(f, EventFrame)]
        assert dropped >= 2
        end = frames[-1]
        assert isinstance(end, EndFrame) and end.operation is not None
        assert seqs == list(range(1, end.operation.event_count + 1))
        phases = [s.phase for s in states]
        assert phases.count("reconnecting") >= 2 and phases[-1] == "closed"
        assert relay.connections >= 3
    finally:
        await client.aclose()
        await relay.close()
