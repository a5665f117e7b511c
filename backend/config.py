"""Server settings: command-line flags, each with a REDRUNNER_* environment variable as its default."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StartupError
from .keep import KeepPolicy
from .webhook_targets import parse_networks

REPO_COMPONENTS = Path(__file__).resolve().parent.parent / "components"
EVENT_TRANSPORTS = ("pipe", "runner")
DEFAULT_EVENT_TRANSPORT = "pipe"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "redrunner"


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8787
    data_dir: Path = REPO_COMPONENTS
    state_dir: Path = field(default_factory=default_state_dir)
    database: str = ""
    workers: int = 8
    token: str | None = None
    shutdown_grace: float = 20.0
    operation_timeout: float = 0.0
    retain_days: float = 0.0
    # Deleting a Job (DELETE or retention) removes the sealed backup folders its Operations published,
    # only under this folder; None removes none (backend/backups.py).
    backup_root: Path | None = None
    # What retention keeps of each (tag, unit)'s backups whatever their age (--keep-last and the rest).
    keep: KeepPolicy = field(default_factory=KeepPolicy)
    certfile: str | None = None
    keyfile: str | None = None
    log_format: str = "auto"
    log_level: str = "INFO"
    max_body_size: int = 1024 * 1024
    max_events_per_operation: int = 200_000
    allowed_origins: tuple[str, ...] = ()
    # Networks webhooks may reach although webhook_targets.py refuses them (link-local, this server).
    webhook_allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    no_auth: bool = False
    allow_templated_extravars: bool = False
    max_stdout_bytes: int = 64 * 1024 * 1024
    max_event_data_bytes: int = 64 * 1024
    ws_queue_limit: int = 10_000
    ws_ping_interval: float = 20.0
    schedule_catch_up: float = 3600.0
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 15.0
    # How events get from ansible-playbook to the server: "runner" (ansible-runner's pty, files and base64
    # markers) or "pipe" (RedRunner's callback, one JSON line per event; backend/pipe_transport.py).
    event_transport: str = DEFAULT_EVENT_TRANSPORT
    replica_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")

    @property
    def artifact_dir(self) -> Path:
        return self.state_dir / "artifacts"

    @property
    def project_dir(self) -> Path:
        return self.data_dir / "project"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"REDRUNNER_{name}")
    return value if value not in (None, "") else default


def _flag(name: str) -> bool:
    return (_env(name, "") or "").lower() in ("1", "true", "yes", "on")


def is_loopback(host: str) -> bool:
    """Whether `host` (a listen address or a Host header's name) is this machine only."""
    name = host.strip().lower().strip("[]").rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_origin(text: str) -> str | None:
    """`scheme://host:port` with the default port made explicit, or None if `text` is not an origin."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    if port is None:
        port = 443 if scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _origins(text: str) -> tuple[str, ...]:
    origins = []
    for item in text.split(","):
        if not item.strip():
            continue
        origin = normalize_origin(item)
        if origin is None:
            raise argparse.ArgumentTypeError(f"{item.strip()!r} is not an origin like https://ops.example.com")
        origins.append(origin)
    return tuple(origins)


def read_token(text: str, source: str) -> str:
    """The token, checked to be one line of printable ASCII: a stray byte would make it unusable or ambiguous."""
    token = text[:-1] if text.endswith("\n") else text
    token = token[:-1] if token.endswith("\r") else token
    if not token.strip():
        # An empty secret must not silently turn auth off.
        raise StartupError(f"{source} is empty")
    if "\n" in token or "\r" in token:
        raise StartupError(f"{source} must hold the token on one line")
    if not all(" " <= ch <= "~" for ch in token):
        raise StartupError(f"{source} must be printable ASCII")
    return token.strip()


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _count_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < low:
            why = " (the newest good backup of each component is always kept)" if low == 1 else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {low}{why}")
        return int(text)

    return parse


def _source(name: str, text: str) -> str:
    """Where a bad value came from: argparse names the flag, but a default comes from the variable."""
    return f" (from REDRUNNER_{name})" if os.environ.get(f"REDRUNNER_{name}") == text else ""


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535){_source('PORT', text)}")
    return int(text)


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return parse_networks(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}{_source('WEBHOOK_ALLOWED_NETWORKS', text)}") from exc


def _event_transport(text: str) -> str:
    # A type, not `choices`: argparse does not check a default (the environment variable) against choices.
    if text not in EVENT_TRANSPORTS:
        raise argparse.ArgumentTypeError(
            f"unknown transport {text!r} (use {', '.join(EVENT_TRANSPORTS)}){_source('EVENT_TRANSPORT', text)}"
        )
    return text


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        choices = ", ".join(level.lower() for level in LOG_LEVELS)
        raise argparse.ArgumentTypeError(f"unknown level {text!r} (use {choices}){_source('LOG_LEVEL', text)}")
    return text.upper()


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 1 and 256")
    return value


@dataclass(frozen=True)
class Flag:
    """One `redrunner serve` setting: its flag, its REDRUNNER_* variable (the flag's default), its type and
    default (text, as the variable would give it; argparse converts it with `type` like a given value),
    and its help, where `{env}` stands for the variable's name (at the end when not placed)."""

    flag: str
    env: str
    help: str
    type: Callable[[str], Any] | None = None
    default: str | None = None
    # The Settings field it sets; the flag's own name (--max-events: max_events) when not given.
    field: str = ""
    switch: bool = False  # takes no value: present (or the variable 1/true/yes/on) is True
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def setting(self) -> str:
        return self.field or self.dest

    @property
    def help_text(self) -> str:
        env = f"REDRUNNER_{self.env}"
        return self.help.replace("{env}", env) if "{env}" in self.help else f"{self.help} ({env})".lstrip()


# Every server setting, once: add_serve_arguments and settings_from_args are made from it. Adding a
# setting is a Settings field and one entry here (or a name in INTERNAL).
FLAGS: tuple[Flag, ...] = (
    Flag("--host", "HOST", "address to listen on", default="127.0.0.1"),
    Flag("--port", "PORT", "port to listen on", _port, "8787"),
    Flag(
        "--data-dir",
        "DATA_DIR",
        "data dir holding project/<action>-<component>.yml ({env}); defaults to the checkout's components/",
    ),
    Flag("--state-dir", "STATE_DIR", "where the SQLite database and runner artifacts live"),
    Flag("--database", "DATABASE_URL", "sqlite:///path or postgresql://..."),
    Flag("--workers", "WORKERS", "operations run at once by this server", _workers, "8"),
    Flag(
        "--token-file",
        "TOKEN_FILE",
        "file holding the bearer token ({env}); REDRUNNER_TOKEN also works",
        field="token",
    ),
    Flag(
        "--shutdown-grace",
        "SHUTDOWN_GRACE",
        "seconds running operations get to finish on SIGTERM",
        _positive_float,
        "20",
    ),
    Flag(
        "--operation-timeout",
        "OPERATION_TIMEOUT",
        "default time limit of an operation in seconds, 0 for none",
        _positive_float,
        "0",
    ),
    Flag(
        "--retain-days",
        "RETAIN_DAYS",
        "prune finished jobs older than this many days, 0 keeps all",
        _positive_float,
        "0",
    ),
    Flag(
        "--backup-root",
        "BACKUP_ROOT",
        "deleting or pruning a job removes the backup folders its operations published, "
        "only under this folder; unset keeps every backup",
        _path,
    ),
    # The four keep flags make one setting, keep (a KeepPolicy): settings_from_args builds it from them.
    Flag(
        "--keep-last",
        "KEEP_LAST",
        "retention keeps the newest N backups of each (job tag, unit), however old; at least 1",
        _count_at_least(1),
        "1",
        field="keep",
    ),
    *(
        Flag(
            f"--keep-{period}",
            f"KEEP_{period.upper()}",
            f"and the newest backup of each of the last N {what} that have one (UTC)",
            _count_at_least(0),
            "0",
            field="keep",
        )
        for period, what in (("daily", "days"), ("weekly", "ISO weeks"), ("monthly", "months"))
    ),
    Flag("--certfile", "CERTFILE", "TLS certificate"),
    Flag("--keyfile", "KEYFILE", "TLS private key"),
    Flag(
        "--log-format",
        "LOG_FORMAT",
        "log line format; auto is JSON unless stderr is a terminal",
        default="auto",
        choices=("auto", "json", "text"),
    ),
    Flag("--log-level", "LOG_LEVEL", "", _log_level, "INFO"),
    Flag("--max-body-size", "MAX_BODY_SIZE", "largest request body in bytes", int, str(1024 * 1024)),
    Flag(
        "--max-events",
        "MAX_EVENTS",
        "events kept per operation before it is marked truncated",
        int,
        "200000",
        field="max_events_per_operation",
    ),
    Flag(
        "--allowed-origins",
        "ALLOWED_ORIGINS",
        "comma-separated browser origins allowed besides the server's own, e.g. https://ops.example.com",
        _origins,
        "",
    ),
    Flag(
        "--webhook-allowed-networks",
        "WEBHOOK_ALLOWED_NETWORKS",
        "comma-separated CIDRs webhooks may reach although refused by default: link-local, unspecified, "
        "this server's own address",
        _networks,
        "",
    ),
    Flag(
        "--no-auth",
        "NO_AUTH",
        "allow listening on a non-loopback address without a token ({env}); unsafe",
        switch=True,
    ),
    Flag(
        "--allow-templated-extravars",
        "ALLOW_TEMPLATED_EXTRAVARS",
        "accept Jinja delimiters in extravars; they still reach Ansible marked unsafe, never templated",
        switch=True,
    ),
    Flag(
        "--schedule-catch-up",
        "SCHEDULE_CATCH_UP",
        "at start, run a schedule's latest fire time missed while no server ran if it is less than "
        "this many seconds old; older ones are skipped",
        _positive_float,
        "3600",
    ),
    Flag(
        "--event-transport",
        "EVENT_TRANSPORT",
        "how a playbook's events reach the server: pipe (RedRunner's callback, one JSON line per event "
        "on a pipe) or runner (ansible-runner's pty transport)",
        _event_transport,
        DEFAULT_EVENT_TRANSPORT,
        metavar="{pipe,runner}",
    ),
    Flag("--replica-id", "REPLICA_ID", "name of this replica in the heartbeat table"),
)

# Settings fields with no flag: limits and intervals the tests and benchmarks set directly.
INTERNAL = frozenset(
    {
        "max_stdout_bytes",
        "max_event_data_bytes",
        "ws_queue_limit",
        "ws_ping_interval",
        "heartbeat_interval",
        "heartbeat_timeout",
    }
)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    for f in FLAGS:
        if f.switch:
            parser.add_argument(f.flag, action="store_true", default=_flag(f.env), help=f.help_text)
            continue
        options: dict[str, Any] = {"default": _env(f.env, f.default), "help": f.help_text}
        if f.type is not None:
            options["type"] = f.type
        if f.choices is not None:
            options["choices"] = list(f.choices)
        if f.metavar is not None:
            options["metavar"] = f.metavar
        parser.add_argument(f.flag, **options)


def settings_from_args(args: argparse.Namespace) -> Settings:
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    if args.data_dir:
        data_dir = Path(args.data_dir).expanduser()
    elif REPO_COMPONENTS.is_dir():
        data_dir = REPO_COMPONENTS
    else:
        raise StartupError("--data-dir (or REDRUNNER_DATA_DIR) is required outside a checkout")
    data_dir = data_dir.resolve()
    if not (data_dir / "project").is_dir():
        raise StartupError(f"data dir {data_dir} has no project/ folder")
    token = os.environ.get("REDRUNNER_TOKEN") or None
    if token is not None:
        token = read_token(token, "REDRUNNER_TOKEN")
    if args.token_file:
        try:
            raw = Path(args.token_file).read_bytes()
        except OSError as exc:
            raise StartupError(f"cannot read --token-file {args.token_file}: {exc.strerror}") from exc
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise StartupError(f"--token-file {args.token_file} must be printable ASCII") from exc
        token = read_token(text, f"--token-file {args.token_file}")
    # Children started with os.environ (and anything reading it later) must not find the secrets there.
    for name in ("REDRUNNER_TOKEN", "REDRUNNER_DATABASE_URL"):
        os.environ.pop(name, None)
    if not token and not is_loopback(args.host) and not args.no_auth:
        raise StartupError(
            f"refusing to listen on --host {args.host or '(every address)'} without a token: anyone who can "
            "reach it could run playbooks. Give --token-file (or REDRUNNER_TOKEN), listen on 127.0.0.1, "
            "or pass --no-auth if something else guards the port"
        )
    values: dict[str, Any] = {f.setting: getattr(args, f.dest) for f in FLAGS}
    values.update(
        data_dir=data_dir,
        state_dir=state_dir,
        database=args.database or f"sqlite:///{state_dir / 'redrunner.db'}",
        token=token,
        keep=KeepPolicy(args.keep_last, args.keep_daily, args.keep_weekly, args.keep_monthly),
    )
    if not args.replica_id:
        del values["replica_id"]  # the default: host, pid and a random part
    return Settings(**values)
