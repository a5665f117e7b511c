#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgres_dump
short_description: A postgres backup's dump, and its restore or drill, each in one module call
description:
  - Used by the C(postgres) role. Every module call starts Python on the host (about 0.2 s of CPU), so each
    step is one call.
  - O(step=dump) runs C(pg_dump --format=custom) into O(folder). With zstd (O(compression=auto) where
    C(zstd) is installed, or O(compression=zstd)), C(pg_dump) writes the dump uncompressed (C(--compress=0))
    to a seekable file, so its table of contents records every data block's offset; C(zstd -T0 --check)
    (every core; C(pg_dump) compresses on one; the frame carries its content's checksum) then compresses it
    into O(name) plus C(.zst), and the uncompressed file is removed. Otherwise (O(compression=pg_dump))
    C(pg_dump) compresses the dump itself, as every backup did before. Either way the file as written is
    read back by C(pg_restore --list) (its header and table of contents; through C(zstd -dc) for a C(.zst)),
    and RV(measured) holds its size and sha256 for the seal, RV(details) what the manifest records.
  - O(step=restore) restores the dump O(dump) into O(database) with C(pg_restore --clean --if-exists
    --single-transaction): a failed restore leaves the database as it was.
  - O(step=drill) creates a scratch database O(scratch_name), fills it from O(dump) with C(pg_restore
    --single-transaction) and drops it whatever happens.
  - For both, O(details) (the manifest's) says how the dump was compressed. C(compression=zstd) is
    decompressed first into a scratch file (C(pg_restore) seeks in a custom-format dump; from a pipe it
    could fail on a restore order other than the dump's) in a new C(.scratch-*) folder under O(scratch);
    zstd verifies the content checksum, and the copy must have the C(dump_size) the backup recorded. The
    folder is removed whatever happens. C(compression=pg_dump), or none (every backup made before it was
    recorded), is a dump C(pg_restore) reads as it is.
options:
  step:
    description: Which step; see the description.
    type: str
    required: true
    choices: [dump, restore, drill]
  host:
    description: The server's host.
    type: str
    default: 127.0.0.1
  port:
    description: The server's port.
    type: int
    default: 5432
  user:
    description: The user to connect as.
    type: str
    default: postgres
  password:
    description: Its password, if any (passed to the commands as C(PGPASSWORD)).
    type: str
    default: ""
  database:
    description: The database to dump (O(step=dump)) or to restore into (O(step=restore)).
    type: str
  folder:
    description: With O(step=dump), the staging folder the dump is written into.
    type: path
  name:
    description: With O(step=dump), the dump's file name (C(.zst) is added when zstd compresses it).
    type: str
  compression:
    description: With O(step=dump), C(zstd), C(pg_dump) (its own compression), or C(auto) (zstd where installed).
    type: str
    default: auto
    choices: [auto, zstd, pg_dump]
  zstd_level:
    description: With O(step=dump), zstd's compression level.
    type: int
    default: 1
  dump:
    description: With O(step=restore) and O(step=drill), the dump file (in the opened backup's folder).
    type: path
  details:
    description: With O(step=restore) and O(step=drill), the manifest's C(details).
    type: dict
    default: {}
  scratch:
    description:
      - With O(step=restore) and O(step=drill), where a zstd dump is decompressed (a new C(.scratch-*) folder
        is made in it); the system's temporary folder when it is empty or cannot be written.
    type: path
  scratch_name:
    description: With O(step=drill), the scratch database's name (required).
    type: str
  stale_minutes:
    description: C(.scratch-*) folders in O(scratch) older than this are those of killed restores, removed first.
    type: int
    default: 1440
author: RedRunner
"""

RETURN = r"""
name:
  description: O(step=dump), the dump's file name in O(folder).
  returned: success
  type: str
measured:
  description: O(step=dump), C({name: {size, sha256}}) of the dump as written (and synced).
  returned: success
  type: dict
details:
  description: >-
    O(step=dump), for the manifest - C(pg_dump), the version that wrote it; C(compression), C(zstd) or
    C(pg_dump); with zstd, C(dump_size), the uncompressed dump's size.
  returned: success
  type: dict
"""

import contextlib  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

BLOCK = 1 << 20
SCRATCH_PREFIX = ".scratch-"


class DumpError(Exception):
    pass


def connection(params: dict[str, Any]) -> list[str]:
    return [f"--host={params['host']}", f"--port={params['port']}", f"--username={params['user']}", "--no-password"]


def command(params: dict[str, Any], argv: list[str], what: str, **kw: Any) -> str:
    """Run a command; its stdout, or DumpError naming `what` failed and what the command said. The password
    goes in its environment (PGPASSWORD), never on its command line."""
    password = params.get("password") or ""
    env = {**os.environ, "PGPASSWORD": password} if password else None
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, **kw)
    if done.returncode != 0:
        raise DumpError(f"{what} failed ({argv[0]} exited {done.returncode}): {done.stderr.strip()}")
    return str(done.stdout)


def listed_version(params: dict[str, Any], path: str, zstd: bool) -> str:
    """`pg_restore --list` of the file as written (decompressed on the way for zstd): the dump reads back, and
    its header names the pg_dump that wrote it, as `pg_dump --version` prints it."""
    if not zstd:
        toc = command(params, ["pg_restore", "--list", path], f"reading back {path} (pg_restore --list)")
    else:
        with subprocess.Popen(["zstd", "-dcq", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as unzstd:
            try:
                what = f"reading back {path} (zstd -dc | pg_restore --list)"
                toc = command(params, ["pg_restore", "--list"], what, stdin=unzstd.stdout)
            finally:
                unzstd.kill()  # pg_restore --list stops after the table of contents; the rest is not needed
    found = re.search(r"Dumped by pg_dump version: (.*)", toc)
    return f"pg_dump (PostgreSQL) {found.group(1).strip() if found else '?'}"


def measure(path: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
            size += len(block)
        os.fsync(f.fileno())
    return {"size": size, "sha256": digest.hexdigest()}


def dump(params: dict[str, Any], zstd: bool) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The dump written into the folder: its name, its {size, sha256} and the manifest's details."""
    folder, name = params["folder"], params["name"]
    raw = os.path.join(folder, name)
    argv = ["pg_dump", "--format=custom", *connection(params), f"--file={raw}", f"--dbname={params['database']}"]
    if not zstd:
        command(params, argv, f"pg_dump of {params['database']}")
        return name, measure(raw), {"pg_dump": listed_version(params, raw, False), "compression": "pg_dump"}
    command(params, [*argv, "--compress=0"], f"pg_dump of {params['database']}")
    packed = f"{name}.zst"
    path = os.path.join(folder, packed)
    # --check: the frame carries its content's checksum, which every decompression verifies.
    level = f"-{params['zstd_level']}"
    command(params, ["zstd", "-T0", level, "--check", "-q", raw, "-o", path], f"zstd of the dump {raw}")
    dump_size = os.stat(raw).st_size
    os.unlink(raw)  # the backup is the compressed file; nothing else is sealed
    written = measure(path)
    details = {"pg_dump": listed_version(params, path, True), "compression": "zstd", "dump_size": dump_size}
    return packed, written, details


def scratch_folder(where: str | None, stale_minutes: int) -> str:
    """A new folder for the decompressed dump: beside the backups (room for them) where it can be made. First the
    scratch folders of killed restores there, older than `stale_minutes`, are removed."""
    if where:
        oldest = time.time() - 60 * stale_minutes
        with contextlib.suppress(OSError):
            for entry in os.scandir(where):
                if (
                    entry.name.startswith(SCRATCH_PREFIX)
                    and entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime <= oldest
                ):
                    shutil.rmtree(entry.path, ignore_errors=True)
        try:
            return tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=where)
        except OSError:
            pass  # a read-only backup volume, say: the system's temporary folder
    return tempfile.mkdtemp(prefix=SCRATCH_PREFIX)


@contextlib.contextmanager
def readable(params: dict[str, Any]) -> Iterator[str]:
    """The dump as pg_restore reads it: the file itself, or (zstd) a checked decompressed copy, removed after."""
    path, details = params["dump"], params["details"]
    compression = details.get("compression", "pg_dump")
    if compression == "pg_dump":
        yield path
        return
    if compression != "zstd":
        raise DumpError(f"the manifest says the dump is compressed with {compression!r}: this role cannot read that")
    if not shutil.which("zstd"):
        raise DumpError(f"{path} is compressed with zstd, and zstd is not installed here")
    folder = scratch_folder(params["scratch"], params["stale_minutes"])
    try:
        copy = os.path.join(folder, os.path.basename(path).removesuffix(".zst"))
        # zstd checks the frame's content checksum as it decompresses: a copy it finishes is the dump it compressed.
        command(params, ["zstd", "-d", "-q", path, "-o", copy], f"decompressing {path}")
        size = os.stat(copy).st_size
        if size != details.get("dump_size"):
            raise DumpError(
                f"{path} decompresses to {size} bytes, not the {details.get('dump_size')} of the dump its backup made"
            )
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restore(params: dict[str, Any]) -> dict[str, Any]:
    # --clean --if-exists drops and recreates every object of the dump, in one transaction.
    argv = ["pg_restore", "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-owner"]
    with readable(params) as path:
        command(params, [*argv, *connection(params), f"--dbname={params['database']}", path], "pg_restore")
    return {"changed": True}


def drill(params: dict[str, Any]) -> dict[str, Any]:
    scratch = params["scratch_name"]
    conn = connection(params)
    with readable(params) as path:
        createdb = ["createdb", *conn, "--template=template0", scratch]
        command(params, createdb, f"creating the scratch database {scratch}")
        try:
            argv = ["pg_restore", "--exit-on-error", "--single-transaction", "--no-owner", *conn, f"--dbname={scratch}"]
            command(params, [*argv, path], f"pg_restore into the scratch database {scratch}")
        finally:
            dropdb = ["dropdb", "--if-exists", "--force", *conn, scratch]
            command(params, dropdb, f"dropping the scratch database {scratch}")
    return {"changed": False, "scratch_database": scratch}


def dump_step(module: Any) -> dict[str, Any]:
    params = module.params
    wanted = params["compression"]
    zstd = wanted == "zstd" or (wanted == "auto" and shutil.which("zstd") is not None)
    name = params["name"] + (".zst" if zstd else "")
    if module.check_mode:
        return {"changed": True, "name": name, "measured": {}, "details": {}}
    name, measured, details = dump(params, zstd)
    return {"changed": True, "name": name, "measured": {name: measured}, "details": details}


ARGUMENT_SPEC: dict[str, Any] = {
    "step": {"type": "str", "required": True, "choices": ["dump", "restore", "drill"]},
    "host": {"type": "str", "default": "127.0.0.1"},
    "port": {"type": "int", "default": 5432},
    "user": {"type": "str", "default": "postgres"},
    "password": {"type": "str", "default": "", "no_log": True},
    "database": {"type": "str"},
    "folder": {"type": "path"},
    "name": {"type": "str"},
    "compression": {"type": "str", "default": "auto", "choices": ["auto", "zstd", "pg_dump"]},
    "zstd_level": {"type": "int", "default": 1},
    "dump": {"type": "path"},
    "details": {"type": "dict", "default": {}},
    "scratch": {"type": "path"},
    "scratch_name": {"type": "str"},
    "stale_minutes": {"type": "int", "default": 1440},
}
VALIDATION: dict[str, Any] = {
    "required_if": [
        ("step", "dump", ["database", "folder", "name"]),
        ("step", "restore", ["database", "dump"]),
        ("step", "drill", ["dump", "scratch_name"]),
    ]
}


def run(module: Any) -> dict[str, Any]:
    """The step's result; module is an AnsibleModule, or the action plugin's stand-in (action_plugins/)."""
    step = module.params["step"]
    try:
        if step == "dump":
            return dump_step(module)
        if module.check_mode and step == "restore":
            return {"changed": True}
        return restore(module.params) if step == "restore" else drill(module.params)
    except (DumpError, OSError) as exc:
        module.fail_json(msg=str(exc))
        raise  # fail_json does not return


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **VALIDATION)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
