"""Wire shapes of the widget routes."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from pricewise.accounts.schemas import _color
from pricewise.core.schemas import In, Name, _http_url, _no_controls
from pricewise.estimation.schemas import Description, Phone, Short

MAX_ORIGINS = 20
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


def normalize_origin(value: str) -> str:
    """scheme://host[:port], lower-case, default port dropped: the form browsers send in Origin."""
    v = value.strip()
    try:
        parts = urlsplit(v)
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port])") from None
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or not host or parts.username is not None
            or parts.password is not None or parts.path not in ("", "/") or parts.query or parts.fragment
            or v.endswith("?") or v.endswith("#")):
        raise ValueError(f"{value!r} is not an origin: only scheme://host[:port], no path, query or wildcard")
    if not (_HOST.match(host) or host == "::1"):
        raise ValueError(f"{value!r} has an invalid host name")
    if len(v) > 300:
        raise ValueError("an origin is at most 300 characters")
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{shown}" + (f":{port}" if port is not None and port != default else "")


def _origins(values: list[str]) -> list[str]:
    return list(dict.fromkeys(normalize_origin(v) for v in values))


Origin = Annotated[str, StringConstraints(max_length=300)]
ButtonText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
                       AfterValidator(_no_controls)]


def _logo(v: str) -> str:
    return "" if not v.strip() else _http_url(v)


class BrandingIn(In):
    logo_url: Annotated[str, StringConstraints(max_length=500), AfterValidator(_logo)] | None = None
    primary_color: Annotated[str, AfterValidator(_color)] | None = None
    button_text: ButtonText | None = None


class WidgetSettingsIn(In):
    """Either part may be left out; `logo_url: ""` clears the logo."""

    allowed_origins: Annotated[list[Origin], Field(max_length=MAX_ORIGINS), AfterValidator(_origins)] | None = None
    branding: BrandingIn | None = None


class WidgetKeyIn(In):
    name: Name = "widget"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


SessionToken = Annotated[str, StringConstraints(min_length=20, max_length=100)]


class WidgetEstimateIn(Strict):
    session_token: SessionToken | None = None  # or the X-Widget-Session header
    description: Description
    region: Short | None = None
    customer_email: EmailStr | None = None
    customer_name: Short | None = None
    customer_phone: Phone | None = None
    feedback_consent: bool = False


class WidgetContactIn(Strict):
    session_token: SessionToken | None = None
    email: EmailStr
    name: Short | None = None
    phone: Phone | None = None
    # Consent to be e-mailed later and asked how the project went (the feedback request).
    consent: bool = False

