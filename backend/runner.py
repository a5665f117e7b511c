"""One Operation = one ansible-runner run in a worker thread.

The event handler only numbers the event, folds it into the counters and queues it for the writer:
it runs inside runner's pty-reading loop, so anything slower back-pressures ansible itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pexpect
from ansible_runner.config.runner import RunnerConfig
from ansible_runner.runner import Runner

from .config import Settings
from .processes import MARKER, kill_run, process_start_time
from .serialize import EMPTY_STATS, plain_text
from .service import Claim
from .timeutil import iso, now, parse_created
from .writer import EventItem, EventWriter, StatusItem

log = logging.getLogger(__name__)

# How often runner polls cancel_callback; its 5 s default makes cancel take up to 5 s.
POLL_INTERVAL = 0.1
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|DATABASE_URL|PRIVATE_KEY)", re.IGNORECASE)


# pexpect reads the pty in chunks of maxread (default 2000 bytes); every event of runner's display callback
# is a few KB of base64, so a bigger chunk means fewer reads, expect iterations and filter writes per event.
PTY_READ_SIZE = 65536


def _patch_pexpect_close_delay() -> None:
    """ptyprocess sleeps delayafterclose (0.1 s) in every close(); runner only closes a child that has
    already exited and been read to EOF, so the delay buys nothing and costs 0.1 s per Operation.
    The same hook raises the read size, which runner does not expose either."""
    spawn = pexpect.spawn
    if getattr(spawn, "_redrunner_patched", False):
        return
    original = spawn._spawnpty

    def _spawnpty(self: Any, args: Any, **kwargs: Any) -> Any:
        proc = original(self, args, **kwargs)
        proc.delayafterclose = 0.0
        self.maxread = PTY_READ_SIZE
        return proc

    spawn._spawnpty = _spawnpty
    spawn._redrunner_patched = True


_patch_pexpect_close_delay()


def playbook_env(settings: Settings, run_id: str) -> dict[str, str]:
    """The server's environment minus its secrets, plus the run marker."""
    secrets = {v for v in (settings.token, settings.database) if v}
    env = {}
    for key, value in os.environ.items():
        if key.startswith("REDRUNNER_") or SECRET_NAME.search(key) or value in secrets:
            continue
        env[key] = value
    # runner finds ansible-playbook on PATH: make the interpreter's own bin dir come first.
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env[MARKER] = run_id
    return env


def event_data_json(data: dict[str, Any], limit: int) -> tuple[dict[str, Any], str]:
    """event_data kept under `limit` bytes of JSON (the bulky parts of `res` go first), and its JSON text.

    Serialized once per event: the text is what gets stored, and the returned dict is what gets published,
    so it must serialize to the same text; it only differs from `data` when `data` held values JSON lacks.
    """
    odd: list[bool] = []

    def default(value: Any) -> str:
        odd.append(True)
        return str(value)

    text = json.dumps(data, default=default)
    if len(text) > limit:
        data = trim_event_data(data, limit)
        text = json.dumps(data, default=default)
    return (json.loads(text) if odd else data), text


def trim_event_data(data: dict[str, Any], limit: int) -> dict[str, Any]:
    """Keep event_data under `limit` bytes of JSON: the bulky parts of `res` go first."""
    text = json.dumps(data, default=str)
    if len(text) <= limit:
        return data
    trimmed = dict(data)
    res = trimmed.get("res")
    if isinstance(res, dict):
        keep = {k: res[k] for k in ("msg", "rc", "changed", "failed", "skipped", "unreachable") if k in res}
        for key in ("msg", "stdout", "stderr"):
            value = res.get(key)
            if isinstance(value, str):
                keep[key] = value[: limit // 8]
        keep["_redrunner_trimmed"] = True
        trimmed["res"] = keep
    if len(json.dumps(trimmed, default=str)) > limit:
        trimmed = {k: trimmed[k] for k in ("host", "task", "play", "task_action", "uuid", "playbook") if k in trimmed}
        trimmed["_redrunner_trimmed"] = True
    return trimmed


def mode_args(check: bool, diff: bool) -> str | None:
    """ansible-playbook's own flags for the Operation's modes (runner splits the string with shlex)."""
    flags = [flag for flag, on in (("--check", check), ("--diff", diff)) if on]
    return " ".join(flags) or None


class OperationRun:
    """Runs one claimed Operation; `stop()` may be called from any thread."""

    def __init__(self, settings: Settings, claim: Claim, writer: EventWriter) -> None:
        self.settings = settings
        self.claim = claim
        self.writer = writer
        self.run_id = f"op{claim.op_id}-{uuid.uuid4().hex[:8]}"
        self.seq = 0
        self.tasks_done = 0
        self.stats = dict(EMPTY_STATS)
        self.stdout_bytes = 0
        self.truncated = False
        self.saw_playbook_start = False
        self.last_error_msg: str | None = None
        self.pid: int | None = None
        self.deadline = claim.started_at + claim.timeout if claim.timeout else None
        self._stop_reason: str | None = None  # "canceled" | "timeout"
        self._stop_error: str | None = None
        self._stop_event = threading.Event()
        self._killed = False

    # -- control, from any thread -----------------------------------------------------------------

    def stop(self, reason: str = "canceled", error: str | None = None) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            self._stop_error = error
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    # -- runner callbacks, in the worker thread ---------------------------------------------------

    def _cancel_callback(self) -> bool:
        if not self._stop_event.is_set() and self.deadline is not None and time.time() >= self.deadline:
            self.stop("timeout", f"time limit of {self.claim.timeout:g} s reached")
        if self._stop_event.is_set():
            if not self._killed:
                self._killed = True
                kill_run(self.run_id, self.pid)
            return True
        return False

    def _event_handler(self, ev: dict[str, Any]) -> bool:
        name = str(ev.get("event") or "verbose")
        data = ev.get("event_data") or {}
        if self.pid is None and isinstance(ev.get("pid"), int):
            self.pid = int(ev["pid"])
            self.writer.put(
                StatusItem(
                    self.claim.op_id, self.claim.job_id, {"pid": self.pid, "pid_started": process_start_time(self.pid)}
                )
            )
        self._count(name, data)
        final = name == "playbook_on_stats"
        if self.seq >= self.settings.max_events_per_operation and not final:
            self.truncated = True
            return False
        stdout = str(ev.get("stdout") or "")
        if name == "verbose" and "ERROR" in stdout:
            self.last_error_msg = plain_text(stdout).strip()[:2000]
        if self.stdout_bytes + len(stdout) > self.settings.max_stdout_bytes:
            self.truncated = True
            stdout = ""
        self.stdout_bytes += len(stdout)
        self.seq += 1
        data, data_text = event_data_json(data, self.settings.max_event_data_bytes)
        created = parse_created(ev.get("created"))
        host = data.get("host") or data.get("remote_addr")
        task = data.get("task")
        play = data.get("play")
        row = {
            "operation": self.claim.op_id,
            "seq": self.seq,
            "event": name[:64],
            "created": created,
            "host": str(host)[:255] if host else None,
            "task": str(task) if task else None,
            "play": str(play) if play else None,
            "stdout": stdout,
            "data": data_text,
        }
        event = {
            "seq": self.seq,
            "operation_id": self.claim.op_id,
            "event": row["event"],
            "created": iso(created),
            "host": row["host"],
            "task": row["task"],
            "play": row["play"],
            "stdout": stdout,
            "data": data,
        }
        counters = {
            "event_count": self.seq,
            "tasks_done": self.tasks_done,
            "stats": dict(self.stats),
            "truncated": self.truncated,
        }
        self.writer.put(EventItem(self.claim.op_id, self.claim.job_id, row, event, counters))
        # False: runner would also write every event to job_events/ files we never read.
        return False

    def _count(self, name: str, data: dict[str, Any]) -> None:
        raw_res = data.get("res")
        res: dict[str, Any] = raw_res if isinstance(raw_res, dict) else {}
        if name == "playbook_on_start":
            self.saw_playbook_start = True
        elif name == "playbook_on_task_start":
            self.tasks_done += 1
        elif name == "runner_on_ok":
            self.stats["ok"] += 1
            if res.get("changed"):
                self.stats["changed"] += 1
        elif name == "runner_on_failed":
            if data.get("ignore_errors"):
                self.stats["ok"] += 1
            else:
                self.stats["failed"] += 1
                self.last_error_msg = str(res.get("msg") or res.get("stderr") or "")[:2000] or None
        elif name == "runner_on_skipped":
            self.stats["skipped"] += 1
        elif name == "runner_on_unreachable":
            self.stats["unreachable"] += 1
            self.last_error_msg = str(res.get("msg") or "")[:2000] or None
        elif name == "playbook_on_stats":

            def total(key: str) -> int:
                value = data.get(key) or {}
                return sum(int(v) for v in value.values()) if isinstance(value, dict) else 0

            self.stats = {
                "ok": total("ok"),
                "changed": total("changed"),
                "failed": total("failures"),
                "skipped": total("skipped"),
                "unreachable": total("dark"),
                "ignored": total("ignored"),
                "rescued": total("rescued"),
            }

    def _status_handler(self, status: dict[str, Any], runner_config: Any = None) -> None:
        # The 'starting' status carries the whole environment: deliberately not stored or logged.
        return None

    # -- the run ----------------------------------------------------------------------------------

    def extravars(self) -> dict[str, Any]:
        c = self.claim
        return {
            **c.extravars,
            "redrunner_job_id": c.job_id,
            "redrunner_job_tag": c.job_tag,
            "redrunner_unit": c.unit,
            "redrunner_operation_id": c.op_id,
            "redrunner_action": c.action,
        }

    def run(self) -> str:
        """Run to the end; always queues exactly one terminal status. Returns it."""
        c = self.claim
        artifact_root = self.settings.artifact_dir
        final: dict[str, Any]
        try:
            artifact_root.mkdir(parents=True, exist_ok=True)
            rc_config = RunnerConfig(
                private_data_dir=str(self.settings.data_dir),
                playbook=c.action,
                ident=self.run_id,
                artifact_dir=str(artifact_root),
                extravars=self.extravars(),
                suppress_env_files=True,
                quiet=True,
                envvars={MARKER: self.run_id},
                cmdline=mode_args(c.check, c.diff),
            )
            rc_config.prepare()
            # Set on the prepared config: runner drops settings={'pexpect_timeout'} without env/settings.
            rc_config.pexpect_timeout = POLL_INTERVAL
            # The playbook gets the server's environment minus its secrets (token, database URL, passwords).
            runner_env = playbook_env(self.settings, self.run_id)
            for key in set(os.environ) - set(runner_env):
                rc_config.env.pop(key, None)
            rc_config.env.update({"PATH": runner_env["PATH"], MARKER: self.run_id})
            runner = Runner(
                config=rc_config,
                event_handler=self._event_handler,
                status_handler=self._status_handler,
                cancel_callback=self._cancel_callback,
            )
            if self.stopping:
                status, rc = "canceled", None
            else:
                status, rc = runner.run()
            final = self._final(status, rc)
        except Exception as exc:
            log.exception("operation %s could not run", c.op_id, extra={"operation_id": c.op_id, "job_id": c.job_id})
            final = {"status": "error", "rc": None, "error": f"runner error: {exc}"}
        finally:
            # Whatever happened, nothing of this run may outlive it.
            try:
                kill_run(self.run_id, self.pid)
            except Exception:
                log.exception("cleaning up processes of operation %s", c.op_id)
            shutil.rmtree(artifact_root / self.run_id, ignore_errors=True)
        final.update(
            {
                "finished_at": now(),
                "event_count": self.seq,
                "tasks_done": self.tasks_done,
                "stats": dict(self.stats),
                "truncated": self.truncated,
            }
        )
        self.writer.put(StatusItem(c.op_id, c.job_id, final))
        return str(final["status"])

    def _final(self, status: str, rc: int | None) -> dict[str, Any]:
        if self._stop_reason is not None and status in ("canceled", "timeout", "failed"):
            reason = self._stop_reason
            return {
                "status": reason,
                "rc": None,
                "error": self._stop_error or ("canceled on request" if reason == "canceled" else None),
            }
        if status == "timeout":
            return {"status": "timeout", "rc": None, "error": "time limit reached"}
        if status == "successful":
            return {"status": "successful", "rc": rc if rc is not None else 0, "error": None}
        if not self.saw_playbook_start:
            return {
                "status": "error",
                "rc": None,
                "error": f"the playbook did not start (ansible-playbook exited {rc})"
                + (f": {self.last_error_msg}" if self.last_error_msg else ""),
            }
        return {"status": "failed", "rc": rc, "error": self.last_error_msg}
