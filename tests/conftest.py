from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer, start_server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start real `redrunner serve` processes; all are stopped at teardown."""
    started: list[RunningServer] = []

    def factory(**kwargs: Any) -> RunningServer:
        kwargs.setdefault("name", f"server{len(started)}")
        srv = start_server(tmp_path, **kwargs)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A server on the fixture data dir (tests/fixtures/data), SQLite in tmp, no token."""
    return server_factory()


# The longest tests, longest first (wall seconds per test under the full run's load, measured 2026-11-28 on the
# 2-core machine with four workers; the whole suite was ~1,100 s of CPU). The suite is CPU-bound, so the run
# ends when the last worker does: a long test started late leaves one worker busy while the others idle. Run
# with `--dist load --maxschedchunk 1` (pyproject addopts), xdist hands tests out in collection order to
# whichever worker is free, each worker holding one test in hand and one queued; putting these first, each
# followed by a short test (so that no worker's queued test is a second long one), makes that a longest-first
# schedule. Several of them mostly wait (a minute boundary, a reconnect deadline, a time limit): four workers
# on two cores keep the CPU busy while they do.
# The price: a module's consecutive tests go to different workers, so a module-scoped fixture (a server)
# is set up once on each worker that runs one of them, up to four times, instead of about once.
# Keep the list to tests of ~15 s or more; a test missing from it (renamed, removed) is just run in its place.
LONGEST_FIRST = [
    "tests/bench/test_bench_smoke.py::test_quick_run_measures_every_benchmark",  # 159 s, 62 s of CPU
    "tests/runner_utils/test_each.py::test_a_failed_night_leaves_the_last_good_backup_restorable",  # 135 s
    "tests/runner_utils/test_each.py::test_two_servers_with_their_own_databases_share_a_backup_root",  # 63 s
    "tests/backend/test_leftover_processes.py::test_detached_processes_are_stopped_on_timeout",
    "tests/cli/test_follow.py::test_logs_follow_exits_3_when_the_server_stays_away",
    "tests/backend/test_schemathesis.py::test_schemathesis_finds_nothing",
    "tests/backend/test_faults.py::test_a_full_disk_ends_the_operation_error_and_readyz_says_so",
    "tests/deploy/test_image_contract.py::test_the_guides_backup_and_restore_run_in_the_pod_with_its_token_file",
    "tests/runner_utils/test_action_plugins.py::test_the_action_plugins_give_the_modules_results",
    "tests/backend/test_schedules.py::test_an_every_minute_schedule_fires_once_per_minute_by_itself",
    "tests/backend/test_artifacts_and_ids.py::test_postgres_ids_are_never_reused_after_delete_or_retention",
    "tests/backend/test_retention.py::test_retain_days_prunes_old_finished_jobs_only",
    "tests/backend/test_backup_retention.py::test_deleting_a_job_removes_its_backups_under_the_backup_root",
    "tests/components/test_component_playbooks.py::test_postgres_backup_and_restore",
    "tests/backend/test_postgres_actions.py::test_a_lost_attempt_is_retried_by_the_surviving_replica",
    "tests/backend/test_backup_retention.py::test_retention_removes_the_backups_of_the_jobs_it_prunes",
    "tests/backend/test_postgres.py::test_kill_9_of_the_runner_marks_its_operation_lost_via_the_survivor",
    "tests/backend/test_artifacts_and_ids.py::test_sqlite_ids_are_never_reused_after_delete_or_retention",
    "tests/backend/test_load.py::test_concurrent_actions_across_units",
    "tests/backend/test_faults.py::test_an_operation_stream_replaying_a_deleted_job_is_told_not_ended",
    "tests/backend/test_schedules_postgres.py::test_two_replicas_race_for_every_fire_time_and_each_runs_once",
    "tests/runner_utils/test_each.py::test_check_mode_dry_runs_every_component_and_changes_nothing",
    "tests/bench/test_soak_smoke.py::test_soak_smoke",
    "tests/test_ansible_lint.py::test_ansible_lint_production_profile",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move LONGEST_FIRST to the front, in its order, each followed by one of the other tests."""
    rank = {nodeid: i for i, nodeid in enumerate(LONGEST_FIRST)}
    longest = sorted((item for item in items if item.nodeid in rank), key=lambda item: rank[item.nodeid])
    if not longest:
        return
    rest = [item for item in items if item.nodeid not in rank]
    ordered: list[pytest.Item] = []
    for item in longest:
        ordered.append(item)
        if rest:
            ordered.append(rest.pop(0))
    items[:] = ordered + rest
