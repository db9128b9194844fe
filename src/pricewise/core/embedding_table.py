"""The static embedder's whole token table, computed once in the background and kept on disk.

Distilling a token the first time it is seen runs the whole transformer, whose 90 MB of weights
are read for every call: 20-40 ms of CPU even for a single token. Requests with a new word paid
that. `serve` and `worker` start this builder: one process (a file lock) computes every
vocabulary row in a low-priority thread, in small chunks outside the embedder's lock so requests
never wait for it, and writes `<var_dir>/embeddings/<name>.npy` atomically. Every process, on its
next unseen token, finds the file and adopts the table; from then on no request runs the model.
On this 2-core machine the build takes about 1.5 min of one core, once per var directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

from pricewise.core.embeddings import StaticEmbedder, static_embedder

log = logging.getLogger("pricewise.embeddings")
CHUNK = 128  # tokens per forward pass: about 0.4 s of CPU


def table_path(var_dir: Path) -> Path:
    return var_dir / "embeddings" / f"{StaticEmbedder.name}.npy"


def attach(emb: StaticEmbedder, path: Path) -> bool:
    """Adopt the table at `path` now if it exists, and on later misses once it does."""
    done = False

    def load() -> bool:
        nonlocal done
        if done or not path.exists():
            return done
        try:
            done = emb.adopt(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as exc:  # a damaged file: keep distilling lazily
            log.warning("embedding table %s not usable: %s", path, exc)
            return False
        if done:
            emb.on_miss = None
        return done

    emb.on_miss = load
    return load()


def build(emb: StaticEmbedder, path: Path, chunk: int = CHUNK, limit: int | None = None) -> bool:
    """Compute the rows still missing and write the file; False if another process is on it or
    it exists already. `limit` stops after that many tokens (tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if path.exists():
            return False
        started = time.monotonic()
        vocab = emb.table.shape[0] if limit is None else min(limit, emb.table.shape[0])
        for start in range(0, vocab, chunk):
            todo = np.array([i for i in range(start, min(start + chunk, vocab)) if not emb.known[i]], dtype=np.int64)
            if len(todo):
                emb.fill(todo, emb.rows(todo))  # computed outside the embedder's lock: requests go on
        if limit is not None and limit < emb.table.shape[0]:
            return True
        tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npy")
        np.save(tmp, emb.table)
        os.replace(tmp, path)
        log.info("embedding table of %d tokens built in %.0f s: %s", vocab, time.monotonic() - started, path)
        return True


def start_background(var_dir: Path) -> threading.Thread | None:
    """Adopt the shared table, or build it in a low-priority daemon thread when it is missing."""
    emb = static_embedder()
    path = table_path(var_dir)
    if attach(emb, path):
        return None

    def run() -> None:
        with contextlib.suppress(OSError):  # Linux: the priority of this thread only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            build(emb, path)
        except Exception:
            log.exception("building the embedding table failed; tokens are distilled as they come")

    thread = threading.Thread(target=run, name="embedding-table", daemon=True)
    thread.start()
    return thread
