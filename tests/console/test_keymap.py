"""The README's key table is the one the bindings generate (python -m console.keymap)."""

from __future__ import annotations

from pathlib import Path

from console.keymap import END, START, rows, table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_key_table_matches_the_bindings() -> None:
    text = README.read_text()
    assert START in text and END in text, "the README lost its key table markers"
    written = text[text.index(START) : text.index(END) + len(END)]
    assert written == table(), "the key table is stale: paste the output of `python -m console.keymap`"


def test_every_binding_is_in_the_table() -> None:
    where = {(keys, place) for keys, places, _ in rows() for place in places.split(", ")}
    assert ("`/` or `f`", "Jobs") in where and ("`u`", "Job") in where and ("`/` or `ctrl+f`", "log") in where
    assert ("`ctrl+p`", "anywhere") in where
