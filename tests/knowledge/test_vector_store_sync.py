"""Documentation synced to OpenAI vector stores (PRICEWISE_OPENAI_VECTOR_STORES), against the
OpenAI-compatible stub on loopback: the text uploaded once per content, one store per product,
replaced files removed, the tenant's key by its tier, and remote failures that never fail the
local ingestion and are retried with a growing wait."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from pricewise.knowledge import remote
from tests.knowledge.conftest import Kb
from tests.knowledge.docserver import DocServer, Page
from tests.support import Mailbox, OpenAIStub, Reply, signup

PLATFORM = "sk-test-good-key-1234"  # the stub's valid key
BYOK = "sk-test-tenant-own-key-5678"
TOPICS = ["Refunds", "Invoices", "Seats", "Single sign-on", "Data retention", "Exports", "Webhooks", "Regions"]


def manual(version: int = 1) -> bytes:
    """A Markdown manual long enough for several passages: each paragraph says one thing once."""
    paragraphs = [f"# Acme manual, version {version}"]
    for i, topic in enumerate(TOPICS):
        sentences = [f"{topic} rule {j} of version {version}: the setting number {i * 10 + j} applies to every "
                     f"workspace that enabled {topic.lower()} before the upgrade." for j in range(4)]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs).encode()


def _flat(text: str) -> str:
    return "\n\n".join(re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip())


def requests_to(stub: OpenAIStub, method: str, prefix: str) -> list[dict[str, Any]]:
    return [r for r in stub.requests if r.get("method", "POST" if "json" in r else "GET") == method
            and r["path"].startswith(prefix)]


@pytest.fixture
async def synced(make_client: Any, openai_stub: OpenAIStub) -> Kb:
    client = await make_client(auth_mode="local", fetch_allow_private=True, openai_vector_stores=True,
                               openai_base_url=openai_stub.base_url, openai_api_key=PLATFORM)
    return Kb(client)


async def test_a_documents_text_goes_to_its_products_store_once_and_replaced_files_go(
        synced: Kb, site: DocServer, openai_stub: OpenAIStub):
    kb, stub = synced, openai_stub
    site.pages["/manual.md"] = Page(manual(1), "text/markdown")
    site.pages["/faq.md"] = Page(b"# FAQ\n\nThe trial lasts fourteen days and needs no card.", "text/markdown")
    product = await kb.product()
    doc = (await kb.add(product, site.url("/manual.md")))["_id"]
    assert await kb.run(doc) == "ingested"
    assert len(await kb.chunks(doc)) >= 3
    assert (await kb.doc(doc))["openai_file_id"] is None  # not yet: the sync is a job of its own
    sub = kb.ctx.events.subscribe(kb.tenant_id)

    assert await remote.sync(kb.ctx, kb.tenant_id, doc) == "synced"
    (store_id, store), = stub.vector_stores.items()
    assert store["name"] == "Acme Analytics documentation" and store["metadata"]["pricewise_product_id"] == product
    (file_id, file), = stub.files.items()
    assert store["file_ids"] == [file_id] and file["purpose"] == "assistants"
    # the document's text, once: the passages' overlaps are not repeated
    assert file["content"] == f"Title: Acme manual, version 1\nSource: {site.url('/manual.md')}\n\n" + _flat(
        manual(1).decode())
    assert all(r["key"] == PLATFORM for r in stub.requests)
    shown = await kb.doc(doc)
    assert (shown["openai_vector_store_id"], shown["openai_file_id"]) == (store_id, file_id)
    assert shown["vector_store_id"] == f"vs_{product}"  # the local store keeps its own id
    event = await sub.get(5.0)
    assert event is not None and event.type == "vector_store_updated"
    assert event.data == {"product_id": product, "vector_store_id": f"vs_{product}", "document_id": doc,
                          "status": "synced", "openai_vector_store_id": store_id, "openai_file_id": file_id}

    # nothing changed: nothing sent; a second document joins the same store
    calls = len(stub.requests)
    assert await remote.sync(kb.ctx, kb.tenant_id, doc) == "current"
    assert await kb.run(doc) == "unchanged" and await remote.sync(kb.ctx, kb.tenant_id, doc) == "current"
    assert len(stub.requests) == calls
    faq = (await kb.add(product, site.url("/faq.md")))["_id"]
    assert await kb.run(faq) == "ingested" and await remote.sync(kb.ctx, kb.tenant_id, faq) == "synced"
    assert len(stub.vector_stores) == 1 and len(store["file_ids"]) == 2
    faq_file = (await kb.doc(faq))["openai_file_id"]

    # new content: the new file is attached, then the old one detached and deleted
    site.pages["/manual.md"] = Page(manual(2), "text/markdown")
    assert await kb.run(doc) == "ingested"
    assert await remote.sync(kb.ctx, kb.tenant_id, doc) == "synced"
    new_file = (await kb.doc(doc))["openai_file_id"]
    assert new_file != file_id and sorted(store["file_ids"]) == sorted([faq_file, new_file])
    assert file_id not in stub.files and "version 2" in stub.files[new_file]["content"]
    assert [r["path"] for r in requests_to(stub, "DELETE", "/v1/")] == [
        f"/v1/vector_stores/{store_id}/files/{file_id}", f"/v1/files/{file_id}"]

    # a page that is gone: the document fails locally, and leaves the remote store too
    site.pages["/faq.md"] = Page(b"gone", "text/plain", status=404)
    assert await kb.run(faq) == "failed"
    assert await remote.sync(kb.ctx, kb.tenant_id, faq) == "removed"
    assert store["file_ids"] == [new_file] and faq_file not in stub.files
    assert (await kb.doc(faq))["openai_file_id"] is None
    assert await remote.sync(kb.ctx, kb.tenant_id, faq) == "nothing"


async def test_a_failed_delete_of_a_replaced_file_is_tried_again(synced: Kb, site: DocServer,
                                                                 openai_stub: OpenAIStub):
    kb, stub = synced, openai_stub
    site.pages["/manual.md"] = Page(manual(1), "text/markdown")
    doc = (await kb.add(await kb.product(), site.url("/manual.md")))["_id"]
    assert await kb.run(doc) == "ingested" and await remote.sync(kb.ctx, kb.tenant_id, doc) == "synced"
    old = (await kb.doc(doc))["openai_file_id"]
    site.pages["/manual.md"] = Page(manual(2), "text/markdown")
    assert await kb.run(doc) == "ingested"
    # upload and attach answered, then the old file's detach fails: the new file is in, the old one
    # is left to delete
    stub.script_stores(None, None, Reply(502, {"error": {"message": "bad gateway"}}))
    assert await remote.run(kb.ctx, kb.tenant_id, doc) == "retrying"
    new = (await kb.doc(doc))["openai_file_id"]
    assert new != old and old in stub.files  # the new file is recorded; the old one still exists
    assert await remote.run(kb.ctx, kb.tenant_id, doc) == "current"  # its deletion is tried first
    assert old not in stub.files and list(stub.files) == [new]
    assert stub.vector_stores[(await kb.doc(doc))["openai_vector_store_id"]]["file_ids"] == [new]


async def test_the_key_follows_the_tier_rules_of_llm_calls(make_client: Any, mailbox: Mailbox, site: DocServer,
                                                           openai_stub: OpenAIStub):
    stub = openai_stub
    stub.valid_keys = {PLATFORM, BYOK}
    client = await make_client(fetch_allow_private=True, openai_vector_stores=True,
                               openai_base_url=stub.base_url, openai_api_key=PLATFORM)
    site.pages["/faq.md"] = Page(b"# FAQ\n\nThe trial lasts fourteen days and needs no card.", "text/markdown")

    async def one_doc(kb: Kb) -> str:
        doc = (await kb.add(await kb.product(), site.url("/faq.md")))["_id"]
        assert await kb.run(doc) == "ingested"
        return doc

    trial = await signup(client, mailbox, "owner@trial.example", tier="trial")
    pro = await signup(client, mailbox, "owner@pro.example", tier="pro", name="Pro Co")
    kb_trial = Kb(client, trial.bearer, trial.tenant_id)
    kb_pro = Kb(client, pro.bearer, pro.tenant_id)

    trial_doc = await one_doc(kb_trial)
    assert await remote.sync(kb_trial.ctx, trial.tenant_id, trial_doc) == "synced"
    assert {r["key"] for r in requests_to(stub, "POST", "/v1/")} == {PLATFORM}

    stub.requests.clear()
    doc = await one_doc(kb_pro)  # pro and enterprise are billed on their own key: none yet
    assert await remote.sync(kb_pro.ctx, pro.tenant_id, doc) == "no_key"
    assert stub.requests == [] and (await kb_pro.doc(doc))["openai_file_id"] is None
    r = await client.put("/tenants/settings", json={"openai_api_key": BYOK}, headers=pro.bearer)
    assert r.status_code == 200, r.text
    stub.requests.clear()
    assert await remote.sync(kb_pro.ctx, pro.tenant_id, doc) == "synced"
    assert {r["key"] for r in stub.requests} == {BYOK}
    # each tenant's own store; neither sees the other's remote ids
    assert len(stub.vector_stores) == 2
    listed = (await client.get("/api/knowledge/documents", headers=trial.bearer)).json()
    assert [d["_id"] for d in listed] == [trial_doc] and listed[0]["openai_file_id"] in stub.files
    pro_doc = await kb_pro.doc(doc)
    assert pro_doc["openai_file_id"] in stub.files and pro_doc["openai_file_id"] != listed[0]["openai_file_id"]
    assert pro_doc["openai_vector_store_id"] != listed[0]["openai_vector_store_id"]


async def test_remote_failures_never_fail_ingestion_and_are_retried_with_a_growing_wait(
        make_client: Any, site: DocServer, openai_stub: OpenAIStub):
    stub = openai_stub
    client = await make_client(auth_mode="local", embedded_jobs=True, fetch_allow_private=True,
                               openai_vector_stores=True, openai_base_url=stub.base_url, openai_api_key=PLATFORM,
                               openai_vector_store_retry_seconds=0.2)
    kb = Kb(client)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("pricewise.knowledge.remote")
    logger.addHandler(handler)
    try:
        # the server is down twice, and its error message echoes the key
        down = {"error": {"message": f"upstream unavailable for key {PLATFORM}"}}
        stub.script_stores(Reply(500, down), Reply(503, down))
        site.pages["/faq.md"] = Page(b"# FAQ\n\nThe trial lasts fourteen days and needs no card.", "text/markdown")
        product = await kb.product()
        doc = (await kb.add(product, site.url("/faq.md")))["_id"]  # ingested, then synced, by the jobs
        shown: dict[str, Any] = {}
        for _ in range(600):  # the bound only keeps a broken job from hanging the suite
            shown = await kb.doc(doc)
            if shown["openai_file_id"]:
                break
            await asyncio.sleep(0.05)
        assert shown["status"] == "ingested" and shown["openai_file_id"] in stub.files, shown
        assert (await kb.search("how long is the trial", product_id=product))[0]["document_id"] == doc
        creates = [r for r in requests_to(stub, "POST", "/v1/vector_stores") if r["path"] == "/v1/vector_stores"]
        assert len(creates) == 3  # two refused, one created
        retries = [r.getMessage() for r in seen if r.levelno == logging.WARNING]
        assert len(retries) == 2
        assert "attempt 1 of 6" in retries[0] and "retrying in 0.2s" in retries[0] and "500" in retries[0]
        assert "attempt 2 of 6" in retries[1] and "retrying in 0.4s" in retries[1] and "503" in retries[1]
        assert not [r for r in seen if PLATFORM in r.getMessage()]

        # deleting the document removes its file from the store, through the queued job
        store = shown["openai_vector_store_id"]
        r = await client.delete(f"/api/knowledge/documents/{doc}")
        assert r.status_code == 200
        for _ in range(600):
            if shown["openai_file_id"] not in stub.files:  # detached first, then deleted
                break
            await asyncio.sleep(0.05)
        assert stub.vector_stores[store]["file_ids"] == [] and shown["openai_file_id"] not in stub.files
    finally:
        logger.removeHandler(handler)
