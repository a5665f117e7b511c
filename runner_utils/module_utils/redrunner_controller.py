"""Run a redrunner_* module's own logic inside the controller's worker process, not as a new Python.

Both plays that use the modules run with `connection: local`, so a module's work (a few HTTP requests)
can happen right where the action plugin runs. Shipping the module costs a Python process per call
(about 0.3 s of CPU each); the each-plays make a start and a follow per component, and the follow
loop one call per slice. This loads the module file from `library/` beside this file and calls its `run(module, client)`
with a stand-in for AnsibleModule that checks the arguments against the module's own ARGUMENT_SPEC
(types, defaults, choices, REDRUNNER_URL/REDRUNNER_TOKEN fallbacks) and hides `no_log` values, as
AnsibleModule does, so the task's result is the one the shipped module would give.

Only action plugins load this file (by path); modules never import it.
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

RUNNER_UTILS = Path(__file__).resolve().parents[1]
API_NAME = "ansible.module_utils.redrunner_api"


class ModuleExit(Exception):
    """exit_json or fail_json: the task's result, as the module would have printed it."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


class ControllerModule:
    """What the modules use of AnsibleModule: params, check_mode, _diff, exit_json, fail_json."""

    def __init__(self, params: dict[str, Any], check_mode: bool, diff: bool) -> None:
        self.params = params
        self.check_mode = check_mode
        self._diff = diff

    def exit_json(self, **result: Any) -> None:
        raise ModuleExit(result)

    def fail_json(self, msg: str, **result: Any) -> None:
        raise ModuleExit({**result, "failed": True, "msg": msg})


def _load(name: str, path: Path) -> ModuleType:
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def library(module_name: str) -> ModuleType:
    """The module file, its `from ansible.module_utils.redrunner_api import ...` served by ours."""
    _load(API_NAME, RUNNER_UTILS / "module_utils" / "redrunner_api.py")
    return _load(f"redrunner_controller_{module_name}", RUNNER_UTILS / "library" / f"{module_name}.py")


def preload(module_name: str) -> None:
    """Load what every task of the plays needs before ansible-playbook forks its workers.

    The action plugins call this when they are imported, which the strategy does in ansible-playbook's
    main process before it forks a worker per task and host; a worker inherits what its parent loaded and
    otherwise loads it again, each time: the module file, redrunner_api and what they import
    (urllib.request, http.client, ssl), and Jinja's filter and test plugins, which Ansible loads (every
    file of them) the first time a template uses one - on the each-plays, in every worker.
    """
    from ansible.plugins.loader import filter_loader, test_loader

    library(module_name)
    filter_loader.get("ansible.builtin.default")
    test_loader.get("ansible.builtin.defined")


def run_module_here(module_name: str, args: dict[str, Any], check_mode: bool, diff: bool) -> dict[str, Any]:
    """The result the module would return for these arguments, computed in this process."""
    lib = library(module_name)
    api = sys.modules[API_NAME]
    validated = ArgumentSpecValidator(lib.ARGUMENT_SPEC).validate(dict(args))
    no_log = validated._no_log_values
    params = validated.validated_parameters
    if validated.error_messages:
        # The first error, worded as AnsibleModule words it.
        msg = validated.errors.msg
        if isinstance(validated.errors[0], UnsupportedError):
            msg = f"Unsupported parameters for ({module_name}) module: {msg}"
        return dict(remove_values(dict(failed=True, msg=msg, invocation={"module_args": params}), no_log))
    module = ControllerModule(params, check_mode, diff)
    try:
        result = lib.run(module, api.client_of(params))
    except ModuleExit as done:
        result = done.result
    except api.RedRunnerError as err:
        result = dict(failed=True, msg=err.message, status=err.status, error=err.error)
    result.setdefault("invocation", {"module_args": params})
    return dict(remove_values(result, no_log))
