"""Reading rendered Kubernetes objects: shared by the manifest tests and the image contract tests."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

SQLITE, POSTGRES = "overlays/single", "overlays/postgres"


def find(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Obj], kind: str) -> Obj:
    (found,) = find(objects, kind)
    return found


def pod_spec(objects: list[Obj]) -> Obj:
    spec: Obj = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def server_container(objects: list[Obj]) -> Obj:
    (container,) = pod_spec(objects)["containers"]
    return dict(container)


def settings(objects: list[Obj]) -> dict[str, str]:
    return dict(one(objects, "ConfigMap")["data"])
