"""Announcing committed state: after a transaction commits, its Operations, Units and Jobs go to the bus.

Nothing here writes; every method is called after the commit of the change it announces, so a follower
never sees state the database does not have.
"""

from __future__ import annotations

from typing import Any

from .bus import Change, Publisher
from .db import Job, Operation
from .queries import Queries
from .serialize import job_dict, operation_dict
from .sql import records_in


class Announcer:
    def __init__(self, queries: Queries, publisher: Publisher) -> None:
        self.queries = queries
        self.publisher = publisher

    def operations(self, op_ids: list[int], remote: bool = True) -> dict[int, dict[str, Any]]:
        """Publish the committed state of these Operations, their Units and Jobs; returns the Operations
        as published, by id.

        A Job's Units and the Job itself are rendered only when a follower here watches that Job or the
        Job list: re-rendering a whole Job (every Unit's latest Operation) is most of the cost of a change,
        and nothing else reads those changes. Other replicas get the Operation ids and do the same."""
        if not op_ids:
            return {}
        ops = records_in(Operation, "id", sorted(set(op_ids)), order="id")
        rendered = {op.id: operation_dict(op) for op in ops}
        job_ids = sorted({o.job_id for o in ops})
        jobs = {j.id: j for j in records_in(Job, "id", job_ids)}
        units = self.queries.units_of([j for j in job_ids if j in jobs and self.publisher.watches_job(j)])
        changes: list[Change] = []
        for op in ops:
            tag = jobs[op.job_id].tag if op.job_id in jobs else None
            changes.append(Change("operation", op.job_id, rendered[op.id], op_id=op.id, tag=tag))
            for unit in units.get(op.job_id, []):
                if unit["name"] == op.unit_name:
                    changes.append(Change("unit", op.job_id, unit, tag=tag))
        for job_id, job_units in units.items():
            job = jobs[job_id]
            changes.append(Change("job", job_id, job_dict(job, job_units), tag=job.tag))
        self.publisher.publish(changes, remote=remote)
        return rendered

    def job(self, job: dict[str, Any], units: list[dict[str, Any]]) -> None:
        """A Job (as the API shows it) and these of its Units, new or changed."""
        changes = [Change("unit", job["id"], u, tag=job["tag"]) for u in units]
        changes.append(Change("job", job["id"], job, tag=job["tag"]))
        self.publisher.publish(changes)

    def job_deleted(self, job_id: int, tag: str) -> None:
        self.publisher.publish([Change("job_deleted", job_id, {"id": job_id, "tag": tag}, tag=tag)])
