"""The real application inside the test process, on 127.0.0.1 and a free port: the in-process HTTP tier.

What `redrunner serve` runs (`build_state`, `start_services`, `http_server`, and `shutdown` at the end), on
an IOLoop of its own thread, with a fresh embedded database, for tests that only need requests and answers:
starting one takes tens of milliseconds where a `redrunner serve` process takes a second or more of CPU.
The thread is what lets the tests stay plain synchronous code with blocking clients (urllib, websockets'
sync client, raw sockets) and share their bodies with the process tier: `InProcessServer` answers the same
calls as `RunningServer`.

Left out, because they are per process and the test process is not a server: signals, the subreaper and its
orphan reaper (it would reap the test process's other children), PR_SET_DUMPABLE, the log setup. Tests of
those, of process trees, of replicas on several servers or of the shutdown use `redrunner serve` processes.
The models are bound to one database per process (`db.database_proxy`): one in-process server at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from tornado import httpserver, netutil
from tornado.ioloop import IOLoop

from backend.app import build_state, http_server, shutdown, start_services
from backend.config import Settings, add_serve_arguments, settings_from_args
from backend.db import open_database
from backend.logs import JSONFormatter
from backend.migrations import migrate
from backend.sql import database
from backend.state import AppState
from tests.support.server import FIXTURE_DATA, ServerClient

# The server's loggers: "redrunner" (and its access log) and the backend modules' own (`__name__`).
SERVER_LOGGERS = ("redrunner", "backend")

# Set while an in-process server runs: a second one would rebind the models under the first.
_running: list[InProcessServer] = []


class _Lines(logging.Handler):
    """The server's log lines, formatted as `redrunner serve` writes them (JSON), for `log()`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JSONFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class InProcessServer(ServerClient):
    def __init__(self, settings: Settings, token: str | None) -> None:
        self.settings = settings
        self.token = token
        self.data_dir = settings.data_dir
        self.state_dir = settings.state_dir
        self.database = settings.database
        self._sockets = netutil.bind_sockets(0, "127.0.0.1")
        self.port = int(self._sockets[0].getsockname()[1])
        self.settings.port = self.port
        self._loop: IOLoop | None = None
        self._state: AppState | None = None
        self._http: httpserver.HTTPServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"inprocess-{self.port}", daemon=True)
        self._lines = _Lines()
        self._before: set[threading.Thread] = set()
        self._levels: dict[str, int] = {}

    @property
    def state(self) -> AppState:
        """The application's parts (service, dispatcher, metrics...), for tests that look inside."""
        assert self._state is not None, "the server is not running"
        return self._state

    def start(self, timeout: float = 30.0) -> None:
        if _running:
            raise RuntimeError("one in-process server at a time: the models are bound to one database per process")
        self._attach_log()
        self._before = set(threading.enumerate())
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the in-process server did not start within {timeout} s")
        if self._error is not None:
            self._detach_log()
            raise RuntimeError("the in-process server did not start") from self._error
        _running.append(self)

    def _run(self) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        try:
            self._state = build_state(self.settings, loop)
            start_services(self._state)
            self._http = http_server(self._state)
            self._http.add_sockets(self._sockets)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close(all_fds=True)
            return
        self._loop = loop
        self._ready.set()
        loop.start()
        loop.close()

    def _attach_log(self) -> None:
        """The server's records at its --log-level (INFO by default), as `setup_logging` would let through."""
        for name in SERVER_LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(self.settings.log_level)
            logger.addHandler(self._lines)

    def _detach_log(self) -> None:
        for name in SERVER_LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self._lines)
            logger.setLevel(self._levels.get(name, logging.NOTSET))

    def log(self) -> str:
        return "\n".join(self._lines.lines)

    def stop(self, timeout: float = 30.0) -> None:
        """The server's own graceful shutdown, then the loop and its thread end."""
        if self not in _running:
            return
        loop, state, http = self._loop, self._state, self._http
        assert loop is not None and state is not None and http is not None
        try:
            done = asyncio.run_coroutine_threadsafe(shutdown(state, http), loop.asyncio_loop)  # type: ignore[attr-defined]
            done.result(timeout)
        finally:
            loop.add_callback(loop.stop)
            self._thread.join(timeout)
            state.db_pool.shutdown(wait=True)
            if state.db_lock is not None:
                state.db_lock.release()
            database().close()
            self._detach_log()
            _running.remove(self)
        self._wait_for_threads(timeout)

    def _wait_for_threads(self, timeout: float) -> None:
        """Every thread the server started has ended: one still running would go on with the models bound
        to the next test's database."""
        deadline = time.monotonic() + timeout
        for thread in set(threading.enumerate()) - self._before:
            if thread.name.startswith("redrunner"):
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    raise RuntimeError(f"the in-process server's thread {thread.name} did not end")


def inprocess_settings(
    tmp: Path,
    *,
    data_dir: Path | None = None,
    database: str | None = None,
    state_dir: Path | None = None,
    args: list[str] | None = None,
    name: str = "server",
) -> Settings:
    """Settings as `redrunner serve` makes them from its command line, with this environment's REDRUNNER_*
    variables left out (as start_server leaves them out of a server's) and the same short shutdown grace."""
    state = state_dir or (tmp / f"{name}-state")
    state.mkdir(parents=True, exist_ok=True)
    db = database or f"sqlite:///{state / 'redrunner.db'}"
    if database is None and not (state / "redrunner.db").exists():
        shutil.copyfile(migrated_template(), state / "redrunner.db")
    argv = ["--host", "127.0.0.1", "--port", "0", "--data-dir", str(data_dir or FIXTURE_DATA)]
    argv += ["--database", db, "--state-dir", str(state), "--shutdown-grace", "2", *(args or [])]
    with _without_redrunner_environment():
        parser = argparse.ArgumentParser(prog="redrunner serve")
        add_serve_arguments(parser)
        return settings_from_args(parser.parse_args(argv))


@cache
def migrated_template() -> Path:
    """An embedded database migrated once per test process. Each in-process server starts on a copy: a
    fresh database with the full schema, without running every migration again (about 0.3 s of CPU,
    most of a start). The server still runs `migrate`, which finds the schema current."""
    if _running:
        raise RuntimeError("the template is made before any in-process server runs (it binds the models)")
    path = Path(tempfile.mkdtemp(prefix="redrunner-template-")) / "template.db"
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    db.close()  # the last connection: SQLite moves the WAL into the file, which is then all of it
    return path


@contextmanager
def _without_redrunner_environment() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("REDRUNNER_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def start_inprocess(
    tmp: Path,
    *,
    data_dir: Path | None = None,
    database: str | None = None,
    state_dir: Path | None = None,
    token: str | None = None,
    args: list[str] | None = None,
    settings: dict[str, Any] | None = None,
    name: str = "server",
) -> InProcessServer:
    """Start the application in this process. `args` are `redrunner serve` flags; `settings` sets Settings
    fields directly, including those without a flag (ws_queue_limit, heartbeat_interval...)."""
    made = inprocess_settings(tmp, data_dir=data_dir, database=database, state_dir=state_dir, args=args, name=name)
    made = dataclasses.replace(made, token=token, **(settings or {}))
    srv = InProcessServer(made, token)
    srv.start()
    return srv
