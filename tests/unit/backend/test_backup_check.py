"""backend/backup_check.py: a published sealed backup is checked (folder, manifest, its digest, each
listed file and its size) before a restore starts, on a tmp folder written as the backup role writes one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend import backup_check
from tests.support.backup_project import seal_backup


def sealed(tmp_path: Path, name: str = "b1") -> tuple[Path, str]:
    published = seal_backup(tmp_path / name, {"dump.sql": b"-- a dump\n", "sub/extra.bin": b"\0" * 100})
    return Path(published["sealed_path"]), published["sealed_sha256"]


def test_a_good_backup_passes(tmp_path: Path) -> None:
    folder, sha256 = sealed(tmp_path)
    assert backup_check.check_sealed(str(folder), sha256) is None
    assert backup_check.check_sealed(str(folder), None) is None  # no published digest: the rest still checked


def test_a_missing_folder_or_manifest(tmp_path: Path) -> None:
    assert backup_check.check_sealed(str(tmp_path / "gone"), "x")[0] == backup_check.MISSING_FOLDER  # type: ignore[index]
    assert backup_check.check_sealed("relative/path", None)[0] == backup_check.MISSING_FOLDER  # type: ignore[index]
    folder, sha256 = sealed(tmp_path)
    (folder / "manifest.json").unlink()
    reason, message = backup_check.check_sealed(str(folder), sha256) or ("", "")
    assert reason == backup_check.MISSING_MANIFEST and str(folder) in message


def test_a_tampered_manifest_fails_its_digest(tmp_path: Path) -> None:
    folder, sha256 = sealed(tmp_path)
    manifest = folder / "manifest.json"
    manifest.write_text(manifest.read_text().replace("/srv/db", "/srv/elsewhere"))
    reason, message = backup_check.check_sealed(str(folder), sha256) or ("", "")
    assert reason == backup_check.DIGEST_MISMATCH and sha256 in message
    manifest.write_text("not json")
    assert backup_check.check_sealed(str(folder), None)[0] == backup_check.BAD_MANIFEST  # type: ignore[index]


def test_a_missing_or_resized_file(tmp_path: Path) -> None:
    folder, sha256 = sealed(tmp_path)
    (folder / "sub" / "extra.bin").write_bytes(b"\0" * 99)
    reason, message = backup_check.check_sealed(str(folder), sha256) or ("", "")
    assert reason == backup_check.SIZE_MISMATCH and "99 bytes, not 100" in message
    (folder / "sub" / "extra.bin").unlink()
    reason, message = backup_check.check_sealed(str(folder), sha256) or ("", "")
    assert reason == backup_check.MISSING_FILE and "extra.bin" in message


def test_a_name_outside_the_folder_is_never_looked_at(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("x")
    for name in ("../secret", "/etc/passwd", "."):
        folder = tmp_path / f"b-{len(name)}"
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps({"files": [{"name": name, "size": 1, "sha256": "-"}]}))
        assert backup_check.check_sealed(str(folder), None)[0] == backup_check.BAD_MANIFEST, name  # type: ignore[index]


def test_unusable_names_each_failing_unit_and_skips_plain_backups(tmp_path: Path) -> None:
    good, good_sha = sealed(tmp_path, "good")
    bad, _ = sealed(tmp_path, "bad")
    backups: dict[str, dict[str, Any]] = {
        "db": {"operation_id": 1, "path": str(good), "sha256": good_sha},
        "web": {"operation_id": 2, "path": str(bad), "sha256": "0" * 64},
        "plain": {"operation_id": 3, "path": None, "sha256": None},
        "gone": {"operation_id": 4, "path": str(tmp_path / "gone"), "sha256": None},
    }
    found = backup_check.unusable(backups, ["plain", "web", "db", "gone"])
    assert [(u.unit, u.reason) for u in found] == [
        ("web", backup_check.DIGEST_MISMATCH),
        ("gone", backup_check.MISSING_FOLDER),
    ]
    assert found[0].as_dict()["unit"] == "web"


def test_a_backup_kept_on_another_host_is_left_to_its_playbook(tmp_path: Path) -> None:
    elsewhere = str(tmp_path / "not-on-this-server")
    backups: dict[str, dict[str, Any]] = {
        "remote": {"operation_id": 1, "path": elsewhere, "sha256": None, "host": "db-1.internal"},
        "local": {"operation_id": 2, "path": elsewhere, "sha256": None, "host": "localhost"},
    }
    assert [u.unit for u in backup_check.unusable(backups, ["remote", "local"])] == ["local"]
