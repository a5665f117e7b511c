"""Playbook output made safe for a terminal: the one sanitizer of the server, the CLI and the console.

A playbook's output (and a task name built from extravars) is untrusted text that ends up on an
operator's terminal. Escape sequences there do more than colour: OSC 0 retitles the window, OSC 52
writes the clipboard, DCS talks to the terminal itself, cursor moves rewrite what was printed before.
`plain` keeps text only; `coloured` keeps colour (SGR: `ESC [ digits/;/: m`) and nothing else. Both
keep tabs and line ends (`\\n`, and `\\r` only in `\\r\\n`); every other C0/C1 control character and every
escape sequence — CSI, OSC, DCS, SOS, PM, APC, two-byte escapes, their 8-bit forms — is removed whole.

No imports beyond `re`: the CLI and the console load this without the server's database layer.
"""

from __future__ import annotations

import re

# String sequences (OSC, DCS, SOS, PM, APC), 7- or 8-bit introducer, up to their terminator (BEL or ST).
# An unterminated one loses only its introducer (the two-byte rule below): the rest is then plain text.
_STRING = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
_CSI = r"(?:\x1b\[|\x9b)(?P<params>[0-?]*)(?P<inter>[ -/]*)(?P<final>[@-~])"
_ESCAPE = r"\x1b[ -/]*[0-~]"
# What is left: C0 controls but tab and newline, CR not before LF, DEL, C1 controls, a lone ESC.
_CONTROL = r"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"

_SEQUENCE = re.compile(f"{_STRING}|{_CSI}|{_ESCAPE}|{_CONTROL}")
# Most output holds no control character at all: one search instead of a substitution.
_ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SGR_PARAMS = re.compile(r"[0-9;:]*")


def plain(text: str) -> str:
    """Text with no escape sequence and no control character but tab and line ends."""
    if not _ANY_CONTROL.search(text):
        return text
    return _SEQUENCE.sub("", text)


def _keep_colour(match: re.Match[str]) -> str:
    if match.group("final") == "m" and not match.group("inter") and _SGR_PARAMS.fullmatch(match.group("params")):
        # The 7-bit form always: a terminal may not read the 8-bit CSI, and then prints what follows it.
        return f"\x1b[{match.group('params')}m"
    return ""


def coloured(text: str) -> str:
    """Text with colour (SGR) only: every other escape sequence and control character removed."""
    if not _ANY_CONTROL.search(text):
        return text
    return _SEQUENCE.sub(_keep_colour, text)


def for_terminal(text: str, colour: bool) -> str:
    """`coloured` or `plain`, as asked."""
    return coloured(text) if colour else plain(text)
