"""Fixed Jobs, Units, Operations and Events shaped as in api.md, and a Source serving them.

Only the snapshot tests use this: it lets screens render known data at a known `now`. Every
navigation and action test runs against a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from console.client import (
    ConnectionState,
    EndFrame,
    Event,
    EventFrame,
    EventsPage,
    Frame,
    Job,
    JobsSnapshotFrame,
    Operation,
    OperationFrame,
    Playbook,
    SnapshotFrame,
    StateCallback,
    Unit,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def fixed_now() -> datetime:
    return NOW


def op(
    op_id: int,
    unit: str,
    action: str,
    status: str,
    *,
    done: int,
    total: int | None,
    started: str | None,
    finished: str | None = None,
    ok: int = 0,
    changed: int = 0,
    failed: int = 0,
    rc: int | None = None,
    estimated: bool = False,
    error: str | None = None,
) -> Operation:
    return Operation.from_wire(
        {
            "id": op_id,
            "job_id": 12,
            "unit": unit,
            "action": action,
            "status": status,
            "rc": rc,
            "created_at": started or "2026-11-25T11:58:00Z",
            "started_at": started,
            "finished_at": finished,
            "extravars": {},
            "event_count": done * 3,
            "progress": {"tasks_done": done, "tasks_total": total, "estimated": estimated},
            "stats": {"ok": ok, "changed": changed, "failed": failed, "skipped": 0, "unreachable": 0},
            "error": error,
            "duration": None,
            "truncated": False,
        },
    )


def unit(name: str, latest: Operation | None) -> dict[str, Any]:
    """A Unit as the wire has it, for `Job.from_wire`."""
    return Unit(
        job_id=12,
        name=name,
        created_at="2026-11-25T11:50:00Z",
        status=latest.status if latest else "idle",
        latest_operation=latest,
        operations=[latest.id] if latest else [],
    ).to_dict()


JOB: Job = Job.from_wire(
    {
        "id": 12,
        "tag": "backup",
        "created_at": "2026-11-25T11:50:00Z",
        "status": "running",
        "units": [
            unit(
                "cache",
                op(
                    340,
                    "cache",
                    "backup-cache.yml",
                    "successful",
                    done=5,
                    total=5,
                    started="2026-11-25T11:55:00Z",
                    finished="2026-11-25T11:56:30Z",
                    ok=5,
                    changed=1,
                    rc=0,
                ),
            ),
            unit(
                "db",
                op(
                    345,
                    "db",
                    "backup-db.yml",
                    "running",
                    done=7,
                    total=12,
                    started="2026-11-25T11:58:30Z",
                    ok=7,
                    changed=2,
                    estimated=True,
                ),
            ),
            unit(
                "queue",
                op(
                    341,
                    "queue",
                    "backup-queue.yml",
                    "failed",
                    done=3,
                    total=6,
                    started="2026-11-25T11:55:00Z",
                    finished="2026-11-25T11:55:40Z",
                    ok=2,
                    failed=1,
                    rc=2,
                    error="upload failed: 403 Forbidden",
                ),
            ),
            unit("search", op(346, "search", "backup-search.yml", "pending", done=0, total=None, started=None)),
            unit(
                "web",
                op(
                    347,
                    "web",
                    "backup-web.yml",
                    "running",
                    done=2,
                    total=None,
                    started="2026-11-25T11:59:15Z",
                    ok=2,
                ),
            ),
            unit("worker", None),
        ],
    },
)

JOBS: list[Job] = [
    JOB,
    Job.from_wire(
        {
            "id": 11,
            "tag": "restore",
            "created_at": "2026-11-25T09:12:00Z",
            "status": "successful",
            "units": [
                unit(
                    "db",
                    op(
                        330,
                        "db",
                        "restore-db.yml",
                        "successful",
                        done=4,
                        total=4,
                        started="2026-11-25T09:12:10Z",
                        finished="2026-11-25T09:14:00Z",
                        rc=0,
                    ),
                )
            ],
        },
    ),
    Job.from_wire(
        {
            "id": 10,
            "tag": "backup",
            "created_at": "2026-11-24T23:00:00Z",
            "status": "failed",
            "units": [
                unit(
                    "db",
                    op(
                        320,
                        "db",
                        "backup-db.yml",
                        "failed",
                        done=2,
                        total=12,
                        started="2026-11-24T23:00:05Z",
                        finished="2026-11-24T23:01:00Z",
                        rc=2,
                    ),
                ),
                unit(
                    "web",
                    op(
                        321,
                        "web",
                        "backup-web.yml",
                        "successful",
                        done=6,
                        total=6,
                        started="2026-11-24T23:00:05Z",
                        finished="2026-11-24T23:03:00Z",
                        rc=0,
                    ),
                ),
            ],
        },
    ),
    Job.from_wire(
        {
            "id": 9,
            "tag": "upgrade:v2",
            "created_at": "2026-11-20T08:00:00Z",
            "status": "new",
            "units": [unit("db", None), unit("web", None)],
        },
    ),
]

OUTPUT = """
PLAY [Back up the database] ****************************************************

TASK [Check free space] ********************************************************
ok: [localhost]

TASK [Dump the database] *******************************************************
changed: [localhost]

TASK [Skip compression on small dumps] *****************************************
skipping: [localhost]

TASK [Upload the dump] *********************************************************
[WARNING]: Bucket retention is shorter than the backup schedule
fatal: [localhost]: FAILED! => {"changed": false, "msg": "upload failed: 403 Forbidden"}

PLAY RECAP *********************************************************************
localhost                  : ok=2    changed=1    unreachable=0    failed=1    skipped=1    rescued=0
"""

OPERATION = op(
    341,
    "queue",
    "backup-queue.yml",
    "failed",
    done=3,
    total=6,
    started="2026-11-25T11:55:00Z",
    finished="2026-11-25T11:55:40Z",
    ok=2,
    changed=1,
    failed=1,
    rc=2,
)


def output_events(op_id: int = 341) -> list[Event]:
    """The output split the way ansible-runner splits it: one event per block."""
    blocks = OUTPUT.strip("\n").split("\n\n")
    return [
        Event.from_wire(
            {
                "seq": n,
                "operation_id": op_id,
                "event": "runner_on_failed" if "FAILED!" in block else "verbose",
                "created": "2026-11-25T11:55:01Z",
                "host": None,
                "task": block.split("TASK [", 1)[1].split("]", 1)[0] if "TASK [" in block else None,
                "play": None,
                "stdout": ("\n" if n > 1 else "") + block,
                "data": {},
            }
        )
        for n, block in enumerate(blocks, start=1)
    ]


class FixedSource:
    """Serves the fixed data above; its streams deliver it, then stay open and quiet."""

    url = "http://redrunner.test:8787"

    async def aclose(self) -> None:
        return None

    async def _forever(self) -> None:
        await asyncio.Event().wait()

    async def list_jobs(self, tag: str | None = None, status: str | None = None, limit: int = 50) -> list[Job]:
        return [j for j in JOBS if tag in (None, j.tag)]

    async def get_job(self, job_id: int) -> Job:
        return next(j for j in JOBS if j.id == job_id)

    async def create_job(self, tag: str, units: list[str] | None = None) -> Job:
        raise NotImplementedError("snapshot tests do not act")

    async def add_unit(self, job_id: int, name: str) -> Unit:
        raise NotImplementedError("snapshot tests do not act")

    async def start_operation(
        self,
        job_id: int,
        unit: str,
        action: str,
        *,
        extravars: Mapping[str, Any] | None = None,
        check: bool = False,
        retries: int = 0,
    ) -> Operation:
        raise NotImplementedError("snapshot tests do not act")

    async def start_action(
        self,
        job_id: int,
        action: str,
        units: list[str] | None = None,
        *,
        extravars: Mapping[str, Any] | None = None,
        check: bool = False,
        retries: int = 0,
    ) -> list[Operation]:
        raise NotImplementedError("snapshot tests do not act")

    async def rerun(
        self, job_id: int, statuses: list[str] | None = None, units: list[str] | None = None
    ) -> list[Operation]:
        raise NotImplementedError("snapshot tests do not act")

    async def get_operation(self, op_id: int) -> Operation:
        return OPERATION

    async def list_operations(
        self,
        *,
        job_id: int | None = None,
        unit: str | None = None,
        status: str | None = None,
        action: str | None = None,
        limit: int = 50,
    ) -> list[Operation]:
        ops = [u.latest_operation for j in JOBS for u in j.units if u.latest_operation and job_id in (None, j.id)]
        return [
            op
            for op in sorted(ops, key=lambda op: op.id, reverse=True)
            if unit in (None, op.unit) and status in (None, op.status)
        ][:limit]

    async def stdout(self, op_id: int, *, ansi: bool = False) -> str:
        return OUTPUT

    async def events(self, op_id: int, after: int = 0, limit: int = 500) -> EventsPage:
        items = [e for e in output_events(op_id) if e.seq > after][:limit] if op_id == OPERATION.id else []
        return EventsPage(items=items, next_after=items[-1].seq if items else after, complete=True)

    async def cancel_operation(self, op_id: int) -> None:
        raise NotImplementedError("snapshot tests do not act")

    async def list_playbooks(self, unit: str | None = None) -> list[Playbook]:
        units = [unit] if unit else ["cache", "db"]
        return [Playbook(f"{action}-{u}.yml", action, u) for u in units for action in ("backup", "restore")]

    async def whoami(self) -> dict[str, str]:
        return {"name": "anonymous", "role": "admin"}

    async def previous_duration(self, action: str, before_id: int | None = None) -> float | None:
        return {"backup-db.yml": 300.0}.get(action)

    async def follow_jobs(self, on_state: StateCallback, tag: str | None = None) -> AsyncIterator[Frame]:
        on_state(ConnectionState("connected"))
        yield JobsSnapshotFrame(await self.list_jobs(tag))
        await self._forever()

    async def follow_job(self, job_id: int, on_state: StateCallback) -> AsyncIterator[Frame]:
        on_state(ConnectionState("connected"))
        yield SnapshotFrame(await self.get_job(job_id))
        await self._forever()

    async def follow_operation(self, op_id: int, on_state: StateCallback, after: int = 0) -> AsyncIterator[Frame]:
        on_state(ConnectionState("connected"))
        yield OperationFrame(OPERATION)
        for event in output_events(op_id):
            yield EventFrame(op_id, event.seq, event)
        yield EndFrame(OPERATION)
        on_state(ConnectionState("closed", detail="ended"))
