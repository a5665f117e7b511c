"""What a server's answers become for the client: errors, the backoff between reconnects, the frame limit.

Apart from console/client.py so that each stays one job: the client makes the calls; this says what an
answer that is not a success means (the contract's error envelope, or something that is not RedRunner at
all) and how long a follower waits before it tries again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx


class ApiError(Exception):
    """The server answered with the contract's error envelope (or something unexpected)."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.field = field


class Unavailable(Exception):
    """The server could not be reached (refused, reset, timed out)."""


# The largest stream frame a follower takes: an event is at most the server's stdout and event-data limits
# (about 1 MiB); a frame far larger is not RedRunner's, and reading it whole could exhaust the memory.
MAX_FRAME_BYTES = 16 * 1024 * 1024


@dataclass
class Backoff:
    """Exponential backoff with jitter, so many consoles do not reconnect in lockstep."""

    initial: float = 0.25
    factor: float = 2.0
    maximum: float = 5.0
    jitter: float = 0.1
    _next: float = field(default=0.0, init=False)

    def reset(self) -> None:
        self._next = 0.0

    def next_delay(self) -> float:
        self._next = self.initial if self._next == 0.0 else min(self.maximum, self._next * self.factor)
        return self._next * (1 + random.uniform(-self.jitter, self.jitter))


def not_redrunner(response: httpx.Response) -> ApiError:
    """An answer without the contract's shape (an HTML page, a proxy's error): one line that says so,
    never the body, which may be a whole page or hold terminal escapes."""
    kind = response.headers.get("content-type", "no content type").split(";")[0].strip()
    where = f"{response.request.method} {response.request.url.copy_with(query=None)}"
    return ApiError(
        response.status_code,
        "not_redrunner",
        f"{where} answered {response.status_code} {response.reason_phrase} ({kind}), not as a RedRunner server: "
        "is --url the server's address, like http://127.0.0.1:8787?",
    )


def raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
        raise ApiError(
            int(body.get("status", response.status_code)),
            str(body.get("error", "http_error")),
            str(body.get("message", response.reason_phrase)),
            body.get("field"),
        )
    except (ValueError, AttributeError):
        raise not_redrunner(response) from None
