"""RedRunner's stdout callback: ansible-runner's awx_display events, each handed over as one JSON line.

awx_display builds every event (and, by wrapping Display, turns text printed outside callbacks into events
too); then, per event, it writes the event to a `job_events/<uuid>-partial.json` file and marks where the
event's output begins and ends in stdout with base64 escapes, which ansible-runner reads back through a pty
and a regex. That hand-over is most of what the callback costs. This plugin keeps all of awx_display except
it: what is written to stdout/stderr between awx_display's `dump_begin` and `dump_end` is captured, and the
event goes out on stdout as `MARK + JSON + newline`, which the server reads from a pipe
(backend/event_stream.py). Text written outside any event reaches the pipe as it is.

Run by ansible-playbook, not by the server: it imports Ansible, which the server must never do (importing
awx_display patches Display for the whole process).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ansible.plugins.loader import callback_loader

DOCUMENTATION = """
    name: redrunner_events
    short_description: ansible-runner's awx_display events as JSON lines on stdout, for RedRunner
    description:
        - awx_display's events and display wrapping; each event goes to stdout as one line instead of
          a file plus base64 markers.
    type: stdout
    extends_documentation_fragment:
      - default_callback
    requirements:
      - Set as stdout in config
"""

# Must equal backend.event_stream.MARK (a test checks). Control characters JSON always escapes, so the mark
# can never appear inside an event's JSON; only raw writes to the process's stdout could forge it.
MARK = "\x1e\x1fredrunner-event "

# Loaded through Ansible's loader (from ansible-runner's callback folder, which the server puts on the
# callback path), so it is imported once, under the name Ansible gives it, as with runner's own transport.
_AwxCallbackModule: Any = callback_loader.get("awx_display", class_only=True)
awx = sys.modules[_AwxCallbackModule.__module__]


class _Capture:
    """Stands in for sys.stdout and sys.stderr while an event is open: what is written then is its stdout.

    On a pty both streams reach ansible-runner as one, so both are captured into the same list."""

    def __init__(self, real: Any, parts: list[str]) -> None:
        self._real = real
        self._parts = parts

    def write(self, text: str) -> int:
        if not text.isascii():
            # What the real stream would have put on the wire: Ansible's error handler replaces what the
            # encoding cannot take (and warns, which lands in this event, as it would on the pty).
            text = text.encode(self._real.encoding, self._real.errors).decode("utf-8", "replace")
        self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _EventLines:
    """Replaces awx_display's dump_begin/dump_end (both are called with Display's lock held)."""

    def __init__(self) -> None:
        self._head: str | None = None  # the open event's JSON, without its stdout
        self._parts: list[str] = []
        self._stdout: Any = None
        self._stderr: Any = None

    def begin(self, fileobj: Any) -> None:
        begin = awx.event_context.get_begin_dict()
        # Serialized now, as awx_display writes its file now: the callback about to run may change the
        # result it was given (the default callback pops warnings and deprecations from it).
        head = json.dumps(begin, cls=awx.AnsibleJSONEncoderLocal)
        if self._head is not None:
            # An event opened inside another: runner's filter ends the outer one here.
            self._send()
        else:
            self._stdout, self._stderr = sys.stdout, sys.stderr
            sys.stdout = _Capture(self._stdout, self._parts)
            sys.stderr = _Capture(self._stderr, self._parts)
        self._head = head

    def end(self, fileobj: Any) -> None:
        if self._head is None:
            return
        self._send()
        self._head = None
        sys.stdout, sys.stderr = self._stdout, self._stderr

    def _send(self) -> None:
        assert self._head is not None
        # What the pty (`\n` -> `\r\n`) and runner's filter (trailing line ends cut) make of the text.
        text = "".join(self._parts).replace("\n", "\r\n").rstrip("\r\n")
        self._parts.clear()
        line = f'{MARK}{self._head[:-1]}, "stdout": {json.dumps(text)}}}\n'
        self._stdout.write(line)
        self._stdout.flush()


_lines = _EventLines()
awx.event_context.dump_begin = _lines.begin
awx.event_context.dump_end = _lines.end
# A terminal makes stdout line-buffered; keep that on the pipe, so plain text and events keep their order.
sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]


class CallbackModule(_AwxCallbackModule):
    CALLBACK_NAME = "redrunner_events"
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
