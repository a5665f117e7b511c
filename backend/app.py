"""Assembly and lifecycle of one server: database, writer, executor, routes, signals, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import peewee as pw
from tornado import httpserver, web
from tornado.ioloop import IOLoop

from . import __version__
from .bus import Bus, Publisher
from .config import Settings
from .db import migrate, open_database
from .executor import Executor
from .handlers import health, jobs, meta, operations, streams, units
from .handlers.base import NotFoundHandler
from .logs import log_request
from .metrics import Metrics
from .retries import SHUTDOWN_ERROR
from .service import Service
from .writer import EventWriter

log = logging.getLogger("redrunner")

HANDLER_MODULES = [health, meta, jobs, units, operations, streams]


@dataclass
class AppState:
    settings: Settings
    db: pw.Database
    bus: Bus
    service: Service
    writer: EventWriter
    executor: Executor
    metrics: Metrics
    db_pool: ThreadPoolExecutor
    connections: set[Any] = field(default_factory=set)


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


def build_state(settings: Settings, loop: IOLoop) -> AppState:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.artifact_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.database)
    migrate(db)
    bus = Bus()
    publisher = Publisher(bus, loop)
    metrics = Metrics()
    service = Service(settings, db, publisher)
    from .replication import Notifier

    notifier = Notifier.for_database(settings, db, service, publisher)
    writer = EventWriter(db, service, publisher, metrics)
    executor = Executor(settings, db, service, writer, metrics)
    db_pool = ThreadPoolExecutor(max(4, min(16, settings.workers)), thread_name_prefix="redrunner-db")
    state = AppState(settings, db, bus, service, writer, executor, metrics, db_pool)
    state.notifier = notifier  # type: ignore[attr-defined]
    return state


async def shutdown(state: AppState, server: httpserver.HTTPServer) -> None:
    settings = state.settings
    started = time.monotonic()
    log.info("shutting down: no new operations; running ones get %.0f s", settings.shutdown_grace)
    state.executor.stop_accepting()
    loop = IOLoop.current()
    await loop.run_in_executor(state.db_pool, state.executor.cancel_pending_for_shutdown)
    deadline = started + settings.shutdown_grace
    while state.executor.running_count() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if state.executor.running_count():
        log.warning("grace over: canceling %d running operations", state.executor.running_count())
        state.executor.cancel_all(SHUTDOWN_ERROR)
    await loop.run_in_executor(None, state.executor.shutdown)
    await loop.run_in_executor(None, state.writer.flush, 10.0)
    # Let the last frames reach the streams before closing them.
    await asyncio.sleep(0)
    for conn in list(state.connections):
        conn.close(1001, "server shutting down")
    server.stop()
    await asyncio.sleep(0.05)
    state.writer.stop()
    notifier = getattr(state, "notifier", None)
    if notifier is not None:
        notifier.stop()
    log.info("stopped after %.2f s", time.monotonic() - started)


def serve(settings: Settings) -> int:
    loop = IOLoop.current()
    state = build_state(settings, loop)
    state.writer.start()
    state.executor.recover()
    notifier = getattr(state, "notifier", None)
    if notifier is not None:
        notifier.start()
    state.executor.start()
    app = make_app(state)
    ssl_ctx = None
    if settings.certfile:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(settings.certfile, settings.keyfile)
    server = httpserver.HTTPServer(
        app, ssl_options=ssl_ctx, xheaders=True, max_body_size=max(settings.max_body_size * 64, 64 * 1024 * 1024)
    )
    server.listen(settings.port, settings.host)
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
