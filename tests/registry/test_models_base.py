"""The shared base of the registry's team-owned named objects (registry.models.base)."""

from __future__ import annotations

from django.apps import apps
from django.db import models

from registry.models import Dataset, FeatureView, RegisteredModel, UseCase
from registry.models.base import NamedTeamObject, TeamObject


def test_every_model_with_a_name_key_is_a_named_team_object():
    # GIVEN the registry's models WHEN one stores a name's uniqueness key THEN it takes the block from the base
    with_key = {model for model in apps.get_app_config("registry").get_models() if hasattr(model, "name_key")}
    assert with_key == {Dataset, RegisteredModel, UseCase}
    assert all(issubclass(model, NamedTeamObject) for model in with_key)
    assert issubclass(FeatureView, TeamObject)


def test_named_team_objects_keep_their_unique_constraints_and_order():
    for model in (Dataset, RegisteredModel, UseCase):
        unique = {
            tuple(constraint.fields)
            for constraint in model._meta.constraints
            if isinstance(constraint, models.UniqueConstraint)
        }
        assert {("team", "name_key"), ("team", "shape_key")} <= unique, model
        assert model._meta.ordering == ["team_id", "name"]
        assert model._meta.get_field("team").related_model._meta.label == "core.Team"
