"""Several consumers (worker processes, or API processes with embedded jobs) share one queue;
each periodic task due in a minute is enqueued once, not once per consumer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from huey.consumer import Consumer

from pricewise.core.jobs import make_huey
from pricewise.settings import Settings
from tests.conftest import SECRET_KEY

REDIS_DB = "redis://127.0.0.1:6379/12"


def _consumers(settings: Settings, n: int) -> list[Consumer]:
    """n consumers, each with its own Huey instance on the same storage, as separate processes have."""
    out = []
    for _ in range(n):
        h = make_huey(settings)
        @h.periodic_task(lambda ts: True, name="every_minute")  # type: ignore[untyped-decorator]
        def every_minute() -> None:
            return None
        out.append(Consumer(h, workers=1, periodic=True))
    return out


@pytest.mark.parametrize("store", ["redis", "sqlite"])
def test_each_minute_is_enqueued_by_one_consumer_only(store, tmp_path: Path):
    extra = {"redis_url": REDIS_DB} if store == "redis" else {}
    settings = Settings(secret_key=SECRET_KEY, var_dir=tmp_path, **extra)
    consumers = _consumers(settings, 3)
    h = consumers[0].huey
    h.flush()
    try:
        for minute in (0, 1, 2):
            now = datetime(2026, 11, 25, 10, minute)
            for c in consumers:
                c._create_scheduler().enqueue_periodic_tasks(now)
        assert h.pending_count() == 3  # three minutes, once each, not nine
        # Claims do not pile up: those older than the window are deleted as new ones are made.
        for minute in range(3, 30):
            consumers[minute % 3]._create_scheduler().enqueue_periodic_tasks(datetime(2026, 11, 25, 10, minute))
        assert h.pending_count() == 30
        claims = [k for k in h.all_results() if str(k).startswith("periodic:")]
        assert len(claims) <= 11
    finally:
        h.flush()
