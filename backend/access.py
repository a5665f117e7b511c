"""Who may do what: callers, roles, the token set (one token and/or a tokens file of digests) and its
reloading when the file changes (a Kubernetes Secret swapped in place), and the one table of which
route needs which role, read by the handlers and by the OpenAPI document (api.md "Access and audit")."""

from __future__ import annotations

import contextlib
import contextvars
import enum
import hashlib
import hmac
import logging
import os
import re
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ApiError, StartupError
from .names import TOKEN_NAME

log = logging.getLogger(__name__)

DIGEST = re.compile(r"^[0-9a-f]{64}$")
MIN_TOKEN_LENGTH = 16
# How often the tokens file is looked at: the contract says at least every 5 s.
RELOAD_INTERVAL = 2.0
ANONYMOUS = "anonymous"
UNKNOWN = "unknown"
SINGLE_TOKEN_NAME = "admin"


class Role(enum.IntEnum):
    """Each role may do what the ones below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: Any) -> Role:
        if not isinstance(text, str) or text.upper() not in cls.__members__ or text != text.lower():
            raise ValueError(f"role {text!r} is not one of {', '.join(ROLE_NAMES)}")
        return cls[text.upper()]


ROLE_NAMES = tuple(str(r) for r in Role)
# None: open to anyone, no token needed (probes).
OPEN = None

# The one table: (route_name of the handler, HTTP method) -> the role it needs. A handler method missing
# here needs admin (safe by default); tests/unit/test_access.py checks that every route is listed.
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("/healthz", "GET"): OPEN,
    ("/readyz", "GET"): OPEN,
    ("/metrics", "GET"): OPEN,
    ("/openapi.json", "GET"): Role.VIEWER,
    ("/playbooks", "GET"): Role.VIEWER,
    ("/whoami", "GET"): Role.VIEWER,
    ("/jobs", "GET"): Role.VIEWER,
    ("/jobs", "POST"): Role.OPERATOR,
    ("/jobs/latest", "GET"): Role.VIEWER,
    ("/jobs/{id}", "GET"): Role.VIEWER,
    ("/jobs/{id}", "DELETE"): Role.ADMIN,
    ("/jobs/{id}/units", "GET"): Role.VIEWER,
    ("/jobs/{id}/units", "POST"): Role.OPERATOR,
    ("/jobs/{id}/units/{name}", "GET"): Role.VIEWER,
    ("/jobs/{id}/units/{name}", "POST"): Role.OPERATOR,
    ("/jobs/{id}/actions", "POST"): Role.OPERATOR,
    ("/jobs/{id}/rerun", "POST"): Role.OPERATOR,
    ("/jobs/{id}/restore", "POST"): Role.OPERATOR,
    ("/backups", "GET"): Role.VIEWER,
    ("/operations", "GET"): Role.VIEWER,
    ("/operations/{id}", "GET"): Role.VIEWER,
    ("/operations/{id}/events", "GET"): Role.VIEWER,
    ("/operations/{id}/stdout", "GET"): Role.VIEWER,
    ("/operations/{id}/cancel", "POST"): Role.OPERATOR,
    ("/operations/{id}/stream", "GET"): Role.VIEWER,
    ("/jobs/{id}/stream", "GET"): Role.VIEWER,
    ("/stream", "GET"): Role.VIEWER,
    ("/schedules", "GET"): Role.VIEWER,
    ("/schedules", "POST"): Role.ADMIN,
    ("/schedules/{name}", "GET"): Role.VIEWER,
    ("/schedules/{name}", "PATCH"): Role.ADMIN,
    ("/schedules/{name}", "DELETE"): Role.ADMIN,
    ("/schedules/{name}/run", "POST"): Role.OPERATOR,
    ("/webhooks", "GET"): Role.VIEWER,
    ("/webhooks", "POST"): Role.ADMIN,
    ("/webhooks/{id}", "GET"): Role.VIEWER,
    ("/webhooks/{id}", "DELETE"): Role.ADMIN,
    ("/webhooks/{id}/deliveries", "GET"): Role.VIEWER,
    # Sends a signed delivery to the webhook's URL: as much the admin's as registering it.
    ("/webhooks/{id}/test", "POST"): Role.ADMIN,
    ("/audit", "GET"): Role.ADMIN,
}


def required_role(route_name: str, method: str) -> Role | None:
    """The role a route's method needs (None: open); unlisted ones need admin."""
    return ROUTE_ROLES.get((route_name, method.upper()), Role.ADMIN)


def forbidden_role(needed: Role, caller: Caller) -> ApiError:
    return ApiError(
        403, "forbidden_role", f"this request needs the {needed} role; token {caller.name!r} has the {caller.role} role"
    )


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role

    def may(self, needed: Role | None) -> bool:
        return needed is None or self.role >= needed


ANONYMOUS_ADMIN = Caller(ANONYMOUS, Role.ADMIN)

# Who the current request acts for: set by the base handler, carried into the database thread pool
# (HandlerMixin.call runs each call in a copy of the request's context), read where a Job, Operation,
# Schedule or Webhook is created. Background work sets it itself (a schedule's firing: `acting_as`).
_actor: contextvars.ContextVar[str] = contextvars.ContextVar("redrunner_actor", default=ANONYMOUS)


def actor() -> str:
    return _actor.get()


def set_actor(name: str) -> None:
    _actor.set(name)


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    reset = _actor.set(name)
    try:
        yield
    finally:
        _actor.reset(reset)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenSet:
    """Known tokens by digest. Every lookup compares the given token's digest with every entry in
    constant time, so neither a match's position nor a near miss shows in the answer's timing."""

    def __init__(self, entries: dict[str, Caller]) -> None:
        self._entries = list(entries.items())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return [c.name for _, c in self._entries]

    def find(self, token: str) -> Caller | None:
        given = digest(token).encode()
        found = None
        for known, caller in self._entries:
            if hmac.compare_digest(given, known.encode()):
                found = caller
        return found


def parse_tokens_file(text: str, source: str) -> dict[str, Caller]:
    """The tokens file's entries by digest, or a ValueError naming the first bad entry."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{source} is not valid YAML{where}") from exc
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ValueError(f"{source} must be a YAML list of {{name, role, sha256}}")
    entries: dict[str, Caller] = {}
    names: set[str] = set()
    for index, item in enumerate(data, 1):
        label = f"{source} entry {index}"
        if not isinstance(item, dict):
            raise ValueError(f"{label}: must be a mapping with name, role and sha256")
        name = item.get("name")
        if isinstance(name, str):
            label = f"{label} ({name!r})"
        extra = sorted(set(item) - {"name", "role", "sha256"}, key=str)
        if extra:
            raise ValueError(f"{label}: unknown key {extra[0]!r} (a tokens file holds name, role and sha256 only)")
        if not isinstance(name, str) or not TOKEN_NAME.match(name):
            raise ValueError(f"{label}: name must match {TOKEN_NAME.pattern}")
        if name in names:
            raise ValueError(f"{label}: name {name!r} is given twice")
        try:
            role = Role.parse(item.get("role"))
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
        sha = item.get("sha256")
        if not isinstance(sha, str) or not DIGEST.match(sha.strip().lower()):
            raise ValueError(f"{label}: sha256 must be the 64 hex digits of the token's SHA-256 digest")
        sha = sha.strip().lower()
        if sha in entries:
            raise ValueError(f"{label}: the same token as {entries[sha].name!r}")
        names.add(name)
        entries[sha] = Caller(name, role)
    return entries


def warn_if_readable(path: Path, flag: str) -> None:
    """A secret readable by group or others is still used, with a warning: some mounts cannot be tightened."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s %s is readable by group or others (mode %o): chmod 600 it", flag, path, stat.S_IMODE(mode))


def _signature(path: Path) -> tuple[Any, ...] | None:
    """What changes when the file is replaced or rewritten: Kubernetes swaps the `..data` symlink, so the
    resolved path and the inode change even when the size and the second of the mtime do not."""
    try:
        st = path.stat()
        return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


class Access:
    """The server's callers: the single token (named admin), the tokens file (reloaded), or nobody
    (a tokenless server, where every caller is anonymous with the admin role)."""

    def __init__(self, token: str | None, tokens_file: Path | None) -> None:
        self.tokens_file = tokens_file
        self._single = {digest(token): Caller(SINGLE_TOKEN_NAME, Role.ADMIN)} if token else {}
        self._file_entries: dict[str, Caller] = {}
        self._signature: tuple[Any, ...] | None = None
        self._tokens = TokenSet(self._single)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        if tokens_file is not None:
            self._file_entries, self._signature = self._load_file()
            self._tokens = self._merged()

    @property
    def open(self) -> bool:
        """No token configured at all: everyone is the anonymous admin."""
        return not self._single and self.tokens_file is None

    def identify(self, authorization: str) -> Caller | None:
        """The caller an Authorization header stands for, or None when it names no known token."""
        if self.open:
            return ANONYMOUS_ADMIN
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return None
        return self._tokens.find(given.strip())

    # -- the tokens file ------------------------------------------------------------------------

    def _load_file(self) -> tuple[dict[str, Caller], tuple[Any, ...] | None]:
        assert self.tokens_file is not None
        path = self.tokens_file
        signature = _signature(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            cause = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise ValueError(f"cannot read --tokens-file {path}: {cause}") from exc
        return parse_tokens_file(text, f"--tokens-file {path}"), signature

    def _merged(self) -> TokenSet:
        names = {c.name for c in self._file_entries.values()}
        # The single token keeps its name `admin` unless the file names someone else admin.
        single = {k: v for k, v in self._single.items() if v.name not in names and k not in self._file_entries}
        return TokenSet({**single, **self._file_entries})

    def reload_if_changed(self) -> bool:
        """Read the tokens file again if it changed; a version that does not parse keeps the old set."""
        if self.tokens_file is None:
            return False
        signature = _signature(self.tokens_file)
        if signature == self._signature:
            return False
        try:
            entries, signature = self._load_file()
        except ValueError as exc:
            self._signature = signature  # logged once per version, not every poll
            log.error("%s; keeping the %d tokens loaded before", exc, len(self._file_entries))
            return False
        self._file_entries, self._signature = entries, signature
        self._tokens = self._merged()
        log.info(
            "--tokens-file %s reloaded: %d tokens (%s)",
            self.tokens_file,
            len(entries),
            ", ".join(sorted(c.name for c in entries.values())),
        )
        return True

    def start(self) -> None:
        if self.tokens_file is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="redrunner-tokens", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _watch(self) -> None:
        while not self._stopping.wait(RELOAD_INTERVAL):
            try:
                self.reload_if_changed()
            except Exception:
                log.exception("checking --tokens-file %s failed", self.tokens_file)


def load_access(token: str | None, tokens_file: Path | None) -> Access:
    """At start: a bad tokens file refuses the start, naming the entry."""
    try:
        return Access(token, tokens_file)
    except ValueError as exc:
        raise StartupError(str(exc)) from exc
