"""The SSRF table through the API, with nothing stored for any of it; and one tenant's
documentation never reaching another."""

from __future__ import annotations

import pytest

from tests.knowledge.conftest import Kb
from tests.knowledge.docs import BILLING_HTML, SETUP_MD
from tests.knowledge.docserver import DocServer, Page, endless
from tests.support import signup

MB = 1024 * 1024


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:{port}/setup.md", "loopback address"),
    ("http://[::1]:{port}/setup.md", "loopback address"),
    ("http://10.0.0.1/setup.md", "private address"),
    ("http://169.254.169.254/latest/meta-data/iam/", "cloud metadata address"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("gopher://127.0.0.1:{port}/_GET", "only http:// and https://"),
])
async def test_refused_addresses_answer_422_on_url_and_store_nothing(make_client, site: DocServer, url, reason):
    site.pages["/setup.md"] = Page(SETUP_MD, "text/markdown")
    kb = Kb(await make_client(auth_mode="local"))  # the defaults: nothing private is fetched
    product = await kb.product()
    r = await kb.client.post("/api/knowledge/documents", json={"product_id": product,
                                                               "url": url.format(port=site.port)})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["fields"][0]["field"] == "url" and reason in err["fields"][0]["message"]
    assert (await kb.client.get("/api/knowledge/documents")).json() == []
    assert await kb.chunks() == [] and site.hits == []
    assert (await kb.client.get("/product/read", params={"id": product})).json()["product_documentations"] == []


async def test_refusals_found_while_fetching_leave_a_failed_document_without_chunks(make_client, site: DocServer):
    inner = DocServer()
    inner.pages["/admin"] = Page(b"internal admin page", "text/plain")
    inner.start()
    try:
        # the site is allowed as an on-premises host; nothing else on loopback is
        kb = Kb(await make_client(auth_mode="local", fetch_allow_hosts=site.host_port, max_file_size_mb=1))
        site.pages["/moved.md"] = Page(b"", None, status=302, headers={"Location": inner.url("/admin")})
        site.pages["/huge.txt"] = Page(endless(200 * MB), "text/plain")
        site.pages["/manual.pdf"] = Page(b"<html><body>Sign in to download</body></html>", "application/pdf")
        product = await kb.product()
        expected = {"/moved.md": "a redirect was refused: the URL points to a loopback address, which is not fetched",
                    "/huge.txt": "the document is larger than the 1 MB limit (MAX_FILE_SIZE_MB)",
                    "/manual.pdf": "the document claims to be a PDF but is not one (it does not start with %PDF-)"}
        for path, reason in expected.items():
            doc = await kb.add(product, site.url(path))
            assert await kb.run(doc["_id"]) == "failed"
            got = await kb.doc(doc["_id"])
            assert (got["status"], got["error"], got["chunk_count"], got["content_hash"]) == ("failed", reason, 0, None)
        assert inner.hits == []
        assert site.sent < 40 * MB  # the 200 MB body was abandoned near the limit
        assert await kb.chunks() == []
        assert await kb.search("admin page sign in", product_id=product) == []
        # a private URL saved on the product is refused the same way when its turn comes
        other = await kb.product("Other", product_documentations=["http://10.0.0.1/docs"])
        [doc] = (await kb.client.get("/api/knowledge/documents", params={"product_id": other})).json()
        assert await kb.run(doc["_id"]) == "failed"
        assert (await kb.doc(doc["_id"]))["error"] == "the URL points to a private address, which is not fetched"
        listed = (await kb.client.get("/api/knowledge/documents", params={"status": "ingested"})).json()
        assert listed == []
    finally:
        inner.stop()


async def test_another_tenants_documentation_never_appears(make_client, mailbox, site: DocServer):
    site.pages["/billing.html"] = Page(BILLING_HTML, "text/html")
    site.pages["/setup.md"] = Page(SETUP_MD, "text/markdown")
    client = await make_client(fetch_allow_private=True, rate_limit_requests_per_minute=10_000)
    a_acct = await signup(client, mailbox, "a@docs.example", name="A")
    b_acct = await signup(client, mailbox, "b@docs.example", name="B")
    a = Kb(client, a_acct.bearer, a_acct.tenant_id)
    b = Kb(client, b_acct.bearer, b_acct.tenant_id)
    a_product, b_product = await a.product(), await b.product()
    a_doc = (await a.add(a_product, site.url("/billing.html")))["_id"]
    b_doc = (await b.add(b_product, site.url("/setup.md")))["_id"]
    # B also has the billing page: the same content, its own document
    b_billing = (await b.add(b_product, site.url("/billing.html")))["_id"]
    for kb, doc in ((a, a_doc), (b, b_doc), (b, b_billing)):
        assert await kb.run(doc) == "ingested"
    # the job of one tenant cannot touch a document of another
    assert await b.run(a_doc) == "missing"

    for query in ("how do I get a refund", "configure single sign-on", "invoices"):
        seen_by_b = await b.search(query, k=50)
        assert seen_by_b and {p["document_id"] for p in seen_by_b} <= {b_doc, b_billing}
        seen_by_a = await a.search(query, k=50)
        assert {p["document_id"] for p in seen_by_a} == {a_doc}
    r = await client.post("/api/knowledge/search", json={"query": "refund", "product_id": a_product},
                          headers=b.headers)
    assert r.status_code == 404
    assert (await client.get("/api/knowledge/documents", params={"product_id": a_product},
                             headers=b.headers)).json() == []
    for method, path in (("GET", f"/api/knowledge/documents/{a_doc}"), ("DELETE", f"/api/knowledge/documents/{a_doc}"),
                         ("POST", f"/api/knowledge/documents/{a_doc}/refresh")):
        assert (await client.request(method, path, headers=b.headers)).status_code == 404
    r = await b.upload(a_product, "notes.md", SETUP_MD, "text/markdown")
    assert r.status_code == 404
    r = await client.post("/api/knowledge/documents", json={"product_id": a_product, "url": site.url("/setup.md")},
                          headers=b.headers)
    assert r.status_code == 404
    # A's document is untouched by all of that
    assert (await a.doc(a_doc))["status"] == "ingested"
    assert [d["_id"] for d in (await client.get("/api/knowledge/documents", headers=a.headers)).json()] == [a_doc]
