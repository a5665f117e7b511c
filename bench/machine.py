"""What the numbers were measured on."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys

import psutil

from .raw import BINDIR


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ansible_version() -> str:
    try:
        out = subprocess.run(
            [str(BINDIR / "ansible-playbook"), "--version"], capture_output=True, text=True, timeout=60
        ).stdout
        return out.splitlines()[0].strip() if out else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def describe() -> dict[str, str]:
    from importlib.metadata import version

    load = os.getloadavg()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": cpu_model(),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": sys.version.split()[0],
        "ansible": ansible_version(),
        "ansible-runner": version("ansible-runner"),
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
