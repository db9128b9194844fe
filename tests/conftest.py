"""Fixtures: a real database per test (SQLite file, and PostgreSQL when reachable), the app over
ASGI, an SMTP server, an OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

_VAR = tempfile.mkdtemp(prefix="pricewise-test-")
os.environ.setdefault("PRICEWISE_VAR_DIR", _VAR)  # the huey SQLite queue of core.jobs lives here

import pytest  # noqa: E402

pytest.register_assert_rewrite("tests.secret_scan")  # a plugin (pytest_plugins below) imported here first

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from pricewise.app import create_app  # noqa: E402
from pricewise.core.migrate import upgrade  # noqa: E402
from pricewise.models import Base  # noqa: E402
from pricewise.settings import Settings  # noqa: E402
from tests.secret_scan import SCANNER, plant  # noqa: E402
from tests.support import PASSWORD, Mailbox, OpenAIStub  # noqa: E402

# Every log record and every response of the run is scanned for planted secrets (tests/secret_scan.py).
pytest_plugins = ["tests.secret_scan"]

SECRET_KEY = plant("master secret", "planted-master-secret-0123456789")
plant("password", PASSWORD)
PG_ADMIN_URL = os.environ.get("PRICEWISE_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PRICEWISE_TEST_REDIS", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


logging.getLogger("mail.log").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)  # the test client's own request log
PG_UP = _reachable("127.0.0.1", 5432)
REDIS_UP = _reachable("127.0.0.1", 6379)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"PostgreSQL at 127.0.0.1:5432: {'reachable' if PG_UP else 'UNREACHABLE, its tests skip'}",
            f"Redis at 127.0.0.1:6379: {'reachable' if REDIS_UP else 'UNREACHABLE, its tests skip'}"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    if not PG_UP:
        pytest.skip("PostgreSQL is unreachable at 127.0.0.1:5432")
    name = f"pricewise_test_{os.getpid()}"

    async def admin(sql: str) -> None:
        eng = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with eng.connect() as conn:
            await conn.execute(text(sql))
        await eng.dispose()

    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name}"))
    asyncio.run(admin(f"CREATE DATABASE {name}"))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _truncate(url: str) -> None:
    eng = create_async_engine(url)
    async with eng.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    await eng.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """Each test that uses the database runs on a fresh SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "pricewise.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "pricewise.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub()
    SCANNER.watch_stub(stub)  # its valid keys are BYOK keys
    stub.start()
    yield stub
    stub.stop()
    SCANNER.unwatch_stub(stub)


def make_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"database_url": db_url, "var_dir": tmp_path, "secret_key": SECRET_KEY,
                            "public_url": "http://testserver", "log_level": "INFO"}
    base.update(overrides)
    return Settings(**base)


AppFactory = Callable[..., Any]


@pytest.fixture
async def make_client(db_url: str, tmp_path: Path, mailbox: Mailbox) -> AsyncIterator[AppFactory]:
    """make_client(auth_mode="required", embedded_jobs=False, **settings) -> an httpx client on a
    running app; with embedded_jobs its background jobs run in the app, as under `serve`."""
    stack: list[Any] = []

    async def factory(auth_mode: str = "required", embedded_jobs: bool = False,
                      **overrides: Any) -> httpx.AsyncClient:
        overrides.setdefault("smtp_host", "127.0.0.1")
        overrides.setdefault("smtp_port", mailbox.port)
        settings = make_settings(overrides.pop("database_url", db_url), tmp_path, **overrides)
        SCANNER.plant_settings(settings)  # the JWT secret, SMTP password, platform OpenAI key...
        app = create_app(settings, auth_mode=auth_mode, embedded_jobs=embedded_jobs)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = SCANNER.watch(httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                 base_url="http://testserver"))
        client.app = app  # type: ignore[attr-defined]
        stack.append((lifespan, client))
        return client

    yield factory
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    c: httpx.AsyncClient = await make_client()
    return c
