"""The disk-backed line store and the line classifier behind the log pane."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

from console.client import Event, Operation, Progress, Unit
from console.loglines import Kind, classify, event_lines
from console.logstore import LogStore
from console.present import progress_bar, units_summary
from console.timefmt import duration, relative


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
