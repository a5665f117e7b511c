"""AppState: what one server holds for its life, as the handlers reach it (`self.state`).

A leaf: the types are imported for the type checker only, so a handler importing this imports nothing
else; app.py builds it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bus import Bus
    from .commands import Commands
    from .config import Settings
    from .db import EmbeddedDatabaseLock
    from .delivery import Sender
    from .dispatch import Dispatcher
    from .metrics import Metrics
    from .processes import OrphanReaper
    from .queries import Queries
    from .replicas import Replicas
    from .replication import Notifier
    from .retention import Retention
    from .schedules import Scheduler, ScheduleService
    from .webhooks import WebhookService
    from .writer import EventWriter


@dataclass
class AppState:
    settings: Settings
    bus: Bus
    queries: Queries
    commands: Commands
    writer: EventWriter
    dispatcher: Dispatcher
    replicas: Replicas
    retention: Retention
    metrics: Metrics
    db_pool: ThreadPoolExecutor
    schedules: ScheduleService
    scheduler: Scheduler
    webhooks: WebhookService
    sender: Sender
    # Change notices between replicas: on PostgreSQL only.
    notifier: Notifier | None = None
    # Set by serve(), which makes the process a subreaper; None where the process is not a server's own
    # (the in-process test tier): reaping there would take the host process's other children.
    reaper: OrphanReaper | None = None
    # Held for the server's life: one server per embedded database file.
    db_lock: EmbeddedDatabaseLock | None = None
    connections: set[Any] = field(default_factory=set)
