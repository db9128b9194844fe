"""Engines and sessions. SQLite gets WAL, foreign keys and a busy timeout on every connection."""

from __future__ import annotations

import asyncio
import collections
import re
import sqlite3
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, DisconnectionError, PendingRollbackError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# Imported for their session hooks: audit rows, and forgetting cached principals.
from pricewise.core import audit, principals  # noqa: F401

AfterCommit = Callable[[], Awaitable[object]]


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


# --- SQLite: one trip to aiosqlite's thread per statement --------------------------------
# Every aiosqlite call is a hop to the connection's thread and back through the event loop, and
# under concurrency each hop also waits for the GIL. The stock adapter makes four per statement
# (open cursor, execute, fetch, close) and one per commit or rollback even with no transaction
# open. These subclasses run a statement whole in one hop, and skip COMMIT/ROLLBACK when SQLite
# has no transaction open: exactly what sqlite3 itself does then, minus the hop. They build on
# private parts of SQLAlchemy's aiosqlite adapter and of aiosqlite (both pinned in pyproject):
# every SQLite test goes through them, so an upgrade that breaks them fails the whole suite.

def _run_statement(conn: sqlite3.Connection, operation: str, parameters: Any,
                   many: bool) -> tuple[Any, list[Any], int, int | None]:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, [] if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor: one per statement
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        conn: Any = self._connection  # an aiosqlite.Connection; _execute runs fn on its thread
        adapt: _OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        if not adapt._gate_held and not conn._conn.in_transaction and _WRITES.match(operation):
            adapt._gate_held = await adapt._gate.acquire(adapt._busy_seconds)
        try:
            async with adapt._execute_mutex:
                self._description, rows, self._rowcount, self._lastrowid = await conn._execute(
                    _run_statement, conn._conn, operation, parameters, many)
        finally:
            if adapt._gate_held and not conn._conn.in_transaction:  # the write failed: no transaction
                adapt._release_gate()
        busy = _BUSY.match(operation)
        if busy:
            adapt._busy_seconds = int(busy.group(1)) / 1000
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._run(operation, parameters, False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._run(operation, seq_of_parameters, True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _async_soft_close(self) -> None:
        return None  # nothing left open on the thread

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None  # sqlite3 ignores them too


class _WriteGate:
    """One writing transaction at a time per engine, queued in the event loop.

    SQLite lets one connection write at a time; the others wait in its busy handler, which polls
    with sleeps growing to 100 ms. Under concurrent writes that turned a 30 ms median into a
    seconds-long tail. Here a transaction takes the gate before its first write and gives it back
    at commit or rollback, so writers of this process queue fairly and start the moment the
    previous one ends. Other processes on the same file still meet the busy handler. A writer that
    cannot get the gate within the connection's busy timeout goes ahead and lets SQLite decide,
    as before (e.g. a short busy timeout set on purpose to fail fast)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())

    async def acquire(self, wait_seconds: float) -> bool:
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), wait_seconds)
        except TimeoutError:
            return False
        return True

    def release(self) -> None:
        lock = self._locks.get(asyncio.get_running_loop())
        if lock is not None and lock.locked():
            lock.release()


_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_BUSY = re.compile(r"\s*PRAGMA\s+busy_timeout\s*=\s*(\d+)", re.IGNORECASE)
BUSY_TIMEOUT_MS = 10_000


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_busy_seconds", "_gate", "_gate_held")
    _cursor_cls = _OneTripCursor

    def __init__(self, dbapi: Any, connection: Any, gate: _WriteGate) -> None:
        super().__init__(dbapi, connection)
        self._gate = gate
        self._gate_held = False
        self._busy_seconds = BUSY_TIMEOUT_MS / 1000

    def _in_transaction(self) -> bool:
        conn: sqlite3.Connection | None = self._connection._connection
        return conn is not None and conn.in_transaction

    def _release_gate(self) -> None:
        if self._gate_held:
            self._gate_held = False
            self._gate.release()

    def commit(self) -> None:
        try:
            if self._in_transaction():
                super().commit()
        finally:
            if not self._in_transaction():
                self._release_gate()

    def rollback(self) -> None:
        try:
            if self._in_transaction():
                super().rollback()
        finally:
            if not self._in_transaction():
                self._release_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_gate()


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.gate = _WriteGate()  # per engine: its connections share one file

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        stock = super().connect(*arg, **kw)
        return _OneTripConnection(self, stock._connection, self.gate)


IDLE_PING_SECONDS = 2.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """pool_pre_ping, but only for a connection idle for IDLE_PING_SECONDS.

    A ping is a round trip (about 100 µs of CPU) on every checkout. Connections that sat idle
    are the ones a server restart, an idle timeout or a dropped TCP connection kill unnoticed,
    and they are pinged and replaced here. A connection in constant use that the server has
    closed (a restart, pg_terminate_backend) is known closed to asyncpg and replaced without a
    ping. One that died silently within the last seconds fails its first statement: that request
    gets 503 database_unavailable with Retry-After, and SQLAlchemy recycles the whole pool.
    """
    sync = engine.sync_engine

    def fresh(_dbapi: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    def checkin(_dbapi: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    def checkout(dbapi: DBAPIConnection, record: ConnectionPoolEntry, _proxy: Any) -> None:
        # Free: asyncpg marks a connection closed as soon as the server has hung up on it.
        is_closed = getattr(getattr(dbapi, "driver_connection", None), "is_closed", None)
        if is_closed is not None and is_closed():
            raise DisconnectionError("the server closed the connection")
        if time.monotonic() - record.info.get("returned_at", 0.0) <= IDLE_PING_SECONDS:
            return
        try:
            sync.dialect.do_ping(dbapi)
        except Exception as exc:
            raise DisconnectionError(f"idle connection failed its ping: {type(exc).__name__}") from exc
        record.info["returned_at"] = time.monotonic()

    event.listen(sync, "connect", fresh)
    event.listen(sync, "checkin", checkin)
    event.listen(sync, "checkout", checkout)


async def _connect_asyncpg(*args: Any, **kwargs: Any) -> Any:
    """asyncpg.connect, with a refused, reset or timed-out connection (a bare OSError from the
    socket, e.g. while the server restarts) raised as the DB-API's OperationalError, as psycopg
    does. SQLAlchemy then reports it like any other lost connection: 503 database_unavailable
    with Retry-After, not a 500."""
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi

    try:
        return await asyncpg.connect(*args, **kwargs)
    except OSError as exc:  # TimeoutError included
        raise AsyncAdapt_asyncpg_dbapi.OperationalError(  # type: ignore[no-untyped-call]
            f"cannot connect: {exc}", exc) from exc


def connection_lost(exc: BaseException) -> bool:
    """Whether exc is the database connection failing under a transaction (a server restart, a
    network cut): the unit of work cannot commit, so a step that tolerates its own failures must
    let this one through (the request then answers 503 database_unavailable)."""
    if isinstance(exc, PendingRollbackError):
        return exc.code == "8s2b"  # the connection was invalidated earlier in the transaction
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if url.startswith("sqlite+aiosqlite"):
            kwargs.setdefault("module", _OneTripDBAPI(aiosqlite, sqlite3))
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # A connection is a thread and a file handle: keep enough for every request in flight.
            # Past pool_size, each returned connection is closed and the next one opened anew
            # (thread, PRAGMAs), which cost more CPU than the queries under concurrent load.
            kwargs.setdefault("pool_size", 32)
            kwargs.setdefault("max_overflow", 32)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Same ceiling as before (30 a process), mostly kept open: opening a connection costs
    # milliseconds, so overflow connections closed and reopened under load cost the most.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    if url.startswith("postgresql+asyncpg"):
        kwargs["connect_args"] = {"async_creator_fn": _connect_asyncpg, **kwargs.get("connect_args", {})}
    engine = create_async_engine(url, **kwargs)
    if "pool_pre_ping" not in kwargs:  # an explicit pool_pre_ping=True pings on every checkout
        _ping_when_idle(engine)
    return engine


class Database:
    """One engine and its session factory; the app keeps one, CLI commands make their own."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def session(self) -> AsyncSession:
        return self.sessions()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def after_commit(session: AsyncSession, fn: AfterCommit) -> None:
    """Run fn once the unit of work has committed (e-mails, jobs, events)."""
    session.info.setdefault("after_commit", []).append(fn)


async def commit(session: AsyncSession) -> None:
    """The request boundary's commit, then the hooks registered during the request."""
    await session.commit()
    hooks: list[AfterCommit] = session.info.pop("after_commit", [])
    for hook in hooks:
        await hook()
