"""Run ansible-playbook and ansible (ad hoc) the way a user would, from a chosen directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUNNER_UTILS = REPO / "runner_utils"
COMPONENTS = REPO / "components"
BIN = Path(sys.executable).parent


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    def recap(self) -> dict[str, dict[str, int]]:
        """The PLAY RECAP counts per host, e.g. {'files': {'ok': 3, 'failed': 0, ...}}."""
        hosts: dict[str, dict[str, int]] = {}
        for line in self.stdout.split("PLAY RECAP", 1)[-1].splitlines():
            m = re.match(r"^(\S+)\s*:\s+(.*)$", line)
            if m:
                hosts[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        return hosts

    def explain(self) -> str:
        return f"rc={self.rc}\n--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-3000:]}"


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # A user's shell, not ours: no ANSIBLE_* settings leak in (the plays need none).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "REDRUNNER_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra or {})
    return env


def ansible_playbook(
    playbook: Path,
    *args: str,
    cwd: Path,
    extravars: dict[str, Any] | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> Run:
    cmd = [str(BIN / "ansible-playbook"), str(playbook), *args]
    if extravars:
        cmd += ["-e", json.dumps(extravars)]
    proc = subprocess.run(cmd, cwd=cwd, env=ansible_env(env), capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_module(
    module: str,
    args: dict[str, Any],
    *,
    cwd: Path,
    check: bool = False,
    action_plugins: bool = True,
    library: Path = RUNNER_UTILS / "library",
) -> dict[str, Any]:
    """Run one of runner_utils' modules (or one in `library`) ad hoc on localhost; return its result. With
    `action_plugins` (as the plays run them) through its action plugin, else the module shipped as its own
    process."""
    env = {
        "ANSIBLE_LIBRARY": str(library),
        "ANSIBLE_MODULE_UTILS": str(RUNNER_UTILS / "module_utils"),
        "ANSIBLE_ACTION_PLUGINS": str(RUNNER_UTILS / "action_plugins") if action_plugins else "",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
        "ANSIBLE_LOCALHOST_WARNING": "0",
    }
    cmd = [
        str(BIN / "ansible"),
        "localhost",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-m",
        module,
        "-a",
        json.dumps(args),
    ]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=cwd, env=ansible_env(env), capture_output=True, text=True, timeout=120)
    # minimal prints "localhost | CHANGED => {...}" (or FAILED! =>): the result is that JSON
    m = re.search(r"^localhost \| (\w+)!? => ", proc.stdout, re.M)
    try:
        assert m is not None
        result, _ = json.JSONDecoder().raw_decode(proc.stdout[m.end() :])
    except (AssertionError, json.JSONDecodeError) as err:
        raise AssertionError(f"no result from ansible (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from err
    result["failed"] = m.group(1) == "FAILED"  # 2.19 shows it in the head line only
    assert result["failed"] == (proc.returncode != 0), proc.stdout
    return dict(result)
