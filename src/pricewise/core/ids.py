"""24-hex object ids: 4 bytes of seconds then 8 random bytes, so they sort by creation time."""

from __future__ import annotations

import re
import secrets
import time

_ID = re.compile(r"^[0-9a-f]{24}$")


def new_id() -> str:
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.match(value) is not None
