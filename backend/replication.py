"""Several replicas on one PostgreSQL database: change notices with LISTEN/NOTIFY.

A replica publishes a committed change to its own followers directly and sends a compact notice
(which Operation, which seq range, which Job) on the `redrunner` channel. The other replicas read the
changed rows back from the database and publish them to their followers. Notices only wake followers:
events are always read by seq from the table, so a lost notice delays a follower but never gaps it
(streams fill gaps from the database, and long-polls re-read periodically). Notices sent while the
listener is disconnected are gone for good, so after reconnecting it republishes what may have changed
meanwhile (active Operations with their latest event, recently finished ones, new Jobs): otherwise a
follower whose Operation ended during the outage would wait for an end that never comes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import threading
from typing import TYPE_CHECKING, Any

from .bus import Change
from .config import Settings
from .errors import ApiError
from .sql import is_postgres
from .timeutil import now

if TYPE_CHECKING:
    from .announce import Announcer
    from .queries import Queries

log = logging.getLogger(__name__)

CHANNEL = "redrunner"
MAX_PAYLOAD = 7000
RESYNC_MARGIN = 60.0


def change_notices(changes: list[Change]) -> list[dict[str, Any]]:
    """The compact notices that tell other replicas about these committed changes.

    Events become one seq range per Operation; Operation changes one list (the receiver republishes
    their Units and Jobs too, so those need no notice of their own); a Job change only when no
    Operation of it changed.
    """
    notices: list[dict[str, Any]] = []
    events: dict[int, list[int]] = {}
    ops: list[int] = []
    for change in changes:
        if change.kind == "event" and change.op_id is not None and change.seq is not None:
            rng = events.setdefault(change.op_id, [change.job_id, change.seq, change.seq])
            rng[1], rng[2] = min(rng[1], change.seq), max(rng[2], change.seq)
        elif change.kind == "operation" and change.op_id is not None:
            ops.append(change.op_id)
        elif change.kind == "job" and not any(c.kind == "operation" and c.job_id == change.job_id for c in changes):
            notices.append({"k": "job", "j": change.job_id})
        elif change.kind == "job_deleted":
            notices.append({"k": "jd", "j": change.job_id, "t": change.tag})
    for op_id, (job_id, lo, hi) in events.items():
        notices.append({"k": "ev", "o": op_id, "j": job_id, "a": lo, "b": hi})
    if ops:
        notices.append({"k": "op", "o": ops})
    return notices


class Notifier:
    def __init__(self, settings: Settings, queries: Queries, announce: Announcer) -> None:
        self.settings = settings
        self.queries = queries
        self.announce = announce
        self.publisher = announce.publisher
        self.me = settings.replica_id
        self._send_lock = threading.Lock()
        self._send_conn: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen_loop, name="redrunner-listen", daemon=True)

    @classmethod
    def for_database(cls, settings: Settings, queries: Queries, announce: Announcer) -> Notifier | None:
        if not is_postgres():
            return None
        return cls(settings, queries, announce)

    def _connect(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.settings.database)
        conn.autocommit = True
        return conn

    # -- sending ----------------------------------------------------------------------------------

    def send(self, changes: list[Change]) -> None:
        notices = change_notices(changes)
        if not notices:
            return
        with self._send_lock:
            for attempt in range(2):
                try:
                    if self._send_conn is None or self._send_conn.closed:
                        self._send_conn = self._connect()
                    with self._send_conn.cursor() as cur:
                        for notice in notices:
                            notice["r"] = self.me
                            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps(notice)[:MAX_PAYLOAD]))
                    return
                except Exception:
                    log.warning("sending a change notice failed (attempt %d)", attempt + 1, exc_info=True)
                    self._send_conn = None

    # -- receiving --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3)

    def _listen_loop(self) -> None:
        down_since: float | None = None
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                if down_since is not None:
                    try:
                        self._resync(down_since)
                    except Exception:  # a failed republish must not keep the listener away
                        log.exception("republishing after a reconnect failed")
                    down_since = None
                while not self._stop.is_set():
                    if select.select([conn], [], [], 1.0) == ([], [], []):
                        continue
                    conn.poll()
                    while conn.notifies:
                        note = conn.notifies.pop(0)
                        self._handle(note.payload)
            except Exception:
                if down_since is None:
                    down_since = now()
                log.warning("change-notice listener lost its connection; reconnecting", exc_info=True)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                self._stop.wait(1.0)

    def _resync(self, down_since: float) -> None:
        """Republish to local followers what may have changed while no notice could arrive."""
        # The margin covers a connection that died silently before the error showed, and clock skew
        # between replicas (finished_at is written by the replica that ran the Operation).
        since = down_since - RESYNC_MARGIN
        active, finished, new_jobs = self.queries.activity_since(since)
        # An Operation's latest event makes its followers fill the gap from the database.
        frames = [
            Change("event", job_id, ev, op_id=op_id, seq=ev["seq"])
            for op_id, job_id, event_count in active
            if event_count
            for ev in self.queries.event_page(op_id, event_count - 1, 1)
        ]
        self.publisher.publish(frames, remote=False)
        ids = [op_id for op_id, _, _ in active] + finished
        for start in range(0, len(ids), 500):
            self.announce.operations(ids[start : start + 500], remote=False)
        for job_id in new_jobs:
            self._publish_job(job_id)
        log.info("change-notice listener reconnected: republished %d operations", len(ids))

    def _handle(self, payload: str) -> None:
        try:
            notice = json.loads(payload)
        except ValueError:
            return
        if notice.get("r") == self.me:
            return
        kind = notice.get("k")
        if kind == "ev":
            op_id, job_id, lo, hi = int(notice["o"]), int(notice["j"]), int(notice["a"]), int(notice["b"])
            events = self.queries.event_page(op_id, lo - 1, hi - lo + 1, hi)
            self.publisher.publish(
                [Change("event", job_id, ev, op_id=op_id, seq=ev["seq"]) for ev in events], remote=False
            )
        elif kind == "op":
            self.announce.operations([int(o) for o in notice["o"]], remote=False)
        elif kind == "job":
            self._publish_job(int(notice["j"]))
        elif kind == "jd":
            job_id = int(notice["j"])
            data = {"id": job_id, "tag": notice.get("t")}
            self.publisher.publish([Change("job_deleted", job_id, data, tag=notice.get("t"))], remote=False)

    def _publish_job(self, job_id: int) -> None:
        try:
            data = self.queries.job(job_id)
        except ApiError:
            return  # deleted since: its job_deleted notice says so
        self.publisher.publish([Change("job", job_id, data, tag=data["tag"])], remote=False)
