"""Turn Operation events into log lines, each with a kind that decides its color (as ansible colors it)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum

from backend import terminal_text
from console.models import Event


class Kind(IntEnum):
    PLAIN = 0
    HEADER = 1
    OK = 2
    CHANGED = 3
    SKIPPED = 4
    FAILED = 5
    UNREACHABLE = 6
    WARNING = 7
    DEPRECATION = 8
    RECAP_OK = 9
    RECAP_CHANGED = 10
    RECAP_FAILED = 11
    INCLUDED = 12
    DIM = 13


_FAILED_EVENTS = frozenset({"runner_on_failed", "runner_item_on_failed", "runner_on_unreachable"})
_RECAP_LINE = re.compile(r"^\S+\s+:\s+ok=\d+")
_RECAP_BAD = re.compile(r"\b(?:failed|unreachable)=[1-9]")
_RECAP_CHANGED = re.compile(r"\bchanged=[1-9]")


def classify(line: str, event: str = "") -> Kind:
    """The kind of one stdout line; the event type settles continuation lines of failures."""
    head = line.lstrip()
    if head.startswith(("PLAY ", "TASK [", "RUNNING HANDLER [", "PLAY RECAP")) or head == "PLAY":
        return Kind.HEADER
    if head.startswith(("ok: [", "ok:[")):
        return Kind.OK
    if head.startswith("changed: ["):
        return Kind.CHANGED
    if head.startswith(("skipping: [", "...ignoring")):
        return Kind.SKIPPED
    if head.startswith("included: "):
        return Kind.INCLUDED
    if "UNREACHABLE!" in head:
        return Kind.UNREACHABLE
    if head.startswith(("fatal: [", "failed: [")):
        return Kind.FAILED
    if head.startswith("[WARNING]"):
        return Kind.WARNING
    if head.startswith("[DEPRECATION WARNING]"):
        return Kind.DEPRECATION
    if _RECAP_LINE.match(head):
        if _RECAP_BAD.search(head):
            return Kind.RECAP_FAILED
        return Kind.RECAP_CHANGED if _RECAP_CHANGED.search(head) else Kind.RECAP_OK
    if event in _FAILED_EVENTS:
        return Kind.FAILED
    if event == "verbose":
        return Kind.DIM
    return Kind.PLAIN


def event_lines(event: Event) -> list[tuple[Kind, str]]:
    """The lines an event adds to the output; events with empty stdout add none."""
    if not event.stdout:
        return []
    name = event.event
    # Colours come from the line's kind: the text is plain (no escape sequence reaches the terminal).
    text = terminal_text.plain(event.stdout.replace("\r\n", "\n").replace("\r", "\n"))
    return [(classify(line, name), line.expandtabs()) for line in text.split("\n")]


def lines_of(events: Iterable[Event]) -> list[tuple[Kind, str]]:
    out: list[tuple[Kind, str]] = []
    for event in events:
        out.extend(event_lines(event))
    return out
