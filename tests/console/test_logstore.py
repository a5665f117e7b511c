"""The disk-backed line store and the line classifier behind the log pane."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

from console.client import Event, Job, Operation, Progress, Unit
from console.loglines import Kind, classify, event_lines
from console.logstore import LogStore
from console.present import eta_text, progress_bar, progress_label, units_summary
from console.timefmt import duration, relative
from console.widgets.jobs_table import job_matches


def test_store_reads_back_lines_and_finds_both_ways() -> None:
    store = LogStore(cache_size=16)
    try:
        store.append((Kind.OK, f"ok: [host{i}] => item {i}") for i in range(100_000))
        assert len(store) == 100_000
        assert store.line(0) == "ok: [host0] => item 0"
        assert store.line(99_999) == "ok: [host99999] => item 99999"
        assert store.kind(5) is Kind.OK
        assert store.find("ITEM 77777", 0) == 77_777
        assert store.find("item 5", 10) == 50  # forward from 10: first is "item 50"
        assert store.find("item 5", 10, forward=False) == 5
        assert store.find("host99999", 3, forward=False) == 99_999  # wraps
        assert store.find("absent", 0) is None
        # Only offsets and kinds stay in memory; the text is on disk.
        assert os.path.getsize(store.path) > 2_000_000
    finally:
        store.close()
    assert not os.path.exists(store.path)


def test_lines_are_classified_as_ansible_colors_them() -> None:
    assert classify("TASK [Dump] ****") is Kind.HEADER
    assert classify("ok: [localhost]") is Kind.OK
    assert classify("changed: [localhost]") is Kind.CHANGED
    assert classify("skipping: [localhost]") is Kind.SKIPPED
    assert classify('fatal: [localhost]: FAILED! => {"msg": "x"}') is Kind.FAILED
    assert classify("fatal: [web]: UNREACHABLE! => {}") is Kind.UNREACHABLE
    assert classify("localhost : ok=2 changed=0 unreachable=0 failed=1") is Kind.RECAP_FAILED
    assert classify("localhost : ok=2 changed=1 unreachable=0 failed=0") is Kind.RECAP_CHANGED
    assert classify("  continued message", "runner_on_failed") is Kind.FAILED
    colored = "\x1b[0;32mok: [localhost]\x1b[0m\r\n"
    lines = event_lines(Event(seq=1, operation_id=1, event="runner_on_ok", stdout=colored))
    assert lines == [(Kind.OK, "ok: [localhost]"), (Kind.PLAIN, "")]
    assert event_lines(Event(seq=2, operation_id=1, event="playbook_on_start", stdout="")) == []


def test_presentation_helpers() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert relative("2026-11-25T11:55:00Z", now) == "5m ago"
    assert relative("2026-11-23T12:00:00.5Z", now) == "1d ago"
    assert duration(185) == "3m05s"
    statuses = {"a": "successful", "b": "running", "c": "failed", "d": "successful"}
    units = [Unit(job_id=1, name=name, status=status) for name, status in statuses.items()]
    assert units_summary(units) == "2 ok · 1 running · 1 failed"
    running = Operation(id=1, job_id=1, unit="a", action="x.yml", status="running")
    bar = progress_bar(replace(running, progress=Progress(tasks_done=3, tasks_total=6)))
    assert bar.plain == "█████░░░░░ 3/6"
    unknown = progress_bar(replace(running, progress=Progress(tasks_done=2, tasks_total=None)))
    assert unknown.plain.endswith(" 2/?")


def test_progress_reads_the_same_at_every_moment_of_a_run() -> None:
    def at(status: str, done: int, total: int | None, estimated: bool = False) -> Operation:
        progress = Progress(tasks_done=done, tasks_total=total, estimated=estimated)
        return Operation(id=1, job_id=1, unit="db", action="backup-db.yml", status=status, progress=progress)

    assert progress_label(at("pending", 0, 12, estimated=True)) == "0/~12"
    assert progress_label(at("running", 7, 12, estimated=True)) == "7/~12"
    assert progress_label(at("running", 7, 12)) == "7/12"
    assert progress_label(at("running", 7, None)) == "7/?"
    assert progress_label(at("running", 13, 12, estimated=True)) == "13/?"  # passed the estimate
    # At the end: "done" with the count that ran, also from a server that left the total null.
    assert progress_label(at("successful", 17, None)) == "done 17/17"
    assert progress_label(at("successful", 17, 17)) == "done 17/17"
    assert progress_bar(at("successful", 10, None)).plain == "██████████ done 10/10"
    assert progress_label(at("failed", 3, 3)) == "3 tasks"


def test_eta_is_hidden_when_it_cannot_be_honest() -> None:
    running = Operation(
        id=1, job_id=1, unit="db", action="a.yml", status="running", progress=Progress(3, 12, estimated=True)
    )
    assert eta_text(running, previous=300.0, spent=90.0) == "~3m30s"
    assert eta_text(running, previous=300.0, spent=300.0) == ""  # outlasted the previous run: no "~0s"
    assert eta_text(running, previous=300.0, spent=420.0) == ""
    assert eta_text(running, previous=None, spent=90.0) == ""  # no earlier run to judge by
    assert eta_text(replace(running, progress=Progress(13, 12, estimated=True)), previous=300.0, spent=10.0) == ""
    assert eta_text(replace(running, status="successful"), previous=300.0, spent=10.0) == ""
    assert eta_text(replace(running, status="pending"), previous=300.0, spent=None) == ""


def test_the_job_filter_is_a_substring_of_the_tag_or_a_unit_name() -> None:
    job = Job(id=1, tag="nightly-backup", units=[Unit(job_id=1, name="postgres")])
    assert job_matches(job, "NIGHT") and job_matches(job, "gres") and job_matches(job, "")
    assert not job_matches(job, "weekly")


def test_the_palette_reads_a_typed_job_or_operation_id() -> None:
    from console.commands import TYPED_ID

    def read(query: str) -> tuple[str, int] | None:
        found = TYPED_ID.match(query)
        return (found.group(1).lower(), int(found.group(2))) if found else None

    assert read("job 17") == ("job", 17) and read("Open job #17") == ("job", 17)
    assert read("operation 345") == ("operation", 345) and read("op345") == ("op", 345)
    assert read("jobs") is None and read("open job") is None and read("job 1x") is None
