"""The modules' DOCUMENTATION, EXAMPLES and RETURN parse, and document exactly the options they accept:
their own in DOCUMENTATION, the shared connection options once, in the `redrunner` doc fragment."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runner_utils.playbooks import BIN, RUNNER_UTILS, ansible_env

sys.path.insert(0, str(RUNNER_UTILS / "module_utils"))
import redrunner_api as api

MODULES = sorted((RUNNER_UTILS / "library").glob("redrunner_*.py"))
FRAGMENT = RUNNER_UTILS / "doc_fragments" / "redrunner.py"


def blocks(path: Path) -> dict[str, str]:
    """Module-level (and class-level) string constants, read without importing the file."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                found[target.id] = node.value.value
    return found


def argument_spec_keys(path: Path) -> set[str]:
    """The module's own options: `ARGUMENT_SPEC = connection_argument_spec(...)` (which its action plugin
    also checks arguments against) or `argument_spec=connection_argument_spec(...)` in main()."""
    for node in ast.walk(ast.parse(path.read_text())):
        keyword = isinstance(node, ast.keyword) and node.arg == "argument_spec"
        constant = isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["ARGUMENT_SPEC"]
        call = getattr(node, "value", None) if keyword or constant else None
        if isinstance(call, ast.Call):
            assert isinstance(call.func, ast.Name) and call.func.id == "connection_argument_spec"
            return {kw.arg for kw in call.keywords if kw.arg}
    raise AssertionError(f"no argument_spec in {path}")


def fragment_options() -> dict[str, Any]:
    return dict(yaml.safe_load(blocks(FRAGMENT)["DOCUMENTATION"])["options"])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_documents_its_options(path: Path) -> None:
    docs = blocks(path)
    doc = yaml.safe_load(docs["DOCUMENTATION"])
    assert doc["module"] == path.stem
    assert doc["extends_documentation_fragment"] == "redrunner"
    assert set(doc["options"]) == argument_spec_keys(path)
    assert not set(doc["options"]) & set(api.CONNECTION_ARGUMENT_SPEC), "connection options are the fragment's"
    assert yaml.safe_load(docs["RETURN"]) and yaml.safe_load(docs["EXAMPLES"])


def test_the_fragment_documents_the_shared_connection_options_as_defined() -> None:
    options = fragment_options()
    assert set(options) == set(api.CONNECTION_ARGUMENT_SPEC)
    for name, spec in api.CONNECTION_ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
        env = spec.get("fallback", (None, []))[1]
        for var in env:
            assert f"E({var})" in options[name]["description"], (name, var)


def test_ansible_doc_renders_each_module_with_the_fragment(tmp_path: Path) -> None:
    env = ansible_env({"ANSIBLE_DOC_FRAGMENT_PLUGINS": str(RUNNER_UTILS / "doc_fragments")})
    for path in MODULES:
        proc = subprocess.run(
            [str(BIN / "ansible-doc"), "-M", str(RUNNER_UTILS / "library"), "--json", path.stem],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        options = json.loads(proc.stdout)[path.stem]["doc"]["options"]
        assert set(options) == argument_spec_keys(path) | set(api.CONNECTION_ARGUMENT_SPEC)
