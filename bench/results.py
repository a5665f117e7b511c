"""Result rows, the statistics they are built from, and the table they print as."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One measured goal. `ratio` rows compare against raw ansible-playbook; others are absolute."""

    bench: str
    measure: str
    ours: str
    baseline: str
    result: str
    goal: str
    met: bool | None  # None: no goal at this size (quick runs) or nothing to judge
    notes: list[str] = field(default_factory=list)
    instead: str = "-"  # what a user would run instead of RedRunner: the baseline's name

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckFailed(AssertionError):
    """A correctness check inside a benchmark failed: its numbers mean nothing."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: with 100 samples, p99 is the second largest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def millis(value: float) -> str:
    return f"{value * 1000:.1f} ms"


RAW = "ansible-playbook"


def ratio_row(
    bench: str,
    measure: str,
    ours: float,
    raw: float,
    limit: float,
    judged: bool,
    notes: list[str] | None = None,
    instead: str = RAW,
) -> Row:
    ratio = ours / raw if raw > 0 else float("inf")
    return Row(
        bench,
        measure,
        seconds(ours),
        seconds(raw),
        f"{ratio:.3f}x",
        f"<= {limit:.2f}x",
        (ratio <= limit) if judged else None,
        notes or [],
        instead,
    )


def table(rows: list[Row]) -> str:
    """A Markdown table, readable in a terminal and pasteable into bench/README.md."""
    head = ["#", "measure", "RedRunner", "instead, a user runs", "baseline", "result", "goal", "met"]
    body = [
        [
            r.bench,
            r.measure,
            r.ours,
            r.instead,
            r.baseline,
            r.result,
            r.goal,
            {True: "yes", False: "NO", None: "-"}[r.met],
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) + " |" for b in body]
    return "\n".join(lines)
