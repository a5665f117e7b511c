"""The backup role's own module (roles/backup/library/sealed_backup.py), run ad hoc with `ansible`, for the
refusals a playbook run cannot reach: the role never names a folder that exists, but the module must not
write into one or seal over one even if asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runner_utils.playbooks import COMPONENTS, run_module

pytestmark = pytest.mark.slow

LIBRARY = COMPONENTS / "project" / "roles" / "backup" / "library"


def sealed_backup(args: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """One call of the module on localhost; its result."""
    return run_module("sealed_backup", args, cwd=cwd, action_plugins=False, library=LIBRARY)


def test_prepare_never_writes_into_a_folder_that_exists(tmp_path: Path) -> None:
    staging = tmp_path / "files" / ".staging-20261128T020000Z-backup-job1-op1-abc"
    staging.mkdir(parents=True)
    (staging / "left.txt").write_text("someone else's\n")
    result = sealed_backup({"step": "prepare", "folder": str(staging)}, tmp_path)
    assert result["failed"] and "never writes into a folder it did not create" in result["msg"], result
    assert [p.name for p in staging.iterdir()] == ["left.txt"]


def test_seal_never_replaces_a_sealed_folder(tmp_path: Path) -> None:
    root = tmp_path / "files"
    staging, sealed = root / ".staging-b", root / "b"
    staging.mkdir(parents=True)
    (staging / "data.bin").write_bytes(b"new")
    sealed.mkdir()  # empty: rename(2) alone would replace it without a word
    args = {"step": "seal", "folder": str(staging), "sealed": str(sealed), "files": ["data.bin"]}
    result = sealed_backup({**args, "manifest": {"component": "files"}}, tmp_path)
    assert result["failed"] and "a sealed backup is never replaced" in result["msg"], result
    assert list(sealed.iterdir()) == [] and (staging / "data.bin").read_bytes() == b"new"

    sealed.rmdir()
    done = sealed_backup({**args, "manifest": {"component": "files"}}, tmp_path)
    assert not done["failed"] and done["backup"]["path"] == str(sealed), done
    manifest = json.loads((sealed / "manifest.json").read_text())
    assert manifest["component"] == "files" and manifest["files"][0]["size"] == 3
    opened = sealed_backup({"step": "open", "folder": str(sealed), "component": "files"}, tmp_path)
    assert not opened["failed"] and opened["sha256"] == done["backup"]["sha256"], opened


def test_manifest_names_stay_inside_the_backup_folder(tmp_path: Path) -> None:
    root = tmp_path / "files"
    staging, sealed = root / ".staging-c", root / "c"
    staging.mkdir(parents=True)
    (staging / "data.bin").write_bytes(b"data")
    args = {"step": "seal", "folder": str(staging), "sealed": str(sealed), "manifest": {"component": "files"}}
    refused = sealed_backup({**args, "files": ["../c/data.bin"]}, tmp_path)
    assert refused["failed"] and "climbs out of the folder" in refused["msg"], refused
    assert sealed_backup({**args, "files": ["data.bin"]}, tmp_path)["failed"] is False

    # A manifest rewritten to name a file elsewhere, its digest right: verification fails, whatever the digest.
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"data")
    manifest = json.loads((sealed / "manifest.json").read_text())
    for name, why in ((str(outside), "an absolute name"), ("../../elsewhere.bin", "climbs out of the folder")):
        manifest["files"][0]["name"] = name
        (sealed / "manifest.json").write_text(json.dumps(manifest))
        opened = sealed_backup({"step": "open", "folder": str(sealed), "component": "files"}, tmp_path)
        assert opened["failed"] and why in opened["msg"] and "not restoring" in opened["msg"], opened
