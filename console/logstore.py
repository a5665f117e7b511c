"""An append-only, disk-backed line store, so a 100,000-line output never lives in widgets or memory.

Lines go to a temporary spool file; only their offsets (8 bytes each) and kinds (1 byte each)
stay in memory, and a small LRU cache serves the rows on screen (the Toolong approach).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable

from console.loglines import Kind

_BLOCK = 4096


class LogStore:
    def __init__(self, cache_size: int = 2048) -> None:
        fd, self.path = tempfile.mkstemp(prefix="redrunner-console-", suffix=".log")
        self._writer = os.fdopen(fd, "wb")
        self._reader = open(self.path, "rb")  # noqa: SIM115 - lives as long as the store
        self._offsets = array("Q", [0])
        self._kinds = bytearray()
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._cache_size = cache_size
        self.max_width = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self._kinds)

    def append(self, lines: Iterable[tuple[Kind, str]]) -> int:
        """Store lines; returns how many were added."""
        added = 0
        chunks: list[bytes] = []
        offset = self._offsets[-1]
        for kind, text in lines:
            data = text.replace("\n", " ").encode("utf-8", "replace") + b"\n"
            chunks.append(data)
            offset += len(data)
            self._offsets.append(offset)
            self._kinds.append(int(kind))
            self.max_width = max(self.max_width, len(text))
            added += 1
        if chunks:
            self._writer.write(b"".join(chunks))
            self._writer.flush()
        return added

    def kind(self, index: int) -> Kind:
        return Kind(self._kinds[index])

    def line(self, index: int) -> str:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        start, end = self._offsets[index], self._offsets[index + 1]
        self._reader.seek(start)
        text = self._reader.read(end - start - 1).decode("utf-8", "replace")
        self._cache[index] = text
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return text

    def find(self, needle: str, start: int, forward: bool = True) -> int | None:
        """Index of the next line from `start` (wrapping) containing `needle`, case-insensitive.

        Reads the spool in blocks with its own handle, so it can run in a thread while lines
        keep arriving, and never holds more than one block in memory.
        """
        count = len(self)
        if not needle or count == 0:
            return None
        start = min(max(start, 0), count - 1)
        lowered = needle.lower().encode("utf-8")
        offsets = self._offsets[: count + 1]
        ranges = [(start, count), (0, start)] if forward else [(0, start + 1), (start + 1, count)]
        with open(self.path, "rb") as handle:
            for lo, hi in ranges:
                blocks = range(lo, hi, _BLOCK) if forward else range(hi - 1, lo - 1, -_BLOCK)
                for edge in blocks:
                    if forward:
                        first, last = edge, min(hi, edge + _BLOCK)
                    else:
                        first, last = max(lo, edge - _BLOCK + 1), edge + 1
                    handle.seek(offsets[first])
                    data = handle.read(offsets[last] - offsets[first]).lower()
                    pos = data.find(lowered) if forward else data.rfind(lowered)
                    if pos >= 0:
                        return bisect_right(offsets, offsets[first] + pos) - 1
        return None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        self._reader.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
