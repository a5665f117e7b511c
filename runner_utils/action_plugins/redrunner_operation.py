"""Run the redrunner_operation module in slices and print a progress line between them.

A module cannot write to the terminal while it runs; an action plugin can, because
Display in a worker process forwards to ansible-playbook's own output. The module does
all the API work; this only decides how long each slice waits.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        module = self._task.action
        interval = int(args.get("progress_interval", 10) or 0)
        if interval <= 0 or not _truthy(args.get("wait", True)):
            result.update(self._execute_module(module_name=module, module_args=args, task_vars=task_vars))
            return result

        host = task_vars.get("inventory_hostname", "?")
        overall = args.get("wait_timeout")
        deadline = None if overall in (None, "") else time.monotonic() + float(overall)
        changed = False
        attempts: list[str] = []
        call = dict(args)
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            call["wait_timeout"] = interval if left is None else max(0.0, min(float(interval), left))
            res = self._execute_module(module_name=module, module_args=call, task_vars=task_vars)
            changed = changed or bool(res.get("changed"))
            last_slice = left is not None and left <= interval
            if res.get("failed") or res.get("terminal") or res.get("operation_id") is None or last_slice:
                # Earlier attempts of a retry chain, gathered over every slice, for the task's result.
                res["attempts"] = [*attempts, *(res.get("attempts") or [])]
                break
            attempts.extend(res.get("attempts") or [])
            for line in res.get("attempts") or []:
                display.display(f"[{host}] {line}")
            display.display(f"[{host}] {res.get('summary')}")
            # Later slices follow the Operation the first one started.
            call["operation_id"] = res["operation_id"]
        res["changed"] = changed
        result.update(res)
        return result


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)
