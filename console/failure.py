"""Why an Operation failed, read from its stored events: the task that failed and the message.

The components' backups fail in a block whose rescue removes the partial output and then fails again
on purpose ("Fail with the reason", whose message names the first failure). The task an operator
wants is the one the rescue caught, not the rescue's own `fail`; the message worth showing is the
last one, which in that pattern carries the reason. Ansible stops a host at a failure nothing rescues,
so on the failing host: when the run rescued something, the task is the failure just before the last;
otherwise it is the last failure. Ignored failures (`ignore_errors`) never count.

Shared by the console's Job screen and the command-line client; nothing here imports Textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from backend import terminal_text
from console.models import Event, EventsPage, Operation

FAILED_EVENTS = frozenset({"runner_on_failed", "runner_item_on_failed", "runner_on_unreachable"})

# Stored events read back from the end of a run: a failure and its rescue are its last few tasks.
LOOKBACK = 200


@dataclass(frozen=True)
class Failure:
    task: str | None
    message: str | None


class EventSource(Protocol):
    async def events(self, op_id: int, after: int = 0, limit: int = 500) -> EventsPage: ...


def _message(event: Event) -> str | None:
    res: Any = event.data.get("res")
    msg = res.get("msg") if isinstance(res, dict) else None
    if isinstance(msg, str) and msg.strip():
        # Untrusted text bound for a terminal (it may quote extravars): no escapes, one line for a cell.
        return " ".join(terminal_text.plain(msg).split())
    return None


def failure_of(events: list[Event], rescued: int = 0) -> Failure | None:
    """The failing task and message among `events` (in seq order); `rescued` is the run's stats count."""
    failures = [e for e in events if e.event in FAILED_EVENTS and not e.data.get("ignore_errors")]
    if not failures:
        return None
    last = failures[-1]
    on_host = [e for e in failures if e.host == last.host]
    caught = on_host[-2] if rescued and len(on_host) > 1 else last
    message = _message(last) or _message(caught)
    return Failure(task=caught.task or last.task, message=message)


def worth_asking(op: Operation) -> bool:
    """Only Operations that ran and ended badly have a failing task to find."""
    return op.terminal and op.status != "successful" and op.event_count > 0


async def find_failure(source: EventSource, op: Operation, lookback: int = LOOKBACK) -> Failure | None:
    page = await source.events(op.id, after=max(0, op.event_count - lookback), limit=lookback)
    return failure_of(page.items, op.stats.rescued)
