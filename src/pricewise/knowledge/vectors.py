"""An in-memory vector index over the chunks of a set of documents.

One float32 matrix holds every chunk's normalised embedding. Documents are laid out sorted by
their group (the product), so the rows of a group are one contiguous span. The index is
immutable: a change of documents builds a new one that copies the rows of unchanged documents
from the old matrix and adds the rows read for the changed ones, so a search holding the old
index is never disturbed.

A search is one matrix-vector product over the span and a partial sort: exact, and memory-bound
(100,000 chunks are 147 MB read per search).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DIM = 384
Vec = NDArray[np.float32]


@dataclass(frozen=True)
class DocRows:
    """One document's chunks (ids, ordinals, vectors in ordinal order) and the group it is in."""

    doc_id: str
    group: str
    version: Hashable  # whatever identifies this content of the document (hash, chunk count)
    chunk_ids: NDArray[np.int64]
    ordinals: NDArray[np.int32]
    vectors: Vec

    @classmethod
    def from_rows(cls, doc_id: str, group: str, version: Hashable,
                  rows: Iterable[tuple[int, int, bytes]]) -> DocRows:
        """From (chunk id, ordinal, embedding bytes) rows."""
        items = list(rows)
        vectors = np.empty((len(items), DIM), dtype=np.float32)
        for i, (_, _, blob) in enumerate(items):
            vectors[i] = np.frombuffer(blob, dtype=np.float32)
        return cls(doc_id, group, version, np.fromiter((r[0] for r in items), dtype=np.int64, count=len(items)),
                   np.fromiter((r[1] for r in items), dtype=np.int32, count=len(items)), vectors)


@dataclass(frozen=True)
class Hit:
    doc_id: str
    chunk_id: int
    ordinal: int
    score: float


Wanted = dict[str, tuple[str, Hashable]]  # doc id -> (group, version)


class VectorIndex:
    def __init__(self, docs: Iterable[DocRows]) -> None:
        parts = sorted(docs, key=lambda d: (d.group, d.doc_id))
        n = sum(len(d.chunk_ids) for d in parts)
        self.matrix: Vec = np.empty((n, DIM), dtype=np.float32)
        self.chunk_ids = np.empty(n, dtype=np.int64)
        self.ordinals = np.empty(n, dtype=np.int32)
        self.row_doc = np.empty(n, dtype=np.int32)  # row -> position in doc_ids
        self.doc_ids: list[str] = []
        self.held: Wanted = {}  # documents without chunks too: known, not read again
        self.spans: dict[str, tuple[int, int]] = {}
        self.groups: dict[str, tuple[int, int]] = {}
        at = 0
        for d in parts:
            end = at + len(d.chunk_ids)
            self.matrix[at:end] = d.vectors
            self.chunk_ids[at:end] = d.chunk_ids
            self.ordinals[at:end] = d.ordinals
            self.row_doc[at:end] = len(self.doc_ids)
            self.doc_ids.append(d.doc_id)
            self.held[d.doc_id] = (d.group, d.version)
            self.spans[d.doc_id] = (at, end)
            start = self.groups.get(d.group, (at, at))[0]
            self.groups[d.group] = (start, end)
            at = end

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def rows_of(self, doc_id: str) -> DocRows:
        start, end = self.spans[doc_id]
        group, version = self.held[doc_id]
        return DocRows(doc_id, group, version, self.chunk_ids[start:end], self.ordinals[start:end],
                       self.matrix[start:end])

    def stale(self, wanted: Wanted) -> list[str]:
        """Documents of `wanted` this index lacks or holds in another version or group."""
        return [d for d, gv in wanted.items() if self.held.get(d) != gv]

    def holds_exactly(self, wanted: Wanted) -> bool:
        return self.held == wanted

    def updated(self, wanted: Wanted, fresh: Iterable[DocRows]) -> VectorIndex:
        """A new index of the `wanted` documents: rows of unchanged ones copied from this index,
        the `fresh` rows for the others (documents in neither are left out)."""
        fresh_by_id = {d.doc_id: d for d in fresh}
        docs: list[DocRows] = []
        for doc_id, gv in wanted.items():
            if doc_id in fresh_by_id:
                docs.append(fresh_by_id[doc_id])
            elif self.held.get(doc_id) == gv:
                docs.append(self.rows_of(doc_id))
        return VectorIndex(docs)

    def top(self, query: Vec, k: int, group: str | None = None) -> list[Hit]:
        """The k rows most similar to a normalised query, best first; within one group if given."""
        start, end = (0, len(self)) if group is None else self.groups.get(group, (0, 0))
        n = end - start
        if n <= 0 or k <= 0:
            return []
        scores = self.matrix[start:end] @ query
        k = min(k, n)
        idx = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        return [Hit(self.doc_ids[int(self.row_doc[start + i])], int(self.chunk_ids[start + i]),
                    int(self.ordinals[start + i]), float(scores[i])) for i in idx]


EMPTY = VectorIndex([])
