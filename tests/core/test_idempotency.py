"""One rule for idempotency keys: the API's serializers, the web forms and the actions all read it from core."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.idempotency import clean_idempotency_key


@pytest.mark.parametrize("key", ["k", "ci-run-42", "gitlab:1234.5", "ui-" + "0" * 32, "x" * 128])
def test_keys_of_letters_digits_and_dot_colon_dash_underscore_are_accepted(key: str) -> None:
    assert clean_idempotency_key(key) == key


@pytest.mark.parametrize("key", [None, ""])
def test_no_key_reads_as_the_empty_key(key: str | None) -> None:
    assert clean_idempotency_key(key) == ""


@pytest.mark.parametrize("key", ["x" * 129, "has spaces", "line\nbreak", "trailing\n", "bell\x07", "é", 42, ["k"]])
def test_anything_else_is_refused_on_the_field_named(key: object) -> None:
    with pytest.raises(ValidationError, match="1 to 128 characters") as refused:
        clean_idempotency_key(key, field="key")
    assert list(refused.value.message_dict) == ["key"]
