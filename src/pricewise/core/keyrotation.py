"""Re-encrypt every SecretBox column with the current (first) key of the ring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from pricewise.core.base import Base
from pricewise.core.db import commit


def encrypted_models() -> list[type[Base]]:
    import pricewise.models  # noqa: F401  (registers every table)

    return [m.class_ for m in Base.registry.mappers if m.class_.__encrypted_fields__]


async def rotate_all(ctx: Any, tick: Callable[[], None] | None = None) -> int:
    box = ctx.keys.box
    n = 0
    async with ctx.db.session() as session:
        session.info["actor"] = "cli:rotate-master"
        for model in encrypted_models():
            table = Base.metadata.tables[model.__tablename__]
            for col in sorted(model.__encrypted_fields__):
                rows = (await session.execute(select(table.c.id, table.c[col]).where(
                    table.c[col].is_not(None)))).all()
                for row_id, token in rows:
                    if not box.needs_rotation(token):
                        continue
                    fresh = box.encrypt(box.decrypt(token, aad=row_id), aad=row_id)
                    # Core update: the audit log has nothing to say about ciphertext changing.
                    await session.execute(update(table).where(table.c.id == row_id).values({col: fresh}))
                    n += 1
                    if tick:
                        tick()
        await commit(session)
    return n
