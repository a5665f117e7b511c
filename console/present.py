"""How resources read on screen: status colors, unit summaries, progress bars. Pure functions."""

from __future__ import annotations

from collections import Counter

from rich.text import Text

from console.client import ACTIVE, Job, Operation, Unit

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


def progress_bar(op: Operation | None, width: int = 10) -> Text:
    """`█████░░░░░ 7/12`; a hatched bar with `7/?` when the total is unknown."""
    if not op:
        return Text("")
    done = op.progress.tasks_done
    total = op.progress.tasks_total
    style = STATUS_STYLE.get(op.status, "")
    if not total:
        if op.status == "successful":
            return Text("█" * width + f" {done}/{done}", style=style)
        return Text("▒" * width, style="dim " + style) + Text(f" {done}/?")
    filled = min(width, round(width * done / total))
    bar = Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")
    return bar + Text(f" {done}/{total}")


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
