"""Run the redrunner_operation module's logic here, in the controller, in slices with a progress line
between them.

A module cannot write to the terminal while it runs; an action plugin can, because Display in a
worker process forwards to ansible-playbook's own output. The plays that use it run with
`connection: local`, so the module's logic (HTTP requests and ?wait= long-polls) runs in this process
(module_utils/redrunner_controller.py) instead of a new Python per call and per slice; this only
decides how long each slice waits.
"""

from __future__ import annotations

import sys
import time
from types import ModuleType
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.plugins.loader import action_loader
from ansible.utils.display import Display

display = Display()
MODULE = "redrunner_operation"


def controller() -> ModuleType:
    """module_utils/redrunner_controller.py, through the one loader: the redrunner_job action plugin's,
    found by Ansible's own plugin loader (action plugins cannot import module_utils beside them). Once
    loaded it is taken from sys.modules: the loader's search is some 400 stats and path joins a call."""
    loaded_before = sys.modules.get("redrunner_controller")
    if loaded_before is not None:
        return loaded_before
    job_plugin = action_loader.get("redrunner_job", class_only=True)
    loaded: ModuleType = sys.modules[job_plugin.__module__].controller()
    return loaded


# Here, not in run(): see preload. Measured on backup-each.yml over 16 components: the each-play's CPU
# (its process tree) 2.49 s without this, 2.13 s with the module files alone.
controller().preload(MODULE)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _module(self, args: dict[str, Any]) -> dict[str, Any]:
        return dict(controller().run_module_here(MODULE, args, self._task.check_mode, self._task.diff))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = dict(self._task.args)
        interval = int(args.get("progress_interval", 10) or 0)
        if interval <= 0 or not _truthy(args.get("wait", True)):
            result.update(self._module(args))
            return result

        host = task_vars.get("inventory_hostname", "?")
        overall = args.get("wait_timeout")
        deadline = None if overall in (None, "") else time.monotonic() + float(overall)
        changed = False
        attempts: list[str] = []
        call = dict(args)
        while True:
            began = time.monotonic()
            left = None if deadline is None else deadline - began
            call["wait_timeout"] = interval if left is None else max(0.0, min(float(interval), left))
            res = self._module(call)
            changed = changed or bool(res.get("changed"))
            last_slice = left is not None and left <= interval
            ended = res.get("terminal") and res.get("operation_id") is not None
            if ended or res.get("failed") or res.get("operation_id") is None or last_slice:
                if ended:
                    # The result line, so a play needs no task of its own to show it.
                    _show(host, res.get("attempts") or [], res.get("summary"))
                # Earlier attempts of a retry chain, gathered over every slice, for the task's result.
                res["attempts"] = [*attempts, *(res.get("attempts") or [])]
                break
            attempts.extend(res.get("attempts") or [])
            _show(host, res.get("attempts") or [], res.get("summary"))
            # Later slices follow the Operation the first one started.
            call["operation_id"] = res["operation_id"]
            # ... not the one `started` names: a retry chain may have moved on (its change is counted).
            call.pop("started", None)
            # A slice too short to long-poll (the API waits whole seconds) returns at once: pace the next
            # one, so a short interval is one request and one line per interval, never a busy loop.
            time.sleep(max(0.0, began + interval - time.monotonic()))
        res["changed"] = changed
        result.update(res)
        return result


def _show(host: str, attempts: list[str], summary: Any) -> None:
    for line in attempts:
        display.display(f"[{host}] {line}")
    display.display(f"[{host}] {summary}")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)
