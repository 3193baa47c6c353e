"""OpenAPI schema additions: every operation documents the API's one error shape (core.api.exceptions), and a
response field is nullable whenever the column it reads is."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from rest_framework import serializers

from core.api.fields import InputRegexField


def reads_nullable_column(field: serializers.Field[Any, Any, Any, Any]) -> bool:
    """Whether ``field`` reads, through its source, a column that may be NULL (``created_by`` of a deleted user)."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    attrs = getattr(field, "source_attrs", None) or []
    for attr in attrs:
        if model is None:
            return False
        try:
            model_field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return False
        if getattr(model_field, "null", False):
            return True
        model = model_field.related_model
    return False


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, with read-only fields of nullable columns marked nullable in responses: a serializer that
    declares ``SlugRelatedField(read_only=True)`` for a nullable foreign key answers null, which the schema says."""

    def _get_serializer_field_meta(self, field: Any, direction: Any) -> dict[str, Any]:
        meta: dict[str, Any] = super()._get_serializer_field_meta(field, direction)
        if (
            direction == "response"
            and isinstance(field, serializers.Field)
            and field.read_only
            and not meta.get("nullable")
            and not isinstance(field, serializers.ManyRelatedField | serializers.ListSerializer)
            and reads_nullable_column(field)
        ):
            meta["nullable"] = True
        return meta

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "response":
            properties = schema.get("properties", {})
            for name, field in serializer.fields.items():
                if isinstance(field, InputRegexField) and name in properties:
                    properties[name].pop("pattern", None)
        return schema


ERROR_COMPONENT = "ApiError"  # "Error" is taken: serving.api.serializers.GateRefusalSerializer.Error
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one error shape of the API: a code, a message, and for invalid input the fields at fault.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "A stable, machine-readable reason."},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Each offending field (or non_field_errors) and what is wrong with it.",
                    "additionalProperties": {},
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
# Statuses any operation may answer, whatever it does.
ERROR_RESPONSES = {
    "400": "Invalid input: the fields at fault are named in error.fields.",
    "401": "No credentials, or credentials that were refused.",
    "403": "Authenticated, but not allowed to do this.",
    "404": "No such object, or one the caller may not see.",
    "409": "The request conflicts with the object's current state.",
    "413": "The request body is larger than the server accepts.",
    "415": "The request body is not of a media type this operation reads.",
    "429": "Too many requests: try again after the Retry-After header's seconds.",
}
_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the Error component, and a response of that shape for each error status
    an operation does not document itself."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    if components.get(ERROR_COMPONENT, ERROR_SCHEMA) != ERROR_SCHEMA:
        raise ValueError(f"A serializer's component is named {ERROR_COMPONENT}: rename one of them.")
    components[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                if status not in responses:
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    }
    return result
