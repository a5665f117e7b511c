"""`redrunner audit`, `redrunner token new`, and who made what in the tables (api.md "Access and audit")."""

from __future__ import annotations

import hashlib

from backend.access import Caller, Role, parse_tokens_file
from tests.cli.conftest import Cli, redrunner
from tests.support.server import wait_until


def test_audit_lists_who_changed_what_as_json_and_as_a_table(cli: Cli) -> None:
    made = cli.server.post("jobs", {"tag": "cli-audit"}).json()
    assert cli.server.delete(f"jobs/{made['id']}").status == 204
    records = wait_until(
        lambda: (
            (r := cli("audit", "--actor", "admin", "-o", "json").json())
            and r[0]["target"] == f"job:{made['id']}"
            and r[0]["method"] == "DELETE"
            and r
        ),
        what="the DELETE in the trail",
    )
    assert (records[0]["actor"], records[0]["role"], records[0]["target"]) == ("admin", "admin", f"job:{made['id']}")
    assert records[1]["method"] == "POST" and records[1]["status"] == 201
    table = cli("audit", "--limit", "2").stdout.splitlines()
    assert table[0].split() == ["AT", "ACTOR", "ROLE", "METHOD", "PATH", "STATUS", "TARGET", "REMOTE"]
    assert table[1].split()[1:6] == ["admin", "admin", "DELETE", f"/api/v1/jobs/{made['id']}", "204"]
    assert cli("audit", "--actor", "nobody", "-o", "json").json() == []


def test_tables_say_who_created_a_job(cli: Cli) -> None:
    cli.server.post("jobs", {"tag": "cli-by", "units": ["a"]})
    header, row = cli("jobs", "--tag", "cli-by").stdout.splitlines()
    assert header.split()[-2:] == ["CREATED", "BY"] and row.split()[-1] == "admin"


def test_token_new_prints_a_token_and_the_entry_holding_its_digest_only() -> None:
    made = redrunner("token", "new", "nightly", "--role", "operator")
    assert made.returncode == 0, made.stderr
    token, *entry = made.stdout.splitlines()
    assert len(token) >= 32 and token not in "\n".join(entry)
    parsed = parse_tokens_file("\n".join(entry), "out")
    assert parsed == {hashlib.sha256(token.encode()).hexdigest(): Caller("nightly", Role.OPERATOR)}
    assert redrunner("token", "new", "nightly", "--role", "operator").stdout.splitlines()[0] != token
    assert redrunner("token", "new", "Not Ok", "--role", "viewer").returncode == 2
    assert redrunner("token", "new", "x", "--role", "root").returncode == 2
