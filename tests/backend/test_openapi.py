"""The served OpenAPI document describes every registered route."""

from __future__ import annotations

import re

from backend.app import routes
from backend.openapi import openapi_document
from tests.support.inprocess import InProcessServer


def _template(pattern: str) -> str:
    """/api/v1/jobs/(?P<job_id>[^/]+)/units -> /api/v1/jobs/{job_id}/units"""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).replace("\\", "")


def test_every_route_is_documented(app_server: InProcessServer) -> None:
    served = app_server.get("openapi.json")
    assert served.status == 200
    doc = served.json()
    assert doc == openapi_document()
    assert doc["openapi"].startswith("3.")
    documented = set(doc["paths"])
    registered = {_template(pattern) for pattern, _ in routes()}
    assert registered - documented == set()
    assert documented - registered == set()
    for pattern, handler in routes():
        path = doc["paths"][_template(pattern)]
        for method in ("get", "post", "delete", "put", "patch"):
            if method in vars(handler):
                assert method in path, f"{method.upper()} {pattern} is not documented"


def test_document_refs_resolve() -> None:
    doc = openapi_document()
    text = str(doc)
    for ref in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert ref in doc["components"]["schemas"], ref
