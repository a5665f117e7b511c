"""Roles, the tokens file and its reloading, and the one role table against the routes and the document."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from backend.access import (
    ANONYMOUS_ADMIN,
    ROUTE_ROLES,
    Access,
    Caller,
    Role,
    TokenSet,
    load_access,
    parse_tokens_file,
    required_role,
)
from backend.app import routes
from backend.errors import StartupError
from backend.openapi import openapi_document
from backend.openapi_access import HTTP_METHODS, OPEN_ROLE, openapi_path

VIEWER, OPERATOR, ADMIN = "v" * 20, "o" * 20, "a" * 20


def name_of(handler: Any) -> str:
    """A route's name in the role table (every handler of ours has one)."""
    return str(handler.route_name)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def entries(*items: tuple[str, str, str]) -> str:
    return "".join(f"- name: {n}\n  role: {r}\n  sha256: {sha(t)}\n" for n, r, t in items)


THREE = entries(("dashboard", "viewer", VIEWER), ("nightly", "operator", OPERATOR), ("on-call", "admin", ADMIN))


def test_roles_are_ordered_and_parsed_strictly() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert [str(r) for r in Role] == ["viewer", "operator", "admin"]
    for bad in ("Admin", "root", "", None, 3):
        with pytest.raises(ValueError):
            Role.parse(bad)
    assert Caller("x", Role.OPERATOR).may(Role.VIEWER) and not Caller("x", Role.OPERATOR).may(Role.ADMIN)
    assert Caller("x", Role.VIEWER).may(None)


def test_a_tokens_file_is_read_into_callers_by_digest() -> None:
    found = parse_tokens_file(THREE, "f")
    assert found[sha(OPERATOR)] == Caller("nightly", Role.OPERATOR)
    tokens = TokenSet(found)
    assert tokens.find(VIEWER) == Caller("dashboard", Role.VIEWER)
    assert tokens.find(ADMIN) == Caller("on-call", Role.ADMIN)
    assert tokens.find("x" * 20) is None
    assert parse_tokens_file("", "f") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: a", "must be a YAML list"),
        ("- [1]", "entry 1: must be a mapping"),
        ("- {name: Bad, role: viewer, sha256: " + "a" * 64 + "}", "entry 1 ('Bad'): name must match"),
        ("- {name: a, role: root, sha256: " + "a" * 64 + "}", "entry 1 ('a'): role 'root' is not one of"),
        ("- {name: a, role: admin, sha256: abc}", "entry 1 ('a'): sha256 must be"),
        ("- {name: a, role: admin, sha256: " + "a" * 64 + ", token: x}", "entry 1 ('a'): unknown key 'token'"),
        (
            "- {name: a, role: admin, sha256: " + "a" * 64 + "}\n- {name: a, role: viewer, sha256: " + "b" * 64 + "}",
            "entry 2 ('a'): name 'a' is given twice",
        ),
        (
            "- {name: a, role: admin, sha256: " + "a" * 64 + "}\n- {name: b, role: viewer, sha256: " + "a" * 64 + "}",
            "entry 2 ('b'): the same token as 'a'",
        ),
        ("- {name: a\n  role: [", "is not valid YAML at line"),
    ],
)
def test_a_bad_tokens_file_names_the_entry(text: str, says: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_tokens_file(text, "--tokens-file t.yaml")
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_a_bad_file_refuses_the_start(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("- {name: a, role: boss, sha256: " + "a" * 64 + "}\n")
    with pytest.raises(StartupError, match=r"entry 1 \('a'\): role 'boss'"):
        load_access(None, path)
    with pytest.raises(StartupError, match="cannot read --tokens-file"):
        load_access(None, tmp_path / "missing.yaml")


def test_the_single_token_is_the_admin_and_both_flags_combine(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(entries(("dashboard", "viewer", VIEWER)))
    access = Access("s" * 20, path)
    assert access.identify(f"Bearer {'s' * 20}") == Caller("admin", Role.ADMIN)
    assert access.identify(f"bearer {VIEWER}") == Caller("dashboard", Role.VIEWER)
    assert access.identify(f"Basic {VIEWER}") is None
    assert access.identify("") is None
    assert Access(None, None).identify("") == ANONYMOUS_ADMIN


def kubernetes_secret(folder: Path, version: str, text: str) -> None:
    """What the kubelet does on an update: write a new timestamped dir, then swap `..data` to it atomically."""
    new = folder / f"..{version}"
    new.mkdir()
    (new / "tokens.yaml").write_text(text)
    tmp_link = folder / "..data_tmp"
    tmp_link.symlink_to(new.name)
    os.replace(tmp_link, folder / "..data")
    if not (folder / "tokens.yaml").is_symlink():
        (folder / "tokens.yaml").symlink_to("..data/tokens.yaml")


def test_a_secret_swapped_in_place_is_reloaded_and_a_broken_one_keeps_the_old_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kubernetes_secret(tmp_path, "v1", entries(("dashboard", "viewer", VIEWER)))
    access = Access(None, tmp_path / "tokens.yaml")
    assert access.identify(f"Bearer {VIEWER}") is not None
    assert not access.reload_if_changed()
    # Same size, same second: the symlink swap alone must be seen.
    kubernetes_secret(tmp_path, "v2", entries(("dashboard", "viewer", OPERATOR)))
    assert access.reload_if_changed()
    assert access.identify(f"Bearer {VIEWER}") is None
    assert access.identify(f"Bearer {OPERATOR}") == Caller("dashboard", Role.VIEWER)
    kubernetes_secret(tmp_path, "v3", "- {name: dashboard, role: viewer}\n")
    assert not access.reload_if_changed()
    assert access.identify(f"Bearer {OPERATOR}") == Caller("dashboard", Role.VIEWER)
    assert "keeping the 1 tokens loaded before" in caplog.text
    assert "entry 1 ('dashboard'): sha256 must be" in caplog.text


def test_every_route_and_method_is_in_the_role_table() -> None:
    from tornado import web

    unlisted = [
        (name_of(handler), method)
        for _, handler in routes()
        for method in HTTP_METHODS
        if getattr(handler, method) is not getattr(web.RequestHandler, method)
        and (name_of(handler), method.upper()) not in ROUTE_ROLES
    ]
    assert unlisted == []
    assert required_role("/nowhere", "POST") is Role.ADMIN  # unlisted: admin only


def test_the_contracts_roles() -> None:
    viewer_writes = [k for k, r in ROUTE_ROLES.items() if k[1] != "GET" and r is Role.VIEWER]
    assert viewer_writes == []
    assert required_role("/audit", "GET") is Role.ADMIN
    assert {k for k, r in ROUTE_ROLES.items() if r is None} == {
        ("/healthz", "GET"),
        ("/readyz", "GET"),
        ("/metrics", "GET"),
    }
    operator = {k for k, r in ROUTE_ROLES.items() if r is Role.OPERATOR}
    assert ("/jobs/{id}", "DELETE") not in operator and ("/schedules", "POST") not in operator
    assert ("/schedules/{name}/run", "POST") in operator and ("/operations/{id}/cancel", "POST") in operator


def test_every_operation_documents_its_role_and_its_auth_errors() -> None:
    doc = openapi_document()
    for pattern, handler in routes():
        path = doc["paths"][openapi_path(pattern)]
        for method in HTTP_METHODS:
            operation = path.get(method)
            if operation is None:
                continue
            role = required_role(name_of(handler), method)
            assert operation["x-required-role"] == (str(role) if role else OPEN_ROLE), (method, pattern)
            if role is not None:
                responses = operation["responses"]
                assert {"400", "401", "403"} <= set(responses), (method, pattern)
                assert "forbidden_role" in responses["403"]["description"]
            else:
                assert operation["security"] == []
