"""The files role's archive module (roles/files/library/files_archive.py), run ad hoc with `ansible`: each
compressor it can pick writes an archive tar unpacks to the tree, digested as written; it never replaces a
file, which a playbook run cannot reach (the staging folder is new)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.components import appdata
from tests.runner_utils.playbooks import COMPONENTS, run_module

pytestmark = pytest.mark.slow

LIBRARY = COMPONENTS / "project" / "roles" / "files" / "library"


def files_archive(args: dict[str, Any], cwd: Path) -> dict[str, Any]:
    return run_module("files_archive", args, cwd=cwd, action_plugins=False, library=LIBRARY)


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_the_archive_unpacks_to_the_tree_and_its_digest_is_the_files(tmp_path: Path, compression: str) -> None:
    if not shutil.which(compression):
        pytest.skip(f"{compression} is not installed")
    src, folder, out = tmp_path / "src", tmp_path / "staging", tmp_path / "out"
    src.mkdir(mode=0o750)
    appdata.make_files(src)
    folder.mkdir()
    out.mkdir()
    result = files_archive({"path": str(src), "folder": str(folder), "compression": compression}, tmp_path)
    suffix = ".zst" if compression == "zstd" else ".gz"
    assert result["changed"] and result["name"] == f"files.tar{suffix}", result
    archive = folder / result["name"]
    assert result["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert result["bytes"] == archive.stat().st_size
    assert archive.stat().st_mode & 0o777 == 0o600
    unpack = ["tar", "--extract", "--preserve-permissions", f"--file={archive}", f"--directory={out}"]
    subprocess.run(unpack, check=True)
    assert appdata.files_snapshot(out) == appdata.files_snapshot(src)


def test_an_existing_archive_is_never_replaced_and_a_missing_tree_is_refused(tmp_path: Path) -> None:
    src, folder = tmp_path / "src", tmp_path / "staging"
    src.mkdir()
    folder.mkdir()
    (folder / "files.tar.gz").write_bytes(b"someone else's")
    taken = files_archive({"path": str(src), "folder": str(folder), "compression": "gzip"}, tmp_path)
    assert taken["failed"] and "File exists" in taken["msg"], taken
    assert (folder / "files.tar.gz").read_bytes() == b"someone else's"
    missing = files_archive({"path": str(tmp_path / "nope"), "folder": str(folder)}, tmp_path)
    assert missing["failed"] and "is not a directory: nothing to back up" in missing["msg"], missing
