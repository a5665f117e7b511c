"""Which paths a .dockerignore leaves in the build context, with Docker's matching rules.

Docker (moby/patternmatcher): patterns are cleaned paths relative to the context root; `*` and
`?` stay within one path segment, `**` spans any number of them; a pattern that matches a parent
directory matches everything below it; `!` re-includes; the last matching pattern wins.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    include: bool


def _to_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]"
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def load(path: Path) -> list[Rule]:
    rules = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        rules.append(Rule(_to_regex(pattern), include))
    return rules


def included(rules: list[Rule], relpath: str) -> bool:
    """Whether `relpath` (relative to the context root, `/`-separated) is sent to the builder."""
    parts = relpath.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    keep = True
    for rule in rules:
        if any(rule.regex.match(candidate) for candidate in candidates):
            keep = rule.include
    return keep
