"""How resources read on screen: status colors, unit summaries, progress bars. Pure functions."""

from __future__ import annotations

from collections import Counter

from rich.text import Text

from console.client import ACTIVE, Job, Operation, Unit
from console.timefmt import duration

STATUS_STYLE = {
    "successful": "bold green",
    "failed": "bold red",
    "running": "bold yellow",
    "pending": "dim yellow",
    "canceled": "magenta",
    "timeout": "bold red",
    "lost": "bold red",
    "error": "bold red",
    "idle": "dim",
    "new": "dim",
}
SUMMARY_ORDER = ("ok", "running", "pending", "failed", "canceled", "timeout", "lost", "error", "idle")


def status_text(status: str) -> Text:
    """The API's exact status word, colored."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def units_summary(units: list[Unit]) -> str:
    """`3 ok · 1 running · 1 failed` (ok meaning the latest operation was successful)."""
    counts = Counter("ok" if u.status == "successful" else u.status for u in units)
    parts = [f"{counts[key]} {key}" for key in SUMMARY_ORDER if counts.get(key)]
    parts += [f"{n} {key}" for key, n in sorted(counts.items()) if key not in SUMMARY_ORDER]
    return " · ".join(parts) if parts else "no units"


def job_status(units: list[Unit]) -> str:
    """The Job status rule of the contract, for when only Unit/Operation frames arrived."""
    ops = [u.latest_operation for u in units if u.latest_operation is not None]
    if not ops:
        return "new"
    if any(op.status in ACTIVE for op in ops):
        return "running"
    if any(op.status != "successful" for op in ops):
        return "failed"
    return "successful"


def progress_label(op: Operation) -> str:
    """One figure for an Operation's progress, the same on every screen.

    `7/12` counted; `7/~12` against the previous run's count (an estimate); `7/?` when no total is
    honest (no earlier run, or this run passed the estimate); `done 17/17` at a successful end;
    `3 tasks` when it ended otherwise (its status says how).
    """
    done, total = op.progress.tasks_done, op.progress.tasks_total
    if op.terminal:
        return f"done {done}/{done}" if op.status == "successful" else f"{done} task{'s' if done != 1 else ''}"
    if total is None or done > total:
        return f"{done}/?"
    return f"{done}/~{total}" if op.progress.estimated else f"{done}/{total}"


def progress_bar(op: Operation | None, width: int = 10) -> Text:
    """`█████░░░░░ 7/12`; a hatched bar when the total is unknown; full at a successful end."""
    if not op:
        return Text("")
    label = progress_label(op)
    done, total = op.progress.tasks_done, op.progress.tasks_total
    style = STATUS_STYLE.get(op.status, "")
    if op.terminal:
        fill = "█" if op.status == "successful" else "▪"
        return Text(fill * width, style=style) + Text(f" {label}")
    if total is None or done > total:
        return Text("▒" * width, style="dim " + style) + Text(f" {label}")
    filled = min(width, round(width * done / total)) if total else 0
    bar = Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")
    return bar + Text(f" {label}")


def eta_text(op: Operation, previous: float | None, spent: float | None) -> str:
    """`~2m10s` left, judged by the previous successful run's duration; empty whenever that cannot
    be honest: not running, no earlier run, or this run already outlasted it or its task count."""
    if op.status != "running" or previous is None or spent is None:
        return ""
    total = op.progress.tasks_total
    if total is not None and op.progress.tasks_done > total:
        return ""
    left = previous - spent
    return "~" + duration(left) if left >= 1 else ""


def newer(a: Operation | None, b: Operation | None) -> Operation | None:
    """The more recent of two versions of an Operation (or of two Operations)."""
    if not a:
        return b
    if not b:
        return a
    if a.id == b.id and a.terminal and not b.terminal:
        return a  # a late answer to an earlier request must not undo a terminal state
    return b if b.id >= a.id else a


def sort_jobs(jobs: list[Job]) -> list[Job]:
    return sorted(jobs, key=lambda job: job.id, reverse=True)
