"""Text out of documents: PDF (pypdf), HTML (a stdlib parser that keeps the readable text and
drops scripts, styles, navigation and other chrome), Markdown and plain text as they are.

Pure: bytes in, text out; nothing here touches the web or the database.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser

HTML, PDF, MARKDOWN, TEXT = "text/html", "application/pdf", "text/markdown", "text/plain"
MAX_PDF_PAGES = 2000
MAX_TEXT_CHARS = 20_000_000  # ~20 MB of text: far past any manual, and a bound on the work below
# Elements whose content is never documentation text.
_SKIP = frozenset({"script", "style", "nav", "noscript", "template", "svg", "iframe", "footer", "head", "form",
                   "button", "select", "canvas", "object"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
_BLOCK = frozenset({"p", "div", "section", "article", "main", "header", "aside", "li", "ul", "ol", "dl", "dt", "dd",
                    "h1", "h2", "h3", "h4", "h5", "h6", "br", "hr", "tr", "table", "thead", "tbody", "pre",
                    "blockquote", "figure", "figcaption", "details", "summary", "address"})


class ExtractError(Exception):
    """The document holds no text we can read; `reason` is meant for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str | None


def decode(body: bytes, charset: str | None = None) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        body, charset = body[3:], "utf-8"
    for enc in filter(None, (charset, "utf-8")):
        try:
            return body.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("cp1252", errors="replace")


class _Readable(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0  # depth inside skipped elements
        self.stack: list[str] = []
        self.title: list[str] = []
        self.in_title = False
        self.h1: list[str] = []
        self.in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _VOID:
            if tag in _BLOCK and not self.skip:
                self.parts.append("\n")
            return
        hidden = any(k == "hidden" or (k == "aria-hidden" and v == "true") for k, v in attrs)
        if tag in _SKIP or hidden or self.skip:
            self.skip += 1
        self.stack.append(tag)
        if tag == "h1" and not self.h1:
            self.in_h1 = True
        if tag in _BLOCK and not self.skip:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag == "h1":
            self.in_h1 = False
        if tag in _VOID or tag not in self.stack:
            return
        while self.stack:  # close what was left open inside it (lenient HTML)
            open_tag = self.stack.pop()
            if self.skip:
                self.skip -= 1
            if open_tag == tag:
                break
        if tag in _BLOCK and not self.skip:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
            return
        if self.skip:
            return
        if self.in_h1:
            self.h1.append(data)
        self.parts.append(data)


def _tidy(text: str) -> str:
    """Runs of spaces folded, lines trimmed, at most one blank line between paragraphs."""
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.split("\n")]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def html_text(body: bytes, charset: str | None = None) -> Extracted:
    raw = decode(body, charset or _meta_charset(body))
    parser = _Readable()
    try:
        parser.feed(raw[:MAX_TEXT_CHARS])
        parser.close()
    except AssertionError:  # html.parser gives up on some malformed declarations
        pass
    title = _tidy(" ".join(parser.title)) or _tidy(" ".join(parser.h1)) or None
    # Inside a paragraph, source line breaks are only layout.
    text = "".join(parser.parts)
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return Extracted("\n\n".join(p for p in paragraphs if p), title[:300] if title else None)


def _meta_charset(body: bytes) -> str | None:
    m = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", body[:4096], re.IGNORECASE)
    return m.group(1).decode("ascii", errors="ignore").lower() if m else None


def markdown_text(body: bytes, charset: str | None = None) -> Extracted:
    text = _tidy(decode(body, charset)[:MAX_TEXT_CHARS])
    m = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return Extracted(text, m.group(1).strip()[:300] if m else None)


def plain_text(body: bytes, charset: str | None = None) -> Extracted:
    text = _tidy(decode(body, charset)[:MAX_TEXT_CHARS])
    first = next((line for line in text.split("\n") if line.strip()), "")
    return Extracted(text, first[:120] or None)


def pdf_text(body: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # warnings about sloppy files are not ours
    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            raise ExtractError("the PDF is encrypted")
        pages: list[str] = []
        size = 0
        for i, page in enumerate(reader.pages):
            if i >= MAX_PDF_PAGES or size > MAX_TEXT_CHARS:
                break
            text = page.extract_text() or ""
            pages.append(text)
            size += len(text)
        meta_title = reader.metadata.title if reader.metadata else None
    except ExtractError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            OSError, NotImplementedError):
        raise ExtractError("the PDF could not be read (damaged or unsupported)") from None
    # pypdf ends lines where the page did: a line break inside a paragraph is kept as a space by
    # the chunker, and blank lines (or page ends) separate paragraphs.
    text = _tidy("\n\n".join(pages))
    title = str(meta_title).strip()[:300] if meta_title and str(meta_title).strip() else None
    return Extracted(text, title)


def extract(kind: str, body: bytes, charset: str | None = None) -> Extracted:
    if kind == PDF:
        out = pdf_text(body)
    elif kind == HTML:
        out = html_text(body, charset)
    elif kind == MARKDOWN:
        out = markdown_text(body, charset)
    elif kind == TEXT:
        out = plain_text(body, charset)
    else:
        raise ExtractError(f"documents of type {kind} are not read")
    if not out.text.strip():
        hint = " (a scanned PDF holds images, and no OCR is done)" if kind == PDF else ""
        raise ExtractError(f"no text was found in the document{hint}")
    return out
