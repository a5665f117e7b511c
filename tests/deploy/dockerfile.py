"""Read a Dockerfile into stages and instructions, enough for the tests to check what the image does.

Handles comments, line continuations, `ARG` defaults and `ENV` values in `$VAR`/`${VAR}`
substitution, and the JSON (exec) form. hadolint checks the syntax; this only reads.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The arguments of an exec-form (JSON array) instruction."""
        value = json.loads(self.args)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{self.keyword} is not in exec form: {self.args}")
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        if not found:
            raise LookupError(f"no {keyword} in stage {self.name or self.base}")
        return found[-1]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def logical_lines(text: str) -> list[str]:
    """Instructions with their continuations joined; comment lines dropped, as Docker does."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def substitute(text: str, variables: dict[str, str]) -> str:
    return _VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def _assignments(args: str) -> dict[str, str]:
    """`K=V K2="v 2"` (or the legacy `K V`) into a dict."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    pairs = {}
    for word in words:
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs


def parse(path: Path) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    scope: dict[str, str] = {}
    for line in logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = substitute(args, global_args).split()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(base=words[0], name=name))
            scope = {}
            continue
        if not stages:
            if keyword == "ARG":
                global_args.update(_assignments(args))
            continue
        stage = stages[-1]
        if keyword == "ARG":
            for key, value in _assignments(args).items():
                scope[key] = value or global_args.get(key, "")
        elif keyword == "ENV":
            for key, value in _assignments(args).items():
                value = substitute(value, {**scope, **stage.env})
                stage.env[key] = value
        args = substitute(args, {**scope, **stage.env}) if keyword not in ("CMD", "ENTRYPOINT") else args
        stage.instructions.append(Instruction(keyword, args))
    return Dockerfile(global_args, stages)
