"""Tenant templates, rendered in Jinja2's immutable sandbox.

A template is code written by a tenant, so it is untrusted: it runs in `ImmutableSandboxedEnvironment`
(no dunder attributes, no mutating methods, `range()` capped at 100 000 items). An undefined variable is
an error, never an empty string: a refused "Hello {{ first_name }}" beats a sent "Hello ,". Only the
html part is autoescaped; subject, text, SMS and push are plain text, where escaping would show
"&amp;" to the reader. Each rendered part is capped so a runaway loop fails instead of filling memory,
and `*` / `**` are intercepted so `'a' * 10**9` or `10**10**10` is refused (unintercepted, Jinja would
even fold such constants while compiling, i.e. on save). What the sandbox cannot bound is CPU time
(nested loops that print nothing) or a string doubled with `~` in a loop: callers render untrusted
templates with a time budget.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import astuple, dataclass, fields, replace
from typing import Any, Literal, TypeVar

from jinja2 import StrictUndefined, Template, meta
from jinja2 import exceptions as jinja
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

T = TypeVar("T")
Kind = Literal["html", "plain"]

MAX_SOURCE_CHARS = 100_000
"""A template source longer than this is refused: it is cached compiled, and no message needs more."""
MAX_RENDERED_CHARS = 1_000_000
"""The most characters one rendered part may have (a runaway loop fails here, not in the mail server)."""
MAX_POWER_BITS = 100_000
"""The largest integer `**` may build (about 30 000 digits)."""
DEFAULT_LOCALE = "default"
MAX_LOCALE_CHARS = 35  # RFC 5646 §4.4.1: enough for any tag worth storing
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


@dataclass(frozen=True)
class TemplateParts:
    """The sources (or, after `render`, the texts) of one message in every channel's shape."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None
    sms: str | None = None
    push_title: str | None = None
    push_body: str | None = None

    def present(self) -> Iterator[tuple[str, str]]:
        """(part name, source) of every non-empty part: absent parts are neither checked nor rendered."""
        for name, value in zip(PART_NAMES, astuple(self), strict=True):
            if value:
                yield name, value


PART_NAMES: tuple[str, ...] = tuple(field.name for field in fields(TemplateParts))


class TemplateError(ValueError):
    """A template that does not compile or render; `part` names the culprit so an editor can point at it."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(f"{part}: {problem}")
        self.part = part
        self.problem = problem


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus size checks on `*` and `**` (intercepting them also stops Jinja from
    evaluating them at compile time, which would hang on save before any render-time cap applies)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        return super().call_binop(context, operator, left, right)


def _check_repeat(sequence: Any, times: Any) -> None:
    sized = isinstance(sequence, str | list | tuple) and isinstance(times, int)
    if sized and len(sequence) * times > MAX_RENDERED_CHARS:
        raise jinja.SecurityError(f"repeating a sequence beyond {MAX_RENDERED_CHARS} items is unsafe")


def _check_power(base: Any, exponent: Any) -> None:
    integers = isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0
    if integers and base.bit_length() * exponent > MAX_POWER_BITS:
        raise jinja.SecurityError(f"a power beyond {MAX_POWER_BITS} bits is unsafe")


def _environment(autoescape: bool) -> _Sandbox:
    return _Sandbox(undefined=StrictUndefined, autoescape=autoescape, trim_blocks=True, lstrip_blocks=True)


_ENVIRONMENTS: dict[Kind, _Sandbox] = {"html": _environment(True), "plain": _environment(False)}


def _kind(part: str) -> Kind:
    return "html" if part == "html" else "plain"


@functools.lru_cache(maxsize=1024)
def _compile(kind: Kind, source: str) -> Template:
    """Compiling is the slow step, and the same few templates are rendered for every recipient."""
    return _ENVIRONMENTS[kind].from_string(source)


@functools.lru_cache(maxsize=1024)
def _variables(kind: Kind, source: str) -> frozenset[str]:
    """The names the template reads from its data (the sandbox's own globals such as `range` excluded)."""
    environment = _ENVIRONMENTS[kind]
    found = meta.find_undeclared_variables(environment.parse(source))
    return frozenset(found - environment.globals.keys())


def _describe(error: jinja.TemplateError) -> str:
    problem = (error.message or type(error).__name__).rstrip(".")
    if isinstance(error, jinja.TemplateSyntaxError):
        return f"{problem} at line {error.lineno}"
    return problem


def _compiled(part: str, source: str) -> Template:
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateError(part, f"longer than {MAX_SOURCE_CHARS} characters")
    try:
        return _compile(_kind(part), source)
    except jinja.TemplateError as error:
        raise TemplateError(part, _describe(error)) from None
    except RecursionError:
        raise TemplateError(part, "nested too deeply") from None
    except Exception as error:  # constant folding at compile time: a 5000-digit literal, 1 // 0...
        raise TemplateError(part, f"{type(error).__name__}: {error}") from None


def _render_part(part: str, source: str, data: Mapping[str, Any]) -> str:
    """Render one part, counting as it streams so an oversized output stops early."""
    stream = _compiled(part, source).generate(data)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in stream:
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise TemplateError(part, f"renders to more than {MAX_RENDERED_CHARS} characters")
            chunks.append(chunk)
    except TemplateError:
        raise
    except jinja.TemplateError as error:  # UndefinedError, SecurityError, TemplateRuntimeError
        raise TemplateError(part, _describe(error)) from error
    except Exception as error:  # the template's own bug: 1/0, 'a' + 1, range() over the sandbox cap...
        raise TemplateError(part, f"{type(error).__name__}: {error}") from error
    finally:
        stream.close()
    return "".join(chunks)


def validate(parts: TemplateParts, sample: Mapping[str, Any] | None = None) -> frozenset[str]:
    """Check templates on save: every part compiles, and with `sample` data every part renders (so an
    undefined variable or a sandbox escape is refused now rather than at send time). Returns the
    variables the parts read, for the editor to list."""
    names: set[str] = set()
    for part, source in parts.present():
        _compiled(part, source)
        names |= _variables(_kind(part), source)
    if sample is not None:
        render(parts, sample)
    return frozenset(names)


def render(parts: TemplateParts, data: Mapping[str, Any]) -> TemplateParts:
    """The rendered texts (absent parts stay absent); any failure is a TemplateError naming the part."""
    rendered = {part: _render_part(part, source, data) for part, source in parts.present()}
    return replace(parts, **rendered)


def _subtag_case(subtag: str) -> str:
    """BCP 47 conventions: region upper case (CA), script title case (Hant), the rest lower case."""
    if len(subtag) == 2 and subtag.isalpha():
        return subtag.upper()
    if len(subtag) == 4 and subtag.isalpha():
        return subtag.title()
    return subtag.lower()


def normalize_locale(locale: str | None) -> str | None:
    """The canonical spelling of a language tag ("FR_ca" -> "fr-CA"), or None for no or a malformed tag."""
    if not locale:
        return None
    candidate = locale.strip().replace("_", "-")
    if len(candidate) > MAX_LOCALE_CHARS or not _LOCALE.fullmatch(candidate):
        return None
    language, *rest = candidate.split("-")
    return "-".join([language.lower(), *map(_subtag_case, rest)])


def locale_chain(locale: str | None) -> list[str]:
    """The locales to try, most specific first: "fr-CA" -> ["fr-CA", "fr", "default"]. A missing or
    malformed locale gets the default only, so a bad Accept-Language never fails a send."""
    code = normalize_locale(locale)
    if code is None:
        return [DEFAULT_LOCALE]
    subtags = code.split("-")
    return ["-".join(subtags[:count]) for count in range(len(subtags), 0, -1)] + [DEFAULT_LOCALE]


def pick(available: Mapping[str, T], locale: str | None) -> T | None:
    """The first of `available` (keyed by locale, spelled any case) along the locale's chain."""
    by_code = {(normalize_locale(key) or key.lower()): value for key, value in available.items()}
    for code in locale_chain(locale):
        if code in by_code:
            return by_code[code]
    return None


def escape_plain(text: str) -> str:
    """The HTML body of an ad-hoc plain message: the caller's text escaped (it is never a template),
    line breaks kept as <br>."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return str(Markup("<br>\n").join(escape(line) for line in lines))
