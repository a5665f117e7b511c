"""Whether a published sealed backup is still there to restore: checked for every Unit before
`POST /jobs/{id}/restore` creates anything (api.md "Backups kept and proven": all or nothing, as
runner_utils/restore-each.yml).

The layout is the backup role's (components/project/roles/backup/library/sealed_backup.py): a sealed
folder holding its files and `manifest.json`, whose sha256 (of its bytes as written) is what the backup
published. This check is the cheap part of the role's `open` step: the folder, the manifest and its
digest, and each listed file's presence and size. The files' own digests are left to the restore
playbook, which verifies them before it touches live data: re-reading large archives here would hold a
db thread for minutes. Paths are read on the server's file system: the components back up on localhost.
Blocking file reads: call it on the db thread pool, never on the IOLoop.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from typing import Any

MANIFEST_NAME = "manifest.json"
# A manifest lists names, sizes and digests: far below this. A larger file is not one (and is not read).
MANIFEST_LIMIT = 16 * 1024 * 1024

# Why a backup is unusable (the `reason` codes of a restore's `skipped` entries).
MISSING_FOLDER = "missing_folder"
MISSING_MANIFEST = "missing_manifest"
DIGEST_MISMATCH = "digest_mismatch"
BAD_MANIFEST = "bad_manifest"
MISSING_FILE = "missing_file"
SIZE_MISMATCH = "size_mismatch"


@dataclass(frozen=True)
class Unusable:
    """Why one Unit's backup cannot be restored: a stable `reason` code and a sentence naming the path."""

    unit: str
    reason: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"unit": self.unit, "reason": self.reason, "message": self.message}


def check_sealed(path: str, sha256: str | None) -> tuple[str, str] | None:
    """(reason, message) when the sealed backup at `path` cannot be restored; None when it can.
    `sha256` is the manifest's digest as the backup published it (not compared when None)."""
    if not os.path.isabs(path) or not os.path.isdir(path):
        return MISSING_FOLDER, f"no sealed backup folder {path}"
    manifest_path = os.path.join(path, MANIFEST_NAME)
    try:
        with open(manifest_path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return MISSING_MANIFEST, f"{manifest_path} is not a file"
            data = f.read(MANIFEST_LIMIT + 1)  # read once: the bytes checked are the bytes parsed
    except FileNotFoundError:
        return MISSING_MANIFEST, f"no {MANIFEST_NAME} in {path}: the backup was never sealed or was tampered with"
    except OSError as exc:
        return MISSING_MANIFEST, f"cannot read {manifest_path}: {exc.strerror or exc}"
    if len(data) > MANIFEST_LIMIT:
        return BAD_MANIFEST, f"{manifest_path} is larger than a manifest ({MANIFEST_LIMIT} bytes)"
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256:
        return DIGEST_MISMATCH, f"{manifest_path} has sha256 {digest}, not {sha256} as its backup published"
    entries = _entries(data)
    if entries is None:
        return BAD_MANIFEST, f"{manifest_path} does not read as a manifest (files: a list of {{name, size}})"
    return _check_files(path, entries)


def _entries(data: bytes) -> list[tuple[str, int]] | None:
    """The manifest's (name, size) entries, or None when it is not a manifest."""
    try:
        manifest = json.loads(data)
    except ValueError:
        return None
    files = manifest.get("files", []) if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        return None
    found = []
    for entry in files:
        if not isinstance(entry, dict):
            return None
        name, size = entry.get("name"), entry.get("size")
        if not isinstance(name, str) or not name or "\0" in name:
            return None
        if not isinstance(size, int) or isinstance(size, bool):
            return None
        found.append((name, size))
    return found


def _check_files(folder: str, entries: list[tuple[str, int]]) -> tuple[str, str] | None:
    root = os.path.normpath(folder)
    for name, size in entries:
        file_path = os.path.normpath(os.path.join(root, name))
        # Never look outside the folder, whatever the manifest names (the restore refuses such names too).
        if file_path == root or os.path.commonpath([root, file_path]) != root:
            return BAD_MANIFEST, f"the manifest in {folder} names {name!r}, outside its folder"
        try:
            st = os.lstat(file_path)
        except OSError:
            return MISSING_FILE, f"backup file {file_path} listed in the manifest is missing"
        if not stat.S_ISREG(st.st_mode):
            return MISSING_FILE, f"backup file {file_path} listed in the manifest is not a regular file"
        if st.st_size != size:
            return SIZE_MISMATCH, f"backup file {file_path} has {st.st_size} bytes, not {size} as its manifest lists"
    return None


# A published `host` naming one of these is the server's own; any other host's folders cannot be seen here.
LOCAL_HOSTS = frozenset(("", "localhost", "127.0.0.1", "::1"))


def unusable(backups: dict[str, dict[str, Any]], units: list[str]) -> list[Unusable]:
    """Those of `units` whose published backup (backup_records.job_backups' dicts) cannot be restored, in
    `units` order. A backup that published no path (a plain playbook's) is not checked: its restore finds
    its data itself; nor is one that names another `host` in redrunner_backup (its folder is not on this
    server's file system: its restore playbook checks it there)."""
    found = []
    for unit in units:
        path = backups.get(unit, {}).get("path")
        if not path or (backups[unit].get("host") or "") not in LOCAL_HOSTS:
            continue
        why = check_sealed(path, backups[unit].get("sha256"))
        if why is not None:
            found.append(Unusable(unit, *why))
    return found
