"""Stand-in backup, restore and verify playbooks on the fixture data dir, for the API, CLI and console
tests of backups: they publish what the real components publish, in one task, without any data."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.support.server import FIXTURE_DATA

BACKUP = """---
- name: Back up (a stand-in that publishes where its backup is, sealed_path if given, or fails on request)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Fail when asked to
      ansible.builtin.fail:
        msg: backup failed on request
      when: fail | default(false) | bool
    - name: Publish the backup
      ansible.builtin.set_stats:
        data:
          redrunner_backup:
            path: "{{ sealed_path | default('/backups/' ~ redrunner_unit ~ '/op' ~ redrunner_operation_id) }}"
            size: 10
            sha256: "{{ sealed_sha256 | default('sha-' ~ redrunner_operation_id) }}"
"""
PLAIN_BACKUP = """---
- name: Back up as the seed's plain pattern does, publishing nothing
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say so
      ansible.builtin.debug:
        msg: backed up
"""
RESTORE = """---
- name: Restore (a stand-in that publishes what it was given)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish what would be restored
      ansible.builtin.set_stats:
        data:
          restored:
            source_job: "{{ redrunner_source_job }}"
            backup_path: "{{ backup_path | default('') }}"
            backup_sha256: "{{ backup_sha256 | default('') }}"
            note: "{{ note | default('') }}"
"""
VERIFY = """---
- name: Verify (a stand-in drill)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the verification
      ansible.builtin.set_stats:
        data:
          redrunner_verify:
            backup_path: "{{ backup_path }}"
            verified_at: "{{ verified_at }}"
"""


def backup_data_dir(tmp: Path, units: tuple[str, ...] = ("db", "web")) -> Path:
    """A copy of the fixture data dir with backup-<unit>.yml and restore-<unit>.yml for each of `units`,
    backup-plain.yml (publishing nothing) with restore-plain.yml, and verify.yml."""
    data = tmp / "data"
    shutil.copytree(FIXTURE_DATA, data)
    project = data / "project"
    for unit in units:
        (project / f"backup-{unit}.yml").write_text(BACKUP)
        (project / f"restore-{unit}.yml").write_text(RESTORE)
    (project / "backup-plain.yml").write_text(PLAIN_BACKUP)
    (project / "restore-plain.yml").write_text(RESTORE)
    (project / "verify.yml").write_text(VERIFY)
    return data


def seal_backup(folder: Path, files: dict[str, bytes] | None = None, component: str = "db") -> dict[str, str]:
    """A sealed backup folder as the backup role writes one (its files, then manifest.json in the layout
    of sealed_backup.py); returns the extravars that make the stand-in backup publish it."""
    files = {"dump.sql": b"-- a dump\n"} if files is None else files
    folder.mkdir(parents=True)
    entries = []
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        entries.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"component": component, "source": f"/srv/{component}", "files": entries}
    text = json.dumps(manifest, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"
    (folder / "manifest.json").write_text(text)
    return {"sealed_path": str(folder), "sealed_sha256": hashlib.sha256(text.encode()).hexdigest()}
