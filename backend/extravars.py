"""The extra vars file of one run: YAML that ansible-playbook reads with `-e @file`.

A file, not the command line, so no value shows in `ps`; owner-only, so no other user reads it; and
every string of the caller's extravars (keys included) is tagged `!unsafe`, so Ansible never templates it,
whatever it holds. RedRunner's own `redrunner_*` values are plain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

try:
    # libyaml's emitter: the same text as PyYAML's own, in an eighth of the time (once per Operation).
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # a PyYAML built without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]


class _Unsafe(str):
    """A caller's string: dumped with Ansible's `!unsafe` tag."""


class _Dumper(_BaseDumper):
    pass


def _represent_unsafe(dumper: _Dumper, value: _Unsafe) -> yaml.ScalarNode:
    # Double-quoted: PyYAML escapes whatever YAML could not hold literally.
    return dumper.represent_scalar("!unsafe", str(value), style='"')


_Dumper.add_representer(_Unsafe, _represent_unsafe)


def mark_unsafe(value: Any) -> Any:
    if isinstance(value, str):
        return _Unsafe(value)
    if isinstance(value, dict):
        return {_Unsafe(k): mark_unsafe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_unsafe(v) for v in value]
    return value


def render(caller: dict[str, Any], own: dict[str, Any]) -> str:
    data = {**mark_unsafe(caller), **own}
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=False, default_flow_style=False, width=2**31 - 1)


def write_file(path: Path, caller: dict[str, Any], own: dict[str, Any]) -> Path:
    """Write the run's extra vars to `path`, readable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = render(caller, own)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
