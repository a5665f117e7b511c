"""A throwaway data dir (project/ + inventory/hosts) with generated playbooks, and a server on it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.support.server import RunningServer, start_server

INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        (self.data_dir / "project").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "inventory").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "inventory" / "hosts").write_text(INVENTORY)
        self._servers = 0

    @property
    def inventory(self) -> Path:
        return self.data_dir / "inventory" / "hosts"

    def playbook(self, name: str, tasks: list[str]) -> str:
        """Write project/<name> with the given task lines (each a YAML mapping) and return its name."""
        lines = ["- hosts: all", "  gather_facts: false", "  tasks:"]
        for task in tasks:
            lines.append(f"    - {task}")
        (self.data_dir / "project" / name).write_text("\n".join(lines) + "\n")
        return name

    def debug_playbook(self, name: str, tasks: int) -> str:
        return self.playbook(name, [f'name: step {i}\n      debug: {{msg: "step {i}"}}' for i in range(tasks)])

    def sleep_playbook(self, name: str, secs: float) -> str:
        return self.playbook(name, [f"name: sleep\n      command: sleep {secs:g}"])

    @contextlib.contextmanager
    def server(self, args: list[str] | None = None, database: str | None = None) -> Iterator[RunningServer]:
        self._servers += 1
        srv = start_server(
            self.root,
            data_dir=self.data_dir,
            database=database,
            args=args or [],
            name=f"server{self._servers}",
            env={"REDRUNNER_LOG_LEVEL": "WARNING"},
        )
        try:
            yield srv
        finally:
            srv.stop()


@contextlib.contextmanager
def workspace(keep: bool = False) -> Iterator[Workspace]:
    root = Path(tempfile.mkdtemp(prefix="rr-bench-"))
    try:
        yield Workspace(root)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


class ProcessSampler:
    """Samples one process's RSS in a thread; CPU comes from its own counters (children excluded)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._cpu0 = 0.0
        self._t0 = 0.0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def _cpu(self) -> float:
        t = self.proc.cpu_times()
        return float(t.user + t.system)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.rss())

    def __enter__(self) -> ProcessSampler:
        self._cpu0 = self._cpu()
        self._t0 = time.monotonic()
        self.peak_rss = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = self._cpu() - self._cpu0
        self.wall_seconds = time.monotonic() - self._t0
