"""A local, deterministic hashing embedder for content search and near-duplicate checks.

Why local: the content search (pgvector) must work with no model download and no API key, give the
same vector for the same text on every machine and in every test, and cost microseconds.

How: the text is lower-cased and split into words (runs of Unicode letters and digits); every word
(unigram) and every pair of neighbouring words (bigram) is hashed with BLAKE2b into one of
`dimensions` buckets with a hash-derived sign (feature hashing, the "hashing trick"; the sign keeps
collisions from only ever adding up), and the counts are L2-normalised so a dot product is a cosine.
Unigrams carry the vocabulary, bigrams the phrasing, so a reworded copy of a text scores close to 1.

What it is not: this is lexical, not semantic. "cheap flights" and "low-cost airfare" share no words
and score about 0; two texts are close only when they share words and word pairs. Good enough for
"have we written this before?" and keyword search; not a substitute for a learned embedding model.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Sequence
from itertools import pairwise

DIMENSIONS = 256
"""Small enough for a cheap pgvector column, large enough that a few hundred words rarely collide."""

_WORD = re.compile(r"[^\W_]+")  # Unicode letters and digits; "_" is a word char in `\w` but not a letter
_PERSON = b"bizosaas-embed1"  # domain separation: change it and every stored vector must be rebuilt


def tokens(text: str) -> list[str]:
    """The words of `text`, lower-cased: what the embedding (and so the search) sees."""
    return _WORD.findall(text.lower())


def _features(words: Sequence[str]) -> Iterator[str]:
    yield from words
    for first, second in pairwise(words):
        yield f"{first} {second}"  # a space never occurs inside a word, so bigrams never equal unigrams


def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8, person=_PERSON).digest()
    value = int.from_bytes(digest, "big")
    sign = 1.0 if value >> 63 else -1.0  # the top bit for the sign, the rest for the bucket
    return (value & ((1 << 63) - 1)) % dimensions, sign


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """The unit-length hashing vector of `text`; all zeros when it has no words (nothing to match)."""
    if dimensions < 1:
        raise ValueError(f"dimensions must be at least 1, not {dimensions}")
    vector = [0.0] * dimensions
    for feature in _features(tokens(text)):
        index, sign = _bucket(feature, dimensions)
        vector[index] += sign
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0:
        return vector
    return [x / norm for x in vector]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity in [-1, 1]; 0.0 when either vector is all zeros (an empty text matches nothing)."""
    if len(a) != len(b):
        raise ValueError(f"vectors differ in length: {len(a)} and {len(b)}")
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    if norm == 0.0:
        return 0.0
    return max(-1.0, min(1.0, dot / norm))
