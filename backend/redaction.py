"""Secret-looking extravars, artifacts and event data shown as "$redacted$" wherever RedRunner shows them.

The database keeps the real extravars and artifacts: the playbook needs them, a rerun reuses them and
plays read the artifacts. Only what leaves the server (responses, frames, webhook bodies, log lines) and
the events and output it stores go through here.
"""

from __future__ import annotations

import functools
import re
from typing import Any

REDACTED = "$redacted$"
# The one list of secret-looking names (api.md "Safety, third pass"), matched anywhere in a key, any case.
SECRET_NAMES = (
    "password",
    "passwd",
    "pgpass",
    "secret",
    "token",
    "credential",
    "private_key",
    "api_key",
    "access_key",
    "auth",
    "dsn",
    "connection_string",
    "database_url",
)
SECRET_KEY = re.compile("|".join(SECRET_NAMES), re.IGNORECASE)
# Shorter values are too likely to occur in output by chance ("1", "yes") to be replaced there.
MIN_SCRUB_LENGTH = 4


def is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and _is_secret_name(key)


# Asked for every key of every event: the same few dozen names over and over, so remembered (the regex
# search costs microseconds, a cache hit a tenth of that).
@functools.lru_cache(maxsize=4096)
def _is_secret_name(key: str) -> bool:
    return SECRET_KEY.search(key) is not None


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-looking key's value, at any depth, replaced by "$redacted$"."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _collect(node: Any, found: set[str]) -> None:
    """Add the string form of every scalar in `node` (a secret's value) to `found`."""
    if isinstance(node, dict):
        for v in node.values():
            _collect(v, found)
    elif isinstance(node, list):
        for v in node:
            _collect(v, found)
    elif node is not None and not isinstance(node, bool):
        text = str(node)
        if len(text) >= MIN_SCRUB_LENGTH:
            found.add(text)


def redact_collect(value: Any, found: set[str]) -> Any:
    """`redact(value)`, adding the string forms of the values it hid to `found`; `value` itself (not a copy)
    when it holds no secret-looking key, so the common event costs one walk and no allocation."""
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            if isinstance(k, str) and _is_secret_name(k):
                _collect(v, found)
                new: Any = REDACTED
            elif isinstance(v, dict | list):
                new = redact_collect(v, found)
            else:
                continue
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items: list[Any] | None = None
        for i, v in enumerate(value):
            if isinstance(v, dict | list):
                new = redact_collect(v, found)
                if new is not v:
                    if items is None:
                        items = list(value)
                    items[i] = new
        return value if items is None else items
    return value


def secret_values(value: Any) -> list[str]:
    """The string forms of every secret-looking key's value, longest first (so a prefix never wins)."""
    found: set[str] = set()
    redact_collect(value, found)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with each of `secrets` replaced by "$redacted$" (a playbook printing a password, say)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: Any, secrets: list[str]) -> Any:
    """`value` (JSON data) with `secrets` replaced in every string, keys included, and a number whose text
    holds one replaced whole (`db_password: 98765432` printed as a number is still the password)."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        return REDACTED if any(secret in text for secret in secrets) else value
    if isinstance(value, dict):
        return {scrub(str(k), secrets): scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, secrets) for v in value]
    return value


def shown_artifacts(artifacts: Any, extravars: Any) -> Any:
    """Artifacts as shown: secret-looking keys redacted, and any secret's value (of the artifacts or of
    the extravars) scrubbed from the rest."""
    secrets = secret_values([artifacts, extravars])
    return scrub_value(redact(artifacts), secrets) if secrets else redact(artifacts)
