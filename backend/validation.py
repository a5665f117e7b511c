"""Checks of client input: names, tags, actions, extravars, numbers. Each failure is an ApiError."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .errors import ApiError, invalid_parameter

UNIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
ACTION_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.ya?ml$")
ACTION_SHORT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_ACTION_LENGTH = 255
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
    """json.loads without NaN and Infinity, which are not JSON (RFC 8259) and no playbook should see."""
    return json.loads(text, parse_constant=_reject_constant)


def check_tag(value: Any, field: str = "tag") -> str:
    if not isinstance(value, str) or not TAG.fullmatch(value):
        raise ApiError(400, "invalid_tag", "tag must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", field)
    return value


def check_unit_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not UNIT_NAME.fullmatch(value):
        raise ApiError(400, "invalid_unit_name", "unit name must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", field)
    return value


def check_unit_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except ValueError as exc:
            raise ApiError(400, "invalid_units", "units must be a JSON list of unit names", "units") from exc
    if not isinstance(value, list) or len(value) > 1000:
        raise ApiError(400, "invalid_units", "units must be a list of at most 1000 unit names", "units")
    names: list[str] = []
    for item in value:
        name = check_unit_name(item, "units")
        if name not in names:
            names.append(name)
    return names


def resolve_action(project_dir: Path, action: Any, unit: str) -> str:
    """The playbook file name that `action` names for `unit`, checked to be a regular file in project/."""
    if not isinstance(action, str) or not action or len(action) > MAX_ACTION_LENGTH:
        raise ApiError(400, "invalid_action", "action must be a playbook file name", "action")
    if ACTION_FILE.fullmatch(action):
        name = action
    elif ACTION_SHORT.fullmatch(action):
        name = f"{action}-{unit}.yml"
    else:
        raise ApiError(
            400,
            "invalid_action",
            "action must be a playbook file name in project/ (^[A-Za-z0-9][A-Za-z0-9_.-]*\\.ya?ml$) "
            "or a short name <action> for <action>-<unit>.yml",
            "action",
        )
    if ".." in name:
        raise ApiError(400, "invalid_action", "action may not contain '..'", "action")
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


def check_extravars(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except ValueError as exc:
            raise ApiError(400, "invalid_extravars", "extravars must be a JSON object", "extravars") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_extravars", "extravars must be a JSON object", "extravars")
    if len(json.dumps(value)) > MAX_EXTRAVARS_BYTES:
        raise ApiError(400, "invalid_extravars", f"extravars must be at most {MAX_EXTRAVARS_BYTES} bytes", "extravars")
    for key in value:
        if key in RESERVED_VARS:
            raise ApiError(400, "reserved_extravar", f"extravars may not set {key}: RedRunner sets it", "extravars")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ApiError(400, "invalid_extravars", f"extravar name {key!r} is not a valid variable name", "extravars")
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
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 7 * 86400:
        raise ApiError(400, "invalid_timeout", "timeout must be a number of seconds > 0 (at most a week)", "timeout")
    return seconds


def int_param(raw: str | None, field: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise invalid_parameter(field, f"{field} must be an integer between {low} and {high}")
    value = int(raw)
    if not low <= value <= high:
        raise invalid_parameter(field, f"{field} must be an integer between {low} and {high}")
    return value
