"""Publish/subscribe for live updates: in-process, or across processes through Redis pub/sub.

Services call `emit(session, ...)`; the events go out only after the unit of work commits (the
session dependency and `db.commit` deliver them), so nobody hears about a change that rolled back.
Each subscriber has a bounded queue: a slow consumer loses its oldest events, never blocks others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("pricewise.events")
CHANNEL = "pricewise:events"


@dataclass(frozen=True)
class Event:
    tenant_id: str
    type: str
    data: dict[str, Any]
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z"))

    def frame(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data, "timestamp": self.at}


def emit(session: AsyncSession, tenant_id: str, type_: str, data: dict[str, Any]) -> None:
    session.info.setdefault("events", []).append(Event(tenant_id, type_, data))


class Subscription:
    def __init__(self, bus: EventBus, tenant_id: str, maxsize: int,
                 accepts: Callable[[Event], bool] | None = None) -> None:
        self.bus = bus
        self.tenant_id = tenant_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0
        self.loop = asyncio.get_running_loop()
        # Checked on the subscriber's loop before queueing: unwanted events never take a slot, so
        # `dropped` counts only events the subscriber wanted.
        self.accepts = accepts

    def offer(self, event: Event) -> None:
        """Queue the event on the subscriber's loop; from another thread (an embedded job) safely."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self.loop:
            with contextlib.suppress(RuntimeError):  # the subscriber's loop has closed
                self.loop.call_soon_threadsafe(self._offer, event)
            return
        self._offer(event)

    def _offer(self, event: Event) -> None:
        if self.accepts is not None and not self.accepts(event):
            return
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self, wait: float | None = None) -> Event | None:
        try:
            return await asyncio.wait_for(self.queue.get(), wait)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.bus.unsubscribe(self)


class EventBus:
    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None

    def subscribe(self, tenant_id: str, maxsize: int = 256,
                  accepts: Callable[[Event], bool] | None = None) -> Subscription:
        sub = Subscription(self, tenant_id, maxsize, accepts)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def _deliver(self, event: Event) -> None:
        for sub in list(self._subs):
            if sub.tenant_id == event.tenant_id:
                sub.offer(event)

    async def publish(self, event: Event) -> None:
        if self.redis_url:
            try:
                if self._redis is None:
                    from redis.asyncio import Redis

                    # A Redis that hangs costs a publish a second, then local delivery.
                    self._redis = Redis.from_url(self.redis_url, socket_timeout=1, socket_connect_timeout=1)
                await self._redis.publish(CHANNEL, json.dumps(
                    {"tenant_id": event.tenant_id, "type": event.type, "data": event.data, "at": event.at},
                    default=str))
                return
            except Exception as exc:  # Redis down: at least this process's listeners hear it
                log.warning("event bus: Redis publish failed (%s); delivering locally", type(exc).__name__)
        self._deliver(event)

    async def publish_all(self, events: list[Event]) -> None:
        for e in events:
            await self.publish(e)

    async def start(self, wait: float = 2.0) -> None:
        """Relay events from Redis to this process's subscribers (no-op when embedded).

        Waits (at most `wait` seconds) until the Redis subscription is live, so an event published
        by another process right after this process says it is ready is not missed. With Redis
        down it returns after the first failed attempt; the listener keeps retrying."""
        if self.redis_url and self._task is None:
            settled = asyncio.Event()
            self._task = asyncio.create_task(self._listen(settled))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), wait)

    async def _listen(self, settled: asyncio.Event) -> None:
        from redis.asyncio import Redis

        while True:
            try:
                client = Redis.from_url(self.redis_url or "")
                pubsub = client.pubsub()
                await pubsub.subscribe(CHANNEL)
                async for msg in pubsub.listen():
                    if msg.get("type") == "subscribe":  # Redis confirms: publishes reach us from now on
                        settled.set()
                    if msg.get("type") != "message":
                        continue
                    raw = json.loads(msg["data"])
                    self._deliver(Event(raw["tenant_id"], raw["type"], raw["data"], raw["at"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event bus: Redis subscription lost (%s); retrying", type(exc).__name__)
                settled.set()
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
