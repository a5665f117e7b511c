"""Backup retention that follows Job retention: a backup lives as long as the Job that made it.

A backup Operation publishes where its sealed backup is (`artifacts.redrunner_backup.path`). When its
Job is deleted (DELETE /jobs/{id}, or retention's prune, which goes through the same deletion), those
folders are removed, with every guard that an operator's shared backup volume deserves: only under the
configured backup root (never the root itself, never through a symlink), only a folder that holds a
manifest (a sealed backup, not a component's folder of backups), and never one that an Operation of
another Job also names.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def published_paths(artifacts: Iterable[str | None]) -> list[str]:
    """The backup folders named by Operations' artifacts (their stored JSON text), in order, once each."""
    found: list[str] = []
    for text in artifacts:
        if not text:
            continue
        try:
            backup = json.loads(text).get("redrunner_backup")
        except (ValueError, AttributeError):
            continue
        path = backup.get("path") if isinstance(backup, dict) else None
        if isinstance(path, str) and path and path not in found:
            found.append(path)
    return found


def removable(path: str, root: Path) -> Path | None:
    """The folder to remove for a published `path`, or None when any guard says no."""
    candidate = Path(path)
    if not candidate.is_absolute() or candidate.name in ("", ".", ".."):
        return None
    try:
        real_root = root.resolve(strict=True)
        parent = candidate.parent.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    target = parent / candidate.name  # the last part is not followed: a symlink is never removed through
    if target == real_root or not target.is_relative_to(real_root):
        return None
    if target.is_symlink() or not target.is_dir() or not (target / MANIFEST).is_file():
        return None
    return target


def remove_backup_folders(paths: Iterable[str], root: Path | None) -> list[Path]:
    """Remove the sealed backup folders `paths` that pass the guards; returns what was removed.

    Called after the Job's rows are gone (commands.delete_job); callable by any retention code."""
    if root is None:
        return []
    removed: list[Path] = []
    for path in paths:
        target = removable(path, root)
        if target is None:
            log.info("backup folder %s kept: not a sealed backup under the backup root %s", path, root)
            continue
        try:
            shutil.rmtree(target)
        except OSError as exc:
            log.warning("could not remove backup folder %s: %s", target, exc)
            continue
        log.info("removed backup folder %s with its job", target)
        removed.append(target)
    return removed
