"""OpenAI-compatible chat client: timeouts, bounded retries, JSON answers checked against a schema.

The LLM only writes prose and extracts details from text; every figure it is shown was computed
elsewhere. The API key lives in this object and nowhere else: it is sent in one header, and every
error message and log line is built from redacted text, so it cannot leak through exceptions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from pricewise.core.logs import scrub

log = logging.getLogger("pricewise.llm")

KeySource = Literal["platform", "tenant"]
Message = dict[str, Any]
# (purpose, model, prompt_tokens, completion_tokens, ok, error)
UsageHook = Callable[[str, str, int, int, bool, str | None], Awaitable[None]]
T = TypeVar("T", bound=BaseModel)

_RETRY_STATUS = frozenset({408, 429})
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class LLMError(Exception):
    """A chat call that produced no usable answer. `reason` is short and safe to show a user."""

    def __init__(self, message: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str


class _Retryable(Exception):
    def __init__(self, message: str, reason: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason, self.status, self.retry_after = reason, status, retry_after


def _seconds(value: float) -> float | None:
    # "nan" and "inf" parse as floats; asyncio.sleep(nan) never returns. Nonsense means no header.
    return value if math.isfinite(value) and value >= 0 else None


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asked us to wait: retry-after-ms, Retry-After seconds or HTTP date.
    A value that is not a finite, non-negative number counts as absent."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            if (wait := _seconds(float(ms) / 1000)) is not None:
                return wait
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _seconds(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class LLMClient:
    """One configured endpoint and key. Cheap to build: each call opens its own connection."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 30.0, retries: int = 2,
                 key_source: KeySource = "platform", on_usage: UsageHook | None = None, *,
                 backoff: float = 0.5, max_retry_after: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.retries = max(retries, 0)
        self.key_source = key_source
        self.on_usage = on_usage
        self.backoff = backoff
        # A Retry-After longer than this is not waited out: the call fails now instead.
        self.max_retry_after = max_retry_after
        self.__key = api_key

    def __repr__(self) -> str:  # never the key
        return f"LLMClient(base_url={self.base_url!r}, model={self.model!r}, key_source={self.key_source!r})"

    def _redact(self, text: str) -> str:
        if self.__key:
            text = text.replace(self.__key, "***")
        return scrub(text)

    async def chat(self, messages: Sequence[Message], *, purpose: str, max_tokens: int = 800,
                   temperature: float = 0.2, json_mode: bool = False) -> ChatResult:
        """One completion, retried on 408/429/5xx, timeouts and connection errors."""
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), "max_tokens": max_tokens,
                                "temperature": temperature}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        try:
            result = await self._with_retries(body, purpose)
        except LLMError as exc:
            await self._usage(purpose, 0, 0, ok=False, error=str(exc))
            raise
        await self._usage(purpose, result.prompt_tokens, result.completion_tokens, ok=True, error=None,
                          model=result.model)
        return result

    async def structured(self, messages: Sequence[Message], schema: type[T], *, purpose: str,
                         max_tokens: int = 800) -> T:
        """A JSON object validated against `schema`; one repair round trip, then LLMError."""
        shape = json.dumps(schema.model_json_schema(), separators=(",", ":"))
        convo: list[Message] = [
            {"role": "system", "content": f"Answer with one JSON object matching this JSON schema: {shape}"},
            *messages,
        ]
        problem = ""
        for attempt in range(2):
            result = await self.chat(convo, purpose=purpose, max_tokens=max_tokens, temperature=0.0,
                                     json_mode=True)
            fenced = _FENCE.match(result.text)
            text = fenced.group(1) if fenced else result.text
            try:
                return schema.model_validate_json(text)
            except ValidationError as exc:
                problem = _validation_summary(exc)
            if attempt == 0:
                log.info("llm %s: answer did not match %s (%s); asking once more", purpose,
                         schema.__name__, problem)
                convo = [*convo, {"role": "assistant", "content": result.text},
                         {"role": "user", "content": f"That answer is not valid: {problem}. Reply again with "
                                                     "only the corrected JSON object."}]
        raise LLMError(f"the model's answer did not match {schema.__name__} after one repair: {problem}",
                       reason="answer did not match the expected format")

    async def _with_retries(self, body: dict[str, Any], purpose: str) -> ChatResult:
        attempt = 0
        while True:
            try:
                return await self._attempt(body)
            except _Retryable as exc:
                if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                    raise LLMError(f"{exc}; the server asks to retry after {exc.retry_after:.0f}s",
                                   reason=exc.reason, status=exc.status) from None
                if attempt >= self.retries:
                    raise LLMError(f"{exc} (after {attempt + 1} attempts)", reason=exc.reason,
                                   status=exc.status) from None
                delay = exc.retry_after if exc.retry_after is not None else (
                    self.backoff * 2 ** attempt * (1 + random.random() / 2))
                log.warning("llm %s: attempt %d failed (%s); retrying in %.2fs", purpose, attempt + 1, exc, delay)
                await asyncio.sleep(delay)
                attempt += 1

    async def _attempt(self, body: dict[str, Any]) -> ChatResult:
        headers = {"Authorization": f"Bearer {self.__key}"} if self.__key else {}
        try:
            # httpx's timeout is per phase; the outer one bounds the whole attempt.
            async with asyncio.timeout(self.timeout), httpx.AsyncClient(
                    timeout=self.timeout, follow_redirects=False) as client:
                resp = await client.post(f"{self.base_url}/chat/completions", json=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            raise _Retryable(f"the model server did not answer within {self.timeout:g}s",
                             "the model server timed out") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"could not reach the model server ({type(exc).__name__})",
                             "the model server could not be reached") from None
        status = resp.status_code
        if status in _RETRY_STATUS or status >= 500:
            reason = "rate limited" if status == 429 else f"the model server answered {status}"
            raise _Retryable(f"the model server answered {status}: {self._detail(resp)}", reason, status,
                             _retry_after(resp.headers))
        if status >= 400:
            what = "rejected the key" if status in (401, 403) else "refused the request"
            raise LLMError(f"the model server {what} ({status}): {self._detail(resp)}",
                           reason=f"the model server {what} ({status})", status=status)
        return self._parse(resp)

    def _detail(self, resp: httpx.Response) -> str:
        return error_detail(resp, self._redact)

    def _parse(self, resp: httpx.Response) -> ChatResult:
        try:
            data = resp.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"malformed answer from the model server: {self._redact(resp.text[:200])!r}",
                           reason="malformed answer from the model server", status=resp.status_code) from None
        if not isinstance(content, str):
            raise LLMError("the model server's answer has no text", reason="empty answer from the model server",
                           status=resp.status_code)
        usage = data.get("usage") or {}
        return ChatResult(text=content, prompt_tokens=_int(usage.get("prompt_tokens")),
                          completion_tokens=_int(usage.get("completion_tokens")),
                          model=str(data.get("model") or self.model))

    async def _usage(self, purpose: str, prompt_tokens: int, completion_tokens: int, *, ok: bool,
                     error: str | None, model: str | None = None) -> None:
        if self.on_usage is None:
            return
        try:
            await self.on_usage(purpose, model or self.model, prompt_tokens, completion_tokens, ok,
                                None if error is None else self._redact(error)[:200])
        except Exception as exc:  # accounting must never break the call it accounts for
            log.warning("llm %s: usage not recorded (%s)", purpose, type(exc).__name__)


def error_detail(resp: httpx.Response, redact: Callable[[str], str]) -> str:
    """An OpenAI-style server's own error message, redacted and short (some servers echo the key)."""
    try:
        data = resp.json()
        msg = data.get("error", {}).get("message") if isinstance(data, dict) else None
    except (ValueError, AttributeError):
        msg = None
    text = str(msg) if msg else resp.text
    return redact(" ".join(text.split()))[:200] or "no details"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
