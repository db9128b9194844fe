"""The `pricewise` command: serve, worker, db, tenants, keys, export, import."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pricewise.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="pricewise: pricing research and reference-class estimation service.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr: never wrapped to the terminal width, no markup read from the message."""
    console.print(message, style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc), 2)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}"), TimeElapsedColumn(), console=console)


def _run(fn: Callable[[Any], Awaitable[T]], settings: Settings) -> T:
    from pricewise.core.context import AppContext
    from pricewise.core.errors import AppError

    async def main() -> T:
        ctx = AppContext.build(settings)
        try:
            return await fn(ctx)
        finally:
            await ctx.db.dispose()
    try:
        return asyncio.run(main())
    except AppError as exc:
        _fail(exc.message, 1)


def _migrate(settings: Settings) -> None:
    from pricewise.core.migrate import upgrade

    with _progress() as p:
        task = p.add_task("migrating database", total=1)
        upgrade(settings.database_url)
        p.update(task, completed=1)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 5000, workers: int = typer.Option(1, min=1, max=64),
          no_demo: bool = typer.Option(False, "--no-demo", help="Do not load the demo workspace.")) -> None:
    """Migrate, then serve the API (with an in-process job consumer when embedded)."""
    os.environ.setdefault("PRICEWISE_EMBEDDING_TABLE", "true")  # for uvicorn's worker processes too
    settings = _settings()  # first: a bad setting is reported before the heavy imports
    import uvicorn

    from pricewise.app import create_app, resolve_auth_mode

    try:
        mode = resolve_auth_mode(settings, host)
    except SettingsError as exc:
        _fail(str(exc), 2)
    _migrate(settings)
    os.environ["PRICEWISE_AUTH_MODE"] = mode
    if not no_demo and mode == "local":  # the demo lives in the local workspace, only served locally
        from pricewise.demo import load_demo

        created = _run(load_demo, settings)
        if created:
            console.print("loaded the demo workspace")
    embedded = settings.redis_url is None
    console.print(f"pricewise on http://{host}:{port} (auth {mode}, {workers} process(es), "
                  f"jobs {'in-process' if embedded else 'on Redis: run `pricewise worker`'})")
    if workers == 1:
        uvicorn.run(create_app(settings, host=host, embedded_jobs=embedded), host=host, port=port,
                    log_level="warning", access_log=False)
        return
    consumer = None
    if embedded:
        from pricewise.core import jobs

        consumer = jobs.start_embedded()
    try:
        uvicorn.run("pricewise.app:create_app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level="warning", access_log=False)
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)


@app.command()
def worker(workers: int = typer.Option(2, min=1, max=64)) -> None:
    """Consume background jobs (the Redis queue when PRICEWISE_REDIS_URL is set)."""
    os.environ.setdefault("PRICEWISE_EMBEDDING_TABLE", "true")
    settings = _settings()  # first: importing the job queue reads the settings too
    from pricewise.core import jobs
    from pricewise.core.logs import configure
    from pricewise.core.threads import single_threaded_blas
    from pricewise.models import load_tasks

    configure(settings.log_level)
    single_threaded_blas()
    if settings.embedding_table:
        from pricewise.core.embedding_table import start_background

        start_background(settings.var_dir)
    load_tasks()
    jobs.run_worker(workers)


@app.command("mcp")
def mcp_cmd(host: str = "127.0.0.1", port: int = 5100) -> None:
    """Serve only the MCP endpoint (/mcp, HMAC + JWT dual auth) on a port of its own."""
    settings = _settings()
    import uvicorn

    from pricewise.core.context import AppContext
    from pricewise.mcp.server import standalone_app

    _migrate(settings)
    console.print(f"pricewise MCP on http://{host}:{port}/mcp")
    uvicorn.run(standalone_app(AppContext.build(settings)), host=host, port=port, log_level="warning",
                access_log=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations."""
    _migrate(_settings())
    console.print("database at head")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision."""
    from pricewise.core.migrate import current

    typer.echo(current(_settings().database_url) or "empty")


@tenants_app.command("create")
def tenants_create(name: str, email: str, password: str = typer.Option(..., prompt=True, hide_input=True),
                   tier: str = typer.Option("trial")) -> None:
    """Create a tenant (e-mail already verified) and print its first API key once."""
    from pricewise.accounts import service
    from pricewise.core.db import commit

    if tier not in ("trial", "pro", "enterprise"):
        _fail("tier must be trial, pro or enterprise", 2)

    async def go(ctx: Any) -> tuple[str, str]:
        async with ctx.db.session() as session:
            session.info["actor"] = "cli"
            tenant, raw = await service.register(session, ctx, name=name, email=email,
                                                 password=password, tier=tier)
            from pricewise.core.base import utcnow

            tenant.email_verified_at = utcnow()
            session.info.pop("after_commit", None)  # no verification mail for operator-made tenants
            await commit(session)
            return tenant.id, raw

    settings = _settings()
    _migrate(settings)
    tid, raw = _run(go, settings)
    typer.echo(f"tenant {tid}\napi key (shown once): {raw}")


@tenants_app.command("list")
def tenants_list(include_inactive: bool = True) -> None:
    """List tenants."""
    from sqlalchemy import select

    from pricewise.accounts.models import Tenant

    async def go(ctx: Any) -> list[Tenant]:
        async with ctx.db.session() as session:
            stmt = select(Tenant).order_by(Tenant.created_at)
            if not include_inactive:
                stmt = stmt.where(Tenant.is_active.is_(True))
            return list((await session.execute(stmt)).scalars())

    table = Table("id", "name", "email", "tier", "active", "verified", "created")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 24  # ids are what operators copy from here: never cut them
    for t in _run(go, _settings()):
        table.add_row(t.id, t.name, t.email, t.tier, "yes" if t.is_active else "no",
                      "yes" if t.email_verified_at else "no", t.created_at.strftime("%Y-%m-%d"))
    # Piped (grep, a file): no terminal width to fit, so print every value whole.
    Console(width=None if sys.stdout.isatty() else 1000).print(table)


def _lifecycle(ref: str, action: str) -> None:
    from pricewise.accounts import lifecycle
    from pricewise.core.db import commit

    async def go(ctx: Any) -> str:
        async with ctx.db.session() as session:
            session.info["actor"] = "cli"
            tenant = await lifecycle.find_tenant(session, ref)
            if action == "deactivate":
                until = await lifecycle.deactivate(session, tenant, ctx.settings.tenant_retention_days)
                msg = f"tenant {tenant.id} deactivated; data purged after {until:%Y-%m-%d}"
            else:
                await lifecycle.reactivate(session, tenant)
                msg = f"tenant {tenant.id} reactivated"
            await commit(session)
            return msg

    typer.echo(_run(go, _settings()))


@tenants_app.command("deactivate")
def tenants_deactivate(tenant: str) -> None:
    """Deactivate a tenant (by id or e-mail); its data is kept for the retention window."""
    _lifecycle(tenant, "deactivate")


@tenants_app.command("reactivate")
def tenants_reactivate(tenant: str) -> None:
    """Reactivate a tenant inside the retention window."""
    _lifecycle(tenant, "reactivate")


@keys_app.command("generate")
def keys_generate(kid: str = typer.Argument("k1"),
                  ring: bool = typer.Option(False, "--ring", help=(
                      "Print the whole new ring: the new key first, then the keys in use now "
                      "(including the one derived from the secret key when no ring is set)."))) -> None:
    """Print a new key for PRICEWISE_ENCRYPTION_KEYS (put it first in the ring)."""
    from pricewise.core.crypto import new_key_b64

    if not kid.isidentifier():
        _fail("the key id must be a word like k2", 2)
    fresh = f"{kid}:{new_key_b64()}"
    if not ring:
        typer.echo(fresh)
        return
    from pricewise.core.keys import load_keys

    box = load_keys(_settings()).box
    if kid in dict(box.keys):
        _fail(f"key id {kid} is already in the ring; choose another", 2)
    typer.echo(f"{fresh},{box.to_ring()}")


@keys_app.command("rotate-master")
def keys_rotate_master() -> None:
    """Re-encrypt every stored secret with the first key of the ring."""
    from pricewise.core.crypto import CryptoError
    from pricewise.core.keyrotation import rotate_all

    settings = _settings()
    try:
        with _progress() as p:
            task = p.add_task("re-encrypting secrets", total=None)
            n = _run(lambda ctx: rotate_all(ctx, lambda: p.advance(task)), settings)
    except CryptoError as exc:  # nothing was written: rotate_all commits once, at the end
        _fail(f"rotation refused, nothing changed: {exc}", 1)
    typer.echo(f"re-encrypted {n} secret(s)")


@app.command("export")
def export_cmd(tenant: str, file: Path) -> None:
    """Write a tenant's data as JSON lines."""
    from pricewise.accounts import lifecycle

    async def go(ctx: Any) -> int:
        async with ctx.db.session() as session:
            tid = (await lifecycle.find_tenant(session, tenant)).id
        async with ctx.db.session() as session:  # a transaction of its own: the export's snapshot
            with _progress() as p:
                task = p.add_task(f"exporting {tid}", total=None)
                return await lifecycle.export_tenant(session, tid, str(file), lambda _n: p.advance(task))

    n = _run(go, _settings())
    typer.echo(f"exported {n} row(s) to {file}")


@app.command("import")
def import_cmd(
    source: str = typer.Argument(..., help="An export FILE, or `csv` / `mongo` followed by PATH"),
    path: Path | None = typer.Argument(None, help="CSV file (csv) or export folder (mongo)"),
    kind: str = typer.Option("revenue", help="csv: revenue, subscriptions, customers, usage or feedback"),
    tenant: str | None = typer.Option(None, help="csv/mongo: tenant id or e-mail (default: the local workspace)"),
    skip_bad_rows: bool = typer.Option(False, help="csv: import the valid rows and report the others"),
) -> None:
    """Load a tenant export (all or nothing), a CSV (`import csv FILE --kind ...`) or a MongoDB
    export of the original collections (`import mongo DIR`)."""
    settings = _settings()
    _migrate(settings)
    if source == "csv":
        from pricewise.catalog.imports import import_csv_cli

        if path is None or not path.exists():
            console.print("[red]give an existing CSV file: pricewise import csv FILE --kind revenue[/red]")
            raise typer.Exit(2)
        typer.echo(_run(lambda ctx: import_csv_cli(ctx, path, kind, tenant, skip_bad_rows, _progress), settings))
        return
    if source == "mongo":
        from pricewise.catalog.mongo import import_mongo

        if path is None or not path.is_dir():
            console.print("[red]give the folder of the MongoDB export: pricewise import mongo DIR[/red]")
            raise typer.Exit(2)
        typer.echo(_run(lambda ctx: import_mongo(ctx, path, tenant, _progress), settings))
        return
    _import_export_file(Path(source), settings)


def _import_export_file(file: Path, settings: Settings) -> None:
    from sqlalchemy.exc import IntegrityError, StatementError

    from pricewise.accounts import lifecycle
    from pricewise.core.db import commit

    if not file.exists():
        _fail(f"{file} does not exist", 2)
    try:
        lines = [ln for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError:
        _fail(f"import refused: {file} is not UTF-8 text (damaged?); nothing was written", 1)

    async def go(ctx: Any) -> tuple[str, int]:
        async with ctx.db.session() as session:
            session.info["actor"] = "cli:import"
            with _progress() as p:
                task = p.add_task("importing", total=len(lines))
                try:
                    out = await lifecycle.import_tenant(session, lines, lambda _n: p.advance(task), ctx.keys.box)
                    await commit(session)
                except (ValueError, KeyError) as exc:
                    _fail(f"import refused: {exc}", 1)
                except IntegrityError as exc:
                    _fail("import refused: a row conflicts with data already in this database "
                          f"({type(exc.orig).__name__}); nothing was written", 1)
                except StatementError as exc:  # a value this schema cannot hold: a damaged file
                    _fail(f"import refused: a row does not fit this database ({type(exc.orig).__name__}); "
                          "nothing was written", 1)
            return out

    tid, n = _run(go, settings)
    typer.echo(f"imported tenant {tid}: {n} row(s)")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
