"""tests/console/relay.py's Relay on an event loop of its own, for tests whose client is a subprocess."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.console.relay import Relay


class RelayThread:
    def __init__(self, relay: Relay, loop: asyncio.AbstractEventLoop) -> None:
        self.relay = relay
        self._loop = loop

    @property
    def url(self) -> str:
        return self.relay.url

    def drop_all(self) -> int:
        async def drop() -> int:
            return self.relay.drop_all()

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(10)

    def close(self) -> None:
        """Stop listening and drop everything: nothing answers on the relay's port any more."""
        asyncio.run_coroutine_threadsafe(self.relay.close(), self._loop).result(10)


@contextmanager
def relay_to(port: int) -> Iterator[RelayThread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    relay = asyncio.run_coroutine_threadsafe(Relay(port).start(), loop).result(10)
    try:
        yield RelayThread(relay, loop)
    finally:
        asyncio.run_coroutine_threadsafe(relay.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class LineReader:
    """Collects a pipe's lines on a thread, so a test can wait for one while the process runs."""

    def __init__(self, pipe: object) -> None:
        self.lines: list[str] = []
        self._pipe = pipe
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._pipe:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def has(self, text: str, prefix: str = "") -> bool:
        return any(text in line and line.startswith(prefix) for line in list(self.lines))

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
