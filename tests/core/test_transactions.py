"""core.transactions: an action that must not run inside a transaction refuses to, and the test's own atomic block
(pytest-django's ``db``) does not count as one."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from core.transactions import TransactionNotAllowed, in_transaction, outside_transaction, require_no_transaction
from registry import actions
from registry.actions import registered_models
from registry.models import ModelVersion
from tests.registry.factories import make_model


@outside_transaction
def receive_a_file() -> str:
    return "received"


@pytest.mark.django_db
def test_the_tests_own_atomic_block_is_not_a_transaction() -> None:
    """GIVEN a test inside pytest-django's atomic block (it stands in for a request's autocommit)
    WHEN the action's guard asks, outside and then inside a block the caller opened
    THEN only the caller's block counts, nested ones too."""
    assert transaction.get_connection().in_atomic_block  # the test case's block is there
    assert not in_transaction()
    assert receive_a_file() == "received"
    with transaction.atomic():
        assert in_transaction()
        with pytest.raises(TransactionNotAllowed, match="receive_a_file must not run inside a transaction"):
            receive_a_file()
        with (
            transaction.atomic(),
            pytest.raises(TransactionNotAllowed, match="validating must not run inside a transaction"),
        ):
            require_no_transaction("validating")
    assert not in_transaction()


@pytest.mark.django_db(transaction=True)
def test_without_a_test_block_any_atomic_block_counts() -> None:
    assert not transaction.get_connection().in_atomic_block
    assert not in_transaction()
    with transaction.atomic():
        assert in_transaction()
        with pytest.raises(TransactionNotAllowed, match=r"Call it outside transaction\.atomic\(\)"):
            receive_a_file()


def test_registering_a_model_version_inside_a_transaction_is_refused(cast: Any, monkeypatch: Any) -> None:
    """GIVEN a caller that wraps the model-version upload in its own transaction
    WHEN it registers a version
    THEN it is refused before the file is received or validated, and nothing is written."""
    model = make_model(cast.team_a, cast.engineer_a)
    validated: list[Any] = []
    monkeypatch.setattr(registered_models, "validate_onnx", lambda path: validated.append(path))

    def chunks() -> Any:
        pytest.fail("the file was read inside the caller's transaction")
        yield b""

    with (
        pytest.raises(TransactionNotAllowed, match="do_register_model_version must not run inside a transaction"),
        transaction.atomic(),
    ):
        actions.do_register_model_version(model, actor=cast.engineer_a, chunks=chunks(), filename="m.onnx")
    assert validated == []
    assert not ModelVersion.objects.filter(model=model).exists()
