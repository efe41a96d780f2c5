"""Typed rows: dataclasses read from asyncpg records, and the INSERT and UPDATE statements they
need, built once per table. Repositories write their SELECTs as plain SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from functools import cache
from typing import Any, ClassVar, TypeVar

from shared.database import Connection

RowT = TypeVar("RowT", bound="Row")


@dataclass(slots=True)
class Row:
    """A row of `table` (qualified name). Field names are column names."""

    table: ClassVar[str]
    key: ClassVar[str] = "id"

    @classmethod
    def of(cls: type[RowT], record: Mapping[str, Any] | None) -> RowT | None:
        return None if record is None else cls(**dict(record))

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def values(self) -> tuple[Any, ...]:
        return astuple(self)


@cache
def insert_sql(cls: type[Row]) -> str:
    """`insert into <table> (all columns) values ($1, ...) returning *`."""
    columns = cls.columns()
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"insert into {cls.table} ({', '.join(columns)}) values ({placeholders}) returning *"


@cache
def update_sql(cls: type[Row], changed: tuple[str, ...]) -> str:
    """`update <table> set a = $2, b = $3 where <key> = $1 returning *` for known columns only."""
    unknown = set(changed) - set(cls.columns())
    if unknown or not changed:
        raise ValueError(f"cannot update {sorted(unknown) or 'nothing'} of {cls.table}")
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changed, start=2))
    return f"update {cls.table} set {assignments} where {cls.key} = $1 returning *"


class RowRepository:
    """The writes every repository shares (insert a row, change some of its columns), each
    answering the row as stored; subclasses add their reads as plain SQL."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, row: RowT) -> RowT:
        stored = type(row).of(await self.conn.fetchrow(insert_sql(type(row)), *row.values()))
        assert stored is not None
        return stored

    async def update(self, row: RowT, **changes: Any) -> RowT:
        record = await self.conn.fetchrow(
            update_sql(type(row), tuple(changes)), getattr(row, row.key), *changes.values()
        )
        stored = type(row).of(record)
        assert stored is not None, f"{row.table} {getattr(row, row.key)} vanished"
        return stored
