"""Server memory under many large unauthenticated bodies (issue 11, "limits before work").

`python -m bench.bodies [--repo DIR] [--clients 30] [--size-mb 60]` starts `python -m backend serve` from
DIR (default: this checkout; point it at another worktree to measure that code) with a token, has
`--clients` clients at once each POST a `--size-mb` body without the token, and reports the server's
resident memory: idle, peak (VmHWM) and after, with the status each client read.
Not part of `python -m bench`: it measures memory, not speed, and one run moves gigabytes over loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-bodies-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def start(repo: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}
    env["REDRUNNER_TOKEN"] = TOKEN
    cmd = [sys.executable, "-m", "backend", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(repo / "tests" / "fixtures" / "data"), "--state-dir", str(tmp / "state")]
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start: " + (tmp / "server.log").read_text())


def client(port: int, size: int, statuses: list[str]) -> None:
    chunk = b"x" * (1024 * 1024)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
            sock.sendall(
                b"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {size}\r\n\r\n".encode()
            )
            sent = 0
            try:
                while sent < size:
                    part = chunk[: min(len(chunk), size - sent)]
                    sock.sendall(part)
                    sent += len(part)
            except OSError:
                pass  # closed after answering: what matters is the answer
            data = sock.recv(4096)
            statuses.append(data.split(b" ", 2)[1].decode() if data else "no answer")
    except OSError as exc:
        statuses.append(type(exc).__name__)


def measure(repo: Path, clients: int, size_mb: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-bodies-") as tmp_name:
        proc, port = start(repo, Path(tmp_name))
        try:
            idle = status_kib(proc.pid, "VmRSS")
            statuses: list[str] = []
            threads = [
                threading.Thread(target=client, args=(port, size_mb * 1024 * 1024, statuses)) for _ in range(clients)
            ]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - started
            return {
                "repo": str(repo),
                "clients": clients,
                "body_mb": size_mb,
                "rss_idle_mib": round(idle / 1024, 1),
                "rss_peak_mib": round(status_kib(proc.pid, "VmHWM") / 1024, 1),
                "rss_after_mib": round(status_kib(proc.pid, "VmRSS") / 1024, 1),
                "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
                "seconds": round(elapsed, 1),
            }
        finally:
            proc.terminate()
            proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bodies", description=__doc__)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose backend/ to run")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--size-mb", type=int, default=60)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.repo.resolve(), args.clients, args.size_mb)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
