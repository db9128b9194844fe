"""Rate limits: tier limits on estimates, the per-tenant limit over HTTP, exact counts across
processes on Redis, and the fallback to memory when Redis does not answer."""

from __future__ import annotations

import asyncio
import logging
import math
import subprocess
import sys
import textwrap
import time
import uuid

import httpx
import pytest
from limits import RateLimitItemPerHour

from pricewise.core.errors import TooMany
from pricewise.core.ratelimit import TIER_ESTIMATES_PER_HOUR, RateLimiter
from tests.conftest import REDIS_UP, REDIS_URL
from tests.support import signup

needs_redis = pytest.mark.skipif(not REDIS_UP, reason="Redis is unreachable at 127.0.0.1:6379")
STORAGES = [pytest.param(None, id="memory"), pytest.param(REDIS_URL, id="redis", marks=needs_redis)]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _client_from(app: object, host: str) -> httpx.AsyncClient:
    """A client on the same app seen from its own address, so per-address throttles kept in a
    shared Redis never collide between runs."""
    transport = httpx.ASGITransport(app=app, client=(host, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _random_ip() -> str:
    b = uuid.uuid4().bytes
    return f"10.{b[0]}.{b[1]}.{b[2]}"


@pytest.mark.parametrize("redis_url", STORAGES)
@pytest.mark.parametrize(("tier", "limit"), [("trial", 10), ("pro", 100), ("enterprise", 1000)])
async def test_tier_limits_on_estimates(redis_url, tier, limit):
    assert TIER_ESTIMATES_PER_HOUR[tier] == limit
    limiter = RateLimiter(redis_url, per_minute=100, ai_per_minute=20)
    assert limiter.backend == ("redis" if redis_url else "memory")
    tenant = _unique(f"tier-{tier}")
    for i in range(limit):
        decision = await limiter.estimates(tenant, tier)
        assert decision.allowed and decision.limit == limit
        assert decision.remaining == limit - i - 1
    before = math.floor(time.time())
    with pytest.raises(TooMany) as refused:
        await limiter.estimates(tenant, tier)
    err = refused.value
    assert err.status == 429 and err.code == "rate_limited"
    assert f"{limit} estimates per hour" in err.message and tier in err.message
    headers = err.headers or {}
    assert headers["X-RateLimit-Limit"] == str(limit)
    assert headers["X-RateLimit-Remaining"] == "0"
    reset = int(headers["X-RateLimit-Reset"])
    assert before < reset <= before + 3601  # the oldest hit of the hour-long window frees first
    retry_after = int(headers["Retry-After"])
    # waiting Retry-After seconds reaches the reset time (rounded up to whole seconds)
    assert 1 <= retry_after <= 3601 and abs(reset - before - retry_after) <= 1
    # still refused on the next try: a refusal does not free a slot
    with pytest.raises(TooMany):
        await limiter.estimates(tenant, tier)
    # another tenant on the same tier has its own budget
    other = await limiter.estimates(_unique("other"), tier)
    assert other.allowed and other.remaining == limit - 1


async def test_unknown_tier_gets_the_trial_limit():
    limiter = RateLimiter(None, per_minute=100, ai_per_minute=20)
    tenant = _unique("odd-tier")
    for _ in range(10):
        await limiter.estimates(tenant, "platinum")
    with pytest.raises(TooMany) as refused:
        await limiter.estimates(tenant, "platinum")
    assert (refused.value.headers or {})["X-RateLimit-Limit"] == "10"


@pytest.mark.parametrize("redis_url", STORAGES)
async def test_per_tenant_limit_over_http(make_client, mailbox, redis_url):
    overrides = {"rate_limit_requests_per_minute": 5}
    if redis_url:
        overrides["redis_url"] = redis_url
    app = (await make_client(**overrides)).app
    assert app.state.ctx.limiter.backend == ("redis" if redis_url else "memory")
    async with _client_from(app, _random_ip()) as client:
        a = await signup(client, mailbox, f"{_unique('a')}@limits.example", verify=False)
        b = await signup(client, mailbox, f"{_unique('b')}@limits.example", verify=False)
        for expected_remaining in (4, 3, 2, 1, 0):
            r = await client.get("/tenants/me", headers=a.key_headers)
            assert r.status_code == 200, r.text
            assert r.headers["X-RateLimit-Limit"] == "5"
            assert r.headers["X-RateLimit-Remaining"] == str(expected_remaining)
            assert int(r.headers["X-RateLimit-Reset"]) > time.time() - 1
            assert "Retry-After" not in r.headers
        refused = await client.get("/tenants/me", headers=a.key_headers)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        assert refused.headers["X-RateLimit-Limit"] == "5"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert refused.headers["X-Request-ID"]
        body = refused.json()
        assert body["error"]["code"] == "rate_limited"
        assert "5 requests per minute" in body["error"]["message"]
        assert body["request_id"] == refused.headers["X-Request-ID"]
        # the same tenant through another credential shares the budget
        bearer = await client.get("/tenants/me", headers=a.bearer)
        assert bearer.status_code == 429
        # another tenant is not affected
        other = await client.get("/tenants/me", headers=b.key_headers)
        assert other.status_code == 200
        assert other.headers["X-RateLimit-Remaining"] == "4"


_WORKER = textwrap.dedent("""
    import asyncio, sys
    from limits import RateLimitItemPerHour
    from pricewise.core.errors import TooMany
    from pricewise.core.ratelimit import RateLimiter

    async def main(url, key, limit, hits):
        limiter = RateLimiter(url, per_minute=1000, ai_per_minute=1000)
        item = RateLimitItemPerHour(limit)
        await limiter.key(item, key + ":warm-up", "hits")  # connect before the start signal
        print("ready", flush=True)
        sys.stdin.readline()
        allowed = 0
        for _ in range(hits):
            try:
                await limiter.key(item, key, "hits")
                allowed += 1
            except TooMany:
                pass
        print(allowed, flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
""")


@needs_redis
def test_redis_counts_are_exact_across_processes():
    key = _unique("exact")
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, REDIS_URL, key, "37", "20"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    try:
        for p in procs:  # every process is connected before any of them starts
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=30) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    counts = [int(out.strip()) for out, _ in outputs]
    assert sum(counts) == 37, counts
    assert all(c <= 20 for c in counts)

    async def check() -> None:  # the shared counter is full for any new process too
        with pytest.raises(TooMany):
            await RateLimiter(REDIS_URL, 1000, 1000).key(RateLimitItemPerHour(37), key, "hits")

    asyncio.run(check())


async def test_unreachable_redis_falls_back_to_memory(caplog):
    limiter = RateLimiter("redis://127.0.0.1:1/0", per_minute=3, ai_per_minute=2)
    tenant = _unique("fallback")
    with caplog.at_level(logging.WARNING, logger="pricewise.ratelimit"):
        started = time.perf_counter()
        decisions = [await limiter.tenant(tenant) for _ in range(3)]
        assert [d.remaining for d in decisions] == [2, 1, 0]
        # the limit still holds on this process's counters
        with pytest.raises(TooMany) as refused:
            await limiter.tenant(tenant)
        assert (refused.value.headers or {})["X-RateLimit-Limit"] == "3"
        ai = await limiter.ai(tenant)
        assert ai.allowed and ai.limit == 2
        assert time.perf_counter() - started < 5
    warnings = [r for r in caplog.records if r.name == "pricewise.ratelimit"]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    assert "using memory" in warnings[0].getMessage()


async def test_unreachable_redis_does_not_fail_http_requests(make_client, mailbox):
    client = await make_client(redis_url="redis://127.0.0.1:1/0", rate_limit_requests_per_minute=2)
    acct = await signup(client, mailbox, "fallback@limits.example", verify=False)
    codes = [(await client.get("/tenants/me", headers=acct.key_headers)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


async def test_a_hung_redis_costs_a_request_about_a_second_not_a_hang():
    """A Redis that accepts connections but never answers (a stuck server, a black-holed
    network): the limiter gives up after its timeout and counts in memory."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepted by the kernel, never read or answered
    try:
        limiter = RateLimiter(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", per_minute=3, ai_per_minute=2)
        started = time.perf_counter()
        decision = await limiter.tenant(_unique("hung"))
        elapsed = time.perf_counter() - started
        assert decision.allowed and decision.remaining == 2
        assert elapsed < 3, elapsed
    finally:
        listener.close()
