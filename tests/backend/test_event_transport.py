"""The `pipe` event transport gives the same events and stdout as ansible-runner's own (`runner`).

Two real servers, one per transport, run the same playbooks with real ansible; every stored event is
compared in order: type, host/task/play, stdout text and event_data, after masking only what differs
between any two runs (uuids, pids, times and durations, run ids, per-run paths).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from backend.event_stream import MARK, NONCE_FILE, EventStream, event_mark
from backend.pipe_transport import FORCED_COLOR
from tests.support.server import REPO, RunningServer, start_server, wait_until

from .helpers import all_events, make_job, start

TRANSPORTS = ("runner", "pipe")
PLUGIN = REPO / "backend" / "ansible_plugins" / "callback" / "redrunner_events.py"

# Keys whose values differ between any two runs of the same playbook, wherever they are in event_data.
VOLATILE_KEYS = frozenset(
    {"uuid", "playbook_uuid", "play_uuid", "task_uuid", "parent_uuid", "pid", "created", "start", "end", "duration",
     "delta", "runner_ident", "atime", "mtime", "ctime",
     # a file holding times (a backup manifest): its checksums, and the random name of its temp copy
     "checksum", "md5sum", "_original_basename"}
)  # fmt: skip
STAT_KEYS = frozenset({"inode", "version", "dev"})
# Keys a playbook fills with a random value on purpose.
RANDOM_KEYS = frozenset({"backup_nonce"})
VOLATILE_TEXT = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b\d{8}T\d{6}Z?\b"), "<time>"),
    (re.compile(r"\b\d+:\d{2}:\d{2}\.\d+\b"), "<delta>"),
    (re.compile(r"ansible-tmp-[\d.]+-\d+-\d+"), "ansible-tmp-<id>"),
    (re.compile(r"op\d+-[0-9a-f]{8}"), "<run-id>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
]

pytestmark = pytest.mark.slow


def mask(value: Any, paths: dict[str, str]) -> Any:
    if isinstance(value, dict):
        # A stat result: the files are new ones each run.
        volatile = VOLATILE_KEYS | STAT_KEYS if "inode" in value else VOLATILE_KEYS
        return {k: "<volatile>" if k in volatile else mask(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, paths) for v in value]
    if isinstance(value, str):
        for path, name in paths.items():
            value = value.replace(path, name)
        for pattern, repl in VOLATILE_TEXT:
            value = pattern.sub(repl, value)
    return value


def comparable(events: list[dict[str, Any]], paths: dict[str, str]) -> list[dict[str, Any]]:
    keep = ("event", "host", "task", "play", "stdout", "data")
    return [mask({k: e[k] for k in keep}, paths) for e in events]


def random_values(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {str(v) for k, v in value.items() if k in RANDOM_KEYS and v}
        return found.union(*(random_values(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(random_values(v) for v in value))
    return set()


def differences(got: Any, want: Any, where: str = "") -> list[str]:
    """Where two masked values differ, as `path: got != want` (a whole event is too long to read)."""
    if isinstance(got, dict) and isinstance(want, dict):
        return [d for k in sorted(set(got) | set(want)) for d in differences(got.get(k), want.get(k), f"{where}.{k}")]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in differences(g, w, f"{where}[{i}]")]
    return [] if got == want else [f"{where}: {got!r:.300} != {want!r:.300}"]


def assert_same_events(results: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]], paths: dict[str, str]) -> None:
    (runner_op, runner_events), (pipe_op, pipe_events) = results["runner"], results["pipe"]
    # Random values a playbook makes on purpose (a component's backup nonce), wherever they show up later.
    paths = {**paths, **{nonce: "<nonce>" for nonce in random_values([*runner_events, *pipe_events])}}
    runner_seen, pipe_seen = comparable(runner_events, paths), comparable(pipe_events, paths)
    assert [e["event"] for e in pipe_seen] == [e["event"] for e in runner_seen]
    for seq, (got, want) in enumerate(zip(pipe_seen, runner_seen, strict=True), start=1):
        assert got == want, f"event {seq} ({want['event']}) differs: {differences(got, want)}"
    op_keys = ("status", "rc", "error", "stats", "event_count", "tasks_done", "truncated", "artifacts")
    assert mask({k: pipe_op.get(k) for k in op_keys}, paths) == mask({k: runner_op.get(k) for k in op_keys}, paths)


def run_both(
    servers: dict[str, RunningServer], action: str, extravars: Callable[[str], dict[str, Any]] | None = None
) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The same calls in the same order on both servers (so the ids some playbooks print are the same), the
    runs at the same time."""
    ops = {}
    for transport, srv in servers.items():
        job = make_job(srv, "transport", ["u"])
        ops[transport] = start(srv, job["id"], "u", action, extravars=extravars(transport) if extravars else {})
    done = {t: servers[t].wait_terminal(op["id"], 120) for t, op in ops.items()}
    return {t: (done[t], all_events(servers[t], done[t]["id"])) for t in servers}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningServer]]:
    """One server per transport for the module's tests on the fixture data dir. Every test makes the same
    calls on both, so their Job and Operation ids stay the same on both."""
    tmp = tmp_path_factory.mktemp("transports")
    started: dict[str, RunningServer] = {}
    try:
        for t in TRANSPORTS:
            started[t] = start_server(tmp, name=t, args=["--event-transport", t])
        yield started
    finally:
        for srv in started.values():
            srv.stop()


@pytest.mark.parametrize(
    ("action", "extravars"),
    [
        ("transport-mix.yml", {}),  # warnings, skips, a loop, no_log, non-UTF-8, a large result, failures
        ("fail-web.yml", {}),
        ("loop.yml", {"items": 30}),
        ("nul.yml", {}),
        ("publish.yml", {"fail_after": True}),
        ("hello-db.yml", {"hello_sleep": 0}),
        ("syntax-error.yml", {}),  # fails before any callback is loaded
        ("broken.yml", {}),
    ],
)
def test_same_events_both_transports(servers: dict[str, RunningServer], action: str, extravars: dict[str, Any]) -> None:
    results = run_both(servers, action, lambda _: extravars)
    assert_same_events(results, {})
    op, events = results["pipe"]
    assert events, "no events at all"
    if action == "syntax-error.yml":
        assert op["status"] == "error" and "the playbook did not start" in op["error"]
        assert {e["event"] for e in events} == {"verbose"}
    if action == "transport-mix.yml":
        names = {e["event"] for e in events}
        assert {"warning", "verbose", "runner_on_skipped", "runner_item_on_skipped", "runner_on_failed"} <= names
        assert any("_redrunner_trimmed" in str(e["data"]) for e in events), "the large result was not trimmed"


@pytest.mark.parametrize("term", ["dumb", ""])
def test_same_events_on_a_terminal_without_colors(server_factory: Callable[..., RunningServer], term: str) -> None:
    """Colors follow what the pty would have had: none for a TERM without colors, or none at all."""
    servers = {t: server_factory(name=t, env={"TERM": term}, args=["--event-transport", t]) for t in TRANSPORTS}
    results = run_both(servers, "transport-mix.yml")
    assert_same_events(results, {})
    assert not any("\x1b[" in e["stdout"] for e in results["pipe"][1])


def test_tasks_do_not_see_the_forced_color(server_factory: Callable[..., RunningServer]) -> None:
    servers = {t: server_factory(name=t, env={"TERM": "xterm"}, args=["--event-transport", t]) for t in TRANSPORTS}
    results = run_both(servers, "env-colors.yml")
    assert_same_events(results, {})
    op, events = results["pipe"]
    assert op["status"] == "successful"
    assert any("\x1b[" in e["stdout"] for e in events), "xterm has colors: ansible-playbook's output should too"
    assert any("force=unset forced=unset" in e["stdout"] for e in events)


def test_same_events_for_a_component_playbook(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    components = REPO / "components"
    servers = {t: server_factory(name=t, data_dir=components, args=["--event-transport", t]) for t in TRANSPORTS}
    files = tmp_path / "app-files"
    files.mkdir()
    (files / "upload.txt").write_text("kept\n")
    roots = {t: tmp_path / f"backups-{t}" for t in TRANSPORTS}
    results = run_both(servers, "backup-files.yml", lambda t: {"files_path": str(files), "backup_root": str(roots[t])})
    assert results["pipe"][0]["status"] == "successful", results["pipe"][1][-3:]
    assert_same_events(results, {str(root): "<backup-root>" for root in roots.values()})


def test_same_events_for_a_canceled_run(servers: dict[str, RunningServer]) -> None:
    ops = {}
    for transport, srv in servers.items():
        job = make_job(srv, "transport", ["u"])
        ops[transport] = start(srv, job["id"], "u", "sleep.yml", extravars={"sleep_seconds": 300})

    def sleeping(transport: str) -> bool:
        events = all_events(servers[transport], ops[transport]["id"])
        return any(e["event"] == "runner_on_start" and e["task"] == "Sleep in a task process" for e in events)

    for transport, srv in servers.items():
        wait_until(partial(sleeping, transport), 60, what=f"the sleep task under {transport}")
        assert srv.post(f"operations/{ops[transport]['id']}/cancel").status == 202
    results = {}
    for transport, srv in servers.items():
        done = srv.wait_terminal(ops[transport]["id"], 30)
        assert done["status"] == "canceled" and done["rc"] is None
        results[transport] = (done, all_events(srv, done["id"]))
    assert_same_events(results, {})


# -- the pipe reader on its own (no ansible): what a pty and runner's filter would have made of the bytes --


def collect(chunks: list[bytes]) -> list[tuple[str, str]]:
    got: list[dict[str, Any]] = []
    stream = EventStream("run-1", got.append, NONCE)
    for chunk in chunks:
        stream.feed(chunk)
    stream.close()
    assert [e["counter"] for e in got] == list(range(1, len(got) + 1))
    assert all(e["runner_ident"] == "run-1" for e in got)
    return [(e["event"], e["stdout"]) for e in got]


NONCE = "0123abcd"


def event_line(name: str, stdout: str, mark: bytes = event_mark(NONCE)) -> bytes:
    return mark + f'{{"event": "{name}", "event_data": {{}}, "stdout": "{stdout}"}}\n'.encode()


def test_the_plugin_and_the_server_agree_on_their_names() -> None:
    assert f'MARK = "{MARK.decode().encode("unicode_escape").decode()}"' in PLUGIN.read_text()
    assert f'FORCED_COLOR = "{FORCED_COLOR}"' in PLUGIN.read_text()
    assert f'NONCE_FILE = "{NONCE_FILE}"' in PLUGIN.read_text()


def test_a_mark_without_the_runs_nonce_is_text() -> None:
    """A playbook that writes a mark line to the pipe itself knows no nonce: its line is text."""
    forged = event_line("runner_on_ok", "forged", MARK)
    assert collect([forged]) == [("verbose", "\x1e"), ("verbose", forged[1:-1].decode())]
    assert collect([event_line("runner_on_ok", "ok", event_mark("ffff0000"))])[0][0] == "verbose"


def test_text_lines_and_events_keep_their_order_however_the_bytes_are_split() -> None:
    data = b"first\nsecond\r\nthird " + event_line("runner_on_ok", "ok") + b"\xff tail\n" + b"no newline"
    want = [
        ("verbose", "first"),
        ("verbose", "second"),  # a pty makes "\r\r\n" of "\r\n", which runner's filter splits in two lines
        ("verbose", ""),
        ("verbose", "third "),  # a partial line ends where the next event begins
        ("runner_on_ok", "ok"),
        ("verbose", "\ufffd tail"),
        ("verbose", "no newline"),
    ]
    assert collect([data]) == want
    assert collect([data[i : i + 1] for i in range(len(data))]) == want


def test_an_event_cut_off_by_a_kill_is_dropped_and_the_text_before_it_kept() -> None:
    cut = event_line("runner_on_ok", "ok")[:-10]
    assert collect([b"before\n", b"partial ", cut]) == [("verbose", "before"), ("verbose", "partial ")]


def test_a_mark_without_an_event_after_it_is_text() -> None:
    # Split where runner's filter splits text (str.splitlines, for which the mark's \x1e ends a line).
    assert collect([MARK + b"not json\n"]) == [("verbose", "\x1e"), ("verbose", "\x1fredrunner-event not json")]
