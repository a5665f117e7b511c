"""Logging for background loops that retry: the traceback once, then one line a minute, then the recovery.

A loop that fails every second while the database is away would otherwise write a traceback per try,
burying the one line an operator needs (and filling a small disk faster still)."""

from __future__ import annotations

import logging
import time

REPEAT_EVERY = 60.0


class RepeatedFailure:
    def __init__(self, log: logging.Logger, what: str, repeat_every: float = REPEAT_EVERY) -> None:
        self.log = log
        self.what = what
        self.repeat_every = repeat_every
        self._since: float | None = None
        self._last_logged = 0.0
        self._last_cause = ""
        self._count = 0

    def failed(self, exc: BaseException) -> None:
        """Call from inside the `except` block."""
        cause = f"{type(exc).__name__}: {exc}"
        at = time.monotonic()
        self._count += 1
        if self._since is None or cause != self._last_cause:
            self._since = self._since or at
            self._last_cause = cause
            self._last_logged = at
            self.log.error("%s failed; retrying", self.what, exc_info=exc)
        elif at - self._last_logged >= self.repeat_every:
            self._last_logged = at
            self.log.error(
                "%s still failing after %.0f s (%d tries): %s", self.what, at - self._since, self._count, cause
            )

    def succeeded(self) -> None:
        if self._since is not None:
            self.log.warning("%s works again after %.1f s", self.what, time.monotonic() - self._since)
        self._since = None
        self._last_cause = ""
        self._count = 0
