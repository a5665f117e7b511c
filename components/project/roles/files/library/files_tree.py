#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
---
module: files_tree
short_description: List what a files backup's archive holds, and prove it unpacks to exactly that
description:
  - Used by the C(files) role. O(step=archive) archives O(source) in one pass - C(tar) writes its stream to
    this module, which lists it (as O(step=list) does) while handing it to C(zstd -T0) (else C(pigz), else
    C(gzip)), and hashes the compressed bytes as it writes them to O(archive) plus C(.zst) or C(.gz). It
    returns the archive's RV(name) and RV(measured) size and sha256, for the seal.
  - O(step=list) reads the archive O(archive) to its end (the check that it is
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
    description: The archive (with O(step=archive), its name without the compressor's suffix).
    type: path
    required: true
  listing:
    description:
      - The listing file (written by O(step=archive) and O(step=list), read by O(step=drill)).
      - With O(step=drill), empty for a backup sealed without one (it is only unpacked).
    type: path
  source:
    description: With O(step=archive), the folder to archive.
    type: path
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
name:
  description: O(step=archive), the archive's file name.
  returned: success
  type: str
measured:
  description: O(step=archive), C({name: {size, sha256}}) of the archive, as written.
  returned: success
  type: dict
"""

import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
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
    with tarfile.open(archive, "r|*") as tar:
        return stream_entries(tar)


def stream_entries(tar: tarfile.TarFile) -> list[Entry]:
    """Every entry of a tar stream, each file's content hashed as it passes."""
    found: dict[str, Entry] = {}
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


class Tee(io.RawIOBase):
    """Reads `source` and hands every byte read on to `sink` (the compressor), so one pass both lists and writes."""

    def __init__(self, source: IO[bytes], sink: IO[bytes]) -> None:
        self.source, self.sink = source, sink

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        if data:
            self.sink.write(data)
        buffer[: len(data)] = data
        return len(data)


def compressor() -> tuple[list[str], str]:
    """The fastest compressor there is: zstd on every core, else pigz, else gzip; and the archive's suffix."""
    if shutil.which("zstd"):
        return ["zstd", "-T0", "-3", "-q", "-c"], ".zst"
    if shutil.which("pigz"):
        return ["pigz", "-c"], ".gz"
    return ["gzip", "-c"], ".gz"


class ArchiveError(Exception):
    pass


def write_archive(source: str, archive: str, listing: str, command: list[str]) -> tuple[int, dict[str, Any]]:
    """tar | this process | `command` > archive: the tar stream is listed (each file hashed) as it passes to
    the compressor, and the compressed bytes hashed as they are written. Nothing is read back: the listing
    comes from the bytes that were compressed, the digest from the bytes that were written. Returns the
    number of entries and the archive's {size, sha256}; both files are synced."""
    out = os.fdopen(os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
    digest = hashlib.sha256()
    size = 0

    def drain(stream: IO[bytes]) -> None:
        nonlocal size
        for block in iter(lambda: stream.read(BLOCK), b""):
            out.write(block)
            digest.update(block)
            size += len(block)

    entries: list[Entry] = []
    failure = stream_failure = None
    with tempfile.TemporaryFile() as tar_err, tempfile.TemporaryFile() as comp_err:
        comp = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=comp_err)
        tar = subprocess.Popen(
            ["tar", "--create", "--numeric-owner", "--file=-", f"--directory={source}", "."],
            stdout=subprocess.PIPE,
            stderr=tar_err,
        )
        assert comp.stdin and comp.stdout and tar.stdout
        writer = threading.Thread(target=drain, args=(comp.stdout,))
        writer.start()
        try:
            tee = Tee(tar.stdout, comp.stdin)
            with tarfile.open(fileobj=io.BufferedReader(tee, BLOCK), mode="r|") as stream:
                entries = stream_entries(stream)
            for _ in iter(lambda: tee.read(BLOCK), b""):  # the end-of-archive blocks the listing did not need
                pass
        except (tarfile.TarError, OSError) as exc:
            stream_failure = f"reading the archive stream: {exc}"
            tar.kill()
        finally:
            comp.stdin.close()
            tar.wait()
            comp.wait()
            writer.join()
            out.flush()
            os.fsync(out.fileno())
            out.close()
        # A program's own complaint says more than the stream it cut short.
        for name, proc, err in (("tar", tar, tar_err), (command[0], comp, comp_err)):
            if proc.returncode > 0 and not failure:
                err.seek(0)
                failure = f"{name} exited {proc.returncode}: {err.read().decode(errors='replace').strip()}"
    failure = failure or stream_failure
    if failure:
        raise ArchiveError(failure)
    with os.fdopen(os.open(listing, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return len(entries), {"size": size, "sha256": digest.hexdigest()}


def archive_step(module: AnsibleModule) -> dict[str, Any]:
    source = module.params["source"]
    command, suffix = compressor()
    archive = module.params["archive"] + suffix
    name = os.path.basename(archive)
    if module.check_mode:
        return {"changed": True, "entries": 0, "name": name, "measured": {}}
    try:
        entries, measured = write_archive(source, archive, module.params["listing"], command)
    except ArchiveError as exc:
        module.fail_json(msg=f"archiving {source} failed: {exc}")
    return {"changed": True, "entries": entries, "name": name, "measured": {name: measured}}


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
    listed = None  # a backup sealed before listings were: it must unpack, there is nothing to compare with
    if listing:
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
        unpacked = tree_entries(scratch)
        difference = None if listed is None else first_difference(listed, unpacked)  # type: ignore[arg-type]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if difference:
        module.fail_json(msg=f"{archive} does not restore what its backup listed: {difference}")
    return {"changed": False, "entries": len(unpacked), "compared": listed is not None}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": ["archive", "list", "drill"]},
            "archive": {"type": "path", "required": True},
            "listing": {"type": "path"},
            "source": {"type": "path"},
            "scratch": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        if module.params["step"] != "drill" and not module.params["listing"]:
            module.fail_json(msg=f"step={module.params['step']} needs listing, the listing file to write")
        steps = {"archive": archive_step, "list": list_step, "drill": drill_step}
        result = steps[module.params["step"]](module)
    except OSError as exc:
        module.fail_json(msg=f"{module.params['step']} of {module.params['archive']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
