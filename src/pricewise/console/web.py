"""The console's browser session: cookies, CSRF tokens, the signed-in principal, and a route class
that turns the service's errors into HTML pages instead of the API's JSON.

The session is the API's own pair of credentials, kept in HttpOnly cookies scoped to /console:
the short-lived access token (accounts.auth) and the rotating refresh token that renews it, so
logging out revokes the refresh family exactly as POST /auth/logout does. The API itself never
reads cookies, so the cookie cannot be ridden to it from another site.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jwt
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from pricewise.accounts import auth
from pricewise.accounts.deps import get_principal
from pricewise.accounts.models import User
from pricewise.core.context import AppContext, SessionDep
from pricewise.core.db import commit
from pricewise.core.errors import AppError, Forbidden, Unauthorized
from pricewise.core.security import decode_jwt, hmac_sign
from pricewise.core.tenancy import Principal, Scope, bind

PREFIX = "/console"
ACCESS_COOKIE = "pw_console"
REFRESH_COOKIE = "pw_console_refresh"
CSRF_COOKIE = "pw_console_csrf"
CSRF_FIELD = "csrf_token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# Pages render only what this server sends: no inline script or style, no framing.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html", "svg"]), trim_blocks=True, lstrip_blocks=True)


def _page_query(params: Any, offset: int) -> str:
    """The current query string with another offset (the pager's links)."""
    return urlencode({**{k: v for k, v in params.items() if k not in ("offset", "done")}, "offset": max(offset, 0)})


templates.filters["pagequery"] = _page_query


class LoginRequired(Unauthorized):
    """No usable session: pages redirect to the login form."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the console and the CSRF token their forms carry."""

    principal: Principal
    scope: Scope
    csrf: str
    email: str | None

    def require(self, role: str) -> None:
        self.principal.require(role, writes=True)


def _secure(request: Request, ctx: AppContext) -> bool:
    return request.url.scheme == "https" or ctx.settings.public_url.startswith("https://")


def _pending(request: Request) -> list[tuple[str, str | None, int]]:
    """Cookies to set on whatever response the route ends up sending (value None: delete)."""
    if not hasattr(request.state, "console_cookies"):
        request.state.console_cookies = []
    pending: list[tuple[str, str | None, int]] = request.state.console_cookies
    return pending


def set_session(request: Request, ctx: AppContext, tokens: dict[str, object]) -> None:
    _pending(request).append((ACCESS_COOKIE, str(tokens["access_token"]), ctx.settings.access_token_minutes * 60))
    _pending(request).append((REFRESH_COOKIE, str(tokens["refresh_token"]), ctx.settings.refresh_token_days * 86400))


def clear_session(request: Request) -> None:
    _pending(request).extend([(ACCESS_COOKIE, None, 0), (REFRESH_COOKIE, None, 0)])


def csrf_id(request: Request) -> str:
    """The browser's random CSRF id (cookie), created on first sight."""
    sid = request.cookies.get(CSRF_COOKIE)
    if not sid or len(sid) > 100:
        sid = getattr(request.state, "console_csrf_id", None) or secrets.token_urlsafe(24)
        if getattr(request.state, "console_csrf_id", None) is None:
            _pending(request).append((CSRF_COOKIE, sid, 0))
        request.state.console_csrf_id = sid
    return sid


def csrf_token(ctx: AppContext, sid: str, who: str) -> str:
    """Bound to the browser's id and to who is signed in: a pair obtained by someone else (their
    own session, a cookie planted from a sibling domain) does not validate for this user."""
    return hmac_sign(ctx.keys.hmac, "console-csrf", sid, who)


async def check_csrf(request: Request, ctx: AppContext, who: str) -> dict[str, str]:
    """The posted form, after its CSRF token and Origin were checked."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        # By host, not scheme: behind a TLS-terminating proxy the app itself sees http.
        ours = {request.headers.get("host", "").lower(), urlsplit(ctx.settings.public_url).netloc.lower()}
        if urlsplit(origin).netloc.lower() not in ours:
            raise Forbidden("form posted from another site", code="csrf_failed")
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    sid = request.cookies.get(CSRF_COOKIE)
    sent = data.pop(CSRF_FIELD, "")
    if not sid or not sent or not hmac.compare_digest(sent, csrf_token(ctx, sid, who)):
        raise Forbidden("the form's security token is missing or stale; reload the page and try again",
                        code="csrf_failed")
    return data


async def _from_cookies(request: Request, ctx: AppContext, session: Any) -> Principal | None:
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            decode_jwt(ctx.keys.jwt, token, purpose="access")  # a JWT only: never an API key from a cookie
            return await auth.authenticate(session, ctx, token)
        except (jwt.InvalidTokenError, Unauthorized):
            pass
    raw = request.cookies.get(REFRESH_COOKIE)
    if raw:
        # Its own unit of work: the renewal stands even if the page then fails (and is rolled back).
        async with ctx.db.session() as own:
            try:
                tokens = await auth.refresh(own, ctx, raw)
            except Unauthorized:
                if own.info.pop("commit_even_on_error", False):  # a replayed token: its family is revoked
                    await commit(own)
                clear_session(request)
                return None
            await commit(own)
        set_session(request, ctx, tokens)
        return await auth.authenticate(session, ctx, str(tokens["access_token"]))
    return None


async def get_viewer(request: Request, session: SessionDep) -> Viewer:
    ctx: AppContext = request.app.state.ctx
    request.state.console_session = session  # rolled back by ConsoleRoute when the page fails
    principal = await _from_cookies(request, ctx, session)
    email = None
    if principal is not None:
        await bind(session, principal)
        request.state.principal = principal
        await ctx.limiter.tenant(principal.tenant_id)
    elif ctx.auth_mode == "local":
        # The API's own local-mode path: loopback Host only, no writes from foreign origins.
        principal = await get_principal(request, session)
    else:
        raise LoginRequired("log in first")
    if principal.user_id:
        user = await session.get(User, principal.user_id)
        email = user.email if user else None
    who = principal.user_id or principal.kind
    sid = csrf_id(request)
    return Viewer(principal, Scope(session, principal), csrf_token(ctx, sid, who), email)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def form_of(request: Request, viewer: Viewer) -> dict[str, str]:
    return await check_csrf(request, request.app.state.ctx, viewer.principal.user_id or viewer.principal.kind)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, prefix=PREFIX, **context)
    return HTMLResponse(html, status_code=status_code)


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, title=title, message=message, viewer=None)


def _finish(request: Request, response: Response) -> Response:
    ctx: AppContext = request.app.state.ctx
    secure = _secure(request, ctx)
    for name, value, max_age in getattr(request.state, "console_cookies", []):
        if value is None:
            response.delete_cookie(name, path=PREFIX, secure=secure, httponly=True, samesite="lax")
        else:
            response.set_cookie(name, value, max_age=max_age or None, path=PREFIX, secure=secure,
                                httponly=True, samesite="lax")
    for k, v in _HEADERS.items():
        response.headers.setdefault(k, v)
    return response


async def _rollback(request: Request) -> None:
    """A failed page writes nothing. The error is answered here, inside the request's dependency
    scope, so the session dependency sees no exception and would commit: undo first."""
    session = getattr(request.state, "console_session", None)
    if session is not None:
        await session.rollback()
        session.info.pop("after_commit", None)  # no e-mail, job or event for what did not happen
        session.info.pop("events", None)


class ConsoleRoute(APIRoute):
    """Errors become pages, with the request's writes rolled back."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                await _rollback(request)
                target = request.url.path if request.method in _SAFE else PREFIX
                response = RedirectResponse(f"{PREFIX}/login?next={target}", status_code=303)
            except AppError as exc:
                await _rollback(request)
                if exc.status == 401 and request.method in _SAFE:
                    clear_session(request)
                    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
                else:
                    title = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid input",
                             429: "Too many attempts"}.get(exc.status, "Error")
                    response = _error_page(request, exc.status, title, exc.message)
                    if exc.headers:
                        response.headers.update(exc.headers)
            except (RequestValidationError, ValidationError) as exc:
                await _rollback(request)
                response = _error_page(request, 422, "Invalid input", _describe(exc))
            return _finish(request, response)

        return run


def _describe(exc: RequestValidationError | ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
    return "; ".join(parts) or "invalid input"
