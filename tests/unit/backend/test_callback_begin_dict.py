"""The redrunner_events plugin's event head is awx_display's, though it reads the environment once per run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ansible_runner.display_callback import __file__ as runner_callback_package

from backend.pipe_transport import PLUGIN_DIR

# Run in a child: importing the plugin patches Ansible's Display for the whole process.
CHECK = r"""
import json, sys
from ansible.plugins.loader import callback_loader
plugin = sys.modules[callback_loader.get("redrunner_events", class_only=True).__module__]
ctx = plugin.awx.event_context
cases = [
    {"event": "runner_on_ok", "uuid": "u1", "created": "t", "task_uuid": "t1", "res": {"msg": "x"}, "verbosity": 2},
    {"event": "runner_on_failed", "uuid": "u2", "created": "t", "parent_uuid": "p", "res": {"msg": "y"}},
    {"uuid": "u3", "created": "t", "warning": True, "play_uuid": "p1"},
    {"uuid": "u4", "created": "t", "pid": 7, "playbook_uuid": "u4", "res": {"msg": "z" * 200}},
    {"event": "playbook_on_stats", "uuid": "u5", "created": "t", "res": {"msg": "z" * 200}},
]
out = []
for case in cases:
    pair = []
    for make in (ctx.get_begin_dict, plugin._begin_dict):
        ctx._local._ctx = dict(case)
        pair.append(make())
    out.append(pair)
print(json.dumps(out))
"""


def heads(**env: str) -> list[list[dict[str, object]]]:
    callbacks = os.path.join(os.path.dirname(runner_callback_package), "callback")
    full_env = {
        **os.environ,
        "ANSIBLE_CALLBACK_PLUGINS": f"{PLUGIN_DIR}:{callbacks}",
        "RUNNER_OMIT_EVENTS": "False",
        "RUNNER_ONLY_FAILED_EVENTS": "False",
        **env,
    }
    result = subprocess.run([sys.executable, "-c", CHECK], env=full_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_the_same_head_as_awx_display_key_for_key_and_in_order() -> None:
    for runner_own, lean in heads():
        assert list(runner_own.items()) == list(lean.items())


def test_the_same_head_with_runners_event_settings() -> None:
    settings = {"RUNNER_ONLY_FAILED_EVENTS": "True", "MAX_EVENT_RES": "100", "JOB_ID": "12", "PROJECT_UPDATE_ID": "3"}
    pairs = heads(**settings)
    for runner_own, lean in pairs:
        assert list(runner_own.items()) == list(lean.items())
    assert pairs[0][1]["event_data"] == {} and pairs[0][1]["job_id"] == 12
    assert heads(RUNNER_OMIT_EVENTS="true")[1][1]["event_data"] == {}
