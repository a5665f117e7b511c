#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
---
module: files_tree
short_description: List what a files backup's archive holds, and prove it unpacks to exactly that
description:
  - Used by the C(files) role. O(step=list) reads the archive O(archive) to its end (the check that it is
    whole) and writes O(listing), one JSON line per entry - C([path, type, mode, size, sha256]) for files,
    C([path, "link", 0, 0, target]) for symbolic links, C([path, "dir", mode, 0, ""]) for directories -
    sorted by path. The backup seals it beside the archive, so its digest is in the manifest.
  - O(step=drill) unpacks O(archive) with C(tar) into a new temporary folder under O(scratch) (the system's
    temporary folder by default), compares every entry with O(listing) and removes the folder, whatever
    happens. It fails naming the first entry that differs and how. Nothing outside that folder is written.
options:
  step:
    description: Which step; see the description.
    type: str
    required: true
    choices: [list, drill]
  archive:
    description: The C(tar.gz) archive.
    type: path
    required: true
  listing:
    description: The listing file (written by O(step=list), read by O(step=drill)).
    type: path
    required: true
  scratch:
    description: With O(step=drill), where the temporary folder is made; empty for the system's default.
    type: path
author: RedRunner
"""

RETURN = r"""
entries:
  description: How many entries the archive holds (its root folder included).
  returned: success
  type: int
"""

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
from typing import IO, Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

Entry = tuple[str, str, int, int, str]
BLOCK = 1 << 20


def sha256_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


def entry_path(name: str) -> str:
    """The archive's './a/b' as 'a/b'; its root '.' as ''."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def archive_entries(archive: str) -> list[Entry]:
    """Every entry of the archive, read once as a stream (no seeking, one decompression)."""
    found: dict[str, Entry] = {}
    with tarfile.open(archive, "r|*") as tar:
        for member in tar:
            path = entry_path(member.name)
            mode = member.mode & 0o7777
            if member.isdir():
                found[path] = (path, "dir", mode, 0, "")
            elif member.issym():
                found[path] = (path, "link", 0, 0, member.linkname)
            elif member.islnk():  # a hard link unpacks as a file with its target's content
                target = found[entry_path(member.linkname)]
                found[path] = (path, "file", mode, target[3], target[4])
            elif member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                found[path] = (path, "file", mode, member.size, sha256_of(data))
            else:
                found[path] = (path, "other", mode, 0, "")
    return sorted(found.values())


def tree_entries(root: str) -> list[Entry]:
    """The same entries, read from an unpacked folder."""
    found: list[Entry] = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files, *([] if folder != root else [""])]:
            path = os.path.join(folder, name) if name else root
            rel = os.path.relpath(path, root) if name else ""
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                found.append((rel, "link", 0, 0, os.readlink(path)))
            elif stat.S_ISDIR(st.st_mode):
                found.append((rel, "dir", mode, 0, ""))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    found.append((rel, "file", mode, st.st_size, sha256_of(f)))
            else:
                found.append((rel, "other", mode, 0, ""))
    return sorted(found)


def describe(entry: Entry | None) -> str:
    if entry is None:
        return "absent"
    _, kind, mode, size, extra = entry
    if kind == "file":
        return f"a file, mode {mode:04o}, {size} bytes, sha256 {extra}"
    if kind == "link":
        return f"a link to {extra}"
    return f"a {'folder' if kind == 'dir' else 'special file'}, mode {mode:04o}"


def first_difference(listed: list[Entry], unpacked: list[Entry]) -> str | None:
    want = {e[0]: e for e in listed}
    got = {e[0]: e for e in unpacked}
    for path in sorted(set(want) | set(got)):
        if want.get(path) != got.get(path):
            return (
                f"{path or '(the root folder)'}: the backup lists {describe(want.get(path))}; "
                f"its scratch restore has {describe(got.get(path))}"
            )
    return None


def list_step(module: AnsibleModule) -> dict[str, Any]:
    archive, listing = module.params["archive"], module.params["listing"]
    if module.check_mode:
        return {"changed": True, "entries": 0}
    try:
        entries = archive_entries(archive)
    except (tarfile.TarError, EOFError, OSError, KeyError) as exc:
        module.fail_json(msg=f"the archive {archive} does not read back to its end: {exc}")
    fd = os.open(listing, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return {"changed": True, "entries": len(entries)}


def drill_step(module: AnsibleModule) -> dict[str, Any]:
    archive, listing = module.params["archive"], module.params["listing"]
    with open(listing, encoding="utf-8") as f:
        listed = [tuple(json.loads(line)) for line in f if line.strip()]
    scratch = tempfile.mkdtemp(prefix="redrunner-drill-", dir=module.params["scratch"] or None)
    try:
        # --preserve-permissions: the modes the archive holds, not the umask's
        done = subprocess.run(
            [
                "tar",
                "--extract",
                "--preserve-permissions",
                "--no-same-owner",
                f"--file={archive}",
                f"--directory={scratch}",
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            module.fail_json(msg=f"{archive} does not unpack: tar said {done.stderr.strip()}")
        difference = first_difference(listed, tree_entries(scratch))  # type: ignore[arg-type]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if difference:
        module.fail_json(msg=f"{archive} does not restore what its backup listed: {difference}")
    return {"changed": False, "entries": len(listed)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": ["list", "drill"]},
            "archive": {"type": "path", "required": True},
            "listing": {"type": "path", "required": True},
            "scratch": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        result = (list_step if module.params["step"] == "list" else drill_step)(module)
    except OSError as exc:
        module.fail_json(msg=f"{module.params['step']} of {module.params['archive']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
