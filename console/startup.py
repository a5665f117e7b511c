"""Checks before the console opens, so a wrong URL or token is a clear sentence, not a screen that
says "connecting" forever. Each problem says what to try."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from console.client import ApiError, RedRunnerClient, Unavailable

USAGE = 2
UNREACHABLE = 3


@dataclass(frozen=True)
class Problem:
    message: str
    exit_code: int


def url_problem(url: str) -> Problem | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Problem(
            f"--url {url!r} is not a server URL: give one like http://127.0.0.1:8787 "
            "(the address of `redrunner serve` or of a kubectl port-forward), or set REDRUNNER_URL",
            USAGE,
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return Problem(f"--url {url!r} has a bad port: give one like http://127.0.0.1:8787", USAGE)
    return None


async def server_problem(client: RedRunnerClient) -> Problem | None:
    """Ask the server for one Job: that proves the address, the API and the token at once."""
    url = client.url
    try:
        await client.list_jobs(limit=1)
    except Unavailable as exc:
        return Problem(
            f"cannot reach {url} ({exc.__cause__ or exc}). Is the server running? On Kubernetes, is "
            f"`kubectl port-forward svc/redrunner 8787:8787` up? Try: curl {url}/healthz",
            UNREACHABLE,
        )
    except ApiError as exc:
        if exc.status == 401:
            return Problem(
                f"{url} refused the token ({exc.message}): pass the server's token with --token-file FILE "
                "(or REDRUNNER_TOKEN_FILE / REDRUNNER_TOKEN)",
                USAGE,
            )
        if exc.status == 403:
            return Problem(f"{url} refused the console: {exc.message} ({exc.error})", USAGE)
        if exc.status == 404 or exc.error in ("invalid_response", "http_error", "not_redrunner"):
            return Problem(
                f"{url} answered, but not as a RedRunner server ({exc.status} {exc.error}): give the server's "
                "address without a path, like http://127.0.0.1:8787",
                USAGE,
            )
        return Problem(f"{url}: {exc.message} ({exc.status} {exc.error})", USAGE)
    finally:
        await client.aclose()
    return None


def startup_problem(url: str, token: str | None, timeout: float = 10.0) -> Problem | None:
    return url_problem(url) or asyncio.run(server_problem(RedRunnerClient(url, token, timeout=timeout)))
