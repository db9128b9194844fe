"""The `pricewise` command, run as an operator runs it: a subprocess with settings in the
environment, on a SQLite file (and PostgreSQL as an import target). What it changes is checked
through the app and through the database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from pydantic import AliasChoices
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from pricewise.accounts import lifecycle, service
from pricewise.accounts.models import Tenant
from pricewise.app import create_app
from pricewise.core.context import AppContext
from pricewise.core.crypto import CryptoError, SecretBox
from pricewise.core.ids import new_id
from pricewise.core.keys import load_keys
from pricewise.core.migrate import alembic_config
from pricewise.models import Base
from pricewise.settings import Settings
from tests.conftest import SECRET_KEY
from tests.support import PASSWORD, Mailbox, free_port, row_counts

_SCRIPT = Path(sys.executable).with_name("pricewise")
CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pricewise.cli"]
OWNER = "owner@acme.example"


def _setting_names() -> set[str]:
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        names.add(f"PRICEWISE_{name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(c) for c in field.validation_alias.choices)
    return names


def _base_env(var_dir: Path) -> dict[str, str]:
    """The machine's environment without any pricewise setting, plus this test's own."""
    ours = _setting_names()
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update({"PRICEWISE_VAR_DIR": str(var_dir), "PRICEWISE_SECRET_KEY": SECRET_KEY,
                "PRICEWISE_LOG_LEVEL": "WARNING"})
    return env


@dataclass
class Cli:
    url: str
    var_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {**_base_env(self.var_dir), "PRICEWISE_DATABASE_URL": self.url}

    def run(self, *args: str, check: bool = True, timeout: float = 60,
            **extra_env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*CMD, *args], env={**self.env, **extra_env}, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check:
            assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def settings(self, **overrides: Any) -> Settings:
        base: dict[str, Any] = {"database_url": self.url, "var_dir": self.var_dir,
                                "secret_key": SECRET_KEY, "public_url": "http://testserver"}
        return Settings(**{**base, **overrides})


@dataclass
class CliTenant:
    id: str
    key: str
    created_output: str


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """A refusal before any work starts is exactly one line on stderr."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    return lines[0]


def _refusal(proc: subprocess.CompletedProcess[str], marker: str) -> str:
    """A refusal during work (progress lines around it): one whole line that says why."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if marker in ln]
    assert len(lines) == 1, f"expected one line with {marker!r} on stderr, got:\n{proc.stderr}"
    return lines[0]


@asynccontextmanager
async def app_client(settings: Settings, auth_mode: str = "required") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, auth_mode=auth_mode)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _tables() -> list[Any]:
    """The tenants table, then every table an export walks."""
    return [Base.metadata.tables["tenants"], *lifecycle.tenant_tables()]


async def tenant_rows(url: str, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_async_engine(url)
    out: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as conn:
        for table in _tables():
            owner = table.c.id if table.name == "tenants" else table.c.tenant_id
            result = await conn.execute(select(table).where(owner == tenant_id).order_by(table.c.id))
            out[table.name] = [dict(r._mapping) for r in result]
    await engine.dispose()
    return out


async def stored_openai_token(url: str, tenant_id: str) -> str | None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        token = (await conn.execute(select(Tenant.openai_key_encrypted)
                                    .where(Tenant.id == tenant_id))).scalar_one()
    await engine.dispose()
    return token


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """One database for the module, migrated by the CLI itself."""
    base = tmp_path_factory.mktemp("cli")
    c = Cli(url=f"sqlite+aiosqlite:///{base / 'pricewise.db'}", var_dir=base / "var")
    c.run("db", "upgrade")
    return c


@pytest.fixture(scope="module")
def tenant(cli: Cli) -> CliTenant:
    out = cli.run("tenants", "create", "Acme Pools", OWNER, "--password", PASSWORD, "--tier", "pro")
    tid = re.search(r"^tenant ([0-9a-f]{24})$", out.stdout, re.MULTILINE)
    key = re.search(r"^api key \(shown once\): (efofx_\S+)$", out.stdout, re.MULTILINE)
    assert tid and key, out.stdout
    return CliTenant(tid.group(1), key.group(1), out.stdout + out.stderr)


@dataclass
class Exported:
    file: Path
    lines: list[str]
    rows: dict[str, list[dict[str, Any]]]
    other_tenant_id: str


@pytest.fixture(scope="module")
def exported(cli: Cli, tenant: CliTenant, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The CLI tenant with users, keys, invitations and refresh tokens, and another tenant next
    to it; then `export` and a snapshot of the source rows taken right after it."""
    box = Mailbox()
    box.start()

    async def populate() -> str:
        settings = cli.settings(smtp_host="127.0.0.1", smtp_port=box.port)
        async with app_client(settings) as c:
            h = {"X-API-Key": tenant.key}
            r = await c.put("/tenants/settings", headers=h, json={
                "branding": {"primary_color": "#0a7cff", "widget_button_text": "Get a price"},
                "region_preferences": ["US-CA", "US-NV"]})
            assert r.status_code == 200, r.text
            assert (await c.post("/api-keys", headers=h,
                                 json={"name": "reporting", "role": "viewer"})).status_code == 201
            for email, role in (("analyst@acme.example", "analyst"), ("pending@acme.example", "viewer")):
                r = await c.post("/invitations", headers=h, json={"email": email, "role": role})
                assert r.status_code == 201, r.text
            token = box.link("analyst@acme.example", "/auth/accept-invite").split("token=")[1]
            r = await c.post("/auth/accept-invite", json={"token": token, "password": PASSWORD,
                                                          "name": "Ana Lyst"})
            assert r.status_code == 201, r.text
            for email in (OWNER, "analyst@acme.example"):
                login = await c.post("/auth/login", json={"email": email, "password": PASSWORD})
                assert login.status_code == 200, login.text
            spent = await c.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
            assert spent.status_code == 200
            other = await c.post("/tenants/register", json={"name": "Other Co", "email": "boss@other.example",
                                                            "password": PASSWORD})
            assert other.status_code == 201, other.text
            return str(other.json()["tenant_id"])

    try:
        other_id = asyncio.run(populate())
    finally:
        box.stop()
    file = tmp_path_factory.mktemp("export") / "acme.jsonl"
    out = cli.run("export", OWNER, str(file))
    lines = [ln for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert f"exported {len(lines) - 1} row(s)" in out.stdout
    return Exported(file, lines, asyncio.run(tenant_rows(cli.url, tenant.id)), other_id)


# --- db ------------------------------------------------------------------------------------

def test_db_upgrade_then_current_prints_head_revision(tmp_path: Path) -> None:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head, "no migration in migrations/versions"
    fresh = Cli(url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", var_dir=tmp_path / "var")
    assert fresh.run("db", "current").stdout.strip() == "empty"
    fresh.run("db", "upgrade")
    assert fresh.run("db", "current").stdout.strip() == head


# --- tenants -------------------------------------------------------------------------------

def _listed(cli: Cli, tenant_id: str) -> list[str]:
    out = cli.run("tenants", "list").stdout
    line = next((ln for ln in out.splitlines() if tenant_id in ln), None)
    assert line is not None, f"tenant {tenant_id} not listed whole:\n{out}"
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


async def test_tenants_create_list_deactivate_reactivate(cli: Cli, tenant: CliTenant) -> None:
    # the key is printed once, and only on stdout
    assert tenant.created_output.count(tenant.key) == 1
    assert _listed(cli, tenant.id)[:6] == [tenant.id, "Acme Pools", OWNER, "pro", "yes", "yes"]

    async with app_client(cli.settings()) as c:
        h = {"X-API-Key": tenant.key}
        me = await c.get("/tenants/me", headers=h)
        assert me.status_code == 200, me.text
        assert me.json()["tier"] == "pro" and me.json()["email_verified"] is True
        users = (await c.get("/users", headers=h)).json()
        keys = (await c.get("/api-keys", headers=h)).json()
        login = await c.post("/auth/login", json={"email": OWNER, "password": PASSWORD})
        assert login.status_code == 200
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}

        out = cli.run("tenants", "deactivate", OWNER).stdout
        assert re.search(rf"tenant {tenant.id} deactivated; data purged after \d{{4}}-\d\d-\d\d", out)
        assert _listed(cli, tenant.id)[4] == "no"
        assert (await c.get("/tenants/me", headers=h)).status_code == 401
        assert (await c.get("/tenants/me", headers=bearer)).status_code == 401
        assert (await c.post("/auth/login", json={"email": OWNER, "password": PASSWORD})).status_code == 401

        out = cli.run("tenants", "reactivate", tenant.id).stdout
        assert f"tenant {tenant.id} reactivated" in out
        assert (await c.get("/tenants/me", headers=h)).status_code == 200
        assert (await c.get("/tenants/me", headers=bearer)).status_code == 200
        assert (await c.get("/users", headers=h)).json() == users
        assert [k["id"] for k in (await c.get("/api-keys", headers=h)).json()] == [k["id"] for k in keys]
        assert (await c.post("/auth/login", json={"email": OWNER, "password": PASSWORD})).status_code == 200

    unknown = cli.run("tenants", "deactivate", "nobody@nowhere.example", check=False)
    assert unknown.returncode != 0
    assert _error_line(unknown) == "tenant nobody@nowhere.example not found"


# --- export / import -------------------------------------------------------------------------

def _with_row(lines: list[str], table: str, row: dict[str, Any]) -> str:
    return "\n".join([*lines, json.dumps({"table": table, "row": row})]) + "\n"


def test_export_import_into_an_empty_database(cli: Cli, tenant: CliTenant, exported: Exported,
                                              db_url: str, tmp_path: Path) -> None:
    target = {"PRICEWISE_DATABASE_URL": db_url}
    tables_in_file = {json.loads(ln).get("table") for ln in exported.lines[1:]}
    assert "audit_log" not in tables_in_file
    assert {"tenants", "users", "api_keys", "invitations", "refresh_tokens"} <= tables_in_file
    empty = asyncio.run(row_counts(db_url))
    assert empty == dict.fromkeys(empty, 0)

    # A row of another tenant anywhere in the file: refused, and nothing is written.
    parsed = [json.loads(ln) for ln in exported.lines[1:]]
    user = next(p["row"] for p in parsed if p["table"] == "users")
    tenant_row = next(p["row"] for p in parsed if p["table"] == "tenants")
    bad_files = {
        "user": _with_row(exported.lines, "users", {**user, "id": new_id(), "email": "x@other.example",
                                                    "tenant_id": exported.other_tenant_id}),
        "tenant": _with_row(exported.lines, "tenants", {**tenant_row, "id": exported.other_tenant_id,
                                                        "email": "boss@other.example"}),
    }
    for name, text in bad_files.items():
        bad = tmp_path / f"bad-{name}.jsonl"
        bad.write_text(text, encoding="utf-8")
        r = cli.run("import", str(bad), check=False, **target)
        assert "another tenant" in _refusal(r, "import refused")
        assert asyncio.run(row_counts(db_url)) == empty, f"the refused {name} file wrote rows"

    r = cli.run("import", str(exported.file), **target)
    assert f"imported tenant {tenant.id}: {len(exported.lines) - 1} row(s)" in r.stdout
    imported = asyncio.run(tenant_rows(db_url, tenant.id))
    for table, rows in exported.rows.items():
        assert imported[table] == rows, f"table {table} differs after import"
    assert all(exported.rows[t] for t in ("tenants", "users", "api_keys", "invitations", "refresh_tokens"))
    assert len(exported.rows["users"]) == 2 and len(exported.rows["invitations"]) == 2
    counts = asyncio.run(row_counts(db_url))
    # only this tenant; the audit history stays behind, and the import itself is one audit row
    assert counts["audit_log"] == 1 and counts["tenants"] == 1

    # The same file again: refused with a clear message, nothing changes.
    again = cli.run("import", str(exported.file), check=False, **target)
    assert f"tenant {tenant.id} already exists" in _refusal(again, "already exists")
    assert asyncio.run(row_counts(db_url)) == counts

    # Another tenant id whose users clash with those already here: all or nothing.
    new_tid = new_id()
    clash = tmp_path / "clash.jsonl"
    clash.write_text(exported.file.read_text(encoding="utf-8").replace(tenant.id, new_tid)
                     .replace(OWNER, "owner2@acme.example"), encoding="utf-8")
    r = cli.run("import", str(clash), check=False, **target)
    assert "nothing was written" in _refusal(r, "import refused")
    assert asyncio.run(row_counts(db_url)) == counts


# --- settings and serve ---------------------------------------------------------------------

@pytest.mark.parametrize(("command", "name", "value"), [
    ("serve", "PRICEWISE_DATABASE_URL", "mysql://x"),
    ("serve", "RATE_LIMIT_REQUESTS_PER_MINUTE", "abc"),
    ("serve", "PRICEWISE_ENCRYPTION_KEYS", "k1:not-base64"),
    ("worker", "SMTP_PORT", "70000"),
])
def test_invalid_setting_stops_with_one_line_naming_it(tmp_path: Path, command: str, name: str,
                                                       value: str) -> None:
    env = {**_base_env(tmp_path), "PRICEWISE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
           name: value}
    proc = subprocess.run([*CMD, command, "--port", str(free_port())] if command == "serve"
                          else [*CMD, command], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode != 0
    line = _error_line(proc)
    assert re.search(rf"(?<![A-Z_]){name}(?![A-Z_])", line), line
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.db").exists(), "nothing may be created before the settings are valid"


def test_serve_refuses_local_mode_on_a_public_address(cli: Cli) -> None:
    proc = cli.run("serve", "--host", "0.0.0.0", "--port", str(free_port()), check=False,
                   PRICEWISE_AUTH_MODE="local")
    assert proc.returncode != 0
    line = _error_line(proc)
    assert "local mode" in line and "PRICEWISE_AUTH_MODE" in line


@contextmanager
def serving(cli: Cli, *args: str) -> Iterator[tuple[str, Path]]:
    """`pricewise serve` in the background until /health answers; stopped with SIGTERM."""
    port = free_port()
    log = cli.var_dir.parent / f"serve-{port}.log"
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen([*CMD, "serve", "--port", str(port), *args], env=cli.env,
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"serve exited {proc.returncode}:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve did not answer /health:\n{log.read_text()}"
            time.sleep(0.1)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM), (
        f"serve did not stop cleanly ({proc.returncode}):\n{log.read_text()}")


def test_serve_on_a_public_address_requires_credentials(cli: Cli, tenant: CliTenant) -> None:
    with serving(cli, "--host", "0.0.0.0") as (base, log):
        anonymous = httpx.get(f"{base}/tenants/me", timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        keyed = httpx.get(f"{base}/tenants/me", headers={"X-API-Key": tenant.key}, timeout=10)
        assert keyed.status_code == 200 and keyed.json()["tenant_id"] == tenant.id
        assert "auth required" in log.read_text()


def test_serve_on_loopback_runs_in_local_mode(cli: Cli, tenant: CliTenant) -> None:
    with serving(cli) as (base, log):
        anonymous = httpx.get(f"{base}/tenants/me", timeout=10)
        assert anonymous.status_code == 200, anonymous.text
        assert anonymous.json()["email"] == service.LOCAL_EMAIL
        assert anonymous.json()["tenant_id"] != tenant.id
        # credentials, when sent, are still checked
        bad = httpx.get(f"{base}/tenants/me", headers={"X-API-Key": "efofx_not-a-real-key-000"}, timeout=10)
        assert bad.status_code == 401
        keyed = httpx.get(f"{base}/tenants/me", headers={"X-API-Key": tenant.key}, timeout=10)
        assert keyed.status_code == 200 and keyed.json()["tenant_id"] == tenant.id
        assert "auth local" in log.read_text()


# --- keys -------------------------------------------------------------------------------------

async def test_rotate_master_from_the_derived_key_to_an_explicit_ring(cli: Cli, tenant: CliTenant) -> None:
    byok = "sk-byok-rotation-check-5678"
    derived = load_keys(cli.settings()).box  # no ring configured: k0, derived from the secret key
    old_token = derived.encrypt(byok, aad=tenant.id)
    assert old_token.startswith("k0:")
    engine = create_async_engine(cli.url)
    async with engine.begin() as conn:
        await conn.execute(update(Tenant).where(Tenant.id == tenant.id)
                           .values(openai_key_encrypted=old_token, openai_key_last4=byok[-4:]))
    await engine.dispose()

    ring = cli.run("keys", "generate", "k2", "--ring").stdout.strip()
    assert re.fullmatch(r"k2:[A-Za-z0-9+/]{43}=,k0:[A-Za-z0-9+/]{43}=", ring), ring
    new_only = ring.split(",")[0]
    with pytest.raises(CryptoError):
        SecretBox.from_ring(new_only).decrypt(old_token, aad=tenant.id)

    # Without the old key in the ring the rotation cannot read the secret: refused, untouched.
    refused = cli.run("keys", "rotate-master", check=False, PRICEWISE_ENCRYPTION_KEYS=new_only)
    assert "no key with id k0" in _refusal(refused, "rotation refused, nothing changed")
    assert await stored_openai_token(cli.url, tenant.id) == old_token

    rotated = cli.run("keys", "rotate-master", PRICEWISE_ENCRYPTION_KEYS=ring)
    assert "re-encrypted 1 secret(s)" in rotated.stdout
    token = await stored_openai_token(cli.url, tenant.id)
    assert token is not None and token.startswith("k2:") and byok not in token
    assert load_keys(cli.settings(encryption_keys=ring)).box.decrypt(token, aad=tenant.id) == byok

    # The old key can now leave the ring: the new key alone reads the secret, as the app does.
    ctx = AppContext.build(cli.settings(encryption_keys=new_only))
    try:
        async with ctx.db.session() as session:
            row = (await session.execute(select(Tenant).where(Tenant.id == tenant.id))).scalar_one()
            assert service.tenant_openai_key(ctx, row) == byok
    finally:
        await ctx.db.dispose()
    again = cli.run("keys", "rotate-master", PRICEWISE_ENCRYPTION_KEYS=new_only)
    assert "re-encrypted 0 secret(s)" in again.stdout
    assert await stored_openai_token(cli.url, tenant.id) == token
