#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
---
module: sealed_backup
short_description: The file-system steps of a sealed backup folder, each in one module call
description:
  - Used by the C(backup) role's C(prepare.yml), C(seal.yml) and C(open.yml). Each step was several
    builtin tasks (C(file), C(find), C(stat), C(copy), C(slurp), C(command)); every module call costs
    a Python start on the host (about 0.4 s of CPU), so one call per step makes a backup about 3 s
    cheaper and keeps each step's checks next to the change they guard.
  - O(step=prepare) creates O(folder), the staging folder (its parent, the component's folder, too,
    mode 0700), and fails if O(folder) exists. First it removes the C(.staging-*) folders beside it
    older than O(stale_minutes): those of killed backups.
  - O(step=seal) measures O(files) in O(folder) (each must be a regular file), writes the manifest
    (O(manifest) plus each file's name, size and sha256) last, and renames O(folder) to O(sealed),
    failing if anything has that name.
  - O(step=open) verifies the sealed backup O(folder) before a restore touches anything - its
    manifest exists, has the sha256 O(sha256) when given, was made for O(component), names its files
    relative to the folder (no absolute name, no C(..)), every file it lists has its size and sha256,
    and, with O(target), was made from O(target) (unless O(other_target)) - and returns the manifest.
    With O(newest), O(folder) is the component's folder and its newest sealed backup is opened.
options:
  step:
    description: Which step; see the description.
    type: str
    required: true
    choices: [prepare, seal, open]
  folder:
    description: The staging folder (O(step=prepare), O(step=seal)) or the sealed folder (O(step=open)).
    type: path
    required: true
  sealed:
    description: With O(step=seal), the folder's sealed name (a path beside it).
    type: path
  stale_minutes:
    description: With O(step=prepare), how old a C(.staging-*) folder is before it is swept.
    type: int
    default: 1440
  files:
    description: With O(step=seal), the backup's files (names in O(folder)), in manifest order.
    type: list
    elements: str
    default: []
  measured:
    description:
      - With O(step=seal), C({name: {size, sha256}}) of files whose writer hashed them as it wrote them (and
        synced them); they are not read again, only their size checked. Others are read and hashed.
    type: dict
    default: {}
  manifest:
    description: With O(step=seal), the manifest's fields; the module adds C(files).
    type: dict
    default: {}
  manifest_name:
    description: The manifest's file name.
    type: str
    default: manifest.json
  component:
    description: With O(step=open), the component the backup must have been made for.
    type: str
  sha256:
    description: With O(step=open), the manifest's sha256 as the backup published it; empty to skip the check.
    type: str
    default: ""
  target:
    description:
      - With O(step=open), where the restore will write (as the component's role names its source, e.g. the
        files path); refused unless it is the C(source) the manifest records. Empty to skip (a drill).
    type: str
    default: ""
  other_target:
    description: With O(step=open) and O(target), accept a backup made from another source than O(target).
    type: bool
    default: false
  newest:
    description: With O(step=open), O(folder) is the component's folder; open its newest sealed backup.
    type: bool
    default: false
  drill:
    description: With O(step=open), the backup is opened for a drill, not a restore (its refusals say so).
    type: bool
    default: false
author: RedRunner
"""

EXAMPLES = r"""
- name: Create the staging folder (fails if it exists)
  sealed_backup:
    step: prepare
    folder: /var/backups/redrunner/files/.staging-20261128T020000Z-backup-job7-op47-k3v9q0x2ab

- name: Verify the backup before restoring it
  sealed_backup:
    step: open
    folder: /var/backups/redrunner/files/20261128T020000Z-backup-job7-op47-k3v9q0x2ab
    component: files
  register: opened
"""

RETURN = r"""
swept:
  description: O(step=prepare), the stale staging folders removed.
  returned: success
  type: list
  elements: str
backup:
  description: >-
    O(step=seal), what the backup publishes - C(path), the sealed folder; C(size), the bytes of its
    files, manifest included; C(sha256), the manifest's.
  returned: success
  type: dict
sha256:
  description: O(step=open), the manifest's sha256.
  returned: success
  type: str
folder:
  description: O(step=open), the sealed folder opened (the newest one with O(newest)).
  returned: success
  type: str
manifest:
  description: O(step=seal) and O(step=open), the manifest as a dict.
  returned: success
  type: dict
"""

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

STAGING_PREFIX = ".staging-"


def unsafe_name(name: Any) -> str | None:
    """Why `name` may not name a backup file (None when it may): relative to the folder, never out of it."""
    if not isinstance(name, str) or not name or "\0" in name:
        return "not a file name"
    if os.path.isabs(name):
        return "an absolute name"
    if ".." in name.replace("\\", "/").split("/"):
        return "a name that climbs out of the folder (..)"
    return None


def measure(path: str, sync: bool = False) -> tuple[int, str]:
    """Size and sha256 of a file; with `sync`, its data is on disk first (it was written by another process)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        if sync:
            os.fsync(f.fileno())
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prepare(module: AnsibleModule, folder: str) -> dict[str, Any]:
    root = os.path.dirname(folder)
    if module.check_mode:
        return {"changed": True, "swept": []}
    os.makedirs(root, exist_ok=True)
    if stat.S_IMODE(os.stat(root).st_mode) != 0o700:
        os.chmod(root, 0o700)
    oldest = time.time() - 60 * module.params["stale_minutes"]
    swept = []
    for entry in os.scandir(root):
        if (
            entry.name.startswith(STAGING_PREFIX)
            and entry.is_dir(follow_symlinks=False)
            and entry.stat(follow_symlinks=False).st_mtime <= oldest
        ):
            shutil.rmtree(entry.path)
            swept.append(entry.path)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        module.fail_json(msg=f"{folder} exists: a backup never writes into a folder it did not create", swept=swept)
    os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    return {"changed": True, "swept": swept}


def taken(module: AnsibleModule, sealed: str) -> None:
    """Fail if anything has the sealed name: rename(2) would silently replace an empty folder."""
    if os.path.lexists(sealed):
        module.fail_json(msg=f"{sealed} exists already: a sealed backup is never replaced")


def seal(module: AnsibleModule, folder: str) -> dict[str, Any]:
    sealed = module.params["sealed"]
    if not sealed:
        module.fail_json(msg="step=seal needs sealed, the folder's sealed name")
    if module.check_mode:
        return {"changed": True}
    taken(module, sealed)  # before anything is written: a refused seal leaves the staging folder as it was
    files = []
    for name in module.params["files"]:
        why = unsafe_name(name)
        if why:
            module.fail_json(msg=f"backup file {name!r} is {why}: a manifest names files inside its folder")
        path = os.path.join(folder, name)
        try:
            is_file = stat.S_ISREG(os.lstat(path).st_mode)
        except FileNotFoundError:
            is_file = False
        if not is_file:
            module.fail_json(msg=f"backup file {name} was not written in {folder}")
        known = module.params["measured"].get(name)
        if known:  # measured by its writer from the bytes it wrote: only its size is checked again
            size, sha256 = known["size"], known["sha256"]
            with open(path, "rb") as f:
                os.fsync(f.fileno())
                if os.fstat(f.fileno()).st_size != size:
                    module.fail_json(msg=f"backup file {name} has {os.fstat(f.fileno()).st_size} bytes, not {size}")
        else:
            size, sha256 = measure(path, sync=True)
        files.append({"name": name, "size": size, "sha256": sha256})
    manifest = {**module.params["manifest"], "files": files}
    # The layout of Ansible's to_nice_json, which wrote the manifest before this module did.
    text = json.dumps(manifest, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"
    data = text.encode("utf-8")
    manifest_path = os.path.join(folder, module.params["manifest_name"])
    fd = os.open(manifest_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    # Files, manifest and folder reach the disk before the folder takes its sealed name: never half written.
    fsync_dir(folder)
    taken(module, sealed)  # again: the manifest took a moment
    os.rename(folder, sealed)
    fsync_dir(os.path.dirname(sealed))
    # Nested: AnsibleModule.exit_json would overwrite a top-level path's size with the folder's own stat.
    size = sum(f["size"] for f in files) + len(data)
    backup = {"path": sealed, "size": size, "sha256": hashlib.sha256(data).hexdigest()}
    return {"changed": True, "backup": backup, "manifest": manifest}


def newest_sealed(module: AnsibleModule, root: str, manifest_name: str) -> str:
    """The newest sealed backup in a component's folder: sealed names start with their UTC time."""
    try:
        names = sorted(
            e.name
            for e in os.scandir(root)
            if not e.name.startswith(".")
            and e.is_dir(follow_symlinks=False)
            and os.path.isfile(os.path.join(e.path, manifest_name))
        )
    except FileNotFoundError:
        names = []
    if not names:
        module.fail_json(msg=f"no sealed backup in {root}: nothing to verify")
    return os.path.join(root, names[-1])


def open_backup(module: AnsibleModule, folder: str) -> dict[str, Any]:
    component = module.params["component"]
    if not component:
        module.fail_json(msg="step=open needs component, the component the backup is for")
    manifest_name = module.params["manifest_name"]
    stop = "the drill fails" if module.params["drill"] else "not restoring"
    if module.params["newest"]:
        folder = newest_sealed(module, folder, manifest_name)
    manifest_path = os.path.join(folder, manifest_name)
    if not os.path.isfile(manifest_path):
        module.fail_json(msg=f"no sealed backup of component {component} in {folder} (no {manifest_name})")
    with open(manifest_path, "rb") as f:
        data = f.read()  # read once: the bytes checked are the bytes parsed
    digest = hashlib.sha256(data).hexdigest()
    expected = module.params["sha256"]
    if expected and digest != expected:
        module.fail_json(
            msg=f"the manifest in {folder} has sha256 {digest}, not {expected} as its backup published: {stop}"
        )
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
        entries = manifest.get("files", [])
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("size"), int) and isinstance(e.get("sha256"), str) for e in entries
        ):
            raise ValueError("its files are not a list of {name, size, sha256}")
    except ValueError as exc:
        module.fail_json(msg=f"the manifest in {folder} does not read as a manifest ({exc}): {stop}")
    if manifest.get("component", "") != component:
        module.fail_json(
            msg=f"refusing to restore: the backup in {folder} was made for component "
            f"'{manifest.get('component', '?')}', not '{component}'"
        )
    for entry in entries:  # every name first: none may point outside the folder, whatever its digest says
        why = unsafe_name(entry.get("name"))
        if why:
            module.fail_json(msg=f"the manifest in {folder} names a file {entry.get('name')!r}, {why}: {stop}")
    target = module.params["target"]
    if target and manifest.get("source") != target and not module.params["other_target"]:
        made_from = manifest.get("source") or "a source it does not record (a backup older than sources in manifests)"
        module.fail_json(
            msg=f"refusing to restore: the backup in {folder} was made from {made_from}, not {target}, where this "
            "restore would write; give restore_to_other_target: true to restore it there anyway",
            source=manifest.get("source"),
            target=target,
        )
    for entry in entries:
        path = os.path.join(folder, entry["name"])
        found_size: Any = "no file"
        found_sha256 = "-"
        if os.path.isfile(path) and not os.path.islink(path):
            found_size, found_sha256 = measure(path)
        if found_size != entry["size"] or found_sha256 != entry["sha256"]:
            module.fail_json(
                msg=f"backup file {path} does not match the manifest (expected {entry['size']} bytes, sha256 "
                f"{entry['sha256']}; found {found_size} bytes, sha256 {found_sha256}): {stop}"
            )
    return {"changed": False, "sha256": digest, "manifest": manifest, "folder": folder}


ARGUMENT_SPEC: dict[str, Any] = {
    "step": {"type": "str", "required": True, "choices": ["prepare", "seal", "open"]},
    "folder": {"type": "path", "required": True},
    "sealed": {"type": "path"},
    "stale_minutes": {"type": "int", "default": 1440},
    "files": {"type": "list", "elements": "str", "default": []},
    "measured": {"type": "dict", "default": {}},
    "manifest": {"type": "dict", "default": {}},
    "manifest_name": {"type": "str", "default": "manifest.json"},
    "component": {"type": "str"},
    "sha256": {"type": "str", "default": ""},
    "target": {"type": "str", "default": ""},
    "other_target": {"type": "bool", "default": False},
    "newest": {"type": "bool", "default": False},
    "drill": {"type": "bool", "default": False},
}
VALIDATION: dict[str, Any] = {}


def run(module: Any) -> dict[str, Any]:
    """The step's result; module is an AnsibleModule, or the action plugin's stand-in (action_plugins/)."""
    steps = {"prepare": prepare, "seal": seal, "open": open_backup}
    folder = module.params["folder"]
    try:
        return steps[module.params["step"]](module, folder)
    except OSError as exc:
        module.fail_json(msg=f"{module.params['step']} of {folder}: {exc}")
        raise  # fail_json does not return


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **VALIDATION)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
