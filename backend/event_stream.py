"""The `pipe` transport's reader: ansible-playbook's output bytes -> the events ansible-runner would make.

The `redrunner_events` callback (backend/ansible_plugins/callback/) writes each event as one line `MARK +
JSON`; everything else on the pipe is plain text, which becomes `verbose` events exactly as runner's
OutputEventFilter makes them from a pty: each `\\n` read as the pty's `\\r\\n`, complete lines at once, a
partial line when the next event begins or at the end, line ends cut. Events get the fields runner adds
(`counter`, `runner_ident`, `created` for text) and are handed to the handler in the order they were written.

A playbook's output shares the pipe, so it could write a mark line of its own and forge an event. Each run's
mark carries a nonce (`MARK + nonce + " "`) that only the plugin learns, from a file it reads and deletes
before any task runs (pipe_transport.py writes it): a forged line without it is text, a `verbose` event.
"""

from __future__ import annotations

import datetime
import json
import secrets
import uuid
from collections.abc import Callable
from typing import Any

# Must equal MARK and NONCE_FILE in the redrunner_events plugin.
MARK = b"\x1e\x1fredrunner-event "
NONCE_FILE = "REDRUNNER_EVENT_NONCE_FILE"


def event_mark(nonce: str) -> bytes:
    """What begins an event's line in a run with this nonce (the bare MARK without one)."""
    return MARK + nonce.encode() + b" " if nonce else MARK


EventHandler = Callable[[dict[str, Any]], Any]


def _decode(data: bytes) -> str:
    # As pexpect decodes the pty for runner: UTF-8, anything else replaced.
    return data.decode("utf-8", "replace")


class VerboseText:
    """Plain text as runner's OutputEventFilter turns it into `verbose` events (one per line)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._buffer = ""

    def feed(self, text: str) -> None:
        text = text.replace("\n", "\r\n")  # what the pty's output processing did to it
        self._buffer += text
        if "\n" not in text:
            return
        lines = self._buffer.splitlines(True)
        self._buffer = lines.pop() if "\n" not in lines[-1] else ""
        for line in lines:
            self._emit(line.rstrip("\n\r"))

    def flush(self) -> None:
        """Emit what is left (a partial line): the filter does so when an event begins, and at the end."""
        if self._buffer:
            for chunk in self._buffer.splitlines(True):
                self._emit(chunk.rstrip("\n\r"))
            self._buffer = ""


class EventStream:
    """Feed it the pipe's bytes as they come, `close()` at EOF; calls `handler` once per event, in order."""

    def __init__(self, ident: str, handler: EventHandler, nonce: str | None = None) -> None:
        # The run's secret part of the mark; a new one unless given (tests give their own).
        self.nonce = secrets.token_hex(16) if nonce is None else nonce
        self._mark = event_mark(self.nonce)
        self._ident = ident
        self._handler = handler
        self._counter = 0
        self._pending = bytearray()
        self._text = VerboseText(self._verbose)

    def feed(self, data: bytes) -> None:
        pending = self._pending
        scanned = len(pending)  # the bytes held back hold no newline: search only what is new
        pending += data
        start = 0
        while True:
            end = pending.find(b"\n", max(start, scanned))
            if end < 0:
                break
            self._line(bytes(pending[start : end + 1]))
            start = end + 1
        if start:
            del pending[:start]

    def close(self) -> None:
        """End of output: what is left without a newline is text, except a cut-off event (the process was
        killed while writing it), which is dropped."""
        rest = bytes(self._pending)
        self._pending.clear()
        mark = rest.find(self._mark)
        self._text.feed(_decode(rest if mark < 0 else rest[:mark]))
        self._text.flush()

    def _line(self, line: bytes) -> None:
        mark = line.find(self._mark)
        if mark < 0:
            self._text.feed(_decode(line))
            return
        if mark:
            self._text.feed(_decode(line[:mark]))
        try:
            event = json.loads(line[mark + len(self._mark) :])
        except ValueError:
            event = None
        if not isinstance(event, dict):
            # Not one of ours after all: text, as anything else would be.
            self._text.feed(_decode(line[mark:]))
            return
        # The filter ends the text before an event at the event's start, partial line or not.
        self._text.flush()
        self._counter += 1
        event["counter"] = self._counter
        event["runner_ident"] = self._ident
        self._handler(event)

    def _verbose(self, stdout: str) -> None:
        self._counter += 1
        self._handler(
            {
                "event": "verbose",
                "uuid": str(uuid.uuid4()),
                "counter": self._counter,
                "stdout": stdout,
                "runner_ident": self._ident,
                "created": datetime.datetime.now(datetime.UTC).isoformat(),
            }
        )
