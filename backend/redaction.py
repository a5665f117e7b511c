"""Secret-looking extravars shown as "$redacted$" wherever RedRunner shows them.

The database keeps the real values: the playbook needs them and a rerun reuses them. Only what leaves
the server (responses, frames, log lines, stored event output) goes through here.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "$redacted$"
SECRET_KEY = re.compile(r"password|passwd|secret|token|credential|private_key|api_key", re.IGNORECASE)
# Shorter values are too likely to occur in output by chance ("1", "yes") to be replaced there.
MIN_SCRUB_LENGTH = 4


def is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and SECRET_KEY.search(key) is not None


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-looking key's value, at any depth, replaced by "$redacted$"."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def secret_values(value: Any) -> list[str]:
    """The string forms of every secret-looking key's value, longest first (so a prefix never wins)."""
    found: set[str] = set()

    def walk(node: Any, secret: bool) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, secret or is_secret_key(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, secret)
        elif secret and node is not None and not isinstance(node, bool):
            text = str(node)
            if len(text) >= MIN_SCRUB_LENGTH:
                found.add(text)

    walk(value, False)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with each of `secrets` replaced by "$redacted$" (a playbook printing a password, say)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: Any, secrets: list[str]) -> Any:
    """`value` (JSON data) with `secrets` replaced in every string, keys included; numbers are left alone."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub(str(k), secrets): scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, secrets) for v in value]
    return value
