"""Checks of client input: names, tags, actions, extravars, numbers. Each failure is an ApiError."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .errors import ApiError, invalid_parameter
from .names import (
    ACTION_FILE,
    ACTION_FILE_PATTERN,
    ACTION_MAX,
    ACTION_SHORT,
    EXTRAVAR_NAME_PATTERN,
    ID_DIGITS,
    MAX_TIMEOUT,
    MAX_UNITS,
    TAG,
    TAG_PATTERN,
    UNIT_NAME,
    UNIT_NAME_PATTERN,
)

RESERVED_VARS = (
    "redrunner_job_id",
    "redrunner_job_tag",
    "redrunner_unit",
    "redrunner_operation_id",
    "redrunner_action",
)
MAX_EXTRAVARS_BYTES = 256 * 1024


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def strict_json(text: str) -> Any:
    """json.loads without NaN and Infinity, which are not JSON (RFC 8259) and no playbook should see.
    Nesting too deep for the parser is bad input too (a ValueError), not a crash."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def check_tag(value: Any, field: str = "tag") -> str:
    if not isinstance(value, str) or not TAG.fullmatch(value):
        raise ApiError(400, "invalid_tag", f"tag must match {TAG_PATTERN}", field)
    return value


def check_unit_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not UNIT_NAME.fullmatch(value):
        raise ApiError(400, "invalid_unit_name", f"unit name must match {UNIT_NAME_PATTERN}", field)
    return value


def check_unit_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except ValueError as exc:
            raise ApiError(400, "invalid_units", "units must be a JSON list of unit names", "units") from exc
    if not isinstance(value, list) or len(value) > MAX_UNITS:
        raise ApiError(400, "invalid_units", f"units must be a list of at most {MAX_UNITS} unit names", "units")
    names: list[str] = []
    for item in value:
        name = check_unit_name(item, "units")
        if name not in names:
            names.append(name)
    return names


def resolve_action(project_dir: Path, action: Any, unit: str) -> str:
    """The playbook file name that `action` names for `unit`, checked to be a regular file in project/."""
    if not isinstance(action, str) or not action or len(action) > ACTION_MAX:
        raise ApiError(400, "invalid_action", "action must be a playbook file name", "action")
    if ACTION_FILE.fullmatch(action):
        name = action
    elif ACTION_SHORT.fullmatch(action):
        name = f"{action}-{unit}.yml"
    else:
        raise ApiError(
            400,
            "invalid_action",
            f"action must be a playbook file name in project/ ({ACTION_FILE_PATTERN}) "
            "or a short name <action> for <action>-<unit>.yml",
            "action",
        )
    if ".." in name:
        raise ApiError(400, "invalid_action", "action may not contain '..'", "action")
    if len(name) > ACTION_MAX:
        # A shorthand plus its unit can exceed what a file system allows in one name (ENAMETOOLONG).
        raise ApiError(
            400, "invalid_action", f"the playbook name {name[:40]}... is over {ACTION_MAX} characters", "action"
        )
    root = project_dir.resolve()
    candidate = root / name
    try:
        real = Path(os.path.realpath(candidate))
    except (OSError, ValueError) as exc:
        raise ApiError(400, "invalid_action", "action cannot be resolved", "action") from exc
    if not candidate.exists() and not candidate.is_symlink():
        raise ApiError(404, "playbook_not_found", f"no playbook {name} in the data dir's project/", "action")
    if real.parent != root and root not in real.parents:
        raise ApiError(400, "invalid_action", "action resolves outside the data dir's project/", "action")
    if not real.is_file():
        raise ApiError(404, "playbook_not_found", f"{name} is not a regular file in project/", "action")
    return name


def check_extravars(value: Any, allow_templated: bool = False) -> dict[str, Any]:
    """The caller's extra vars, refused unless they are plain data a playbook can only read (api.md:
    "Safety rules"): no `ansible_*` keys, no Jinja delimiters unless `allow_templated`, finite numbers,
    valid Unicode. Whatever passes still reaches Ansible marked unsafe (see backend/extravars.py)."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "invalid_extravars", "extravars must be a JSON object", "extravars") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_extravars", "extravars must be a JSON object", "extravars")
    for key in value:
        if key in RESERVED_VARS:
            raise ApiError(400, "reserved_extravar", f"extravars may not set {key}: RedRunner sets it", "extravars")
        if isinstance(key, str) and key.lower().startswith("ansible_"):
            raise ApiError(
                400,
                "reserved_extravar",
                f"extravars may not set {key}: a caller never chooses a run's connection, interpreter or become",
                "extravars",
            )
        if not isinstance(key, str) or not re.fullmatch(EXTRAVAR_NAME_PATTERN, key):
            raise ApiError(400, "invalid_extravars", f"extravar name {key!r} is not a valid variable name", "extravars")
    check_plain_data(value, allow_templated)
    if len(json.dumps(value)) > MAX_EXTRAVARS_BYTES:
        raise ApiError(400, "invalid_extravars", f"extravars must be at most {MAX_EXTRAVARS_BYTES} bytes", "extravars")
    return value


JINJA_DELIMITERS = ("{{", "{%", "{#")
SURROGATE = re.compile("[\ud800-\udfff]")
MAX_EXTRAVARS_DEPTH = 64


def check_plain_data(value: Any, allow_templated: bool) -> None:
    """Walk `value` (iteratively: a deep nesting must not blow the stack) and refuse what is not plain JSON
    data, or holds a template while templates are not allowed."""
    stack: list[tuple[Any, str, int]] = [(value, "extravars", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_EXTRAVARS_DEPTH:
            raise ApiError(
                400, "invalid_extravars", f"extravars may nest at most {MAX_EXTRAVARS_DEPTH} levels", "extravars"
            )
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    raise ApiError(400, "invalid_extravars", f"{where} has a key that is not a string", "extravars")
                _check_string(key, f"a key of {where}", allow_templated)
                stack.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))
        elif isinstance(node, str):
            _check_string(node, where, allow_templated)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ApiError(400, "invalid_extravars", f"{where} is not a finite number", "extravars")
        elif node is not None and not isinstance(node, bool | int):
            raise ApiError(400, "invalid_extravars", f"{where} is not a JSON value", "extravars")


def _check_string(text: str, where: str, allow_templated: bool) -> None:
    if SURROGATE.search(text):
        raise ApiError(400, "invalid_extravars", f"{where} is not valid Unicode (a lone surrogate)", "extravars")
    if not allow_templated and any(d in text for d in JINJA_DELIMITERS):
        raise ApiError(
            400,
            "unsafe_extravars",
            f"{where} holds a Jinja delimiter ({{{{, {{% or {{#): extravars are data, never templates",
            "extravars",
        )


def check_job_ref(value: Any, field: str) -> int | None:
    """A Job id given in a body (a JSON integer, or a form field's digits); None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]{0,17}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 10**18:
        raise ApiError(400, f"invalid_{field}", f"{field} must be a Job id (an integer >= 1)", field)
    return value


def check_timeout(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ApiError(400, "invalid_timeout", "timeout must be a number of seconds > 0", "timeout")
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "invalid_timeout", "timeout must be a number of seconds > 0", "timeout") from exc
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TIMEOUT:
        raise ApiError(400, "invalid_timeout", "timeout must be a number of seconds > 0 (at most a week)", "timeout")
    return seconds


def check_bool(value: Any, field: str) -> bool:
    """A boolean from JSON (true/false) or a form field ("true"/"false"); absent is false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise invalid_parameter(field, f"{field} must be true or false")


def int_param(raw: str | None, field: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(rf"[0-9]{{1,{ID_DIGITS}}}", raw):
        raise invalid_parameter(field, f"{field} must be an integer between {low} and {high}")
    value = int(raw)
    if not low <= value <= high:
        raise invalid_parameter(field, f"{field} must be an integer between {low} and {high}")
    return value
