"""Database triggers that refuse an UPDATE of the columns of a row that are written once, for PostgreSQL and
SQLite. Migrations of any app install them with ``install_frozen`` and remove them with ``remove_frozen``; a
migration that changes a guarded table (SQLite rebuilds a table to add a constraint, which drops its triggers)
drops the table's trigger with ``drop_trigger`` first and creates it again with ``create_trigger`` afterwards.

Only the listed columns are frozen: a column that ``on_delete=SET_NULL`` clears when a user is deleted, or a
status that changes through recorded transitions, is left out on purpose. DELETE is left to ``on_delete=PROTECT``
on the parents (and lets the test suite flush its database).

The registry's triggers predate this module and keep their names: ``<table>_immutable``, calling
``assay_registry_immutable()`` on PostgreSQL (``REGISTRY_SUFFIX``, ``REGISTRY_FUNCTION``). The SQL is the same
for every caller, so that a migration already applied and one applied today leave the same triggers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FUNCTION = "assay_frozen_columns"
SUFFIX = "frozen"
REGISTRY_FUNCTION = "assay_registry_immutable"
REGISTRY_SUFFIX = "immutable"


def create_function(schema_editor: Any, function: str = FUNCTION) -> None:
    """The PostgreSQL trigger function that refuses the UPDATE (SQLite's triggers raise by themselves)."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '% rows are immutable: UPDATE refused', TG_TABLE_NAME
                        USING ERRCODE = 'insufficient_privilege';
                END;
                $$ LANGUAGE plpgsql"""
        )


def drop_function(schema_editor: Any, function: str = FUNCTION) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DROP FUNCTION IF EXISTS {function}()")


def create_trigger(
    schema_editor: Any,
    table: str,
    columns: Sequence[str],
    *,
    suffix: str = SUFFIX,
    function: str = FUNCTION,
    when: str = "",
) -> None:
    """Freeze ``columns`` of ``table`` (every column when empty): on PostgreSQL the trigger calls ``function`` (see
    :func:`create_function`). ``when``, an SQL condition over ``OLD`` (``OLD.status = 'approved'``), freezes only
    the rows it holds for: a record that is a draft until it is approved."""
    connection = schema_editor.connection
    of = f"OF {', '.join(columns)} " if columns else ""
    condition = f"WHEN ({when}) " if when else ""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE TRIGGER {table}_{suffix} BEFORE UPDATE {of}ON {table} "
                f"FOR EACH ROW {condition}EXECUTE FUNCTION {function}()"
            )
        elif connection.vendor == "sqlite":
            # Without ``when`` the text is the one earlier migrations wrote (SQLite's triggers are per row anyway).
            cursor.execute(
                f"CREATE TRIGGER {table}_{suffix} BEFORE UPDATE {of}ON {table} {condition}"
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable: UPDATE refused'); END"
            )


def drop_trigger(schema_editor: Any, table: str, *, suffix: str = SUFFIX) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}")
        elif connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")


def install_frozen(
    schema_editor: Any, frozen: Mapping[str, Sequence[str]], *, suffix: str = SUFFIX, function: str = FUNCTION
) -> None:
    """The function, then one trigger per table of ``frozen`` (table name → its frozen columns)."""
    create_function(schema_editor, function)
    for table, columns in frozen.items():
        create_trigger(schema_editor, table, columns, suffix=suffix, function=function)


def remove_frozen(schema_editor: Any, frozen: Iterable[str], *, suffix: str = SUFFIX) -> None:
    """Drop the triggers of the tables of ``frozen`` (the function stays: other tables may still call it)."""
    for table in frozen:
        drop_trigger(schema_editor, table, suffix=suffix)
