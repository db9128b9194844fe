"""The pure parts: text extraction, passages, and the vector index against a brute-force answer."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest

from pricewise.knowledge.chunking import TooManyChunks, chunk
from pricewise.knowledge.extract import ExtractError, extract, html_text
from pricewise.knowledge.vectors import DIM, EMPTY, DocRows, VectorIndex
from tests.knowledge.docs import SECURITY_PARAGRAPHS, security_pdf


def test_passages_respect_the_size_and_cut_on_boundaries():
    sentences = [f"Sentence number {i} explains one setting of the billing page in detail." for i in range(60)]
    text = "\n\n".join(" ".join(sentences[p:p + 6]) for p in range(0, 60, 6))
    parts = chunk(text, target=400, overlap=100)
    assert len(parts) > 5
    assert all(len(p) <= 400 + 100 for p in parts)
    assert all(p.endswith(".") for p in parts)  # whole sentences: nothing cut mid-way
    # every sentence is in some passage, in order, and neighbours share their boundary sentence
    joined = " ".join(parts)
    assert all(s in joined for s in sentences)
    for a, b in itertools.pairwise(parts):
        assert b.split(". ")[0].strip(".") in a
    assert chunk("") == [] and chunk("   \n\n ") == []
    assert chunk("One short paragraph.") == ["One short paragraph."]


def test_a_sentence_longer_than_a_passage_is_cut_on_words():
    words = " ".join(f"word{i}" for i in range(400))  # one 3,000-character sentence
    parts = chunk(words, target=500, overlap=50)
    assert all(len(p) <= 550 for p in parts)
    assert all(not p.startswith(" ") and "wor d" not in p for p in parts)
    assert {w for p in parts for w in p.split()} == set(words.split())
    with pytest.raises(TooManyChunks):
        chunk(words, target=100, overlap=10, max_chunks=3)


def test_html_keeps_the_readable_text_only():
    page = b"""<html><head><title>Guide &amp; FAQ</title><style>p{}</style></head><body>
    <nav>Menu Home</nav><div hidden>Hidden banner</div><div aria-hidden="true">Icon label</div>
    <h1>Ignored as title</h1><p>First <b>bold</b> paragraph,<br>same paragraph.</p>
    <ul><li>Item one</li><li>Item &lt;two&gt;</li></ul><script>var x = "<p>not text</p>";</script>
    <form><input value="x"><button>Send</button></form><p>Unclosed <div>nested</p> tail</body></html>"""
    out = html_text(page)
    assert out.title == "Guide & FAQ"
    assert "First bold paragraph, same paragraph." in out.text
    assert "Item one" in out.text and "Item <two>" in out.text and "tail" in out.text
    for hidden in ("Menu", "Hidden banner", "Icon label", "not text", "Send", "p{}"):
        assert hidden not in out.text
    # the charset of a meta tag is honoured
    latin = "<html><head><meta charset='iso-8859-1'></head><body><p>Café</p></body></html>".encode("latin-1")
    assert html_text(latin).text == "Café"
    assert html_text(b"<p>no title</p><h1>Heading</h1>").title == "Heading"


def test_pdf_text_and_unreadable_files_give_reasons():
    out = extract("application/pdf", security_pdf())
    assert out.title == "Acme Security Whitepaper"
    assert "AES-256" in out.text and "SOC 2 Type II" in out.text and SECURITY_PARAGRAPHS[0] in out.text
    with pytest.raises(ExtractError, match="could not be read"):
        extract("application/pdf", b"%PDF-1.7\n" + b"garbage " * 200)
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(ExtractError, match=r"no text was found in the document \(a scanned PDF"):
        extract("application/pdf", buf.getvalue())
    writer.encrypt("secret")
    enc = io.BytesIO()
    writer.write(enc)
    with pytest.raises(ExtractError, match="encrypted"):
        extract("application/pdf", enc.getvalue())


def test_markdown_and_text_are_kept_as_they_are():
    md = extract("text/markdown", "\ufeff# Título\n\nLine   one\nline two\n\n\n\nNext".encode())
    assert md.title == "Título" and md.text == "# Título\n\nLine one\nline two\n\nNext"
    assert extract("text/plain", b"caf\xe9 latte").text == "café latte"  # not UTF-8: cp1252


def _rows(rng: np.random.Generator, doc: str, group: str, n: int, first_id: int) -> DocRows:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return DocRows(doc, group, f"{doc}-v1", np.arange(first_id, first_id + n, dtype=np.int64),
                   np.arange(n, dtype=np.int32), v)


def test_the_index_answers_as_brute_force_and_keeps_groups_apart():
    rng = np.random.default_rng(1)
    docs = [_rows(rng, f"d{i}", "p1" if i % 2 else "p2", 50 + i, i * 1000) for i in range(8)]
    docs.append(DocRows("empty", "p1", "e", np.zeros(0, np.int64), np.zeros(0, np.int32),
                        np.zeros((0, DIM), np.float32)))
    index = VectorIndex(docs)
    every = {int(c): (d.doc_id, d.group, v) for d in docs for c, v in zip(d.chunk_ids, d.vectors, strict=True)}
    for _ in range(20):
        q = rng.standard_normal(DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        for group in (None, "p1", "p2"):
            pool = [(float(v @ q), c) for c, (_, g, v) in every.items() if group is None or g == group]
            expected = [c for _, c in sorted(pool, reverse=True)[:7]]
            hits = index.top(q, 7, group)
            assert [h.chunk_id for h in hits] == expected
            assert all(every[h.chunk_id][0] == h.doc_id and (group is None or every[h.chunk_id][1] == group)
                       for h in hits)
            assert [h.ordinal for h in hits] == [h.chunk_id % 1000 for h in hits]
    assert index.top(q, 5, "unknown") == [] and EMPTY.top(q, 5) == []
    assert len(index.top(q, 10_000)) == len(index)


def test_an_update_keeps_unchanged_rows_replaces_changed_and_drops_removed():
    rng = np.random.default_rng(2)
    a, b, c = _rows(rng, "a", "p", 5, 0), _rows(rng, "b", "p", 5, 100), _rows(rng, "c", "x", 5, 200)
    index = VectorIndex([a, b, c])
    b2 = DocRows("b", "p", "b-v2", np.arange(300, 303, dtype=np.int64), np.arange(3, dtype=np.int32),
                 _rows(rng, "b", "p", 3, 300).vectors)
    wanted = {"a": ("p", "a-v1"), "b": ("p", "b-v2")}  # c removed, b changed
    assert index.stale(wanted) == ["b"] and not index.holds_exactly(wanted)
    new = index.updated(wanted, [b2])
    assert new.holds_exactly(wanted) and len(new) == 8 and set(new.groups) == {"p"}
    assert set(new.chunk_ids.tolist()) == {0, 1, 2, 3, 4, 300, 301, 302}
    np.testing.assert_array_equal(new.rows_of("a").vectors, a.vectors)
    assert len(index) == 15  # the old index is untouched for searches still holding it
