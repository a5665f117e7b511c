"""The modules' DOCUMENTATION, EXAMPLES and RETURN parse, and document exactly the options they accept."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.runner_utils.playbooks import RUNNER_UTILS

MODULES = sorted((RUNNER_UTILS / "library").glob("redrunner_*.py"))


def blocks(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                found[target.id] = node.value.value
    return found


def argument_spec_keys(path: Path) -> set[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "argument_spec" and isinstance(node.value, ast.Call):
            return {kw.arg for kw in node.value.keywords if kw.arg}
    raise AssertionError(f"no argument_spec in {path}")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_documents_its_options(path: Path) -> None:
    docs = blocks(path)
    doc = yaml.safe_load(docs["DOCUMENTATION"])
    assert doc["module"] == path.stem
    assert set(doc["options"]) == argument_spec_keys(path)
    assert yaml.safe_load(docs["RETURN"]) and yaml.safe_load(docs["EXAMPLES"])
