"""`python -m bench.filebackup [--size-mb 200] [--rounds 3] [--keep]`: the example `files` backup against raw tar.

Makes a tree of `--size-mb` (10 MB random files, the rest as 2,000 small text files), then for each round,
interleaved and each round starting with the next side: raw `tar --create --gzip` of the tree (what a user
would run instead), `backup-files.yml` run as RedRunner runs it (ansible-playbook with the five redrunner_*
extra vars; sealed, listed, digests in the manifest), then a drill (`verify-files.yml`) and a restore
(`restore-files.yml`) of that backup. Medians, the ratio backup / raw, and the 1-minute load average before
each round. Issue 28 goal 2: the backup <= 1.0x raw tar --create --gzip.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "components" / "project"
BIN = Path(sys.executable).parent


def make_tree(root: Path, size_mb: int) -> None:
    root.mkdir(parents=True)
    big = max(0, size_mb - 5) // 10
    for i in range(big):
        (root / f"blob{i:03}.bin").write_bytes(os.urandom(10_000_000))
    small = root / "docs"
    small.mkdir()
    rng = random.Random(7)
    for i in range(2000):
        line = f"line {rng.randint(0, 99)} of file {i}: lorem ipsum dolor sit amet\n"
        (small / f"f{i:04}.txt").write_text(line * rng.randint(10, 100))


def timed(cmd: list[str], **kwargs: object) -> float:
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:2]} failed (rc={done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return time.monotonic() - start


def playbook(work: Path, action: str, op: int, extravars: Mapping[str, object]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    variables = {
        "redrunner_job_id": 1,
        "redrunner_job_tag": "backup",
        "redrunner_unit": "files",
        "redrunner_operation_id": op,
        "redrunner_action": f"{action}-files.yml",
        **extravars,
    }
    cmd = [
        str(BIN / "ansible-playbook"),
        str(PROJECT / f"{action}-files.yml"),
        "-i",
        str(REPO / "components" / "inventory"),
    ]
    return timed([*cmd, "-e", json.dumps(variables)], cwd=work, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.filebackup")
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rr-bench-files-"))
    try:
        tree, backups, restored = work / "tree", work / "backups", work / "restored"
        make_tree(tree, args.size_mb)
        times: dict[str, list[float]] = {"raw": [], "backup": [], "drill": [], "restore": []}
        loads = []
        for round_ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            sides = ["raw", "backup"] if round_ % 2 == 0 else ["backup", "raw"]
            for side in sides:
                if side == "raw":
                    archive = work / "raw.tar.gz"
                    times["raw"].append(
                        timed(
                            [
                                "tar",
                                "--create",
                                "--gzip",
                                "--numeric-owner",
                                f"--file={archive}",
                                f"--directory={tree}",
                                ".",
                            ]
                        )
                    )
                    archive.unlink()
                else:
                    shutil.rmtree(backups, ignore_errors=True)
                    op = 100 + round_
                    vars_: dict[str, object] = {"backup_root": str(backups), "files_path": str(tree)}
                    times["backup"].append(playbook(work, "backup", op, vars_))
                    [folder] = [p for p in (backups / "files").iterdir() if not p.name.startswith(".")]
                    times["drill"].append(playbook(work, "verify", op, {**vars_, "backup_path": str(folder)}))
                    shutil.rmtree(restored, ignore_errors=True)
                    target = {**vars_, "files_path": str(restored), "restore_to_other_target": True}
                    times["restore"].append(playbook(work, "restore", op, {**target, "backup_path": str(folder)}))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"files backup of a {args.size_mb} MB tree, {args.rounds} interleaved rounds, medians (wall seconds)")
        rows = [
            ("raw tar --create --gzip", "raw", ""),
            ("backup-files.yml", "backup", f"   ratio {med['backup'] / med['raw']:.2f}x raw"),
            ("verify-files.yml (drill)", "drill", ""),
            ("restore-files.yml", "restore", ""),
        ]
        for label, key, extra in rows:
            each = ", ".join(f"{t:.2f}" for t in times[key])
            print(f"  {label:26}{med[key]:7.2f}{extra}   ({each})")
        print(f"  1-min load before each round: {', '.join(f'{x:.2f}' for x in loads)}")
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
