"""core.immutable writes the same SQL as the migrations that were applied before it existed: a trigger created by
an old migration and one created today must be the same trigger."""

from __future__ import annotations

from typing import Any

import pytest

from core import immutable


class _Recorder:
    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self.statements: list[str] = []

    def cursor(self) -> _Recorder:
        return self

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Editor:
    def __init__(self, vendor: str) -> None:
        self.connection = _Recorder(vendor)


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        (
            "postgresql",
            [
                "DROP TRIGGER IF EXISTS registry_modelversion_immutable ON registry_modelversion",
                "CREATE TRIGGER registry_modelversion_immutable BEFORE UPDATE OF model_id, number ON "
                "registry_modelversion FOR EACH ROW EXECUTE FUNCTION assay_registry_immutable()",
            ],
        ),
        (
            "sqlite",
            [
                "DROP TRIGGER IF EXISTS registry_modelversion_immutable",
                "CREATE TRIGGER registry_modelversion_immutable BEFORE UPDATE OF model_id, number ON "
                "registry_modelversion BEGIN SELECT RAISE(ABORT, 'registry_modelversion rows are immutable: "
                "UPDATE refused'); END",
            ],
        ),
    ],
)
def test_registry_triggers_keep_their_names_and_sql(vendor: str, expected: list[str]) -> None:
    editor = _Editor(vendor)
    immutable.drop_trigger(editor, "registry_modelversion", suffix=immutable.REGISTRY_SUFFIX)
    immutable.create_trigger(
        editor,
        "registry_modelversion",
        ["model_id", "number"],
        suffix=immutable.REGISTRY_SUFFIX,
        function=immutable.REGISTRY_FUNCTION,
    )
    assert editor.connection.statements == expected


def test_install_frozen_creates_the_function_once_then_a_trigger_per_table() -> None:
    editor = _Editor("postgresql")
    immutable.install_frozen(editor, {"a": ["x"], "b": ["y", "z"]})
    first, *triggers = editor.connection.statements
    assert first.startswith("CREATE OR REPLACE FUNCTION assay_frozen_columns() RETURNS trigger AS $$")
    assert "RAISE EXCEPTION '% rows are immutable: UPDATE refused', TG_TABLE_NAME" in first
    assert triggers == [
        "CREATE TRIGGER a_frozen BEFORE UPDATE OF x ON a FOR EACH ROW EXECUTE FUNCTION assay_frozen_columns()",
        "CREATE TRIGGER b_frozen BEFORE UPDATE OF y, z ON b FOR EACH ROW EXECUTE FUNCTION assay_frozen_columns()",
    ]
    sqlite = _Editor("sqlite")
    immutable.install_frozen(sqlite, {"a": ["x"]})
    immutable.remove_frozen(sqlite, {"a": ["x"]})
    assert sqlite.connection.statements == [
        "CREATE TRIGGER a_frozen BEFORE UPDATE OF x ON a BEGIN SELECT RAISE(ABORT, 'a rows are immutable: UPDATE "
        "refused'); END",
        "DROP TRIGGER IF EXISTS a_frozen",
    ]


def test_a_conditional_trigger_freezes_the_whole_row_once_the_condition_holds() -> None:
    postgres, sqlite = _Editor("postgresql"), _Editor("sqlite")
    for editor in (postgres, sqlite):
        immutable.create_trigger(editor, "t", [], suffix="approved", when="OLD.status = 'approved'")
    assert postgres.connection.statements == [
        "CREATE TRIGGER t_approved BEFORE UPDATE ON t FOR EACH ROW WHEN (OLD.status = 'approved') "
        "EXECUTE FUNCTION assay_frozen_columns()"
    ]
    assert sqlite.connection.statements == [
        "CREATE TRIGGER t_approved BEFORE UPDATE ON t WHEN (OLD.status = 'approved') BEGIN SELECT RAISE(ABORT, "
        "'t rows are immutable: UPDATE refused'); END"
    ]
