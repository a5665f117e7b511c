"""postgres_dump's logic in the task's worker process on a local connection, not a new Python (the backup
role's action_plugins/_run_here.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _helper() -> ModuleType:
    name = "rr_run_here"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "backup" / "action_plugins" / "_run_here.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


ActionModule = _helper().action_for(__file__, "postgres_dump")
