"""Passwords (argon2), JWTs, API keys (prefixed, stored as SHA-256) and HMAC signatures."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

API_KEY_PREFIX = "efofx_"
_passwords = PasswordHash((Argon2Hasher(),))
JWT_ALG = "HS256"
ISSUER = "pricewise"


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    try:
        return _passwords.verify(password, hashed)
    except Exception:
        return False


# A fixed hash to verify against when the user does not exist, so timing does not reveal it.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def password_problem(password: str, email: str = "") -> str | None:
    """Why a password is too weak, or None. Length first: it matters most."""
    if len(password) < 10:
        return "must be at least 10 characters"
    if len(password) > 256:
        return "must be at most 256 characters"
    if password.lower() in (email.lower(), email.split("@")[0].lower()):
        return "must not be the e-mail address"
    classes = sum(
        [any(c.islower() for c in password), any(c.isupper() for c in password),
         any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    )
    if classes < 2 or len(set(password)) < 5:
        return "is too easy to guess: mix letters with digits or symbols"
    return None


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_api_key(prefix: str = API_KEY_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def encode_jwt(secret: bytes, claims: dict[str, Any], ttl: timedelta) -> str:
    now = datetime.now(UTC)
    payload = {"iss": ISSUER, "iat": now, "nbf": now, "exp": now + ttl, **claims}
    return jwt.encode(payload, secret, algorithm=JWT_ALG)


def decode_jwt(secret: bytes, token: str, *, purpose: str, audience: str | None = None) -> dict[str, Any]:
    """Decode and check a token; raises jwt.InvalidTokenError on any problem."""
    claims: dict[str, Any] = jwt.decode(
        token, secret, algorithms=[JWT_ALG], issuer=ISSUER, audience=audience,
        options={"require": ["exp", "iat", "sub"]}, leeway=5,
    )
    if claims.get("typ") != purpose:
        raise jwt.InvalidTokenError("wrong token type")
    return claims


def hmac_sign(secret: bytes, *parts: str | bytes) -> str:
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for p in parts:
        mac.update(p if isinstance(p, bytes) else p.encode())
        mac.update(b"\n")
    return mac.hexdigest()


def hmac_verify(secret: bytes, signature: str, *parts: str | bytes) -> bool:
    return hmac.compare_digest(hmac_sign(secret, *parts), signature)

