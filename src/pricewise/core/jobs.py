"""Background jobs on huey: SQLite storage embedded, Redis when PRICEWISE_REDIS_URL is set.

Embedded, `serve` runs a consumer on threads inside the API process; distributed, any number of
`pricewise worker` processes consume the Redis queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, TypeVar

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from pricewise.settings import Settings, get_settings

log = logging.getLogger("pricewise.jobs")
T = TypeVar("T")


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("pricewise", url=settings.redis_url)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("pricewise", filename=str(settings.var_dir / "jobs.db"))


huey: Huey = make_huey(get_settings())


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves the host process's signal handlers (uvicorn's) alone."""

    def _set_signal_handlers(self) -> None:
        return None


def start_embedded(workers: int = 2) -> EmbeddedConsumer:
    consumer = EmbeddedConsumer(huey, workers=workers, worker_type="thread", periodic=True,
                                check_worker_health=False)
    consumer.start()
    return consumer


def run_worker(workers: int) -> None:
    Consumer(huey, workers=workers, worker_type="thread", periodic=True).run()


@lru_cache(maxsize=1)
def _job_context() -> Any:
    from pricewise.core.context import AppContext

    return AppContext.build(get_settings())


def run_async(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Jobs are sync functions for huey; they run their async body on a fresh loop."""
    async def main() -> T:
        ctx = _job_context()
        try:
            return await fn(ctx)
        finally:
            await ctx.db.dispose()
    return asyncio.run(main())


def queue_ok() -> bool:
    try:
        huey.pending_count()
        return True
    except Exception:
        return False
