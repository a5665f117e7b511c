"""Server settings: command-line flags, each with a REDRUNNER_* environment variable as its default."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import uuid
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


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 1 and 256")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="address to listen on (REDRUNNER_HOST)")
    parser.add_argument("--port", type=_port, default=_env("PORT", "8787"), help="port to listen on (REDRUNNER_PORT)")
    parser.add_argument(
        "--data-dir",
        default=_env("DATA_DIR"),
        help="data dir holding project/<action>-<component>.yml (REDRUNNER_DATA_DIR); "
        "defaults to the checkout's components/",
    )
    parser.add_argument(
        "--state-dir",
        default=_env("STATE_DIR"),
        help="where the SQLite database and runner artifacts live (REDRUNNER_STATE_DIR)",
    )
    parser.add_argument(
        "--database", default=_env("DATABASE_URL"), help="sqlite:///path or postgresql://... (REDRUNNER_DATABASE_URL)"
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=_env("WORKERS", "8"),
        help="operations run at once by this server (REDRUNNER_WORKERS)",
    )
    parser.add_argument(
        "--token-file",
        default=_env("TOKEN_FILE"),
        help="file holding the bearer token (REDRUNNER_TOKEN_FILE); REDRUNNER_TOKEN also works",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=_positive_float,
        default=_env("SHUTDOWN_GRACE", "20"),
        help="seconds running operations get to finish on SIGTERM (REDRUNNER_SHUTDOWN_GRACE)",
    )
    parser.add_argument(
        "--operation-timeout",
        type=_positive_float,
        default=_env("OPERATION_TIMEOUT", "0"),
        help="default time limit of an operation in seconds, 0 for none (REDRUNNER_OPERATION_TIMEOUT)",
    )
    parser.add_argument(
        "--retain-days",
        type=_positive_float,
        default=_env("RETAIN_DAYS", "0"),
        help="prune finished jobs older than this many days, 0 keeps all (REDRUNNER_RETAIN_DAYS)",
    )
    parser.add_argument(
        "--backup-root",
        default=_env("BACKUP_ROOT"),
        help="deleting or pruning a job removes the backup folders its operations published, "
        "only under this folder; unset keeps every backup (REDRUNNER_BACKUP_ROOT)",
    )
    parser.add_argument(
        "--keep-last",
        type=_count_at_least(1),
        default=_env("KEEP_LAST", "1"),
        help="retention keeps the newest N backups of each (job tag, unit), however old; at least 1 "
        "(REDRUNNER_KEEP_LAST)",
    )
    for period, what in (("daily", "days"), ("weekly", "ISO weeks"), ("monthly", "months")):
        parser.add_argument(
            f"--keep-{period}",
            type=_count_at_least(0),
            default=_env(f"KEEP_{period.upper()}", "0"),
            help=f"and the newest backup of each of the last N {what} that have one (UTC) "
            f"(REDRUNNER_KEEP_{period.upper()})",
        )
    parser.add_argument("--certfile", default=_env("CERTFILE"), help="TLS certificate (REDRUNNER_CERTFILE)")
    parser.add_argument("--keyfile", default=_env("KEYFILE"), help="TLS private key (REDRUNNER_KEYFILE)")
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "text"],
        default=_env("LOG_FORMAT", "auto"),
        help="log line format; auto is JSON unless stderr is a terminal (REDRUNNER_LOG_FORMAT)",
    )
    parser.add_argument("--log-level", type=_log_level, default=_env("LOG_LEVEL", "INFO"), help="(REDRUNNER_LOG_LEVEL)")
    parser.add_argument(
        "--max-body-size",
        type=int,
        default=_env("MAX_BODY_SIZE", str(1024 * 1024)),
        help="largest request body in bytes (REDRUNNER_MAX_BODY_SIZE)",
    )
    parser.add_argument(
        "--max-events",
        type=int,
        default=_env("MAX_EVENTS", "200000"),
        help="events kept per operation before it is marked truncated (REDRUNNER_MAX_EVENTS)",
    )
    parser.add_argument(
        "--allowed-origins",
        type=_origins,
        default=_env("ALLOWED_ORIGINS", ""),
        help="comma-separated browser origins allowed besides the server's own, e.g. https://ops.example.com "
        "(REDRUNNER_ALLOWED_ORIGINS)",
    )
    parser.add_argument(
        "--webhook-allowed-networks",
        type=_networks,
        default=_env("WEBHOOK_ALLOWED_NETWORKS", ""),
        help="comma-separated CIDRs webhooks may reach although refused by default: link-local, unspecified, "
        "this server's own address (REDRUNNER_WEBHOOK_ALLOWED_NETWORKS)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        default=_flag("NO_AUTH"),
        help="allow listening on a non-loopback address without a token (REDRUNNER_NO_AUTH); unsafe",
    )
    parser.add_argument(
        "--allow-templated-extravars",
        action="store_true",
        default=_flag("ALLOW_TEMPLATED_EXTRAVARS"),
        help="accept Jinja delimiters in extravars; they still reach Ansible marked unsafe, never templated "
        "(REDRUNNER_ALLOW_TEMPLATED_EXTRAVARS)",
    )
    parser.add_argument(
        "--schedule-catch-up",
        type=_positive_float,
        default=_env("SCHEDULE_CATCH_UP", "3600"),
        help="at start, run a schedule's latest fire time missed while no server ran if it is less than "
        "this many seconds old; older ones are skipped (REDRUNNER_SCHEDULE_CATCH_UP)",
    )
    parser.add_argument(
        "--event-transport",
        type=_event_transport,
        default=_env("EVENT_TRANSPORT", DEFAULT_EVENT_TRANSPORT),
        metavar="{pipe,runner}",
        help="how a playbook's events reach the server: pipe (RedRunner's callback, one JSON line per event "
        "on a pipe) or runner (ansible-runner's pty transport) (REDRUNNER_EVENT_TRANSPORT)",
    )
    parser.add_argument(
        "--replica-id",
        default=_env("REPLICA_ID"),
        help="name of this replica in the heartbeat table (REDRUNNER_REPLICA_ID)",
    )


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
    database = args.database or f"sqlite:///{state_dir / 'redrunner.db'}"
    settings = Settings(
        host=args.host,
        port=args.port,
        data_dir=data_dir,
        state_dir=state_dir,
        database=database,
        workers=args.workers,
        token=token,
        shutdown_grace=args.shutdown_grace,
        operation_timeout=args.operation_timeout,
        retain_days=args.retain_days,
        backup_root=Path(args.backup_root).expanduser() if args.backup_root else None,
        keep=KeepPolicy(args.keep_last, args.keep_daily, args.keep_weekly, args.keep_monthly),
        certfile=args.certfile,
        keyfile=args.keyfile,
        log_format=args.log_format,
        log_level=args.log_level.upper(),
        max_body_size=args.max_body_size,
        max_events_per_operation=args.max_events,
        allowed_origins=tuple(args.allowed_origins),
        webhook_allowed_networks=tuple(args.webhook_allowed_networks),
        no_auth=args.no_auth,
        allow_templated_extravars=args.allow_templated_extravars,
        schedule_catch_up=args.schedule_catch_up,
        event_transport=args.event_transport,
    )
    if args.replica_id:
        settings.replica_id = args.replica_id
    return settings
