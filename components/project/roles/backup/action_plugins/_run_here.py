"""Run a role's module inside the task's worker process when the module would run on this machine anyway.

The component playbooks run on localhost with `connection: local`. A shipped module is a new Python process
that imports Ansible's module code (about 0.2 s of CPU and as much wall time per task): a postgres backup
made three such calls, around a pg_dump of 1-2 s. Here the module file's own `run(module)` is called with a
stand-in for AnsibleModule that checks the arguments against the module's own ARGUMENT_SPEC (types,
defaults, choices, required_if) and hides `no_log` values, as AnsibleModule does, so the task's result is the
one the shipped module gives. On another connection, with become, or with a task environment (which a
module process gets and this process does not), the module is shipped as usual.

Only the roles' action plugins load this file (by its path); it is not an action of its own.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase


class ModuleExit(Exception):
    """exit_json or fail_json: the task's result, as the module would have printed it."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


class HereModule:
    """What the roles' modules use of AnsibleModule: params, check_mode, exit_json, fail_json."""

    def __init__(self, params: dict[str, Any], check_mode: bool) -> None:
        self.params = params
        self.check_mode = check_mode

    def exit_json(self, **result: Any) -> None:
        raise ModuleExit(result)

    def fail_json(self, msg: str, **result: Any) -> None:
        raise ModuleExit({**result, "failed": True, "msg": msg})


def library(path: Path) -> ModuleType:
    """The module file, loaded once per process (a worker inherits it from ansible-playbook when the action
    plugin's import loaded it there)."""
    name = f"rr_run_here_{path.parent.parent.name}_{path.stem}"
    found = sys.modules.get(name)
    if found is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        found = importlib.util.module_from_spec(spec)
        sys.modules[name] = found
        spec.loader.exec_module(found)
    return found


def run_here(path: Path, args: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """The result the module at `path` would return for these arguments, computed in this process."""
    lib = library(path)
    validated = ArgumentSpecValidator(lib.ARGUMENT_SPEC, **lib.VALIDATION).validate(dict(args))
    no_log = validated._no_log_values
    params = validated.validated_parameters
    if validated.error_messages:
        msg = validated.errors.msg  # the first error, worded as AnsibleModule words it
        if isinstance(validated.errors[0], UnsupportedError):
            msg = f"Unsupported parameters for ({path.stem}) module: {msg}"
        return dict(remove_values({"failed": True, "msg": msg, "invocation": {"module_args": params}}, no_log))
    try:
        result = lib.run(HereModule(params, check_mode))
    except ModuleExit as done:
        result = done.result
    result.setdefault("changed", False)
    result.setdefault("invocation", {"module_args": params})
    return dict(remove_values(result, no_log))


class RunHere(ActionBase):
    """The action plugin of a role's module at LIBRARY (library/<name>.py beside the action plugins)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    LIBRARY: Path

    def here(self) -> bool:
        return (
            getattr(self._connection, "transport", "") == "local"
            and not self._play_context.become
            and not any(self._task.environment or [])  # [{}] when none is set
        )

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars or {})
        if self.here():
            result.update(run_here(self.LIBRARY, dict(self._task.args), bool(self._task.check_mode)))
        else:
            result.update(self._execute_module(module_name=self.LIBRARY.stem, task_vars=task_vars))
        return result


def action_for(plugin_file: str, module_name: str) -> type[RunHere]:
    """The ActionModule class for the action plugin file `plugin_file` (its role's library/<module_name>.py).
    The module file is loaded now: ansible-playbook imports action plugins before it forks its workers."""
    path = Path(plugin_file).resolve().parents[1] / "library" / f"{module_name}.py"
    library(path)
    return type("ActionModule", (RunHere,), {"LIBRARY": path})
