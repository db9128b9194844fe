"""AES-256-GCM secret box with key ids, for BYOK keys and integration tokens.

Stored form: "<kid>:<base64(nonce || ciphertext+tag)>". The first key of the ring encrypts;
every key decrypts, so a new master key can be put in front and old rows re-encrypted.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class CryptoError(Exception):
    pass


def derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=f"pricewise:{purpose}".encode()).derive(secret)


@dataclass(frozen=True)
class SecretBox:
    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_ring(cls, ring: str) -> SecretBox:
        """Parse "kid:base64key,kid2:base64key" (each key 32 bytes)."""
        keys: list[tuple[str, bytes]] = []
        for part in ring.split(","):
            part = part.strip()
            if not part:
                continue
            kid, sep, b64 = part.partition(":")
            if not sep or not kid.isidentifier():
                raise CryptoError("each encryption key must be written kid:base64key")
            try:
                raw = base64.b64decode(b64, validate=True)
            except ValueError:
                raise CryptoError(f"encryption key {kid} is not base64") from None
            if len(raw) != 32:
                raise CryptoError(f"encryption key {kid} must be 32 bytes")
            keys.append((kid, raw))
        if not keys:
            raise CryptoError("no encryption key given")
        return cls(tuple(keys))

    @property
    def current_kid(self) -> str:
        return self.keys[0][0]

    def encrypt(self, plaintext: str, aad: str = "") -> str:
        kid, key = self.keys[0]
        nonce = os.urandom(12)
        ct = AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode() or None)
        return f"{kid}:{base64.b64encode(nonce + ct).decode()}"

    def decrypt(self, token: str, aad: str = "") -> str:
        kid, _, b64 = token.partition(":")
        key = dict(self.keys).get(kid)
        if key is None:
            raise CryptoError(f"no key with id {kid} in the key ring")
        raw = base64.b64decode(b64)
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], aad.encode() or None).decode()
        except Exception:
            raise CryptoError("secret could not be decrypted (wrong key or altered data)") from None

    def to_ring(self) -> str:
        """The "kid:base64key,..." form of this box, as PRICEWISE_ENCRYPTION_KEYS takes it."""
        return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in self.keys)

    def needs_rotation(self, token: str) -> bool:
        return token.partition(":")[0] != self.current_kid


def new_key_b64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()
