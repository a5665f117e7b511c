#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
---
module: files_archive
short_description: Archive a directory tree into a backup folder, compressed on every core, checked, in one call
description:
  - Used by the C(files) role's C(backup.yml). Fails if O(path) is not a directory. Otherwise runs
    C(tar --create --numeric-owner) of O(path) (numeric owners, modes and the directory's own entry kept)
    into a compressor, and writes what it prints to a new file in O(folder) (never an existing one),
    computing its size and sha256 as it is written, then syncs it to disk.
  - The compressor is C(zstd -T0) (every core) where the binary is found, else C(pigz), else C(gzip)
    (O(compression=auto)); the archive is named O(stem) plus C(.zst) or C(.gz). C(ansible.builtin.unarchive)
    and GNU C(tar) read both.
  - Then the archive is read back to its end by the same program's test mode (C(zstd -t), C(gzip -t)),
    which checks the length and checksum of the data it holds (xxhash64 or CRC32) against those the
    compressor recorded from C(tar)'s output - so the archive holds exactly the tar stream C(tar), having
    exited 0, wrote - without unpacking it a second time with C(tar --list).
options:
  path:
    description: The directory tree to archive.
    type: path
    required: true
  folder:
    description: The (staging) folder the archive is written into.
    type: path
    required: true
  stem:
    description: The archive's name without the compressor's suffix.
    type: str
    default: files.tar
  compression:
    description: The compressor; C(auto) is the first of C(zstd), C(pigz), C(gzip) found on the host.
    type: str
    default: auto
    choices: [auto, zstd, pigz, gzip]
author: RedRunner
"""

EXAMPLES = r"""
- name: Archive the directory tree (fails if it is not a directory)
  files_archive:
    path: /srv/app/files
    folder: /var/backups/redrunner/files/.staging-20261128T020000Z-backup-job7-op47-k3v9q0x2ab
  register: files_archived
"""

RETURN = r"""
name:
  description: The archive's file name in O(folder).
  returned: success
  type: str
compression:
  description: The compressor used.
  returned: success
  type: str
bytes:
  description: The archive's size.
  returned: success
  type: int
sha256:
  description: The archive's sha256, computed as it was written.
  returned: success
  type: str
"""

import hashlib  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

BLOCK = 1 << 20

# name -> (compress argv, test argv, suffix). zstd records a checksum of its input by default (--check).
COMPRESSORS: dict[str, tuple[list[str], list[str], str]] = {
    "zstd": (["zstd", "-T0", "-q", "-c"], ["zstd", "-t", "-q"], ".zst"),
    "pigz": (["pigz", "-c"], ["pigz", "-t"], ".gz"),
    "gzip": (["gzip", "-c"], ["gzip", "-t"], ".gz"),
}


def choose(module: AnsibleModule) -> tuple[str, list[str], list[str], str]:
    wanted = module.params["compression"]
    for name in [wanted] if wanted != "auto" else list(COMPRESSORS):
        binary = module.get_bin_path(name, required=wanted != "auto")
        if binary:
            compress, test, suffix = COMPRESSORS[name]
            return name, [binary, *compress[1:]], [binary, *test[1:]], suffix
    module.fail_json(msg="none of zstd, pigz or gzip is installed: cannot compress the archive")
    raise AssertionError  # fail_json exits


def said(stream: Any) -> str:
    stream.seek(0)
    return str(stream.read().decode("utf-8", "replace").strip()[-2000:])


def write(module: AnsibleModule, source: str, archive: str, compress: list[str]) -> tuple[int, str]:
    """tar | compressor, its output written to `archive` (created, never replaced) and digested on the way."""
    digest = hashlib.sha256()
    size = 0
    # stderr to files, not pipes: a tree with many unreadable files must not fill a pipe and stall tar
    with tempfile.TemporaryFile() as tar_err, tempfile.TemporaryFile() as compress_err:
        tar = subprocess.Popen(
            ["tar", "--create", "--numeric-owner", f"--directory={source}", "."],
            stdout=subprocess.PIPE,
            stderr=tar_err,
        )
        assert tar.stdout is not None
        packer = subprocess.Popen(compress, stdin=tar.stdout, stdout=subprocess.PIPE, stderr=compress_err)
        tar.stdout.close()  # the compressor holds the pipe now: tar sees it close if the compressor dies
        assert packer.stdout is not None
        try:
            fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                for block in iter(lambda: packer.stdout.read(BLOCK), b""):  # type: ignore[union-attr]
                    digest.update(block)
                    size += len(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        finally:
            packer.stdout.close()
            packed, tarred = packer.wait(), tar.wait()
        if tarred != 0:
            module.fail_json(msg=f"tar of {source} failed (exit {tarred}): {said(tar_err)}")
        if packed != 0:
            module.fail_json(msg=f"{compress[0]} of {source} failed (exit {packed}): {said(compress_err)}")
    return size, digest.hexdigest()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "folder": {"type": "path", "required": True},
            "stem": {"type": "str", "default": "files.tar"},
            "compression": {"type": "str", "default": "auto", "choices": ["auto", "zstd", "pigz", "gzip"]},
        },
        supports_check_mode=True,
    )
    source = module.params["path"]
    if not os.path.isdir(source):
        module.fail_json(msg=f"files_path {source} is not a directory: nothing to back up")
    compression, compress, test, suffix = choose(module)
    name = module.params["stem"] + suffix
    if module.check_mode:
        module.exit_json(changed=True, name=name, compression=compression)
    archive = os.path.join(module.params["folder"], name)
    try:
        size, sha256 = write(module, source, archive, compress)
        checked = subprocess.run([*test, archive], capture_output=True, text=True)
    except OSError as exc:
        module.fail_json(msg=f"archive of {source} into {archive}: {exc}")
    if checked.returncode != 0:
        module.fail_json(msg=f"the archive {archive} does not read back to its end: {checked.stderr.strip()}")
    module.exit_json(changed=True, name=name, compression=compression, bytes=size, sha256=sha256)


if __name__ == "__main__":
    main()
