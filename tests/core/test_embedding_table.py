"""The precomputed token table: rows equal to those distilled one token at a time, written once
(one builder at a time), and adopted by an embedder that then never runs the transformer."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from pricewise.core import embedding_table
from pricewise.core.embeddings import StaticEmbedder, minilm


def _fresh() -> StaticEmbedder:
    return StaticEmbedder(minilm())


def test_bulk_rows_equal_lazy_rows_and_the_file_is_adopted(tmp_path: Path, monkeypatch):
    path = embedding_table.table_path(tmp_path)
    lazy = _fresh()
    text = "usage-based pricing for regional logistics teams"
    expected = lazy.embed([text])
    ids = lazy.tok.encode(text, add_special_tokens=False).ids

    builder = _fresh()
    # Only the text's tokens are left to compute (all 30,522 take a minute or more of CPU).
    builder.known[:] = True
    builder.known[ids] = False
    assert embedding_table.build(builder, path, chunk=512) is True
    assert path.exists()
    assert embedding_table.build(builder, path) is False  # built already: not again
    np.testing.assert_allclose(builder.table[ids], lazy.table[ids], rtol=1e-4, atol=1e-5)

    reader = _fresh()
    assert embedding_table.attach(reader, path) is True
    assert reader.known.all() and reader.on_miss is None
    calls = []
    monkeypatch.setattr(reader, "rows", lambda chunk: calls.append(chunk))  # the model must not run
    np.testing.assert_allclose(reader.embed([text]), expected, rtol=1e-4, atol=1e-5)
    assert not reader.unseen(text) and calls == []


def test_a_table_written_later_is_adopted_at_the_next_unseen_token(tmp_path: Path, monkeypatch):
    path = embedding_table.table_path(tmp_path)
    emb = _fresh()
    assert embedding_table.attach(emb, path) is False  # nothing yet: distils lazily meanwhile
    done = _fresh()
    done.known[:] = True
    path.parent.mkdir(parents=True)
    np.save(path, done.table + 1.0)  # recognisable rows
    calls = []
    monkeypatch.setattr(emb, "rows", lambda chunk: calls.append(chunk))
    emb.embed(["zeppelin"])
    assert calls == [] and emb.known.all()
    assert float(emb.table[1000, 0]) == 1.0


def test_only_one_builder_at_a_time(tmp_path: Path):
    path = embedding_table.table_path(tmp_path)
    path.parent.mkdir(parents=True)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        import fcntl

        with open(path.with_suffix(".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        assert embedding_table.build(_fresh(), path, limit=10) is False
    finally:
        release.set()
        t.join()
    assert not path.exists()


def test_a_damaged_file_is_ignored(tmp_path: Path):
    path = embedding_table.table_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a numpy file")
    emb = _fresh()
    assert embedding_table.attach(emb, path) is False
    assert emb.embed(["still works"]).shape == (1, 384)
