"""`python -m bench [--quick] [--only NAME ...] [--json FILE] [--keep]`: run the benchmarks, print the table."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from . import (
    apisize,
    backup,
    backups,
    each,
    followers,
    ingest,
    kparallel,
    lag,
    overhead,
    parallel,
    start,
    throughput,
    transport,
)
from .machine import describe, loadavg
from .results import Row, table
from .workspace import Workspace, workspace

BENCHMARKS: list[ModuleType] = [
    overhead,
    throughput,
    parallel,
    lag,
    ingest,
    apisize,
    followers,
    start,
    each,
    kparallel,
    transport,
    backup,
    backups,
]
NAMES = [m.NAME for m in BENCHMARKS]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes: checks that everything works, judges no goal (the CI smoke run)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=NAMES, metavar="NAME", help=f"run only these benchmarks: {', '.join(NAMES)}"
    )
    parser.add_argument("--json", type=Path, help="also write the rows and machine info to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (server logs, databases)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [m for m in BENCHMARKS if not args.only or m.NAME in args.only]
    machine = describe()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), flush=True)
    rows: list[Row] = []
    failed: list[str] = []
    with workspace(keep=args.keep) as ws:
        for module in chosen:
            rows.extend(_run_one(module.NAME, module.run, ws, args.quick, failed))
        if args.keep:
            print(f"kept {ws.root}")
    machine["load after"] = loadavg()
    print()
    print(f"RedRunner benchmarks{' (quick: sizes too small to judge goals)' if args.quick else ''}")
    print(", ".join(f"{k}: {v}" for k, v in machine.items()))
    print(table(rows))
    for row in rows:
        for note in row.notes:
            print(f"  [{row.bench}] {note}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": machine, "quick": args.quick, "failed": failed, "rows": [r.as_dict() for r in rows]},
                indent=2,
            )
        )
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _run_one(
    name: str, fn: Callable[[Workspace, bool], list[Row]], ws: Workspace, quick: bool, failed: list[str]
) -> list[Row]:
    print(f"[{name}] running (load {loadavg()}) ...", flush=True)
    t0 = time.monotonic()
    try:
        rows = fn(ws, quick)
    except Exception as exc:
        traceback.print_exc()
        failed.append(name)
        return [Row("!", name, "-", "-", f"error: {exc}"[:200], "-", False, [])]
    print(f"[{name}] done in {time.monotonic() - t0:.1f} s", flush=True)
    for row in rows:
        print(f"  {row.measure}: {row.result} (goal {row.goal})", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
