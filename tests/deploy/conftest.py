from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.dockerfile import Dockerfile, parse
from tests.deploy.kustomize import render

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("single", "postgres")
EXAMPLES = ("app-volume", "app-volume-restore", "network-policy", "git-sync")
KUSTOMIZATIONS = ("base", *(f"overlays/{name}" for name in OVERLAYS), *(f"examples/{name}" for name in EXAMPLES))


@pytest.fixture(scope="session")
def dockerfile() -> Dockerfile:
    return parse(REPO / "Dockerfile")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every kustomization in deploy/, rendered once: {"base": [...], "overlays/single": [...], ...}."""
    return {name: render(DEPLOY / name) for name in KUSTOMIZATIONS}
