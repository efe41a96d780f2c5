"""The tools-only content generator: templates per channel and tone, no language model.

Why it exists: content tasks must work with no LLM key, cost nothing and give the same output for the
same input (so it is testable and reviewable). It says what it is, meta["engine"] = "tools-only" and
meta["method"] = "template", so nobody mistakes a filled template for model-written copy.

Limits kept are the platforms' own: Google responsive search ads take 3-15 headlines of at most 30
characters and 2-4 descriptions of at most 90; a social post stays within 280 characters (X's limit,
the tightest of the large networks); an email subject within 60 and a preheader within 100 characters
(what most mail clients show before cutting). Keywords are woven into the text; one that cannot fit
a limit is listed in meta["keywords_missing"] rather than breaking the limit.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

Channel = Literal["blog", "ad_copy", "email", "social"]
Length = Literal["short", "medium", "long"]

HEADLINE_MAX, DESCRIPTION_MAX, SOCIAL_MAX, SUBJECT_MAX, PREHEADER_MAX = 30, 90, 280, 60, 100
NEAR_DUPLICATE_THRESHOLD = 0.92
"""Cosine (of `embedding.embed`, which is lexical) at or above which a piece is a near-duplicate: the
texts share nearly all their words and word pairs, i.e. a copy or a light edit, not just a topic."""

_AD_COUNTS = {"short": (3, 2), "medium": (8, 3), "long": (15, 4)}  # headlines, descriptions
_SOCIAL_TARGET = {"short": 120, "medium": 200, "long": SOCIAL_MAX}
_EMAIL_PARAGRAPHS = {"short": 1, "medium": 2, "long": 4}
_BLOG_SHAPE = {"short": (3, 1), "medium": (5, 2), "long": (7, 3)}  # sections, paragraphs per section


@dataclass(frozen=True)
class GeneratedContent:
    title: str
    body: str
    meta: dict[str, Any]


_Made = tuple[str, str, dict[str, Any]]  # title, body, channel-specific meta


@dataclass(frozen=True)
class _Tone:
    hook: str  # opening line, {topic}
    cta: str
    greeting: str
    signoff: str
    title: str  # blog title, {Topic}
    subject: str  # email subject, {topic}
    social: str  # the keyword line of a post, {kws}
    headlines: tuple[str, ...]  # ad headline forms, {Kw}
    descriptions: tuple[str, ...]  # ad description forms, {topic} {kw}
    sentences: tuple[str, ...]  # body sentences, {topic} {kw}


# fmt: off
TONES: dict[str, _Tone] = {
    "professional": _Tone(
        "A clear, practical look at {topic}.", "Learn more", "Hello,", "Kind regards,",
        "{Topic}: A Practical Guide", "{Topic}: what to know", "Focus areas: {kws}.",
        ("{Kw} Experts", "Reliable {Kw}", "{Kw} Done Right", "Professional {Kw}"),
        ("Plan, run and improve {topic} with measurable {kw}.", "{Kw}, planned around your goals."),
        ("{Topic} works best with a plan you can measure.", "Start with {kw}: it shapes what follows.",
         "Teams that track {kw} see where {topic} pays off.", "Review results monthly and refine your {kw}."),
    ),
    "friendly": _Tone(
        "Let's talk about {topic}!", "Take a look", "Hi there,", "Cheers,",
        "Your Friendly Guide to {Topic}", "A quick note on {topic}", "We're talking {kws}.",
        ("Hello, {Kw}", "{Kw} Made Easy", "Your {Kw} Partner", "{Kw}, Simplified"),
        ("{Kw} made simple, so {topic} feels easy.", "We help with {topic}, one step at a time."),
        ("{Topic} doesn't have to be hard.", "A little {kw} goes a long way.",
         "Here's how {kw} fits into {topic}.", "Try one small change to your {kw} this week."),
    ),
    "persuasive": _Tone(
        "Ready to get more from {topic}?", "Get started today", "Hi,", "To your success,",
        "{Topic}: Why It Matters Now", "Don't miss this: {topic}", "Don't miss out on {kws}.",
        ("Better {Kw} Today", "Upgrade Your {Kw}", "{Kw} That Performs", "Get Results With {Kw}"),
        ("Stop guessing: {kw} turns {topic} into results.", "{Kw} that moves {topic} forward. Start now."),
        ("Every week without {kw} is a week of missed results.", "{Topic} rewards those who act early.",
         "The right {kw} turns effort into outcomes.", "Make {kw} the first thing you fix."),
    ),
    "playful": _Tone(
        "Psst, {topic} just got interesting.", "Come see why", "Hey!", "High fives,",
        "{Topic}, Minus the Boring Bits", "Guess what? {topic}", "Say hello to {kws}!",
        ("{Kw}, But Fun", "Oh Hey, {Kw}", "{Kw} With a Wink", "Meet Your New {Kw}"),
        ("{Kw} with a grin: {topic}, minus the boring bits.", "Who knew {topic} could be this fun?"),
        ("{Topic} is more fun than it sounds.", "Spoiler: {kw} is the secret ingredient.",
         "Think of {kw} as the best friend of {topic}.", "Give {kw} a spin and see what happens."),
    ),
}
_SENTENCES = (  # tone-neutral, and free of claims a template cannot back (no prices, no "#1")
    "Most results in {topic} come from a few decisions made well.", "Set one goal for {kw} and check it weekly.",
    "Write down what {kw} should achieve before you spend on it.", "Ask your customers what they expect from {topic}.",
    "Small, steady improvements to {kw} add up over a quarter.", "Keep what works in {topic} and drop what does not.",
    "Compare this month's {kw} with last month's, not with a guess.", "A short checklist keeps {kw} consistent.",
)
_GENERIC_HEADLINES = (
    "Learn More Today", "Get Started Today", "See How It Works", "Plan Your Next Step",
    "Results You Can Measure", "Built Around Your Goals", "Talk to Our Team", "Explore Your Options",
    "Simple, Clear, Effective", "Start Your Project", "Find Out More", "Made for Your Business",
    "Ideas That Work", "Take the Next Step", "Questions? We Can Help",
)
_WORD = re.compile(r"[^\W_]")
_SECTIONS = ("Why {topic} matters", "Getting {kw} right", "Where to start", "Common mistakes to avoid",
             "How to measure {kw}", "A practical checklist", "Next steps")
# fmt: on


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _clip(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters (platforms reject longer copy)."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head.strip() else text[:limit]
    return cut[:limit].rstrip(" ,;:-")


def _fill(form: str, topic: str, kw: str) -> str:
    words = " ".join(_cap(word) for word in kw.split())  # {Kw}: headline case
    return form.format(topic=topic, Topic=_cap(topic), kw=kw, Kw=words)


def _first_fit(texts: list[str], limit: int) -> str:
    """The first text within `limit`, else the first one clipped: a whole sentence beats a cut one."""
    return next((t for t in texts if len(t) <= limit), _clip(texts[0], limit))


def _unique(keywords: list[str]) -> list[str]:
    """The keywords, whitespace-normalised, empty and case-insensitive repeats dropped, order kept."""
    out: dict[str, str] = {}
    for keyword in keywords:
        cleaned = " ".join(keyword.split())
        if cleaned:
            out.setdefault(cleaned.lower(), cleaned)
    return list(out.values())


def _brief_topic(brief: str) -> str:
    """The first sentence of the brief that has words, cut to eight words."""
    for sentence in re.split(r"[.!?\n]+", brief):
        words = [w for w in sentence.split() if _WORD.search(w)][:8]
        if words:
            return " ".join(words).strip(" ,;:-\"'()")
    return ""


def generate(
    brief: str, channel: Channel, tone: str, keywords: list[str], length: Length
) -> GeneratedContent:
    """Content for `channel` from templates in `tone` (unknown tones fall back to professional).

    The topic is the first keyword (the phrase the piece should rank or match for), else the brief's
    first sentence cut to eight words: a template cannot read intent, so it writes about a phrase.
    """
    if channel not in ("blog", "ad_copy", "email", "social") or length not in _AD_COUNTS:
        raise ValueError(f"unknown channel {channel!r} or length {length!r}")
    kws = _unique(keywords)
    topic = kws[0] if kws else _brief_topic(brief)
    if not topic:
        raise ValueError("neither the brief nor the keywords give anything to write about")
    style = TONES.get(tone.strip().lower(), TONES["professional"])
    seed = int.from_bytes(hashlib.blake2b(f"{brief}\x1f{channel}\x1f{tone}".encode(), digest_size=4).digest())
    maker = {"blog": _blog, "ad_copy": _ad_copy, "email": _email, "social": _social}[channel]
    title, body, extra = maker(topic, style, kws or [topic], length, seed)
    text = (body if channel == "social" else f"{title}\n{body}").lower()  # a post's title is not posted
    meta: dict[str, Any] = {
        "engine": "tools-only",
        "method": "template",
        "channel": channel,
        "tone": next(name for name, t in TONES.items() if t is style),
        "length": length,
        "topic": topic,
        "keywords_used": [k for k in kws if k.lower() in text],
        "keywords_missing": [k for k in kws if k.lower() not in text],
        "word_count": len(body.split()),
        **extra,
    }
    if tone.strip().lower() not in TONES:
        meta["notes"] = [f"tone {tone!r} has no templates; used professional ({', '.join(TONES)} exist)"]
    return GeneratedContent(title=title, body=body, meta=meta)


def _sentences(style: _Tone, topic: str, kws: list[str], start: int, count: int) -> str:
    """`count` sentences from the tone's and the neutral forms; the topic is kws[0], so the other
    keywords take turns in the forms that have a keyword slot."""
    forms, others = style.sentences + _SENTENCES, kws[1:] or kws
    out, turn = [], start
    for i in range(count):
        form = forms[(start + i) % len(forms)]
        out.append(_fill(form, topic, others[turn % len(others)]))
        turn += "{kw}" in form
    return " ".join(out)


def _listing(kws: list[str]) -> str:
    return ", ".join(kws[:-1]) + f" and {kws[-1]}" if len(kws) > 1 else kws[0]


def _keyword_line(style: _Tone, kws: list[str], parts: list[str]) -> list[str]:
    """The tone's keyword line for keywords the sentences did not reach: every keyword gets woven in."""
    text = "\n".join(parts).lower()
    missing = [k for k in kws if k.lower() not in text]
    return [style.social.format(kws=_listing(missing))] if missing else []


def _blog(topic: str, style: _Tone, kws: list[str], length: str, seed: int) -> _Made:
    n_sections, n_paragraphs = _BLOG_SHAPE[length]
    title = _fill(style.title, topic, topic)
    forms = (*_SECTIONS[: n_sections - 1], _SECTIONS[-1])
    headings = [_cap(_fill(form, topic, kws[(i + 1) % len(kws)])) for i, form in enumerate(forms)]
    parts = [f"# {title}", _fill(style.hook, topic, topic)]
    for s, heading in enumerate(headings):
        parts.append(f"## {heading}")
        parts += [
            _sentences(style, topic, kws, seed + 3 * (s * n_paragraphs + p), 3) for p in range(n_paragraphs)
        ]
    parts += [*_keyword_line(style, kws, [title, *parts]), f"{style.cta}."]
    return title, "\n\n".join(parts), {"sections": headings}


def _ad_copy(topic: str, style: _Tone, kws: list[str], length: str, seed: int) -> _Made:
    n_headlines, n_descriptions = _AD_COUNTS[length]
    shift = seed % len(style.headlines)
    forms = (*style.headlines[shift:], *style.headlines[:shift], "{Kw}")
    headlines: list[str] = []
    for text in (*(_fill(f, topic, kw) for f in forms for kw in kws), style.cta.title(), *_GENERIC_HEADLINES):
        if len(text) <= HEADLINE_MAX and text.lower() not in {h.lower() for h in headlines}:
            headlines.append(text)
    headlines = headlines[:n_headlines]
    # descriptions carry first the keywords no headline could
    pool = [k for k in kws if not any(k.lower() in h.lower() for h in headlines)] or kws
    n_forms, descriptions = len(style.descriptions), []
    for i in range(n_descriptions):
        kw = pool[i % len(pool)]
        texts = [_fill(style.descriptions[(seed + i + j) % n_forms], topic, kw) for j in range(n_forms)]
        descriptions.append(_first_fit([*texts, f"{_cap(kw)}. {style.cta}."], DESCRIPTION_MAX))
    body = "Headlines:\n" + "\n".join(f"- {h}" for h in headlines)
    body += "\n\nDescriptions:\n" + "\n".join(f"- {d}" for d in descriptions)
    limits = {"headline_max": HEADLINE_MAX, "description_max": DESCRIPTION_MAX}
    return headlines[0], body, {"headlines": headlines, "descriptions": descriptions, **limits}


def _email(topic: str, style: _Tone, kws: list[str], length: str, seed: int) -> _Made:
    subject = _clip(_fill(style.subject, topic, topic), SUBJECT_MAX)
    hook = _fill(style.hook, topic, topic)
    preheader = _first_fit([f"{hook} {_sentences(style, topic, kws, seed, 1)}", hook], PREHEADER_MAX)
    paragraphs = [_sentences(style, topic, kws, seed + 3 * p, 3) for p in range(_EMAIL_PARAGRAPHS[length])]
    paragraphs += _keyword_line(style, kws, [subject, hook, *paragraphs])
    body = "\n\n".join([style.greeting, hook, *paragraphs])
    body += f"\n\n{style.cta}: just reply to this email.\n\n{style.signoff}\nThe team"
    return subject, body, {"subject": subject, "preheader": preheader}


def _social(topic: str, style: _Tone, kws: list[str], length: str, seed: int) -> _Made:
    limit = _SOCIAL_TARGET[length]
    post = _clip(_fill(style.hook, topic, topic), limit)
    for n in range(len(kws), 0, -1):  # as many keywords as fit
        line = style.social.format(kws=_listing(kws[:n]))
        if len(post) + 1 + len(line) <= limit:
            post = f"{post} {line}"
            break
    extras = [_sentences(style, topic, kws, seed + i, 1) for i in range(2)] + [f"{style.cta}."]
    extras += ["#" + "".join(w.capitalize() for w in re.findall(r"[^\W_]+", kw)) for kw in kws]
    for extra in extras:
        if len(extra) > 1 and len(post) + 1 + len(extra) <= limit:
            post = f"{post} {extra}"
    return _clip(_cap(topic), 60), post, {"characters": len(post), "character_max": limit}


def similarity_warning(score: float) -> str | None:
    """A warning when new content scores at least NEAR_DUPLICATE_THRESHOLD (0.92) against stored content.

    The embedding is lexical, so 0.92 means nearly all words and word pairs are shared: a copy or a light
    edit that search engines would treat as duplicate content; pieces on the same topic score far lower
    (often below 0.5). Meant for whole pieces: in a one-line text a single changed word already costs
    several bigrams and can drop a real rewording under the threshold.
    """
    if math.isnan(score) or score < NEAR_DUPLICATE_THRESHOLD:
        return None
    return (
        f"near-duplicate of existing content (cosine similarity {score:.2f} >= {NEAR_DUPLICATE_THRESHOLD}); "
        "rewrite it or reuse the existing piece rather than publishing both"
    )
