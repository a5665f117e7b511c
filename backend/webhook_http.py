"""One webhook POST: to vetted addresses only, within one deadline from connect to the last byte.

A socket timeout bounds each read, not the answer: a receiver that sends a byte every few seconds would
hold the sender for ever. So a timer shuts the connection down when the attempt's time is up, wherever
it is (connecting, sending, reading headers or the body). The connection goes to the addresses
`webhook_targets` checked, never to a fresh lookup of the name, and redirects are not followed (one would
turn the POST into a GET, and lead anywhere). Proxies from the environment are not used: through a
proxy, the target's address could not be checked.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import threading
import time

from .webhook_targets import Address, TargetPolicy, TargetRefused, default_port, split_url

REQUEST_TIMEOUT = 10.0
# Enough of an answer's body to end the exchange politely; the rest is not wanted.
MAX_BODY = 64 * 1024


class _Attempt:
    """The sockets of one attempt, and the timer that cuts them at its deadline."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.cut = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._cut)
        self._timer.daemon = True

    def left(self) -> float:
        return max(0.001, self.deadline - time.monotonic())

    def _cut(self) -> None:
        with self._lock:
            self.cut = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

    def connect(self, addresses: list[Address], port: int) -> socket.socket:
        """A TCP connection to the first of `addresses` that answers, within the deadline."""
        error: OSError = OSError("no address to connect to")
        for address in addresses:
            if self.cut:
                break
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            with self._lock:
                self._sock = sock
            try:
                sock.settimeout(self.left())
                sock.connect((str(address), port))
                sock.settimeout(self.left())
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error

    def __enter__(self) -> _Attempt:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds: once per process, shared (wrapping sockets is thread-safe).
    return ssl.create_default_context()


def _connection(
    scheme: str, host: str, port: int, attempt: _Attempt, addresses: list[Address]
) -> http.client.HTTPConnection:
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=attempt.timeout, context=_tls_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=attempt.timeout)
    # The Host header and TLS name stay the URL's; only the socket goes to the vetted address.
    conn._create_connection = lambda *_args, **_kw: attempt.connect(addresses, port)  # type: ignore[attr-defined]
    return conn


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: TargetPolicy | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> tuple[int | None, str | None]:
    """POST `body`: (HTTP status, None), or (None, why) when no complete answer came in time.

    Raises TargetRefused (from `webhook_targets`) for a target the policy refuses: nothing was sent."""
    try:
        parts = split_url(url)
    except ValueError as exc:  # stored before the rules were this strict
        raise TargetRefused(f"refused target: {exc}") from exc
    port = default_port(parts)
    try:
        addresses = (policy or TargetPolicy()).vet(parts)
    except OSError as exc:
        return None, f"cannot resolve {parts.hostname}: {getattr(exc, 'strerror', None) or exc}"[:500]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with _Attempt(timeout) as attempt:
        conn = _connection(parts.scheme, parts.hostname or "", port, attempt, addresses)
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            # The answer's status is in; its body is not needed.
            with contextlib.suppress(OSError, http.client.HTTPException):
                resp.read(MAX_BODY)
            status = int(resp.status)
            return status, (None if 200 <= status < 300 else f"HTTP {status}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if attempt.cut or isinstance(exc, TimeoutError):
                return None, f"timed out: no complete answer within {timeout:g} s"
            reason = getattr(exc, "strerror", None) or exc
            return None, f"{type(exc).__name__}: {reason}"[:500]
        finally:
            conn.close()
