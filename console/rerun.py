"""The rerun question: what will run again, on which Unit, and what a restore among them means.

Nothing here imports Textual.
"""

from __future__ import annotations

import json

from console.models import Operation
from console.restore import is_restore

# Extravars longer than this are summarised by their keys in the question.
EXTRAVARS_SHOWN = 60


def _request(op: Operation) -> str:
    extra = json.dumps(op.extravars, sort_keys=True) if op.extravars else ""
    if len(extra) > EXTRAVARS_SHOWN:
        extra = "extravars " + ", ".join(sorted(op.extravars))
    parts = [p for p in (extra, "check mode" if op.check else "") if p]
    return f" with {'; '.join(parts)}" if parts else ""


def rerun_question(job_id: int, ops: list[Operation]) -> str:
    """`Rerun in Job 12: restore-db.yml on db (failed), ...? Each runs again with the same request.`"""
    runs = ", ".join(f"{op.action} on {op.unit} ({op.status}{_request(op)})" for op in ops)
    question = f"Rerun in Job {job_id}: {runs}? Each runs again with the same request."
    restores = sorted({op.unit for op in ops if is_restore(op.action)})
    if restores:
        question += f" The restore overwrites live data on {', '.join(restores)} again."
    return question
