"""The modules' copy of the terminal statuses: module_utils runs inside Ansible and cannot import backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from backend.statuses import TERMINAL

MODULE_UTILS = Path(__file__).resolve().parents[3] / "runner_utils" / "module_utils" / "redrunner_api.py"


def test_the_modules_terminal_statuses_are_the_servers() -> None:
    spec = importlib.util.spec_from_file_location("redrunner_api_copy", MODULE_UTILS)
    assert spec is not None and spec.loader is not None
    api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(api)
    assert api.TERMINAL == TERMINAL
