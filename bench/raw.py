"""Raw `ansible-playbook` runs: the floor RedRunner is measured against, on the same inventory and env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BINDIR = Path(sys.executable).parent


def raw_env() -> dict[str, str]:
    """What a playbook under the server gets: the environment minus REDRUNNER_*, the venv's bin first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}
    env["PATH"] = str(BINDIR) + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    return env


def command(data_dir: Path, playbook: str, extravars: dict[str, Any] | None = None) -> list[str]:
    cmd = [
        str(BINDIR / "ansible-playbook"),
        "-i",
        str(data_dir / "inventory" / "hosts"),
        str(data_dir / "project" / playbook),
    ]
    if extravars:
        cmd += ["-e", json.dumps(extravars)]
    return cmd


def same_extravars(unit: str, playbook: str) -> dict[str, Any]:
    """The extra vars every RedRunner run gets, so both sides parse the same amount."""
    return {
        "redrunner_job_id": 1,
        "redrunner_job_tag": "bench",
        "redrunner_unit": unit,
        "redrunner_operation_id": 1,
        "redrunner_action": playbook,
    }


def run(data_dir: Path, playbook: str, unit: str = "u") -> float:
    """Wall time of one run; it must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        command(data_dir, playbook, same_extravars(unit, playbook)),
        cwd=data_dir,
        env=raw_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise AssertionError(f"raw ansible-playbook {playbook} exited {proc.returncode}: {proc.stderr[-2000:]!r}")
    return took


def run_many(data_dir: Path, playbook: str, count: int) -> float:
    """Wall time of `count` runs started at once, until the last one exits."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            command(data_dir, playbook, same_extravars(f"u{i}", playbook)),
            cwd=data_dir,
            env=raw_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]
    codes = [p.wait() for p in procs]
    took = time.perf_counter() - t0
    if any(codes):
        raise AssertionError(f"raw parallel runs exited {codes}")
    return took


def run_all(data_dir: Path, playbooks: list[str]) -> float:
    """Wall time of these playbooks started at once (one process each), until the last one exits."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            command(data_dir, playbook, same_extravars(f"u{i}", playbook)),
            cwd=data_dir,
            env=raw_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, playbook in enumerate(playbooks)
    ]
    codes = [p.wait() for p in procs]
    took = time.perf_counter() - t0
    if any(codes):
        raise AssertionError(f"raw parallel runs of {playbooks} exited {codes}")
    return took
