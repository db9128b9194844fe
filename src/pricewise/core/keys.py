"""Key material: JWT signing secret and the encryption key ring, from settings or ./var."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pricewise.core.crypto import SecretBox, derive
from pricewise.settings import Settings


@dataclass(frozen=True)
class Keys:
    jwt: bytes
    box: SecretBox
    hmac: bytes


def _local_secret(var_dir: Path) -> bytes:
    """An embedded install keeps a generated secret next to its database (mode 600)."""
    path = var_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


def load_keys(settings: Settings) -> Keys:
    if settings.secret_key is not None:
        master = settings.secret_key.get_secret_value().encode()
    else:
        master = _local_secret(settings.var_dir)
    jwt_secret = (settings.jwt_secret.get_secret_value().encode() if settings.jwt_secret
                  else derive(master, "jwt"))
    if settings.encryption_keys is not None:
        box = SecretBox.from_ring(settings.encryption_keys.get_secret_value())
    else:
        box = SecretBox((("k0", derive(master, "encryption")),))
    return Keys(jwt=jwt_secret, box=box, hmac=derive(master, "hmac"))
