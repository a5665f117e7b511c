"""Followers back off and refuse huge frames (console.client, shared by the CLI and the console).

Against hostile or overloaded servers on free ports: one that closes every connection with 1013
(reconnects are bounded in a time window unless a connection brought news), and one that sends a
200 MiB frame (refused from its header, without reading it into memory)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from websockets.asyncio.server import ServerConnection, serve

from console.client import RedRunnerClient
from tests.support.server import REPO


def event_frame(seq: int) -> str:
    event = {"seq": seq, "operation_id": 1, "event": "verbose", "stdout": f"line {seq}", "data": {}}
    return json.dumps({"type": "event", "operation_id": 1, "seq": seq, "data": event})


def connections_in(seconds: float, news: bool) -> int:
    """How many times a follower connects in `seconds` to a server that sends one event and closes with
    1013: a new event each time when `news`, else always the first one again."""
    count = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal count
        count += 1
        await ws.send(event_frame(count if news else 1))
        await ws.close(1013, "try again later")

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            client = RedRunnerClient(f"http://127.0.0.1:{port}")

            async def follow() -> None:
                async for _ in client.follow_operation(1, lambda state: None):
                    pass

            with suppress(TimeoutError):
                await asyncio.wait_for(follow(), seconds)

    asyncio.run(main())
    return count


def test_a_follower_backs_off_from_a_server_that_closes_with_nothing_new() -> None:
    # 0.25, 0.5, 1, 2 s after the first repeat: about six connections in 4 s (4,173 in 20 s before).
    assert 2 <= connections_in(4.0, news=False) <= 8


def test_a_follower_that_gets_news_reconnects_at_once_after_1013() -> None:
    # Too slow a reader, dropped by the server: catching up is the cure, no waiting.
    assert connections_in(1.5, news=True) >= 10


HUGE = 200 * 1024 * 1024
CHUNK = b"a" * (1024 * 1024)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@contextmanager
def huge_frame_server() -> Iterator[int]:
    """A WebSocket server (by hand: no library would send it) that answers every stream with a text frame
    of 200 MiB, streamed in 1 MiB pieces for as long as the client reads."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            writer.write(b"\x81\x7f" + struct.pack("!Q", HUGE))
            for _ in range(HUGE // len(CHUNK)):
                writer.write(CHUNK)
                await writer.drain()
        except (OSError, StopIteration, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def start() -> None:
        nonlocal port
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


FOLLOWER = """
import asyncio, sys
from console.client import ApiError, RedRunnerClient

async def main():
    client = RedRunnerClient(sys.argv[1])
    try:
        async for frame in client.follow_operation(1, lambda state: None):
            pass
    except ApiError as exc:
        print(exc.error)

asyncio.run(main())
# The process's own peak (VmHWM, reset at exec); wait4's ru_maxrss would carry the forking pytest worker's.
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


def test_a_follower_refuses_a_huge_frame_without_reading_it() -> None:
    with huge_frame_server() as port:
        proc = subprocess.Popen(
            [sys.executable, "-c", FOLLOWER, f"http://127.0.0.1:{port}"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    error, peak_kib = out.split()
    assert proc.returncode == 0 and error == "frame_too_big", out
    # The follower's own peak, in KiB, stayed below the frame's size: the 200 MiB frame was never held
    # (1.06 GB before, for the CLI). Not ru_maxrss from wait4: Linux carries the forking parent's peak
    # into it across exec, so it read 130-400 MiB here, whatever the follower did.
    assert int(peak_kib) < HUGE // 1024, peak_kib
