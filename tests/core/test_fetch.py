"""core/fetch.py against a real HTTP server on loopback: what is refused (addresses, schemes,
redirects, size, type, signature) and with which reason, and what is fetched."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator

import pytest

from pricewise.core.fetch import MB, FetchError, FetchPolicy, check_url, fetch
from pricewise.settings import Settings
from tests.knowledge.docserver import DocServer, Page, endless
from tests.support import free_port

STRICT = FetchPolicy(max_bytes=MB)  # the defaults: nothing private
MARKDOWN = b"# Setup guide\n\nInstall the agent, then connect your billing account.\n"


@pytest.fixture
def site() -> Iterator[DocServer]:
    server = DocServer()
    server.start()
    yield server
    server.stop()


def _open(site: DocServer, **kw: object) -> FetchPolicy:
    """A policy that allows this one loopback server (as an on-premises host), nothing else."""
    return FetchPolicy(max_bytes=kw.pop("max_bytes", MB), allow_hosts=frozenset({site.host_port}), **kw)  # type: ignore[arg-type]


async def _refused(url: str, policy: FetchPolicy) -> str:
    with pytest.raises(FetchError) as err:
        await fetch(url, policy)
    return err.value.reason


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:{port}/guide.md", "loopback address"),
    ("http://[::1]:{port}/guide.md", "loopback address"),
    ("http://10.0.0.1/guide.md", "private address"),
    ("http://192.168.1.20/guide.md", "private address"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata address"),
    ("http://[::ffff:127.0.0.1]:{port}/guide.md", "loopback address"),  # IPv4 mapped in IPv6
    ("http://2130706433:{port}/guide.md", "loopback address"),  # 127.0.0.1 as one number
    ("http://0x7f.1:{port}/guide.md", "loopback address"),
    ("http://0.0.0.0:{port}/guide.md", "unspecified address"),
    ("http://localhost:{port}/guide.md", "reserved for local or private use"),
    ("http://docs.internal/guide.md", "reserved for local or private use"),
    ("http://intranet/guide.md", "single-label host names"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("gopher://127.0.0.1:{port}/_GET%20/", "only http:// and https://"),
    ("ftp://127.0.0.1/guide.md", "only http:// and https://"),
    ("http://admin:secret@127.0.0.1:{port}/guide.md", "user name or password"),
])
async def test_the_ssrf_table_is_refused_with_a_reason_before_any_connection(site, url, reason):
    site.pages["/guide.md"] = Page(MARKDOWN, "text/markdown")
    url = url.format(port=site.port)
    got = await _refused(url, STRICT)
    assert reason in got
    with pytest.raises(FetchError):
        await check_url(url, STRICT)  # what the routes ask up front
    assert site.hits == []  # refused before connecting: the server saw nothing
    assert "Traceback" not in got and "Errno" not in got


async def test_metadata_addresses_stay_refused_when_private_targets_are_allowed(site):
    loose = FetchPolicy(max_bytes=MB, allow_private=True)
    assert "cloud metadata" in await _refused("http://169.254.169.254/latest/meta-data/", loose)
    assert "cloud metadata" in await _refused("http://[::ffff:169.254.169.254]/", loose)
    # ... while the local server is reachable by name and by address
    site.pages["/guide.md"] = Page(MARKDOWN, "text/markdown")
    got = await fetch(site.url("/guide.md", host="localhost"), loose)
    assert got.body == MARKDOWN
    assert site.hits[-1]["host"] == f"localhost:{site.port}"  # the name travels in the Host header


async def test_an_allowed_host_is_fetched_with_type_hash_and_final_url(site):
    site.pages["/guide.md"] = Page(MARKDOWN, "text/markdown; charset=utf-8")
    site.pages["/moved"] = Page(b"", None, status=301, headers={"Location": "/guide.md"})
    got = await fetch(site.url("/moved"), _open(site))
    assert got.content_type == "text/markdown" and got.charset == "utf-8"
    assert got.body == MARKDOWN and got.sha256 == hashlib.sha256(MARKDOWN).hexdigest()
    assert got.final_url == site.url("/guide.md")
    # the allowance is for that host and port only
    assert "loopback" in await _refused(f"http://127.0.0.1:{site.port + 1}/guide.md", _open(site))


async def test_a_redirect_to_loopback_is_refused_and_never_followed(site):
    inner = DocServer()  # a service on loopback that must not be reached
    inner.pages["/admin"] = Page(b"secret", "text/plain")
    inner.start()
    try:
        site.pages["/go"] = Page(b"", None, status=302, headers={"Location": inner.url("/admin")})
        site.pages["/go-local"] = Page(b"", None, status=307,
                                       headers={"Location": f"http://localhost:{inner.port}/admin"})
        site.pages["/go-meta"] = Page(b"", None, status=302, headers={"Location": "http://169.254.169.254/"})
        site.pages["/go-file"] = Page(b"", None, status=302, headers={"Location": "file:///etc/passwd"})
        reason = await _refused(site.url("/go"), _open(site))
        assert reason.startswith("a redirect was refused") and "loopback address" in reason
        assert "reserved" in await _refused(site.url("/go-local"), _open(site))
        assert "cloud metadata" in await _refused(site.url("/go-meta"), _open(site))
        assert "only http:// and https://" in await _refused(site.url("/go-file"), _open(site))
        assert inner.hits == []
    finally:
        inner.stop()


async def test_redirects_are_followed_at_most_the_limit(site):
    for i in range(4):
        site.pages[f"/r{i}"] = Page(b"", None, status=302, headers={"Location": f"/r{i + 1}"})
    site.pages["/r4"] = Page(MARKDOWN, "text/markdown")
    assert (await fetch(site.url("/r0"), _open(site, max_redirects=4))).body == MARKDOWN
    assert "too many redirects (more than 3)" in await _refused(site.url("/r0"), _open(site, max_redirects=3))
    site.pages["/nowhere"] = Page(b"", None, status=302)
    assert "without a location" in await _refused(site.url("/nowhere"), _open(site))


async def test_a_200_mb_body_is_abandoned_at_the_limit(site):
    total = 200 * MB
    site.pages["/huge.txt"] = Page(endless(total), "text/plain")  # no Content-Length: streamed
    reason = await _refused(site.url("/huge.txt"), _open(site, max_bytes=MB))
    assert reason == "the document is larger than the 1 MB limit (MAX_FILE_SIZE_MB)"
    assert site.sent < 32 * MB  # the limit, plus what the sockets buffered before the client hung up
    # announced up front: refused on the header, before the body is read
    site.sent = 0
    site.pages["/huge-announced.txt"] = Page(endless(total), "text/plain", length=total)
    assert "larger than the 1 MB limit" in await _refused(site.url("/huge-announced.txt"), _open(site, max_bytes=MB))
    assert site.sent < 32 * MB


async def test_a_compressed_body_cannot_inflate_past_the_limit(site):
    bomb = gzip.compress(b"a" * (64 * MB))  # 64 kB on the wire
    site.pages["/bomb.txt"] = Page(bomb, "text/plain", headers={"Content-Encoding": "gzip"})
    assert "larger than the 1 MB limit" in await _refused(site.url("/bomb.txt"), _open(site, max_bytes=MB))
    small = gzip.compress(MARKDOWN)
    site.pages["/small.md"] = Page(small, "text/markdown", headers={"Content-Encoding": "gzip"})
    assert (await fetch(site.url("/small.md"), _open(site))).body == MARKDOWN


@pytest.mark.parametrize(("content_type", "body", "reason"), [
    ("application/pdf", b"<html><body>not a pdf</body></html>", "claims to be a PDF but is not one"),
    ("application/pdf", b"", "the document is empty"),
    ("text/plain", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "holds binary data"),
    ("text/html", b"MZ\x90\x00\x03\x00\x00\x00", "holds binary data"),
    ("image/png", b"\x89PNG\r\n\x1a\n", "content type image/png is not accepted"),
    ("application/octet-stream", b"data", "the content type is missing"),
])
async def test_types_and_signatures_must_agree(site, content_type, body, reason):
    site.pages["/doc"] = Page(body, content_type)
    assert reason in await _refused(site.url("/doc"), _open(site))


async def test_a_generic_type_is_read_from_the_extension(site):
    site.pages["/manual.pdf"] = Page(b"%PDF-1.4\n" + b"x" * 2000, "application/octet-stream")
    site.pages["/fake.pdf"] = Page(b"<html>hello</html>", "application/octet-stream")
    assert (await fetch(site.url("/manual.pdf"), _open(site))).content_type == "application/pdf"
    assert "not one" in await _refused(site.url("/fake.pdf"), _open(site))
    site.pages["/notes.md"] = Page(MARKDOWN, "text/plain")
    assert (await fetch(site.url("/notes.md"), _open(site))).content_type == "text/markdown"


async def test_errors_and_slow_servers_give_short_reasons(site):
    site.pages["/gone"] = Page(b"gone", "text/plain", status=410)
    assert await _refused(site.url("/gone"), _open(site)) == "the server answered HTTP 410"
    site.pages["/slow"] = Page(MARKDOWN, "text/markdown", delay=3)
    reason = await _refused(site.url("/slow"), _open(site, timeout=0.5))
    assert reason in ("the server did not answer in time", "the download took longer than 0.5 s")
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    assert await _refused(f"http://{closed}/x.md", FetchPolicy(max_bytes=MB, allow_hosts=frozenset({closed}))) \
        == "could not connect to the server"


def test_settings_carry_the_policy():
    s = Settings(fetch_allow_hosts="docs.corp.example:8443, [::1]:9000", fetch_timeout_seconds=5,
                 fetch_max_redirects=2, max_file_size_mb=3)
    p = FetchPolicy.from_settings(s)
    assert p.allow_hosts == frozenset({"docs.corp.example:8443", "[::1]:9000"})
    assert (p.timeout, p.max_redirects, p.max_bytes, p.allow_private) == (5, 2, 3 * MB, False)
    with pytest.raises(ValueError, match="host:port"):
        Settings(fetch_allow_hosts="docs.corp.example")
