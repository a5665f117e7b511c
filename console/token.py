"""Where a client finds its bearer token: a file first, so the token stays out of `ps` and shell history.

Order: `--token-file`, then `$REDRUNNER_TOKEN_FILE`, then `$REDRUNNER_TOKEN`. Inside the image's pod
`REDRUNNER_TOKEN_FILE` already names the mounted Secret, so `kubectl exec ... redrunner jobs` needs
no flag at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class TokenFileError(Exception):
    """The token file is missing, unreadable, empty or not one line of printable ASCII."""


def read_token_file(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="ascii")
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise TokenFileError(f"token file {path} is not ASCII") from None
    token = text.strip()
    # The server accepts one line of printable ASCII; anything else would be refused as 401 later.
    if not token or "\n" in token or not token.isprintable():
        raise TokenFileError(f"token file {path} must hold one line of printable ASCII")
    return token


def resolve_token(token_file: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    path = token_file or environ.get("REDRUNNER_TOKEN_FILE") or None
    if path:
        return read_token_file(path)
    return environ.get("REDRUNNER_TOKEN") or None
