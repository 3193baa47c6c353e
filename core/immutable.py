"""Database triggers that refuse an UPDATE of the columns of a row that are written once, for PostgreSQL and
SQLite. Migrations of any app install them with ``install_frozen`` and remove them with ``remove_frozen``.

Only the listed columns are frozen: a column that ``on_delete=SET_NULL`` clears when a user is deleted, or a
status that changes through recorded transitions, is left out on purpose. DELETE is left to ``on_delete=PROTECT``
on the parents (and lets the test suite flush its database).
"""

from __future__ import annotations

from typing import Any

FUNCTION = "assay_frozen_columns"


def install_frozen(schema_editor: Any, frozen: dict[str, list[str]]) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '% rows are immutable: UPDATE refused', TG_TABLE_NAME
                        USING ERRCODE = 'insufficient_privilege';
                END;
                $$ LANGUAGE plpgsql"""
            )
        for table, columns in frozen.items():
            listed = ", ".join(columns)
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"CREATE TRIGGER {table}_frozen BEFORE UPDATE OF {listed} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
                )
            elif connection.vendor == "sqlite":
                cursor.execute(
                    f"CREATE TRIGGER {table}_frozen BEFORE UPDATE OF {listed} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable: UPDATE refused'); END"
                )


def remove_frozen(schema_editor: Any, frozen: dict[str, list[str]]) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table in frozen:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_frozen ON {table}")
            elif connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_frozen")
