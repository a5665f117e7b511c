"""Which files the image would hold, worked out without building it (no Docker engine here).

The image's files are what the runtime stage COPYs from the build context (after .dockerignore)
plus the package the build stage installs into the venv, which is the wheel pip builds from the
same context. The tests compare that list with what the client, the console and the plays need.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

from tests.deploy import dockerignore
from tests.deploy.conftest import REPO
from tests.deploy.dockerfile import Dockerfile, Instruction


def copy_sources(instruction: Instruction) -> list[str]:
    """The context paths a COPY takes (none for COPY --from=stage)."""
    words = instruction.args.split()
    if any(w.startswith("--from=") for w in words):
        return []
    paths = [w for w in words if not w.startswith("--")]
    return paths[:-1]


def context_files(rules: list[dockerignore.Rule]) -> list[str]:
    """Files of the working tree that the build context would hold."""
    files = []
    for root, dirs, names in os.walk(REPO):
        rel_root = Path(root).relative_to(REPO).as_posix()
        # Large trees that no rule re-includes: skip walking them.
        dirs[:] = [d for d in dirs if not (rel_root == "." and d in (".git", ".venv"))]
        for name in names:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            if dockerignore.included(rules, rel):
                files.append(rel)
    return sorted(files)


def _under(rel: str, source: str) -> str | None:
    """`rel` relative to the COPY source `source`, or None when the source does not take it."""
    source = source.rstrip("/")
    if rel == source:
        return PurePosixPath(rel).name
    if rel.startswith(source + "/"):
        return rel[len(source) + 1 :]
    return None


def copied_files(dockerfile: Dockerfile, stage_index: int) -> dict[str, str]:
    """{path in the stage: path in the context} for the stage's COPYs from the context."""
    files = context_files(dockerignore.load(REPO / ".dockerignore"))
    stage = dockerfile.stages[stage_index]
    workdir = "/"
    placed: dict[str, str] = {}
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = instruction.args
        if instruction.keyword != "COPY" or not copy_sources(instruction):
            continue
        *sources, dest = instruction.args.split()
        target = PurePosixPath(dest if dest.startswith("/") else f"{workdir}/{dest}")
        for source in sources:
            for rel in files:
                inner = _under(rel, source)
                if inner is not None:
                    placed[str(target / inner)] = rel
    return placed


def build_wheel(dockerfile: Dockerfile, tmp: Path) -> Path:
    """Replay the build stage's COPYs from the filtered context and build the wheel it installs."""
    build_dir = tmp / "build-stage"
    for image_path, rel in copied_files(dockerfile, 0).items():
        target = build_dir / image_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    source = build_dir / dockerfile.stages[0].last("WORKDIR").args.lstrip("/")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp / "dist").glob("redrunner-*.whl")
    return wheel


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())
