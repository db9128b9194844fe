"""What one running app (or CLI command) holds: settings, database, keys, limiter, mailer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.core.db import Database, commit
from pricewise.core.errors import AppError
from pricewise.core.events import EventBus
from pricewise.core.keys import Keys, load_keys
from pricewise.core.mail import Mailer
from pricewise.core.principals import PrincipalCache
from pricewise.core.ratelimit import RateLimiter
from pricewise.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    keys: Keys
    limiter: RateLimiter
    mailer: Mailer
    events: EventBus
    auth_mode: str = "required"
    local_principal: Any = None
    principals: PrincipalCache = field(default_factory=lambda: PrincipalCache(""))  # "": disabled
    extras: dict[str, Any] = field(default_factory=dict)

    async def redis_ok(self) -> bool | None:
        """None when no Redis is configured; else whether it answers a PING within a second."""
        if not self.settings.redis_url:
            return None
        from redis.asyncio import Redis

        client = Redis.from_url(self.settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except Exception:
            return False
        finally:
            await client.aclose()

    @classmethod
    def build(cls, settings: Settings, auth_mode: str | None = None) -> AppContext:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            keys=load_keys(settings),
            limiter=RateLimiter(settings.redis_url, settings.rate_limit_requests_per_minute,
                                settings.rate_limit_ai_requests_per_minute,
                                {"trial": settings.estimates_per_hour_trial, "pro": settings.estimates_per_hour_pro,
                                 "enterprise": settings.estimates_per_hour_enterprise}),
            mailer=Mailer(settings),
            events=EventBus(settings.redis_url),
            auth_mode=auth_mode or settings.auth_mode or "required",
            principals=PrincipalCache(settings.database_url),
        )


async def get_ctx(request: Request) -> AppContext:
    # async on purpose: FastAPI runs a plain function dependency on a worker thread.
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed when the route returns, rolled back otherwise."""
    ctx: AppContext = request.app.state.ctx
    async with ctx.db.session() as session:
        session.info["request_id"] = getattr(request.state, "request_id", None)
        try:
            yield session
        except AppError:
            # A refused request may still have to record its refusal (a revoked token family).
            if session.info.pop("commit_even_on_error", False):
                await commit(session)
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        await commit(session)
        await ctx.events.publish_all(session.info.pop("events", []))


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
