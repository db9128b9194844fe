"""Safe outbound HTTP for documents that users point us at (SSRF guard, size and type limits).

- http and https only; no credentials in the URL.
- The host is resolved here and every address it resolves to must be public: private, loopback,
  link-local, multicast, reserved and cloud-metadata addresses are refused (metadata ones always;
  the others unless `fetch_allow_private`). Names under reserved domains (.localhost, .example,
  .test, .invalid, .local, .internal) and single-label names are refused without a DNS lookup.
- The connection goes to the checked address itself (the URL's host is replaced by it; Host
  header and TLS SNI keep the name, so certificates are verified against the name): a DNS answer
  that changes between the check and the connection cannot redirect us.
- Redirects are followed by hand, at most `fetch_max_redirects`, each target checked again.
- The body is streamed and abandoned as soon as it passes MAX_FILE_SIZE_MB (compressed bodies are
  inflated with a bounded output, so a small bomb cannot expand past the limit either).
- The content type must be PDF, HTML, Markdown or plain text, and the first bytes must agree
  with it (a PDF starts with %PDF-, text holds no binary signature or NUL bytes).

Every refusal is a `FetchError` whose `reason` is safe to show: it never carries a resolved
address, a stack trace or a library message.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from pricewise.settings import Settings

MB = 1024 * 1024
PDF, HTML, MARKDOWN, TEXT = "application/pdf", "text/html", "text/markdown", "text/plain"
KINDS = (PDF, HTML, MARKDOWN, TEXT)
_TYPES = {"application/pdf": PDF, "application/x-pdf": PDF, "text/html": HTML, "application/xhtml+xml": HTML,
          "text/markdown": MARKDOWN, "text/x-markdown": MARKDOWN, "text/plain": TEXT}
_EXTENSIONS = {".pdf": PDF, ".html": HTML, ".htm": HTML, ".md": MARKDOWN, ".markdown": MARKDOWN,
               ".txt": TEXT, ".text": TEXT}
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/binary",
                      "application/unknown"})
_BINARY_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF", b"MZ", b"\x1f\x8b",
                 b"Rar!", b"7z\xbc\xaf", b"\xd0\xcf\x11\xe0", b"\x00\x00\x01\x00", b"RIFF", b"OggS", b"fLaC")
HEAD = 1024  # bytes inspected for the signature
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RESERVED_SUFFIXES = (".localhost", ".example", ".invalid", ".test", ".local", ".internal", ".home.arpa",
                      ".lan", ".intranet", ".corp")
# Metadata services of the clouds: refused even when private targets are allowed.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "169.254.169.123", "fd00:ec2::254", "fd00:ec2::23",
    "100.100.100.200", "168.63.129.16", "192.0.0.192"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "pricewise-docs/1.0"


class FetchError(Exception):
    """A fetch refused or failed; `reason` is meant for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int
    timeout: float = 20.0
    max_redirects: int = 5
    allow_private: bool = False
    allow_hosts: frozenset[str] = frozenset()  # "host:port", lower case; IPv6 hosts in brackets

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(max_bytes=settings.max_file_size_mb * MB, timeout=settings.fetch_timeout_seconds,
                   max_redirects=settings.fetch_max_redirects, allow_private=settings.fetch_allow_private,
                   allow_hosts=settings.fetch_allowed_hosts)


@dataclass(frozen=True)
class Fetched:
    final_url: str
    content_type: str  # one of KINDS
    body: bytes
    sha256: str
    charset: str | None = None


# --- addresses ---------------------------------------------------------------------------

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_v4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: Address, allow_private: bool = False) -> str | None:
    """Why an address may not be fetched (a short noun phrase), or None when it may."""
    inner = _embedded_v4(ip)
    if inner is not None:
        return address_refusal(inner, allow_private)
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _literal(host: str) -> Address | None:
    """An IP literal, including the legacy IPv4 spellings (2130706433, 0x7f.1, 127.1) that
    resolvers accept."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-Fx.]+", host) and not re.fullmatch(r"[a-fA-F.]+", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str  # IDNA-encoded name or IP literal without brackets
    port: int


def parse_url(raw: str | httpx.URL) -> _Target:
    try:
        url = raw if isinstance(raw, httpx.URL) else httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchError("not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise FetchError("only http:// and https:// URLs are fetched")
    if url.userinfo:
        raise FetchError("URLs with a user name or password are not fetched")
    try:
        host = url.raw_host.decode("ascii").strip("[]").rstrip(".").lower()
    except UnicodeDecodeError:
        raise FetchError("not a valid host name") from None
    if not host:
        raise FetchError("the URL has no host")
    return _Target(url, host, url.port or (443 if url.scheme == "https" else 80))


def _allow_key(t: _Target) -> str:
    host = f"[{t.host}]" if ":" in t.host else t.host
    return f"{host}:{t.port}"


async def resolve(t: _Target, policy: FetchPolicy) -> Address:
    """The checked address to connect to for a target."""
    allowed = _allow_key(t) in policy.allow_hosts
    literal = _literal(t.host)
    if literal is not None:
        why = None if allowed else address_refusal(literal, policy.allow_private)
        if why:
            raise FetchError(f"the URL points to {why}, which is not fetched")
        return literal
    if not allowed and not policy.allow_private:
        if t.host == "localhost" or t.host.endswith(_RESERVED_SUFFIXES):
            raise FetchError("the host name is reserved for local or private use and is not fetched")
        if "." not in t.host:
            raise FetchError("single-label host names are not fetched; use a fully qualified name")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(t.host, t.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchError("the host name could not be resolved") from None
    addresses: list[Address] = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise FetchError("the host name could not be resolved")
    if not allowed:
        # Every address must be public: a name that also resolves inward is refused outright.
        for ip in addresses:
            why = address_refusal(ip, policy.allow_private)
            if why:
                raise FetchError(f"the host name resolves to {why}, which is not fetched")
    return addresses[0]


async def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse a URL up front (scheme, host, addresses): what a route can answer right away."""
    target = parse_url(url)
    try:
        async with asyncio.timeout(min(policy.timeout, 10.0)):
            await resolve(target, policy)
    except TimeoutError:
        raise FetchError("the host name could not be resolved in time") from None


# --- content types -----------------------------------------------------------------------

def _safe_token(v: str) -> str:
    return re.sub(r"[^\w.+/-]", "", v)[:80] or "unknown"


def classify(claimed: str | None, name: str) -> str:
    """The document kind from a claimed media type, or from the name's extension when the claim
    is missing or generic (application/octet-stream)."""
    media = (claimed or "").split(";", 1)[0].strip().lower()
    ext = PurePosixPath(name.lower()).suffix
    if media in _TYPES:
        kind = _TYPES[media]
        return MARKDOWN if kind == TEXT and _EXTENSIONS.get(ext) == MARKDOWN else kind
    if media in _GENERIC:
        if ext in _EXTENSIONS:
            return _EXTENSIONS[ext]
        raise FetchError("the content type is missing and the name has no known extension; "
                         "PDF, HTML, Markdown and plain text are accepted")
    raise FetchError(f"content type {_safe_token(media)} is not accepted; PDF, HTML, Markdown and plain text are")


def check_signature(kind: str, head: bytes) -> None:
    """The first bytes must agree with the kind claimed."""
    if not head:
        raise FetchError("the document is empty")
    if kind == PDF:
        if not head.startswith(b"%PDF-"):
            raise FetchError("the document claims to be a PDF but is not one (it does not start with %PDF-)")
        return
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head[:HEAD]:
        raise FetchError(f"the document claims to be {kind} text but holds binary data")


def charset_of(claimed: str | None) -> str | None:
    m = re.search(r"charset=\"?([\w.:-]+)", claimed or "", re.IGNORECASE)
    return m.group(1).lower() if m else None


# --- fetching ----------------------------------------------------------------------------

class _Inflater:
    """Content-Encoding undone with a bounded output per call (no decompression bombs)."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise FetchError(f"content encoding {_safe_token(encoding)} is not supported")

    def feed(self, data: bytes, room: int) -> bytes:
        """At most room + 1 bytes: one past the room is enough to know the limit is passed."""
        if self._z is None:
            return data
        try:
            return self._z.decompress(data, room + 1)
        except zlib.error:
            raise FetchError("the compressed body is corrupt") from None


def _too_large(policy: FetchPolicy) -> FetchError:
    return FetchError(f"the document is larger than the {policy.max_bytes // MB} MB limit (MAX_FILE_SIZE_MB)")


async def _read(resp: httpx.Response, target: _Target, policy: FetchPolicy) -> Fetched:
    length = resp.headers.get("content-length", "")
    if length.isdigit() and int(length) > policy.max_bytes:  # said up front: not a byte read
        raise _too_large(policy)
    claimed = resp.headers.get("content-type")
    kind = classify(claimed, target.url.path)
    inflater = _Inflater(resp.headers.get("content-encoding", ""))
    body = bytearray()
    checked = False
    async for raw in resp.aiter_raw():
        body += inflater.feed(raw, policy.max_bytes - len(body))
        if len(body) > policy.max_bytes:
            raise _too_large(policy)
        if not checked and len(body) >= HEAD:
            check_signature(kind, bytes(body[:HEAD]))
            checked = True
    if not checked:
        check_signature(kind, bytes(body))
    data = bytes(body)
    return Fetched(final_url=str(target.url), content_type=kind, body=data,
                   sha256=hashlib.sha256(data).hexdigest(), charset=charset_of(claimed))


async def _fetch(url: str, policy: FetchPolicy) -> Fetched:
    target = parse_url(url)
    timeout = httpx.Timeout(policy.timeout, connect=min(10.0, policy.timeout))
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate, identity",
               "Accept": "application/pdf, text/html, text/markdown, text/plain;q=0.9, */*;q=0.1"}
    # trust_env=False: a proxy from the environment would make the connection for us, to
    # whatever address it resolves, defeating the check.
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout,
                                 headers=headers) as client:
        for hop in range(policy.max_redirects + 1):
            try:
                ip = await resolve(target, policy)
            except FetchError as exc:
                if hop:
                    raise FetchError(f"a redirect was refused: {exc.reason}") from None
                raise
            pinned = target.url.copy_with(host=str(ip))
            ext = {"sni_hostname": target.host} if target.url.scheme == "https" and _literal(target.host) is None \
                else {}
            request = client.build_request("GET", pinned, headers={"Host": target.url.netloc.decode("ascii")},
                                           extensions=ext)
            resp = await client.send(request, stream=True)
            try:
                if resp.status_code in _REDIRECTS:
                    location = resp.headers.get("location")
                    if not location:
                        raise FetchError(f"the server answered a redirect ({resp.status_code}) without a location")
                    try:
                        target = parse_url(target.url.join(location))
                    except FetchError as exc:
                        raise FetchError(f"a redirect was refused: {exc.reason}") from None
                    continue
                if not 200 <= resp.status_code < 300:
                    raise FetchError(f"the server answered HTTP {resp.status_code}")
                return await _read(resp, target, policy)
            finally:
                await resp.aclose()
    raise FetchError(f"too many redirects (more than {policy.max_redirects})")


async def fetch(url: str, policy: FetchPolicy) -> Fetched:
    """GET a document under the policy: checked addresses, bounded size, time and redirects."""
    try:
        async with asyncio.timeout(policy.timeout):
            return await _fetch(url, policy)
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError(f"the download took longer than {policy.timeout:g} s") from None
    except httpx.TimeoutException:
        raise FetchError("the server did not answer in time") from None
    except httpx.ConnectError:
        raise FetchError("could not connect to the server") from None
    except httpx.HTTPError:
        raise FetchError("the server's answer could not be read") from None
