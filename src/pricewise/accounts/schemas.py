"""Wire shapes of the accounts routes."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from pricewise.core.schemas import HttpUrlStr, In, Name, Out, Timestamp

Tier = Literal["trial", "pro", "enterprise"]
Role = Literal["viewer", "analyst", "admin"]


def _color(v: str) -> str:
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", v):
        raise ValueError("must be a colour like #FF5733")
    return v.upper()


Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RegisterIn(In):
    name: Name
    email: EmailStr
    password: str = Field(max_length=256)
    tier: Tier = "trial"


class RegisterOut(Out):
    tenant_id: str
    api_key: str
    message: str


class LoginIn(In):
    email: EmailStr
    password: str = Field(max_length=256)


class RefreshIn(In):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenOut(Out):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    tenant_id: str
    user_id: str
    role: Role


class Branding(In):
    logo_url: HttpUrlStr | None = None
    primary_color: Annotated[str, AfterValidator(_color)] | None = None
    widget_button_text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                          max_length=40)] | None = None


class SettingsIn(In):
    openai_api_key: Annotated[str, StringConstraints(max_length=512)] | None = None
    region_preferences: list[Region] | None = Field(default=None, max_length=50)
    branding: Branding | None = None
    name: Name | None = None


class OpenAIKeyOut(Out):
    configured: bool
    last4: str | None = None


class TenantOut(Out):
    tenant_id: str
    name: str
    email: str
    tier: Tier
    rate_limit_tier: Tier
    region_preferences: list[str]
    branding: dict[str, str | None]
    is_active: bool
    email_verified: bool
    openai_api_key: OpenAIKeyOut
    created_at: Timestamp
    updated_at: Timestamp


class ApiKeyIn(In):
    name: Name = "default"
    role: Role = "admin"


class ApiKeyOut(Out):
    id: str
    name: str
    role: Role
    masked_key: str
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    last_used_at: Timestamp | None


class ApiKeyCreated(ApiKeyOut):
    api_key: str


class InviteIn(In):
    email: EmailStr
    role: Role = "viewer"


class InviteOut(Out):
    id: str
    email: str
    role: Role
    expires_at: Timestamp
    accepted_at: Timestamp | None
    revoked_at: Timestamp | None = None


class AcceptInviteIn(In):
    token: str = Field(min_length=10, max_length=200)
    password: str = Field(max_length=256)
    name: Name | None = None


class UserOut(Out):
    id: str
    email: str
    name: str
    role: Role
    is_active: bool
    email_verified: bool
    created_at: Timestamp


class UserPatch(In):
    role: Role | None = None
    is_active: bool | None = None
