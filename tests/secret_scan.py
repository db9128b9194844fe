"""A pytest plugin: no planted secret may appear in any log record or any API response of the run.

Planted secrets are the values the tests give the app as secrets: the master secret, the JWT
secret and every other secret setting of the apps that make_client builds, passwords, BYOK keys
(the OpenAI stub's valid keys, keys a tenant saved), integration credentials, and whatever a test
registers with `plant()`. They are looked for in every log record (its message, arguments,
extras, exception and stack, and its JSON form) and in every response of the watched clients
(status line, headers, body). Credentials the API hands out (API keys, widget session tokens,
JWTs) are shown to their owner once, so they are looked for in the logs only, by their shape.

Each log record and response body is scanned as it passes; only findings are kept. At the end of
the session the findings are listed, by kind, place and test, with no more of a secret than its
first four characters, and the run fails.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pricewise.core.logs import JsonFormatter

MIN_LENGTH = 8  # shorter values would match ordinary text
# Credentials the app issues, by shape; publishable widget keys (efofx_pk_...) are public.
ISSUED_SHAPES = [
    ("API key", re.compile(r"efofx_(?!pk_)[A-Za-z0-9_\-]{20,}")),
    ("widget session token", re.compile(r"wst_[A-Za-z0-9_\-]{20,}")),
    ("JWT", re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
]
# The test client's own request log: the links it follows carry their token in the query by design
# (e-mailed links). The planted secrets are still looked for there.
_CLIENT_LOGGERS = frozenset({"httpx"})
_PASSWORD_FIELDS = ("password", "new_password", "current_password", "old_password")
# Statuses whose request may carry junk in a password or key field (a weak or malformed value):
# such values are not taken for secrets.
_JUNK_STATUSES = frozenset({400, 413, 422})
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _KeyHolder(Protocol):
    valid_keys: set[str]


@dataclass(frozen=True)
class Finding:
    kind: str
    head: str  # the secret's first four characters, never more
    where: str
    test: str

    def __str__(self) -> str:
        return f"{self.kind} ({self.head}...) in {self.where} [{self.test}]"


class Scanner:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # value -> kind
        self.findings: dict[Finding, None] = {}  # ordered, without repeats
        self.test = "(outside any test)"
        self.records = 0
        self.responses = 0
        self.seconds = 0.0  # spent scanning, reported at the end: the scan must stay cheap
        self._stubs: list[_KeyHolder] = []
        self._built: tuple[int, re.Pattern[str] | None, re.Pattern[bytes] | None, int] = (-1, None, None, 0)
        self._json = JsonFormatter()

    # --- what is secret ------------------------------------------------------------------------

    def plant(self, kind: str, value: str) -> None:
        if len(value) >= MIN_LENGTH and value not in self.secrets:
            self.secrets[value] = kind

    def watch_stub(self, stub: _KeyHolder) -> None:
        """Its valid keys are BYOK keys, including those a test sets or adds later."""
        self._stubs.append(stub)

    def unwatch_stub(self, stub: _KeyHolder) -> None:
        self._sync_stubs()
        self._stubs = [s for s in self._stubs if s is not stub]

    def plant_settings(self, settings: Any) -> None:
        """Every secret setting (pydantic SecretStr) of an app's settings."""
        for name, value in settings:
            if hasattr(value, "get_secret_value"):
                raw = str(value.get_secret_value())
                self.plant(f"setting {name}", raw)
                if name == "encryption_keys":  # "kid:base64key,...": each key on its own too
                    for part in raw.split(","):
                        self.plant("setting encryption_keys", part.partition(":")[2])

    def _sync_stubs(self) -> None:
        for stub in self._stubs:
            for key in stub.valid_keys:
                self.plant("BYOK key", key)

    def _patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[bytes] | None, int]:
        self._sync_stubs()
        if self._built[0] != len(self.secrets):  # secrets are only ever added
            values = sorted(self.secrets, key=len, reverse=True)  # the longest wins an overlap
            text = re.compile("|".join(map(re.escape, values))) if values else None
            raw = re.compile(b"|".join(re.escape(v.encode()) for v in values)) if values else None
            self._built = (len(self.secrets), text, raw, max(map(len, values), default=0))
        return self._built[1], self._built[2], self._built[3]

    # --- where they must not be ----------------------------------------------------------------

    def _found(self, kind: str, value: str, where: str) -> None:
        self.findings.setdefault(Finding(kind, value[:4], where, self.test), None)

    def scan_text(self, text: str, where: str, shapes: bool = True) -> None:
        planted, _, _ = self._patterns()
        if planted is not None:
            for m in planted.finditer(text):
                self._found(self.secrets[m.group(0)], m.group(0), where)
        if shapes:
            for kind, shape in ISSUED_SHAPES:
                for m in shape.finditer(text):
                    self._found(kind, m.group(0), where)

    def scan_bytes(self, data: bytes, where: str) -> None:
        _, planted, _ = self._patterns()
        if planted is not None:
            for m in planted.finditer(data):
                value = m.group(0).decode()
                self._found(self.secrets[value], value, where)

    def scan_record(self, record: logging.LogRecord) -> None:
        start = time.perf_counter()
        self.records += 1
        try:
            parts = [record.getMessage()]
        except Exception:  # a bad format string: its pieces are still what a handler would print
            parts = [str(record.msg), repr(record.args)]
        parts += [f"{k}={v}" for k, v in vars(record).items() if k not in _RECORD_FIELDS]
        if record.exc_info:
            parts.append(self._json.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        # What the app's own log output shows (a record its formatter cannot print shows nothing).
        with contextlib.suppress(Exception):
            parts.append(self._json.format(record))
        self.scan_text("\n".join(parts), f"log {record.name}", shapes=record.name not in _CLIENT_LOGGERS)
        self.seconds += time.perf_counter() - start

    # --- responses -----------------------------------------------------------------------------

    def watch(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        client.event_hooks["response"].append(self._on_response)
        return client

    async def _on_response(self, response: httpx.Response) -> None:
        start = time.perf_counter()
        self.responses += 1
        request = response.request
        where = f"response {request.method} {request.url.path} {response.status_code}"
        self._harvest(request, response.status_code)
        self.scan_bytes(b"\n".join(b"%s: %s" % pair for pair in response.headers.raw), where)
        # The body is scanned as it streams to the test, which may read it or not, whole or not.
        response.stream = _ScanningStream(response.stream, self, where)
        self.seconds += time.perf_counter() - start

    def _harvest(self, request: httpx.Request, status: int) -> None:
        """Secrets the test sent the app: passwords, BYOK keys and integration credentials."""
        if status in _JUNK_STATUSES or request.method not in ("POST", "PUT", "PATCH"):
            return
        ctype = request.headers.get("content-type", "")
        try:
            body = request.content
        except httpx.RequestNotRead:
            return  # a streamed upload: it names no credential
        if ctype.startswith("application/x-www-form-urlencoded") and b"password" in body:
            form = parse_qs(body.decode(errors="replace"))
            for name in _PASSWORD_FIELDS:
                for value in form.get(name, []):
                    self.plant("password", value)
            return
        if not ctype.startswith("application/json") or not any(
                m in body for m in (b'password"', b'"openai_api_key"', b'"config"')):
            return
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        for name in _PASSWORD_FIELDS:
            if isinstance(data.get(name), str):
                self.plant("password", data[name])
        if isinstance(data.get("openai_api_key"), str) and status < 300:
            self.plant("BYOK key", data["openai_api_key"])
        if isinstance(data.get("config"), dict) and status < 300:
            from pricewise.catalog.sources import split_secrets

            for value in _leaves(split_secrets(data["config"])[1]):
                self.plant("integration credential", value)
                if "://" in value and (password := urlsplit(value).password):
                    self.plant("integration credential", password)


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)


class _ScanningStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, scanner: Scanner, where: str) -> None:
        self._inner = inner
        self._scanner = scanner
        self._where = where

    async def __aiter__(self) -> AsyncIterator[bytes]:
        tail = b""  # the end of the previous chunk, for a secret cut in two
        async for chunk in self._inner:
            start = time.perf_counter()
            data = tail + chunk
            self._scanner.scan_bytes(data, self._where)
            keep = self._scanner._patterns()[2] - 1
            tail = data[-keep:] if keep > 0 else b""
            self._scanner.seconds += time.perf_counter() - start
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Handler(logging.Handler):
    def __init__(self, scanner: Scanner) -> None:
        super().__init__(logging.NOTSET)
        # A JsonFormatter: the app's log set-up (core.logs.configure) then keeps the handlers it finds.
        self.setFormatter(JsonFormatter())
        self.scanner = scanner

    def emit(self, record: logging.LogRecord) -> None:
        self.scanner.scan_record(record)


SCANNER = Scanner()
_HANDLER = _Handler(SCANNER)


def plant(kind: str, value: str) -> str:
    """Register a secret a test gives the app; returns it, for `X = plant("kind", "value")`. Values
    under MIN_LENGTH characters are not looked for: they would match ordinary text."""
    SCANNER.plant(kind, value)
    return value


def _attach() -> None:
    """On the root logger, and on loggers that do not pass their records up to it."""
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate and _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)


def pytest_sessionstart(session: pytest.Session) -> None:
    _attach()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    SCANNER.test = item.nodeid
    _attach()  # a test or the app may have set up logging anew
    try:
        return (yield)
    finally:
        SCANNER.test = "(between tests)"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if SCANNER.findings and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    s = SCANNER
    if not s.findings:
        terminalreporter.write_line(f"secret scan: no planted secret ({len(s.secrets)} known) in "
                                    f"{s.records} log records and {s.responses} responses "
                                    f"(scanning took {s.seconds:.1f}s)")
        return
    terminalreporter.section("secret scan", red=True)
    for finding in s.findings:
        terminalreporter.write_line(str(finding), red=True)
    terminalreporter.write_line(f"secret scan: {len(s.findings)} finding(s) in {s.records} log records and "
                                f"{s.responses} responses; the run fails", red=True, bold=True)
