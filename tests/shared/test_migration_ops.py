"""Revisions run their DDL through `statements`: a function body keeps its semicolons."""

from __future__ import annotations

from shared.migration_ops import statements


def test_a_script_splits_on_semicolons_outside_dollar_quotes() -> None:
    script = """
        create table a (id int);
        create function f() returns trigger language plpgsql as $$
        begin perform 1; return null; end $$;
        create index on a (id);
    """
    found = statements(script)
    assert len(found) == 3
    assert found[1].endswith("return null; end $$")
    assert found[2] == "create index on a (id)"


def test_blank_statements_are_dropped() -> None:
    assert statements(";\n ;select 1;") == ["select 1"]
