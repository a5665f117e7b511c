"""The image holds what `kubectl exec deploy/redrunner -- ...` needs: the client, the console, the plays.

The file list comes from the Dockerfile and the build context (tests/deploy/imagefiles.py); the
needs come from the code itself: the modules the client and the console import, the files the
plays import and the modules they call, the paths deploy/README.md tells users to run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import REPO
from tests.deploy.dockerfile import Dockerfile
from tests.deploy.imagefiles import build_wheel, copied_files, wheel_names

PLAYS_IN_IMAGE = PurePosixPath("/srv/redrunner/runner_utils")
PLAYS = ("backup-each.yml", "restore-each.yml", "verify-each.yml")


@pytest.fixture(scope="module")
def runtime_files(dockerfile: Dockerfile) -> dict[str, str]:
    return copied_files(dockerfile, len(dockerfile.stages) - 1)


@pytest.fixture(scope="module")
def installed(dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Paths (relative to site-packages) of the package the build stage installs."""
    return wheel_names(build_wheel(dockerfile, tmp_path_factory.mktemp("wheel")))


def loaded_modules(*modules: str) -> dict[str, Any]:
    """In a fresh interpreter: the project files importing `modules` loads, and whether Textual came along."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        "files = [getattr(m, '__file__', None) for m in list(sys.modules.values())]\n"
        f"print(json.dumps({{'files': [f for f in files if f and f.startswith({str(REPO)!r})],"
        " 'textual': 'textual' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found: dict[str, Any] = json.loads(proc.stdout)
    relative = (Path(f).relative_to(REPO).as_posix() for f in found["files"])
    # The project's own modules; third-party ones come from the declared dependencies.
    found["files"] = sorted(f for f in relative if f.startswith(("backend/", "console/")))
    return found


@pytest.mark.slow
def test_the_client_subcommands_are_installed_without_textual(installed: set[str]) -> None:
    client = loaded_modules("backend.cli", "console.commandline.arguments", "console.commandline.subcommands")
    assert "console/commandline/subcommands.py" in client["files"]
    assert not client["textual"], "the command-line client must start without the Textual console"
    missing = [f for f in client["files"] if f not in installed]
    assert missing == [], f"imported by the client but not in the image: {missing}"


@pytest.mark.slow
def test_the_console_is_installed_with_its_stylesheet(installed: set[str]) -> None:
    console = loaded_modules("console.cli", "console.app")
    missing = [f for f in console["files"] if f not in installed]
    assert missing == [], f"imported by the console but not in the image: {missing}"
    stylesheets = {p.relative_to(REPO).as_posix() for p in (REPO / "console").rglob("*.tcss")}
    assert stylesheets and stylesheets <= installed


def play_references(path: Path) -> tuple[set[str], set[str]]:
    """(task files it imports or includes, non-builtin modules it calls) in one play or task file."""
    files: set[str] = set()
    modules: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                short = str(key).removeprefix("ansible.builtin.")
                if short in ("import_tasks", "include_tasks") and isinstance(value, str):
                    files.add(value)
                elif re.fullmatch(r"redrunner_[a-z_]+", str(key)) and isinstance(value, dict):
                    modules.add(str(key))  # a task calling the module, or its module_defaults
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(path.read_text()))
    return files, modules


def test_the_plays_and_everything_they_use_are_in_the_image(runtime_files: dict[str, str]) -> None:
    in_image = {PurePosixPath(p) for p in runtime_files}
    tracked = subprocess.run(
        ["git", "ls-files", "runner_utils"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "runner_utils/ has no tracked files"
    for rel in tracked:
        assert PLAYS_IN_IMAGE / PurePosixPath(rel).relative_to("runner_utils") in in_image, rel

    pending = [REPO / "runner_utils" / play for play in PLAYS]
    seen: set[Path] = set()
    modules: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        files, called = play_references(path)
        modules |= called
        for name in files:
            # Ansible looks beside the including file, then in the play's directory.
            candidates = [path.parent / name, REPO / "runner_utils" / name]
            found = next((c for c in candidates if c.is_file()), None)
            assert found is not None, f"{path.name} imports {name}, which does not exist"
            assert PLAYS_IN_IMAGE / found.relative_to(REPO / "runner_utils") in in_image
            pending.append(found)
    assert {"redrunner_job", "redrunner_operation"} <= modules
    for module in modules:
        library = PLAYS_IN_IMAGE / "library" / f"{module}.py"
        assert library in in_image, f"the plays call {module}, which the image lacks"
        source = (REPO / "runner_utils" / "library" / f"{module}.py").read_text()
        for util in re.findall(r"ansible\.module_utils\.(\w+)", source):
            if util != "basic":
                assert PLAYS_IN_IMAGE / "module_utils" / f"{util}.py" in in_image, util


def test_paths_the_deploy_guide_runs_are_in_the_image(runtime_files: dict[str, str]) -> None:
    guide = (REPO / "deploy" / "README.md").read_text()
    paths = set(re.findall(r"/srv/redrunner/[\w./-]*\w", guide))
    assert any(p.startswith(str(PLAYS_IN_IMAGE)) for p in paths), "the guide never runs the plays in the pod"
    for path in paths:
        assert any(f == path or f.startswith(path + "/") for f in runtime_files), f"{path}: not in the image"
