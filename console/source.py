"""What the screens need from a server: RedRunnerClient provides it.

Screens depend on this protocol rather than on the client class so that snapshot tests can feed
them fixed Jobs, Units and Operations; everything else runs against a real server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from console.client import EventsPage, Frame, Job, Operation, Playbook, StateCallback, Unit


class Source(Protocol):
    url: str

    async def aclose(self) -> None: ...
    async def list_jobs(self, tag: str | None = None, status: str | None = None, limit: int = 50) -> list[Job]: ...
    async def get_job(self, job_id: int) -> Job: ...
    async def create_job(self, tag: str, units: list[str] | None = None) -> Job: ...
    async def add_unit(self, job_id: int, name: str) -> Unit: ...
    async def start_operation(
        self,
        job_id: int,
        unit: str,
        action: str,
        *,
        extravars: Mapping[str, Any] | None = None,
        check: bool = False,
        retries: int = 0,
    ) -> Operation: ...
    async def start_action(
        self,
        job_id: int,
        action: str,
        units: list[str] | None = None,
        *,
        extravars: Mapping[str, Any] | None = None,
        check: bool = False,
        retries: int = 0,
    ) -> list[Operation]: ...
    async def rerun(
        self, job_id: int, statuses: list[str] | None = None, units: list[str] | None = None
    ) -> list[Operation]: ...
    async def get_operation(self, op_id: int) -> Operation: ...
    async def list_operations(
        self,
        *,
        job_id: int | None = None,
        unit: str | None = None,
        status: str | None = None,
        action: str | None = None,
        limit: int = 50,
    ) -> list[Operation]: ...
    async def events(self, op_id: int, after: int = 0, limit: int = 500) -> EventsPage: ...
    async def stdout(self, op_id: int, *, ansi: bool = False) -> str: ...
    async def cancel_operation(self, op_id: int) -> None: ...
    async def list_playbooks(self, unit: str | None = None) -> list[Playbook]: ...
    async def previous_duration(self, action: str, before_id: int | None = None) -> float | None: ...
    async def whoami(self) -> dict[str, str]: ...
    def follow_jobs(self, on_state: StateCallback, tag: str | None = None) -> AsyncIterator[Frame]: ...
    def follow_job(self, job_id: int, on_state: StateCallback) -> AsyncIterator[Frame]: ...
    def follow_operation(self, op_id: int, on_state: StateCallback, after: int = 0) -> AsyncIterator[Frame]: ...
