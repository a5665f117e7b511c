"""A real `redrunner serve` process on a free port, for tests that talk to it over the network."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.statuses import TERMINAL

REPO = Path(__file__).resolve().parents[2]
FIXTURE_DATA = REPO / "tests" / "fixtures" / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1, what: str = "") -> Any:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # the condition may not be checkable yet (server starting)
            last_exc = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}") from last_exc


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ServerClient:
    """The HTTP side of a test server, wherever it runs: a `redrunner serve` process (RunningServer) or the
    application inside the test process (tests/support/inprocess.py)."""

    port: int
    token: str | None
    data_dir: Path
    state_dir: Path
    database: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def ws_api(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> Response:
        """One HTTP request; `path` is relative to /api/v1 unless it starts with '/'."""
        url = path if path.startswith("http") else (self.url + path if path.startswith("/") else f"{self.api}/{path}")
        hdrs = dict(headers or {})
        data: bytes | None = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif form is not None:
            from urllib.parse import urlencode

            data = urlencode(form).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        tok = token if token is not None else self.token
        if tok:
            hdrs.setdefault("Authorization", f"Bearer {tok}")
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, dict(err.headers.items()), err.read())

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, body if body is not None or "form" in kw or "raw" in kw else {}, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)

    def log(self) -> str:
        """What the server logged so far."""
        raise NotImplementedError

    def wait_terminal(self, op_id: int, timeout: float = 60.0) -> dict[str, Any]:
        """Long-poll the Operation until it is terminal."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"operation {op_id} not terminal after {timeout}s")
            wait = max(1, min(60, int(left)))
            op = self.get(f"operations/{op_id}?wait={wait}", timeout=wait + 10).json()
            if op["status"] in TERMINAL:
                return dict(op)


@dataclass
class RunningServer(ServerClient):
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    state_dir: Path
    database: str
    log_path: Path
    token: str | None = None
    args: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_server(
    tmp: Path,
    *,
    data_dir: Path | None = None,
    database: str | None = None,
    state_dir: Path | None = None,
    token: str | None = None,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    name: str = "server",
    ready_timeout: float = 30.0,
    launcher: list[str] | None = None,
) -> RunningServer:
    """Start `python -m backend serve` and wait until /healthz answers. `launcher` replaces the `python`
    of that command line (e.g. a `python -c` that sets resource limits and then execs the server)."""
    port = free_port()
    state = state_dir or (tmp / f"{name}-state")
    state.mkdir(parents=True, exist_ok=True)
    db = database or f"sqlite:///{state / 'redrunner.db'}"
    data = data_dir or FIXTURE_DATA
    log_path = tmp / f"{name}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}
    # A short grace: a test that ends with an Operation still running should not wait 20 s to tear down.
    # Tests about the grace pass --shutdown-grace, which wins over the environment.
    full_env.update({"PYTHONUNBUFFERED": "1", "REDRUNNER_SHUTDOWN_GRACE": "2"})
    if token:
        full_env["REDRUNNER_TOKEN"] = token
    full_env.update(env or {})
    cmd = [
        *(launcher or [sys.executable]),
        "-m",
        "backend",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data),
        "--database",
        db,
        "--state-dir",
        str(state),
        *(args or []),
    ]
    logf = open(log_path, "wb")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(cmd, cwd=str(REPO), env=full_env, stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    srv = RunningServer(proc, port, data, state, db, log_path, token, cmd)

    def healthy() -> bool | str:
        if proc.poll() is not None:
            return "exited"  # truthy: stop waiting, and fail below
        with urllib.request.urlopen(f"{srv.url}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)

    try:
        outcome = wait_until(healthy, timeout=ready_timeout, interval=0.05, what="the server's /healthz")
    except AssertionError as exc:
        srv.kill()
        raise RuntimeError(f"server did not become healthy:\n{srv.log()}") from exc
    if outcome == "exited":
        raise RuntimeError(f"server exited with {proc.returncode}:\n{srv.log()}")
    return srv
