"""The console's pure rules from #26: the failing task, the filter's status words, fitted widths, the
rerun question. Fast: no server, no Textual app."""

from __future__ import annotations

from typing import Any

from console.failure import failure_of
from console.job_filter import job_matches
from console.models import Event, Job, Operation
from console.rerun import rerun_question
from console.restore import restore_refusal
from console.widgets.fit import share


def event(seq: int, kind: str, task: str | None, msg: str | None = None, **data: Any) -> Event:
    res = {"msg": msg} if msg else {}
    return Event.from_wire(
        {"seq": seq, "operation_id": 1, "event": kind, "host": "localhost", "task": task, "data": {"res": res, **data}}
    )


def test_the_failing_task_is_the_one_a_rescue_caught_and_the_message_the_last() -> None:
    events = [
        event(1, "runner_on_ok", "Look around"),
        event(2, "runner_on_failed", "Copy the files", "disk full"),
        event(3, "runner_on_ok", "Remove this backup's partial output"),
        event(4, "runner_on_failed", "Fail with the reason", "backup failed: Copy the files: disk full"),
    ]
    found = failure_of(events, rescued=1)
    assert found is not None
    assert (found.task, found.message) == ("Copy the files", "backup failed: Copy the files: disk full")
    # Without a rescue, the last failure is the one; ignored failures never count.
    plain = [event(1, "runner_on_failed", "Probe", "nope", ignore_errors=True), event(2, "runner_on_failed", "Up", "x")]
    assert failure_of(plain) == failure_of(plain[1:])
    assert failure_of(plain) is not None and failure_of(plain).task == "Up"  # type: ignore[union-attr]
    assert failure_of([event(1, "runner_on_ok", "fine")]) is None
    # A message is shown as text on one line: no escape sequence reaches the terminal.
    hostile = failure_of([event(1, "runner_on_failed", "T", "bad\x1b]0;pwned\x07 thing\nsecond")])
    assert hostile is not None and hostile.message == "bad thing second"


def job(status: str, units: dict[str, str], schedule: str | None = None) -> Job:
    return Job.from_wire(
        {
            "id": 1,
            "tag": "backup",
            "status": status,
            "schedule": schedule,
            "units": [{"job_id": 1, "name": n, "status": s} for n, s in units.items()],
        }
    )


def test_the_filter_knows_status_words_and_schedule_names() -> None:
    failed = job("failed", {"db": "failed", "web": "successful"}, schedule="pg-nightly")
    running = job("running", {"db": "running", "web": "timeout"})
    assert job_matches(failed, "failed") and job_matches(failed, "FAIL") and not job_matches(running, "failed")
    assert job_matches(running, "runn") and job_matches(running, "timeout") and not job_matches(failed, "timeout")
    # `successful` is a Job's status: a failed Job with one successful Unit is not found by it.
    assert not job_matches(failed, "successful")
    assert job_matches(failed, "nightly") and not job_matches(running, "nightly")
    assert not job_matches(job("failed", {}), "fa")  # two letters are no status word


def test_columns_share_the_room_narrow_ones_whole() -> None:
    assert share(100, {"unit": 6, "action": 18, "task": 15}) == {"unit": 6, "action": 18, "task": 15}
    widths = share(40, {"unit": 6, "action": 40, "task": 40})
    assert widths == {"unit": 6, "action": 17, "task": 17}  # the narrow one whole, then an even split
    assert share(0, {"a": 30}) == {"a": 8}


def test_the_rerun_question_names_what_runs_again() -> None:
    ops = [
        Operation.from_wire({"id": 7, "job_id": 3, "unit": "db", "action": "restore-db.yml", "status": "failed"}),
        Operation.from_wire(
            {"id": 8, "job_id": 3, "unit": "web", "action": "backup-web.yml", "status": "timeout", "check": True}
        ),
    ]
    question = rerun_question(3, ops)
    assert "restore-db.yml on db (failed)" in question and "backup-web.yml on web (timeout with check mode)" in question
    assert "overwrites live data on db" in question


def test_a_refused_restore_names_the_cli_for_a_partial_one() -> None:
    message = (
        "job 7's backups cannot be restored, nothing was started: web: backup file /b/site.tar listed in the "
        'manifest is missing (missing_file) (give "partial": true to restore the others anyway)'
    )
    shown = restore_refusal(7, "backup_unusable", message)
    assert "web: backup file /b/site.tar" in shown and "run `redrunner restore 7 --yes --partial` to restore" in shown
    other = "job 7 has no successful backup of web"
    assert restore_refusal(7, "no_backup", other) == other
