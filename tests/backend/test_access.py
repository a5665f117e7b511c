"""Named tokens with roles, requesters and the audit trail, through a real server (api.md "Access and audit").

One server for the module: a Kubernetes-style tokens Secret (viewer, operator, admin) plus --token-file."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.backend.helpers import ws
from tests.support.server import FIXTURE_DATA, REPO, RunningServer, start_server, wait_until

VIEWER, OPERATOR, ADMIN, SINGLE = "dashboard-token-0001", "nightly-token-00002", "on-call-token-000003", "x" * 24
ROLES = {"viewer": VIEWER, "operator": OPERATOR, "admin": ADMIN}


def entry(name: str, role: str, token: str) -> str:
    return f'- name: {name}\n  role: {role}\n  sha256: "{hashlib.sha256(token.encode()).hexdigest()}"\n'


THREE = entry("dashboard", "viewer", VIEWER) + entry("nightly", "operator", OPERATOR) + entry("on-call", "admin", ADMIN)


def kubernetes_secret(folder: Path, version: str, text: str) -> None:
    """As the kubelet updates a mounted Secret: a new timestamped dir, then `..data` swapped to it by rename."""
    new = folder / f"..{version}"
    new.mkdir(mode=0o700)
    (new / "tokens.yaml").write_text(text)
    (new / "tokens.yaml").chmod(0o600)
    (folder / "..data_tmp").symlink_to(new.name)
    os.replace(folder / "..data_tmp", folder / "..data")
    if not (folder / "tokens.yaml").is_symlink():
        (folder / "tokens.yaml").symlink_to("..data/tokens.yaml")


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("secret")
    kubernetes_secret(folder, "2026_12_07_00_00_00.1", THREE)
    return folder


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, secret: Path) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("access")
    single = tmp / "token"
    single.write_text(SINGLE + "\n")
    single.chmod(0o644)  # loose on purpose: started, with a warning
    server = start_server(tmp, args=["--tokens-file", str(secret / "tokens.yaml"), "--token-file", str(single)])
    yield server
    server.stop()


def call(srv: RunningServer, method: str, path: str, token: str | None, body: Any = None) -> int:
    return srv.request(method, path, body, token=token or "").status


def test_each_caller_is_named_with_its_role(srv: RunningServer) -> None:
    for role, token in ROLES.items():
        assert srv.get("whoami", token=token).json()["role"] == role
    assert srv.get("whoami", token=SINGLE).json() == {"name": "admin", "role": "admin"}
    assert srv.get("whoami", token="nobody-has-this-token").status == 401
    assert "--token-file" in srv.log() and "readable by group or others" in srv.log()


@pytest.mark.slow
def test_each_role_may_do_its_part_and_is_refused_the_rest(srv: RunningServer) -> None:
    job = srv.post("jobs", {"tag": "roles", "units": ["web", "db"]}, token=ADMIN).json()
    jid = job["id"]
    op = srv.post(f"jobs/{jid}/units/web", {"action": "hello", "extravars": {"hello_sleep": 0}}, token=ADMIN).json()
    srv.token = ADMIN
    srv.wait_terminal(op["id"])
    srv.post("schedules", {"name": "nightly", "cron": "0 3 * * *", "tag": "sched", "units": ["db"], "action": "hello"})
    hook = srv.post("webhooks", {"url": "http://127.0.0.1:9/hook"}).json()
    srv.token = None
    # (method, path, body): allowed for these roles; refused 403 forbidden_role for the others.
    requests: list[tuple[str, str, Any, set[str]]] = [
        ("GET", "jobs", None, {"viewer", "operator", "admin"}),
        ("GET", f"operations/{op['id']}/stdout", None, {"viewer", "operator", "admin"}),
        ("GET", "schedules", None, {"viewer", "operator", "admin"}),
        ("GET", "webhooks", None, {"viewer", "operator", "admin"}),
        ("GET", "openapi.json", None, {"viewer", "operator", "admin"}),
        ("GET", "audit", None, {"admin"}),
        ("POST", "jobs", {"tag": "roles-new"}, {"operator", "admin"}),
        ("POST", f"jobs/{jid}/units", {"name": "cache"}, {"operator", "admin"}),
        ("POST", f"jobs/{jid}/units/db", {"action": "hello", "extravars": {"hello_sleep": 0}}, {"operator", "admin"}),
        ("POST", f"jobs/{jid}/actions", {"action": "hello", "queue": True}, {"operator", "admin"}),
        ("POST", f"jobs/{jid}/rerun", {"statuses": ["successful"], "units": ["web"]}, {"operator", "admin"}),
        ("POST", f"operations/{op['id']}/cancel", None, {"operator", "admin"}),
        ("POST", "schedules/nightly/run", None, {"operator", "admin"}),
        ("PATCH", "schedules/nightly", {"enabled": False}, {"admin"}),
        (
            "POST",
            "schedules",
            {"name": "x", "cron": "0 3 * * *", "tag": "t", "units": ["db"], "action": "hello"},
            {"admin"},
        ),
        ("POST", "webhooks", {"url": "http://127.0.0.1:9/other"}, {"admin"}),
        ("DELETE", f"webhooks/{hook['id']}", None, {"admin"}),
        ("DELETE", "schedules/x", None, {"admin"}),
    ]
    seen = {}
    for role in ("viewer", "operator", "admin"):
        for method, path, body, allowed in requests:
            resp = srv.request(method, path, body, token=ROLES[role])
            seen[(role, method, path)] = resp.status
            if role in allowed:
                assert resp.status not in (401, 403), (role, method, path, resp.body)
            else:
                assert resp.status == 403, (role, method, path, resp.body)
                needed = "admin" if min(allowed, key=["viewer", "operator", "admin"].index) == "admin" else "operator"
                assert resp.json()["error"] == "forbidden_role"
                assert f"needs the {needed} role" in resp.json()["message"]
    # Deleting a Job: admin only (after its Operations end).
    for op_id in [o for u in srv.get(f"jobs/{jid}", token=ADMIN).json()["units"] for o in u["operations"]]:
        srv.token = ADMIN
        srv.wait_terminal(op_id)
    srv.token = None
    assert call(srv, "DELETE", f"jobs/{jid}", OPERATOR) == 403
    assert call(srv, "DELETE", f"jobs/{jid}", ADMIN) == 204
    # Streams: every role follows; no token, no stream.
    with ws(srv, "stream", token=VIEWER) as conn:
        conn.ping().wait(5)
    with pytest.raises(InvalidStatus) as info, ws(srv, "stream", token="not-a-known-token-1"):
        pass
    assert info.value.response.status_code == 401
    # Probes stay open.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert srv.request("GET", path, token="").status == 200
    assert call(srv, "GET", "jobs", None) == 401
    print("\n" + "\n".join(f"{r:8} {m:6} {p:40} {s}" for (r, m, p), s in seen.items()))


def audit(srv: RunningServer, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return list(srv.get(f"audit?{qs}", token=ADMIN).json()["items"])


def test_every_change_is_audited_with_its_actor_and_never_a_token(srv: RunningServer) -> None:
    start = time.time()
    assert call(srv, "POST", "jobs", "wrong-token-wrong-token", {"tag": "audited"}) == 401
    assert call(srv, "POST", "jobs", VIEWER, {"tag": "audited"}) == 403
    made = srv.post("jobs", {"tag": "audited"}, token=OPERATOR).json()
    assert made["created_by"] == "nightly"
    assert call(srv, "DELETE", f"jobs/{made['id']}", ADMIN) == 204
    deleted = ("DELETE", f"job:{made['id']}")
    records = wait_until(
        lambda: (r := audit(srv, limit="4")) and (r[0]["method"], r[0]["target"]) == deleted and r, what="records"
    )
    assert [(r["actor"], r["role"], r["method"], r["status"], r["target"]) for r in reversed(records)] == [
        ("unknown", None, "POST", 401, None),
        ("dashboard", "viewer", "POST", 403, None),
        ("nightly", "operator", "POST", 201, f"job:{made['id']}"),
        ("on-call", "admin", "DELETE", 204, f"job:{made['id']}"),
    ]
    assert all(r["remote"] == "127.0.0.1" and r["path"].startswith("/api/v1/jobs") for r in records)
    # Filters and paging.
    mine = audit(srv, actor="nightly")
    assert mine and {r["actor"] for r in mine} == {"nightly"}
    page = srv.get("audit?limit=1", token=ADMIN).json()
    assert len(page["items"]) == 1 and page["next"]
    older = srv.get(f"audit?limit=1&cursor={page['next']}", token=ADMIN).json()["items"]
    assert older[0]["id"] < page["items"][0]["id"]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 1))
    assert len(audit(srv, after=since, limit="500")) >= 4
    assert call(srv, "GET", "audit?after=yesterday", ADMIN) == 400
    # A method no route has: refused before the path is parsed, recorded all the same.
    assert call(srv, "PUT", "jobs", OPERATOR) == 405
    wait_until(lambda: audit(srv, limit="1")[0]["method"] == "PUT", what="the PUT in the trail")
    assert "Traceback" not in srv.log()
    # The log line, and no token anywhere.
    lines = [json.loads(x) for x in srv.log().splitlines() if '"redrunner.audit"' in x]
    assert any(line["audit"]["actor"] == "unknown" and line["audit"]["status"] == 401 for line in lines)
    everything = srv.log() + json.dumps(audit(srv, limit="500"))
    for token in (VIEWER, OPERATOR, ADMIN, SINGLE, "wrong-token-wrong-token"):
        assert token not in everything


@pytest.mark.slow
def test_requesters_of_operations_retries_reruns_and_schedule_firings(srv: RunningServer, tmp_path: Path) -> None:
    srv.token = OPERATOR
    try:
        job = srv.post("jobs", {"tag": "requesters", "units": ["web"]}).json()
        flaky = {
            "action": "flaky.yml",
            "retries": 1,
            "retry_delay": 0,
            "extravars": {"flaky_marker": str(tmp_path / "m")},
        }
        first = srv.post(f"jobs/{job['id']}/units/web", flaky).json()
        assert first["requested_by"] == "nightly"
        retry = wait_until(
            lambda: [o for o in srv.get(f"operations?job_id={job['id']}").json()["items"] if o["retry_of"]],
            timeout=60,
            what="the retry",
        )[0]
        assert retry["requested_by"] == "nightly"  # a retry keeps its attempt's requester
        srv.wait_terminal(retry["id"])
        [rerun] = srv.post(f"jobs/{job['id']}/rerun", {"statuses": ["successful"]}, token=ADMIN).json()["items"]
        assert rerun["requested_by"] == "on-call"  # a rerun is requested by whoever asked
        srv.wait_terminal(rerun["id"])
        # A schedule's own firing: made by the admin, fired by the scheduler.
        srv.token = ADMIN
        made = srv.post(
            "schedules",
            {
                "name": "firing",
                "cron": "0 3 * * *",
                "tag": "fired",
                "units": ["web"],
                "action": "hello",
                "extravars": {"hello_sleep": 0},
            },
        ).json()
        assert made["created_by"] == "on-call"
        with sqlite3.connect(srv.database[len("sqlite:///") :]) as conn:
            conn.execute("UPDATE schedule SET next_run_at = ? WHERE name = 'firing'", (time.time() - 1,))
        fired = wait_until(lambda: srv.get("jobs?tag=fired").json()["items"], timeout=20, what="the firing")[0]
        assert fired["created_by"] == "schedule:firing"
        op_id = fired["units"][0]["operations"][0]
        assert srv.get(f"operations/{op_id}").json()["requested_by"] == "schedule:firing"
        srv.wait_terminal(op_id)
        # Run now by an operator: requested by that operator.
        ran = srv.post("schedules/firing/run", token=OPERATOR).json()
        assert ran["created_by"] == "nightly"
        ran_op = srv.get(f"operations/{ran['units'][0]['operations'][0]}").json()
        assert ran_op["requested_by"] == "nightly"
        srv.wait_terminal(ran_op["id"])
        hook = srv.post("webhooks", {"url": "http://127.0.0.1:9/h"}).json()
        assert hook["created_by"] == "on-call"
    finally:
        srv.token = None


def test_a_rotated_secret_takes_effect_without_a_restart_and_a_broken_one_is_ignored(
    srv: RunningServer, secret: Path
) -> None:
    new_viewer = "rotated-dashboard-token"
    kubernetes_secret(
        secret, "2026_12_07_01_00_00.2", entry("dashboard", "viewer", new_viewer) + THREE.split("\n", 3)[3]
    )
    wait_until(lambda: srv.get("whoami", token=new_viewer).status == 200, timeout=8, what="the rotated token")
    assert srv.get("whoami", token=VIEWER).status == 401
    assert srv.get("whoami", token=OPERATOR).json()["name"] == "nightly"
    kubernetes_secret(secret, "2026_12_07_02_00_00.3", "- name: dashboard\n  role: boss\n")
    wait_until(lambda: "keeping the 3 tokens loaded before" in srv.log(), timeout=8, what="the refusal logged")
    assert srv.get("whoami", token=new_viewer).status == 200
    kubernetes_secret(secret, "2026_12_07_03_00_00.4", THREE)
    wait_until(lambda: srv.get("whoami", token=VIEWER).status == 200, timeout=8, what="the restored set")


def serve(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}
    cmd = [sys.executable, "-m", "backend", "serve", "--data-dir", str(FIXTURE_DATA), "--state-dir", str(tmp), *args]
    return subprocess.run(cmd, cwd=REPO, env={**base, **(env or {})}, capture_output=True, text=True, timeout=30)


def test_bad_tokens_refuse_the_start_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "tokens.yaml"
    bad.write_text(THREE + entry("nightly", "admin", "another-token-000001"))
    bad.chmod(0o600)
    done = serve(tmp_path, "--tokens-file", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"redrunner: --tokens-file {bad} entry 4 ('nightly'): name 'nightly' is given twice"
    ]
    short = serve(tmp_path, env={"REDRUNNER_TOKEN": "short-token"})
    assert short.returncode == 2 and "at least 16" in short.stderr
