"""Playbook output on a terminal: colour at most, never a title, a clipboard write or a device control."""

from __future__ import annotations

import pytest

from backend.terminal_text import coloured, plain

RED = "\x1b[0;31m"
RESET = "\x1b[0m"
HOSTILE = [
    "\x1b]0;pwned title\x07",  # OSC 0: window title, BEL-terminated
    "\x1b]52;c;cm0gLXJmIC8K\x1b\\",  # OSC 52: clipboard write, ST-terminated
    "\x1bP1$qm\x1b\\",  # DCS: a request to the terminal
    "\x1b_hidden\x1b\\",  # APC
    "\x1b^private\x1b\\",  # PM
    "\x1bXstring\x1b\\",  # SOS
    "\x9d0;eight-bit title\x9c",  # OSC in its 8-bit form
    "\x1b[2J",  # clear the screen
    "\x1b[1A\x1b[2K",  # cursor up, erase the line: rewrites what was printed
    "\x1b[?1049h",  # alternate screen (a private mode)
    "\x1b[6n",  # a report request: the terminal answers on stdin
    "\x9b2J",  # 8-bit CSI
    "\x1bc",  # full reset
    "\x1b7\x1b8",  # save/restore the cursor
    "\x1b(0",  # line-drawing character set
    "\x07\x08\x0b\x0c\x7f\x85",  # bell, backspace, VT, FF, DEL, NEL
]


@pytest.mark.parametrize("seq", HOSTILE, ids=range(len(HOSTILE)))
def test_no_escape_sequence_survives_either_form(seq: str) -> None:
    text = f"TASK [a {seq}b]\r\nok: [db]\n"
    assert plain(text) == "TASK [a b]\r\nok: [db]\n"
    assert coloured(text) == "TASK [a b]\r\nok: [db]\n"


def test_colour_is_kept_only_when_asked() -> None:
    text = f"{RED}fatal: [db]{RESET}\n"
    assert coloured(text) == text
    assert plain(text) == "fatal: [db]\n"
    # The 8-bit CSI form of a colour becomes the 7-bit one a terminal surely reads.
    assert coloured("\x9b31mred\x9b0m") == "\x1b[31mred\x1b[0m"
    # Colour with the 256/true-colour forms (';' and ':' parameters).
    assert coloured("\x1b[38;5;208mx\x1b[38:2:1:2:3mx") == "\x1b[38;5;208mx\x1b[38:2:1:2:3mx"


def test_an_unterminated_string_sequence_loses_its_introducer() -> None:
    # The rest is then harmless text: no ESC is left to start anything.
    assert plain("a\x1b]0;title with no end") == "a0;title with no end"
    assert coloured("\x1b]52;c;abc" + RED + "x") == "52;c;abc" + RED + "x"


def test_text_keeps_tabs_line_ends_and_unicode() -> None:
    text = "PLAY [été]\t***\r\n\nlast"
    assert plain(text) == text and coloured(text) == text
    # A carriage return that is not a line end would let a line overwrite itself.
    assert plain("safe\rrm -rf /") == "saferm -rf /"
