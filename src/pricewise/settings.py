"""Settings from the environment (prefix PRICEWISE_, plus the specs' own variable names)."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def spec(name: str, default: Any, **kw: Any) -> Any:
    """A setting read from PRICEWISE_<NAME> or from the specs' own variable <NAME>."""
    return Field(default=default, validation_alias=AliasChoices(f"PRICEWISE_{name}", name), **kw)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRICEWISE_", extra="ignore", env_file=None,
                                      populate_by_name=True)

    database_url: str = "sqlite+aiosqlite:///./var/pricewise.db"
    redis_url: str | None = None
    # None: decided at serve time (local when bound to loopback, required otherwise).
    auth_mode: Literal["local", "required"] | None = None
    secret_key: SecretStr | None = None
    # "kid:base64key,kid2:base64key"; the first one encrypts, all of them decrypt.
    encryption_keys: SecretStr | None = None
    var_dir: Path = Path("./var")
    # Compute the embedder's whole token table in the background, shared in var_dir
    # (core/embedding_table.py). `serve` and `worker` turn it on unless it is set.
    embedding_table: bool = False

    openai_api_key: SecretStr | None = spec("OPENAI_API_KEY", None)
    openai_base_url: str = spec("OPENAI_BASE_URL", "https://api.openai.com/v1")
    llm_model: str = Field(default="gpt-4o-mini", min_length=1,
                           validation_alias=AliasChoices("PRICEWISE_LLM_MODEL", "OPENAI_MODEL"))
    llm_timeout_seconds: float = Field(default=30, gt=0, le=600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    # Documentation also synced to OpenAI vector stores (knowledge/remote.py), with the key the
    # tenant's LLM calls use; failed syncs are retried, the wait doubling from retry_seconds.
    openai_vector_stores: bool = False
    openai_vector_store_retry_seconds: float = Field(default=30.0, gt=0, le=3600)
    openai_vector_store_max_attempts: int = Field(default=6, ge=1, le=20)
    jwt_secret: SecretStr | None = spec("JWT_SECRET", None)
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    smtp_host: str | None = spec("SMTP_HOST", None)
    smtp_port: int = spec("SMTP_PORT", 587, ge=1, le=65535)
    smtp_user: str | None = spec("SMTP_USER", None)
    smtp_pass: SecretStr | None = spec("SMTP_PASS", None)
    smtp_starttls: bool = False
    mail_from: str = "pricewise@localhost"
    max_file_size_mb: int = spec("MAX_FILE_SIZE_MB", 50, ge=1, le=2048)
    max_body_kb: int = Field(default=1024, ge=1, le=1024 * 1024)
    # Outbound fetches of documentation (core/fetch.py). Private, loopback and link-local targets
    # are refused unless allowed; "host:port" entries of fetch_allow_hosts are allowed whatever
    # they resolve to (on-premises documentation, tests).
    fetch_allow_private: bool = False
    fetch_allow_hosts: str = ""
    fetch_timeout_seconds: float = Field(default=20, gt=0, le=600)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    rate_limit_requests_per_minute: int = spec("RATE_LIMIT_REQUESTS_PER_MINUTE", 100, ge=1)
    rate_limit_ai_requests_per_minute: int = spec("RATE_LIMIT_AI_REQUESTS_PER_MINUTE", 20, ge=1)
    orchestration_timeout_minutes: float = spec("ORCHESTRATION_TIMEOUT_MINUTES", 30, gt=0, le=7 * 24 * 60)
    max_concurrent_orchestrations: int = spec("MAX_CONCURRENT_ORCHESTRATIONS", 5, ge=1)  # per tenant
    max_concurrent_orchestrations_total: int = Field(default=50, ge=1)  # over all tenants
    orchestration_max_attempts: int = Field(default=3, ge=1, le=20)  # per step, the first run included
    orchestration_retry_seconds: float = Field(default=2.0, gt=0, le=3600)  # doubled at each retry
    orchestration_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    orchestration_workflow_modules: str = ""  # comma-separated modules that register more workflows
    frontend_url: str = spec("FRONTEND_URL", "http://localhost:3000")
    ws_cors_origins: str = spec("WS_CORS_ORIGINS", "http://localhost:3000")
    ws_heartbeat_seconds: float = Field(default=20, gt=0, le=3600)  # /ws ping period; idle after 3
    ws_queue_size: int = Field(default=256, ge=1, le=100_000)  # events buffered per /ws socket
    public_url: str = "http://127.0.0.1:5000"
    forecast_horizon_months: int = Field(default=12, ge=1, le=60)
    price_guardrail: float = Field(default=0.30, gt=0, lt=1)  # recommended prices stay within +/- this
    alert_churn_min_customers: int = Field(default=5, ge=1)  # a churn spike needs at least this many churns
    alert_daily_digest_hour: int = Field(default=7, ge=0, le=23)  # UTC hour of the daily alert digests
    # Estimates a tenant may create per hour, by tier (the widget's public traffic is behind these).
    estimates_per_hour_trial: int = Field(default=10, ge=1)
    estimates_per_hour_pro: int = Field(default=100, ge=1)
    estimates_per_hour_enterprise: int = Field(default=1000, ge=1)
    # Customer feedback links: e-mailed this many days after a consented estimate, valid this long.
    feedback_request_delay_days: float = Field(default=0, ge=0, le=730)
    feedback_link_days: int = Field(default=180, ge=1, le=1095)
    tenant_retention_days: int = Field(default=90, ge=1)
    api_key_rotation_overlap_hours: int = Field(default=24, ge=0, le=24 * 30)
    # MCP server (mcp/): signed requests are accepted within this clock skew, their nonces kept
    # twice as long; with estimation_via_mcp the API computes estimates through mcp_url (default:
    # this app's own /mcp at public_url).
    mcp_skew_seconds: int = Field(default=30, ge=1, le=300)
    estimation_via_mcp: bool = False
    mcp_url: str | None = None
    # Embeddable widget (widget/): requests per minute per widget session, per client address on the
    # widget routes, and new sessions per minute per client address; sessions last this long.
    widget_session_per_minute: int = Field(default=30, ge=1)
    widget_address_per_minute: int = Field(default=120, ge=1)
    widget_new_sessions_per_minute: int = Field(default=20, ge=1)
    widget_session_hours: int = Field(default=24, ge=1, le=24 * 7)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        if v.startswith("postgresql://"):
            v = "postgresql+asyncpg://" + v.removeprefix("postgresql://")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://")):
            raise ValueError("must start with redis:// or rediss://")
        return v

    @field_validator("encryption_keys")
    @classmethod
    def _ring(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        from pricewise.core.crypto import CryptoError, SecretBox

        try:
            SecretBox.from_ring(v.get_secret_value())
        except CryptoError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return v.upper()

    @property
    def cors_origins(self) -> list[str]:
        origins = {o.strip().rstrip("/") for o in self.ws_cors_origins.split(",") if o.strip()}
        origins.add(self.frontend_url.rstrip("/"))
        return sorted(origins)

    @field_validator("fetch_allow_hosts")
    @classmethod
    def _host_ports(cls, v: str) -> str:
        for entry in filter(None, (e.strip() for e in v.split(","))):
            host, sep, port = entry.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"entries must be host:port, got {entry!r}")
        return v

    @property
    def fetch_allowed_hosts(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.fetch_allow_hosts.split(",") if e.strip())

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_kb * 1024


class SettingsError(Exception):
    """A setting is invalid; the message names it in one line."""


def _env_name(loc: str) -> str:
    """The variable the user set for a setting: a spec setting reads either of its two names,
    and the error must name the one that is actually in the environment."""
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = ([str(c) for c in alias.choices] if isinstance(alias, AliasChoices)
                 else [f"PRICEWISE_{name.upper()}"])
        if loc == name or loc.upper() in (n.upper() for n in names):
            present = {k.upper() for k in os.environ}
            return next((n for n in names if n.upper() in present), names[0])
    return loc.upper()


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        env = _env_name(str(err["loc"][0])) if err["loc"] else "settings"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {env}: {msg}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def is_loopback(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
