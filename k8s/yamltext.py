"""A small block-style YAML writer that keeps comments: a `Comment` used as a mapping key is
written as `# ...` lines before the next key (or before a list item it opens). Scalars are
quoted by PyYAML, so what `yaml.safe_load` reads back is exactly the data written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml


class Comment:
    """A comment line (or lines); each instance is a distinct key, so a mapping may hold many."""

    def __init__(self, text: str) -> None:
        self.text = text

    def lines(self) -> list[str]:
        return [f"# {line}".rstrip() for line in self.text.splitlines()]


def note(text: str) -> Comment:
    return Comment(text)


def strip_comments(value: Any) -> Any:
    """The data without its comments, as `yaml.safe_load` of the written text gives it."""
    if isinstance(value, Mapping):
        return {k: strip_comments(v) for k, v in value.items() if not isinstance(k, Comment)}
    if isinstance(value, list | tuple):
        return [strip_comments(v) for v in value]
    return value


def _scalar(value: Any) -> str:
    text: str = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    if "\n" in text:
        raise ValueError(f"not a one-line scalar: {value!r}")
    return text


def _is_block(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) and bool(strip_comments(value))


def _mapping(value: Mapping[Any, Any], indent: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * indent
    prefix = first_prefix
    for key, item in value.items():
        lead = prefix if prefix is not None else pad
        if isinstance(key, Comment):
            out.extend(pad + line for line in key.lines())
            continue
        prefix = None
        if isinstance(item, Mapping | list | tuple) and not strip_comments(item):
            out.append(f"{lead}{_scalar(key)}: {'{}' if isinstance(item, Mapping) else '[]'}")
        elif isinstance(item, Mapping):
            out.append(f"{lead}{_scalar(key)}:")
            _mapping(item, indent + 2, out)
        elif isinstance(item, list | tuple):
            out.append(f"{lead}{_scalar(key)}:")
            _sequence(item, indent + 2, out)
        else:
            out.append(f"{lead}{_scalar(key)}: {_scalar(item)}")


def _sequence(value: Iterable[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in value:
        if isinstance(item, Mapping) and _is_block(item):
            keys = list(item)
            while keys and isinstance(keys[0], Comment):  # comments opening an item go before its dash
                out.extend(pad + line for line in keys.pop(0).lines())
            _mapping({k: item[k] for k in keys}, indent + 2, out, first_prefix=pad + "- ")
        elif isinstance(item, list | tuple) and _is_block(item):
            raise ValueError("nested sequences are not written by this emitter")
        elif isinstance(item, Mapping | list | tuple):
            out.append(f"{pad}- {'{}' if isinstance(item, Mapping) else '[]'}")
        else:
            out.append(f"{pad}- {_scalar(item)}")


def _header(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())


def document(value: Mapping[Any, Any], header: str = "") -> str:
    """One mapping, the header as comments on top."""
    out: list[str] = []
    _mapping(value, 0, out)
    return _header(header) + "\n".join(out) + "\n"


def documents(values: Iterable[Mapping[Any, Any]], header: str = "") -> str:
    """A multi-document file, each object after `---`."""
    return _header(header) + "".join("---\n" + document(value) for value in values)


def sequence(values: Iterable[Any], header: str = "") -> str:
    """A top-level list (a JSON 6902 patch)."""
    out: list[str] = []
    _sequence(values, 0, out)
    return _header(header) + "\n".join(out) + "\n"
