from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audits.models import AuditPlan, AuditReport, ProxyJustification, ReasonCatalogue, ReasonDirection
from audits.reasons import MAX_DECISION, MAX_ENTRIES, MAX_NOTE, MAX_TEXT
from core.api.base import StrictSerializer
from core.api.serializers import IdempotencyKeyField


class AuditReportSerializer(serializers.ModelSerializer[AuditReport]):
    """A report in lists: what was audited, bound to which digest and fingerprint, and the verdicts."""

    job = serializers.UUIDField(source="job.public_id", read_only=True)
    model = serializers.IntegerField(source="model_version.model_id", read_only=True)

    class Meta:
        model = AuditReport
        fields = [
            "id",
            "kind",
            "model",
            "model_version",
            "dataset_version",
            "artifact_sha256",
            "dataset_fingerprint",
            "verdict",
            "checks",
            "digest",
            "job",
            "created_at",
        ]
        read_only_fields = fields


class ProxyJustificationSerializer(serializers.ModelSerializer[ProxyJustification]):
    """A compliance officer's justification of a pair a proxy report flagged."""

    justified_by = serializers.CharField(source="justified_by.username", read_only=True, default=None)

    class Meta:
        model = ProxyJustification
        fields = ["id", "report", "feature", "attribute", "reason", "justified_by", "justified_at"]
        read_only_fields = fields


class AuditReportDetailSerializer(AuditReportSerializer):
    """A report in full: its parameters, thresholds, code version, every figure, and (proxy reports) the
    justifications recorded for the pairs it flagged."""

    justifications = ProxyJustificationSerializer(many=True, read_only=True)

    class Meta(AuditReportSerializer.Meta):
        fields = [
            *AuditReportSerializer.Meta.fields,
            "parameters",
            "thresholds",
            "code_version",
            "results",
            "justifications",
        ]
        read_only_fields = fields


class AuditRequestSerializer(StrictSerializer):
    """What every POST /audits/<kind>/ takes: the model version and evaluation dataset version (ids), an
    idempotency key, and the kind's parameters (``audit_params``: the rest, checked by the kind's ``clean``)."""

    model_version = serializers.IntegerField(min_value=1)
    dataset_version = serializers.IntegerField(min_value=1)
    idempotency_key = IdempotencyKeyField()

    def audit_params(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        for name in ("model_version", "dataset_version", "idempotency_key"):
            data.pop(name, None)
        return data


class FairnessAuditRequestSerializer(AuditRequestSerializer):
    """POST /audits/fairness/: the model version and evaluation dataset version (ids) and the audit's parameters."""

    # Declared fields leave the class body (DRF's metaclass), so this does not shadow Field.label at run time.
    label = serializers.CharField(max_length=255)  # type: ignore[assignment]
    protected_attributes = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        min_length=1,
        help_text="Default: the columns the dataset version's schema flags protected_attribute.",
    )
    segment_column = serializers.CharField(max_length=255, required=False)
    threshold = serializers.FloatField(required=False, help_text="From 0 to 1; default 0.5.")
    min_group_size = serializers.IntegerField(required=False, help_text="Default 30.")
    bootstrap_iterations = serializers.IntegerField(required=False, help_text="From 0 to 10000; default 200.")
    seed = serializers.IntegerField(required=False, help_text="The bootstrap's seed; default 0.")


class AuditPlanSerializer(serializers.ModelSerializer[AuditPlan]):
    """How a release request runs the ``kind`` audit of the model: on the newest version of ``dataset`` then."""

    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AuditPlan
        fields = ["id", "model", "kind", "dataset", "params", "created_by", "created_at", "updated_at"]
        read_only_fields = fields


class AuditPlanWriteSerializer(StrictSerializer):
    """PUT /models/{id}/audit-plans/{kind}/: the evaluation dataset (id, of the model's team) and the parameters."""

    dataset = serializers.IntegerField(min_value=1, help_text="A dataset of the model's team: its newest version.")
    params = serializers.JSONField(
        required=False, default=dict, help_text="The kind's request parameters (as POST /audits/<kind>/ takes them)."
    )


class ValidationAuditRequestSerializer(AuditRequestSerializer):
    """POST /audits/validation/: the model version and evaluation dataset version (ids) and the audit's parameters
    (docs/audits.md, "Validation")."""

    label = serializers.CharField(max_length=255)  # type: ignore[assignment]
    threshold = serializers.FloatField(required=False, help_text="From 0 to 1; default 0.5.")
    segment_column = serializers.CharField(max_length=255, required=False)
    time_column = serializers.CharField(
        max_length=255, required=False, help_text="A date or timestamp column: its latest rows are held out."
    )
    holdout_fraction = serializers.FloatField(
        required=False, help_text="The latest share of rows held out, above 0 and at most 0.9; default 0.2."
    )
    monotonic = serializers.DictField(
        child=serializers.CharField(max_length=16),
        required=False,
        help_text='Model features and the direction the score must follow: {"income": "increasing"}.',
    )
    calibration_bins = serializers.IntegerField(required=False, help_text="From 2 to 100; default 10.")
    min_segment_size = serializers.IntegerField(required=False, help_text="Default 30.")
    seed = serializers.IntegerField(required=False, help_text="The random edge cases' seed; default 0.")


class ProxyAuditRequestSerializer(AuditRequestSerializer):
    """POST /audits/proxy/: the model version and evaluation dataset version (ids) and the audit's parameters."""

    attributes = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        min_length=1,
        help_text="Default: the columns the dataset version's schema flags protected_attribute or prohibited_input.",
    )
    bins = serializers.IntegerField(
        required=False, help_text="Quantile bins of a numeric column, 2 to 100; default 10."
    )
    max_categories = serializers.IntegerField(
        required=False,
        help_text="Most frequent values of another column kept, 2 to 1000 (the rest: other); default 20.",
    )
    sample_rows = serializers.IntegerField(
        required=False, help_text="About this many rows, sampled at random (at least 1000); default: every row."
    )
    seed = serializers.IntegerField(required=False, help_text="The sample's seed; default 0.")


class ExplanationAuditRequestSerializer(AuditRequestSerializer):
    """POST /audits/explanation/: the model version and evaluation dataset version (ids) and the global explanation's
    parameters (docs/audits.md, "Explanations")."""

    background_rows = serializers.IntegerField(
        required=False, help_text="Rows the explainer masks with, 10 to 1000; default 100 (recorded in the report)."
    )
    sample_rows = serializers.IntegerField(required=False, help_text="Rows explained, 50 to 100000; default 2000.")
    seed = serializers.IntegerField(required=False, help_text="The draws' and the explainer's seed; default 0.")
    max_evals = serializers.IntegerField(
        required=False, help_text="The permutation explainer's budget of model calls per row; default 500."
    )
    method = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=32,
        help_text="tree_exact, linear or permutation; default: the explainer that fits the model.",
    )
    protected_attributes = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        min_length=1,
        help_text="Default: the columns the dataset version's schema flags protected_attribute.",
    )
    min_group_size = serializers.IntegerField(required=False, help_text="Rows a group needs to be judged; default 30.")
    top = serializers.IntegerField(required=False, help_text="Features whose dependence is shown, 1 to 50; default 5.")


class ProxyJustificationRequestSerializer(StrictSerializer):
    """POST /audit-reports/{id}/justifications/: the flagged pair and why it is acceptable."""

    feature = serializers.CharField(max_length=255)
    attribute = serializers.CharField(max_length=255)
    reason = serializers.CharField(max_length=4000)


class ReasonEntrySerializer(serializers.Serializer[Any]):
    """One entry of a reason catalogue (the schema of ``entries``; audits.reasons.clean_catalogue checks them)."""

    feature = serializers.CharField(help_text="One of the model's features (matched ignoring case).")
    direction = serializers.ChoiceField(
        choices=ReasonDirection.choices, help_text="Which way the feature moves the score for the sentence to apply."
    )
    text = serializers.CharField(max_length=MAX_TEXT, help_text="The sentence shown to a person: plain text, one line.")


@extend_schema_field(ReasonEntrySerializer(many=True))
class ReasonEntriesField(serializers.JSONField):
    """``entries`` as JSON, checked entry by entry by the action, which names the field at fault
    (``entries[3].feature``)."""


class ReasonCatalogueSerializer(serializers.ModelSerializer[ReasonCatalogue]):
    """A version of a model's reason catalogue: what a person is told for each feature and direction."""

    entries = ReasonEntriesField(read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReasonCatalogue
        fields = [
            "id",
            "model",
            "number",
            "entries",
            "threshold",
            "positive_decision",
            "negative_decision",
            "note",
            "digest",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ReasonCatalogueWriteSerializer(StrictSerializer):
    """PUT /models/{id}/reasons/: the whole catalogue, written as a new version (docs/audits.md, "Reason
    catalogues")."""

    entries = ReasonEntriesField(
        help_text=f"At most {MAX_ENTRIES} entries, one per feature and direction, never a protected, "
        "special-category or prohibited column."
    )
    threshold = serializers.FloatField(help_text="The score from which positive_decision applies, from 0 to 1.")
    positive_decision = serializers.CharField(
        max_length=MAX_DECISION, help_text='The decision at or above the threshold ("Declined").'
    )
    negative_decision = serializers.CharField(
        max_length=MAX_DECISION, help_text='The decision below the threshold ("Approved").'
    )
    note = serializers.CharField(
        max_length=MAX_NOTE, required=False, allow_blank=True, default="", help_text="What changed, and why."
    )


class ExplainRequestSerializer(StrictSerializer):
    """Rows to explain (each checked against the model's features by audits.local_explanations) and how many
    principal reasons to give per row."""

    rows = serializers.ListField(
        child=serializers.JSONField(), allow_empty=False, help_text="Rows of {feature: value}; null is a missing value."
    )
    top = serializers.IntegerField(min_value=1, max_value=20, default=4, help_text="Principal reasons per row.")


class StatementRequestSerializer(StrictSerializer):
    """One decision's row, and the reference the statement carries (an application number)."""

    row = serializers.JSONField(help_text="{feature: value}; null is a missing value.")
    reference = serializers.CharField(max_length=200, allow_blank=True, default="")


class ExplanationSerializer(serializers.Serializer[Any]):
    """The answer of an explain request (audits.local_explanations.explain_rows; docs/audits.md): for each row its
    score, the model's output in ``output_space`` (base_value + sum of shap equals it, within ``tolerance``), the
    SHAP values, the decision and the principal reasons; and what computed them."""

    model_version = serializers.DictField()
    explainer = serializers.DictField()
    catalogue = serializers.DictField()
    results = serializers.ListField(child=serializers.DictField())
