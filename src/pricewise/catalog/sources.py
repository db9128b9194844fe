"""Data sources (what feeds the workspace) and product integrations (secrets encrypted)."""

from __future__ import annotations

import re
from typing import Any

from pricewise.catalog.models import DataImport, DataSource, Product, ProductIntegration
from pricewise.core.context import AppContext
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope

_SECRET_KEY = re.compile(r"(token|secret|password|passwd|pwd|api[_-]?key|private|credential|auth|dsn|"
                         r"connection[_-]?string|cookie|session)", re.I)
_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s@]*:[^/\s@]*@", re.I)
MASK = "********"


def _is_secret(key: str, value: Any) -> bool:
    if _SECRET_KEY.search(key):
        return True
    if isinstance(value, str):
        return bool(_URL_CREDENTIALS.match(value))
    if isinstance(value, dict):  # a nested block with anything secret inside goes whole
        return any(_is_secret(str(k), v) for k, v in value.items())
    if isinstance(value, list):
        return any(_is_secret(key, v) for v in value)
    return False


def split_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Values under secret-looking keys, URLs with credentials and nested blocks holding either go
    to the encrypted part; the rest stays readable."""
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for k, v in config.items():
        (secret if _is_secret(str(k), v) else public)[k] = v
    return public, secret


def masked(public: dict[str, Any], secret_keys: list[str]) -> dict[str, Any]:
    return {**public, **{k: MASK for k in secret_keys}}


def _secret_keys(ctx: AppContext, token: str | None, aad: str) -> list[str]:
    import json

    from pricewise.core.crypto import CryptoError

    if not token:
        return []
    try:
        return sorted(json.loads(ctx.keys.box.decrypt(token, aad=aad)))
    except CryptoError:  # a key missing from the ring: say so in the listing, do not fail it
        return ["(unreadable: encryption key not in the ring)"]


def integration_out(ctx: AppContext, row: ProductIntegration) -> dict[str, Any]:
    return {"_id": row.id, "product_id": row.product_id, "integration_type": row.integration_type,
            "config": masked(row.config_public, _secret_keys(ctx, row.config_secret, row.id)),
            "status": row.status, "created_at": _iso_z(row.created_at)}


async def create_integration(scope: Scope, ctx: AppContext, data: dict[str, Any]) -> ProductIntegration:
    import json

    from pricewise.core.ids import new_id

    await scope.get(Product, data["product_id"], label="product")
    public, secret = split_secrets(data["config"])
    row_id = new_id()
    row = scope.add(ProductIntegration(
        id=row_id, product_id=data["product_id"], integration_type=data["integration_type"],
        config_public=public, config_secret=ctx.keys.box.encrypt(json.dumps(secret), aad=row_id) if secret else None,
        status="active" if data["config"] else "pending"))
    await scope.session.flush()
    return row


def integration_secrets(ctx: AppContext, row: ProductIntegration) -> dict[str, Any]:
    """Decrypted only where a sync uses them."""
    import json

    if not row.config_secret:
        return {}
    value: dict[str, Any] = json.loads(ctx.keys.box.decrypt(row.config_secret, aad=row.id))
    return value


def source_out(row: DataSource) -> dict[str, Any]:
    if not row.is_active or row.last_sync is None:
        status = "disconnected"
    else:
        status = "error" if row.sync_status == "failed" else "connected"
    return {"_id": row.id, "name": row.name, "source_type": row.source_type, "connection_status": status,
            "last_sync": _iso_z(row.last_sync), "config": masked(row.config_public, []),
            "sync_status": row.sync_status, "error_message": row.error_message}


async def create_source(scope: Scope, ctx: AppContext, data: dict[str, Any]) -> DataSource:
    """Register a source; it shows as disconnected until a first sync or import succeeds."""
    import json

    from pricewise.core.ids import new_id

    public, secret = split_secrets(data["config"])
    row_id = new_id()
    row = scope.add(DataSource(
        id=row_id, name=data["name"], category=data["category"], source_type=data["source_type"],
        config_public=public, config_secret=ctx.keys.box.encrypt(json.dumps(secret), aad=row_id) if secret else None,
        is_active=True))
    await scope.session.flush()
    return row


async def delete_source(scope: Scope, source_id: str) -> None:
    row = await scope.get(DataSource, source_id, label="data source")
    row.is_active = False
    scope.soft_delete(row)


async def delete_integration(scope: Scope, integration_id: str) -> None:
    scope.soft_delete(await scope.get(ProductIntegration, integration_id, label="integration"))


async def list_sources(scope: Scope, category: str) -> list[dict[str, Any]]:
    rows = await scope.list(DataSource, DataSource.category == category)
    return [source_out(r) for r in rows]


def import_out(row: DataImport) -> dict[str, Any]:
    return {"_id": row.id, "data_source_id": row.data_source_id, "kind": row.kind, "mode": row.mode,
            "filename": row.filename, "records_processed": row.records_processed,
            "records_success": row.records_success, "records_failed": row.records_failed,
            "status": row.status, "errors": row.error_logs, "started_at": _iso_z(row.started_at),
            "completed_at": _iso_z(row.completed_at)}
