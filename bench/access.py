"""The cost of roles and the audit trail per request (issue 25, "Access and audit").

`python -m bench.access [--requests 2000] [--tokens 3]` measures:
1. in-process, the IOLoop's share per request: identifying the caller (the token's SHA-256 compared in
   constant time with every known digest), the role table lookup, and building and queueing the audit
   record (`HandlerMixin.check_auth` and `on_finish` do exactly these);
2. in-process, the audit thread's CPU per record stored (an INSERT in a group transaction on SQLite, plus
   its JSON log line), for a burst (records share transactions) and for records one at a time;
3. end to end, a real server's own CPU (not its children) per request, each on a new connection:
   `GET /healthz` (no token, no role), `GET /api/v1/whoami` (token and role checked, not audited) and
   `GET /api/v1/audit` refused with 403 to a viewer (checked, not audited) and `POST /api/v1/jobs` without
   a body refused with 403 to a viewer (checked and audited): the same path but for the audit record.
Not part of `python -m bench`: it measures a few microseconds, where the table measures playbooks.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import tempfile
import time
import timeit
from pathlib import Path

import psutil

from backend.access import Access, Caller, Role, required_role
from backend.audit import AuditLog, Entry, entry, target_of
from backend.db import open_database
from backend.logs import JSONFormatter
from backend.migrations import migrate
from tests.support.server import start_server

VIEWER = "bench-viewer-token-0001"


def tokens_file(path: Path, count: int) -> Path:
    names = [("viewer", VIEWER)] + [(f"t{i}", f"bench-other-token-{i:05d}") for i in range(count - 1)]
    path.write_text(
        "".join(
            f"- {{name: {n}, role: {'viewer' if n == 'viewer' else 'admin'}, "
            f'sha256: "{hashlib.sha256(t.encode()).hexdigest()}"}}\n'
            for n, t in names
        )
    )
    path.chmod(0o600)
    return path


def micro(tmp: Path, count: int) -> dict[str, float]:
    """Microseconds per call of the IOLoop-side steps."""
    access = Access(None, tokens_file(tmp / "micro.yaml", count))
    header = f"Bearer {VIEWER}"
    n = 20000
    out = {
        "identify (sha256 + constant-time compare)": timeit.timeit(lambda: access.identify(header), number=n),
        "role table lookup + compare": timeit.timeit(
            lambda: Caller("viewer", Role.VIEWER).may(required_role("/jobs", "POST")), number=n
        ),
        "audit record built + queued": 0.0,
    }
    log = AuditLog()  # not started: the records only queue up
    path = {"job_id": "12"}
    out["audit record built + queued"] = timeit.timeit(
        lambda: log.submit(
            entry(
                "viewer",
                "viewer",
                "POST",
                "/api/v1/jobs/12",
                403,
                "127.0.0.1",
                target_of("/jobs/{id}", path),
            )
        ),
        number=n,
    )
    return {k: v / n * 1e6 for k, v in out.items()}


class MeasuredAuditLog(AuditLog):
    """The audit log, adding up its thread's CPU spent storing and logging records."""

    cpu = 0.0
    stored = 0

    def _write(self, entries: list[Entry]) -> None:
        started = time.thread_time()
        super()._write(entries)
        self.cpu += time.thread_time() - started
        self.stored += len(entries)


def audit_thread(tmp: Path, records: int) -> dict[str, float]:
    """CPU microseconds of the audit thread per record: a burst, and 500 records a second."""
    quiet = logging.getLogger("redrunner.audit")
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - for the process's life
    sink.setFormatter(JSONFormatter())  # formatted as the server's JSON lines are, written nowhere
    quiet.addHandler(sink)
    quiet.propagate = False
    quiet.setLevel(logging.INFO)
    db = open_database(f"sqlite:///{tmp / 'audit.db'}")
    migrate(db)
    out = {}
    for label, paced in (("burst", False), ("one every 2 ms", True)):
        log = MeasuredAuditLog()
        log.start()
        for i in range(records):
            log.submit(entry("viewer", "viewer", "POST", f"/api/v1/jobs/{i}", 403, "127.0.0.1", f"job:{i}"))
            if paced:
                time.sleep(0.002)  # 500 requests a second
        log.stop(60)
        assert log.stored == records
        out[f"audit thread CPU per record ({label})"] = log.cpu / records * 1e6
    db.close()
    return out


def end_to_end(tmp: Path, requests: int, count: int) -> dict[str, float]:
    """Server CPU microseconds per request, by kind. The server closes the connection after a refusal
    (a 401 or 403 from prepare()), so every request here comes on a new connection, refused or not;
    the differences between rows are what the role check and the audit record add."""
    srv = start_server(tmp, args=["--tokens-file", str(tokens_file(tmp / "tokens.yaml", count))])
    proc = psutil.Process(srv.proc.pid)
    auth = {"Authorization": f"Bearer {VIEWER}"}
    kinds = {
        "GET /healthz (no token)": ("GET", "/healthz", auth),
        "GET /whoami (token + role)": ("GET", "/api/v1/whoami", auth),
        "GET /audit refused 403 (token + role, not audited)": ("GET", "/api/v1/audit", auth),
        "POST /jobs refused 403 (token + role + audit)": ("POST", "/api/v1/jobs", auth),
    }

    def one(method: str, path: str, headers: dict[str, str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request(method, path, None, headers)
        conn.getresponse().read()
        conn.close()

    out = {}
    try:
        for label, (method, path, headers) in kinds.items():
            for _ in range(50):  # warm-up
                one(method, path, headers)
            before = proc.cpu_times()
            for _ in range(requests):
                one(method, path, headers)
            time.sleep(0.5)  # the audit thread stores the last records
            after = proc.cpu_times()
            out[label] = ((after.user + after.system) - (before.user + before.system)) / requests * 1e6
    finally:
        srv.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.access", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=3, help="entries in the tokens file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rr-bench-access-") as name:
        tmp = Path(name)
        rows = {
            **micro(tmp, args.tokens),
            **audit_thread(tmp, min(args.requests, 2000)),
            **end_to_end(tmp, args.requests, args.tokens),
        }
    width = max(len(k) for k in rows)
    print(f"{args.tokens} tokens, {args.requests} requests per kind; microseconds")
    for label, value in rows.items():
        print(f"{label:<{width}}  {value:8.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
