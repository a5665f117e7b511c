"""The files role's own module (roles/files/library/files_tree.py), its functions called directly: the one-pass
archive (listed and hashed as it is written, with zstd or gzip) and the comparison a drill makes."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.components import appdata
from tests.runner_utils.playbooks import COMPONENTS


def load() -> ModuleType:
    path = COMPONENTS / "project" / "roles" / "files" / "library" / "files_tree.py"
    spec = importlib.util.spec_from_file_location("files_tree_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


files_tree = load()


@pytest.mark.parametrize("command", [["gzip", "-c"], ["zstd", "-T0", "-3", "-q", "-c"]], ids=["gzip", "zstd"])
def test_one_pass_archive_lists_what_unpacks_and_hashes_what_it_wrote(tmp_path: Path, command: list[str]) -> None:
    if not shutil.which(command[0]):
        pytest.skip(f"no {command[0]}")
    src = tmp_path / "uploads"
    src.mkdir(mode=0o750)
    appdata.make_files(src)
    (src / "hard").hardlink_to(src / "README.txt")
    archive, listing = tmp_path / "files.tar.x", tmp_path / "files.tree.jsonl"
    entries, measured = files_tree.write_archive(str(src), str(archive), str(listing), command)
    assert measured == {"size": archive.stat().st_size, "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}
    listed = [tuple(json.loads(line)) for line in listing.read_text().splitlines()]
    assert len(listed) == entries and ("", "dir", 0o750, 0, "") in listed
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "--extract", "-p", f"--file={archive}", f"--directory={out}"], check=True)
    assert files_tree.tree_entries(str(out)) == listed
    assert files_tree.first_difference(listed, files_tree.tree_entries(str(out))) is None
    (out / "README.txt").write_text("defaced\n")
    (out / "avatars" / "2026" / "zero").unlink()
    difference = files_tree.first_difference(listed, files_tree.tree_entries(str(out)))
    assert difference.startswith("README.txt: the backup lists a file, mode") and "its scratch restore has a file" in (
        difference
    )


def test_a_failed_archive_says_why(tmp_path: Path) -> None:
    with pytest.raises(files_tree.ArchiveError, match="tar exited 2"):
        files_tree.write_archive(str(tmp_path / "nowhere"), str(tmp_path / "a"), str(tmp_path / "l"), ["gzip", "-c"])
