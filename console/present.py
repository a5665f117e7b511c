"""How resources read on screen: status colors, unit summaries, progress bars. Pure functions."""

from __future__ import annotations

from collections import Counter

from rich.text import Text

from console.client import ACTIVE, TERMINAL, Job, Operation, Unit

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
    counts = Counter("ok" if u.get("status") == "successful" else str(u.get("status", "idle")) for u in units)
    parts = [f"{counts[key]} {key}" for key in SUMMARY_ORDER if counts.get(key)]
    parts += [f"{n} {key}" for key, n in sorted(counts.items()) if key not in SUMMARY_ORDER]
    return " · ".join(parts) if parts else "no units"


def job_status(units: list[Unit]) -> str:
    """The Job status rule of the contract, for when only Unit/Operation frames arrived."""
    latest = [u.get("latest_operation") for u in units]
    ops = [op for op in latest if op]
    if not ops:
        return "new"
    if any(op.get("status") in ACTIVE for op in ops):
        return "running"
    if any(op.get("status") != "successful" for op in ops):
        return "failed"
    return "successful"


def progress_bar(op: Operation | None, width: int = 10) -> Text:
    """`█████░░░░░ 7/12`; a hatched bar with `7/?` when the total is unknown."""
    if not op:
        return Text("")
    progress = op.get("progress") or {"tasks_done": 0, "tasks_total": None}
    done = int(progress.get("tasks_done") or 0)
    total = progress.get("tasks_total")
    style = STATUS_STYLE.get(str(op.get("status")), "")
    if not total:
        if op.get("status") == "successful":
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
    a_id, b_id = int(a.get("id", 0)), int(b.get("id", 0))
    if a_id == b_id and a.get("status") in TERMINAL and b.get("status") not in TERMINAL:
        return a  # a late answer to an earlier request must not undo a terminal state
    return b if b_id >= a_id else a


def sort_jobs(jobs: list[Job]) -> list[Job]:
    return sorted(jobs, key=lambda job: int(job.get("id", 0)), reverse=True)
