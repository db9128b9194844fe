"""Passages of about TARGET characters cut on paragraph, then sentence, then word boundaries,
each starting with the tail of the previous one (about OVERLAP characters, whole sentences when
they fit) so that a fact split across a boundary is still found whole in one passage.

Pure: text in, passages out.
"""

from __future__ import annotations

import re
from itertools import pairwise

TARGET = 800
OVERLAP = 150
MAX_CHUNKS = 20_000  # ~16 MB of text in one document
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+(?=[\"'(\[]?[A-Z0-9#*\-•])|\n")


class TooManyChunks(ValueError):
    pass


def _units(paragraph: str, target: int) -> list[str]:
    """A paragraph as pieces no longer than target: sentences, and long sentences cut on words."""
    if len(paragraph) <= target:
        return [paragraph]
    out: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE.split(paragraph)):
        if not sentence:
            continue
        while len(sentence) > target:
            cut = sentence.rfind(" ", target // 2, target)
            cut = cut if cut > 0 else target
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def _tail(units: list[str], overlap: int) -> list[str]:
    """The last units of a passage adding up to at most `overlap` characters; when even the last
    one is longer, its last words."""
    kept: list[str] = []
    size = 0
    for unit in reversed(units):
        if size + len(unit) > overlap:
            break
        kept.insert(0, unit)
        size += len(unit) + 1
    if kept or not units:
        return kept
    words = units[-1][-overlap:]
    space = words.find(" ")
    return [words[space + 1:] if 0 <= space < len(words) - 1 else words]


def chunk(text: str, target: int = TARGET, overlap: int = OVERLAP, max_chunks: int = MAX_CHUNKS) -> list[str]:
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    units: list[tuple[str, bool]] = []  # (piece, starts a paragraph)
    for p in paragraphs:
        if p:
            units.extend((u, i == 0) for i, u in enumerate(_units(p, target)))
    chunks: list[str] = []
    current: list[str] = []
    seps: list[str] = []
    size = 0
    fresh = 0  # units in `current` that are not overlap from the previous passage

    def flush() -> None:
        chunks.append("".join(sep + u for sep, u in zip(seps, current, strict=True)).strip())
        if len(chunks) > max_chunks:
            raise TooManyChunks(f"the document makes more than {max_chunks} passages")

    for unit, starts_paragraph in units:
        sep = "\n\n" if starts_paragraph else " "
        if current and size + len(sep) + len(unit) > target and fresh:
            flush()
            current = _tail(current, overlap)
            seps = ["" if i == 0 else " " for i in range(len(current))]
            size = sum(len(u) + 1 for u in current)
            fresh = 0
        seps.append(sep if current else "")
        current.append(unit)
        size += len(sep) + len(unit)
        fresh += 1
    if current and fresh:
        flush()
    return chunks


def rejoin(passages: list[str], overlap: int = OVERLAP) -> str:
    """The text that `chunk` cut into these passages, each passage's opening overlap dropped: the
    longest head of a passage, ending before a space, that the previous passage ends with (the
    overlap's pieces are joined by single spaces, whatever separated them before). Paragraphs come
    back separated by blank lines, whitespace inside them collapsed, as `chunk` saw them."""
    if not passages:
        return ""
    out = [passages[0]]
    for prev, cur in pairwise(passages):
        flat = prev.replace("\n\n", " ")
        cut = 0
        for n in range(min(len(cur), len(flat), overlap + 1), 0, -1):
            if (n == len(cur) or cur[n] in " \n") and flat.endswith(cur[:n]):
                cut = n
                break
        out.append(cur[cut:] if cut else "\n\n" + cur)
    return "".join(out)
