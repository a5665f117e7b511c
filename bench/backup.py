"""12. The backup itself: the example components' backups through RedRunner vs the command a user runs instead.

- `files`: components/project's backup-files.yml (one Operation through the API) of a tree of 20 x 10 MB
  random files and 2,000 small text files (200 MB; `python -m bench.backup --gb` for 2 GB: 200 x 10 MB and
  20,000 text files) vs `tar --create --gzip --numeric-owner` of the same tree. Then restore-files.yml of
  that backup into the tree's place vs `tar --extract --gzip` into an empty folder, and verify-files.yml (a
  drill) where the project has one vs `tar --extract` of the raw archive into a scratch folder.
- `postgres`: backup-postgres.yml of a generated database (`rr_bench_<hex>`, about 1,000,000 rows, dropped
  after; the role dumps with `--compress=0` and compresses with `zstd -T0` where it can) vs `pg_dump -Fc` of
  it; restore-postgres.yml vs `pg_restore --clean --if-exists --single-transaction` of the raw dump;
  verify-postgres.yml where present. Skipped without a PostgreSQL at 127.0.0.1:5432.
Interleaved rounds, medians. Beside wall time, CPU: the raw command's process tree (getrusage), and the
server's whole tree for the Operation (its own and its reaped children's counters in /proc/<pid>/stat).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from .client import Api
from .results import Row, check, median, ratio_row, seconds
from .workspace import Workspace, workspace

NAME = "backup"
GOAL_FILES = 1.0
GOAL_POSTGRES = 1.10
REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "components" / "project"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


def make_tree(root: Path, big: int, small: int, big_mb: int = 10) -> Path:
    """`big` random files of `big_mb` MB and `small` short text files in 10 folders."""
    root.mkdir(parents=True)
    for i in range(big):
        with open(root / f"blob-{i:03d}.bin", "wb") as f:
            for _ in range(big_mb):
                f.write(os.urandom(1 << 20))
    for i in range(small):
        folder = root / f"docs-{i % 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"note-{i:05d}.txt").write_text(f"note {i}\n" + "the quick brown fox jumps over the lazy dog\n" * 40)
    return root


def timed(cmd: list[str], **kw: Any) -> tuple[float, float]:
    """Wall time and CPU (its whole process tree) of one command; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and of every child it has reaped (ansible-playbook and, in turn, its modules)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Operations:
    """One server on the workspace whose project holds the example components' playbooks and roles."""

    def __init__(self, ws: Workspace, api: Api, pid: int) -> None:
        self.ws, self.api, self.pid = ws, api, pid

    def run(self, tag: str, unit: str, action: str, extravars: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
        """Wall (POST to terminal), server-tree CPU and the Operation; it must succeed."""
        job = self.api.job(tag, [unit])
        cpu0, t0 = tree_cpu(self.pid), time.perf_counter()
        op = self.api.start(job["id"], unit, action, extravars=extravars)
        op = self.api.wait_terminal(op["id"])
        took = time.perf_counter() - t0
        time.sleep(0.05)  # the runner's last children reaped
        cpu = tree_cpu(self.pid) - cpu0
        check(op["status"] == "successful", f"{action} ended {op['status']}: {self.api.all_events(op['id'])[-3:]}")
        return took, cpu, op


def copy_project(ws: Workspace, project: Path = PROJECT) -> None:
    dest = ws.data_dir / "project"
    shutil.copytree(project / "roles", dest / "roles", dirs_exist_ok=True)
    for playbook in project.glob("*.yml"):
        shutil.copy(playbook, dest / playbook.name)


def rows_for(
    label: str,
    goal: float,
    instead: dict[str, str],
    times: dict[str, list[tuple[float, float]]],
    quick: bool,
    notes: list[str],
) -> list[Row]:
    """One row per step measured (backup, restore, verify): RedRunner vs its raw command, with CPU in the note."""
    rows = []
    for step in ("backup", "restore", "verify"):
        ours, raw = times.get(step), times.get(f"raw {step}")
        if not ours or not raw:
            continue
        cpu, raw_cpu = median([c for _, c in ours]), median([c for _, c in raw])
        cpu_note = f"{label} {step}: CPU {seconds(cpu)} (server tree) vs {seconds(raw_cpu)} raw"
        row = ratio_row(
            "12",
            f"{label} {step}",
            median([t for t, _ in ours]),
            median([t for t, _ in raw]),
            goal,
            judged=not quick and step == "backup",
            notes=[*notes, cpu_note] if step == "backup" else [cpu_note],
            instead=instead[step],
        )
        rows.append(row if step == "backup" else dataclasses.replace(row, goal="report", met=None))
    return rows


def files_rows(ops: Operations, quick: bool, gb: bool, rounds: int) -> list[Row]:
    ws = ops.ws
    big, small = (2, 50) if quick else ((200, 20000) if gb else (20, 2000))
    tree = make_tree(ws.root / "tree", big, small, big_mb=1 if quick else 10)
    size_mb = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()) / 1e6
    backups = ws.root / "backups"
    times: dict[str, list[tuple[float, float]]] = {}
    verify = (ws.data_dir / "project" / "verify-files.yml").exists()
    raw_archive = ws.root / "raw.tar.gz"
    compressed: list[str] = []
    for r in range(rounds):
        raw_archive.unlink(missing_ok=True)
        times.setdefault("raw backup", []).append(
            timed(["tar", "--create", "--gzip", "--numeric-owner", f"--file={raw_archive}", f"--directory={tree}", "."])
        )
        took, cpu, op = ops.run(
            f"bench-files-{r}", "files", "backup-files.yml", {"files_path": str(tree), "backup_root": str(backups)}
        )
        times.setdefault("backup", []).append((took, cpu))
        path = op["artifacts"]["redrunner_backup"]["path"]
        out = ws.root / "raw-restore"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        times.setdefault("raw restore", []).append(
            timed(["tar", "--extract", "--gzip", f"--file={raw_archive}", f"--directory={out}"])
        )
        shutil.rmtree(out)
        took, cpu, _ = ops.run(
            f"bench-files-restore-{r}",
            "files",
            "restore-files.yml",
            {"files_path": str(tree), "backup_root": str(backups), "backup_path": path},
        )
        times.setdefault("restore", []).append((took, cpu))
        if verify:
            out.mkdir()
            times.setdefault("raw verify", []).append(
                timed(["tar", "--extract", "--gzip", f"--file={raw_archive}", f"--directory={out}"])
            )
            shutil.rmtree(out)
            took, cpu, _ = ops.run(
                f"bench-files-verify-{r}",
                "files",
                "verify-files.yml",
                {"files_path": str(tree), "backup_root": str(backups)},
            )
            times.setdefault("verify", []).append((took, cpu))
        compressed = [f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in Path(path).glob("files.tar*")]
        shutil.rmtree(Path(path))
    notes = [
        f"files: {size_mb:.0f} MB in {big} random + {small} text files, {rounds} rounds, medians (load "
        f"{os.getloadavg()[0]:.2f} after); raw archive {raw_archive.stat().st_size / 1e6:.0f} MB, the backup's "
        f"{', '.join(compressed)}"
    ]
    shutil.rmtree(tree, ignore_errors=True)
    instead = {
        "backup": "tar --create --gzip",
        "restore": "tar --extract --gzip",
        "verify": "tar --extract into a scratch dir",
    }
    return rows_for(f"files {size_mb:.0f} MB", GOAL_FILES, instead, times, quick, notes)


def psql(sql: str, dbname: str = "postgres") -> None:
    subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            PG["host"],
            "-p",
            PG["port"],
            "-U",
            PG["user"],
            "-d",
            dbname,
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def scratch_restore(conn: list[str], dump: Path, scratch: str) -> tuple[float, float]:
    """The drill by hand: the dump restored into a new database, dropped after; wall and CPU summed."""
    steps = [
        ["createdb", *conn, scratch],
        [
            "pg_restore",
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            *conn,
            f"--dbname={scratch}",
            str(dump),
        ],
        ["dropdb", *conn, scratch],
    ]
    measured = [timed(cmd) for cmd in steps]
    return sum(t for t, _ in measured), sum(c for _, c in measured)


def postgres_rows(ops: Operations, quick: bool, rounds: int) -> list[Row]:
    if (
        not shutil.which("pg_dump")
        or subprocess.run(
            ["pg_isready", "-h", PG["host"], "-p", PG["port"]], capture_output=True, check=False
        ).returncode
        != 0
    ):
        return [Row("12", "postgres backup", "skipped", "-", "-", "-", None, ["no PostgreSQL at 127.0.0.1:5432"])]
    ws = ops.ws
    db = f"rr_bench_{uuid.uuid4().hex[:10]}"
    rows_n = 20_000 if quick else 1_000_000
    psql(f"CREATE DATABASE {db}")
    try:
        psql(
            f"CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS ref, now() - g * interval '1 minute' AS at, "
            f"(g % 1000) * 1.5 AS amount, repeat('x', g % 50) AS note FROM generate_series(1, {rows_n}) g; "
            "ALTER TABLE orders ADD PRIMARY KEY (id); CREATE INDEX ON orders (ref)",
            db,
        )
        conn = [f"--host={PG['host']}", f"--port={PG['port']}", f"--username={PG['user']}", "--no-password"]
        backups = ws.root / "pg-backups"
        vars_ = {"postgres_database": db, "backup_root": str(backups)}
        times: dict[str, list[tuple[float, float]]] = {}
        verify = (ws.data_dir / "project" / "verify-postgres.yml").exists()
        dump = ws.root / "raw.dump"
        for r in range(rounds):
            dump.unlink(missing_ok=True)
            times.setdefault("raw backup", []).append(
                timed(["pg_dump", "-Fc", *conn, f"--file={dump}", f"--dbname={db}"])
            )
            took, cpu, op = ops.run(f"bench-pg-{r}", "postgres", "backup-postgres.yml", vars_)
            times.setdefault("backup", []).append((took, cpu))
            path = op["artifacts"]["redrunner_backup"]["path"]
            times.setdefault("raw restore", []).append(
                timed(
                    [
                        "pg_restore",
                        "--clean",
                        "--if-exists",
                        "--single-transaction",
                        "--exit-on-error",
                        "--no-owner",
                        *conn,
                        f"--dbname={db}",
                        str(dump),
                    ]
                )
            )
            took, cpu, _ = ops.run(
                f"bench-pg-restore-{r}", "postgres", "restore-postgres.yml", {**vars_, "backup_path": path}
            )
            times.setdefault("restore", []).append((took, cpu))
            if verify:
                times.setdefault("raw verify", []).append(scratch_restore(conn, dump, f"{db}_drill"))
                took, cpu, _ = ops.run(f"bench-pg-verify-{r}", "postgres", "verify-postgres.yml", vars_)
                times.setdefault("verify", []).append((took, cpu))
            shutil.rmtree(Path(path))
        notes = [
            f"postgres: {rows_n:,} rows (raw dump {dump.stat().st_size / 1e6:.0f} MB), {rounds} rounds, medians "
            f"(load {os.getloadavg()[0]:.2f} after)"
        ]
    finally:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    instead = {
        "backup": "pg_dump -Fc",
        "restore": "pg_restore --clean",
        "verify": "createdb, pg_restore, dropdb",
    }
    return rows_for("postgres", GOAL_POSTGRES, instead, times, quick, notes)


def run(
    ws: Workspace, quick: bool, gb: bool = False, only: str = "", rounds: int = 0, project: Path = PROJECT
) -> list[Row]:
    copy_project(ws, project)
    rounds = rounds or (1 if quick else 3)
    rows: list[Row] = []
    with ws.server() as srv:
        api = Api(srv.api)
        ops = Operations(ws, api, srv.proc.pid)
        if not quick:  # warm-up: the first ansible-playbook pays for cold caches
            ops.run(
                "bench-backup-warm",
                "files",
                "backup-files.yml",
                {"files_path": str(PROJECT / "roles"), "backup_root": str(ws.root / "warm")},
            )
        if only != "postgres":
            rows += files_rows(ops, quick, gb, rounds)
        if only != "files":
            rows += postgres_rows(ops, quick, rounds)
        api.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__)
    parser.add_argument("--gb", action="store_true", help="a 2 GB files tree instead of 200 MB")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round: checks it works")
    parser.add_argument("--only", choices=["files", "postgres"], default="")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3, 1 with --quick)")
    parser.add_argument(
        "--project", type=Path, default=PROJECT, help="another checkout's components/project, for a before/after"
    )
    args = parser.parse_args()
    from .results import table

    with workspace() as ws:
        rows = run(ws, args.quick, gb=args.gb, only=args.only, rounds=args.rounds, project=args.project)
    print(table(rows))
    for row in rows:
        for note in row.notes:
            print(f"  [{row.bench}] {note}")


if __name__ == "__main__":
    main()
