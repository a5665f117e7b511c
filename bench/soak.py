"""Soak: run a real server for a while under steady work and watch its RSS and open file descriptors.

`python -m bench.soak [--minutes 10] [--interval 15] [--units 3] [--followers 6] [--fail-on-growth]`

A few Units keep running a short playbook back to back; followers keep WebSocket streams open (half on
the Job's stream for the whole run, half on each new Operation's stream, reconnecting every time), and
some clients keep reading pages of events. Every `--interval` seconds the server process's RSS, open file
descriptors and threads are sampled with psutil. At the end: the table, a summary, and a verdict on growth
(the first fifth of the samples is warm-up; growth is the mean of the last three samples against the mean
of the first three after warm-up, plus a least-squares slope). Exit status 1 on errors (a request that
failed, an Operation that did not succeed, a stream with a gap) or, with --fail-on-growth, on growth.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from backend.statuses import TERMINAL
from tests.support.server import RunningServer, start_server

INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'
PLAYBOOK = """- name: Soak on {unit}
  hosts: localhost
  gather_facts: false
  tasks:
{tasks}
"""
TASK = """    - name: Step {n}
      ansible.builtin.debug:
        msg: "{{{{ redrunner_unit }}}} step {n} of operation {{{{ redrunner_operation_id }}}}"
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between samples (default 15)")
    parser.add_argument("--units", type=int, default=3, help="Units running playbooks back to back (default 3)")
    parser.add_argument("--followers", type=int, default=6, help="WebSocket followers (default 6)")
    parser.add_argument("--readers", type=int, default=2, help="clients paging through events (default 2)")
    parser.add_argument("--tasks", type=int, default=5, help="tasks in the soak playbook (default 5)")
    parser.add_argument("--workers", type=int, default=4, help="the server's --workers (default 4)")
    parser.add_argument("--fail-on-growth", action="store_true", help="exit 1 when RSS or fds grow")
    parser.add_argument("--keep", action="store_true", help="keep the temporary dir (server log, database)")
    return parser.parse_args(argv)


# -- the world the soak runs in -------------------------------------------------------------------------


def make_data_dir(root: Path, units: list[str], tasks: int) -> Path:
    (root / "project").mkdir(parents=True)
    (root / "inventory").mkdir()
    (root / "inventory" / "hosts").write_text(INVENTORY)
    body = "".join(TASK.format(n=n) for n in range(1, tasks + 1))
    for unit in units:
        (root / "project" / f"soak-{unit}.yml").write_text(PLAYBOOK.format(unit=unit, tasks=body))
    return root


@dataclass
class Tally:
    """What the clients saw; updated from many threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[str] = field(default_factory=Counter)
    events_streamed: int = 0
    op_streams: int = 0
    job_stream_frames: int = 0
    reconnects: int = 0
    pages_read: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        with self.lock:
            if len(self.errors) < 50:
                self.errors.append(text)


def call(srv: RunningServer, method: str, path: str, body: Any = None, timeout: float = 90) -> tuple[int, Any]:
    try:
        resp = srv.request(method, path, body, timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)
    try:
        return resp.status, resp.json() if resp.body else None
    except ValueError:
        return resp.status, resp.body[:200]


# -- the clients --------------------------------------------------------------------------------------------


def run_unit(srv: RunningServer, job_id: int, unit: str, stop: threading.Event, tally: Tally) -> None:
    """Start the Unit's playbook, wait for it, again, until told to stop."""
    while not stop.is_set():
        status, op = call(srv, "POST", f"jobs/{job_id}/units/{unit}", {"action": "soak"})
        if status != 202:
            tally.error(f"POST action on {unit}: {status} {op}")
            stop.wait(1)
            continue
        while op["status"] not in TERMINAL:
            status, op = call(srv, "GET", f"operations/{op['id']}?wait=30")
            if status != 200:
                tally.error(f"GET operation on {unit}: {status} {op}")
                return
        with tally.lock:
            tally.statuses[op["status"]] += 1
        if op["status"] != "successful":
            tally.error(f"operation {op['id']} on {unit} ended {op['status']}: {op.get('error')}")


def follow_operations(srv: RunningServer, job_id: int, unit: str, stop: threading.Event, tally: Tally) -> None:
    """Follow each new Operation of the Unit from its first event to its end, checking for gaps."""
    followed = 0
    while not stop.is_set():
        status, body = call(srv, "GET", f"jobs/{job_id}/units/{unit}")
        latest = body.get("latest_operation") if status == 200 else None
        if latest is None or latest["id"] == followed:
            stop.wait(0.2)
            continue
        followed = latest["id"]
        seqs: list[int] = []
        try:
            with connect(f"{srv.ws_api}/operations/{followed}/stream", open_timeout=30, max_size=None) as conn:
                while True:
                    frame = json.loads(conn.recv(timeout=120))
                    if frame["type"] == "event":
                        seqs.append(frame["seq"])
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            if code != 1000:
                tally.error(f"stream of operation {followed} closed with {code}")
        except (OSError, TimeoutError) as exc:
            tally.error(f"stream of operation {followed}: {exc!r}")
        if seqs != list(range(1, len(seqs) + 1)):
            tally.error(f"stream of operation {followed} had a gap or a duplicate")
        with tally.lock:
            tally.op_streams += 1
            tally.events_streamed += len(seqs)


def follow_job(srv: RunningServer, job_id: int, stop: threading.Event, tally: Tally) -> None:
    """Keep the Job's stream open for the whole run; reconnect if the server closes it."""
    first = True
    while not stop.is_set():
        if not first:
            with tally.lock:
                tally.reconnects += 1
        first = False
        try:
            with connect(f"{srv.ws_api}/jobs/{job_id}/stream", open_timeout=30, max_size=None) as conn:
                while not stop.is_set():
                    try:
                        conn.recv(timeout=1)
                    except TimeoutError:
                        continue
                    with tally.lock:
                        tally.job_stream_frames += 1
        except ConnectionClosed:
            continue
        except OSError as exc:
            tally.error(f"job stream: {exc!r}")
            stop.wait(1)


def read_events(srv: RunningServer, job_id: int, stop: threading.Event, tally: Tally) -> None:
    """Page through the events of finished Operations, as a console scrolling back would."""
    while not stop.is_set():
        status, page = call(srv, "GET", f"operations?job_id={job_id}&status=successful&limit=5")
        if status != 200:
            tally.error(f"list operations: {status} {page}")
            stop.wait(1)
            continue
        for op in page["items"]:
            status, events = call(srv, "GET", f"operations/{op['id']}/events?limit=50")
            if status != 200 or len(events["items"]) != min(50, op["event_count"]):
                tally.error(f"events of operation {op['id']}: {status}")
            with tally.lock:
                tally.pages_read += 1
        stop.wait(0.5)


# -- sampling and the verdict --------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    rss_mib: float
    fds: int
    threads: int
    done: int
    streams: int


def sample(proc: psutil.Process, t0: float, tally: Tally) -> Sample:
    with proc.oneshot():
        rss = proc.memory_info().rss / 2**20
        fds = proc.num_fds()
        threads = proc.num_threads()
    with tally.lock:
        done = sum(tally.statuses.values())
        streams = tally.op_streams
    return Sample(time.monotonic() - t0, rss, fds, threads, done, streams)


def print_row(s: Sample) -> None:
    print(f"{s.t:8.0f} {s.rss_mib:9.1f} {s.fds:5d} {s.threads:8d} {s.done:8d} {s.streams:8d}", flush=True)


def verdict(samples: list[Sample]) -> tuple[bool, str]:
    """Growth after warm-up: (growing, the sentence that says so)."""
    if len(samples) < 4:
        return False, f"too few samples ({len(samples)}) to judge growth"
    steady = samples[len(samples) // 5 :]
    head, tail = steady[:3], steady[-3:]
    rss0, rss1 = statistics.mean(s.rss_mib for s in head), statistics.mean(s.rss_mib for s in tail)
    fd0, fd1 = statistics.mean(s.fds for s in head), statistics.mean(s.fds for s in tail)
    minutes = max((steady[-1].t - steady[0].t) / 60, 1e-9)
    slope = 0.0
    if len(steady) >= 3 and len({s.t for s in steady}) > 1:
        slope = statistics.linear_regression([s.t / 60 for s in steady], [s.rss_mib for s in steady]).slope
    growth = rss1 - rss0
    growing = growth > max(8.0, 0.10 * rss0) or fd1 - fd0 > 8
    text = (
        f"RSS {rss0:.1f} -> {rss1:.1f} MiB ({growth:+.1f} MiB, {100 * growth / rss0:+.1f} %, "
        f"slope {slope:+.2f} MiB/min over {minutes:.1f} min), open fds {fd0:.0f} -> {fd1:.0f}: "
        + ("GROWING" if growing else "flat")
    )
    return growing, text


# -- main ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="redrunner-soak-"))
    units = [f"s{i}" for i in range(args.units)]
    srv = start_server(
        root,
        data_dir=make_data_dir(root / "data", units, args.tasks),
        name="soak",
        args=["--workers", str(args.workers), "--log-format", "text"],
    )
    tally = Tally()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    samples: list[Sample] = []
    rc = 1
    try:
        proc = psutil.Process(srv.proc.pid)
        job = srv.post("jobs", {"tag": "soak", "units": units}).json()
        t0 = time.monotonic()
        samples.append(sample(proc, t0, tally))
        targets: list[tuple[Any, tuple[Any, ...]]] = [(run_unit, (srv, job["id"], u, stop, tally)) for u in units]
        for i in range(args.followers):
            if i % 2:
                targets.append((follow_job, (srv, job["id"], stop, tally)))
            else:
                targets.append((follow_operations, (srv, job["id"], units[(i // 2) % len(units)], stop, tally)))
        targets += [(read_events, (srv, job["id"], stop, tally)) for _ in range(args.readers)]
        for fn, fn_args in targets:
            thread = threading.Thread(target=fn, args=fn_args, daemon=True, name=fn.__name__)
            thread.start()
            threads.append(thread)

        print(
            f"soak: {args.minutes:g} min, {len(units)} units, {args.followers} followers, {args.readers} readers, "
            f"server pid {proc.pid} on {srv.url}, sampling every {args.interval:g} s",
            flush=True,
        )
        print(f"{'t (s)':>8} {'RSS (MiB)':>9} {'fds':>5} {'threads':>8} {'ops done':>8} {'streams':>8}")
        print_row(samples[0])
        deadline = t0 + args.minutes * 60
        while time.monotonic() < deadline:
            stop.wait(min(args.interval, max(0.0, deadline - time.monotonic())))
            samples.append(sample(proc, t0, tally))
            print_row(samples[-1])
        stop.set()
        for thread in threads:
            thread.join(150)
        samples.append(sample(proc, t0, tally))
        print_row(samples[-1])

        t_stop = time.monotonic()
        exit_code = srv.stop()
        stop_s = time.monotonic() - t_stop
        growing, text = verdict(samples)
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            tally.error(f"clients still running after the stop: {stuck}")
        if exit_code != 0:
            tally.error(f"server exited {exit_code} on SIGTERM")
        print()
        print(
            f"operations: {dict(tally.statuses)}; operation streams followed: {tally.op_streams} "
            f"({tally.events_streamed} events); job stream frames: {tally.job_stream_frames} "
            f"(reconnects {tally.reconnects}); event pages read: {tally.pages_read}"
        )
        print(
            f"RSS max {max(s.rss_mib for s in samples):.1f} MiB, fds max {max(s.fds for s in samples)}, "
            f"threads max {max(s.threads for s in samples)}; server stopped (exit {exit_code}) in {stop_s:.2f} s"
        )
        print(f"verdict: {text}")
        for err in tally.errors:
            print(f"error: {err}")
        print(f"errors: {len(tally.errors)}")
        rc = 1 if tally.errors or (growing and args.fail_on_growth) or not tally.statuses else 0
    finally:
        stop.set()
        srv.kill()
        if args.keep or rc:
            print(f"kept {root} (server log: {srv.log_path})")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
