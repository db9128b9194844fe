"""The OpenAI-compatible client against a real server on loopback: retries, timeouts, JSON repair,
no key in errors or logs; per-tenant key resolution (platform key for Trial, BYOK for Pro and
Enterprise) and token usage recorded per tenant in its own transaction."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select, update

from pricewise.accounts.llm import drain_usage, llm_for, usage_summary
from pricewise.accounts.models import LlmUsage, Tenant
from pricewise.analytics.narrator import narrate
from pricewise.core.base import utcnow
from pricewise.core.llm import ChatResult, LLMClient, LLMError
from pricewise.core.tenancy import Principal, bind
from tests.support import Reply, free_port, signup

KEY = "sk-test-good-key-1234"
PLATFORM_KEY = "sk-test-platform-key-0001"
ASK = [{"role": "user", "content": "Say hello"}]


def make_llm(stub: Any, *, key: str = KEY, retries: int = 2, timeout: float = 5.0,
             base_url: str | None = None) -> tuple[LLMClient, list[tuple[Any, ...]]]:
    usage: list[tuple[Any, ...]] = []

    async def on_usage(*row: Any) -> None:
        usage.append(row)

    llm = LLMClient(base_url=base_url or stub.base_url, api_key=key, model="gpt-test", timeout=timeout,
                    retries=retries, backoff=0.01, on_usage=on_usage)
    return llm, usage


class Extract(BaseModel):
    city: str
    budget: float


# --- the client -------------------------------------------------------------------------------

async def test_chat_returns_the_text_and_tokens_and_sends_model_messages_and_key(openai_stub):
    openai_stub.script(Reply.chat("Hello there", prompt_tokens=11, completion_tokens=7))
    llm, usage = make_llm(openai_stub)
    result = await llm.chat(ASK, purpose="greeting", max_tokens=50)
    assert result == ChatResult("Hello there", 11, 7, "gpt-test")
    [post] = openai_stub.posts
    assert post["path"] == "/v1/chat/completions" and post["key"] == KEY
    assert post["json"]["model"] == "gpt-test" and post["json"]["messages"] == ASK
    assert post["json"]["max_tokens"] == 50 and post["json"]["temperature"] == 0.2
    assert "response_format" not in post["json"]
    assert usage == [("greeting", "gpt-test", 11, 7, True, None)]


async def test_rate_limit_and_server_errors_are_retried_until_an_answer(openai_stub):
    openai_stub.script(Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"}),
                       Reply(503, text="upstream unavailable"),
                       Reply.chat("made it"))
    llm, usage = make_llm(openai_stub, retries=2)
    assert (await llm.chat(ASK, purpose="greeting")).text == "made it"
    assert len(openai_stub.posts) == 3
    assert usage == [("greeting", "gpt-test", 5, 3, True, None)]  # one call, however many attempts


async def test_persistent_server_errors_fail_after_the_retries(openai_stub):
    openai_stub.script(*[Reply(500, {"error": {"message": "boom"}}) for _ in range(3)])
    llm, usage = make_llm(openai_stub, retries=2)
    with pytest.raises(LLMError) as err:
        await llm.chat(ASK, purpose="greeting")
    assert err.value.status == 500 and "after 3 attempts" in str(err.value) and "boom" in str(err.value)
    assert len(openai_stub.posts) == 3
    [(purpose, _model, pt, ct, ok, error)] = usage
    assert (purpose, pt, ct, ok) == ("greeting", 0, 0, False) and "500" in error


async def test_a_long_retry_after_fails_at_once_instead_of_waiting(openai_stub):
    openai_stub.script(Reply(429, {"error": {"message": "quota"}}, headers={"Retry-After": "120"}))
    llm, _ = make_llm(openai_stub, retries=2)
    with pytest.raises(LLMError) as err:
        await llm.chat(ASK, purpose="greeting")
    assert err.value.status == 429 and "retry after 120s" in str(err.value)
    assert len(openai_stub.posts) == 1


@pytest.mark.parametrize("header", [{"Retry-After": "nan"}, {"Retry-After": "inf"}, {"Retry-After": "-5"},
                                    {"retry-after-ms": "nan", "Retry-After": "0"}])
async def test_a_nonsense_retry_after_is_ignored_and_the_call_retried(openai_stub, header):
    # asyncio.sleep(nan) never returns: the header must count as absent and the backoff apply
    openai_stub.script(Reply(429, {"error": {"message": "slow down"}}, headers=header), Reply.chat("made it"))
    llm, _ = make_llm(openai_stub, retries=1)
    async with asyncio.timeout(30):  # a guard against the hang, not a measurement
        assert (await llm.chat(ASK, purpose="greeting")).text == "made it"
    assert len(openai_stub.posts) == 2


async def test_a_slow_server_times_out_each_attempt(openai_stub):
    openai_stub.script(Reply.chat("late", delay=2.0), Reply.chat("late", delay=2.0))
    llm, usage = make_llm(openai_stub, retries=1, timeout=0.3)
    with pytest.raises(LLMError) as err:
        await llm.chat(ASK, purpose="greeting")
    assert "timed out" in err.value.reason and "within 0.3s" in str(err.value)
    assert len(openai_stub.posts) == 2
    assert usage[0][4] is False


async def test_an_unreachable_server_is_an_llm_error():
    llm = LLMClient(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=KEY, model="gpt-test",
                    retries=1, backoff=0.01)
    with pytest.raises(LLMError) as err:
        await llm.chat(ASK, purpose="greeting")
    assert "could not reach" in str(err.value)


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_client_errors_are_not_retried(openai_stub, status):
    openai_stub.script(Reply(status, {"error": {"message": "no"}}))
    llm, _ = make_llm(openai_stub)
    with pytest.raises(LLMError) as err:
        await llm.chat(ASK, purpose="greeting")
    assert err.value.status == status and len(openai_stub.posts) == 1


async def test_the_key_never_appears_in_errors_or_logs(openai_stub, caplog):
    secret = "pl-planted-llm-key-9f8e7d6c5b4a3210"  # not sk- shaped: redaction must be exact, not a pattern
    openai_stub.valid_keys.add(secret)
    echo = {"error": {"message": f"Incorrect API key provided: {secret}. See your account."}}
    openai_stub.script(Reply(500, text=f"internal error while serving key {secret}"), Reply(401, echo))
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "pricewise"):
        caplog.set_level(logging.DEBUG, logger=name)
    llm, usage = make_llm(openai_stub, key=secret, retries=2)
    with pytest.raises(LLMError) as err:
        await llm.chat(ASK, purpose="greeting")
    assert err.value.status == 401 and len(openai_stub.posts) == 2  # the 500 retried, the 401 not
    assert [p["key"] for p in openai_stub.posts] == [secret, secret]  # it was really sent
    shown = " ".join([str(err.value), repr(err.value), repr(err.value.args), err.value.reason, repr(llm),
                      repr(usage)])
    assert "Incorrect API key provided" in shown and secret not in shown
    assert any("retrying" in r.getMessage() for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {vars(r)!r}" for r in caplog.records)
    assert secret not in logged


@pytest.mark.parametrize("reply", [Reply(200, text="<html>gateway page</html>"),
                                   Reply(200, {"id": "c1", "object": "chat.completion"}),
                                   Reply(200, {"choices": []})],
                         ids=["not-json", "no-choices", "empty-choices"])
async def test_malformed_answers_are_llm_errors(openai_stub, reply):
    openai_stub.script(reply)
    llm, usage = make_llm(openai_stub)
    with pytest.raises(LLMError) as err:
        await llm.chat(ASK, purpose="greeting")
    assert err.value.reason == "malformed answer from the model server"
    assert len(openai_stub.posts) == 1 and usage[0][4] is False


# --- structured answers -----------------------------------------------------------------------

async def test_structured_asks_for_json_and_repairs_an_invalid_answer_once(openai_stub):
    openai_stub.script(Reply.chat("Sure! The city is Austin."), Reply.chat('{"city": "Austin"}'),
                       Reply.chat('{"city": "Austin", "budget": 52000}'))
    llm, usage = make_llm(openai_stub)
    ask = [{"role": "user", "content": "A pool in Austin, about 52k"}]
    with pytest.raises(LLMError) as err:
        await llm.structured(ask, Extract, purpose="extract")
    assert "after one repair" in str(err.value) and "budget" in str(err.value)
    assert len(openai_stub.posts) == 2  # exactly one repair, the third reply is still queued
    first, repair = (p["json"] for p in openai_stub.posts)
    assert first["response_format"] == {"type": "json_object"} == repair["response_format"]
    assert "JSON schema" in first["messages"][0]["content"] and "budget" in first["messages"][0]["content"]
    assert repair["messages"][-2] == {"role": "assistant", "content": "Sure! The city is Austin."}
    assert "not valid" in repair["messages"][-1]["content"]
    assert [u[4] for u in usage] == [True, True]  # both calls were billed

    # the next call: the missing field is named in the repair, and the repaired answer is returned
    openai_stub.requests.clear()
    openai_stub.replies.clear()
    openai_stub.script(Reply.chat('{"city": "Austin"}'), Reply.chat('{"city": "Austin", "budget": 52000}'))
    assert await llm.structured(ask, Extract, purpose="extract") == Extract(city="Austin", budget=52000)
    repair = openai_stub.posts[1]["json"]
    assert "budget" in repair["messages"][-1]["content"] and repair["messages"][-2]["content"] == '{"city": "Austin"}'


async def test_structured_accepts_a_fenced_json_answer_first_time(openai_stub):
    openai_stub.script(Reply.chat('```json\n{"city": "Reno", "budget": 18500.5}\n```'))
    llm, _ = make_llm(openai_stub)
    got = await llm.structured(ASK, Extract, purpose="extract")
    assert got == Extract(city="Reno", budget=18500.5) and len(openai_stub.posts) == 1


# --- tenants: key resolution and usage ---------------------------------------------------------

async def _usage_rows(ctx: Any) -> list[LlmUsage]:
    async with ctx.db.session() as s:
        return list((await s.execute(select(LlmUsage).order_by(LlmUsage.id))).scalars())


async def test_trial_uses_the_platform_key_pro_and_enterprise_their_own(make_client, mailbox, openai_stub):
    openai_stub.valid_keys = {KEY, PLATFORM_KEY}
    client = await make_client(openai_base_url=openai_stub.base_url, openai_api_key=PLATFORM_KEY,
                               llm_model="gpt-test-mini")
    ctx = client.app.state.ctx
    trial = await signup(client, mailbox, "trial@tiers.example", tier="trial")
    pro = await signup(client, mailbox, "pro@tiers.example", tier="pro")
    ent = await signup(client, mailbox, "ent@tiers.example", tier="enterprise")
    r = await client.put("/tenants/settings", json={"openai_api_key": KEY}, headers=pro.bearer)
    assert r.status_code == 200, r.text
    openai_stub.requests.clear()

    trial_llm = await llm_for(ctx, trial.tenant_id)
    assert trial_llm is not None and trial_llm.key_source == "platform"
    await trial_llm.chat(ASK, purpose="greeting")
    assert openai_stub.posts[-1]["key"] == PLATFORM_KEY
    assert openai_stub.posts[-1]["json"]["model"] == "gpt-test-mini"

    pro_llm = await llm_for(ctx, pro.tenant_id)
    assert pro_llm is not None and pro_llm.key_source == "tenant"
    await pro_llm.chat(ASK, purpose="greeting")
    assert openai_stub.posts[-1]["key"] == KEY
    openai_stub.script(Reply.chat("Growth should move to $54.", 40, 12))
    story = await narrate(pro_llm, kind="recommendation", facts={"price": 54.0}, template="Price: 54.")
    assert (story.source, openai_stub.posts[-1]["key"]) == ("llm", KEY)

    # Enterprise without its own key: template narratives, never the platform key
    assert await llm_for(ctx, ent.tenant_id) is None
    assert await llm_for(ctx, "0" * 24) is None
    assert len(openai_stub.posts) == 3

    rows = await _usage_rows(ctx)
    assert [(u.tenant_id, u.key_source, u.purpose, u.model, u.prompt_tokens, u.completion_tokens, u.ok)
            for u in rows] == [(trial.tenant_id, "platform", "greeting", "gpt-test", 5, 3, True),
                               (pro.tenant_id, "tenant", "greeting", "gpt-test", 5, 3, True),
                               (pro.tenant_id, "tenant", "narrative:recommendation", "gpt-test", 40, 12, True)]

    # the Pro tenant removes its key: None, not the platform key
    assert (await client.put("/tenants/settings", json={"openai_api_key": ""}, headers=pro.bearer)).status_code == 200
    assert await llm_for(ctx, pro.tenant_id) is None

    # no platform key configured: the trial tenant has no LLM either
    bare = await make_client(openai_base_url=openai_stub.base_url)
    assert await llm_for(bare.app.state.ctx, trial.tenant_id) is None


async def test_usage_is_kept_when_the_surrounding_work_rolls_back(make_client, mailbox, openai_stub):
    openai_stub.valid_keys = {PLATFORM_KEY}
    client = await make_client(openai_base_url=openai_stub.base_url, openai_api_key=PLATFORM_KEY)
    ctx = client.app.state.ctx
    acct = await signup(client, mailbox, "rollback@usage.example")
    llm = await llm_for(ctx, acct.tenant_id)
    assert llm is not None

    async with ctx.db.session() as s:  # a request that writes, calls the LLM, then fails
        await bind(s, Principal(tenant_id=acct.tenant_id, role="admin", kind="user"))
        await s.execute(update(Tenant).where(Tenant.id == acct.tenant_id).values(name="Half-done"))
        await s.flush()
        assert (await llm.chat(ASK, purpose="narrative:gap")).text == "ok"
        await s.rollback()
    await drain_usage()  # on SQLite the row waits for the lock the failed work held

    rows = await _usage_rows(ctx)
    assert [(u.tenant_id, u.purpose, u.ok) for u in rows] == [(acct.tenant_id, "narrative:gap", True)]
    async with ctx.db.session() as s:
        assert (await s.execute(select(Tenant.name).where(Tenant.id == acct.tenant_id))).scalar_one() == "Acme Pools"


async def test_usage_summary_counts_calls_and_tokens_by_purpose(make_client, mailbox, openai_stub):
    openai_stub.valid_keys = {PLATFORM_KEY}
    client = await make_client(openai_base_url=openai_stub.base_url, openai_api_key=PLATFORM_KEY)
    ctx = client.app.state.ctx
    acct = await signup(client, mailbox, "summary@usage.example")
    other = await signup(client, mailbox, "other@usage.example")
    start = utcnow() - timedelta(seconds=1)
    llm, other_llm = await llm_for(ctx, acct.tenant_id), await llm_for(ctx, other.tenant_id)
    assert llm is not None and other_llm is not None

    openai_stub.script(Reply.chat("a", 100, 20), Reply.chat("b", 50, 10), Reply(400, {"error": {"message": "bad"}}),
                       Reply.chat('{"city": "Austin", "budget": 1}', 30, 9), Reply.chat("c", 999, 999))
    await llm.chat(ASK, purpose="narrative:forecast")
    await llm.chat(ASK, purpose="narrative:forecast")
    with pytest.raises(LLMError):
        await llm.chat(ASK, purpose="extract")
    await llm.structured(ASK, Extract, purpose="extract")
    await other_llm.chat(ASK, purpose="narrative:forecast")  # another tenant's tokens

    async with ctx.db.session() as s:
        summary = await usage_summary(s, acct.tenant_id, start)
        later = await usage_summary(s, acct.tenant_id, utcnow() + timedelta(hours=1))
    assert summary["calls"] == 4 and summary["failed"] == 1
    assert (summary["prompt_tokens"], summary["completion_tokens"], summary["total_tokens"]) == (180, 39, 219)
    assert summary["by_purpose"] == {
        "extract": {"calls": 2, "failed": 1, "prompt_tokens": 30, "completion_tokens": 9},
        "narrative:forecast": {"calls": 2, "failed": 0, "prompt_tokens": 150, "completion_tokens": 30}}
    assert later["calls"] == 0 and later["by_purpose"] == {}
