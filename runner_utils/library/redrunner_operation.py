#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
---
module: redrunner_operation
short_description: Start a RedRunner Operation in a Unit and follow it to its end
description:
  - Starts O(action) in Unit O(unit) of Job O(job_id) (C(POST /jobs/{id}/units/{name})), or
    follows an existing Operation given by O(operation_id), using the API's C(?wait=) long-poll,
    one request every O(long_poll) seconds at most while the Operation runs, never a tight loop.
  - Fails when the Operation ends in anything but C(successful), with its id, status and the
    failing task's message, unless O(fail_on_status=false).
  - The companion action plugin of the same name (in C(action_plugins/) beside the plays) splits
    the wait into O(progress_interval) slices and prints a progress line after each one; the
    module alone cannot print while it runs.
extends_documentation_fragment: redrunner
options:
  job_id:
    description: The Job whose Unit runs the action. Required to start an Operation.
    type: int
  unit:
    description: The Unit (component) name. Required to start an Operation.
    type: str
  action:
    description: Playbook file name, or the shorthand C(backup) for C(backup-<unit>.yml).
    type: str
  extravars:
    description: Extra variables for the playbook (the C(redrunner_*) ones are set by the server).
    type: dict
    default: {}
  timeout:
    description: Time limit in seconds the server enforces on the Operation (status C(timeout)).
    type: float
  queue:
    description: Wait for the Unit's running Operation to finish instead of failing with C(unit_busy).
    type: bool
    default: false
  check:
    description:
      - Run the playbook with C(--check), a dry run that changes nothing. Running this task in check
        mode (C(ansible-playbook --check)) does the same.
    type: bool
    default: false
  diff:
    description: Run the playbook with C(--diff); also on when this task runs with C(--diff).
    type: bool
    default: false
  retries:
    description:
      - The server starts the Operation again, up to this many times (0 to 10), when it ends
        C(failed), C(timeout) or C(lost). The module follows the chain to its last attempt.
    type: int
    default: 0
  retry_delay:
    description: Seconds between an attempt's end and the next attempt's start (server default 10).
    type: float
  operation_id:
    description: Follow this existing Operation instead of starting one.
    type: int
  started:
    description:
      - A start's result (this module's, registered with O(wait=false), or one item of a start looped
        over several Units with C(failed_when) false), to follow the Operation it started, as
        O(operation_id) does. When that start failed, fail with its message; when it started nothing
        (check mode without a Job), return it as it is.
      - The task reports a change when the start did, so a host that starts and follows its Operation
        in two tasks (one of them looped over every host) still shows its change.
    type: dict
  wait:
    description: Follow the Operation until it ends; with V(false) return right after starting it.
    type: bool
    default: true
  wait_timeout:
    description:
      - Follow for at most this many seconds. When the Operation is still running then, the
        module returns RV(terminal=false) without failing, so the caller can print progress and
        call again with O(operation_id). Unset means until the Operation ends.
    type: float
  long_poll:
    description: Seconds the server may hold each status request (1 to 60).
    type: int
    default: 30
  progress_interval:
    description: Used by the action plugin only; seconds between progress lines (0 prints none).
    type: int
    default: 10
  fail_on_status:
    description: Fail the task when the Operation ends in anything but C(successful).
    type: bool
    default: true
  stdout_lines:
    description: How many of the playbook's last output lines to return in RV(stdout_tail).
    type: int
    default: 20
author: RedRunner
"""

EXAMPLES = r"""
- name: Back up this component in its own Unit and wait for the result
  redrunner_operation:
    url: http://127.0.0.1:8787
    job_id: "{{ redrunner_job_id }}"
    unit: "{{ inventory_hostname }}"
    action: "backup-{{ inventory_hostname }}.yml"
    extravars:
      backup_root: /var/backups/shop
"""

RETURN = r"""
operation:
  description: The Operation (its last attempt) as the API last returned it (null when none was started).
  returned: always
  type: dict
operation_id:
  description: The Operation's id.
  returned: always
  type: int
status:
  description: The Operation's status word (C(running), C(successful), C(failed), ...).
  returned: always
  type: str
terminal:
  description: Whether the Operation has ended.
  returned: always
  type: bool
playbook_rc:
  description:
    - ansible-playbook's exit status, null unless it exited by itself.
    - Not named C(rc), which Ansible would read as this task's own exit status.
  returned: always
  type: int
artifacts:
  description: What the playbook published with set_stats (a backup's C(redrunner_backup)), or null.
  returned: always
  type: dict
stats:
  description: Per-host task counts of the playbook (ok, changed, failed, skipped, unreachable).
  returned: always
  type: dict
failures:
  description: "C(task: message) for each failed task, when the Operation did not succeed."
  returned: always
  type: list
  elements: str
stdout_tail:
  description: The last O(stdout_lines) lines of the playbook's output, once it has ended.
  returned: always
  type: list
  elements: str
summary:
  description: One line telling where the Operation stands.
  returned: always
  type: str
attempts:
  description: One line for each earlier attempt that ended and was retried while this task followed.
  returned: always
  type: list
  elements: str
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.redrunner_api import (  # noqa: E402
    TERMINAL,
    ApiClient,
    RedRunnerError,
    collect_failures,
    connection_argument_spec,
    failure_summary,
    follow,
    progress_line,
    run_module,
    tail,
)


def describe(op: dict[str, Any], client: ApiClient, params: dict[str, Any]) -> dict[str, Any]:
    """The module result for an Operation; terminal ones carry failures and the stdout tail."""
    terminal = op["status"] in TERMINAL
    result = dict(
        operation=op,
        operation_id=op["id"],
        status=op["status"],
        terminal=terminal,
        playbook_rc=op.get("rc"),
        stats=op.get("stats") or {},
        artifacts=op.get("artifacts"),
        failures=[],
        stdout_tail=[],
        summary=progress_line(op),
    )
    if terminal:
        if op["status"] != "successful":
            result["failures"] = collect_failures(client, op["id"])
        result["stdout_tail"] = tail(client.stdout(op["id"]), params["stdout_lines"])
    return result


def start(module: AnsibleModule, client: ApiClient) -> dict[str, Any]:
    params = module.params
    missing = [name for name in ("job_id", "unit", "action") if params[name] in (None, "")]
    if missing and not (module.check_mode and missing == ["job_id"]):
        module.fail_json(msg=f"to start an Operation give {', '.join(missing)} (or operation_id to follow one)")
    if module.check_mode and params["job_id"] is None:
        # In check mode the Operation runs as a dry run; with no Job to run it in, nothing starts.
        module.exit_json(
            changed=True,
            operation=None,
            operation_id=None,
            status=None,
            terminal=False,
            playbook_rc=None,
            stats={},
            artifacts=None,
            failures=[],
            stdout_tail=[],
            summary=f"check mode: would start {params['action']} in unit {params['unit']}",
        )
    try:
        # Check mode on this task is a dry run of the component: the server runs it with --check.
        started: dict[str, Any] = client.start_operation(
            params["job_id"],
            params["unit"],
            params["action"],
            params["extravars"],
            params["timeout"],
            params["queue"],
            check=params["check"] or module.check_mode,
            diff=params["diff"] or module._diff,
            retries=params["retries"],
            retry_delay=params["retry_delay"],
        )
        return started
    except RedRunnerError as err:
        if err.error == "unit_not_found":
            module.fail_json(
                msg=f"job {params['job_id']} has no unit {params['unit']}: {err.message}",
                status=err.status,
                error=err.error,
            )
        raise


def from_start(module: AnsibleModule, start_result: dict[str, Any]) -> dict[str, Any] | None:
    """The result for `started` when there is nothing to follow: its failure, or its check-mode no-op."""
    if start_result.get("operation_id") is not None:
        return None
    if start_result.get("msg"):  # the start failed; its failure is this host's
        keep = {k: start_result[k] for k in ("status", "error") if k in start_result}
        module.fail_json(msg=str(start_result["msg"]), **keep)
    return {k: v for k, v in start_result.items() if not k.startswith(("_ansible", "ansible_", "item"))}


def run(module: AnsibleModule, client: ApiClient) -> dict[str, Any]:
    params = module.params
    start_result = params["started"]
    if start_result is not None:
        nothing = from_start(module, start_result)
        if nothing is not None:
            return nothing
        params = {**params, "operation_id": int(start_result["operation_id"])}
    started = params["operation_id"] is None
    op = start(module, client) if started else client.get_operation(params["operation_id"])
    wait_timeout = params["wait_timeout"]
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    attempts: list[str] = []
    while True:
        if params["wait"] and op["status"] not in TERMINAL:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            op = follow(client, op["id"], left, max(1, min(60, params["long_poll"])))
        retry = client.next_attempt(op) if params["wait"] and op["status"] in TERMINAL else None
        if retry is None:
            break
        # The server has already created the next attempt: follow the chain to its end.
        attempts.append(f"{progress_line(op)}; retried as operation {retry['id']}")
        op = retry
        if deadline is not None and time.monotonic() >= deadline:
            break
    result = describe(op, client, params)
    result["attempts"] = attempts
    # Starting an Operation is the change this task makes; following one changes nothing, unless it
    # follows the start it was handed (`started`), whose change it reports.
    result["changed"] = started or bool((start_result or {}).get("changed"))
    if result["terminal"] and op["status"] != "successful" and params["fail_on_status"]:
        module.fail_json(msg=failure_summary(op, result["failures"]), **result)
    return result


# The module's options; its action plugin checks a task's arguments against the same spec.
ARGUMENT_SPEC = connection_argument_spec(
    job_id=dict(type="int"),
    unit=dict(type="str"),
    action=dict(type="str"),
    extravars=dict(type="dict", default={}),
    timeout=dict(type="float"),
    queue=dict(type="bool", default=False),
    check=dict(type="bool", default=False),
    diff=dict(type="bool", default=False),
    retries=dict(type="int", default=0),
    retry_delay=dict(type="float"),
    operation_id=dict(type="int"),
    started=dict(type="dict"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="float"),
    long_poll=dict(type="int", default=30),
    progress_interval=dict(type="int", default=10),
    fail_on_status=dict(type="bool", default=True),
    stdout_lines=dict(type="int", default=20),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, run)


if __name__ == "__main__":
    main()
