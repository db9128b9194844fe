"""Documentation ingestion through the API: PDF, HTML and Markdown from a site on loopback,
uploads, content-hash refreshes, search, deletion, and the product's documentation URLs."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from pricewise.knowledge.models import KnowledgeDocument
from pricewise.knowledge.tasks import _sweep
from tests.knowledge.conftest import Kb
from tests.knowledge.docs import BILLING_HTML, SETUP_MD, SETUP_MD_V2, security_pdf
from tests.knowledge.docserver import DocServer, Page


def _serve_all(site: DocServer) -> None:
    site.pages["/billing.html"] = Page(BILLING_HTML, "text/html; charset=utf-8")
    site.pages["/setup.md"] = Page(SETUP_MD, "text/markdown")
    site.pages["/security.pdf"] = Page(security_pdf(), "application/pdf")


async def test_pdf_html_and_markdown_are_ingested_and_searchable(kb: Kb, site: DocServer):
    _serve_all(site)
    product = await kb.product()
    ids = {}
    for name in ("billing.html", "setup.md", "security.pdf"):
        made = await kb.add(product, site.url(f"/{name}"))
        assert made["status"] == "pending" and made["chunk_count"] == 0
        assert await kb.run(made["_id"]) == "ingested"
        ids[name] = made["_id"]

    pdf = await kb.doc(ids["security.pdf"])
    assert pdf["status"] == "ingested" and pdf["error"] is None and pdf["chunk_count"] >= 1
    assert pdf["content_type"] == "application/pdf" and pdf["title"] == "Acme Security Whitepaper"
    assert pdf["content_hash"] == hashlib.sha256(site.pages["/security.pdf"].body).hexdigest()  # type: ignore[arg-type]
    html = await kb.doc(ids["billing.html"])
    assert html["title"] == "Billing FAQ - Acme Analytics" and html["content_type"] == "text/html"
    # the product's vector store is named once its first document is in
    listed = (await kb.client.get("/product/read", params={"id": product})).json()
    assert listed["vector_store_id"] == f"vs_{product}" == pdf["vector_store_id"]
    assert sorted(listed["product_documentations"]) == sorted(site.url(f"/{n}") for n in ids)

    # the HTML page's scripts, styles, navigation and footer are not documentation
    stored = " ".join(t for _, _, _, t in await kb.chunks(ids["billing.html"]))
    assert "Refunds" in stored and "Invoices" in stored
    for chrome in ("trackingPixelSecret", "trackingStyleRule", "NavigationLoginLink", "FooterBoilerplate"):
        assert chrome not in stored

    cases = {"how do I get a refund": ("billing.html", "refund the full amount"),
             "is customer data encrypted at rest": ("security.pdf", "AES-256"),
             "configure single sign-on with Okta": ("setup.md", "SAML"),
             "how long are raw usage events kept": ("setup.md", "13 months")}
    for query, (name, phrase) in cases.items():
        found = await kb.search(query, product_id=product, k=3)
        assert found, query
        best = found[0]
        assert best["document_id"] == ids[name] and phrase in best["text"], (query, found)
        assert best["source"] == site.url(f"/{name}")
        assert best["score"] >= found[-1]["score"] and 0 < best["score"] <= 1
    # a product without documents, and no product at all: nothing, or everything of the tenant
    assert await kb.search("refund", product_id=await kb.product("Other")) == []
    assert (await kb.search("refund the full amount"))[0]["document_id"] == ids["billing.html"]

    # the workspace search shows documentation as "other" results, one per document
    r = await kb.client.post("/search", json={"query": "how do I get a refund"})
    other = [x for x in r.json()["results"] if x["type"] == "other"]
    assert other[0]["id"] == ids["billing.html"] and "refund the full amount" in other[0]["description"]
    assert other[0]["title"] == site.url("/billing.html") and len({x["id"] for x in other}) == len(other)
    r = await kb.client.post("/search", json={"query": "how do I get a refund", "types": ["product"]})
    assert all(x["type"] == "product" for x in r.json()["results"])


async def test_same_content_is_not_rewritten_and_changed_content_replaces_chunks(kb: Kb, site: DocServer):
    site.pages["/setup.md"] = Page(SETUP_MD, "text/markdown")
    product = await kb.product()
    doc = (await kb.add(product, site.url("/setup.md")))["_id"]
    assert await kb.run(doc) == "ingested"
    before = await kb.chunks(doc)
    first = await kb.doc(doc)

    # the same URL again is the same document, refreshed; the same bytes change nothing
    again = await kb.add(product, site.url("/setup.md"), status=200)
    assert again["_id"] == doc
    assert await kb.run(doc) == "unchanged"
    assert await kb.chunks(doc) == before  # same rows, same ids
    after = await kb.doc(doc)
    assert after["content_hash"] == first["content_hash"] and after["fetched_at"] >= first["fetched_at"]

    site.pages["/setup.md"] = Page(SETUP_MD_V2, "text/markdown")
    r = await kb.client.post(f"/api/knowledge/documents/{doc}/refresh")
    assert r.status_code == 202 and r.json()["_id"] == doc
    assert await kb.run(doc) == "ingested"
    replaced = await kb.chunks(doc)
    assert replaced != before
    assert [o for _, _, o, _ in replaced] == list(range(len(replaced)))
    text = " ".join(t for *_, t in replaced)
    assert "25 months" in text and "13 months" not in text
    assert (await kb.doc(doc))["content_hash"] == hashlib.sha256(SETUP_MD_V2).hexdigest()
    found = await kb.search("how long are raw usage events kept", product_id=product, k=1)
    assert "25 months" in found[0]["text"]


async def test_uploads_are_ingested_and_their_files_removed(kb: Kb, site: DocServer):
    product = await kb.product()
    r = await kb.upload(product, "security.pdf", security_pdf(), "application/pdf")
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["filename"] == "security.pdf" and made["source_url"] is None and made["status"] == "pending"
    kept = kb.ctx.settings.var_dir / "uploads" / kb.tenant_id / made["_id"]
    assert kept.exists()
    assert await kb.run(made["_id"]) == "ingested"
    assert not kept.exists()  # temporary file removed
    found = await kb.search("penetration tests and SOC 2 audit", product_id=product, k=1)
    assert found[0]["source"] == "security.pdf" and "SOC 2" in found[0]["text"]
    # once read, an upload is refreshed by uploading it again
    r = await kb.client.post(f"/api/knowledge/documents/{made['_id']}/refresh")
    assert r.status_code == 409 and "uploading the file again" in r.json()["error"]["message"]

    md = await kb.upload(product, "notes.md", SETUP_MD, "application/octet-stream")  # type from the name
    assert md.status_code == 201 and md.json()["content_type"] == "text/markdown"
    # an upload refused when read: failed, with its reason, and its file removed too
    bad = await kb.upload(product, "empty.txt", b"   \n\n  ", "text/plain")
    assert bad.status_code == 201
    assert await kb.run(bad.json()["_id"]) == "failed"
    failed = await kb.doc(bad.json()["_id"])
    assert failed["error"] == "no text was found in the document" and failed["chunk_count"] == 0
    assert not (kept.parent / bad.json()["_id"]).exists()


async def test_uploads_are_checked_before_anything_is_kept(make_client):
    client = await make_client(auth_mode="local", max_file_size_mb=1)
    kb = Kb(client)
    product = await kb.product()
    r = await kb.upload(product, "big.txt", b"a" * (1024 * 1024 + 1), "text/plain")
    assert r.status_code == 413 and r.json()["error"]["fields"][0]["field"] == "file"
    r = await kb.upload(product, "fake.pdf", b"<html>not a pdf</html>", "application/pdf")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "file"
    assert "claims to be a PDF but is not one" in r.json()["error"]["message"]
    r = await kb.upload(product, "picture.png", b"\x89PNG\r\n\x1a\n", "image/png")
    assert r.status_code == 422 and "image/png is not accepted" in r.json()["error"]["message"]
    r = await kb.upload(product, "empty.md", b"", "text/markdown")
    assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
    r = await kb.upload("f" * 24, "ok.md", SETUP_MD, "text/markdown")
    assert r.status_code == 404
    assert (await client.get("/api/knowledge/documents")).json() == []
    uploads = kb.ctx.settings.var_dir / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*.*"))


async def test_delete_removes_a_document_from_search(kb: Kb, site: DocServer):
    _serve_all(site)
    product = await kb.product()
    billing = (await kb.add(product, site.url("/billing.html")))["_id"]
    setup = (await kb.add(product, site.url("/setup.md")))["_id"]
    for d in (billing, setup):
        await kb.run(d)
    assert (await kb.search("how do I get a refund", product_id=product, k=1))[0]["document_id"] == billing
    r = await kb.client.request("DELETE", f"/api/knowledge/documents/{billing}")
    assert r.status_code == 200 and r.json() == {"success": True}
    found = await kb.search("how do I get a refund", product_id=product, k=10)
    assert found and all(p["document_id"] == setup for p in found)
    assert await kb.chunks(billing) == []
    assert (await kb.client.get(f"/api/knowledge/documents/{billing}")).status_code == 404
    listed = await kb.client.get("/api/knowledge/documents", params={"product_id": product})
    assert [d["_id"] for d in listed.json()] == [setup] and listed.headers["X-Total-Count"] == "1"
    # its URL left the product's documentation list
    product_doc = (await kb.client.get("/product/read", params={"id": product})).json()
    assert product_doc["product_documentations"] == [site.url("/setup.md")]
    # a job queued before the delete finds nothing to do
    assert await kb.run(billing) == "missing"


async def test_product_documentation_urls_are_ingested_after_commit(make_client, site: DocServer):
    _serve_all(site)
    client = await make_client(auth_mode="local", embedded_jobs=True, fetch_allow_private=True)
    kb = Kb(client)
    sub = kb.ctx.events.subscribe(kb.tenant_id)
    product = await kb.product(product_documentations=[site.url("/setup.md")])
    events = []
    for _ in range(60):  # the embedded consumer polls at most every second
        ev = await sub.get(1.0)
        if ev and ev.type == "vector_store_updated":
            events.append(ev)
            break
    assert events, "no vector_store_updated event"
    data = events[0].data
    listed = (await client.get("/api/knowledge/documents", params={"product_id": product})).json()
    assert len(listed) == 1 and listed[0]["status"] == "ingested"
    assert data == {"product_id": product, "vector_store_id": f"vs_{product}", "document_id": listed[0]["_id"],
                    "chunks": listed[0]["chunk_count"], "status": "ingested"}

    # a URL added through the product update is ingested; a URL dropped from it is removed
    r = await client.put("/product/update", json={"id": product, "product_documentations": [
        site.url("/billing.html")]})
    assert r.status_code == 200
    for _ in range(60):
        docs = (await client.get("/api/knowledge/documents", params={"product_id": product})).json()
        if docs and docs[0]["status"] != "pending":
            break
        await asyncio.sleep(0.5)
    assert [(d["source_url"], d["status"]) for d in docs] == [(site.url("/billing.html"), "ingested")]
    found = await kb.search("configure single sign-on", product_id=product, k=10)
    assert found and all(p["source"] == site.url("/billing.html") for p in found)


async def _age(kb: Kb, document_id: str, **column_ages: timedelta) -> None:
    async with kb.ctx.db.session() as s:
        await s.execute(update(KnowledgeDocument).where(KnowledgeDocument.id == document_id).values(
            **{column: datetime.now(UTC) - age for column, age in column_ages.items()}))
        await s.commit()


async def test_the_sweep_ingests_what_was_left_pending_and_rechecks_old_pages(kb: Kb, site: DocServer):
    site.pages["/setup.md"] = Page(SETUP_MD, "text/markdown")
    product = await kb.product()
    doc = (await kb.add(product, site.url("/setup.md")))["_id"]
    assert await _sweep(kb.ctx) == {}  # pending, but its job may still be on its way
    await _age(kb, doc, updated_at=timedelta(minutes=11))  # as if the queue had been down
    assert await _sweep(kb.ctx) == {"ingested": 1}
    assert (await kb.doc(doc))["status"] == "ingested"
    assert await _sweep(kb.ctx) == {}
    await _age(kb, doc, fetched_at=timedelta(days=2))
    assert await _sweep(kb.ctx) == {"unchanged": 1}
    site.pages["/setup.md"] = Page(SETUP_MD_V2, "text/markdown")
    await _age(kb, doc, fetched_at=timedelta(days=2))
    assert await _sweep(kb.ctx) == {"ingested": 1}
    assert "25 months" in (await kb.search("how long are raw usage events kept", product_id=product, k=1))[0]["text"]
