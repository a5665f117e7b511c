"""The safety rules of api.md ("Safety rules on every request"), each tried as an attacker would.

Real servers, real playbooks run by ansible-runner, real WebSockets. A playbook that would run a
command if Ansible templated a caller's value looks up `pipe` to create a marker file: the marker
not existing afterwards is the proof that nothing ran.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from backend.hardening import make_undumpable
from tests.backend.helpers import frames_until_close, make_job, start, ws
from tests.backend.webhook_receiver import Receiver
from tests.support.inprocess import start_inprocess
from tests.support.server import FIXTURE_DATA, REPO, RunningServer, ServerClient, free_port, start_server, wait_until

TOKEN = "s3cret-token-for-tests"
ALLOWED = "https://ops.example.com"
SECRET = 'hunter2-"very"-secret-ü'  # a quote and non-ASCII: escaped in JSON, still redacted

RECORD_PLAYBOOK = """\
- name: Record what the playbook got
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Show the payload and the password
      ansible.builtin.debug:
        msg: "payload={{ payload | default('') }} password={{ db_password | default('') }}"
    - name: Read the environment
      ansible.builtin.command: env
      register: env_out
      changed_when: false
    - name: Write it all down
      ansible.builtin.copy:
        dest: "{{ out_file }}"
        mode: "0600"
        content: "{{ {'payload': payload | default(None), 'db_password': db_password | default(None),
                     'env': env_out.stdout_lines, 'unit': redrunner_unit | default(None),
                     'only_default': only_default | default(None)} | to_json }}"
"""


LEAK_PLAYBOOK = """\
- name: Publish and print secrets
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish
      ansible.builtin.set_stats:
        data:
          db_password: artifact-pw-4242
          settings: {dsn: "postgresql://app:dsn-pw-777@db/app", pgpass: pgpass-value-1, region: eu-1}
          note: plain
    - name: Print the numeric secret
      ansible.builtin.debug:
        msg: "{{ db_password }}"
    - name: Print the published one
      ansible.builtin.debug:
        msg: "connect with artifact-pw-4242"
"""


@dataclass
class Setup:
    srv: ServerClient
    tmp: Path

    @property
    def marker(self) -> Path:
        return self.tmp / "marker"


def data_dir(tmp: Path) -> Path:
    data = tmp / "data"
    shutil.copytree(FIXTURE_DATA, data)
    (data / "project" / "record-db.yml").write_text(RECORD_PLAYBOOK)
    (data / "project" / "leak-db.yml").write_text(LEAK_PLAYBOOK)
    return data


PLAYBOOK_ENV = {
    "API_KEY": "env-api-key-value",
    "MY_SECRET_THING": "env-secret-value",
    "FOO_BAR": "not-on-the-allow-list",
    "REDRUNNER_PLAYBOOK_REGION": "eu-1",
    "ANSIBLE_NOCOLOR": "1",
    "LANG": "C.UTF-8",
}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A token server with the defaults: no templates in extravars."""
    tmp = tmp_path_factory.mktemp("strict")
    srv = start_server(
        tmp, data_dir=data_dir(tmp), token=TOKEN, args=["--allowed-origins", ALLOWED], env=PLAYBOOK_ENV, name="strict"
    )
    try:
        yield Setup(srv, tmp)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """strict's token and allowed origins on the application in the test process, for the tests that only
    need requests and answers (a playbook's environment is its server process's: those tests use strict)."""
    tmp = tmp_path_factory.mktemp("guarded")
    srv = start_inprocess(tmp, data_dir=data_dir(tmp), token=TOKEN, args=["--allowed-origins", ALLOWED], name="guarded")
    try:
        yield Setup(srv, tmp)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def templated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A server without a token that accepts Jinja delimiters in extravars (and must still not template them)."""
    tmp = tmp_path_factory.mktemp("templated")
    srv = start_server(tmp, data_dir=data_dir(tmp), args=["--allow-templated-extravars"], name="templated")
    try:
        yield Setup(srv, tmp)
    finally:
        srv.stop()


def pipe(marker: Path) -> str:
    return "{{ lookup('pipe', 'touch " + str(marker) + "') }}"


def run_record(setup: Setup, extravars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run record-db.yml with `extravars`; the finished Operation and what the playbook wrote down."""
    srv = setup.srv
    out = setup.tmp / f"out-{os.urandom(4).hex()}.json"
    job = make_job(srv, "sec", ["db"])
    op = start(srv, job["id"], "db", "record", extravars={**extravars, "out_file": str(out)})
    done = srv.wait_terminal(op["id"])
    return done, (json.loads(out.read_text()) if out.exists() else {})


def operations(srv: ServerClient) -> list[int]:
    return [o["id"] for o in srv.get("operations?limit=500").json()["items"]]


# -- 1. no code from callers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extravars", "error"),
    [
        ("jinja-value", {"payload": "PIPE"}, "unsafe_extravars"),
        (
            "jinja-statement",
            {"payload": "{% for x in [1] %}{{ lookup('pipe', 'id') }}{% endfor %}"},
            "unsafe_extravars",
        ),
        ("jinja-comment", {"payload": "{# x #}"}, "unsafe_extravars"),
        ("jinja-nested", {"payload": {"deep": ["ok", {"x": "PIPE"}]}}, "unsafe_extravars"),
        ("jinja-nested-key", {"payload": {"PIPE": 1}}, "unsafe_extravars"),
        ("ansible-interpreter", {"ansible_python_interpreter": "/bin/sh -c 'touch MARKER'"}, "reserved_extravar"),
        ("ansible-connection", {"ansible_connection": "ssh"}, "reserved_extravar"),
        ("ansible-become", {"ANSIBLE_BECOME": True}, "reserved_extravar"),
        ("lone-surrogate", {"payload": "\ud800"}, "invalid_extravars"),
        ("lone-surrogate-key", {"payload": {"\udfff": 1}}, "invalid_extravars"),
    ],
)
def test_code_in_extravars_is_refused_and_nothing_runs(
    guarded: Setup, name: str, extravars: dict[str, Any], error: str
) -> None:
    srv = guarded.srv
    text = json.dumps(extravars).replace("PIPE", pipe(guarded.marker).replace('"', '\\"'))
    text = text.replace("MARKER", str(guarded.marker))
    job = make_job(srv, "sec", ["db"])
    before = operations(srv)
    body = json.dumps({"action": "record", "extravars": json.loads(text)}).encode()
    resp = srv.request("POST", f"jobs/{job['id']}/units/db", raw=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400, resp.body
    assert resp.json()["error"] == error
    assert resp.json()["field"] == "extravars"
    assert operations(srv) == before
    assert not guarded.marker.exists()


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"1" + b"0" * 400 + b".0"])
def test_non_finite_numbers_are_refused(guarded: Setup, number: bytes) -> None:
    job = make_job(guarded.srv, "sec", ["db"])
    body = b'{"action": "record", "extravars": {"payload": ' + number + b"}}"
    resp = guarded.srv.request(
        "POST", f"jobs/{job['id']}/units/db", raw=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400, resp.body
    assert resp.json()["error"] == "invalid_extravars"


@pytest.mark.slow
def test_allowed_templates_reach_the_playbook_as_text_never_run(templated: Setup) -> None:
    payload = {
        "text": pipe(templated.marker),
        "list": ["{{ 7 * 6 }}", 42, 1.5, None, True],
        pipe(templated.marker): "k",
    }
    done, seen = run_record(templated, {"payload": payload})
    assert done["status"] == "successful", done
    assert seen["payload"] == payload
    assert not templated.marker.exists()
    stdout = templated.srv.get(f"operations/{done['id']}/stdout").body.decode()
    assert "{{ lookup('pipe'" in stdout  # shown as text, as given


@pytest.mark.slow
def test_plain_values_arrive_unchanged(strict: Setup) -> None:
    payload = {"path": "/tmp/x y", "unicode": "zoë ✓ 😀", "ctl": "a\u0085b\u007fc\tz", "n": 2**60, "f": -0.25}
    done, seen = run_record(strict, {"payload": payload})
    assert done["status"] == "successful", done
    assert seen["payload"] == payload


@pytest.mark.slow
def test_the_caller_and_redrunner_win_over_the_data_dirs_extravars_defaults(strict: Setup) -> None:
    """ansible-runner's `env/extravars` in the data dir is a default: never over the caller or `redrunner_*`."""
    defaults = strict.srv.data_dir / "env" / "extravars"
    defaults.parent.mkdir(exist_ok=True)
    defaults.write_text("payload: 8\nredrunner_unit: forged\nonly_default: kept\n")
    try:
        done, seen = run_record(strict, {"payload": 200})
    finally:
        defaults.unlink()
    assert done["status"] == "successful", done
    assert (seen["payload"], seen["unit"], seen["only_default"]) == (200, "db", "kept")


# -- 4. secrets out of sight ------------------------------------------------------------------------------


@pytest.mark.slow
def test_secret_extravars_are_redacted_everywhere_but_reach_the_playbook(strict: Setup) -> None:
    srv = strict.srv
    job = make_job(srv, "sec-redact", ["db"])
    out = strict.tmp / "redact.json"
    extravars = {"db_password": SECRET, "nested": {"API_Key": SECRET, "plain": "visible"}, "out_file": str(out)}
    resp = srv.post(f"jobs/{job['id']}/units/db", {"action": "record", "extravars": extravars})
    assert resp.status == 202
    op = resp.json()
    with ws(srv, f"operations/{op['id']}/stream?after=0") as conn:
        frames = frames_until_close(conn)
    done = srv.wait_terminal(op["id"])
    assert done["status"] == "successful", done
    assert frames[-1]["type"] == "end"
    assert any(f["type"] == "event" for f in frames)
    shown = {"db_password": "$redacted$", "nested": {"API_Key": "$redacted$", "plain": "visible"}, "out_file": str(out)}
    assert op["extravars"] == shown
    assert done["extravars"] == shown
    listed = srv.get(f"operations?job_id={job['id']}").json()["items"]
    assert listed[0]["extravars"] == shown
    assert srv.get(f"jobs/{job['id']}").json()["units"][0]["latest_operation"]["extravars"] == shown
    assert frames[-1]["data"]["extravars"] == shown
    stdout = srv.get(f"operations/{op['id']}/stdout").body.decode()
    assert "password=$redacted$" in stdout
    events = srv.get(f"operations/{op['id']}/events?limit=5000").body.decode()
    for text in (json.dumps(frames), json.dumps(frames, ensure_ascii=False), stdout, events, srv.log()):
        for form in (SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1]):
            assert form not in text
    # The playbook got the real value, and the database keeps it for reruns.
    assert json.loads(out.read_text())["db_password"] == SECRET
    with sqlite3.connect(srv.database.removeprefix("sqlite:///")) as db:
        stored = db.execute("select extravars from operation where id = ?", (op["id"],)).fetchone()[0]
    assert json.loads(stored)["db_password"] == SECRET


@pytest.mark.slow
def test_secret_artifacts_and_numbers_are_redacted_everywhere_but_kept(strict: Setup) -> None:
    srv = strict.srv
    receiver = Receiver(free_port()).start()
    hook = srv.post("webhooks", {"url": receiver.url, "events": ["job.finished", "operation.finished"]}).json()
    try:
        job = make_job(srv, "sec-artifacts", ["db"])
        extravars = {"db_password": 98765432, "dsn": "postgresql://app:xv-pw-555@db/app"}
        op = start(srv, job["id"], "db", "leak", extravars=extravars)
        done = srv.wait_terminal(op["id"])
        wait_until(lambda: len(receiver.received) == 2, timeout=30, what="both webhook bodies")
    finally:
        srv.delete(f"webhooks/{hook['id']}")
        receiver.stop()
    assert done["status"] == "successful", done
    assert done["extravars"] == {"db_password": "$redacted$", "dsn": "$redacted$"}
    assert done["artifacts"] == {
        "db_password": "$redacted$",
        "settings": {"dsn": "$redacted$", "pgpass": "$redacted$", "region": "eu-1"},
        "note": "plain",
    }
    shown = [
        json.dumps(done),
        srv.get(f"jobs/{job['id']}").body.decode(),
        srv.get(f"operations/{op['id']}/events?limit=5000").body.decode(),
        srv.get(f"operations/{op['id']}/stdout").body.decode(),
        *(r.body.decode() for r in receiver.received),
    ]
    assert "connect with $redacted$" in shown[3]
    for secret in ("98765432", "artifact-pw-4242", "dsn-pw-777", "pgpass-value-1", "xv-pw-555"):
        assert not [text for text in shown if secret in text], secret
    with sqlite3.connect(srv.database.removeprefix("sqlite:///")) as db:
        stored = db.execute("select artifacts from operation where id = ?", (op["id"],)).fetchone()[0]
    assert json.loads(stored)["db_password"] == "artifact-pw-4242"


@pytest.mark.slow
def test_extravars_never_reach_a_command_line(strict: Setup) -> None:
    """While the playbook runs, no process on the machine shows the secret in its arguments (`ps`)."""
    srv = strict.srv
    assert isinstance(srv, RunningServer)  # the playbook is looked for among its process's children
    job = make_job(srv, "sec-ps", ["db"])
    op = start(srv, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 60, "db_password": SECRET})

    def playbook() -> list[str] | None:
        for proc in psutil.Process(srv.proc.pid).children(recursive=True):
            cmd = proc.cmdline()
            if any("ansible-playbook" in part for part in cmd) and "sleep.yml" in cmd:
                return list(cmd)
        return None

    try:
        cmd = wait_until(playbook, timeout=60, interval=0.1, what="ansible-playbook running sleep.yml")
        wait_until(lambda: srv.get(f"operations/{op['id']}").json()["event_count"] >= 3, timeout=60)
        vars_file = Path(cmd[cmd.index("-e") + 1].removeprefix("@"))
        assert vars_file.stat().st_mode & 0o077 == 0
        for proc in psutil.process_iter(["cmdline"]):
            assert SECRET not in " ".join(proc.info["cmdline"] or [])
    finally:
        srv.post(f"operations/{op['id']}/cancel")
    assert srv.wait_terminal(op["id"])["status"] == "canceled"
    assert not vars_file.exists()


@pytest.mark.slow
def test_playbooks_inherit_only_the_allowed_environment(strict: Setup) -> None:
    done, seen = run_record(strict, {})
    assert done["status"] == "successful", done
    env = dict(line.split("=", 1) for line in seen["env"] if "=" in line)
    assert env.get("REDRUNNER_PLAYBOOK_REGION") == "eu-1"
    assert env.get("LANG") == "C.UTF-8"
    assert "PATH" in env
    for name in ("API_KEY", "MY_SECRET_THING", "FOO_BAR", "REDRUNNER_TOKEN", "REDRUNNER_DATABASE_URL"):
        assert name not in env
    assert TOKEN not in json.dumps(seen)


def _undumpable_target(ready: Any, undumpable: bool) -> None:
    """A stand-in for the server running as a non-root user, with or without make_undumpable(). Everything it
    needs is imported before the fork: as `nobody` it cannot read the interpreter's files under /root."""

    os.setgid(65534)
    os.setuid(65534)
    # Changing uid cleared the dumpable flag; a server exec'd as that user starts dumpable: restore that.
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)
    if undumpable:
        assert make_undumpable()
    ready.send("ready")
    ready.recv()


def _reader(pid: int, result: Any) -> None:
    os.setgid(65534)
    os.setuid(65534)
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            result.send(("read", fh.read()))
    except OSError as exc:
        result.send(("refused", exc.errno))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user takes root")
@pytest.mark.parametrize("undumpable", [False, True], ids=["plain-process", "undumpable"])
def test_a_same_user_process_cannot_read_the_servers_environment(undumpable: bool) -> None:
    """The server cannot be run as another user here honestly (its interpreter lives under /root), so this
    runs make_undumpable() in a process switched to `nobody` and reads its /proc/<pid>/environ as `nobody`,
    as a playbook of a non-root server would. The plain process is the control: the read must succeed."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    target = ctx.Process(target=_undumpable_target, args=(child_end, undumpable))
    target.start()
    try:
        assert parent_end.poll(30) and parent_end.recv() == "ready"
        res_parent, res_child = ctx.Pipe()
        reader = ctx.Process(target=_reader, args=(target.pid, res_child))
        reader.start()
        assert res_parent.poll(30)
        outcome, detail = res_parent.recv()
        reader.join(10)
    finally:
        parent_end.send("done")
        target.join(10)
    if undumpable:
        assert outcome == "refused", detail
    else:
        assert outcome == "read" and b"PATH=" in detail


@pytest.mark.slow
def test_the_token_and_database_url_are_not_in_a_playbooks_environment(tmp_path: Path) -> None:
    srv = start_server(tmp_path, token=TOKEN, name="env", env={"REDRUNNER_DATABASE_URL": "sqlite:///nowhere.db"})
    try:
        assert subprocess_env_of(srv) == ""
    finally:
        srv.stop()


def subprocess_env_of(srv: RunningServer) -> str:
    """What a playbook of `srv` sees as its environment (vars.yml records REDRUNNER_TOKEN via lookup env)."""
    out = Path(srv.state_dir) / "vars-out.json"
    job = make_job(srv, "sec-env", ["db"])
    op = start(srv, job["id"], "db", "vars.yml", extravars={"out_file": str(out)})
    assert srv.wait_terminal(op["id"])["status"] == "successful"
    seen = json.loads(out.read_text())
    return str(seen["token"]) + str(seen["db_url"])


# -- 2. no cross-site requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"Origin": "http://evil.example"}, 403, "forbidden_origin"),
        ({"Origin": "null"}, 403, "forbidden_origin"),
        ({"Origin": "http://127.0.0.1:1"}, 403, "forbidden_origin"),
        ({"Origin": "https://ops.example.com.evil.example"}, 403, "forbidden_origin"),
        ({"Host": "evil.example"}, 403, "forbidden_host"),
        ({"Host": "rebind.attacker.example:8787"}, 403, "forbidden_host"),
        ({"Origin": ALLOWED}, 200, None),
        ({"Origin": "https://OPS.example.com:443"}, 200, None),
        ({"Host": "localhost"}, 200, None),
        ({"Host": "[::1]:8787"}, 200, None),
        ({}, 200, None),
    ],
)
def test_http_origin_and_host(guarded: Setup, headers: dict[str, str], status: int, error: str | None) -> None:
    for method, path, body in (("GET", "jobs", None), ("POST", "jobs", b"tag=origin-test")):
        hdrs = dict(headers)
        if body is not None:
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        resp = guarded.srv.request(method, path, raw=body, headers=hdrs)
        expected = status if status != 200 or method == "GET" else 201
        assert resp.status == expected, (method, resp.body)
        if error:
            assert resp.json()["error"] == error


def test_own_origin_is_allowed(guarded: Setup) -> None:
    resp = guarded.srv.get("jobs", headers={"Origin": guarded.srv.url})
    assert resp.status == 200


def test_cross_site_form_post_creates_nothing(guarded: Setup) -> None:
    """A form on another site needs no CORS preflight: it must be refused, even with a valid token."""
    before = guarded.srv.get("jobs?limit=500").json()["items"]
    resp = guarded.srv.request(
        "POST",
        "jobs",
        raw=b"tag=csrf",
        headers={"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 403
    assert guarded.srv.get("jobs?limit=500").json()["items"] == before


def test_websocket_foreign_origin_is_refused(guarded: Setup) -> None:
    extra = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{guarded.srv.ws_api}/stream"
    with (
        pytest.raises(InvalidStatus) as info,
        connect(url, additional_headers=extra, origin=Origin("http://evil.example"), open_timeout=10),
    ):
        pass
    resp = info.value.response
    assert resp.status_code == 403
    assert json.loads(bytes(resp.body or b""))["error"] == "forbidden_origin"


@pytest.mark.parametrize(("host", "status"), [("evil.example", 403), ("localhost", 101)])
def test_websocket_host_check(guarded: Setup, host: str, status: int) -> None:
    """A raw handshake: WebSocket clients set Host themselves, a DNS-rebinding page's browser sets the foreign one."""
    head = (
        f"GET /api/v1/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {TOKEN}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", guarded.srv.port), timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:300]
    if status == 403:
        sock_body = data.split(b"\r\n\r\n", 1)[1]
        assert b"forbidden_host" in sock_body or not sock_body


@pytest.mark.parametrize("origin", [None, ALLOWED, "own"])
def test_websocket_allowed_origins_connect(guarded: Setup, origin: str | None) -> None:
    value = guarded.srv.url if origin == "own" else origin
    extra = {"Authorization": f"Bearer {TOKEN}"}
    with connect(f"{guarded.srv.ws_api}/stream", additional_headers=extra, origin=value, open_timeout=10) as conn:  # type: ignore[arg-type]
        make_job(guarded.srv, "ws-origin", ["db"])
        frame = json.loads(conn.recv(timeout=10))
        assert frame["type"] in ("job", "unit")


def serve_cmd(host: str, *extra: str, tmp: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "backend",
        "serve",
        "--host",
        host,
        "--port",
        str(free_port()),
        "--data-dir",
        str(FIXTURE_DATA),
        "--state-dir",
        str(tmp / "state"),
        *extra,
    ]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}


def test_non_loopback_listen_without_token_refuses_to_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        serve_cmd("0.0.0.0", tmp=tmp_path), cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "--no-auth" in proc.stderr and "token" in proc.stderr


@pytest.mark.slow
def test_no_auth_starts_with_a_warning_and_skips_the_host_check(tmp_path: Path) -> None:
    port = free_port()
    cmd = serve_cmd("0.0.0.0", "--no-auth", tmp=tmp_path)
    cmd[cmd.index("--port") + 1] = str(port)
    log = tmp_path / "noauth.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=clean_env(), stdout=fh, stderr=subprocess.STDOUT)
    srv = RunningServer(proc, port, FIXTURE_DATA, tmp_path / "state", "", log)
    try:
        wait_until(lambda: srv.get("/healthz").status == 200, timeout=30, what="healthz")
        assert "--no-auth" in srv.log() and '"level": "warning"' in srv.log()
        # Not a loopback listen: names like the cluster Service's must work.
        assert srv.get("jobs", headers={"Host": "redrunner.default.svc:8787"}).status == 200
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("content", "ok"),
    [
        (b"abc-123_XYZ\n", True),
        (b"  padded token \n", True),
        (b"two\nlines\n", False),
        (b"caf\xc3\xa9\n", False),
        (b"bell\x07\n", False),
        (b"\n", False),
        (b"", False),
    ],
)
def test_token_file_is_one_printable_line(tmp_path: Path, content: bytes, ok: bool) -> None:
    from backend.cli import build_parser
    from backend.config import settings_from_args
    from backend.errors import StartupError

    token_file = tmp_path / "token"
    token_file.write_bytes(content)
    args = build_parser().parse_args(["serve", "--token-file", str(token_file), "--data-dir", str(FIXTURE_DATA)])
    if ok:
        assert settings_from_args(args).token == content.decode().strip()
    else:
        # A start-up error: `redrunner serve` prints it on one line and exits 2.
        with pytest.raises(StartupError):
            settings_from_args(args)


# -- 3. limits before work -----------------------------------------------------------------------------------


def send_headers_and_read(port: int, head: bytes) -> bytes:
    """Send a request head only (no body) and read whatever the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                length = int(data.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
                if len(data) >= head_end + 4 + length:
                    return data


@pytest.mark.parametrize(
    ("auth", "length", "status", "error"),
    [
        (False, 50 * 1024 * 1024, 401, "unauthorized"),
        (False, 500, 401, "unauthorized"),
        (True, 50 * 1024 * 1024, 413, "payload_too_large"),
        (True, 2 * 1024 * 1024 * 1024, 413, "payload_too_large"),
    ],
)
def test_refused_before_the_body_is_sent(guarded: Setup, auth: bool, length: int, status: int, error: str) -> None:
    auth_line = f"Authorization: Bearer {TOKEN}\r\n".encode() if auth else b""
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + auth_line
        + f"Content-Length: {length}\r\n\r\n".encode()
    )
    data = send_headers_and_read(guarded.srv.port, head)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:300]
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"] == error


def test_a_client_that_sends_everything_first_still_reads_the_answer(guarded: Setup) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", guarded.srv.port, timeout=60)
    try:
        conn.request(
            "POST", "/api/v1/jobs", body=b"x" * (8 * 1024 * 1024), headers={"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        assert resp.status == 401
        assert json.loads(resp.read())["error"] == "unauthorized"
    finally:
        conn.close()


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.slow
def test_memory_stays_flat_under_many_large_unauthenticated_bodies(tmp_path: Path) -> None:
    """12 clients at once each send a 32 MB body without a token: 384 MB the server would have buffered.
    Its peak resident memory (VmHWM) may grow by far less than one body."""
    srv = start_server(tmp_path, token=TOKEN, name="bodies")
    try:
        before = vm_kib(srv.proc.pid, "VmRSS")
        size = 32 * 1024 * 1024
        results: list[int] = []
        chunk = b"x" * (1024 * 1024)

        def client() -> None:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=120) as sock:
                sock.sendall(
                    b"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {size}\r\n\r\n".encode()
                )
                try:
                    for _ in range(size // len(chunk)):
                        sock.sendall(chunk)
                except OSError:
                    pass  # the server may close once it has answered; what it answered is what counts
                data = sock.recv(4096)
                results.append(int(data.split(b" ", 2)[1]) if data else 0)

        threads = [threading.Thread(target=client) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert results == [401] * 12
        peak = vm_kib(srv.proc.pid, "VmHWM")
        assert peak - before < 16 * 1024, (before, peak)
        assert srv.get("/healthz").status == 200
    finally:
        srv.stop()


def test_made_up_methods_do_not_grow_the_metrics(guarded: Setup) -> None:
    def made_up(n: int, start_at: int) -> None:
        for i in range(start_at, start_at + n):
            with socket.create_connection(("127.0.0.1", guarded.srv.port), timeout=30) as sock:
                sock.sendall(f"BOGUS{i} /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                assert sock.recv(4096).startswith(b"HTTP/1.1 405")

    def series() -> list[str]:
        text = guarded.srv.get("/metrics").body.decode()
        return [line for line in text.splitlines() if line.startswith("redrunner_http_request_duration_seconds_count")]

    made_up(5, 0)
    series()  # the first scrape adds its own series
    first = series()
    made_up(50, 5)
    second = series()
    assert len(first) == len(second)
    assert not any("BOGUS" in line for line in second)
    assert any('method="other"' in line for line in second)


# -- the pure rules, in process -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("10.0.0.5", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    from backend.config import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://Ops.Example.com", "https://ops.example.com:443"),
        ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("null", None),
        ("file://", None),
        ("https://ops.example.com/path", None),
        ("http://host:99999", None),
    ],
)
def test_normalize_origin(text: str, origin: str | None) -> None:
    from backend.config import normalize_origin

    assert normalize_origin(text) == origin


def test_flags_take_their_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.cli import build_parser

    monkeypatch.setenv("REDRUNNER_ALLOWED_ORIGINS", "https://a.example, http://localhost:3000")
    monkeypatch.setenv("REDRUNNER_NO_AUTH", "true")
    monkeypatch.setenv("REDRUNNER_ALLOW_TEMPLATED_EXTRAVARS", "1")
    monkeypatch.setenv("REDRUNNER_WEBHOOK_ALLOWED_NETWORKS", "169.254.169.254/32")
    args = build_parser().parse_args(["serve"])
    assert [str(n) for n in args.webhook_allowed_networks] == ["169.254.169.254/32"]
    assert args.allowed_origins == ("https://a.example:443", "http://localhost:3000")
    assert args.no_auth is True
    assert args.allow_templated_extravars is True


def test_redaction_at_any_depth_keeps_the_original() -> None:
    from backend.redaction import REDACTED, redact, scrub, scrub_value, secret_values

    value = {"DB_Password": "pw-1234", "list": [{"apiKey": "no", "api_key": "k-5678"}], "Token": 12345, "ok": "x"}
    shown = redact(value)
    assert shown == {
        "DB_Password": REDACTED,
        "list": [{"apiKey": "no", "api_key": REDACTED}],
        "Token": REDACTED,
        "ok": "x",
    }
    assert value["DB_Password"] == "pw-1234"
    secrets = secret_values(value)
    assert set(secrets) == {"pw-1234", "k-5678", "12345"}
    assert scrub("login pw-1234 key k-5678", secrets) == f"login {REDACTED} key {REDACTED}"
    # In event data a number whose text holds a secret is replaced whole (api.md "Safety, third pass").
    data = {"rc": 12345, "n": 2, "ok": True, "msg": "token 12345", "pw-1234": ["a pw-1234"]}
    assert scrub_value(data, secrets) == {
        "rc": REDACTED,
        "n": 2,
        "ok": True,
        "msg": f"token {REDACTED}",
        REDACTED: [f"a {REDACTED}"],
    }


@pytest.mark.parametrize(
    "key",
    ["password", "PASSWD", "pgpass", "app_secret", "Token", "credentials", "ssh_private_key", "API_KEY",
     "aws_access_key_id", "auth", "OAuth_header", "dsn", "db_connection_string", "DATABASE_URL"],
)  # fmt: skip
def test_every_secret_name_is_redacted_at_any_depth(key: str) -> None:
    from backend.redaction import REDACTED, redact_collect

    found: set[str] = set()
    value = {"plain": 1, "deep": [{key: {"x": "s3cr3t-value", "n": 98765432}}]}
    assert redact_collect(value, found) == {"plain": 1, "deep": [{key: REDACTED}]}
    assert found == {"s3cr3t-value", "98765432"}
    untouched = {"plain": 1, "deep": [{"name": "x"}]}
    assert redact_collect(untouched, found) is untouched  # no copy when nothing is hidden


def test_extravars_file_tags_every_caller_string_unsafe() -> None:
    import yaml

    from backend.extravars import render

    text = render({"a": "{{ x }}", "b": {"{% k %}": ["v", 1, None]}, "c": "\x85\x7f😀"}, {"redrunner_unit": "db"})
    assert "redrunner_unit: db" in text
    assert text.count("!unsafe") == 7  # a, its value, b, {% k %}, v, c, its value

    class Loader(yaml.SafeLoader):
        pass

    def unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> tuple[str, Any]:
        assert isinstance(node, yaml.ScalarNode)
        return ("UNSAFE", loader.construct_scalar(node))

    Loader.add_constructor("!unsafe", unsafe)
    loaded = yaml.load(text, Loader=Loader)
    assert loaded[("UNSAFE", "c")] == ("UNSAFE", "\x85\x7f😀")
