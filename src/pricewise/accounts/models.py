"""Tenants, users, API keys, refresh tokens, invitations, LLM usage and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, SoftDeleteMixin, TenantMixin, TimestampMixin

TIERS = ("trial", "pro", "enterprise")
ROLES = ("viewer", "analyst", "admin")


class Tenant(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "tenants"
    __secret_fields__ = frozenset({"openai_key_encrypted"})
    # Encrypted with the row id as associated data; `keys rotate-master` re-encrypts them.
    __encrypted_fields__ = frozenset({"openai_key_encrypted"})

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    tier: Mapped[str] = mapped_column(String(20), default="trial")
    region_preferences: Mapped[list[str]] = mapped_column(default=list)
    branding: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_local: Mapped[bool] = mapped_column(Boolean, default=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    openai_key_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    openai_key_last4: Mapped[str | None] = mapped_column(String(4), default=None)
    deactivated_at: Mapped[datetime | None] = mapped_column(default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @property
    def rate_limit_tier(self) -> str:
        return self.tier


class User(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "users"
    __secret_fields__ = frozenset({"password_hash"})

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiKey(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "api_keys"
    __secret_fields__ = frozenset({"key_hash"})

    name: Mapped[str] = mapped_column(String(200), default="default")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    role: Mapped[str] = mapped_column(String(20), default="admin")
    kind: Mapped[str] = mapped_column(String(20), default="secret")
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    rotated_to_id: Mapped[str | None] = mapped_column(String(24), default=None)


class RefreshToken(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "refresh_tokens"
    __secret_fields__ = frozenset({"token_hash"})
    __audited__ = False

    user_id: Mapped[str] = mapped_column(String(24), ForeignKey("users.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(24), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Invitation(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "invitations"
    __secret_fields__ = frozenset({"token_hash"})

    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(String(24), default=None)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditLog(IdMixin, Base):
    __tablename__ = "audit_log"
    __audited__ = False
    __table_args__ = (Index("ix_audit_log_tenant_created", "tenant_id", "created_at"),)

    tenant_id: Mapped[str | None] = mapped_column(String(24), default=None)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(20))
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(64))
    old_values: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column()


class LlmUsage(TenantMixin, Base):
    """One LLM call: tokens counted per tenant, whichever key paid (`key_source`), never the key."""

    __tablename__ = "llm_usage"
    __audited__ = False
    __table_args__ = (Index("ix_llm_usage_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    created_at: Mapped[datetime] = mapped_column()
    purpose: Mapped[str] = mapped_column(String(60))
    model: Mapped[str] = mapped_column(String(100))
    key_source: Mapped[str] = mapped_column(String(20))  # platform | tenant | local
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str | None] = mapped_column(String(200), default=None)
