from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.server import RunningServer, start_server


class _Stoppable(Protocol):
    def stop(self) -> object: ...


S = TypeVar("S", bound=_Stoppable)


def _servers(start: Callable[..., S], prefix: str, tmp_path: Path) -> Iterator[Callable[..., S]]:
    """A factory of servers made by `start` in tmp_path, named prefix0, prefix1, ...; all stopped at teardown."""
    started: list[S] = []

    def factory(**kwargs: Any) -> S:
        kwargs.setdefault("name", f"{prefix}{len(started)}")
        srv = start(tmp_path, **kwargs)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start real `redrunner serve` processes; all are stopped at teardown."""
    yield from _servers(start_server, "server", tmp_path)


@pytest.fixture
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A server on the fixture data dir (tests/fixtures/data), SQLite in tmp, no token."""
    return server_factory()


@pytest.fixture
def app_server_factory(tmp_path: Path) -> Iterator[Callable[..., InProcessServer]]:
    """Start the application in the test process (tests/support/inprocess.py), one at a time; stopped at
    teardown. Takes start_server's options (token, args, data_dir, database) and `settings` overrides."""
    yield from _servers(start_inprocess, "app", tmp_path)


@pytest.fixture
def app_server(app_server_factory: Callable[..., InProcessServer]) -> InProcessServer:
    """The application in the test process on the fixture data dir, SQLite in tmp, no token: for tests that
    only need requests and answers."""
    return app_server_factory()


# The longest tests, longest first (wall seconds per test under the full run's load, measured 2026-11-28 on the
# 2-core machine with four workers; the whole suite was ~1,100 s of CPU). The suite is CPU-bound, so the run
# ends when the last worker does: a long test started late leaves one worker busy while the others idle. Run
# with `--dist loadgroup --no-loadscope-reorder` (pyproject addopts), xdist hands out work units (a test, or a
# module that shares a fixture, see pytest_collection_modifyitems) in collection order: two to each worker at
# the start, then one more to a worker each time it finishes a test and has two or fewer left. Putting these
# first makes that close to a longest-first schedule: each worker starts on a long test with one queued, and
# the first to finish takes the next. Several of them mostly wait (a minute boundary, a reconnect deadline, a
# time limit): four workers on two cores keep the CPU busy while they do.
# Keep the list to tests of ~15 s or more; a test missing from it (renamed, removed) is just run in its place.
LONGEST_FIRST = [
    "tests/bench/test_bench_smoke.py::test_quick_run_measures_every_benchmark",  # 159 s, 62 s of CPU
    "tests/runner_utils/test_each.py::test_a_failed_night_leaves_the_last_good_backup_restorable",  # 135 s
    "tests/runner_utils/test_each.py::test_two_servers_with_their_own_databases_share_a_backup_root",  # 63 s
    "tests/backend/test_backup_keep.py::test_failing_nights_never_cost_the_last_good_backup",  # ~60 s
    "tests/backend/test_leftover_processes.py::test_detached_processes_are_stopped_on_timeout",
    "tests/cli/test_follow.py::test_logs_follow_exits_3_when_the_server_stays_away",
    "tests/backend/test_schemathesis.py::test_schemathesis_finds_nothing",
    "tests/backend/test_faults.py::test_a_full_disk_ends_the_operation_error_and_readyz_says_so",
    "tests/deploy/test_image_contract.py::test_the_guides_backup_and_restore_run_in_the_pod_with_a_token_on_stdin",
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
    "tests/backend/test_webhooks.py::test_trickling_receivers_are_cut_at_the_deadline_and_delay_no_other_webhook",
    "tests/backend/test_schedules_postgres.py::test_two_replicas_race_for_every_fire_time_and_each_runs_once",
    "tests/runner_utils/test_each.py::test_check_mode_dry_runs_every_component_and_changes_nothing",
    "tests/bench/test_soak_smoke.py::test_soak_smoke",
    "tests/test_ansible_lint.py::test_ansible_lint_production_profile",
]


def shares_a_module_fixture(item: pytest.Item) -> bool:
    """The test uses a fixture set up once per module (a server, a backup, a wheel) or per session."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        d.scope in ("module", "session") and d.func.__module__.startswith("tests.")  # ours, not pytest's own
        for defs in info.name2fixturedefs.values()
        for d in defs
    )


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move LONGEST_FIRST to the front, in its order; keep the tests of a module with a shared fixture on
    one worker.

    Handed out one at a time, a module's tests land on every worker in turn, and each worker tears a module
    fixture down as soon as its next test is from another module: a module's server or backup was made
    again on every worker, and again after each other module's test in between. An `xdist_group`
    per such module (pyproject runs `--dist loadgroup`) hands the module to one worker as one unit, at the
    place of its first test; every other test is still a unit of its own."""
    for item in items:
        if shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    rank = {nodeid: i for i, nodeid in enumerate(LONGEST_FIRST)}
    longest = sorted((item for item in items if item.nodeid in rank), key=lambda item: rank[item.nodeid])
    if not longest:
        return
    items[:] = longest + [item for item in items if item.nodeid not in rank]
