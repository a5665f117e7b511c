"""Roles and the audit trail on two replicas sharing one PostgreSQL database (api.md "Access and audit")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backend.test_access import ADMIN, OPERATOR, THREE, VIEWER, entry, kubernetes_secret
from tests.backend.test_postgres import pg_url  # noqa: F401 - the fixture: a fresh database per test
from tests.support.server import RunningServer, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_both_replicas_check_roles_and_share_one_audit_trail(
    pg_url: str,  # noqa: F811
    server_factory: Callable[..., RunningServer],
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    kubernetes_secret(secret, "v1", THREE)
    a, b = (
        server_factory(
            database=pg_url, name=rid, args=["--replica-id", rid, "--tokens-file", str(secret / "tokens.yaml")]
        )
        for rid in ("replica-a", "replica-b")
    )
    for srv in (a, b):
        assert srv.get("whoami", token=OPERATOR).json() == {"name": "nightly", "role": "operator"}
        assert srv.post("jobs", {"tag": "pg"}, token=VIEWER).status == 403
        assert srv.get("audit", token=OPERATOR).status == 403
    job = a.post("jobs", {"tag": "pg", "units": ["web"]}, token=OPERATOR).json()
    op = b.post(f"jobs/{job['id']}/units/web", {"action": "hello", "extravars": {"hello_sleep": 0}}, token=OPERATOR)
    assert op.status == 202
    a.token = ADMIN
    done = a.wait_terminal(op.json()["id"])
    assert done["requested_by"] == "nightly" and a.get(f"jobs/{job['id']}").json()["created_by"] == "nightly"
    assert b.delete(f"jobs/{job['id']}", token=OPERATOR).status == 403
    assert b.delete(f"jobs/{job['id']}", token=ADMIN).status == 204

    def trail(srv: RunningServer) -> list[tuple[str, str, int]]:
        items = srv.get("audit?limit=500", token=ADMIN).json()["items"]
        return [(r["actor"], r["method"], r["status"]) for r in items]

    expected = [
        ("on-call", "DELETE", 204),
        ("nightly", "DELETE", 403),
        ("nightly", "POST", 202),
        ("nightly", "POST", 201),
    ]
    # Both replicas' records, newest first, whichever replica is asked.
    wait_until(lambda: trail(a)[:4] == expected, timeout=10, what="the shared trail on A")
    assert trail(b)[:4] == expected
    assert sorted(trail(b)[4:]) == [("dashboard", "POST", 403)] * 2
    # A rotation reaches both.
    kubernetes_secret(secret, "v2", entry("dashboard", "operator", VIEWER))

    def rotated(srv: RunningServer) -> bool:
        return bool(srv.get("whoami", token=VIEWER).json()["role"] == "operator")

    for srv in (a, b):
        wait_until(lambda srv=srv: rotated(srv), timeout=8, what="rotation")  # type: ignore[misc]
        assert srv.get("whoami", token=ADMIN).status == 401
