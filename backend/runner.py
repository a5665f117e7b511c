"""One Operation = one ansible-runner run in a worker thread.

The event handler only numbers the event, folds it into the counters and queues it for the writer:
it runs inside runner's pty-reading loop, so anything slower back-pressures ansible itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
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

from . import extravars as extravars_file
from . import pipe_transport, processes
from .config import Settings
from .event_stream import EventStream
from .processes import MARKER, kill_run, process_start_time
from .redaction import redact_collect, scrub, scrub_value, secret_values
from .run_queue import Claim
from .serialize import EMPTY_STATS, event_resource, plain_text
from .timeutil import now, parse_created
from .writer import EventItem, EventWriter, StatusItem

log = logging.getLogger(__name__)

# How often runner polls cancel_callback; its 5 s default makes cancel take up to 5 s.
POLL_INTERVAL = 0.1

# What a playbook inherits of the server's environment (README "Security"): only names on this allow
# list, and of those none that looks secret, and none whose value is the token or the database URL.
ENV_ALLOW_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "HOSTNAME",
        "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONUNBUFFERED", "KUBECONFIG",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSSLMODE", "PGSSLROOTCERT", "PGPASSFILE",
    }
)  # fmt: skip
ENV_ALLOW_PREFIXES = ("LC_", "ANSIBLE_", "KUBERNETES_", "REDRUNNER_PLAYBOOK_")
ENV_DENY = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|APIKEY|ACCESS_KEY|AUTH|COOKIE|SESSION|DSN"
    r"|DATABASE_URL|CONNECTION_STRING",
    re.IGNORECASE,
)


# pexpect reads the pty in chunks of maxread (default 2000 bytes); every event of runner's display callback
# is a few KB of base64, so a bigger chunk means fewer reads, expect iterations and filter writes per event.
PTY_READ_SIZE = 65536
# The pid of the run guard pexpect spawned last in this worker thread: the root of the run's processes.
_spawned = threading.local()


def _patch_pexpect_close_delay() -> None:
    """ptyprocess sleeps delayafterclose (0.1 s) in every close(); runner only closes a child that has
    already exited and been read to EOF, so the delay buys nothing and costs 0.1 s per Operation.
    The same hook raises the read size, which runner does not expose either."""
    spawn = pexpect.spawn
    if getattr(spawn, "_redrunner_patched", False):
        return
    original = spawn._spawnpty

    def _spawnpty(self: Any, args: Any, **kwargs: Any) -> Any:
        with processes.SPAWN_LOCK:
            proc = original(self, args, **kwargs)
            processes.own_child(proc.pid)
        _spawned.pid = proc.pid
        proc.delayafterclose = 0.0
        self.maxread = PTY_READ_SIZE
        return proc

    spawn._spawnpty = _spawnpty
    spawn._redrunner_patched = True


_patch_pexpect_close_delay()


def env_allowed(key: str, value: str, secrets: set[str]) -> bool:
    if not (key in ENV_ALLOW_NAMES or key.startswith(ENV_ALLOW_PREFIXES)):
        return False
    if ENV_DENY.search(key):
        return False
    return not any(secret in value for secret in secrets)


def storable(text: str) -> str:
    """Text the database will take: PostgreSQL refuses NUL in text (and would drop the event), so NUL
    becomes U+FFFD, on SQLite too so that both backends store and publish the same text."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def playbook_env(settings: Settings, run_id: str) -> dict[str, str]:
    """The server's environment as far as the allow/deny rule lets it through, plus the run marker."""
    secrets = {v for v in (settings.token, settings.database) if v}
    env = {key: value for key, value in os.environ.items() if env_allowed(key, value, secrets)}
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
        self.artifacts: dict[str, Any] | None = None
        self.pid: int | None = None  # the run guard's
        self.pid_started: float | None = None
        self.deadline = claim.started_at + claim.timeout if claim.timeout else None
        self._stop_reason: str | None = None  # "canceled" | "timeout"
        self._stop_error: str | None = None
        self._stop_event = threading.Event()
        self._killed = False
        # Secret extravars values: event output shows "$redacted$" instead. Output text may show them
        # JSON-escaped too (ansible prints results as JSON), so those forms are replaced there as well.
        self.secrets: list[str] = []
        self.text_secrets: list[str] = []
        self._learn(set(secret_values(claim.extravars)))
        self._pid_stored = False

    # -- control, from any thread -----------------------------------------------------------------

    def stop(self, reason: str = "canceled", error: str | None = None) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            self._stop_error = error
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def _learn(self, found: set[str]) -> None:
        """Scrub `found` (secrets' values) from everything this run stores from now on."""
        if found.issubset(self.secrets):
            return
        self.secrets = sorted({*self.secrets, *found}, key=len, reverse=True)
        escaped = {json.dumps(v, ensure_ascii=a)[1:-1] for v in self.secrets for a in (True, False)}
        self.text_secrets = sorted({*self.secrets, *escaped}, key=len, reverse=True)

    # -- runner callbacks, in the worker thread ---------------------------------------------------

    def _guard_pid(self) -> int | None:
        if self.pid is None:
            self.pid = getattr(_spawned, "pid", None)
            if self.pid is not None:
                self.pid_started = process_start_time(self.pid)
        return self.pid

    def _cancel_callback(self) -> bool:
        self._guard_pid()
        if not self._stop_event.is_set() and self.deadline is not None and time.time() >= self.deadline:
            self.stop("timeout", f"time limit of {self.claim.timeout:g} s reached")
        if not self._stop_event.is_set() and self.writer.gave_up():
            self.stop("error", f"its events cannot be stored: {self.writer.failure()}")
        if self._stop_event.is_set():
            if not self._killed:
                self._killed = True
                kill_run(self.run_id, self.pid, self.pid_started, adopted=True)
            return True
        return False

    def _event_handler(self, ev: dict[str, Any]) -> bool:
        name = str(ev.get("event") or "verbose")
        data = ev.get("event_data") or {}
        if not self._pid_stored and self._guard_pid() is not None:
            self._pid_stored = True
            self.writer.put(
                StatusItem(self.claim.op_id, self.claim.job_id, {"pid": self.pid, "pid_started": self.pid_started})
            )
        self._count(name, data)
        final = name == "playbook_on_stats"
        if self.seq >= self.settings.max_events_per_operation and not final:
            self.truncated = True
            return False
        stdout = storable(str(ev.get("stdout") or ""))
        if name == "verbose" and "ERROR" in stdout:
            self.last_error_msg = plain_text(stdout).strip()[:2000]
        if self.stdout_bytes + len(stdout) > self.settings.max_stdout_bytes:
            self.truncated = True
            stdout = ""
        self.stdout_bytes += len(stdout)
        self.seq += 1
        # Secret-looking keys of the event's own data (a task's result, published artifacts) are hidden,
        # and their values scrubbed from this event and every later one, like secret extravars.
        found: set[str] = set()
        data = redact_collect(data, found)
        self._learn(found)
        data, data_text = event_data_json(data, self.settings.max_event_data_bytes)
        if self.secrets:
            stdout = scrub(stdout, self.text_secrets)
            # Replaced inside the data's strings, not in its JSON text: there a secret may be escaped, or
            # match a number, and replacing it could break the JSON.
            data = scrub_value(data, self.secrets)
            data_text = json.dumps(data)
        created = parse_created(ev.get("created"))
        host = data.get("host") or data.get("remote_addr")
        task = data.get("task")
        play = data.get("play")
        # The API's Event and the row that stores it, from the same values: a replay shows what the live follower saw.
        event = event_resource(
            self.claim.op_id,
            self.seq,
            name[:64],
            created,
            storable(str(host))[:255] if host else None,
            storable(str(task)) if task else None,
            storable(str(play)) if play else None,
            stdout,
            data,
        )
        row = {
            "operation": self.claim.op_id,
            "seq": self.seq,
            "event": event["event"],
            "created": created,
            "host": event["host"],
            "task": event["task"],
            "play": event["play"],
            "stdout": stdout,
            "data": data_text,
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
            # set_stats data without per_host arrives merged as artifact_data (runner's stats.custom['_run']).
            published = data.get("artifact_data")
            if isinstance(published, dict) and published:
                self.artifacts = published

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

    def own_extravars(self) -> dict[str, Any]:
        """RedRunner's own variables: validated names and numbers, passed plain."""
        c = self.claim
        return {
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
        vars_path = self.settings.state_dir / "extravars" / f"{self.run_id}.yml"
        final: dict[str, Any]
        guard_cleaned = False
        try:
            artifact_root.mkdir(parents=True, exist_ok=True)
            # Through a file, never the command line: `ps` shows ansible-playbook's arguments to every user.
            extravars_file.write_file(vars_path, c.extravars, self.own_extravars())
            rc_config = self._runner_config(vars_path)
            _spawned.pid = None
            if self.stopping:
                status, rc = "canceled", None
            elif self.settings.event_transport == "pipe":
                status, rc = self._run_pipe(rc_config)
                # The guard exited of its own accord (a signal would make rc negative), after killing
                # whatever the run left below it: a search of the whole host would find nothing.
                guard_cleaned = (
                    status in ("successful", "failed")
                    and rc is not None
                    and rc >= 0
                    and not self.stopping
                    and processes.guards_contain_runs()
                )
            else:
                status, rc = self._run_runner(rc_config)
            final = self._final(status, rc)
        except Exception as exc:
            log.exception("operation %s could not run", c.op_id, extra={"operation_id": c.op_id, "job_id": c.job_id})
            final = {"status": "error", "rc": None, "error": f"runner error: {exc}"}
        finally:
            # Whatever happened, nothing of this run may outlive it.
            try:
                # The start time guards against a reused guard pid, and dates what a killed guard left the server.
                guard, started = self._guard_pid(), self.pid_started or -1.0
                kill_run(self.run_id, guard, started, marker_search=not guard_cleaned, adopted=True)
            except Exception:
                log.exception("cleaning up processes of operation %s", c.op_id)
            shutil.rmtree(artifact_root / self.run_id, ignore_errors=True)
            vars_path.unlink(missing_ok=True)
        final.update(
            {
                "finished_at": now(),
                "event_count": self.seq,
                "tasks_done": self.tasks_done,
                "stats": dict(self.stats),
                "truncated": self.truncated,
            }
        )
        if final.get("error"):
            final["error"] = storable(scrub(str(final["error"]), self.text_secrets))
        if self.artifacts is not None:
            final["artifacts"] = json.dumps(self.artifacts, default=str)
        self.writer.put(StatusItem(c.op_id, c.job_id, final))
        return str(final["status"])

    def _runner_config(self, vars_path: Path) -> RunnerConfig:
        """The run as ansible-runner prepares it: command, environment and working dir, for either transport."""
        c = self.claim
        rc_config = RunnerConfig(
            private_data_dir=str(self.settings.data_dir),
            playbook=c.action,
            ident=self.run_id,
            artifact_dir=str(self.settings.artifact_dir),
            # Runner puts the data dir's `env/extravars` defaults after `cmdline`, before `extravars`; the last
            # `-e` wins, so our file is also `extravars` (the caller and `redrunner_*` override the defaults).
            # In `cmdline` it keeps that never empty: an empty one makes runner read the data dir's env/cmdline.
            cmdline=" ".join(filter(None, [f"-e {shlex.quote('@' + str(vars_path))}", mode_args(c.check, c.diff)])),
            extravars=str(vars_path),
            suppress_env_files=True,
            quiet=True,
            envvars={MARKER: self.run_id},
        )
        rc_config.prepare()
        # Set on the prepared config: runner drops settings={'pexpect_timeout'} without env/settings.
        rc_config.pexpect_timeout = POLL_INTERVAL
        # The playbook gets the server's environment minus its secrets (token, database URL, passwords).
        runner_env = playbook_env(self.settings, self.run_id)
        for key in set(os.environ) - set(runner_env):
            rc_config.env.pop(key, None)
        # Facts last as long as the run with either cache (runner's jsonfile one is in the artifact dir, deleted
        # after the run), but jsonfile reads and rewrites a file per task: memory, as a raw run has.
        rc_config.env.update({"PATH": runner_env["PATH"], MARKER: self.run_id, "ANSIBLE_CACHE_PLUGIN": "memory"})
        rc_config.env.pop("ANSIBLE_CACHE_PLUGIN_CONNECTION", None)
        # ansible-playbook runs below a subreaper that ends everything the run detaches, and the run with the server.
        rc_config.command = processes.guarded(rc_config.command)
        return rc_config

    def _run_runner(self, rc_config: RunnerConfig) -> tuple[str, int | None]:
        """ansible-runner's transport: pexpect on a pty, awx_display's files and base64 markers."""
        runner = Runner(
            config=rc_config,
            event_handler=self._event_handler,
            status_handler=self._status_handler,
            cancel_callback=self._cancel_callback,
        )
        status, rc = runner.run()
        return str(status), rc

    def _run_pipe(self, rc_config: RunnerConfig) -> tuple[str, int | None]:
        """RedRunner's transport: one JSON line per event on a pipe (backend/pipe_transport.py)."""

        def spawned(pid: int) -> None:
            self.pid = pid
            self.pid_started = process_start_time(pid)

        return pipe_transport.run(
            list(rc_config.command),
            pipe_transport.child_env(rc_config.env),
            rc_config.cwd,
            EventStream(self.run_id, self._event_handler),
            self._cancel_callback,
            spawned,
            lambda: kill_run(self.run_id, self.pid, self.pid_started, adopted=True),
            POLL_INTERVAL,
        )

    def _final(self, status: str, rc: int | None) -> dict[str, Any]:
        if self._stop_reason is not None and status in ("canceled", "timeout", "failed"):
            reason = self._stop_reason
            error = self._stop_error or ("canceled on request" if reason == "canceled" else None)
            return {"status": reason, "rc": None, "error": error}
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
