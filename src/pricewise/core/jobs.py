"""Background jobs on huey: SQLite storage embedded, Redis when PRICEWISE_REDIS_URL is set.

Embedded, `serve` runs a consumer on threads inside the API process; distributed, any number of
`pricewise worker` processes consume the Redis queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from pricewise.settings import Settings, get_settings

log = logging.getLogger("pricewise.jobs")
T = TypeVar("T")


class _PeriodicOnce:
    """Every consumer with periodic=True enqueues the periodic tasks due each minute, so M worker
    processes (or API processes with embedded jobs) would run each one M times. The first
    consumer to claim the minute in the shared storage enqueues them; the others skip it."""

    KEEP_MINUTES = 10  # claims older than this are deleted as new ones are made

    def read_periodic(self, timestamp: datetime | None) -> list[Any]:
        due: list[Any] = super().read_periodic(timestamp)  # type: ignore[misc]
        if not due or timestamp is None:
            return due
        minute = timestamp.strftime("%Y%m%d%H%M")
        store: Any = self
        if not store.put_if_empty(f"periodic:{minute}", minute):
            return []
        store.delete(f"periodic:{(timestamp - timedelta(minutes=self.KEEP_MINUTES)).strftime('%Y%m%d%H%M')}")
        return due


class _RedisHuey(_PeriodicOnce, RedisHuey):  # type: ignore[misc]
    pass


class _SqliteHuey(_PeriodicOnce, SqliteHuey):  # type: ignore[misc]
    pass


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return _RedisHuey("pricewise", url=settings.redis_url)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return _SqliteHuey("pricewise", filename=str(settings.var_dir / "jobs.db"))


huey: Huey = make_huey(get_settings())


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves the host process's signal handlers (uvicorn's) alone."""

    def _set_signal_handlers(self) -> None:
        return None


def start_embedded(workers: int = 2) -> EmbeddedConsumer:
    # A short maximum poll delay: embedded, a job the API just queued should start within a second.
    consumer = EmbeddedConsumer(huey, workers=workers, worker_type="thread", periodic=True,
                                check_worker_health=False, max_delay=1.0)
    consumer.start()
    return consumer


def run_worker(workers: int) -> None:
    Consumer(huey, workers=workers, worker_type="thread", periodic=True).run()


_base: Any = None  # the AppContext jobs run with; built from the environment unless configured


def configure(ctx: Any) -> None:
    """Embedded jobs run against the serving app's settings, and publish on its event bus."""
    global _base
    _base = ctx


def _job_context() -> Any:
    global _base
    if _base is None:
        from pricewise.core.context import AppContext

        _base = AppContext.build(get_settings())
    return _base


def run_async(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Jobs are sync functions for huey; they run their async body on a fresh loop, with their own
    database engine (engines and their connections belong to one event loop)."""
    from pricewise.core.db import Database
    from pricewise.core.events import EventBus

    async def main() -> T:
        base = _job_context()
        # With Redis the job publishes through its own client; embedded, through the app's bus,
        # which hands events to its subscribers' loop thread-safely.
        events = EventBus(base.settings.redis_url) if base.settings.redis_url else base.events
        ctx = dataclasses.replace(base, db=Database(base.settings.database_url), events=events)
        try:
            return await fn(ctx)
        finally:
            await ctx.db.dispose()
            if events is not base.events:
                await events.stop()
    return asyncio.run(main())


def queue_ok() -> bool:
    try:
        huey.pending_count()
        return True
    except Exception:
        return False
