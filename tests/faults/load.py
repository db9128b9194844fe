"""A steady stream of requests through a fault, every answer recorded with its timing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# No request may take longer than this, fault or not: a pool or a driver waiting on a dead
# server would show here first.
BOUND = 5.0


@dataclass
class Outcome:
    op: str
    key: str  # what a write wrote (to look for afterwards), or ""
    started: float
    ended: float
    status: int  # 0: no answer within BOUND
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def __str__(self) -> str:
        return f"{self.op} {self.key} -> {self.status} after {self.seconds:.2f} s: {str(self.body)[:300]}"


Op = Callable[[int, int], Awaitable[tuple[str, str, httpx.Response]]]  # (worker, i) -> (op, key, response)


class Load:
    """`workers` tasks each run `op` back to back until stopped, each call bounded by BOUND."""

    def __init__(self, op: Op, workers: int = 6, pause: float = 0.01) -> None:
        self.op, self.workers, self.pause = op, workers, pause
        self.outcomes: list[Outcome] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _worker(self, w: int) -> None:
        i = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                name, key, r = await asyncio.wait_for(self.op(w, i), BOUND)
            except TimeoutError:
                self.outcomes.append(Outcome("?", "", started, time.monotonic(), 0, "no answer"))
            else:
                try:
                    body: Any = r.json()
                except ValueError:
                    body = r.text
                self.outcomes.append(Outcome(name, key, started, time.monotonic(), r.status_code, body,
                                             dict(r.headers)))
            i += 1
            await asyncio.sleep(self.pause)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(w)) for w in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def since(self, t: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= t]

    def between(self, a: float, b: float) -> list[Outcome]:
        return [o for o in self.outcomes if a <= o.started < b]

    async def until_ok_since(self, t: float, timeout: float) -> float:
        """Seconds from t to the first 2xx of a request started after t."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            done = [o for o in self.since(t) if o.ok]
            if done:
                return min(o.ended for o in done) - t
            await asyncio.sleep(0.02)
        raise AssertionError(f"no request succeeded within {timeout:g} s; since then: "
                             f"{[str(o) for o in self.since(t)][-5:]}")
