"""Assembly and lifecycle of one server: database, writer, dispatcher, replicas, retention, routes,
signals, shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import peewee as pw
from tornado import httpserver, netutil, web
from tornado.ioloop import IOLoop

from . import __version__
from .announce import Announcer
from .bus import Bus, Publisher
from .commands import Commands
from .config import Settings, is_loopback
from .db import EmbeddedDatabaseLock, open_database, redact, sqlite_path
from .delivery import Sender
from .dispatch import Dispatcher
from .errors import StartupError
from .handlers import backups, health, jobs, meta, operations, schedules, streams, units, webhooks
from .handlers.base import NotFoundHandler
from .hardening import make_undumpable
from .logs import log_request
from .metrics import Metrics
from .migrations import migrate
from .processes import OrphanReaper, become_subreaper
from .queries import Queries
from .replicas import Replicas
from .replication import Notifier
from .retention import Retention
from .retries import SHUTDOWN_ERROR
from .run_queue import RunQueue
from .schedules import Scheduler, ScheduleService
from .state import AppState
from .transitions import Transitions
from .webhook_targets import TargetPolicy
from .webhooks import WebhookService
from .writer import EventWriter

log = logging.getLogger("redrunner")

HANDLER_MODULES = [health, meta, jobs, units, operations, streams, schedules, webhooks, backups]


def routes() -> list[tuple[str, type[web.RequestHandler]]]:
    handlers: list[tuple[str, type[web.RequestHandler]]] = []
    for module in HANDLER_MODULES:
        handlers.extend(module.default_handlers)
    return handlers


def make_app(state: AppState) -> web.Application:
    return web.Application(
        [*routes(), (r".*", NotFoundHandler)],
        redrunner=state,
        default_handler_class=NotFoundHandler,
        log_function=log_request,
        websocket_ping_interval=state.settings.ws_ping_interval,
        websocket_ping_timeout=state.settings.ws_ping_interval * 3,
        compress_response=False,
        serve_traceback=False,
    )


def open_storage(settings: Settings) -> None:
    """Connect (binding db.database_proxy, through which everything reaches it) and migrate the database,
    or say which setting is wrong and why."""
    try:
        migrate(open_database(settings.database))
    except (pw.OperationalError, pw.InterfaceError, pw.DatabaseError) as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StartupError(f"cannot open --database {redact(settings.database)}: {cause}") from exc


def build_state(settings: Settings, loop: IOLoop) -> AppState:
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        settings.artifact_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create --state-dir {settings.state_dir}: {exc.strerror}") from exc
    embedded = sqlite_path(settings.database)
    lock = EmbeddedDatabaseLock(embedded) if embedded else None
    try:
        if lock is not None:
            lock.acquire()
        open_storage(settings)
    except OSError as exc:
        # A file or folder the server may not create, open or lock (permissions, a read-only or odd path).
        cause = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else exc.strerror or str(exc)
        raise StartupError(f"cannot open --database {redact(settings.database)}: {cause}") from exc
    bus = Bus()
    publisher = Publisher(bus, loop)
    metrics = Metrics()
    queries = Queries(settings)
    announce = Announcer(queries, publisher)
    transitions = Transitions(settings, queries)
    commands = Commands(settings, queries, transitions, announce)
    run_queue = RunQueue(transitions, announce)
    notifier = Notifier.for_database(settings, queries, announce)
    if notifier is not None:
        publisher.send_to_replicas(notifier.send)
    writer = EventWriter(transitions, announce, metrics)
    dispatcher = Dispatcher(settings, commands, run_queue, writer, metrics)
    schedules = ScheduleService(settings, queries, commands, announce)
    targets = TargetPolicy(settings.host, settings.port, settings.webhook_allowed_networks)
    return AppState(
        settings=settings,
        bus=bus,
        queries=queries,
        commands=commands,
        writer=writer,
        dispatcher=dispatcher,
        replicas=Replicas(settings, run_queue, dispatcher, metrics),
        retention=Retention(settings, commands),
        metrics=metrics,
        db_pool=ThreadPoolExecutor(max(4, min(16, settings.workers)), thread_name_prefix="redrunner-db"),
        schedules=schedules,
        scheduler=Scheduler(schedules, lambda: dispatcher.accepting, dispatcher.kick),
        webhooks=WebhookService(targets),
        sender=Sender(settings.replica_id, targets),
        notifier=notifier,
        db_lock=lock,
    )


async def shutdown(state: AppState, server: httpserver.HTTPServer) -> None:
    settings = state.settings
    started = time.monotonic()
    log.info("shutting down: no new operations; running ones get %.0f s", settings.shutdown_grace)
    dispatcher = state.dispatcher
    dispatcher.stop_accepting()
    state.scheduler.stop()
    loop = IOLoop.current()
    await loop.run_in_executor(state.db_pool, dispatcher.cancel_pending_for_shutdown)
    deadline = started + settings.shutdown_grace
    while dispatcher.running_count() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if dispatcher.running_count():
        log.warning("grace over: canceling %d running operations", dispatcher.running_count())
        dispatcher.cancel_all(SHUTDOWN_ERROR)
    await loop.run_in_executor(None, dispatcher.shutdown)
    await loop.run_in_executor(None, state.retention.stop)
    await loop.run_in_executor(None, state.replicas.stop)
    # Within the pod's budget of grace + 5 s: a database that refuses writes gets 3 s, not 10.
    await loop.run_in_executor(None, state.writer.flush, 10.0, 3.0)
    # Let the last frames reach the streams before closing them.
    await asyncio.sleep(0)
    for conn in list(state.connections):
        conn.close(1001, "server shutting down")
    server.stop()
    await asyncio.sleep(0.05)
    state.writer.stop(1.0)
    state.sender.stop()
    if state.reaper is not None:
        state.reaper.stop()
    if state.notifier is not None:
        state.notifier.stop()
    log.info("stopped after %.2f s", time.monotonic() - started)


def start_services(state: AppState) -> None:
    """Start the background parts, in order: the writer first (recovery writes through it), then the
    replicas' recovery of what a dead server left, then everything that takes new work."""
    state.writer.start()
    state.replicas.recover()
    if state.notifier is not None:
        state.notifier.start()
    state.replicas.start()
    state.retention.start()
    state.dispatcher.start()
    state.scheduler.start()
    state.sender.start()


def http_server(state: AppState, ssl_ctx: ssl.SSLContext | None = None) -> httpserver.HTTPServer:
    # Tornado's limit is only a backstop: the handlers stream bodies in and refuse one over --max-body-size
    # themselves, with a 413 envelope (handlers/base.py).
    limit = max(state.settings.max_body_size * 64, 64 * 1024 * 1024)
    return httpserver.HTTPServer(make_app(state), ssl_options=ssl_ctx, xheaders=True, max_body_size=limit)


def warn_unsafe_settings(settings: Settings) -> None:
    if not settings.token and not is_loopback(settings.host):
        log.warning("listening on %s with --no-auth: anyone who can reach the port can run playbooks", settings.host)
    if settings.allow_templated_extravars:
        log.warning("--allow-templated-extravars: Jinja in extravars is accepted (still passed unsafe, not templated)")
    if "@" in settings.database and any(settings.database in arg for arg in sys.argv):
        log.warning("the database URL is on the command line, where ps shows it: use REDRUNNER_DATABASE_URL")


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.certfile:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(settings.certfile, settings.keyfile)
    except (OSError, ssl.SSLError) as exc:
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        files = f"--certfile {settings.certfile}" + (f" / --keyfile {settings.keyfile}" if settings.keyfile else "")
        raise StartupError(f"cannot load {files}: {cause}") from exc
    return ctx


def listen_sockets(settings: Settings) -> list[socket.socket]:
    """Bind before anything else starts, so a port in use or a bad host fails fast and says so."""
    try:
        return netutil.bind_sockets(settings.port, settings.host)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on --host {settings.host}: {exc.strerror}") from exc
    except OSError as exc:
        cause = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise StartupError(f"cannot listen on --host {settings.host} --port {settings.port}: {cause}") from exc


def serve(settings: Settings) -> int:
    make_undumpable()
    warn_unsafe_settings(settings)
    loop = IOLoop.current()
    ssl_ctx = tls_context(settings)
    sockets = listen_sockets(settings)
    state = build_state(settings, loop)
    # Processes a run detaches stay under this server (below their run guard), never under init.
    become_subreaper()
    state.reaper = OrphanReaper()
    state.reaper.start()
    start_services(state)
    server = http_server(state, ssl_ctx)
    server.add_sockets(sockets)
    log.info(
        "redrunner %s serving on %s://%s:%d, data dir %s, database %s, %d workers, replica %s",
        __version__,
        "https" if ssl_ctx else "http",
        settings.host,
        settings.port,
        settings.data_dir,
        settings.database.split("@")[-1] if "@" in settings.database else settings.database,
        settings.workers,
        settings.replica_id,
    )

    stopping: list[asyncio.Future[None]] = []

    def on_signal(signum: int, frame: Any) -> None:
        if stopping:
            return
        log.info("received %s", signal.Signals(signum).name)

        def start_shutdown() -> None:
            fut = asyncio.ensure_future(shutdown(state, server))
            fut.add_done_callback(lambda _: loop.stop())
            stopping.append(fut)

        loop.add_callback_from_signal(start_shutdown)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    loop.start()
    state.db_pool.shutdown(wait=False)
    return 0
