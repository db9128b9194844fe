"""Description -> reference class, with a calibrated confidence. Pure: no web, no database.

A match is chosen in two steps so that it is stable (docs/estimation.md, "Matching"):
1. Subcategory. Each class is scored on its text (name + description + keywords, keywords twice;
   stems and neighbouring-stem pairs) and the class scores are pooled per subcategory by their
   maximum:
       text = (1 - W_COVER) * bm25 / (bm25 + K_TEXT) + W_COVER * cover   (Okapi BM25, k1 1.2, b 0.75)
       S = W_TEXT * text
         + W_EMB * clip((cos - COS_FLOOR) / COS_SPAN, 0, 1)    (local static embedding)
         + W_ATTR * share of the extracted project attributes the subcategory's classes carry
         - W_REGION if none of its classes serves the region.
   cover is the share of the description's idf mass the class contains (an unknown word weighs
   as the rarest known one): a two-word opener that is all keyword scores as high as a long
   description, a message of unknown words scores nothing.
   Place names are taken out first (they say where, not what). Words are folded, lightly stemmed
   and, when neither the candidates' vocabulary nor the embedding model's English vocabulary
   knows them, corrected to the closest candidate word (edit distance 1, or 2 for words of 8+
   letters; symmetric-delete lookup).
2. Class. Within the subcategory the tier follows the extracted quality (basic < midrange <
   premium < luxury; nearest tier when that one does not exist), else the size closest (in log)
   to a tier's typical_size_sqft, else midrange; each stated detail a class contradicts (a spa
   refused, another material) costs half a tier step; ties go to the better text match.

confidence = P(subcategory is right) = 1 / (1 + exp(-(CONF_A + CONF_B * margin + CONF_C * S))),
margin = S minus the best other subcategory's S. The constants were fitted by logistic regression
on the FIT half of tests/estimation/descriptions.py (bench/matching_accuracy.py refits them).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pricewise.core.embeddings import Embedder
from pricewise.estimation.extract import without_places

# Scoring weights and scales (searched on the FIT half by bench/matching_accuracy.py --grid).
W_TEXT, W_EMB, W_ATTR, W_REGION = 0.50, 0.50, 0.10, 0.30
K_TEXT = 2.0
W_COVER = 0.3
COS_FLOOR, COS_SPAN = 0.30, 0.50
BM25_K1, BM25_B = 1.2, 0.75
# Logistic calibration of the confidence (fitted by bench/matching_accuracy.py on FIT).
CONF_A, CONF_B, CONF_C = -7.19, 12.92, 12.18
LOW_CONFIDENCE = 0.5  # below it the chat asks a question instead of estimating
MAX_CHARS = 4000  # what a description is read up to (the embedder reads as far)
TIERS = ("basic", "midrange", "premium", "luxury")
CONFLICT = 0.5  # tier-rank cost of each stated detail a class contradicts (one tier step is 1)
# Attributes every project can have: they say nothing about which subcategory it is.
GENERIC_ATTRS = frozenset({"region", "quality", "size_sqft", "size_label", "demolition", "category", "subcategory",
                           "tier", "typical_size_sqft", "size_range"})

_STOP_TEXT = """
a about after all also am an and any are around as at be been before being both but by can could did do does doing
for from get got had has have having he her here him his how i i'd i'm i've if in into is it it's its just let me
more most my myself need needs no nor not of off on once only or other our ours out over own please same she should
so some such than that the their them then there these they this those through to too under until up very was we
we'd we're were what when where which while who whom why will with would you your yours want wanted wanna gonna
like looking thinking would love us our maybe probably really also hi hello hey thanks thank ok okay yes much many
cost costs price prices quote estimate estimates budget help anyone something thing things kind sort lot
sq ft sqft sf feet foot square inch inches approx approximately roughly total
house houses home homes property place project projects work job contractor contractors improvement fix
live lives lived located based
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
# Common ways of naming the same thing; applied to candidates and queries alike.
SYNONYMS = {"hot tub": "spa", "hot tubs": "spa", "hottub": "spa", "jacuzzi": "spa", "jacuzzis": "spa",
            "whirlpool": "spa", "fake grass": "artificial turf", "astroturf": "artificial turf",
            "synthetic grass": "artificial turf", "reno": "renovation", "lvt": "vinyl",
            "linoleum": "vinyl", "lino": "vinyl", "airbnb": "rental"}
_SYN = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, SYNONYMS), key=len, reverse=True)) + r")\b")
_WORD = re.compile(r"[^\W\d_]+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).replace("\u2019", "'")
    return _SYN.sub(lambda m: SYNONYMS[m.group(0)], text)


def stem(word: str) -> str:
    """A light suffix stripper: plural, -ing, -ed, final e, doubled final consonant.
    Not a linguistic stemmer; it only has to map a word's forms to one key consistently."""
    w = word
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if len(w) >= 6 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) >= 5 and w.endswith("ed"):
        w = w[:-2]
    if len(w) >= 4 and w.endswith("e"):
        w = w[:-1]
    if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiou":
        w = w[:-1]
    return w


def _max_edits(word: str) -> int:
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


def _deletes(word: str, depth: int) -> set[str]:
    out, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the embedding model's WordPiece vocabulary: real words are never 'corrected'."""
    try:
        from tokenizers import Tokenizer

        from pricewise.core.embeddings import model_dir

        vocab = Tokenizer.from_file(str(model_dir() / "tokenizer.json")).get_vocab()
    except Exception:  # no model package: correction still works, only less guarded
        return frozenset()
    return frozenset(w for w in vocab if w.isalpha() and w.isascii())


class Speller:
    """Closest known word within _max_edits, by symmetric deletes (Garbe's SymSpell idea):
    a misspelling and its word share a string reachable by deleting at most k letters from each."""

    def __init__(self, counts: Mapping[str, int], guard: frozenset[str]) -> None:
        self.counts = dict(counts)
        self.guard = guard
        self.cache: dict[str, str] = {}
        self.index: dict[str, list[str]] = {}
        for word in self.counts:
            for d in _deletes(word, _max_edits(word)):
                self.index.setdefault(d, []).append(word)

    def correct(self, word: str) -> str:
        if word in self.counts or word in self.guard or _max_edits(word) == 0:
            return word
        hit = self.cache.get(word)
        if hit is None:
            if len(self.cache) > 10_000:
                self.cache.clear()
            hit = self.cache[word] = self._closest(word)
        return hit

    def _closest(self, word: str) -> str:
        best: tuple[int, int, str] | None = None
        for d in _deletes(word, _max_edits(word)):
            for cand in self.index.get(d, ()):
                limit = min(_max_edits(word), _max_edits(cand))
                dist = _osa(word, cand) if abs(len(cand) - len(word)) <= limit else limit + 1
                if dist <= limit and (best is None or (dist, -self.counts[cand], cand) < best):
                    best = (dist, -self.counts[cand], cand)
        return best[2] if best else word


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    category: str
    subcategory: str
    description: str = ""
    keywords: Sequence[str] = ()
    regions: Sequence[str] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    id: str
    subcategory: str
    score: float  # the subcategory's hybrid score S
    confidence: float  # calibrated P(the subcategory is right)
    name: str = ""


def _words(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


def _content(text: str) -> list[str]:
    return [w for w in _words(text) if w not in STOPWORDS and len(w) > 1]


def terms(words: Sequence[str]) -> list[str]:
    """BM25 terms: the stems and each pair of neighbouring stems, so that a phrase ("granny flat",
    "flat roof") counts for more than its words apart."""
    stems = [stem(w) for w in words]
    return stems + [f"{a}_{b}" for a, b in itertools.pairwise(stems)]


def _doc_terms(c: Candidate) -> list[str]:
    """Name, description and keywords (twice: they are the most telling), phrases not spanning fields."""
    out = terms(_content(c.name)) + terms(_content(c.description))
    for kw in c.keywords:
        out += terms(_content(kw)) * 2
    return out


class Matcher:
    """Built once per candidate set (BM25 weights and embedding matrix precomputed); `match` is
    then a few small numpy products. Safe to share between threads: after the build only the
    speller's cache is written (a plain dict; two threads store the same answer)."""

    def __init__(self, candidates: Iterable[Candidate], embedder: Embedder,
                 known_words: frozenset[str] | None = None) -> None:
        self.candidates = list(candidates)
        self.embedder = embedder
        counts: dict[str, int] = {}
        for c in self.candidates:
            for w in set(_content(f"{c.name} {c.description} {' '.join(c.keywords)}")):
                counts[w] = counts.get(w, 0) + 1
        self.stems = {stem(w) for w in counts}
        self.speller = Speller({w: n for w, n in counts.items() if len(w) >= 4},
                               english_words() if known_words is None else known_words)
        self.bm25 = self._bm25([_doc_terms(c) for c in self.candidates])
        texts = [f"{c.name}. {c.description} {', '.join(c.keywords)}" for c in self.candidates]
        self.emb = embedder.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        keys = sorted({(c.category, c.subcategory) for c in self.candidates})
        self.groups = [k[1] for k in keys]
        self.group_of = np.array([keys.index((c.category, c.subcategory)) for c in self.candidates], dtype=np.int64)
        self.group_attrs: list[set[str]] = [set() for _ in keys]
        self.group_regions: list[set[str] | None] = [set() for _ in keys]
        for c, g in zip(self.candidates, self.group_of, strict=True):
            self.group_attrs[g] |= set(c.attributes)
            regions = self.group_regions[g]
            if regions is not None:
                self.group_regions[g] = regions | set(c.regions) if c.regions else None  # none listed: any

    def _bm25(self, docs: list[list[str]]) -> NDArray[np.float64]:
        self.vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in d}))}
        n = len(docs)
        tf = np.zeros((n, len(self.vocab)))
        for i, d in enumerate(docs):
            for t in d:
                tf[i, self.vocab[t]] += 1
        df = (tf > 0).sum(0)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))  # Lucene's non-negative idf
        lengths = tf.sum(1, keepdims=True)
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * lengths / max(float(lengths.mean()) if n else 1.0, 1.0))
        weights: NDArray[np.float64] = idf * tf * (BM25_K1 + 1.0) / (tf + norm)
        self.idf = idf
        self.unknown_idf = float(idf.max()) if n else 1.0
        return weights

    def query_words(self, description: str) -> list[str]:
        """The description's content words, spelling corrected against the candidates' words."""
        out = []
        for w in _content(without_places(description[:MAX_CHARS])):
            out.append(w if stem(w) in self.stems else self.speller.correct(w))
        return out

    def subcategory_scores(self, description: str, region: str | None,
                           attrs: Mapping[str, Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(S per subcategory group, class-level text+meaning score per candidate)."""
        words = self.query_words(description)
        ids = sorted({self.vocab[t] for t in terms(words) if t in self.vocab})
        bm25 = self.bm25[:, ids].sum(1) if ids else np.zeros(len(self.candidates))
        text = bm25 / (bm25 + K_TEXT)
        stems = {stem(w) for w in words}
        known = [self.vocab[t] for t in stems if t in self.vocab]
        if stems and W_COVER:
            mass = float(self.idf[known].sum()) + self.unknown_idf * (len(stems) - len(known))
            cover = (self.bm25[:, known] > 0) @ self.idf[known] / mass if known else np.zeros(len(self.candidates))
            text = (1 - W_COVER) * text + W_COVER * cover
        if words:
            cos = (self.emb @ self.embedder.embed([" ".join(words)])[0]).astype(np.float64)
        else:
            cos = np.zeros(len(self.candidates))
        meaning = np.clip((cos - COS_FLOOR) / COS_SPAN, 0.0, 1.0)
        per_class = W_TEXT * text + W_EMB * meaning
        n_groups = len(self.groups)
        pooled = np.full(n_groups, -np.inf)
        np.maximum.at(pooled, self.group_of, per_class)
        specific = [k for k in attrs if k not in GENERIC_ATTRS]
        region = region or attrs.get("region")
        for g in range(n_groups):
            if specific:
                pooled[g] += W_ATTR * sum(k in self.group_attrs[g] for k in specific) / len(specific)
            served = self.group_regions[g]
            if region and served is not None and region not in served:
                pooled[g] -= W_REGION
        return pooled, per_class

    def _tier_rank(self, c: Candidate, attrs: Mapping[str, Any], region: str | None) -> float:
        """Distance of a class from what was asked, within its subcategory (lower is closer)."""
        tier = c.attributes.get("tier")
        pos = TIERS.index(tier) if tier in TIERS else None
        quality, size = attrs.get("quality"), attrs.get("size_sqft")
        typical = c.attributes.get("typical_size_sqft")
        if pos is None:
            rank = 1.5
        elif quality in TIERS:
            rank = abs(pos - TIERS.index(quality))
        elif isinstance(size, int | float) and size > 0 and isinstance(typical, int | float) and typical > 0:
            rank = abs(math.log(size / typical))
        else:
            rank = abs(pos - 1)
        # A class that already differs on a stated detail (spa, material...) is a worse base.
        rank += CONFLICT * sum(1 for k, v in attrs.items() if k not in GENERIC_ATTRS and k in c.attributes
                               and str(c.attributes[k]) != str(v))
        if region and c.regions and region not in c.regions:
            rank += 10.0
        return rank

    def match(self, description: str, region: str | None = None,
              attrs: Mapping[str, Any] | None = None) -> list[Match]:
        """Every candidate, best first: the best subcategory's classes in tier order, then the next."""
        if not self.candidates:
            return []
        attrs = attrs or {}
        region = region or attrs.get("region")
        pooled, per_class = self.subcategory_scores(description, region, attrs)
        conf = []
        for g, s in enumerate(pooled):
            others = np.delete(pooled, g)
            margin = s - (float(others.max()) if others.size else 0.0)
            conf.append(1.0 / (1.0 + math.exp(-(CONF_A + CONF_B * margin + CONF_C * s))))
        order = sorted(range(len(self.candidates)), key=lambda i: (
            -pooled[self.group_of[i]], self.group_of[i],
            self._tier_rank(self.candidates[i], attrs, region), -per_class[i], self.candidates[i].id))
        return [Match(id=self.candidates[i].id, subcategory=self.candidates[i].subcategory,
                      score=round(float(pooled[self.group_of[i]]), 4),
                      confidence=round(conf[self.group_of[i]], 4), name=self.candidates[i].name) for i in order]
