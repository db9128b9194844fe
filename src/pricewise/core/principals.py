"""A few seconds' memory of whom a credential belongs to, and the hooks that make it forget.

Every authenticated request resolves its API key (or its access token's user) to a Principal.
On PostgreSQL that look-up rides on the statement that binds the transaction to the tenant
(tenancy.bind), so it costs no extra round trip and nothing is cached. On SQLite it is a
statement of its own, so a successful look-up is kept here, keyed by the key's SHA-256 (never the
key) or the token's user, and forgotten:

- at once in this process, as soon as any of its sessions flushes a change to a tenant, a user
  or an API key (revocation, rotation, expiry, deactivation, role, e-mail verification, tier),
  or runs an UPDATE or DELETE statement on one of their tables;
- at once in every other process using the same SQLite file (API workers, the CLI, job
  workers): when such a change commits, the committing process appends a byte to a stamp file
  next to the database, and every look-up here first compares the stamp (one stat call);
- after TTL_SECONDS in any case: the bound for changes made behind the application's back
  (a hand-written UPDATE in the sqlite3 shell) or lost to a crash between commit and stamp.

Failed look-ups are never kept: a wrong or revoked key always reaches the database. A rotated
key's expiry is checked on every use, so the end of the overlap window is exact.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from pricewise.core.base import utcnow
from pricewise.core.tenancy import Principal

log = logging.getLogger("pricewise.auth")

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
# The rows a Principal is made from. Named here (core knows no feature models) and checked by
# tests/core against the models, so a renamed table cannot silently stop the invalidation.
AUTH_TABLES = frozenset({"tenants", "users", "api_keys"})
_STAMP_MAX_BYTES = 4096  # then the stamp starts over: any change of size or time counts
_STAMP_SUFFIX = ".authstamp"

Version = tuple[int, int, int, int]
_generation = 0  # this process's count of auth changes; part of every Version


def _bump() -> None:
    global _generation
    _generation += 1


def stamp_path(url: str) -> Path | None:
    """The stamp file of a SQLite database file; None for any other database or :memory:."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    # Resolved: another process may name the same file through a relative path or a symlink.
    resolved = Path(database).resolve()
    return resolved.with_name(resolved.name + _STAMP_SUFFIX)


def _stamp_of(bind: Any) -> Path | None:
    engine = getattr(bind, "engine", None)
    if not isinstance(engine, Engine):
        return None
    return stamp_path(engine.url.render_as_string(hide_password=False))


def _touch(path: Path) -> None:
    try:
        size = path.stat().st_size if path.exists() else 0
        # Appending changes the size even when the clock has not ticked since the last append.
        with path.open("wb" if size >= _STAMP_MAX_BYTES else "ab") as fh:
            fh.write(b".")
    except OSError as exc:  # read-only directory: other processes fall back on the TTL
        log.warning("cannot write %s (%s): other processes see auth changes after %g s",
                    path, type(exc).__name__, TTL_SECONDS)


def _is_auth_row(obj: object) -> bool:
    return getattr(obj, "__tablename__", None) in AUTH_TABLES


@event.listens_for(Session, "before_flush")
def _flushing(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    if any(_is_auth_row(o) for o in session.dirty) or any(_is_auth_row(o) for o in session.deleted):
        session.info["auth_changed"] = True
        _bump()  # now: requests of this process stop trusting what they have cached


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in AUTH_TABLES:
            state.session.info["auth_changed"] = True
            _bump()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop("auth_changed", False):
        # Again after the commit: a look-up that ran between flush and commit read the old rows.
        _bump()
        path = _stamp_of(session.bind)
        if path is not None:
            _touch(path)


class PrincipalCache:
    """Per app: credential digest -> Principal, valid while the Version it was read under holds."""

    def __init__(self, database_url: str) -> None:
        self.enabled = database_url.startswith("sqlite")
        self.stamp = stamp_path(database_url) if self.enabled else None
        self._entries: dict[str, tuple[Principal, Version, float, datetime | None]] = {}
        if self.stamp is not None and not self.stamp.exists():
            with contextlib.suppress(OSError):  # then version() reads "no stamp" until one appears
                self.stamp.touch()

    def version(self) -> Version:
        """Read before the database look-up whose result is then stored under it."""
        if self.stamp is None:
            return (_generation, 0, 0, 0)
        try:
            st = os.stat(self.stamp)
        except OSError:
            return (_generation, 0, 0, 0)
        return (_generation, st.st_ino, st.st_size, st.st_mtime_ns)

    def get(self, key: str, version: Version) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, seen, born, expires_at = entry
        if (seen != version or time.monotonic() - born > TTL_SECONDS
                or (expires_at is not None and expires_at <= utcnow())):
            self._entries.pop(key, None)
            return None
        return principal

    def put(self, key: str, principal: Principal, version: Version, expires_at: datetime | None = None) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (principal, version, time.monotonic(), expires_at)
