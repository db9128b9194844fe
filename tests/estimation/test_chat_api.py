"""The scoping chat through the API: it asks for what is missing, once, and says when it is ready."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import OpenAIStub, Reply, signup


async def say(client: Any, message: str, session_id: str | None = None, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["session_id"] = session_id
    r = await client.post("/chat/send", json=body, **kw)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture
async def local(make_client: Any) -> Any:
    return await make_client(auth_mode="local")


async def test_a_pool_conversation_reaches_an_estimate(local):
    first = await say(local, "I need a pool")
    sid = first["session_id"]
    assert first["extracted_details"]["subcategory"] == "pool"
    assert first["ready_for_estimate"] is False
    assert "size" in first["response"].lower() and "15x30 feet" in first["suggestions"]
    second = await say(local, "15x30 feet", sid)
    assert second["extracted_details"]["size_sqft"] == 450
    assert "size" not in second["response"].lower()  # asked once
    turns = [second]
    answers = iter(["Midrange", "No spa", "San Diego"])
    while not turns[-1]["ready_for_estimate"]:
        assert len(turns) < 6, [t["response"] for t in turns]
        turns.append(await say(local, next(answers), sid))
    details = turns[-1]["extracted_details"]
    assert details["includes_spa"] is False and details["region"] == "SoCal - Coastal"
    history = (await local.get(f"/chat/{sid}/history")).json()
    assert history["ready_for_estimate"] is True
    assert [m["role"] for m in history["messages"][:2]] == ["user", "assistant"]
    assert len(history["messages"]) == 2 * (len(turns) + 1)
    est = await local.post("/estimate/start", params={"chat_session_id": sid},
                           json={"description": "a pool"})
    assert est.status_code == 200, est.text
    got = est.json()
    assert got["extracted_attributes"]["size_sqft"] == 450 and got["region"] == "SoCal - Coastal"
    assert (await local.get(f"/chat/{sid}/history")).json()["estimation_id"] == got["estimation_id"]


async def test_unsure_answers_are_not_asked_again(local):
    sid = (await say(local, "thinking about a granny flat"))["session_id"]
    q1 = await say(local, "not sure", sid)
    q2 = await say(local, "no idea honestly", sid)
    assert q1["response"] != q2["response"]


async def test_no_project_no_guess(local):
    r = await say(local, "hi there")
    assert r["ready_for_estimate"] is False and "subcategory" not in r["extracted_details"]
    assert "what kind of project" in r["response"].lower()


async def test_limits_and_isolation(client, mailbox):
    a = await signup(client, mailbox, "chat-a@example.com")
    b = await signup(client, mailbox, "chat-b@example.com", name="B")
    r = await say(client, "kitchen remodel", headers=a.bearer)
    sid = r["session_id"]
    assert (await client.get(f"/chat/{sid}/history", headers=b.bearer)).status_code == 404
    other = await client.post("/chat/send", json={"session_id": sid, "message": "hi"}, headers=b.bearer)
    assert other.status_code == 404
    big = await client.post("/chat/send", json={"session_id": sid, "message": "x" * 2001}, headers=a.bearer)
    assert big.status_code == 422 and big.json()["error"]["fields"][0]["field"].endswith("message")
    for _ in range(19):
        await say(client, "ok", sid, headers=a.bearer)
    full = await client.post("/chat/send", json={"session_id": sid, "message": "ok"}, headers=a.bearer)
    assert full.status_code == 409 and full.json()["error"]["code"] == "conversation_full"


async def test_llm_extraction_fills_what_rules_missed(make_client, openai_stub: OpenAIStub):
    openai_stub.script(Reply.chat(json.dumps({"size_sqft": 640, "quality": "premium",
                                                              "region": "NorCal", "includes_spa": None})))
    client = await make_client(auth_mode="local", openai_api_key="sk-test-good-key-1234",
                               openai_base_url=openai_stub.base_url)
    r = await say(client, "a pool about the size of a two-car garage, fancy finish, near Sacramento")
    d = r["extracted_details"]
    assert d["size_sqft"] == 640 and d["quality"] == "premium" and d["region"] == "NorCal"
    sent = [p for p in openai_stub.posts if "chat/completions" in p["path"]]
    assert sent and "two-car garage" in json.dumps(sent[0]["json"])
