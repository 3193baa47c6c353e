"""Serializer fields that apply the input rule of core.api.inputs; core.api.base puts them in every strict serializer
in place of DRF's own, so no endpoint can forget them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.api.inputs import INT_MAX, INT_MIN, InputRefused, check_json_value, integer_out_of_range
from core.api.parsers import loads


class JSONField(serializers.JSONField):
    """JSON as a value of a JSON body, or as JSON text in a form field: depth bounded, NUL characters refused."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            if self.binary or getattr(data, "is_json_string", False):
                text = data.decode() if isinstance(data, bytes) else data
                if not isinstance(text, str):
                    self.fail("invalid")
                return loads(text)
            check_json_value(data)
        except InputRefused as exc:
            raise serializers.ValidationError(exc.explained) from None
        except (TypeError, ValueError):
            self.fail("invalid")
        return super().to_internal_value(data)


class PrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    """An id beyond the 64-bit range names no object: it is refused before the query (SQLite cannot bind it)."""

    def to_internal_value(self, data: Any) -> Any:
        if integer_out_of_range(data):
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


def harden(field: Any) -> Any:
    """The same field, with the input rule: DRF's JSONField and PrimaryKeyRelatedField replaced by ours, integer
    fields bounded to the 64-bit range unless they are bounded already, list children hardened in turn."""
    if field.read_only:
        return field
    args: tuple[Any, ...] = getattr(field, "_args", ())
    kwargs: dict[str, Any] = dict(getattr(field, "_kwargs", {}))
    if type(field) is serializers.JSONField:
        return JSONField(*args, **kwargs)
    if type(field) is serializers.PrimaryKeyRelatedField:
        return PrimaryKeyRelatedField(*args, **kwargs)
    if isinstance(field, serializers.ManyRelatedField):
        child = harden(field.child_relation)
        if child is not field.child_relation:
            field.child_relation = child
            child.bind(field_name="", parent=field)
        return field
    if isinstance(field, serializers.IntegerField) and (field.max_value is None or field.min_value is None):
        kwargs.setdefault("max_value", INT_MAX)
        kwargs.setdefault("min_value", INT_MIN)
        if kwargs["max_value"] is None:
            kwargs["max_value"] = INT_MAX
        if kwargs["min_value"] is None:
            kwargs["min_value"] = INT_MIN
        return type(field)(*args, **kwargs)
    if isinstance(field, serializers.ListField | serializers.DictField):
        child = harden(field.child)
        if child is not field.child:
            field.child = child
            child.bind(field_name="", parent=field)
    return field


class InputRegexField(serializers.RegexField):
    """A pattern for what clients write, not for what the server holds: names made before the rule, or by the demo
    (``credit-risk-ci``), are read back as they are. The schema declares the pattern on requests only
    (core.api.schema.AutoSchema)."""
