"""Keyword placement, density and readability of one page.

Words are runs of letters and digits (an inner apostrophe kept: "don't" is one word), compared
lower-case; a keyword of several words counts where its words appear consecutively. Density is
occurrences * words in the keyword / words on the page * 100, so a two-word phrase used once in a
hundred words is 2 %, the share of the text it occupies.

Readability is Flesch reading ease, 206.835 - 1.015 * words/sentence - 84.6 * syllables/word.
Sentences end at runs of `.`, `!` or `?` (at least one per page). Syllables are estimated, as
every Flesch tool does: groups of consecutive vowels (a e i o u y), less one for a silent ending
("make", "makes", "jumped"; not "table", "boxes", "wanted"), at least one per word; a word of
digits counts one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from services.ai_agents.tools.markup import parse, text_of, visible_text

WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
VOWEL_GROUP = re.compile(r"[aeiouy]+")


@dataclass
class KeywordStats:
    """Where and how often one keyword appears."""

    keyword: str
    occurrences: int
    density: float
    in_title: bool
    in_h1: bool
    in_first_paragraph: bool
    in_url: bool


@dataclass
class KeywordReport:
    url: str
    word_count: int
    flesch_reading_ease: float
    keywords: list[KeywordStats]

    def get(self, keyword: str) -> KeywordStats:
        return next(stats for stats in self.keywords if stats.keyword == keyword)


def words(text: str) -> list[str]:
    return [w.lower().replace("\u2019", "'") for w in WORD.findall(text)]


def count_phrase(haystack: list[str], phrase: list[str]) -> int:
    """Non-overlapping occurrences of `phrase` as consecutive words."""
    if not phrase:
        return 0
    count, i, n = 0, 0, len(phrase)
    while i <= len(haystack) - n:
        if haystack[i : i + n] == phrase:
            count, i = count + 1, i + n
        else:
            i += 1
    return count


def syllables(word: str) -> int:
    """Estimated syllables of one word (see module docstring)."""
    letters = "".join(ch for ch in word.lower() if ch.isalpha())
    if not letters:
        return 1
    count = len(VOWEL_GROUP.findall(letters))
    if count > 1 and _silent_ending(letters):
        count -= 1
    return max(1, count)


def _silent_ending(letters: str) -> bool:
    """A final e that adds no syllable: "make", "makes", "jumped", but not "table", "boxes", "wanted"."""
    if letters.endswith("le"):
        return len(letters) > 2 and letters[-3] in "aeiouy"  # "whale" yes, "table" no
    if letters.endswith(("ee", "ye")):
        return False
    if letters.endswith("es"):
        return not letters[:-2].endswith(("s", "x", "z", "ch", "sh", "c", "g"))
    if letters.endswith("ed"):
        return not letters[:-2].endswith(("t", "d", "a", "e", "i", "o", "u", "y"))
    return letters.endswith("e")


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease of plain text, rounded to one decimal (0.0 for text without words)."""
    tokens = words(text)
    if not tokens:
        return 0.0
    sentences = max(1, len(SENTENCE_END.findall(text)))
    total = sum(syllables(token) for token in tokens)
    return round(206.835 - 1.015 * len(tokens) / sentences - 84.6 * total / len(tokens), 1)


def _url_words(url: str) -> list[str]:
    path = unquote(urlsplit(url).path)
    for ext in (".html", ".htm", ".php", ".aspx"):
        path = path.removesuffix(ext)
    return words(path.replace("-", " ").replace("_", " ").replace("/", " ").replace(".", " "))


def analyse(page_text_html: str, url: str, keywords: Iterable[str]) -> KeywordReport:
    """Keyword statistics and readability of the page's visible text."""
    tree = parse(page_text_html)
    body_text = visible_text(tree)
    body_words = words(body_text)
    title = words(text_of(tree.css_first("title")))
    h1s = [words(text_of(node)) for node in tree.css("h1")]
    first_p = next((words(text_of(p)) for p in tree.css("p") if text_of(p)), [])
    slug = _url_words(url)
    stats = []
    for keyword in keywords:
        phrase = words(keyword)
        found = count_phrase(body_words, phrase)
        density = round(found * len(phrase) / len(body_words) * 100, 2) if body_words else 0.0
        stats.append(
            KeywordStats(
                keyword=keyword,
                occurrences=found,
                density=density,
                in_title=count_phrase(title, phrase) > 0,
                in_h1=any(count_phrase(h, phrase) > 0 for h in h1s),
                in_first_paragraph=count_phrase(first_p, phrase) > 0,
                in_url=count_phrase(slug, phrase) > 0,
            )
        )
    return KeywordReport(url, len(body_words), flesch_reading_ease(body_text), stats)
