"""Run the redrunner_job module's logic here, in the controller, instead of shipping it.

The play that uses it runs with `connection: local`: the module would be a new Python process doing
one or two HTTP requests. module_utils/redrunner_controller.py runs the module file's own `run` with
its own argument spec, so the task's result is the same.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()


def controller() -> ModuleType:
    """module_utils/redrunner_controller.py, loaded once per process by its path beside this directory: the
    one loader, which the redrunner_operation action plugin uses too."""
    name = "redrunner_controller"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "module_utils" / "redrunner_controller.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None, path
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


# Here, not in run(): see preload. Measured on backup-each.yml over 16 components: the each-play's CPU
# (its process tree) 2.49 s without this, 2.13 s with the module files alone.
controller().preload("redrunner_job")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars or {})
        result.update(
            controller().run_module_here("redrunner_job", dict(self._task.args), self._task.check_mode, self._task.diff)
        )
        job = result.get("job")
        if result.get("created") and isinstance(job, dict) and not result.get("failed"):
            # What the plays showed with a debug task of their own: one worker process less.
            source = f", from job {job['source_job']}" if job.get("source_job") is not None else ""
            units = ", ".join(str(u) for u in result.get("units") or [])
            display.display(f"RedRunner job {job.get('id')} (tag {job.get('tag')}{source}), units: {units}")
        return result
