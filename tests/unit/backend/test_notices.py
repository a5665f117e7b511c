"""Change notices between replicas: one compact notice per kind of change, whatever the batch holds."""

from __future__ import annotations

from backend.bus import Change
from backend.replication import change_notices


def event(op_id: int, seq: int, job_id: int = 1) -> Change:
    return Change("event", job_id, {"seq": seq}, op_id=op_id, seq=seq)


def test_a_batch_of_events_becomes_one_seq_range_per_operation() -> None:
    changes = [event(7, 4), event(7, 3), event(8, 1, job_id=2), event(7, 5)]
    assert change_notices(changes) == [
        {"k": "ev", "o": 7, "j": 1, "a": 3, "b": 5},
        {"k": "ev", "o": 8, "j": 2, "a": 1, "b": 1},
    ]


def test_operation_changes_share_one_notice_and_cover_their_jobs_and_units() -> None:
    changes = [
        Change("operation", 1, {}, op_id=7),
        Change("unit", 1, {"name": "db"}),
        Change("job", 1, {"id": 1}, tag="backup"),
        Change("operation", 2, {}, op_id=9),
    ]
    assert change_notices(changes) == [{"k": "op", "o": [7, 9]}]


def test_job_changes_of_their_own_and_deletions_are_told_by_id() -> None:
    changes = [Change("job", 3, {"id": 3}, tag="backup"), Change("job_deleted", 4, {"id": 4}, tag="restore")]
    assert change_notices(changes) == [{"k": "job", "j": 3}, {"k": "jd", "j": 4, "t": "restore"}]


def test_changes_that_need_no_notice_give_none() -> None:
    assert change_notices([]) == []
    assert change_notices([Change("unit", 1, {"name": "db"})]) == []
